// Operations on running sandboxes: doctor, --name and the registry (ps, also after a crash), inspect against what the sandbox sees, exec with the same namespaces and restrictions, stop, and who may join.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NSBOX, type Ran, cleanedUp, eventually, collect, readableCheckout, background as startBackground } from "./helpers.ts";

const UID = process.getuid!();
const GID = process.getgid!();
const asRoot = UID === 0;

/** Directories this file made, removed at the end. */
const made = cleanedUp();
function tempDir(prefix: string, owner = UID): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(dir);
  if (owner !== UID) chownSync(dir, owner, owner);
  return dir;
}

/** A private runtime directory for this file's sandboxes: other test files' runs are not listed. */
function privateRuntime(owner = UID): string {
  const dir = tempDir("nsbox-run-");
  chmodSync(dir, 0o700);
  if (owner !== UID) chownSync(dir, owner, owner);
  return dir;
}
const RUNTIME = privateRuntime();
const ENV = { ...process.env, XDG_RUNTIME_DIR: RUNTIME };
const STATE = join(RUNTIME, "nsbox");

const started: Array<{ kill(sig?: number): void }> = [];
afterAll(() => {
  for (const p of started) {
    try {
      p.kill(9);
    } catch {}
  }
});

let counter = 0;
/** A name no other test uses. */
const uniqueName = (what: string) => `${what}-${process.pid}-${counter++}`;

/** Run nsbox to completion. */
function run(args: string[], opts: { env?: Record<string, string | undefined>; stdin?: string; cwd?: string; argv0?: string[] } = {}): Promise<Ran> {
  return collect([...(opts.argv0 ?? [process.execPath, NSBOX]), ...args], { cwd: opts.cwd ?? tempDir("nsbox-t-"), env: opts.env ?? ENV, stdin: opts.stdin });
}

/** A sandbox running in the background (stopped after the file's tests); `waitFor` throws, showing stderr, when the text never comes. */
function background(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; argv0?: string[] } = {}) {
  const b = startBackground([...(opts.argv0 ?? [process.execPath, NSBOX]), ...args], { cwd: opts.cwd ?? tempDir("nsbox-t-"), env: opts.env ?? ENV });
  started.push(b.proc);
  return {
    proc: b.proc,
    get out() {
      return b.out;
    },
    async waitFor(text: string): Promise<void> {
      if (!(await b.waitFor(text))) {
        b.proc.kill("SIGKILL");
        const r = await b.finish();
        throw new Error(`no '${text}' from the sandbox; stdout: ${r.stdout}; stderr: ${r.stderr}`);
      }
    },
    finish: (): Promise<Ran> => b.finish(),
  };
}

/** A named sandbox that prints `ready` and then waits (sleep) until stopped. */
async function sandbox(name: string, extra: string[] = [], script = "", opts: Parameters<typeof background>[1] = {}) {
  const s = background(["--name", name, ...extra, "--", "sh", "-c", `${script}${script ? "; " : ""}echo ready; exec sleep 1000`], opts);
  await s.waitFor("ready");
  return s;
}

async function ps(env = ENV): Promise<Array<{ name: string; pid: number; command: string[]; summary: string }>> {
  const r = await run(["ps", "--json"], { env });
  expect(r.stderr).toBe("");
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout);
}

/** nsbox's own failure: "nsbox: " lines only, no stack trace, the given exit status. */
function expectNsboxError(r: Ran, code: number, ...mentions: string[]): void {
  expect(r.exitCode).toBe(code);
  for (const line of r.stderr.trimEnd().split("\n")) expect(line.startsWith("nsbox: ")).toBe(true);
  expect(r.stderr).not.toMatch(/^\s*at /m);
  expect(r.stderr).not.toContain("internal error");
  for (const m of mentions) expect(r.stderr).toContain(m);
}

const NAMESPACES = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"];

test("each operation prints its usage for --help (exit 0) and names an unknown option (125)", async () => {
  for (const sub of ["doctor", "ps", "inspect", "stop", "exec"]) {
    const r = await run([sub, "--help"]);
    expect(r).toMatchObject({ exitCode: 0, stderr: "" });
    expect(r.stdout).toStartWith(`usage: nsbox ${sub}`);
    expectNsboxError(await run([sub, "--nope"]), 125, "unknown option --nope", `usage: nsbox ${sub}`);
  }
});

describe("nsbox doctor", () => {
  test("passes here: exit 0, ✓ for every requirement, the sandbox start timed", async () => {
    const r = await run(["doctor"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    for (const title of ["kernel", "Bun", "C executor", "unprivileged user namespaces", "seccomp", "a real sandbox"]) {
      expect(r.stdout).toMatch(new RegExp(`^✓ ${title}: `, "m"));
    }
    expect(r.stdout).toMatch(/^✓ a real sandbox: .* in \d+(\.\d+)? ms/m);
    expect(r.stdout).toMatch(/^. Landlock: /m);
    expect(r.stdout).toMatch(/^. cgroup v2 delegation/m);
    expect(r.stdout).toMatch(/^. subordinate id ranges/m);
    expect(r.stdout).not.toMatch(/^✗/m);
    expect(r.stdout).toContain("nsbox can work here.");
  });

  test("--json: ok, and every check with its status", async () => {
    const r = await run(["doctor", "--json"]);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    const byId = Object.fromEntries(report.checks.map((c: { id: string }) => [c.id, c]));
    for (const id of ["kernel", "bun", "executor", "userns", "seccomp", "sandbox"]) expect(byId[id].status).toBe("ok");
    expect(byId.landlock.detail).toMatch(/^ABI \d+/);
    expect(Object.keys(byId)).toEqual(expect.arrayContaining(["subuid", "overlay", "cgroup"]));
  });

  /** user.max_user_namespaces is per user namespace: under `unshare -Ur` we may set it to 0 for what nsbox creates. */
  async function withoutUserns(args: string[]): Promise<Ran> {
    const proc = Bun.spawn(["unshare", "-Ur", "sh", "-c", `echo 0 > /proc/sys/user/max_user_namespaces && exec "$BUN" "$NSBOX" ${args.join(" ")}`], {
      cwd: tempDir("nsbox-t-"),
      env: { ...ENV, BUN: process.execPath, NSBOX },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, exitCode };
  }

  test("without user namespaces: exit 1, ✗ with the reason and the sysctl that fixes it, no crash", async () => {
    const r = await withoutUserns(["doctor"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split("\n");
    const i = lines.findIndex((l) => l.startsWith("✗ unprivileged user namespaces: "));
    expect(i).toBeGreaterThan(0);
    expect(lines[i]).toContain("max_user_namespaces = 0");
    expect(lines[i + 1]).toContain("fix: ");
    expect(lines[i + 1]).toContain("sysctl -w user.max_user_namespaces=");
    expect(r.stdout).toMatch(/^✗ a real sandbox: /m);
    expect(r.stdout).toMatch(/^✓ kernel: /m);
    expect(r.stdout).toContain("nsbox can't work here");
  });

  test("without user namespaces, --json says so too", async () => {
    const r = await withoutUserns(["doctor", "--json"]);
    expect(r.exitCode).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    const userns = report.checks.find((c: { id: string }) => c.id === "userns");
    expect(userns).toMatchObject({ status: "fail", required: true });
    expect(userns.fix).toContain("sysctl -w user.max_user_namespaces=");
  });
});

describe("--name and nsbox ps", () => {
  test("ps names a sandbox whose nsbox is stopped (Ctrl-Z, SIGSTOP) instead of leaving it out silently; listed again once continued", async () => {
    const name = uniqueName("stopped");
    const s = await sandbox(name);
    s.proc.kill("SIGSTOP");
    try {
      const r = await run(["ps"]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).not.toContain(name);
      expect(r.stderr).toContain(`nsbox: sandbox ${name}: its nsbox (pid ${s.proc.pid}) is stopped, so it cannot prove the sandbox is its own; bring it back with fg (or kill -CONT ${s.proc.pid}), then try again`);
    } finally {
      s.proc.kill("SIGCONT");
    }
    expect((await ps()).map((x) => x.name)).toContain(name);
  });

  test("ps lists a running named sandbox (name, host pid of PID 1, command) and forgets it when it ends", async () => {
    const name = uniqueName("web");
    const s = await sandbox(name, ["--hostname", "web1"]);
    const entry = (await ps()).find((e) => e.name === name)!;
    expect(entry).toBeDefined();
    expect(entry.command).toEqual(["sh", "-c", "echo ready; exec sleep 1000"]);
    expect(entry.summary).toContain("--hostname web1");
    // The recorded pid is the sandbox's PID 1: a child of nsbox, whose own child runs sleep.
    const stat = readFileSync(`/proc/${entry.pid}/stat`, "utf8");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])).toBe(s.proc.pid);
    const text = await run(["ps"]);
    expect(text.stdout.split("\n")[0]).toMatch(/^NAME\s+PID\s+UP\s+COMMAND\s+OPTIONS$/);
    expect(text.stdout).toMatch(new RegExp(`^${name}\\s+${entry.pid}\\s+\\d+[smhd]\\s+sh -c 'echo ready; exec sleep 1000'\\s+--hostname web1$`, "m"));
    // Its state file is private.
    expect(lstatSync(STATE).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(STATE, `${name}.json`)).mode & 0o777).toBe(0o600);

    s.proc.kill("SIGTERM");
    expect((await s.finish()).exitCode).toBe(143);
    expect(existsSync(join(STATE, `${name}.json`))).toBe(false);
    expect((await ps()).some((e) => e.name === name)).toBe(false);
  });

  test("after kill -9 of nsbox, the sandbox is gone and ps cleans its stale entry", async () => {
    const name = uniqueName("crash");
    const s = await sandbox(name);
    const entry = (await ps()).find((e) => e.name === name)!;
    expect(entry).toBeDefined();
    s.proc.kill("SIGKILL");
    await s.proc.exited;
    expect(existsSync(join(STATE, `${name}.json`))).toBe(true); // nobody removed it…
    expect(await eventually(async () => !(await ps()).some((e) => e.name === name))).toBe(true);
    expect(existsSync(join(STATE, `${name}.json`))).toBe(false); // …until the listing did
  });

  test("an entry whose pid now belongs to another process (start time differs) is stale", async () => {
    const name = uniqueName("reused");
    const s = await sandbox(name);
    const file = join(STATE, `${name}.json`);
    const state = JSON.parse(readFileSync(file, "utf8"));
    s.proc.kill("SIGKILL");
    await s.proc.exited;
    // Forge the pid's reuse: a live process of ours with the recorded pid but another start time.
    writeFileSync(file, JSON.stringify({ ...state, pid: process.pid, pidStart: state.pidStart + 1 }));
    expect((await ps()).some((e) => e.name === name)).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  test("a second run with a running name is refused (125) and the first keeps running", async () => {
    const name = uniqueName("dup");
    const s = await sandbox(name);
    const r = await run(["--name", name, "--", "echo", "ran"]);
    expectNsboxError(r, 125, `--name ${name}`, "already running", `nsbox stop ${name}`);
    expect(r.stdout).toBe("");
    expect((await ps()).some((e) => e.name === name)).toBe(true);
    s.proc.kill("SIGTERM");
    await s.finish();
    // Once it has ended the name is free again.
    expect(await run(["--name", name, "--", "echo", "ran"])).toEqual({ stdout: "ran\n", stderr: "", exitCode: 0 });
  });

  test("without --name a sandbox gets a short generated name", async () => {
    const marker = `gen${process.pid}${counter++}`;
    const s = background(["--", "sh", "-c", `: ${marker}; echo ready; exec sleep 1000`]);
    await s.waitFor("ready");
    const entry = (await ps()).find((e) => e.command.join(" ").includes(marker))!;
    expect(entry.name).toMatch(/^[0-9a-f]{7}$/);
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("a bad name is refused before anything runs", async () => {
    expectNsboxError(await run(["--name", "../x", "--", "echo", "ran"]), 125, "--name ../x");
    expectNsboxError(await run(["--name", "", "--", "echo", "ran"]), 125, "--name");
  });

  test("the runtime directory falls back to /tmp/nsbox-UID (0700) and refuses a symlink", async () => {
    const env = { ...process.env, XDG_RUNTIME_DIR: undefined };
    const fallback = `/tmp/nsbox-${UID}`;
    const before = existsSync(fallback) ? lstatSync(fallback) : undefined;
    const r = await run(["ps"], { env });
    if (before && (before.uid !== UID || !before.isDirectory())) {
      // Someone else made it first (a user namespace where another uid appears as this one does that too): refused, clearly.
      expectNsboxError(r, 125, fallback, "remove it, or set XDG_RUNTIME_DIR");
    } else {
      expect(r.exitCode).toBe(0);
      const st = lstatSync(fallback);
      expect(st.isDirectory() && st.uid === UID && (st.mode & 0o777) === 0o700).toBe(true);
    }

    const base = privateRuntime();
    symlinkSync(tempDir("nsbox-t-"), join(base, "nsbox"));
    expectNsboxError(await run(["ps"], { env: { ...process.env, XDG_RUNTIME_DIR: base } }), 125, join(base, "nsbox"), "symlink");
  });

  // Making a directory owned by another user needs root; run by scripts/test as root in CI
  // (the same suite then runs as uid 1000, where this one cannot be staged).
  test.skipIf(!asRoot)("a runtime directory owned by another user is refused", async () => {
    const base = privateRuntime();
    mkdirSync(join(base, "nsbox"), 0o700);
    chownSync(join(base, "nsbox"), 1001, 1001);
    expectNsboxError(await run(["ps"], { env: { ...process.env, XDG_RUNTIME_DIR: base } }), 125, "belongs to uid 1001");
  });
});

describe("nsbox inspect", () => {
  test("each namespace's inode is what readlink /proc/self/ns/* prints inside; the host's beside it", async () => {
    const name = uniqueName("insp");
    const s = await sandbox(name, [], `for n in ${NAMESPACES.join(" ")}; do echo "$n $(readlink /proc/self/ns/$n)"; done`);
    const inside = Object.fromEntries(s.out.trim().split("\n").filter((l) => l !== "ready").map((l) => l.split(" ")));
    const r = await run(["inspect", name, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const info = JSON.parse(r.stdout);
    for (const ns of NAMESPACES) {
      expect(info.namespaces[ns].sandbox).toBe(inside[ns]);
      expect(inside[ns]).toBe(`${ns}:[${info.namespaces[ns].inode}]`);
      expect(info.namespaces[ns].host).toBe(readlinkSync(`/proc/self/ns/${ns}`));
      expect(info.namespaces[ns].shared).toBe(false);
    }
    expect(info.uidMap).toEqual([`0 ${UID} 1`]);
    expect(info.gidMap).toEqual([`0 ${GID} 1`]);
    expect(info.mounts.map((m: { mountPoint: string }) => m.mountPoint)).toEqual(expect.arrayContaining(["/", "/usr", "/proc", "/dev", "/tmp"]));
    expect(info.mounts.find((m: { mountPoint: string }) => m.mountPoint === "/").options).toMatch(/^ro,/);
    expect(info.privileges).toMatchObject({ CapEff: "0000000000000000", NoNewPrivs: "1", Seccomp: "2" });
    expect(info.limits.find((l: { name: string }) => l.name === "Max core file size")).toMatchObject({ soft: "0", hard: "0" });

    const text = await run(["inspect", name]);
    expect(text.exitCode).toBe(0);
    for (const ns of NAMESPACES) expect(text.stdout).toMatch(new RegExp(`^  ${ns}\\s+${info.namespaces[ns].inode}\\s+${info.namespaces[ns].hostInode}\\s+own$`, "m"));
    expect(text.stdout).toContain(`  uid  0 ${UID} 1`);
    expect(text.stdout).toMatch(/^mounts \(\/proc\/PID\/mountinfo\)$/m);
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("--uid/--gid show in the maps; --rlimit in the command's limits", async () => {
    const name = uniqueName("insp2");
    const s = await sandbox(name, ["--uid", "1000", "--gid", "1000", "--rlimit", "nofile=123"]);
    const info = JSON.parse((await run(["inspect", name, "--json"])).stdout);
    expect(info.uidMap).toEqual([`1000 ${UID} 1`]);
    expect(info.limits.find((l: { name: string }) => l.name === "Max open files")).toMatchObject({ soft: "123", hard: "123" });
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("a name that is not running: 125 and how to list them", async () => {
    expectNsboxError(await run(["inspect", "no-such-sandbox"]), 125, "no sandbox named no-such-sandbox is running", "nsbox ps");
  });
});

describe("nsbox exec", () => {
  test("sees the same host name, PID namespace, private /tmp and restrictions as the sandbox's command", async () => {
    const name = uniqueName("ex");
    const s = await sandbox(name, ["--hostname", "exhost"], `echo written-by-first > /tmp/note; echo "pidns $(readlink /proc/self/ns/pid)"`);
    const pidns = /pidns (\S+)/.exec(s.out)![1];
    const r = await run(["exec", name, "--", "sh", "-c", [
      "hostname",
      "cat /tmp/note",
      "readlink /proc/self/ns/pid",
      "test -d /proc/1 && echo pid1-visible",
      "echo \"self $$\"",
      "id -u",
      "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
      "touch /usr/nsbox-exec-probe 2>/dev/null && echo usr-writable || echo usr-refused",
      "echo from-exec > /tmp/reply",
    ].join("; ")]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 4)).toEqual(["exhost", "written-by-first", pidns!, "pid1-visible"]);
    expect(Number(/^self (\d+)$/m.exec(r.stdout)![1])).toBeLessThan(1000); // a pid of the sandbox's namespace
    expect(lines).toContain("0");
    expect(r.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(lines.at(-1)).toBe("usr-refused");
    // And what exec wrote, the first process sees.
    expect((await run(["exec", name, "--", "cat", "/tmp/reply"])).stdout).toBe("from-exec\n");
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("restrictions are rebuilt from the sandbox's own options: --cap-add, --rlimit, --seccomp none, --uid", async () => {
    const name = uniqueName("ex2");
    const s = await sandbox(name, ["--cap-add", "CAP_NET_RAW", "--rlimit", "nofile=77", "--uid", "1000", "--gid", "1000"]);
    const r = await run(["exec", name, "--", "sh", "-c", "grep -E '^CapEff:' /proc/self/status; ulimit -n; id -u; id -g"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`CapEff:\t${(1 << 13).toString(16).padStart(16, "0")}\n77\n1000\n1000\n`);
    s.proc.kill("SIGTERM");
    await s.finish();

    const name2 = uniqueName("ex3");
    // --net host: with its own network in transparent mode, the notify filter (plan/seccomp-notify.ts) is there whatever --seccomp says.
    const s2 = await sandbox(name2, ["--seccomp", "none", "--net", "host"]);
    expect((await run(["exec", name2, "--", "grep", "^Seccomp:", "/proc/self/status"])).stdout).toBe("Seccomp:\t0\n");
    s2.proc.kill("SIGTERM");
    await s2.finish();
  });

  test("exit status, stdin, a missing command, --chdir and --env", async () => {
    const name = uniqueName("ex4");
    const s = await sandbox(name);
    expect((await run(["exec", name, "--", "sh", "-c", "exit 7"])).exitCode).toBe(7);
    expect(await run(["exec", name, "--", "cat"], { stdin: "through\n" })).toEqual({ stdout: "through\n", stderr: "", exitCode: 0 });
    expectNsboxError(await run(["exec", name, "--", "no-such-command-xyz"]), 127, "no-such-command-xyz");
    expect((await run(["exec", "--chdir", "/usr", "--env", "GREETING=hi", name, "--", "sh", "-c", "pwd; echo $GREETING"])).stdout).toBe("/usr\nhi\n");
    // Without `--` the command starts after the name.
    expect((await run(["exec", name, "echo", "no-dashes"])).stdout).toBe("no-dashes\n");
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("the command dies with the sandbox: stopping it ends exec too (137)", async () => {
    const name = uniqueName("ex5");
    const s = await sandbox(name);
    const e = background(["exec", name, "--", "sh", "-c", "echo joined; exec sleep 1000"]);
    await e.waitFor("joined");
    s.proc.kill("SIGKILL"); // nsbox gone: PID 1 dies, and with it the whole PID namespace
    expect((await e.finish()).exitCode).toBe(137);
  });

  test("with a terminal: a pseudo-terminal of the sandbox's own devpts", async () => {
    const name = uniqueName("ex6");
    const s = await sandbox(name);
    let raw = "";
    const proc = Bun.spawn([process.execPath, NSBOX, "exec", name, "--", "sh", "-c", "tty; test -t 0 && test -t 1 && echo TERM-$((6*7))"], {
      cwd: tempDir("nsbox-t-"),
      env: { ...ENV, TERM: "xterm" },
      terminal: { cols: 80, rows: 24, data: (_t, bytes) => void (raw += new TextDecoder().decode(bytes)) },
    });
    expect(await proc.exited).toBe(0);
    await eventually(() => raw.includes("TERM-42"), 5000);
    const text = raw.replace(/\r/g, "");
    // The sandbox had no terminal before: this one is the first of its own devpts instance.
    expect(text).toContain("/dev/pts/0\n");
    expect(text).toContain("TERM-42");
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("a name that is not running: 125", async () => {
    expectNsboxError(await run(["exec", "no-such-sandbox", "--", "true"]), 125, "no sandbox named no-such-sandbox is running");
    expectNsboxError(await run(["exec"]), 125, "usage: nsbox exec");
  });
});

describe("nsbox stop", () => {
  test("SIGTERM reaches the command through PID 1; nsbox exits with the command's status; ps forgets it", async () => {
    const name = uniqueName("stop");
    const s = background(["--name", name, "--", "sh", "-c", "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done"]);
    await s.waitFor("ready");
    const r = await run(["stop", name]);
    expect(r).toEqual({ stdout: `${name}\n`, stderr: "", exitCode: 0 });
    const end = await s.finish();
    expect(end.stdout).toContain("got-term");
    expect(end.exitCode).toBe(3);
    expect((await ps()).some((e) => e.name === name)).toBe(false);
  });

  test("a command that ignores SIGTERM is killed after --time seconds", async () => {
    const name = uniqueName("stubborn");
    const s = background(["--name", name, "--", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"]);
    await s.waitFor("ready");
    const started = Date.now();
    const r = await run(["stop", "--time", "1", name]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${name}\n`);
    expect(r.stderr).toContain("killed");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await s.finish()).exitCode).toBe(137);
  });

  test("a name that is not running: 125; a bad --time: 125", async () => {
    expectNsboxError(await run(["stop", "no-such-sandbox"]), 125, "no sandbox named no-such-sandbox is running");
    expectNsboxError(await run(["stop", "--time", "soon", "x"]), 125, "--time");
  });
});

// Acting as two different users needs root (setpriv); scripts/test runs this as root in CI.
describe.skipIf(!asRoot)("only the owner can join (as root: uid 1000 and 1001 via setpriv)", () => {
  /** nsbox's code where uid 1000 and 1001 can read it, wherever the checkout lies. */
  let code: string | undefined;
  const codeRoot = () => (code ??= readableCheckout(made));
  /** The nsbox command line as another uid, with a HOME and runtime directory of its own. */
  function as(uid: number) {
    const home = tempDir(`nsbox-home-${uid}-`, uid);
    const runtime = privateRuntime(uid);
    const cwd = tempDir(`nsbox-cwd-${uid}-`, uid);
    const argv0 = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "env", "-i", `PATH=${process.env.PATH}`, `HOME=${home}`, `XDG_RUNTIME_DIR=${runtime}`, process.execPath, join(codeRoot(), "bin/nsbox")];
    return { argv0, runtime, cwd, env: ENV };
  }
  /** Hand one user's state file and socket to another, as a user tampering with their own runtime directory could. */
  /** Copies the owner's registry entry to another user's runtime dir, once it names the sandbox's
   * pid: "ready" comes from the payload, which can print it before nsbox records the pid. */
  async function handOver(name: string, from: string, to: { runtime: string }, uid: number) {
    const state = join(from, `${name}.json`);
    expect(await eventually(() => JSON.parse(readFileSync(state, "utf8")).pid !== null)).toBe(true);
    mkdirSync(join(to.runtime, "nsbox"), { mode: 0o700, recursive: true });
    chownSync(join(to.runtime, "nsbox"), uid, uid);
    copyFileSync(join(from, `${name}.json`), join(to.runtime, "nsbox", `${name}.json`));
    chownSync(join(to.runtime, "nsbox", `${name}.json`), uid, uid);
    linkSync(join(from, `${name}.sock`), join(to.runtime, "nsbox", `${name}.sock`));
  }

  test("uid 1001 cannot join, inspect or stop uid 1000's sandbox", async () => {
    const owner = as(1000);
    const other = as(1001);
    const name = uniqueName("owned");
    const s = await sandbox(name, [], "echo secret > /tmp/secret", { argv0: owner.argv0, cwd: owner.cwd });
    // uid 1000 itself can.
    expect((await run(["exec", name, "--", "cat", "/tmp/secret"], { argv0: owner.argv0, cwd: owner.cwd })).stdout).toBe("secret\n");
    // uid 1001 does not even see it: the registry is per user.
    expectNsboxError(await run(["exec", name, "--", "cat", "/tmp/secret"], { argv0: other.argv0, cwd: other.cwd }), 125, "no sandbox named");
    // Given the state file, it is still refused, by name and owner.
    await handOver(name, join(owner.runtime, "nsbox"), other, 1001);
    for (const args of [["exec", name, "--", "cat", "/tmp/secret"], ["inspect", name], ["stop", name]]) {
      const r = await run(args, { argv0: other.argv0, cwd: other.cwd });
      expectNsboxError(r, 125, `sandbox ${name}`, "belongs to uid 1000", "only its owner");
      expect(r.stdout).toBe("");
    }
    expect((await run(["exec", name, "--", "true"], { argv0: owner.argv0, cwd: owner.cwd })).exitCode).toBe(0); // still running
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("behind that check the kernel refuses too: the join plan itself, run as uid 1001, fails at the user namespace", async () => {
    const owner = as(1000);
    const other = as(1001);
    const name = uniqueName("kernel");
    const s = await sandbox(name, [], "echo secret > /tmp/secret", { argv0: owner.argv0, cwd: owner.cwd });
    await handOver(name, join(owner.runtime, "nsbox"), other, 1001);
    const script = `
      import { readFileSync } from "node:fs";
      import { buildJoinPlan } from ${JSON.stringify(join(codeRoot(), "src/plan/join.ts"))};
      import { supervise } from ${JSON.stringify(join(codeRoot(), "src/supervise.ts"))};
      import { readHost } from ${JSON.stringify(join(codeRoot(), "src/host.ts"))};
      const state = JSON.parse(readFileSync(process.env.XDG_RUNTIME_DIR + "/nsbox/${name}.json", "utf8"));
      const o = await supervise(buildJoinPlan(state, ["cat", "/tmp/secret"], readHost(), { terminal: null }));
      console.log(o.exitCode, o.error?.code, o.error?.message);
    `;
    const r = await run(["-e", script], { argv0: [...other.argv0.slice(0, -1)], cwd: other.cwd });
    expect(r.stdout).toMatch(new RegExp(`^125 KERNEL_REFUSED can't join sandbox ${name}'s user namespace: (permission denied \\(EACCES\\)|operation not permitted \\(EPERM\\))$`, "m"));
    expect(r.stdout).not.toContain("secret");
    s.proc.kill("SIGTERM");
    await s.finish();
  });

  test("uid 1000 cannot join root's sandbox", async () => {
    const user = as(1000);
    const name = uniqueName("rootbox");
    const s = await sandbox(name, [], "echo secret > /tmp/secret");
    await handOver(name, STATE, user, 1000);
    const r = await run(["exec", name, "--", "cat", "/tmp/secret"], { argv0: user.argv0, cwd: user.cwd });
    expectNsboxError(r, 125, "belongs to uid 0");
    expect(r.stdout).toBe("");
    s.proc.kill("SIGTERM");
    await s.finish();
  });
});

