// Host files nsbox reads or opens (config files, the trust store, --seccomp, --file, --net-log) and
// conditions of the host the user caused: each refused or ignored at once, worded as what it is
// (a FIFO, a device, a directory, permission denied), never a hang, a stack trace or an internal error.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { NSBOX, ROOT, cleanedUp, collect, homeIn, nsbox, readableCheckout, scratchIn, type Ran } from "./helpers.ts";

setDefaultTimeout(60_000);

const made = cleanedUp();
const AS_ROOT = process.getuid!() === 0;
const scratch = () => scratchIn(made);
const fifo = (path: string) => execFileSync("mkfifo", [path]);
/** nsbox as a shell word list, for runs that need a shell around them (a pipe on stdin, a removed cwd). */
const nsboxCmd = `${JSON.stringify(process.execPath)} --no-env-file --config=/dev/null ${JSON.stringify(NSBOX)}`;

/** An allow-all classic-BPF program: one `ret SECCOMP_RET_ALLOW`. */
function allowAll(path: string): void {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0x06, 0);
  b.writeUInt32LE(0x7fff0000, 4);
  writeFileSync(path, b);
}

/**
 * Refused before the payload ran: exit 125, one line `nsbox: ORIGIN: …` that says `problem`; no
 * trace. With `fix`, the line ends in "; " and the fix, and `problem` is matched against what comes
 * before it (a regex's `$` is the end of the message).
 */
function expectRefused(r: Ran, origin: string, problem: RegExp | string, fix?: string): void {
  expect(r.stdout).toBe("");
  expect(r.exitCode).toBe(125);
  expect(r.stderr).toEndWith("\n");
  const lines = r.stderr.slice(0, -1).split("\n");
  expect(lines).toHaveLength(1);
  let message = lines[0]!;
  expect(message.startsWith(`nsbox: ${origin}: `)).toBe(true);
  if (fix !== undefined) {
    expect(message).toEndWith(`; ${fix}`);
    message = message.slice(0, -`; ${fix}`.length);
  }
  if (typeof problem === "string") expect(message).toContain(problem);
  else expect(message).toMatch(problem);
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toContain("    at ");
}

describe("--seccomp FILE that is not a regular file", () => {
  it("a FIFO, a character device, a directory and a pipe on stdin are refused at once, each named as what it is (control: a regular file is installed)", async () => {
    const cwd = scratch();
    fifo(join(cwd, "fifo.bpf"));
    mkdirSync(join(cwd, "dir.bpf"));
    expectRefused(await nsbox(["--seccomp", "fifo.bpf", "--", "true"], { cwd }), "--seccomp fifo.bpf", "is a FIFO (named pipe), not a regular file");
    expectRefused(await nsbox(["--seccomp", "/dev/urandom", "--", "true"], { cwd }), "--seccomp /dev/urandom", "/dev/urandom is a character device, not a regular file");
    expectRefused(await nsbox(["--seccomp", "dir.bpf", "--", "true"], { cwd }), "--seccomp dir.bpf", "is a directory, not a regular file");
    // A test's stdin bytes come in a memfd (Bun.spawn), a shell's `|` in a pipe: both have no name.
    expectRefused(await nsbox(["--seccomp", "/dev/stdin", "--", "true"], { cwd, stdin: "x" }), "--seccomp /dev/stdin", /is a file in memory \(\/memfd:.*\), not a file/);
    allowAll(join(cwd, "allow.bpf"));
    expect(await nsbox(["--seccomp", "allow.bpf", "--", "echo", "ok"], { cwd })).toMatchObject({ stdout: "ok\n", exitCode: 0 });
  });

  // Root reads a file of mode 000 all the same: the refusal exists for users only.
  it.skipIf(AS_ROOT)("one the user may not read says permission denied, not 'no such file' (control: readable, it is installed)", async () => {
    const cwd = scratch();
    allowAll(join(cwd, "allow.bpf"));
    chmodSync(join(cwd, "allow.bpf"), 0o000);
    expectRefused(await nsbox(["--seccomp", "allow.bpf", "--", "true"], { cwd }), "--seccomp allow.bpf", "can't be read: permission denied");
    chmodSync(join(cwd, "allow.bpf"), 0o600);
    expect(await nsbox(["--seccomp", "allow.bpf", "--", "echo", "ok"], { cwd })).toMatchObject({ stdout: "ok\n", exitCode: 0 });
  });
});

describe("--file DST:CONTENT whose content is not a regular file", () => {
  it("/dev/zero, a directory and /dev/stdin on a pipe are refused at once (control: a regular file's content is there)", async () => {
    const cwd = scratch();
    mkdirSync(join(cwd, "dir"));
    expectRefused(await nsbox(["--file", "/x:/dev/zero", "--", "true"], { cwd }), "--file /x:/dev/zero", "/dev/zero is a character device, not a regular file");
    expectRefused(await nsbox(["--file", "/x:dir", "--", "true"], { cwd }), "--file /x:dir", "is a directory, not a regular file");
    expectRefused(await collect(["sh", "-c", `echo data | exec ${nsboxCmd} --file /x:/dev/stdin -- true`], { cwd }), "--file /x:/dev/stdin", /is a pipe \(pipe:\[\d+\]\), not a file or directory/);
    writeFileSync(join(cwd, "plain"), "content\n");
    expect(await nsbox(["--file", "/x:plain", "--", "cat", "/x"], { cwd })).toMatchObject({ stdout: "content\n", exitCode: 0 });
  });
});

describe("a path through a file (notes.txt/x)", () => {
  it("--ro, --file and --seccomp say which component is not a directory, not 'no such file' (control: --ro-try skips it, a real path binds)", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "notes.txt"), "n\n");
    expectRefused(await nsbox(["--ro", "notes.txt/x", "--", "true"], { cwd }), "--ro notes.txt/x", `${join(cwd, "notes.txt")} is not a directory`);
    expectRefused(await nsbox(["--file", "/x:notes.txt/x", "--", "true"], { cwd }), "--file /x:notes.txt/x", `${join(cwd, "notes.txt")} is not a directory`);
    expectRefused(await nsbox(["--seccomp", "notes.txt/x", "--", "true"], { cwd }), "--seccomp notes.txt/x", `${join(cwd, "notes.txt")} is not a directory`);
    expect(await nsbox(["--ro-try", "notes.txt/x", "--", "echo", "ran"], { cwd })).toMatchObject({ stdout: "ran\n", exitCode: 0 });
    expect(await nsbox(["--ro", "notes.txt", "--", "cat", join(cwd, "notes.txt")], { cwd })).toMatchObject({ stdout: "n\n", exitCode: 0 });
  });
});

describe("--net-log PATH that is not a regular file", () => {
  const log = (cwd: string, path: string) => nsbox(["--net", "allow=allowed.test", "--net-log", path, "--", "echo", "ran"], { cwd });

  it("a FIFO nobody reads, /dev/full and a directory are refused before the payload runs, in words (control: a new file is written)", async () => {
    const cwd = scratch();
    fifo(join(cwd, "fifo"));
    mkdirSync(join(cwd, "dir"));
    expectRefused(await log(cwd, "fifo"), "--net-log fifo", "can't write it: it is a FIFO with no reader");
    expectRefused(await log(cwd, "/dev/full"), "--net-log /dev/full", "it is a character device, not a regular file");
    expectRefused(await log(cwd, "dir"), "--net-log dir", "can't write it: it is a directory");
    expect(await log(cwd, "net.log")).toMatchObject({ stdout: "ran\n", exitCode: 0 });
    expect(readFileSync(join(cwd, "net.log"), "utf8")).toBe("");
  });
});

describe("--net-log PATH that can't be written", () => {
  // chattr +a takes CAP_LINUX_IMMUTABLE (root) and a file system that keeps the flag.
  it.skipIf(!AS_ROOT)("an append-only file (chattr +a) is refused in words, before the payload runs (control: without the flag it is written)", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "net.log"), "");
    if (Bun.spawnSync(["chattr", "+a", join(cwd, "net.log")]).exitCode !== 0) return; // this file system keeps no such flag: nothing to show
    try {
      expectRefused(await nsbox(["--net", "allow=allowed.test", "--net-log", "net.log", "--", "echo", "ran"], { cwd }), "--net-log net.log", "can't write it: operation not permitted");
    } finally {
      Bun.spawnSync(["chattr", "-a", join(cwd, "net.log")]);
    }
    expect(await nsbox(["--net", "allow=allowed.test", "--net-log", "net.log", "--", "echo", "ran"], { cwd })).toMatchObject({ stdout: "ran\n", exitCode: 0 });
  });
});

describe("project config files that are not regular files are ignored with a warning, never read", () => {
  const profile = { profiles: { mine: { env: "FROM_CONFIG=1" } } };

  it("nsbox.json as a FIFO, a symlink to /dev/zero or a directory: the run goes on, the warning says what it is (control: a regular one is used)", async () => {
    for (const [make, says] of [
      [(p: string) => fifo(p), "is a FIFO (named pipe), not a regular file"],
      [(p: string) => symlinkSync("/dev/zero", p), "is a symbolic link"],
      [(p: string) => mkdirSync(p), "is a directory, not a regular file"],
    ] as const) {
      const cwd = scratch();
      make(join(cwd, "nsbox.json"));
      const sub = join(cwd, "sub");
      mkdirSync(sub);
      // From the directory and from one below it: every run under it used to hang.
      for (const at of [cwd, sub]) {
        const r = await nsbox(["--", "echo", "ran"], { cwd: at });
        expect(r).toMatchObject({ stdout: "ran\n", exitCode: 0 });
        expect(r.stderr).toBe(`nsbox: ${join(cwd, "nsbox.json")} is ignored: ${join(cwd, "nsbox.json")} ${says}${says.endsWith("link") ? " (nsbox reads config files only as regular files)" : ""}\n`);
      }
    }
    const cwd = scratch();
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify(profile));
    expect(await nsbox(["-p", "mine", "--", "printenv", "FROM_CONFIG"], { cwd })).toMatchObject({ stdout: "1\n", stderr: "", exitCode: 0 });
  });

  it("package.json as a FIFO, asked for a profile: ignored at once (control: a regular one's nsbox key is used)", async () => {
    const cwd = scratch();
    fifo(join(cwd, "package.json"));
    const r = await nsbox(["-p", "mine", "--", "true"], { cwd });
    expect(r.stderr).toStartWith(`nsbox: ${join(cwd, "package.json")} is ignored: ${join(cwd, "package.json")} is a FIFO (named pipe), not a regular file\n`);
    expect(r.exitCode).toBe(125); // the profile is then unknown
    const control = scratch();
    writeFileSync(join(control, "package.json"), JSON.stringify({ name: "p", nsbox: profile }));
    expect(await nsbox(["-p", "mine", "--", "printenv", "FROM_CONFIG"], { cwd: control })).toMatchObject({ stdout: "1\n", exitCode: 0 });
  });

  it.skipIf(AS_ROOT)("nsbox.json the user may not read: ignored as 'permission denied', not as missing (control: readable, it is used)", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify(profile));
    chmodSync(join(cwd, "nsbox.json"), 0o000);
    const r = await nsbox(["--", "echo", "ran"], { cwd });
    expect(r).toMatchObject({ stdout: "ran\n", exitCode: 0 });
    expect(r.stderr).toBe(`nsbox: ${join(cwd, "nsbox.json")} is ignored: ${join(cwd, "nsbox.json")} cannot be read: permission denied\n`);
    chmodSync(join(cwd, "nsbox.json"), 0o600);
    expect(await nsbox(["-p", "mine", "--", "printenv", "FROM_CONFIG"], { cwd })).toMatchObject({ stdout: "1\n", stderr: "", exitCode: 0 });
  });
});

describe("nsbox trust FILE", () => {
  const trust = (cwd: string, file: string, home: string) => nsbox(["trust", file], { cwd, env: { ...process.env, HOME: home, XDG_CONFIG_HOME: undefined } });

  it("a FIFO is refused at once as one (control: a regular nsbox.json is trusted)", async () => {
    const cwd = scratch();
    const home = homeIn(made);
    fifo(join(cwd, "nsbox.json"));
    const r = await trust(cwd, "nsbox.json", home);
    expect(r).toMatchObject({ exitCode: 125, stdout: "" });
    expect(r.stderr).toBe(`nsbox: ${join(cwd, "nsbox.json")} cannot be trusted: ${join(cwd, "nsbox.json")} is a FIFO (named pipe), not a regular file\n`);
    rmSync(join(cwd, "nsbox.json"));
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { rw: ["~"] } } }));
    expect((await trust(cwd, "nsbox.json", home)).exitCode).toBe(0);
  });

  it("where the store can't be written (trusted.json a directory, ~/.config a file): one message with the fix, not an internal error (control: a fresh home records it)", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { rw: ["~"] } } }));
    const dirStore = homeIn(made);
    mkdirSync(join(dirStore, ".config/nsbox/trusted.json"), { recursive: true });
    chmodSync(join(dirStore, ".config/nsbox"), 0o700);
    const r = await trust(cwd, "nsbox.json", dirStore);
    expect(r).toMatchObject({ exitCode: 125, stdout: "" });
    expect(r.stderr).toContain(`nsbox: cannot record trust in ${join(dirStore, ".config/nsbox/trusted.json")}: it is a directory; remove the directory`);
    const fileConfig = homeIn(made);
    writeFileSync(join(fileConfig, ".config"), "");
    const f = await trust(cwd, "nsbox.json", fileConfig);
    expect(f).toMatchObject({ exitCode: 125, stdout: "" });
    expect(f.stderr).toContain(`nsbox: cannot record trust: can't create ${join(fileConfig, ".config/nsbox")}: a component of the path is not a directory; ${join(fileConfig, ".config")} is not a directory: move it aside, or set XDG_CONFIG_HOME to a directory of your own\n`);
    for (const e of [r.stderr, f.stderr]) expect(e).not.toContain("internal error");
    const fresh = homeIn(made);
    expect((await trust(cwd, "nsbox.json", fresh)).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(fresh, ".config/nsbox/trusted.json"), "utf8")).files).toHaveProperty([join(cwd, "nsbox.json")]);
  });

  it.skipIf(AS_ROOT)("behind a directory the user may not enter: permission denied, not 'no such file' (control: entered, it is trusted)", async () => {
    const cwd = scratch();
    const home = homeIn(made);
    mkdirSync(join(cwd, "locked/p"), { recursive: true });
    writeFileSync(join(cwd, "locked/p/nsbox.json"), JSON.stringify({ profiles: { p: { rw: ["~"] } } }));
    chmodSync(join(cwd, "locked"), 0o000);
    const r = await trust(cwd, "locked/p/nsbox.json", home);
    expect(r).toMatchObject({ exitCode: 125, stdout: "", stderr: "nsbox: locked/p/nsbox.json: permission denied\n" });
    chmodSync(join(cwd, "locked"), 0o700);
    expect((await trust(cwd, "locked/p/nsbox.json", home)).exitCode).toBe(0);
  });
});

describe("the trust store (trusted.json) that is not a regular file, or huge", () => {
  const store = (home: string) => join(home, ".config", "nsbox", "trusted.json");
  const list = (home: string) => nsbox(["trust", "--list"], { cwd: scratch(), env: { ...process.env, HOME: home, XDG_CONFIG_HOME: undefined } });

  it("a FIFO or a sparse 5 GiB file is ignored at once with why (control: a regular store lists its entry)", async () => {
    const home = homeIn(made);
    mkdirSync(join(home, ".config", "nsbox"), { recursive: true, mode: 0o700 });
    fifo(store(home));
    const r = await list(home);
    expect(r.stderr).toBe(`nsbox: the trust store ${store(home)} is ignored: it is a FIFO (named pipe), not a regular file\n`);
    expect(r.exitCode).toBe(0);
    rmSync(store(home));
    writeFileSync(store(home), "", { mode: 0o600 });
    truncateSync(store(home), 5 * 1024 ** 3);
    const big = await list(home);
    expect(big.stderr).toBe(`nsbox: the trust store ${store(home)} is ignored: it is larger than 4 MiB\n`);
    writeFileSync(store(home), JSON.stringify({ files: { "/p/nsbox.json": { sha256: "0".repeat(64), trusted: "2026-01-01T00:00:00.000Z" } } }), { mode: 0o600 });
    const control = await list(home);
    expect(control).toMatchObject({ stderr: "", exitCode: 0 });
    expect(control.stdout).toContain("/p/nsbox.json");
  });
});

describe("conditions the user caused are one message with the fix, not an internal error", () => {
  const bun = (script: string, cwd: string, env: Record<string, string | undefined> = process.env) => collect(["sh", "-c", script], { cwd, env });

  it("a current directory that was removed: the CLI and its subcommands say so and exit 125 (control: the same directory, kept)", async () => {
    const dir = join(scratch(), "gone");
    for (const args of ["-- true", "ps", "--dry-run -- true"]) {
      mkdirSync(dir);
      const r = await bun(`cd ${dir} && rmdir ${dir} && exec ${nsboxCmd} ${args}`, "/");
      expect(r).toMatchObject({ exitCode: 125, stdout: "" });
      expect(r.stderr).toBe(`nsbox: the current directory was removed (it was ${dir}); cd to a directory that exists, then run nsbox again\n`);
    }
    mkdirSync(dir);
    expect(await bun(`cd ${dir} && exec ${nsboxCmd} -- echo ran`, "/")).toMatchObject({ stdout: "ran\n", exitCode: 0 });
  });

  it("a current directory whose path is longer than getcwd returns (4096 bytes): said so, not an internal error (control: 4,000 bytes deep it runs)", async () => {
    const top = scratch();
    // bash, not sh: dash's cd keeps a logical path and stops at 4096 bytes itself.
    const deep = (levels: number, args: string) => collect(["bash", "-c", `for i in $(seq ${levels}); do mkdir -p ${"d".repeat(200)} && cd ${"d".repeat(200)} || exit 9; done; exec ${nsboxCmd} ${args}`], { cwd: top });
    try {
      const r = await deep(21, "-- true");
      expect(r).toMatchObject({ exitCode: 125, stdout: "" });
      expect(r.stderr).toBe("nsbox: the path of the current directory is longer than Linux lets a program ask for (4096 bytes); run nsbox from a directory with a shorter path\n");
      const levels = Math.floor((4000 - top.length) / 201);
      expect(await deep(levels, "-- echo ran")).toMatchObject({ stdout: "ran\n", exitCode: 0 });
    } finally {
      execFileSync("rm", ["-rf", join(top, "d".repeat(200))]); // coreutils rm goes below PATH_MAX by descriptor
    }
  });

  it("the library from a removed directory throws an NsboxError (control: from an existing one it runs)", async () => {
    const dir = join(scratch(), "gone");
    mkdirSync(dir);
    // Without cwd, and with a relative one (resolved against the removed directory).
    const script = `import { run } from ${JSON.stringify(join(ROOT, "src/index.ts"))}; for (const o of [{}, { cwd: "sub" }]) { try { const r = await run(["true"], o); console.log("ran", r.exitCode); } catch (e) { console.log(e.name, e.code, e.message); } }`;
    const file = join(scratch(), "lib.ts");
    writeFileSync(file, script);
    const r = await bun(`cd ${dir} && rmdir ${dir} && exec ${JSON.stringify(process.execPath)} --no-env-file --config=/dev/null ${file}`, "/");
    expect(r.stdout).toBe(`NsboxError PATH_NOT_FOUND the current directory was removed (it was ${dir})\n`.repeat(2));
    mkdirSync(join(dir, "sub"), { recursive: true });
    expect((await bun(`cd ${dir} && exec ${JSON.stringify(process.execPath)} --no-env-file --config=/dev/null ${file}`, "/")).stdout).toBe("ran 0\n".repeat(2));
  });

  it("--ro /dev/stdin when stdin is a pipe: it is a pipe, not a file (control: --ro of a regular file)", async () => {
    const cwd = scratch();
    // Through sh: Bun hands a spawned process its stdin bytes in a memfd, not a pipe.
    const r = await collect(["sh", "-c", `echo data | exec ${nsboxCmd} --ro /dev/stdin -- true`], { cwd });
    expectRefused(r, "--ro /dev/stdin", /^nsbox: --ro \/dev\/stdin: (\/dev\/stdin|\/proc\/\d+\/fd\/0 \(in \/dev\/stdin\)) is a pipe \(pipe:\[\d+\]\), not a file or directory$/,
      "write the data to a file and name that, or hand it to the payload on its stdin (nsbox passes stdin through)");
    writeFileSync(join(cwd, "data"), "data\n");
    expect(await nsbox(["--ro", join(cwd, "data"), "--", "cat", join(cwd, "data")], { cwd })).toMatchObject({ stdout: "data\n", exitCode: 0 });
  });

  it("a relative HOME is refused with what to set (control: an absolute one runs)", async () => {
    const cwd = scratch();
    for (const args of [["--", "true"], ["trust", "--list"]]) {
      // XDG_CONFIG_HOME unset: with it, trust --list needs no home (another test file may have set it in this process).
      const r = await nsbox(args, { cwd, env: { ...process.env, HOME: "rel", XDG_CONFIG_HOME: undefined } });
      expect(r).toMatchObject({ exitCode: 125, stdout: "" });
      expect(r.stderr).toStartWith("nsbox: HOME=rel: not an absolute path, so nsbox cannot tell where your home is; set HOME to");
    }
    expect(await nsbox(["--", "echo", "ran"], { cwd, env: { ...process.env, HOME: homeIn(made) } })).toMatchObject({ stdout: "ran\n", exitCode: 0 });
  });

  // Starting nsbox as a uid that /etc/passwd does not know takes root (setpriv).
  it.skipIf(!AS_ROOT)("HOME unset for a uid with no passwd entry: said with the fix, not an internal error (control: with HOME set it runs)", async () => {
    const uid = 4242;
    const code = readableCheckout(made);
    const cwd = scratch();
    chownSync(cwd, uid, uid);
    const as = (env: string[]) => collect(["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "env", "-i", `PATH=${process.env.PATH}`, ...env, process.execPath, "--no-env-file", "--config=/dev/null", join(code, "bin/nsbox"), "--", "echo", "ran"], { cwd });
    expect(readFileSync("/etc/passwd", "utf8").split("\n").some((l) => l.split(":")[2] === String(uid))).toBe(false);
    expect(await as([])).toMatchObject({
      exitCode: 125, stdout: "",
      stderr: `nsbox: HOME is not set, and uid ${uid} has no home directory in /etc/passwd: nsbox cannot tell where your home is; set HOME to your home directory (e.g. HOME=/home/you)\n`,
    });
    const home = homeIn(made);
    chownSync(home, uid, uid);
    expect(await as([`HOME=${home}`])).toMatchObject({ stdout: "ran\n", exitCode: 0 });
  });

  // Root writes into a 0500 directory all the same: the refusal exists for users only.
  it.skipIf(AS_ROOT)("a runtime directory the user may not write, for --name: permission denied, not an errno name (control: writable, the name is held)", async () => {
    const runtime = scratch();
    mkdirSync(join(runtime, "nsbox"), { mode: 0o500 });
    chmodSync(join(runtime, "nsbox"), 0o500);
    const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
    const r = await nsbox(["--name", "files-ro", "--", "true"], { cwd: scratch(), env });
    expectRefused(r, `nsbox's runtime directory ${join(runtime, "nsbox")} can't hold a socket`, /: permission denied$/, "remove it, or set XDG_RUNTIME_DIR to a private directory of yours");
    chmodSync(join(runtime, "nsbox"), 0o700);
    expect(await nsbox(["--name", "files-ro", "--", "echo", "ran"], { cwd: scratch(), env })).toMatchObject({ stdout: "ran\n", exitCode: 0 });
  });

  it("nsbox doctor with TMPDIR a missing directory: a failed check with the fix, not an internal error (control: a real TMPDIR passes it)", async () => {
    const cwd = scratch();
    const missing = join(cwd, "no-such-tmp");
    const r = await nsbox(["doctor"], { cwd, env: { ...process.env, TMPDIR: missing } });
    expect(r.stderr).not.toContain("internal error");
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`✗ a real sandbox: can't create a scratch directory in ${missing}: no such file or directory\n    fix: set TMPDIR to a directory you can write, or unset it (/tmp)\n`);
    const control = await nsbox(["doctor"], { cwd, env: { ...process.env, TMPDIR: cwd } });
    expect(control.stdout).toMatch(/^✓ a real sandbox: /m);
  });

  // Root reads and lists any directory: a 0311 current directory stops only users.
  it.skipIf(AS_ROOT)("a current directory the user may not list: permission denied with the fix, not 'changed while starting' (control: --no-cwd runs)", async () => {
    const cwd = join(scratch(), "noread");
    mkdirSync(cwd, { mode: 0o311 });
    chmodSync(cwd, 0o311);
    const r = await nsbox(["--", "true"], { cwd });
    expectRefused(r, cwd, "permission denied: nsbox reads each directory it shares writable");
    expect(r.stderr).toContain(`chmod u+r ${cwd}`);
    expect(await nsbox(["--no-cwd", "--", "echo", "ran"], { cwd })).toMatchObject({ stdout: "ran\n", exitCode: 0 });
    chmodSync(cwd, 0o700);
    // The same for a repository's .git of mode 000 in the project (nsbox watches its hooks).
    mkdirSync(join(cwd, ".git"), { mode: 0o000 });
    chmodSync(join(cwd, ".git"), 0o000);
    expectRefused(await nsbox(["--", "true"], { cwd }), join(cwd, ".git"), "permission denied: nsbox reads each directory it shares writable");
    chmodSync(join(cwd, ".git"), 0o700);
    expect(await nsbox(["--", "echo", "ran"], { cwd })).toMatchObject({ stdout: "ran\n", exitCode: 0 });
  });
});

describe("--overlay: what the host decides is said before the sandbox starts", () => {
  const submounts = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4]?.startsWith(`${dir}/`));

  // /dev holds /dev/pts and /dev/shm on every Linux this runs on; a host without them has nothing to show.
  it.skipIf(!submounts("/dev"))("a directory with mounts below it (/dev) names them and the fix (control: a plain directory overlays)", async () => {
    const cwd = scratch();
    const r = await nsbox(["--overlay", "/dev", "--", "true"], { cwd });
    // The message, "; " and the fix, whose example is the first mount named.
    const line = /^nsbox: --overlay \/dev: the directory \/dev has mounts below it \((\/dev\/[^,]+)(, \/dev\/[^,]+)*\), and the kernel takes no overlay layer with submounts in a user namespace; overlay a directory without mounts below it \(e\.g\. each mount on its own, --overlay (\/dev\/\S+)\), or share \/dev with --ro or --rw instead$/;
    expectRefused(r, "--overlay /dev", line);
    const [, first, , example] = r.stderr.trimEnd().match(line)!;
    expect(example).toBe(first!);
    mkdirSync(join(cwd, "plain"));
    writeFileSync(join(cwd, "plain/f"), "f\n");
    expect(await nsbox(["--overlay", join(cwd, "plain"), "--", "sh", "-c", `echo g > ${cwd}/plain/g; cat ${cwd}/plain/f`], { cwd })).toMatchObject({ stdout: "f\n", exitCode: 0 });
  });

  // Mounting a tmpfs on the host takes root.
  it.skipIf(!AS_ROOT)("an UPPERDIR that is a mount point, or has one below it, is refused before fork (control: a directory inside that mount keeps the change)", async () => {
    const cwd = scratch();
    const lower = join(cwd, "lower");
    mkdirSync(lower);
    const keep = scratch();
    const upper = join(keep, "upper");
    mkdirSync(upper, { mode: 0o700 });
    execFileSync("mount", ["-t", "tmpfs", "-o", "mode=0700,size=1m", "nsbox-test", upper]);
    try {
      expectRefused(await nsbox(["--overlay", `${lower}:${upper}`, "--", "true"], { cwd }), `--overlay ${lower}:${upper}`, `the upper directory ${upper} is on another file system than ${join(keep, ".upper.nsbox-work")}`);
      mkdirSync(join(upper, "changes/m"), { recursive: true, mode: 0o700 });
      execFileSync("mount", ["-t", "tmpfs", "-o", "mode=0700,size=1m", "nsbox-test", join(upper, "changes/m")]);
      try {
        expectRefused(await nsbox(["--overlay", `${lower}:${join(upper, "changes")}`, "--", "true"], { cwd }), `--overlay ${lower}:${join(upper, "changes")}`, `the upper directory ${join(upper, "changes")} has mounts below it (${join(upper, "changes/m")})`);
      } finally {
        execFileSync("umount", [join(upper, "changes/m")]);
      }
      expect(await nsbox(["--overlay", `${lower}:${join(upper, "changes")}`, "--", "sh", "-c", `echo new > ${lower}/n`], { cwd })).toMatchObject({ exitCode: 0 });
      expect(readFileSync(join(upper, "changes", "n"), "utf8")).toBe("new\n");
    } finally {
      execFileSync("umount", [upper]);
    }
  });

  it("an UPPERDIR that is a file is refused as one (control: a new upper directory keeps the change)", async () => {
    const cwd = scratch();
    const lower = join(cwd, "lower");
    mkdirSync(lower);
    const keep = scratch();
    writeFileSync(join(keep, "upper"), "");
    expectRefused(await nsbox(["--overlay", `${lower}:${join(keep, "upper")}`, "--", "true"], { cwd }), `--overlay ${lower}:${join(keep, "upper")}`, `the upper directory ${join(keep, "upper")} is a regular file, not a directory`);
    expect(await nsbox(["--overlay", `${lower}:${join(keep, "changes")}`, "--", "sh", "-c", `echo new > ${lower}/n`], { cwd })).toMatchObject({ exitCode: 0 });
    expect(readFileSync(join(keep, "changes", "n"), "utf8")).toBe("new\n");
  });
});
