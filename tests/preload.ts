// Loaded before every test file (bunfig.toml [test] preload): removes the scratch directories
// the suite made (tests/helpers.ts scratchDir) once every file has run. `bun test` fires no
// process 'exit', and each run left about 2,000 /tmp/nsbox-t-* behind.
import { afterAll } from "bun:test";
import { chmodSync, lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** The scratch directories of this process, shared by every test file it runs (see helpers.ts). */
const made: string[] = ((globalThis as { __nsboxScratch?: string[] }).__nsboxScratch ??= []);

/** Give the owner back the right to empty each directory (a test or a payload may have chmod 000 one). */
function openUp(path: string): void {
  try {
    const st = lstatSync(path);
    if (!st.isDirectory()) return;
    chmodSync(path, 0o700);
    for (const name of readdirSync(path)) openUp(join(path, name));
  } catch {}
}

afterAll(() => {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      openUp(dir);
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {} // a mount still on it, or a file another uid owns: left, as before
    }
  }
});
