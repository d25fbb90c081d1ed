// Hashes of nsbox's sources, which scripts/build.ts records in what it builds (dist/) and the
// executor compares with what the prebuilt shared object was compiled from.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** The C sources of the executor, in the order hashed: src/executor/*.c and *.h. */
export function executorSources(root: string): string[] {
  const dir = join(root, "src", "executor");
  return readdirSync(dir).filter((n) => n.endsWith(".c") || n.endsWith(".h")).sort().map((n) => join(dir, n));
}

/** SHA-256 (hex) of `files`, each by its path relative to `root` and its bytes: a renamed file changes it too. */
export function hashFiles(root: string, files: string[]): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const f of files) hasher.update(`${relative(root, f)}\0`).update(readFileSync(f)).update("\0");
  return hasher.digest("hex");
}

/** The hash the executor's shared object carries: its C sources as they are in `root`. */
export const executorHash = (root: string): string => hashFiles(root, executorSources(root));
