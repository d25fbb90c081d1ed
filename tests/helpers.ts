// Helpers for tests: run the real nsbox CLI as the current user and collect what a user sees.
import { afterAll } from "bun:test";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = realpathSync(join(import.meta.dir, ".."));
export const NSBOX = join(ROOT, "bin", "nsbox");

export interface Ran {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Run `nsbox ...args` to completion (stdin closed unless given). */
export async function nsbox(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<Ran> {
  return collect([process.execPath, NSBOX, ...args], opts);
}

/** Run any command to completion and collect what it printed (stdin closed unless given). */
export async function collect(
  argv: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<Ran> {
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd ?? scratchDir(),
    env: opts.env ?? process.env,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

/** Shorthand: run a shell script inside a default sandbox. */
export const sh = (script: string, opts: Parameters<typeof nsbox>[1] = {}, extra: string[] = []) =>
  nsbox([...extra, "--", "sh", "-c", script], opts);

/** A fresh directory the current user owns, outside $HOME (so it is shared read-write). */
export function scratchDir(): string {
  return realpathSync(mkdtempSync(join(tmpdir(), "nsbox-t-")));
}

/**
 * The paths a test file creates, removed after its tests: `const made = cleanedUp();` at the
 * top of the file, then `made.push(path)`.
 */
export function cleanedUp(): string[] {
  const made: string[] = [];
  afterAll(() => {
    for (const path of made) rmSync(path, { recursive: true, force: true });
  });
  return made;
}

/** A scratch directory (a sandbox's current directory, shared read-write), recorded in `made`. */
export function scratchIn(made: string[]): string {
  const dir = scratchDir();
  made.push(dir);
  return dir;
}

/** A stand-in $HOME outside every scratch directory, recorded in `made`. */
export function homeIn(made: string[]): string {
  const home = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-home-")));
  made.push(home);
  return home;
}
