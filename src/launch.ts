// How Bun started this process: refuse to run when Bun took configuration from the current directory.
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { NsboxError } from "./errors.ts";
import { currentDir } from "./host.ts";
import { packageRoot } from "./package-root.ts";

/** The flags bin/nsbox's first line passes to Bun (`#!/usr/bin/env -S bun …`). */
export const SAFE_BUN_FLAGS = ["--no-env-file", "--config=/dev/null"];

/** The .env files Bun loads from the current directory: .env, .env.local, .env.$NODE_ENV(.local), … */
const DOTENV = /^\.env(\..+)?$/;

/**
 * The files in the current directory that Bun read into this process before nsbox's first line.
 *
 * Bun reads ./bunfig.toml (whose `preload` runs code, whose `define` rewrites ours) and ./.env*
 * from the directory it starts in, never from its parents. The current directory is the project,
 * which a payload can write: so bin/nsbox's shebang passes --config=/dev/null and --no-env-file,
 * and any other start (`bun ./bin/nsbox`, `npx bun ./bin/nsbox`, `bun src/cli.ts`) that let Bun
 * read such a file is refused here. By then a preload has already run: the refusal cannot undo
 * it, but it stops nsbox from acting for it and tells the user how to start nsbox. nsbox's own
 * checkout (its bunfig.toml sets the test timeout) is as trusted as the code being run.
 */
export function cwdConfigBunRead(execArgv = process.execArgv, cwd = currentDir()): string[] {
  const noEnv = execArgv.includes("--no-env-file");
  const ownConfig = execArgv.some((a) => a.startsWith("--config=") || a.startsWith("-c="));
  if (noEnv && ownConfig) return [];
  try {
    if (realpathSync(cwd) === realpathSync(packageRoot())) return [];
  } catch {
    // a vanished directory: the names below are looked up all the same
  }
  // Bun opens these by name, which needs no read permission on the directory: look each up,
  // and list the directory too (when readable) for the other .env.* names.
  const nodeEnv = process.env.NODE_ENV;
  const names = new Set(["bunfig.toml", ".env", ".env.local", ...["development", "production", "test", ...(nodeEnv ? [nodeEnv] : [])].flatMap((e) => [`.env.${e}`, `.env.${e}.local`])]);
  try {
    for (const n of readdirSync(cwd)) names.add(n);
  } catch {}
  return [...names].filter((n) => ((!ownConfig && n === "bunfig.toml") || (!noEnv && DOTENV.test(n))) && existsSync(join(cwd, n))).sort();
}

/** Throw when Bun read configuration from the current directory (see cwdConfigBunRead). */
export function refuseCwdConfig(): void {
  const read = cwdConfigBunRead();
  if (read.length === 0) return;
  throw new NsboxError(
    "BAD_OPTION",
    `Bun read ${read.map((n) => `./${n}`).join(", ")} from the current directory into nsbox's own process ` +
      `(a bunfig.toml preload runs before nsbox starts); nsbox does not run with a project's Bun configuration`,
    {
      hint: `start it as \`bun ${SAFE_BUN_FLAGS.join(" ")} ${process.argv[1] ?? "bin/nsbox"} …\`, or run the installed \`nsbox\` (its first line passes those flags)`,
    },
  );
}
