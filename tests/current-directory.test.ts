// The current directory when it is not a project: refused with a fix that works, and when an
// option shares it explicitly (`cd /tmp && nsbox --rw /tmp -- cmd`), the command starts there.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { cleanedUp, nsbox, scratchIn } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();

describe("a current directory that is not a project", () => {
  it("shared by an explicit --rw, the command starts in it (control: without it, refused)", async () => {
    const open = join(scratchIn(made), "open");
    mkdirSync(open);
    chmodSync(open, 0o777); // writable by others: not a project
    const refused = await nsbox(["--", "pwd"], { cwd: open });
    expect(refused).toMatchObject({ exitCode: 125, stdout: "" });
    expect(refused.stderr).toContain(`--rw ${open}`);
    expect(await nsbox(["--rw", open, "--", "pwd"], { cwd: open })).toMatchObject({ exitCode: 0, stdout: `${open}\n` });
    // --chdir still decides where it starts.
    expect(await nsbox(["--rw", open, "--chdir", "/", "--", "pwd"], { cwd: open })).toMatchObject({ exitCode: 0, stdout: "/\n" });
  });

  it("another user's directory (/usr/share) suggests --ro, not --rw, and --ro runs there (control: the own-directory refusal keeps --rw)", async () => {
    let theirs = "/usr/share";
    if (process.getuid!() === 0) {
      theirs = join(scratchIn(made), "theirs");
      mkdirSync(theirs);
      chownSync(theirs, 65534, 65534);
    }
    const r = await nsbox(["--", "pwd"], { cwd: theirs });
    expect(r).toMatchObject({ exitCode: 125, stdout: "" });
    expect(r.stderr).toContain(`not to you; run nsbox from a project directory, or add --no-cwd to share nothing, or --ro ${theirs} to see it read-only`);
    expect(r.stderr).not.toContain("--rw");
    expect(await nsbox(["--ro", theirs, "--", "pwd"], { cwd: theirs })).toMatchObject({ exitCode: 0, stdout: `${theirs}\n` });
  });

  it("/proc is refused without suggesting --rw /proc (nsbox manages /proc); --no-cwd runs", async () => {
    const r = await nsbox(["--", "true"], { cwd: "/proc" });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("--no-cwd");
    expect(r.stderr).not.toContain("--rw");
    expect(await nsbox(["--no-cwd", "--", "true"], { cwd: "/proc" })).toMatchObject({ exitCode: 0 });
  });
});

describe("mistakes a new user makes name the option and the fix", () => {
  it("--ro of a missing path says to create it or use --ro-try (control: --ro-try runs)", async () => {
    const cwd = scratchIn(made);
    const r = await nsbox(["--ro", "./missing", "--", "true"], { cwd });
    expect(r).toMatchObject({ exitCode: 125, stdout: "" });
    expect(r.stderr).toContain("--ro ./missing:");
    expect(r.stderr).toContain("--ro-try");
    expect(await nsbox(["--ro-try", "./missing", "--", "true"], { cwd })).toMatchObject({ exitCode: 0 });
  });

  it("--net allow= with a URL says to write the host (control: the host form is accepted)", async () => {
    const r = await nsbox(["--dry-run", "--net", "allow=https://registry.example:8443/x", "--", "true"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("a rule names a host, not a URL: write allow=registry.example:8443");
    expect(await nsbox(["--dry-run", "--net", "allow=registry.example:8443", "--", "true"])).toMatchObject({ exitCode: 0 });
  });
});
