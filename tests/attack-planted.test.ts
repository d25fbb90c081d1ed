// Attacks on the host side's path handling (issue 11, item 3), each with the control that shows it could succeed.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { execFileSync } from "node:child_process";
import { nsbox, sh } from "./helpers.ts";
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
function scratch(prefix = "nsbox-a-"): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(dir);
  return dir;
}
const SECRET = "NSBOX-ATTACK-SECRET";
/** A stand-in for ~/.ssh outside the project, with a `config` and a key. */
function secretDir(): string {
  const dir = join(scratch("nsbox-home-"), ".ssh");
  mkdirSync(dir);
  writeFileSync(join(dir, "config"), SECRET + "\n");
  writeFileSync(join(dir, "id_rsa"), SECRET + "\n");
  return dir;
}
const quiet = { stdio: { stdin: -1, stdout: -1, stderr: -1 } };

/** Exchanges two names as fast as it can (renameat2 RENAME_EXCHANGE) until `stop` exists; prints its count. */
const SWAPPER = `
import { dlopen, FFIType, ptr } from "bun:ffi";
const libc = dlopen("libc.so.6", { renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 } });
const [a, b, stop] = process.argv.slice(2).map((p) => Buffer.from(p + "\\0"));
let swaps = 0;
console.log("swapping");
while (!(await Bun.file(stop.subarray(0, -1).toString()).exists())) {
  for (let i = 0; i < 64; i++) if (libc.symbols.renameat2(-100, ptr(a), -100, ptr(b), 2) === 0) swaps++;
  Bun.sleepSync(1);
}
console.log("swaps " + swaps);
`;

/**
 * The walk looks every name up from `/` (lstat of the whole path so far), so a symlink swapped in
 * for a directory *on the way*, after the walk passed it, is followed by the next lookup: the walk
 * then records the identity of ~/.ssh/config, and an open with O_NOFOLLOW (which guards only the
 * last name) reaches that very file while the link stands. Before the fix, about 1 plan in 60
 * carried the secret as --file's content into the sandbox.
 */
describe("--file ./conf/config while the payload swaps conf for a symlink to ~/.ssh", () => {
  it("never reads the secret in 2,000 plans (controls: swaps, the refusals that prove the window was hit, the content reaching a sandbox)", async () => {
    const project = scratch();
    const secret = secretDir();
    const conf = join(project, "conf");
    mkdirSync(conf);
    writeFileSync(join(conf, "config"), "public\n");
    symlinkSync(relative(project, secret), join(project, "link"));
    writeFileSync(join(project, "swapper.ts"), SWAPPER);
    const stop = join(project, "stop");
    const swapper = Bun.spawn([process.execPath, join(project, "swapper.ts"), conf, join(project, "link"), stop], { stdout: "pipe", stderr: "inherit" });
    const counts = { planned: 0, secret: 0, refusedLink: 0, refusedOpened: 0, refusedChanged: 0 };
    const other: string[] = [];
    let last: ReturnType<typeof buildPlan> | undefined;
    const host = readHost(project);
    try {
      // At least 2,000; more until the window was hit once (rarer on a loaded machine).
      for (let i = 0; i < 2000 || (counts.refusedOpened === 0 && i < 20_000); i++) {
        try {
          const plan = buildPlan(["cat", "/x"], { noCwd: true, mounts: [parseMount("file", `/x:${conf}/config`)] }, host, { terminal: null });
          const file = plan.ops.find((o) => o.op === "WRITE_FILE" && o.path.startsWith("/nsbox-file-"));
          const content = file?.op === "WRITE_FILE" ? Buffer.from(file.content).toString() : "undefined";
          counts.planned++;
          if (content.includes(SECRET)) counts.secret++;
          else if (content === "public\n") last = plan;
          else other.push(content);
        } catch (e) {
          const m = (e as Error).message;
          if (/is a symlink to/.test(m)) counts.refusedLink++;
          else if (/led to .* when opened/.test(m)) counts.refusedOpened++;
          else if (/changed while nsbox read it|no such file/.test(m)) counts.refusedChanged++;
          else other.push(m);
        }
      }
    } finally {
      writeFileSync(stop, "");
    }
    await swapper.exited;
    const swaps = Number(/swaps (\d+)/.exec(await new Response(swapper.stdout).text())?.[1] ?? 0);
    console.log(`race: ${JSON.stringify({ swaps, ...counts })}`);
    expect(other).toEqual([]);
    expect(counts.secret).toBe(0);
    // Controls: the names were swapped throughout; the walk did see the secret's identity through a
    // link on the way (the new check refused it); a planned content is what the payload gets.
    expect(swaps).toBeGreaterThan(2000);
    expect(counts.refusedOpened).toBeGreaterThan(0);
    expect(counts.planned).toBeGreaterThan(0);
    const out = await nsbox(["--file", `/x:${secret}/config`, "--", "cat", "/x"], { cwd: project });
    expect(out).toMatchObject({ stdout: SECRET + "\n", exitCode: 0 }); // named, the secret would show
    const run = await supervise(last!, quiet);
    expect(run.exitCode).toBe(0);
  }, 300_000);
});

describe("hard links instead of symlinks", () => {
  it("the payload can't hard-link a file it sees read-only into the project, to write it through the link on a later run (control: a link within the project)", async () => {
    const project = scratch();
    const secret = secretDir();
    writeFileSync(join(project, "a"), "a\n");
    const r = await sh(`ln /keys/config stolen; echo "rc=$?"; ln a b && echo linked`, { cwd: project }, ["--ro-bind", `${secret}:/keys`]);
    expect(r.stdout).toBe("rc=1\nlinked\n");
    expect(r.stderr).toMatch(/cross-device|Invalid cross-device link/i);
    expect(statSync(join(project, "b")).ino).toBe(statSync(join(project, "a")).ino);
    expect(() => statSync(join(project, "stolen"))).toThrow();
  });

  it("a hard link the user made is the file the user named: --ro and --file show its content, read-only and nothing else (its content shows; the write is refused)", async () => {
    const project = scratch();
    writeFileSync(join(project, "data"), "data\n");
    linkSync(join(project, "data"), join(project, "alias"));
    const r = await nsbox(["--ro-bind", `${project}/alias:/a`, "--file", `/f:${project}/alias`, "--no-cwd", "--", "sh", "-c", "cat /a /f; echo x > /a"], { cwd: project });
    expect(r.stdout).toBe("data\ndata\n");
    expect(readFileSync(join(project, "data"), "utf8")).toBe("data\n");
  });
});

describe("a host path changed by rename (no symlink) between the plan and the mount", () => {
  const planFor = (cwd: string, value: string) =>
    buildPlan(["cat", "/data/id_rsa"], { noCwd: true, mounts: [parseMount("ro-bind", value)] }, readHost(cwd), { terminal: null });

  it("--ro-bind ./a/b after the payload exchanged the parent a with its own c (c/b holding other content): refused (control: unchanged, it mounts)", async () => {
    const cwd = scratch();
    mkdirSync(join(cwd, "a/b"), { recursive: true });
    mkdirSync(join(cwd, "c/b"), { recursive: true });
    writeFileSync(join(cwd, "a/b/id_rsa"), "public\n");
    writeFileSync(join(cwd, "c/b/id_rsa"), SECRET + "\n");
    const control = await supervise(planFor(cwd, `${cwd}/a/b:/data`), quiet);
    expect(control.exitCode).toBe(0);
    const plan = planFor(cwd, `${cwd}/a/b:/data`);
    renameSync(join(cwd, "a"), join(cwd, "old"));
    renameSync(join(cwd, "c"), join(cwd, "a"));
    const out = await supervise(plan, quiet);
    expect(out.exitCode).toBe(125);
    expect(out.error?.message).toMatch(/was replaced by another file after nsbox checked it/);
  });
});

describe("a path longer than PATH_MAX: nothing cut short", () => {
  // Found: the executor copied a path into a 4096-byte buffer and cut it there, so the parent it
  // held was a prefix of the real one and the rest, several components long, went to mkdirat,
  // which follows symlinks on the way: a directory swapped for a link after the plan made nsbox
  // create the overlay's upper directory through it, outside.
  const overlayPlan = (cwd: string, upper: string) =>
    buildPlan(["true"], { noCwd: true, mounts: [{ kind: "overlay", source: join(cwd, "lower"), target: "/mnt", upper, origin: "--overlay", option: "--overlay" }] }, readHost(cwd), { terminal: null });
  const swap = (dir: string, to: string) => {
    renameSync(dir, `${dir}-old`);
    symlinkSync(relative(join(dir, ".."), to), dir);
  };

  it("an overlay upper whose directory on the way became a symlink after the plan: nothing is made through it (control: a short path is refused the same way, and unswapped it mounts)", async () => {
    const cwd = scratch();
    const victim = scratch("nsbox-victim-");
    mkdirSync(join(cwd, "lower"));
    let deep = cwd;
    while (deep.length < 4085) deep += "/dd";
    mkdirSync(join(deep, "sw"), { recursive: true });
    const plan = overlayPlan(cwd, join(deep, "sw/new/up"));
    swap(join(deep, "sw"), victim);
    const out = await supervise(plan, quiet);
    expect(out.exitCode).toBe(125);
    expect(readdirSync(victim)).toEqual([]);
    // Control: the same swap on a short path is refused by the kernel's no-symlink rule, and without it the overlay mounts.
    mkdirSync(join(cwd, "sw"));
    const short = overlayPlan(cwd, join(cwd, "sw/new/up"));
    swap(join(cwd, "sw"), victim);
    expect((await supervise(short, quiet)).exitCode).toBe(125);
    expect(readdirSync(victim)).toEqual([]);
    mkdirSync(join(cwd, "ok"));
    expect((await supervise(overlayPlan(cwd, join(cwd, "ok/new/up")), quiet)).exitCode).toBe(0);
  });
});

describe("magic links as sources", () => {
  it("/proc/self/cwd, /proc/self/root, /dev/stdin are refused as sources, with where they lead (control: the real path binds)", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "f"), "f\n");
    for (const src of ["/proc/self/cwd", "/proc/self/root/etc", "/dev/stdin", "/dev/fd/0"]) {
      const r = await nsbox(["--ro-bind", `${src}:/x`, "--", "true"], { cwd });
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(/is a symlink to .*name the real path/);
    }
    const control = await nsbox(["--ro-bind", `${cwd}:/x`, "--", "cat", "/x/f"], { cwd });
    expect(control).toMatchObject({ stdout: "f\n", exitCode: 0 });
  });
});

describe("the overlay work directory's cleanup", () => {
  it("a directory renamed into the work directory's name before the run (in a shared, non-sticky directory, another user can) keeps its files (control: overlayfs's own work/ goes)", async () => {
    const cwd = scratch();
    mkdirSync(join(cwd, "tree"));
    const work = join(cwd, ".changes.nsbox-work");
    mkdirSync(join(work, "notes"), { recursive: true });
    writeFileSync(join(work, "notes/todo.txt"), "mine\n");
    writeFileSync(join(work, "#1f"), "overlayfs's\n");
    const r = await sh("echo x > tree/new", { cwd }, ["--overlay", "./tree:./changes"]);
    // Left, and said in one line; the payload's status stays the result (src/work-dirs.ts).
    expect(r).toMatchObject({ exitCode: 0, stderr: `nsbox: the overlay work directory ${work} was left: it holds files overlayfs did not make; look at them, then remove it\n` });
    expect(readFileSync(join(work, "notes/todo.txt"), "utf8")).toBe("mine\n");
    expect(readdirSync(work).sort()).toEqual(["notes"]);
  });

  it("the payload renames a parent of --ro and --hide paths into the work directory's name: the rename is refused and their files stay (controls: the walls inside, a normal cleanup)", async () => {
    const cwd = scratch();
    mkdirSync(join(cwd, "tree"));
    mkdirSync(join(cwd, "data/keep"), { recursive: true });
    writeFileSync(join(cwd, "data/keep/file"), "precious\n");
    writeFileSync(join(cwd, "data/secret.txt"), SECRET + "\n");
    const script = "rm data/keep/file 2>/dev/null || echo ro; cat data/secret.txt 2>/dev/null || echo hidden; mv .changes.nsbox-work gone && mv data .changes.nsbox-work 2>/dev/null; echo rc=$?";
    const r = await sh(script, { cwd }, ["--ro", "./data/keep", "--hide", "./data/secret.txt", "--overlay", "./tree:./changes"]);
    // data is pinned (a mount point inside): it can't be renamed. Before that, it could, and the
    // cleanup deleted both files on the host; the cleanup now also leaves files overlayfs did not make.
    expect(r).toMatchObject({ stdout: "ro\nhidden\nrc=1\n", exitCode: 0 });
    expect(readFileSync(join(cwd, "data/keep/file"), "utf8")).toBe("precious\n");
    expect(readFileSync(join(cwd, "data/secret.txt"), "utf8")).toBe(SECRET + "\n");
    // Control: left alone, the work directory is removed after the run (with what overlayfs left in it).
    const other = scratch();
    mkdirSync(join(other, "tree"));
    const ok = await sh("echo x > tree/new; mkdir tree/d; echo y > tree/d/f; rm -r tree/d", { cwd: other }, ["--overlay", "./tree:./changes"]);
    expect(ok).toMatchObject({ exitCode: 0, stderr: "" });
    expect(() => statSync(join(other, ".changes.nsbox-work"))).toThrow();
  });

  it("the payload can't swap in a directory holding protected files (a nested repository's .git): the rename is refused (control: a plain directory is swapped in, its file left)", async () => {
    const cwd = scratch();
    mkdirSync(join(cwd, "tree"));
    execFileSync("git", ["init", "-q", join(cwd, "sub")]);
    const config = readFileSync(join(cwd, "sub/.git/config"), "utf8");
    mkdirSync(join(cwd, "plain"));
    writeFileSync(join(cwd, "plain/x"), "x\n");
    const r = await sh("mv .changes.nsbox-work gone && mv sub .changes.nsbox-work; echo rc=$?; mv plain .changes.nsbox-work && echo plain", { cwd }, ["--overlay", "./tree:./changes"]);
    expect(r.stdout).toBe("rc=1\nplain\n");
    expect(readFileSync(join(cwd, "sub/.git/config"), "utf8")).toBe(config);
    // Control: the plain directory was swapped in (and its file, not overlayfs's, was left).
    expect(() => statSync(join(cwd, "plain"))).toThrow();
    expect(readFileSync(join(cwd, ".changes.nsbox-work/x"), "utf8")).toBe("x\n");
  });
});

/**
 * The library's stdio files: the directory was walked, then the file opened by its whole name with
 * O_CREAT. A directory on the way swapped for a symlink in between made the file in the link's
 * target (an empty ~/.ssh/authorized_keys, say) before the descriptor check refused the run.
 */
describe("stdout: Bun.file(logs/authorized_keys) while the payload swaps logs for a symlink to ~/.ssh", () => {
  it("never creates the file there in 300 runs (controls: swaps, refusals proving the window was hit, runs that wrote the log)", async () => {
    const { run } = await import("../src/library.ts");
    const project = scratch();
    const secret = secretDir();
    const logs = join(project, "logs");
    mkdirSync(logs);
    symlinkSync(relative(project, secret), join(project, "link"));
    writeFileSync(join(project, "swapper.ts"), SWAPPER);
    const stop = join(project, "stop");
    const swapper = Bun.spawn([process.execPath, join(project, "swapper.ts"), logs, join(project, "link"), stop], { stdout: "pipe", stderr: "inherit" });
    const counts = { ran: 0, refusedLink: 0, refusedMoved: 0 };
    const other: string[] = [];
    try {
      for (let i = 0; i < 300 || (counts.refusedMoved === 0 && i < 3000); i++) {
        try {
          await run(["echo", "hi"], { noCwd: true, stdout: Bun.file(join(logs, "authorized_keys")) });
          counts.ran++;
        } catch (e) {
          const m = (e as Error).message;
          if (/is a symlink to/.test(m)) counts.refusedLink++;
          else if (/led to .* when opened|is no longer a directory/.test(m)) counts.refusedMoved++;
          else other.push(m);
        }
      }
    } finally {
      writeFileSync(stop, "");
    }
    await swapper.exited;
    const swaps = Number(/swaps (\d+)/.exec(await new Response(swapper.stdout).text())?.[1] ?? 0);
    console.log(`race: ${JSON.stringify({ swaps, ...counts })}`);
    expect(other).toEqual([]);
    expect(() => statSync(join(secret, "authorized_keys"))).toThrow();
    expect(swaps).toBeGreaterThan(300);
    expect(counts.refusedMoved).toBeGreaterThan(0);
    expect(counts.ran).toBeGreaterThan(0);
    // The runs that went through wrote the log where it was named.
    const where = [join(logs, "authorized_keys"), join(project, "link/authorized_keys")].filter((p) => { try { return statSync(p).isFile(); } catch { return false; } });
    expect(where.map((p) => readFileSync(p, "utf8"))).toContain("hi\n");
  }, 300_000);
});

/**
 * nsbox reads the git configs of a share to know what to guard (plan/protected.ts). A nested
 * repository the payload made during a run is not guarded on that run, so a payload (here, a
 * swapper standing for it) can exchange its .git/config with a FIFO while the next nsbox starts:
 * checked with lstat, then read by name, the FIFO held nsbox in a blocking read for good.
 */
describe("a FIFO swapped in for a nested repository's .git/config while nsbox plans", () => {
  const PLANNER = `
import { lstatSync, openSync, fstatSync, closeSync, constants } from "node:fs";
import { buildPlan } from ${JSON.stringify(join(import.meta.dir, "../src/plan/index.ts"))};
import { readHost } from ${JSON.stringify(join(import.meta.dir, "../src/host.ts"))};
const [project, config] = process.argv.slice(2);
const host = readHost(project);
let window = 0, errors = 0;
for (let i = 0; i < 2000; i++) {
  try { buildPlan(["true"], {}, host, { terminal: null }); } catch { errors++; }
  // The control: the same look-then-open, non-blocking, sees the FIFO that a blocking read would hang on.
  try {
    if (lstatSync(config).isFile()) {
      const fd = openSync(config, constants.O_RDONLY | constants.O_NONBLOCK);
      if (fstatSync(fd).isFIFO()) window++;
      closeSync(fd);
    }
  } catch {}
}
console.log(JSON.stringify({ window, errors }));
`;

  it("plans 2,000 times without hanging (controls: swaps, the look-then-open window seen from outside)", async () => {
    const project = scratch();
    execFileSync("git", ["init", "-q", project]);
    execFileSync("git", ["init", "-q", join(project, "sub")]);
    const config = join(project, "sub/.git/config");
    execFileSync("mkfifo", [join(project, "sub/.git/fifo")]);
    writeFileSync(join(project, "swapper.ts"), SWAPPER);
    writeFileSync(join(project, "planner.ts"), PLANNER);
    const stop = join(project, "stop");
    const swapper = Bun.spawn([process.execPath, join(project, "swapper.ts"), config, join(project, "sub/.git/fifo"), stop], { stdout: "pipe", stderr: "inherit" });
    const planner = Bun.spawn([process.execPath, join(project, "planner.ts"), project, config], { stdout: "pipe", stderr: "inherit" });
    // A hang is the failure: a planner blocked in read(2) never exits. Generous for a loaded machine.
    const ended = await Promise.race([planner.exited.then(() => true), Bun.sleep(240_000).then(() => false)]);
    if (!ended) planner.kill(9);
    writeFileSync(stop, "");
    await swapper.exited;
    const swaps = Number(/swaps (\d+)/.exec(await new Response(swapper.stdout).text())?.[1] ?? 0);
    const out = await new Response(planner.stdout).text();
    console.log(`race: ${JSON.stringify({ swaps, ended, out: out.trim() })}`);
    expect(ended).toBe(true);
    const { window, errors } = JSON.parse(out) as { window: number; errors: number };
    expect(errors).toBe(0);
    expect(swaps).toBeGreaterThan(2000);
    expect(window).toBeGreaterThan(0);
  }, 300_000);
});

describe("stdout: Bun.file(out.log) where the payload left a FIFO", () => {
  it("is refused at once instead of holding nsbox in open(2) (control: with a reader, the FIFO gets the output)", async () => {
    const { run } = await import("../src/library.ts");
    const project = scratch();
    const fifo = join(project, "out.log");
    execFileSync("mkfifo", [fifo]);
    let error = "";
    try {
      await run(["echo", "hi"], { noCwd: true, stdout: Bun.file(fifo) });
    } catch (e) {
      error = (e as Error).message;
    }
    expect(error).toBe(`stdout ${fifo}: a FIFO no process reads (nsbox would wait for a reader for good); remove it or name a regular file`);
    const reader = Bun.spawn(["cat", fifo], { stdout: "pipe" });
    // The reader's open completes when a writer opens, so retry until cat has the FIFO open.
    let r: Awaited<ReturnType<typeof run>> | undefined;
    for (let i = 0; i < 200 && !r; i++) {
      try {
        r = await run(["echo", "hi"], { noCwd: true, stdout: Bun.file(fifo) });
      } catch {
        await Bun.sleep(50);
      }
    }
    expect(r?.exitCode).toBe(0);
    expect(await new Response(reader.stdout).text()).toBe("hi\n");
  });
});

describe("--dev-bind of a device node the payload made", () => {
  it("the payload can't make one in the project for a later --dev-bind ./x (control: a FIFO is made; a real device binds)", async () => {
    const project = scratch();
    const r = await sh("mknod ./x c 1 3 2>/dev/null; echo rc=$?; mkfifo ./y && echo fifo", { cwd: project });
    expect(r.stdout).toBe("rc=1\nfifo\n");
    expect(() => statSync(join(project, "x"))).toThrow();
    expect(statSync(join(project, "y")).isFIFO()).toBe(true);
    const control = await nsbox(["--dev-bind", "/dev/null:/dev/mynull", "--", "sh", "-c", "echo hi > /dev/mynull && echo ok"], { cwd: project });
    expect(control).toMatchObject({ stdout: "ok\n", exitCode: 0 });
  });
});

describe("stdout: Bun.file() directly in /", () => {
  it("is written, not refused as if it had moved (as root; as another user, a file in a directory of its own is the control)", async () => {
    const { run } = await import("../src/library.ts");
    const path = process.getuid!() === 0 ? `/nsbox-attack-${process.pid}.log` : join(scratch(), "out.log");
    try {
      const r = await run(["echo", "hi"], { noCwd: true, stdout: Bun.file(path) });
      expect(r.exitCode).toBe(0);
      expect(readFileSync(path, "utf8")).toBe("hi\n");
    } finally {
      rmSync(path, { force: true });
    }
  });
});

/**
 * A path the user hides or makes read-only inside a writable share stays where it is on the host:
 * the payload cannot move it (a mount point), but it could rename a directory above it, so the
 * next run's `--hide-try ./data/secret.txt` found nothing to hide and showed data2/secret.txt.
 */
describe("--hide-try / --ro-try paths whose parent the payload renames", () => {
  it("the parents are pinned: the rename fails, and the next run still hides and protects them (control: an unrelated directory renames)", async () => {
    const cwd = scratch();
    mkdirSync(join(cwd, "data/keep"), { recursive: true });
    mkdirSync(join(cwd, "other"));
    writeFileSync(join(cwd, "data/keep/file"), "precious\n");
    writeFileSync(join(cwd, "data/secret.txt"), SECRET + "\n");
    const opts = ["--ro-try", "./data/keep", "--hide-try", "./data/secret.txt"];
    const first = await sh("mv data data2 2>/dev/null; echo rc=$?; mv other other2 && echo other", { cwd }, opts);
    expect(first.stdout).toBe("rc=1\nother\n");
    const second = await sh("cat data/secret.txt data2/secret.txt 2>/dev/null; echo x > data/keep/file || echo ro", { cwd }, opts);
    expect(second.stdout).not.toContain(SECRET);
    expect(readFileSync(join(cwd, "data/keep/file"), "utf8")).toBe("precious\n");
    expect(statSync(join(cwd, "other2")).isDirectory()).toBe(true);
  });
});
