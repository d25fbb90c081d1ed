// Attacks on what issue 13 added, second round. A protected name (bunfig.toml, .git, .envrc…)
// the payload creates in a writable share is moved aside after the run (plan/protected.ts); the
// payload tried to keep it by taking nsbox's own access to the directory away: `chmod 0 .` made
// the name invisible to nsbox (lstat: EACCES, taken for "absent": no warning at all), `chmod 555 .`
// made the rename fail (a warning only). The directory is the user's: nsbox gives the owner's
// rights back for the check, then the mode the payload left.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanedUp, scratchIn, sh } from "./helpers.ts";

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
