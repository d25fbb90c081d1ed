// Attacks on what issue 13 added, second round. A protected name (bunfig.toml, .git, .envrc…)
// the payload creates in a writable share is moved aside after the run (plan/protected.ts); the
// payload tried to keep it by taking nsbox's own access to the directory away: `chmod 0 .` made
// the name invisible to nsbox (lstat: EACCES, taken for "absent": no warning at all), `chmod 555 .`
// made the rename fail (a warning only). The directory is the user's: nsbox gives the owner's
// rights back for the check, then the mode the payload left.
//
// Standard input, output and error are always passed; a directory there (`nsbox -- cmd < ~`,
// the library's `stdin: Bun.file(dir)`) reached every file below it by openat(0, …) past the
// view when Landlock was off, as a directory given to --pass-fd would (refused there already).
//
// On a terminal, nsbox wrote the user's keys to the payload's pty with a blocking write: a payload
// that reads nothing (its pty raw, so no line limit) and gets more than the pty holds (a paste,
// or the user's terminal answering 20,000 cursor-position queries it wrote) held nsbox's event
// loop in that write for good: no --timeout, no signal forwarded, the user's terminal raw.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../src/index.ts";
import { NSBOX, collect, cleanedUp, eventually, scratchIn, sh } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();
const AS_ROOT = process.getuid!() === 0;
const PRELOAD = `printf '[test]\\npreload = ["./evil.ts"]\\n' > bunfig.toml`;

/** The names in `dir` (given owner's access for the look, then its mode back). */
function namesIn(dir: string): string[] {
  const mode = statSync(dir).mode & 0o7777;
  chmodSync(dir, 0o755);
  try {
    return readdirSync(dir);
  } finally {
    chmodSync(dir, mode);
  }
}

/**
 * The control: as the user (not root, whom modes do not stop), the mode the payload left really
 * keeps the user's own rename out; `undo` puts it back.
 */
function lockedForUser(dir: string, name: string): boolean {
  if (AS_ROOT) return true;
  try {
    renameSync(join(dir, name), join(dir, `${name}.x`));
    renameSync(join(dir, `${name}.x`), join(dir, name));
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EACCES";
  }
}

describe("a payload that takes nsbox's access to a watched directory away", () => {
  for (const mode of ["0", "555"]) {
    it(`chmod ${mode} . after planting bunfig.toml: still moved aside, with the warning; the mode it left stays (control: the mode locks the user out; --rw-try keeps the file)`, async () => {
      const cwd = scratchIn(made);
      const r = await sh(`${PRELOAD} && chmod ${mode} . && echo planted`, { cwd });
      expect(r).toMatchObject({ stdout: "planted\n", exitCode: 0 });
      expect(statSync(cwd).mode & 0o777).toBe(parseInt(mode, 8));
      const names = namesIn(cwd);
      expect(names).not.toContain("bunfig.toml");
      expect(names.filter((n) => n.startsWith("bunfig.toml.nsbox-blocked-")).length).toBe(1);
      expect(r.stderr).toContain(`${cwd}/bunfig.toml was created inside the sandbox and the host would run it; moved it to bunfig.toml.nsbox-blocked-`);
      chmodSync(cwd, 0o755);

      // Control: a run that may write it keeps it, and the mode really locks the user out.
      const kept = scratchIn(made);
      const c = await sh(`${PRELOAD} && chmod ${mode} . && echo planted`, { cwd: kept }, ["--rw-try", "./bunfig.toml"]);
      expect(c.exitCode).toBe(0);
      expect(namesIn(kept)).toContain("bunfig.toml");
      expect(lockedForUser(kept, "bunfig.toml")).toBe(true);
      chmodSync(kept, 0o755);
    });
  }

  it("chmod 311 . (no reading) after making a new repository sub/.git: still found and moved aside (control: --rw-try ./sub keeps it)", async () => {
    const cwd = scratchIn(made);
    const r = await sh("mkdir -p sub/.git && chmod 311 . && echo planted", { cwd });
    expect(r).toMatchObject({ stdout: "planted\n", exitCode: 0 });
    expect(statSync(cwd).mode & 0o777).toBe(0o311);
    chmodSync(cwd, 0o755);
    expect(existsSync(join(cwd, "sub/.git"))).toBe(false);
    expect(readdirSync(join(cwd, "sub")).some((n) => n.startsWith(".git.nsbox-blocked-"))).toBe(true);
    const kept = scratchIn(made);
    await sh("mkdir -p sub/.git && chmod 311 .", { cwd: kept }, ["--rw-try", "./sub"]);
    chmodSync(kept, 0o755);
    expect(existsSync(join(kept, "sub/.git"))).toBe(true);
  });

  it("chmod 0 of the directory that holds a watched name (.config/mise.toml) or a new repository (sub/.git): moved aside too", async () => {
    const cwd = scratchIn(made);
    for (const d of [".config", "sub"]) mkdirSync(join(cwd, d));
    const r = await sh("echo '[hooks]' > .config/mise.toml && mkdir sub/.git && chmod 0 .config sub && echo planted", { cwd });
    expect(r).toMatchObject({ stdout: "planted\n", exitCode: 0 });
    expect(statSync(join(cwd, ".config")).mode & 0o777).toBe(0);
    for (const [dir, name] of [[".config", "mise.toml"], ["sub", ".git"]] as const) {
      const names = namesIn(join(cwd, dir));
      expect(names).not.toContain(name);
      expect(names.some((n) => n.startsWith(`${name}.nsbox-blocked-`))).toBe(true);
      chmodSync(join(cwd, dir), 0o755);
    }
    // Control: without the chmod the same names are moved aside (the test sees a move when there is one).
    const plain = scratchIn(made);
    mkdirSync(join(plain, "keep"));
    writeFileSync(join(plain, "keep/ordinary"), "x");
    mkdirSync(join(plain, ".config"));
    await sh("echo '[hooks]' > .config/mise.toml", { cwd: plain });
    expect(existsSync(join(plain, ".config/mise.toml"))).toBe(false);
    expect(existsSync(join(plain, "keep/ordinary"))).toBe(true);
  });
});

describe("a directory as standard input, output or error", () => {
  /** A secret outside the sandbox's view, and the probe that reads it through descriptor 3 (a copy of stdin). */
  function secretOutsideView(): { rel: string; probe: string } {
    const outside = scratchIn(made);
    writeFileSync(join(outside, "secret"), "SECRET-42\n");
    const rel = join(outside, "secret").slice(1);
    const py = `import os\ntry: print(os.read(os.open(${JSON.stringify(rel)}, os.O_RDONLY, dir_fd=3), 40).decode().strip())\nexcept OSError as e: print("refused", e.strerror)`;
    return { rel, probe: `exec 3<&0 </dev/null; python3 -c '${py}'` };
  }

  it("nsbox --landlock off -- cmd < /: refused before the sandbox starts, the file below it unread (control: the same probe on the host reads it)", async () => {
    const { probe } = secretOutsideView();
    const cwd = scratchIn(made);
    const r = await collect(["sh", "-c", `exec "$@" < /`, "sh", process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "../bin/nsbox"), "--landlock", "off", "--", "sh", "-c", probe], { cwd });
    expect(r.stdout).not.toContain("SECRET-42");
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("standard input is a directory (descriptor 0)");
    // Control: the probe works, and a directory on stdin does reach the file.
    const control = await collect(["sh", "-c", `exec sh -c "$0" < /`, probe], { cwd });
    expect(control.stdout).toBe("SECRET-42\n");
    // And a file on stdin is still fine.
    writeFileSync(join(cwd, "in"), "x\n");
    expect(await collect(["sh", "-c", `exec "$@" < in`, "sh", process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "../bin/nsbox"), "--", "cat"], { cwd })).toMatchObject({ stdout: "x\n", exitCode: 0 });
  });

  it("standard output a directory (>&0 of one): refused too", async () => {
    const cwd = scratchIn(made);
    const r = await collect(["sh", "-c", `exec "$@" 3</ >&3`, "sh", process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "../bin/nsbox"), "--", "true"], { cwd });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("standard output is a directory (descriptor 1)");
  });

  it("the library's stdin: Bun.file(a directory): a BAD_OPTION (control: Bun.file of a file in it is read)", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "in"), "y\n");
    let error: unknown;
    try {
      await run(["cat"], { cwd, stdin: Bun.file(cwd), landlock: "off" });
    } catch (e) {
      error = e;
    }
    expect((error as { code?: string })?.code).toBe("BAD_OPTION");
    expect(String((error as Error).message)).toContain("standard input is a directory");
    const ok = await run(["cat"], { cwd, stdin: Bun.file(join(cwd, "in")) });
    expect(ok.stdout.toString()).toBe("y\n");
  });
});

describe("a payload that reads nothing of its terminal", () => {
  /** nsbox on a fresh terminal (Bun.spawn's `terminal`), with what it printed. */
  function onTerminal(args: string[]) {
    let out = "";
    const decoder = new TextDecoder();
    const proc = Bun.spawn([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, ...args], {
      cwd: scratchIn(made),
      env: { ...process.env, TERM: "xterm" },
      terminal: { cols: 80, rows: 24, data: (_t, bytes) => void (out += decoder.decode(bytes, { stream: true })) },
    });
    return { proc, out: () => out };
  }
  const CHUNK = "k".repeat(4096);

  it("200 KB typed into a raw pty nobody reads: nsbox still keeps --timeout and ends (124) (control: a payload that reads gets every byte)", async () => {
    const t = onTerminal(["--timeout", "5s", "--", "sh", "-c", "stty raw -echo; echo READY-$((6*7)); exec sleep 300"]);
    try {
      expect(await eventually(() => t.out().includes("READY-42"), 30_000)).toBe(true);
      for (let i = 0; i < 50; i++) t.proc.terminal!.write(CHUNK);
      expect(await eventually(() => t.proc.exitCode !== null, 40_000)).toBe(true);
      expect(t.proc.exitCode).toBe(124);
      expect(t.out()).toContain("timed out after 5s");
    } finally {
      if (t.proc.exitCode === null) t.proc.kill("SIGKILL");
      t.proc.terminal!.close();
    }

    // Control: the same flood into a payload that reads it arrives whole (queued, then fed as the pty takes it).
    const c = onTerminal(["--", "sh", "-c", "stty raw -echo; echo READY-$((6*7)); head -c 204800 > got; echo GOT-$((6*7))"]);
    try {
      expect(await eventually(() => c.out().includes("READY-42"), 30_000)).toBe(true);
      for (let i = 0; i < 50; i++) c.proc.terminal!.write(CHUNK);
      expect(await eventually(() => c.out().includes("GOT-42"), 40_000)).toBe(true);
      expect(await c.proc.exited).toBe(0);
    } finally {
      if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
      c.proc.terminal!.close();
    }
  }, 120_000);
});
