// Helpers for tests: run the real nsbox CLI as the current user and collect what a user sees.
import { afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
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
  // As bin/nsbox's first line starts it: Bun takes no bunfig.toml or .env* from the cwd.
  return collect([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, ...args], opts);
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

/** The scratch directories this process made, removed when the whole run ends (tests/preload.ts). */
const scratchMade: string[] = ((globalThis as { __nsboxScratch?: string[] }).__nsboxScratch ??= []);

/** A fresh directory the current user owns, outside $HOME (so it is shared read-write); removed after the run. */
export function scratchDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-t-")));
  scratchMade.push(dir);
  return dir;
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

/**
 * A copy of nsbox's code that every user can read, for root-run tests that start nsbox as
 * another uid (setpriv): the checkout itself may lie where only its owner can reach it (a clone
 * in a 0700 temporary directory), and the test must not depend on that. Returns the copy's
 * root (`join(root, "bin/nsbox")` is the command), recorded in `made`.
 */
export function readableCheckout(made: string[]): string {
  const copy = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-code-")));
  made.push(copy);
  mkdirSync(join(copy, "node_modules"));
  // scripts/build.ts: package.json's prepare runs it (`bun install`, `bun pm pack` in the copy).
  const parts = ["bin", "src", "package.json", "scripts/build.ts", "tsconfig.json", "node_modules/consola", "node_modules/dns-packet", "node_modules/@leichtgewicht"];
  const cp = Bun.spawnSync(["cp", "-a", "--parents", ...parts, copy], { cwd: ROOT, stderr: "pipe" });
  if (cp.exitCode !== 0) throw new Error(`copying the checkout failed: ${cp.stderr.toString()}`);
  const chmod = Bun.spawnSync(["chmod", "-R", "a+rX", copy], { stderr: "pipe" });
  if (chmod.exitCode !== 0) throw new Error(`chmod of the copy failed: ${chmod.stderr.toString()}`);
  return copy;
}

/** A stand-in $HOME outside every scratch directory, recorded in `made`. */
export function homeIn(made: string[]): string {
  const home = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-home-")));
  made.push(home);
  return home;
}

/**
 * Poll `check` until it holds or a generous deadline passes; the result is what was last seen.
 * For waiting on processes to appear or go, never for asserting how long that took.
 */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await Bun.sleep(20);
  }
}

/** An argument no other process on this machine has, e.g. for `sleep <marker>`. */
export const marker = () => `${1000 + Math.floor(Math.random() * 9000)}.${Math.floor(Math.random() * 1e6)}`;

/** A command running in the background, its stdout read as it arrives. */
export interface Background {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** What it has printed so far. */
  readonly out: string;
  /** Read stdout until it contains `text`; false if it ended (or `ms` passed) first. */
  waitFor(text: string, ms?: number): Promise<boolean>;
  /** Wait for the end: all of stdout, stderr and the exit status. */
  finish(): Promise<Ran & { signalCode: NodeJS.Signals | number | null }>;
}

/** Start `argv` in the background (stdin closed); see Background. */
export function background(argv: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Background {
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd ?? scratchDir(),
    env: opts.env ?? process.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  let done = false;
  const stderr = new Response(proc.stderr).text();
  const more = async () => {
    const r = await reader.read();
    if (r.done) done = true;
    else out += decoder.decode(r.value, { stream: true });
  };
  return {
    proc,
    get out() {
      return out;
    },
    async waitFor(text, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!out.includes(text)) {
        if (done || Date.now() > deadline) return false;
        await more();
      }
      return true;
    },
    async finish() {
      while (!done) await more();
      return { stdout: out, stderr: await stderr, exitCode: await proc.exited, signalCode: proc.signalCode };
    },
  };
}

/**
 * For config-trust tests: a project (with ./data/f and `files` written at its root, objects as
 * JSON), a home holding ~/.ssh/id_rsa = "SECRET", a config directory of its own, and the
 * environment naming both.
 */
export function projectWithSecret(made: string[], files: Record<string, unknown> = {}) {
  const cwd = scratchIn(made);
  mkdirSync(join(cwd, "data"));
  writeFileSync(join(cwd, "data/f"), "data\n");
  const home = homeIn(made);
  mkdirSync(join(home, ".ssh"));
  writeFileSync(join(home, ".ssh/id_rsa"), "SECRET\n");
  const config = join(scratchIn(made), "config");
  for (const [name, content] of Object.entries(files)) writeFileSync(join(cwd, name), typeof content === "string" ? content : JSON.stringify(content));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: config };
  return { cwd, home, config, env };
}
