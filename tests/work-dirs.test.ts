// src/work-dirs.ts: overlay work directories. One that can't be removed is a warning, never the
// exit status; those left when nsbox is killed are removed by the next run, never a running
// sandbox's, and never a path a record could name that is not a work directory.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeDir } from "../src/registry.ts";
import { removeWorkDirs } from "../src/work-dirs.ts";
import { NSBOX, background, cleanedUp, eventually, nsbox, scratchIn, sh } from "./helpers.ts";

const made = cleanedUp();
// A runtime directory of this file's own: no other nsbox run on the machine sweeps its records.
const runtime = scratchIn(made);
const env = { ...process.env, XDG_RUNTIME_DIR: runtime };

/** A project with ./tree to overlay; its changes go to ./changes, its work directory is ./.changes.nsbox-work. */
function project(): { cwd: string; work: string } {
  const cwd = scratchIn(made);
  mkdirSync(join(cwd, "tree"));
  return { cwd, work: join(cwd, ".changes.nsbox-work") };
}

const OVERLAY = ["--overlay", "./tree:./changes"];
const start = (cwd: string, script: string) =>
  background([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, ...OVERLAY, "--", "sh", "-c", script], { cwd, env });

describe("given a work directory the run can't remove", () => {
  test("the payload's exit status stays the result, and one line says what was left (control: a clean run says nothing)", async () => {
    const { cwd, work } = project();
    const r = await sh("echo mine > .changes.nsbox-work/planted; exit 3", { cwd, env }, OVERLAY);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(`nsbox: the overlay work directory ${work} was left: it holds files overlayfs did not make; look at them, then remove it\n`);
    expect(readdirSync(work)).toContain("planted");

    const clean = project();
    expect(await sh("echo x > tree/new; exit 3", { cwd: clean.cwd, env }, OVERLAY)).toMatchObject({ exitCode: 3, stderr: "" });
    expect(existsSync(clean.work)).toBe(false);
  });
});

describe("given a work directory path the run never made", () => {
  test("one below a file (an upper directory named under a file) is nothing to say (control: a file where the directory should be is said, and kept)", () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "file"), "");
    expect(removeWorkDirs([join(cwd, "file/.up.nsbox-work")], undefined)).toEqual([]);
    const planted = join(cwd, ".up.nsbox-work");
    writeFileSync(planted, "mine\n");
    expect(removeWorkDirs([planted], undefined)).toEqual([`the overlay work directory ${planted} was not removed: Not a directory (ENOTDIR); remove it by hand`]);
    expect(readFileSync(planted, "utf8")).toBe("mine\n");
  });
});

describe("given nsbox killed with SIGKILL while its sandbox runs an overlay", () => {
  test("the work directory it left is removed by the next run, whatever that run is", async () => {
    const { cwd, work } = project();
    const run = start(cwd, "echo ready; sleep 1000");
    expect(await run.waitFor("ready\n")).toBe(true);
    run.proc.kill("SIGKILL");
    await run.finish();
    expect(existsSync(work)).toBe(true); // left: nsbox had no chance to clean
    const next = await nsbox(["--", "true"], { cwd: scratchIn(made), env });
    expect(next).toMatchObject({ exitCode: 0, stderr: "" });
    expect(existsSync(work)).toBe(false);
  });

  test("killed during start-up, as soon as the work directory appears, 10 times: each next run removes what the one before left", async () => {
    const projects = Array.from({ length: 10 }, project);
    for (const p of projects) {
      const run = start(p.cwd, "sleep 1000");
      expect(await eventually(() => existsSync(p.work))).toBe(true);
      run.proc.kill("SIGKILL");
      await run.proc.exited;
    }
    // Each start removed what the killed one before it left: only the last is still there.
    expect(projects.filter((p) => existsSync(p.work)).map((p) => p.work)).toEqual([projects[9]!.work]);
    expect((await nsbox(["--", "true"], { cwd: scratchIn(made), env })).exitCode).toBe(0);
    expect(projects.filter((p) => existsSync(p.work)).length).toBe(0);
  });

  test("control: the work directory of a sandbox still running is not removed by another run, and goes when it ends", async () => {
    const { cwd, work } = project();
    const run = start(cwd, "echo ready; while [ ! -e go ]; do sleep 0.05; done; echo done");
    expect(await run.waitFor("ready\n")).toBe(true);
    expect(existsSync(work)).toBe(true);
    expect((await nsbox(["--", "true"], { cwd: scratchIn(made), env })).exitCode).toBe(0);
    expect(existsSync(work)).toBe(true);
    writeFileSync(join(cwd, "go"), "\n");
    const r = await run.finish();
    expect(r.exitCode).toBe(0);
    expect(existsSync(work)).toBe(false);
  });
});

describe("given a record in the runtime directory naming paths (only the user's own nsbox writes there)", () => {
  test("a path not named like a work directory is never removed (control: a work directory of a dead run is)", async () => {
    const dir = runtimeDir(env);
    const keep = join(scratchIn(made), "empty-but-mine");
    mkdirSync(keep);
    const stale = join(scratchIn(made), ".x.nsbox-work");
    mkdirSync(stale);
    // pid 0 is no process: the run that wrote this record is gone.
    const record = join(dir, `work.0.1.${process.pid}`);
    writeFileSync(record, JSON.stringify([keep, stale]), { mode: 0o600 });
    try {
      expect((await nsbox(["--", "true"], { cwd: scratchIn(made), env })).exitCode).toBe(0);
      expect(existsSync(keep)).toBe(true);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(record)).toBe(false);
    } finally {
      try {
        unlinkSync(record);
      } catch {}
    }
  });
});
