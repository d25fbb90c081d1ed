// Host-side trust: nsbox never follows what a payload or another user planted in the host paths it mounts, reads, creates or removes.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync,
  renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { execFileSync } from "node:child_process";
import { nsbox, sh, type Ran } from "./helpers.ts";
import { run } from "../src/library.ts";
import { NsboxError } from "../src/errors.ts";
import { parseMount } from "../src/plan/mount-spec.ts";
import { buildPlan } from "../src/plan/index.ts";
import { supervise } from "../src/supervise.ts";
import { readHost } from "../src/host.ts";

setDefaultTimeout(60_000);

const made: string[] = [];
afterAll(() => {
  for (const path of made) {
    Bun.spawnSync(["chmod", "-R", "u+rwx", path], { stderr: "ignore" });
    rmSync(path, { recursive: true, force: true });
  }
});
const ROOT = process.getuid!() === 0;
/** A fresh directory of this user (mode 0700), removed after the file's tests. */
function scratch(prefix = "nsbox-t-"): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(dir);
  return dir;
}
const SECRET = "NSBOX-TEST-SECRET-KEY";
/** A stand-in for ~/.ssh, outside every project: the directory a planted symlink leads to. */
function secretDir(): string {
  const dir = join(scratch("nsbox-home-"), ".ssh");
  mkdirSync(dir);
  writeFileSync(join(dir, "id_rsa"), SECRET + "\n");
  return dir;
}
/** A project whose `fixtures` the payload (of an earlier run) replaced with a symlink to the secret. */
function plantedProject(): { cwd: string; secret: string } {
  const cwd = scratch();
  const secret = secretDir();
  symlinkSync(secret, join(cwd, "fixtures"));
  mkdirSync(join(cwd, "tree"));
  writeFileSync(join(cwd, "tree/a"), "a\n");
  return { cwd, secret };
}
function expectRefused(r: Ran, origin: string, problem: RegExp): void {
  expect(r.exitCode).toBe(125);
  expect(r.stdout).not.toContain(SECRET);
  const line = r.stderr.trim();
  expect(line.split("\n")).toHaveLength(1);
  expect(line.startsWith(`nsbox: ${origin}: `)).toBe(true);
  expect(line).toMatch(problem);
}
/** Names under `dir` with their kinds (a whiteout is "c 0:0"). */
function listing(dir: string): string[] {
  return readdirSync(dir).sort().map((n) => {
    const st = lstatSync(join(dir, n));
    return `${n} ${st.isCharacterDevice() ? `c ${st.rdev}` : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "file"}`;
  });
}

describe("mount sources: the symlink rule applies to them", () => {
  it("--ro-bind ./fixtures:/fixtures, fixtures -> a stand-in ~/.ssh: refused, saying where it leads (control: the real path binds)", async () => {
    const { cwd, secret } = plantedProject();
    const r = await nsbox(["--ro-bind", "./fixtures:/fixtures", "--", "cat", "/fixtures/id_rsa"], { cwd });
    expectRefused(r, "--ro-bind ./fixtures:/fixtures", new RegExp(`${cwd}/fixtures is a symlink to ${secret}; .*name the real path`));
    // Control: the link really leads to the key, and naming the real path binds it.
    expect(readFileSync(join(cwd, "fixtures/id_rsa"), "utf8")).toContain(SECRET);
    const control = await nsbox(["--ro-bind", `${secret}:/fixtures`, "--", "cat", "/fixtures/id_rsa"], { cwd });
    expect(control).toMatchObject({ stdout: SECRET + "\n", exitCode: 0 });
  });

  it("every option that takes a host source refuses the planted link, -try forms included (control: the same options on a real directory)", async () => {
    const { cwd } = plantedProject();
    mkdirSync(join(cwd, "real"));
    writeFileSync(join(cwd, "real/id_rsa"), "public\n");
    symlinkSync("fixtures", join(cwd, "relative"));
    const cases: [string, string, string][] = [
      ["--ro", "./fixtures", `${cwd}/fixtures/id_rsa`],
      ["--rw", "./fixtures", `${cwd}/fixtures/id_rsa`],
      ["--ro-try", "./fixtures", `${cwd}/fixtures/id_rsa`],
      ["--bind", "./fixtures:/x", "/x/id_rsa"],
      ["--ro-bind", "./relative:/x", "/x/id_rsa"],
      ["--ro-bind", "./fixtures/id_rsa:/x", "/x"],
      ["--ro-bind-try", "./fixtures:/x", "/x/id_rsa"],
      ["--dev-bind", "./fixtures:/x", "/x/id_rsa"],
      ["--overlay", "./fixtures", `${cwd}/fixtures/id_rsa`],
      ["--file", "/x:./fixtures/id_rsa", "/x"],
    ];
    for (const [option, value, read] of cases) {
      const r = await nsbox([option, value, "--", "cat", read], { cwd });
      expectRefused(r, `${option} ${value}`, /is a symlink to .*\.ssh/);
      const real = value.replace(/\.\/(fixtures|relative)/, "./real");
      const control = await nsbox([option, real, "--", "cat", read.replace(`${cwd}/fixtures`, `${cwd}/real`)], { cwd });
      expect({ option, ...control }).toMatchObject({ option, stdout: "public\n", exitCode: 0 });
    }
  });

  it("root's own system symlinks are followed: merged /usr's /lib -> usr/lib binds as /usr/lib", async () => {
    if (!lstatSync("/lib").isSymbolicLink()) return; // not a merged-/usr host: nothing to show
    const r = await nsbox(["--ro-bind", "/lib:/hostlib", "--", "sh", "-c", "ls /hostlib | head -1"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim().length).toBeGreaterThan(0);
  });

  it("--file with a FIFO as content is refused at once instead of hanging nsbox (control: a regular file)", async () => {
    const cwd = scratch();
    execFileSync("mkfifo", [join(cwd, "content")]);
    expectRefused(await nsbox(["--file", "/x:./content", "--", "cat", "/x"], { cwd }), "--file /x:./content", /not a regular file/);
    writeFileSync(join(cwd, "plain"), "content\n");
    expect(await nsbox(["--file", "/x:./plain", "--", "cat", "/x"], { cwd })).toMatchObject({ stdout: "content\n", exitCode: 0 });
  });
});

describe("other host files nsbox reads", () => {
  it("--seccomp FILE planted as a symlink (to /dev/zero) or a FIFO is refused at once (control: a regular file is read)", async () => {
    const cwd = scratch();
    symlinkSync("/dev/zero", join(cwd, "filter.bpf"));
    expectRefused(await nsbox(["--seccomp", "filter.bpf", "--", "true"], { cwd }), "--seccomp filter.bpf", /is a symlink to \/dev\/zero/);
    execFileSync("mkfifo", [join(cwd, "fifo.bpf")]);
    expectRefused(await nsbox(["--seccomp", "fifo.bpf", "--", "true"], { cwd }), "--seccomp fifo.bpf", /not a regular file/);
    // Control: a regular file is read (and this one, allow-all, installed).
    const allow = Buffer.alloc(8);
    allow.writeUInt16LE(0x06, 0);
    allow.writeUInt32LE(0x7fff0000, 4);
    writeFileSync(join(cwd, "allow.bpf"), allow);
    expect(await nsbox(["--seccomp", "allow.bpf", "--", "echo", "ok"], { cwd })).toMatchObject({ stdout: "ok\n", exitCode: 0 });
  });
});

/**
 * The race: a payload swaps a directory it can write for a symlink to a secret, over and over,
 * while nsbox starts with that directory as a source. The plan checks the name; the executor must
 * mount exactly what was checked. 1,000 starts from one Bun process through the library's run().
 */
describe("a directory swapped for a symlink while nsbox starts", () => {
  const SWAPPER = `
import { dlopen, FFIType, ptr } from "bun:ffi";
const libc = dlopen("libc.so.6", { renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 } });
const [a, b, stop] = process.argv.slice(2).map((p) => Buffer.from(p + "\\0"));
const AT_FDCWD = -100, RENAME_EXCHANGE = 2;
let swaps = 0;
console.log("swapping");
while (!(await Bun.file(stop.subarray(0, -1).toString()).exists())) {
  for (let i = 0; i < 64; i++) if (libc.symbols.renameat2(AT_FDCWD, ptr(a), AT_FDCWD, ptr(b), RENAME_EXCHANGE) === 0) swaps++;
  Bun.sleepSync(1);
}
console.log("swaps " + swaps);
`;

  it("never mounts the secret in 1,000 starts (controls: the swapper's count, the executor's own refusals, a by-name reader)", async () => {
    const project = scratch();
    const secret = secretDir();
    const shared = join(project, "shared");
    mkdirSync(shared);
    writeFileSync(join(shared, "public"), "public\n");
    // Relative, as an attacker would make it: the executor looks the name up under /oldroot, where
    // an absolute link would lead nowhere.
    symlinkSync(relative(project, secret), join(project, "link"));
    writeFileSync(join(project, "swapper.ts"), SWAPPER);
    const stop = join(project, "stop");
    const swapper = Bun.spawn([process.execPath, join(project, "swapper.ts"), shared, join(project, "link"), stop], { stdout: "pipe", stderr: "inherit" });
    const counts = { ran: 0, secret: 0, refusedInPlan: 0, refusedAtMount: 0, readerSawSecret: 0 };
    const other: string[] = [];
    const options = { noCwd: true, mounts: [parseMount("ro-bind", `${shared}:/data`)] };
    try {
      for (let i = 0; i < 1000; i++) {
        try {
          const r = await run(["ls", "/data"], options);
          counts.ran++;
          if (r.stdout.includes("id_rsa")) counts.secret++;
          else if (r.stdout !== "public\n") other.push(JSON.stringify(r));
        } catch (e) {
          const m = e instanceof NsboxError ? e.message : String(e);
          if (/is a symlink to/.test(m)) counts.refusedInPlan++;
          else if (/now passes through a symlink|was replaced by another file/.test(m)) counts.refusedAtMount++;
          else other.push(m);
        }
        // The by-name reader: what a mount that followed the name would have shown now.
        try {
          if (readdirSync(shared).includes("id_rsa")) counts.readerSawSecret++;
        } catch {}
      }
    } finally {
      writeFileSync(stop, "");
    }
    await swapper.exited;
    const swaps = Number(/swaps (\d+)/.exec(await new Response(swapper.stdout).text())?.[1] ?? 0);
    console.log(`race: ${JSON.stringify({ swaps, ...counts })}`);
    expect(other).toEqual([]);
    expect(counts.secret).toBe(0);
    // Controls: the name was really swapped throughout, it led to the secret often, and the
    // window between the plan's check and the mount was really hit: the executor refused.
    expect(swaps).toBeGreaterThan(1000);
    expect(counts.readerSawSecret).toBeGreaterThan(0);
    expect(counts.refusedAtMount).toBeGreaterThan(0);
    expect(counts.ran).toBeGreaterThan(0);
  }, 300_000);
});

/**
 * The executor's own check, made deterministic: plan (the paths checked and their identities
 * recorded), then change the host the way a racing payload or user would, then start that plan.
 */
describe("a host path changed between the plan and the mount", () => {
  const planFor = (cwd: string, option: string, value: string) =>
    buildPlan(["cat", "/data/id_rsa"], { noCwd: true, mounts: [parseMount(option, value)] }, readHost(cwd), { terminal: null });

  it("a bind source replaced by a symlink, or by another directory, is refused at the mount (control: unchanged, it mounts)", async () => {
    const { cwd, secret } = plantedProject();
    const shared = join(cwd, "shared");
    mkdirSync(shared);
    writeFileSync(join(shared, "id_rsa"), "public\n");
    const control = await supervise(planFor(cwd, "ro-bind", `${shared}:/data`), { stdio: { stdin: -1, stdout: -1, stderr: -1 } });
    expect(control).toMatchObject({ exitCode: 0 });

    let plan = planFor(cwd, "ro-bind", `${shared}:/data`);
    renameSync(shared, join(cwd, "moved"));
    symlinkSync(relative(cwd, secret), shared);
    let out = await supervise(plan);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(new RegExp(`${shared} now passes through a symlink after nsbox checked it; nothing was mounted`));

    rmSync(shared);
    renameSync(join(cwd, "moved"), shared);
    plan = planFor(cwd, "ro-bind", `${shared}:/data`);
    renameSync(shared, join(cwd, "moved"));
    mkdirSync(shared);
    out = await supervise(plan);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(/was replaced by another file after nsbox checked it/);
  });

  it("so is the shared current directory, and an overlay's lower directory (control: the secret is where the links lead)", async () => {
    const { secret } = plantedProject();
    const parent = scratch();
    const project = join(parent, "project");
    mkdirSync(join(project, "tree"), { recursive: true });
    const swap = () => {
      renameSync(project, join(parent, "moved"));
      symlinkSync(relative(parent, secret), project);
    };
    const restore = () => {
      rmSync(project);
      renameSync(join(parent, "moved"), project);
    };
    let plan = buildPlan(["ls", project], {}, readHost(project), { terminal: null });
    swap();
    expect(readdirSync(project)).toEqual(["id_rsa"]);
    // Two walls refuse this: nsbox's hold of the share's watched directories (protected names)
    // before the run, and the executor's own check at the mount. Each is shown alone.
    let out = await supervise(plan);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(/changed while nsbox was starting|now passes through a symlink after nsbox checked it/);
    out = await supervise({ ...plan, watch: [] });
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(/^can't share the current directory .* now passes through a symlink after nsbox checked it/);
    restore();
    plan = buildPlan(["ls", "/t"], { noCwd: true, mounts: [parseMount("overlay", `${project}/tree:/t`)] }, readHost(project), { terminal: null });
    renameSync(join(project, "tree"), join(project, "old"));
    symlinkSync(relative(project, secret), join(project, "tree"));
    out = await supervise(plan);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(/tree now passes through a symlink after nsbox checked it/);
  });

  it("a bind target in the shared project swapped for a symlink after the plan: nothing is mounted through it (control: unchanged, it mounts)", async () => {
    const { cwd, secret } = plantedProject();
    const data = join(cwd, "data");
    const plain = scratch();
    writeFileSync(join(plain, "f"), "public\n");
    mkdirSync(data);
    const planned = () => buildPlan(["cat", join(data, "f")], { mounts: [parseMount("ro-bind", `${plain}:${data}`)] }, readHost(cwd), { terminal: null });
    const control = await supervise(planned(), { stdio: { stdin: -1, stdout: -1, stderr: -1 } });
    expect(control).toMatchObject({ exitCode: 0 });
    const plan = planned();
    renameSync(data, join(cwd, "moved"));
    symlinkSync(relative(cwd, secret), data);
    const out = await supervise(plan);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(new RegExp(`${data} now passes through a symlink inside the sandbox after nsbox checked it`));
    expect(readdirSync(secret)).toEqual(["id_rsa"]);
  });

  it("an upper directory someone else creates after the plan is refused, and nothing is written there (control: left alone, it is created 0700)", async () => {
    const { cwd } = plantedProject();
    const tmp = scratch();
    chmodSync(tmp, 0o1777);
    const upper = join(tmp, "changes");
    const options = (value: string) => ({ noCwd: true, mounts: [parseMount("overlay", value)] });
    const plan = buildPlan(["sh", "-c", `echo x > ${cwd}/tree/x`], options(`${cwd}/tree:${upper}`), readHost(cwd), { terminal: null });
    mkdirSync(upper, { mode: 0o777 });
    chmodSync(upper, 0o777);
    if (ROOT) chownSync(upper, 65534, 65534);
    const out = await supervise(plan);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(new RegExp(`${upper} was created by someone else after nsbox checked it`));
    expect(readdirSync(upper)).toEqual([]);
    rmSync(upper, { recursive: true });
    const again = buildPlan(["sh", "-c", `echo x > ${cwd}/tree/x`], options(`${cwd}/tree:${upper}`), readHost(cwd), { terminal: null });
    expect(await supervise(again)).toMatchObject({ exitCode: 0 });
    expect(statSync(upper).mode & 0o777).toBe(0o700);
    expect(readdirSync(upper)).toEqual(["x"]);
  });
});

describe("overlay upper and work directories", () => {
  it("an upper reached through a symlink into the project is refused: no whiteouts land there (control: a real upper gets them)", async () => {
    const { cwd } = plantedProject();
    symlinkSync(".", join(cwd, "changes"));
    const r = await sh("rm tree/a", { cwd }, ["--overlay", "./tree:./changes"]);
    expectRefused(r, "--overlay ./tree:./changes", new RegExp(`${cwd}/changes is a symlink to ${cwd}; the upper directory`));
    expect(listing(cwd)).toEqual(["changes link", "fixtures link", "tree dir"]);
    const keep = scratch();
    const control = await sh("rm tree/a", { cwd }, ["--overlay", `./tree:${keep}/changes`]);
    expect(control).toMatchObject({ exitCode: 0, stderr: "" });
    expect(listing(join(keep, "changes"))).toEqual(["a c 0"]);
  });

  it("creates a missing upper and its work directory mode 0700, and removes the work directory afterwards", async () => {
    const cwd = plantedProject().cwd;
    const keep = scratch();
    chmodSync(keep, 0o755);
    const r = await sh("echo x > tree/new", { cwd }, ["--overlay", `./tree:${keep}/out/changes`]);
    expect(r).toMatchObject({ exitCode: 0, stderr: "" });
    expect(statSync(join(keep, "out/changes")).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(keep, "out"))).toEqual(["changes"]);
  });

  it("an upper another user made first in a sticky, world-writable directory is refused (control: one's own)", async () => {
    const { cwd } = plantedProject();
    const tmp = scratch();
    chmodSync(tmp, 0o1777); // a stand-in for /tmp
    let theirs: string;
    if (ROOT) {
      theirs = join(tmp, "changes");
      mkdirSync(theirs, { mode: 0o777 });
      chownSync(theirs, 65534, 65534);
    } else {
      theirs = "/usr/share"; // unprivileged, the nearest directory of another user is root's own
    }
    const r = await nsbox(["--overlay", `./tree:${theirs}`, "--", "true"], { cwd });
    expectRefused(r, `--overlay ./tree:${theirs}`, /belongs to uid \d+, not you/);
    const mine = join(tmp, "mine");
    expect(await nsbox(["--overlay", `./tree:${mine}`, "--", "sh", "-c", "echo x > tree/x"], { cwd })).toMatchObject({ exitCode: 0, stderr: "" });
    expect(statSync(mine).mode & 0o777).toBe(0o700);
    expect(readdirSync(mine)).toEqual(["x"]);
  });

  it("an upper or work directory others may write is refused (control: after chmod go-w it is used)", async () => {
    const { cwd } = plantedProject();
    const keep = scratch();
    const upper = join(keep, "changes");
    mkdirSync(upper);
    chmodSync(upper, 0o777);
    expectRefused(await nsbox(["--overlay", `./tree:${upper}`, "--", "true"], { cwd }), `--overlay ./tree:${upper}`, /upper directory .* is writable by others \(mode 777\): run chmod go-w/);
    chmodSync(upper, 0o700);
    const work = join(keep, ".changes.nsbox-work");
    mkdirSync(work);
    if (ROOT) chownSync(work, 65534, 65534);
    else chmodSync(work, 0o777);
    expectRefused(await nsbox(["--overlay", `./tree:${upper}`, "--", "true"], { cwd }), `--overlay ./tree:${upper}`, ROOT ? /work directory .* belongs to uid 65534/ : /work directory .* is writable by others/);
    rmSync(work, { recursive: true });
    expect(await nsbox(["--overlay", `./tree:${upper}`, "--", "true"], { cwd })).toMatchObject({ exitCode: 0, stderr: "" });
  });

  it("a work directory the payload swapped for a symlink during the run is not followed by the cleanup (control: the swap happened)", async () => {
    const cwd = plantedProject().cwd;
    const victim = scratch();
    mkdirSync(join(victim, "work"));
    chmodSync(join(victim, "work"), 0o755);
    writeFileSync(join(victim, "work/keep"), "keep\n");
    writeFileSync(join(victim, "keep"), "keep\n");
    // The upper sits in the project, so its work directory beside it is in the payload's reach.
    const plant = `mv .changes.nsbox-work moved && ln -s ${victim} .changes.nsbox-work && echo planted`;
    const r = await sh(plant, { cwd }, ["--overlay", "./tree:./changes"]);
    expect(r).toMatchObject({ stdout: "planted\n", exitCode: 0 });
    expect(lstatSync(join(cwd, ".changes.nsbox-work")).isSymbolicLink()).toBe(true);
    expect(readdirSync(victim).sort()).toEqual(["keep", "work"]);
    expect(readdirSync(join(victim, "work"))).toEqual(["keep"]);
    expect(statSync(join(victim, "work")).mode & 0o777).toBe(0o755);
  });

  it("nor one whose work/work the payload replaced with a symlink: the cleanup removes the link, not what it leads to", async () => {
    const cwd = plantedProject().cwd;
    const victim = scratch();
    chmodSync(victim, 0o755);
    writeFileSync(join(victim, "keep"), "keep\n");
    const plant = `chmod 700 .changes.nsbox-work/work 2>/dev/null; rm -rf .changes.nsbox-work/work/* ; ln -s ${victim} .changes.nsbox-work/work/w && ls .changes.nsbox-work/work && echo planted`;
    const r = await sh(plant, { cwd }, ["--overlay", "./tree:./changes"]);
    expect(r.stdout).toContain("planted");
    expect(existsSync(join(cwd, ".changes.nsbox-work"))).toBe(false);
    expect(readdirSync(victim)).toEqual(["keep"]);
    expect(statSync(victim).mode & 0o777).toBe(0o755);
  });

  it("an upper swapped for a symlink after a run is refused on the next (control: the first run used it)", async () => {
    const cwd = plantedProject().cwd;
    const keep = scratch();
    const upper = join(keep, "changes");
    expect(await sh("echo x > tree/x", { cwd }, ["--overlay", `./tree:${upper}`])).toMatchObject({ exitCode: 0 });
    expect(readdirSync(upper)).toEqual(["x"]);
    renameSync(upper, join(keep, "old"));
    symlinkSync(cwd, upper);
    expectRefused(await nsbox(["--overlay", `./tree:${upper}`, "--", "true"], { cwd }), `--overlay ./tree:${upper}`, /is a symlink to/);
  });
});

describe("paths the library opens or shares for a program", () => {
  it("stdout to Bun.file(out.log), out.log planted as a symlink to a dotfile: refused, the dotfile untouched (control: a plain file is written)", async () => {
    const cwd = scratch();
    const home = scratch("nsbox-home-");
    writeFileSync(join(home, ".bashrc"), "# mine\n");
    symlinkSync(join(home, ".bashrc"), join(cwd, "out.log"));
    await expect(run(["echo", "evil"], { noCwd: true, stdout: Bun.file(join(cwd, "out.log")) })).rejects.toThrow(/out\.log is a symlink; .*name the real path/);
    mkdirSync(join(cwd, "logs"));
    symlinkSync(home, join(cwd, "logdir"));
    await expect(run(["echo", "evil"], { noCwd: true, stdout: Bun.file(join(cwd, "logdir/.bashrc")) })).rejects.toThrow(/logdir is a symlink to/);
    expect(readFileSync(join(home, ".bashrc"), "utf8")).toBe("# mine\n");
    await run(["echo", "evil"], { noCwd: true, stdout: Bun.file(join(cwd, "logs/out.log")) });
    expect(readFileSync(join(cwd, "logs/out.log"), "utf8")).toBe("evil\n");
  });

  it("cwd through a planted symlink is refused (control: the real path is shared)", async () => {
    const { cwd, secret } = plantedProject();
    await expect(run(["ls"], { cwd: join(cwd, "fixtures") })).rejects.toThrow(/fixtures is a symlink to .*\.ssh/);
    expect((await run(["ls"], { cwd: secret })).stdout).toBe("id_rsa\n");
  });
});
