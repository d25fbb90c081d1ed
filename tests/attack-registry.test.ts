// Attacks on named sandboxes' registry (socket, server, clients) and on the terminal relay (issue 11, items 5 and 6), each beside its control.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NSBOX, ROOT, type Ran, background, cleanedUp, collect, marker, scratchIn } from "./helpers.ts";

const TIMEOUT = 180_000; // generous: a loaded machine; nothing here asserts a duration
const made = cleanedUp();
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const NSBOX_SH = `${shq(process.execPath)} ${shq(NSBOX)}`;
const PYTHON = "/usr/bin/python3"; // the same path on the host and inside (the root is shared read-only)

function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(dir);
  return dir;
}
const RUNTIME = tempDir("nsbox-run-");
chmodSync(RUNTIME, 0o700);
const STATE = join(RUNTIME, "nsbox");
const ENV = { ...process.env, XDG_RUNTIME_DIR: RUNTIME };

const started: Array<{ kill(sig?: number): void }> = [];
afterAll(() => {
  for (const p of started) {
    try {
      p.kill(9);
    } catch {}
  }
});
let counter = 0;
const uniqueName = (what: string) => `${what}-${process.pid}-${counter++}`;
const run = (args: string[], env = ENV): Promise<Ran> => collect([process.execPath, NSBOX, ...args], { cwd: tempDir("nsbox-t-"), env });

/** `nsbox ARGS -- sh -c SCRIPT` in the background, once it has printed `ready`. */
async function sandbox(args: string[], script: string, env = ENV) {
  const b = background([process.execPath, NSBOX, ...args, "--", "sh", "-c", script], { cwd: tempDir("nsbox-t-"), env });
  started.push(b.proc);
  if (!(await b.waitFor("ready", 60_000))) {
    b.proc.kill("SIGKILL");
    const r = await b.finish();
    throw new Error(`sandbox did not start: ${r.stdout} ${r.stderr}`);
  }
  return b;
}
const named = (name: string) => sandbox(["--name", name], `echo ready; exec sleep ${marker()}`);
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

describe("the registry's clients and server under attack", () => {
  test(
    "a socket whose listener never accepts (a payload given the runtime directory with --rw): ps still lists, stop refuses it; neither hangs",
    async () => {
      const real = uniqueName("real");
      const s = await named(real);
      // The payload binds a socket among the entries and fills its backlog: connect(2) to it would wait forever.
      const squat = `import socket, sys, time
p = sys.argv[1]; s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(0); held = []
for i in range(3):
    c = socket.socket(socket.AF_UNIX); c.setblocking(False)
    try: c.connect(p)
    except BlockingIOError: pass
    held.append(c)
print("ready", flush=True); time.sleep(600)`;
      const name = uniqueName("squat");
      const attacker = await sandbox(["--rw", STATE], `exec ${PYTHON} -c ${shq(squat)} ${STATE}/${name}.sock`);
      const first = await Promise.race([run(["ps", "--json"]).then((r) => ({ who: "ps", r })), attacker.finish().then(() => ({ who: "attacker", r: undefined }))]);
      expect(first.who).toBe("ps");
      expect(first.r!.exitCode).toBe(0);
      expect((JSON.parse(first.r!.stdout) as Array<{ name: string }>).map((e) => e.name)).toContain(real);
      const stop = await run(["stop", "--time", "0", name]);
      expect(stop.exitCode).toBe(125);
      expect(stop.stderr).toContain(`can't connect to ${STATE}/${name}.sock`);
      // Control: the same command stops the real sandbox.
      expect((await run(["stop", "--time", "0", real])).exitCode).toBe(0);
      expect((await s.finish()).exitCode).toBe(137);
      attacker.proc.kill("SIGKILL");
    },
    TIMEOUT,
  );

  test(
    "clients of the user that never speak, send garbage, send a gigabyte, send descriptors, or hold 200 connections: the server keeps nothing and answers the next one",
    async () => {
      const name = uniqueName("served");
      const s = await named(name);
      const server = s.proc.pid; // bin/nsbox runs as this very process
      expect((await run(["inspect", "--json", name])).exitCode).toBe(0); // Bun opens a few of its own lazily: counted before
      const before = fdCount(server);
      const client = `import os, socket, sys
p = sys.argv[1]; held = []; sent = 0
for i in range(200):
    c = socket.socket(socket.AF_UNIX); c.connect(p); held.append(c)
g = socket.socket(socket.AF_UNIX); g.connect(p)
try: g.sendall(os.urandom(65536))
except OSError: pass
big = socket.socket(socket.AF_UNIX); big.connect(p); chunk = b"x" * (1 << 20)
try:
    while sent < (1 << 30): sent += big.send(chunk)
except OSError: pass
f = socket.socket(socket.AF_UNIX); f.connect(p); fds = [os.open("/dev/null", os.O_RDONLY) for i in range(100)]
try: socket.send_fds(f, [b"fds"], fds)
except OSError: pass
print("sent", sent, "answered", sum(1 for c in held if c.recv(1 << 20)), flush=True)`;
      const attack = await collect([PYTHON, "-c", client, join(STATE, `${name}.sock`)]);
      expect(attack.stderr).toBe("");
      // Control: the held connections were real ones, each answered by the server.
      expect(attack.stdout).toMatch(/^sent \d+ answered 200\n$/);
      expect(Number(/sent (\d+)/.exec(attack.stdout)![1])).toBeLessThan(1 << 30); // cut off: the server closed its side
      const inspect = await run(["inspect", "--json", name]);
      expect(inspect.exitCode).toBe(0);
      // 200 held connections and 100 descriptors sent: none of them is kept (a few of Bun's own may come and go).
      expect(fdCount(server)).toBeLessThan(before + 10);
      expect((await run(["stop", "--time", "0", name])).exitCode).toBe(0);
      expect((await s.finish()).exitCode).toBe(137);
    },
    TIMEOUT,
  );

  test(
    "a payload given the runtime directory floods a sandbox's socket with connections: they get nothing, the user's inspect and stop are answered",
    async () => {
      const name = uniqueName("flooded");
      const s = await named(name);
      const flood = `import os, socket, sys, time
p = sys.argv[1]; end = time.time() + 20; n = 0; answered = 0; kids = 0
for k in range(3):
    if os.fork() == 0: kids = -1; break
    kids += 1
print("ready", flush=True)
while time.time() < end:
    try:
        c = socket.socket(socket.AF_UNIX); c.connect(p); answered += len(c.recv(65536)); c.close(); n += 1
    except OSError: pass
os.write(1, b"connections %d answered %d\\n" % (n, answered))  # one write: the four lines do not interleave
for k in range(max(kids, 0)): os.wait()`;
      // In proxy mode the payload's own connect(2) reaches the socket (transparent mode refuses a host
      // process's socket, and with --allow-socket nsbox makes the connect, as itself): the server
      // must hold against the payload's own connections.
      const attacker = await sandbox(["--rw", STATE], `exec ${PYTHON} -c ${shq(flood)} ${STATE}/${name}.sock`, { ...ENV, NSBOX_NET_MODE: "proxy" });
      const inspect = await run(["inspect", "--json", name]);
      expect(inspect.exitCode).toBe(0);
      expect(JSON.parse(inspect.stdout).name).toBe(name);
      expect((await run(["stop", "--time", "0", name])).exitCode).toBe(0);
      expect((await s.finish()).exitCode).toBe(137);
      const r = await attacker.finish();
      const counts = [...r.stdout.matchAll(/connections (\d+) answered (\d+)/g)];
      expect(counts.length).toBe(4);
      // Control: the flood reached the socket (it was given with --rw); the server answered none of it.
      expect(counts.reduce((n, m) => n + Number(m[1]), 0)).toBeGreaterThan(0);
      expect(counts.every((m) => m[2] === "0")).toBe(true);
    },
    TIMEOUT,
  );
});

describe("a large state", () => {
  test(
    "a command of 12 arguments of 100 KB of control characters (its state 7 MB as JSON): ps lists it and stop stops it, as a short one (control)",
    async () => {
      const big = uniqueName("big");
      const arg = "\x01".repeat(100_000);
      const b = background([process.execPath, NSBOX, "--name", big, "--", "sh", "-c", `echo ready; exec sleep ${marker()}`, ...Array(12).fill(arg)], { cwd: tempDir("nsbox-t-"), env: ENV });
      started.push(b.proc);
      expect(await b.waitFor("ready", 60_000)).toBe(true);
      const short = uniqueName("short");
      const s = await named(short);
      const ps = await run(["ps", "--json"]);
      expect(ps.exitCode).toBe(0);
      const listed = JSON.parse(ps.stdout) as Array<{ name: string; command: string[] }>;
      expect(listed.find((e) => e.name === short)).toBeDefined();
      expect(listed.find((e) => e.name === big)?.command.slice(3)).toEqual(Array(12).fill(arg));
      expect((await run(["stop", "--time", "0", big, short])).exitCode).toBe(0);
      expect((await b.finish()).exitCode).toBe(137);
      expect((await s.finish()).exitCode).toBe(137);
    },
    TIMEOUT,
  );
});

describe("what inspect and ps print", () => {
  test(
    "a payload renames a directory above a mount point to a terminal escape (OSC 0, OSC 52): inspect and ps print it escaped; control: --json carries the raw name",
    async () => {
      const project = tempDir("nsbox-t-");
      mkdirSync(join(project, "lib", "x"), { recursive: true });
      const name = uniqueName("escape");
      const evil = "x\x1b]0;PWNED\x07\x1b]52;c;ZWNobyBwd25lZA==\x07y";
      // A tmpfs: the parents of --ro and --hide targets in a share are pinned (cannot be renamed).
      const b = background([process.execPath, NSBOX, "--name", name, "--tmpfs", "./lib/x", "--", "sh", "-c", `mv lib "$(printf 'x\\033]0;PWNED\\007\\033]52;c;ZWNobyBwd25lZA==\\007y')" && echo ready; exec sleep ${marker()}`], { cwd: project, env: ENV });
      started.push(b.proc);
      expect(await b.waitFor("ready", 60_000)).toBe(true);
      const json = await run(["inspect", "--json", name]);
      expect((JSON.parse(json.stdout).mounts as Array<{ mountPoint: string }>).map((m) => m.mountPoint)).toContain(`${project}/${evil}/x`);
      for (const args of [["inspect", name], ["ps"]]) {
        const r = await run(args);
        expect(r.exitCode).toBe(0);
        expect(r.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      }
      expect((await run(["inspect", name])).stdout).toContain(`${project}/x\\u001b]0;PWNED\\u0007\\u001b]52;c;ZWNobyBwd25lZA==\\u0007y/x`);
      expect((await run(["stop", "--time", "0", name])).exitCode).toBe(0);
      await b.finish();
    },
    TIMEOUT,
  );
});

describe("the registry is not reachable from inside", () => {
  const probe = (dir: string) => `ls -a ${dir} 2>&1 | grep -c '\\.sock$' | sed 's/^/SOCKETS:/'; echo ready`;

  test(
    "default, -p test, --rw of /tmp and of the runtime directory's parent: no socket inside; control: --rw of the runtime directory itself shows them",
    async () => {
      const s = await named(uniqueName("seen"));
      const variants: Array<[string[], string]> = [[[], "0"], [["-p", "test"], "0"], [["--rw", tmpdir()], "0"], [["--rw", RUNTIME], "0"], [["--rw", STATE], "many"]];
      for (const [args, expected] of variants) {
        const r = await run([...args, "--", "sh", "-c", probe(STATE)]);
        const n = /SOCKETS:(\d+)/.exec(r.stdout)?.[1];
        expect({ args, n: n === undefined ? r.stderr : Number(n) > 0 ? "many" : "0" }).toEqual({ args, n: expected });
      }
      s.proc.kill("SIGTERM");
      await s.finish();
    },
    TIMEOUT,
  );

  test(
    "a runtime directory made after the sandbox started (its parent shared): still hidden; control: the same payload given it by name sees the new sandbox",
    async () => {
      const fresh = tempDir("nsbox-run-");
      chmodSync(fresh, 0o700);
      const env = { ...process.env, XDG_RUNTIME_DIR: fresh };
      const loop = (dir: string) => `echo ready; for i in $(seq 600); do ls ${dir} 2>/dev/null | grep -q 'later.*\\.sock$' && { echo SEEN; exit 0; }; sleep 0.1; done; echo NOT-SEEN`;
      const hidden = await sandbox(["--rw", fresh], loop(join(fresh, "nsbox")), env);
      const later = await sandbox(["--name", uniqueName("later")], `echo ready; exec sleep ${marker()}`, env);
      const shown = await sandbox(["--rw", join(fresh, "nsbox")], loop(join(fresh, "nsbox")), env);
      expect((await shown.finish()).stdout).toContain("SEEN");
      later.proc.kill("SIGTERM");
      await later.finish();
      hidden.proc.kill("SIGTERM");
      expect((await hidden.finish()).stdout).not.toContain("SEEN");
    },
    TIMEOUT,
  );
});

function parentOf(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}
function descendants(root: number): number[] {
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map((n) => ({ pid: +n, ppid: parentOf(+n) }));
  const out: number[] = [];
  const walk = (pid: number) => all.filter((p) => p.ppid === pid).forEach((p) => (out.push(p.pid), walk(p.pid)));
  walk(root);
  return out;
}

/*
 * /run/user/UID: the runtime directory of the user's sessions that have $XDG_RUNTIME_DIR. Made
 * for the test when this user can (root), removed after; the test is skipped where neither.
 */
const RUN_USER = `/run/user/${process.getuid!()}`;
const runUserMade = (() => {
  if (existsSync(RUN_USER)) return [] as string[];
  const made: string[] = [];
  try {
    if (!existsSync("/run/user")) mkdirSync("/run/user", 0o755), made.push("/run/user");
    mkdirSync(RUN_USER, 0o700);
    made.push(RUN_USER);
  } catch {}
  return made;
})();
afterAll(() => {
  for (const dir of runUserMade.reverse()) rmSync(dir, { recursive: true, force: true });
});

describe("a run without $XDG_RUNTIME_DIR beside sandboxes of a session with it", () => {
  // Needs /run/user/UID owned by the running user: made above when run as root (CI's first
  // pass); uid 1000 cannot create it on these machines, so that pass skips it.
  test.skipIf(!existsSync(RUN_USER) || statSync(RUN_USER).uid !== process.getuid!())(
    "--rw /run/user/UID from a session without $XDG_RUNTIME_DIR: the other session's registry is hidden; control: --rw of the registry itself shows its socket",
    async () => {
      const session = { ...process.env, XDG_RUNTIME_DIR: RUN_USER };
      const bare = { ...process.env, XDG_RUNTIME_DIR: undefined };
      const name = uniqueName("desktop");
      const s = await sandbox(["--name", name], `echo ready; exec sleep ${marker()}`, session);
      const look = `ls ${RUN_USER}/nsbox 2>&1 | grep -c '\\.sock$' | sed 's/^/SOCKETS:/'`;
      const hidden = await run(["--no-cwd", "--rw", RUN_USER, "--", "sh", "-c", look], bare);
      expect(hidden.stdout).toBe("SOCKETS:0\n");
      const shown = await run(["--no-cwd", "--rw", `${RUN_USER}/nsbox`, "--", "sh", "-c", look], bare);
      expect(shown.stdout).not.toBe("SOCKETS:0\n");
      expect(shown.stdout).toMatch(/^SOCKETS:\d+\n$/);
      expect((await run(["stop", "--time", "0", name], session)).exitCode).toBe(0);
      await s.finish();
    },
    TIMEOUT,
  );
});

/** A shell on a fresh pseudo-terminal (the user's terminal), with everything it printed. */
class Terminal {
  raw = "";
  readonly dir = scratchIn(made);
  readonly proc: ReturnType<typeof Bun.spawn>;
  constructor(script: string) {
    const decoder = new TextDecoder();
    this.proc = Bun.spawn(["bash", "--norc", "--noprofile", "-c", script], {
      cwd: this.dir,
      env: { ...process.env, TERM: "xterm" },
      terminal: { cols: 80, rows: 24, data: (_t, bytes) => void (this.raw += decoder.decode(bytes, { stream: true })) },
    });
    open.push(this);
  }
  get lines(): string[] {
    return this.raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "").split("\n");
  }
  type(s: string): void {
    this.proc.terminal!.write(s);
  }
  async waitLine(line: string | RegExp, ms = 60_000): Promise<void> {
    const match = (l: string) => (typeof line === "string" ? l === line : line.test(l));
    const end = Date.now() + ms;
    while (!this.lines.some(match)) {
      if (Date.now() > end) throw new Error(`timed out waiting for a line ${line}; terminal so far:\n${this.lines.join("\n")}`);
      await Bun.sleep(25);
    }
  }
  async close(): Promise<void> {
    for (const pid of descendants(this.proc.pid).reverse()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    this.proc.kill("SIGKILL");
    await this.proc.exited;
    if (!this.proc.terminal!.closed) this.proc.terminal!.close();
  }
}
const open: Terminal[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

/** Read a line through redirection `from` (`< /dev/tty`, `<&3`), report it on stderr. */
const steal = (from: string) => `echo WAITING-$((6*7)) >&2; read -t 8 -r x ${from}; echo "STOLE:[$x]" >&2`;

describe("the user's terminal", () => {
  for (const withNsbox of [true, false]) {
    test(
      `exec 3</dev/tty (and 4<>, 9<) in the user's shell before the run: ${withNsbox ? "none reaches the payload" : "control, without nsbox: the command reads the user's line through fd 3"}`,
      async () => {
        const payload = `for fd in 3 4 9; do [ -e /proc/self/fd/$fd ] && [ -t $fd ] && echo "TTY-ON-$fd" >&2; done; ${steal("<&3")}`;
        const cmd = withNsbox ? `${NSBOX_SH} -- bash -c ${shq(payload)}` : `bash -c ${shq(payload)}`;
        const t = new Terminal(`exec 3</dev/tty 4<>/dev/tty 9</dev/tty; ${cmd} < /dev/null; read -r y; echo "SHELL-GOT:[$y]"`);
        await t.waitLine("WAITING-42");
        t.type("secret-line\r");
        await t.waitLine(/^STOLE:/);
        if (withNsbox) {
          await t.waitLine(/^SHELL-GOT:/);
          expect(t.lines.filter((l) => l.startsWith("TTY-ON-"))).toEqual([]);
          expect(t.lines).toContain("STOLE:[]");
          expect(t.lines).toContain("SHELL-GOT:[secret-line]");
        } else {
          expect(t.lines).toContain("TTY-ON-3");
          expect(t.lines).toContain("STOLE:[secret-line]");
        }
      },
      TIMEOUT,
    );

    test(
      `no stdio a terminal (< /dev/null > out 2>&1), in the foreground: ${withNsbox ? "/dev/tty cannot be opened inside, even after setsid (no controlling terminal to take)" : "control, without nsbox: the command opens /dev/tty and reads the user's line"}`,
      async () => {
        // The payload reports on fd 3, a file: none of its stdio is the terminal.
        const payload = `exec 3>report; { ${steal("< /dev/tty")}; } 2>&3; ${PYTHON} -c 'import os; os.setsid(); os.open("/dev/tty", os.O_RDWR)' 2>/dev/null && echo SETSID-TTY >&3; echo DONE >&3`;
        const cmd = withNsbox ? `${NSBOX_SH} -- bash -c ${shq(payload)}` : `bash -c ${shq(payload)}`;
        const t = new Terminal(`${cmd} < /dev/null > out 2>&1; echo RAN-$((6*7)); read -r y; echo "SHELL-GOT:[$y]"`);
        const report = () => (existsSync(`${t.dir}/report`) ? readFileSync(`${t.dir}/report`, "utf8") : "");
        if (withNsbox) {
          await t.waitLine("RAN-42");
          t.type("secret-line\r");
          await t.waitLine(/^SHELL-GOT:/);
          expect(t.lines).toContain("SHELL-GOT:[secret-line]");
          expect(report()).toContain("STOLE:[]");
          expect(report()).not.toContain("SETSID-TTY");
          expect(report()).toContain("DONE");
        } else {
          const end = Date.now() + 60_000;
          while (!report().includes("WAITING-42") && Date.now() < end) await Bun.sleep(25);
          t.type("secret-line\r");
          await t.waitLine("RAN-42");
          expect(report()).toContain("STOLE:[secret-line]");
        }
      },
      TIMEOUT,
    );

    test(
      `stdin given as < /dev/tty, stdout and stderr a file (2>&1), nsbox in the background: ${withNsbox ? "nsbox does not read it, the payload reads nothing, the shell gets the line" : "control, a command in a session of its own with that descriptor (what the payload would be): it reads the user's line"}`,
      async () => {
        // The control's shell does not read: it would race the command for the line.
        const cmd = withNsbox ? `${NSBOX_SH} -- bash -c ${shq(steal("<&0"))}` : `setsid bash -c ${shq(steal("<&0"))}`;
        const then = withNsbox ? `read -r y; echo "SHELL-GOT:[$y]"; sleep 10; kill -9 %1` : "sleep 10";
        const t = new Terminal(`set -m; ${cmd} < /dev/tty > out 2>&1 & until grep -q WAITING out 2>/dev/null; do sleep 0.1; done; echo STARTED-$((6*7)); ${then}`);
        await t.waitLine("STARTED-42");
        t.type("secret-line\r");
        if (withNsbox) {
          await t.waitLine(/^SHELL-GOT:/);
          expect(t.lines).toContain("SHELL-GOT:[secret-line]");
          expect(readFileSync(`${t.dir}/out`, "utf8")).not.toContain("STOLE:[secret");
        } else {
          const end = Date.now() + 60_000;
          while (!readFileSync(`${t.dir}/out`, "utf8").includes("STOLE:") && Date.now() < end) await Bun.sleep(25);
          expect(readFileSync(`${t.dir}/out`, "utf8")).toContain("STOLE:[secret-line]");
        }
      },
      TIMEOUT,
    );
  }

  test(
    "only stdin a terminal (> out 2>&1): what the payload's pty shows (the echo of typed keys, /dev/tty prompts) goes to the terminal, not into the user's file; control: the payload's stdout does",
    async () => {
      const payload = `echo "Password for tty-prompt:" > /dev/tty; read -r x; echo "STDOUT-GOT:[$x]"`;
      const t = new Terminal(`${NSBOX_SH} -- bash -c ${shq(payload)} > out 2>&1; echo "RC:[$?]"`);
      await t.waitLine("Password for tty-prompt:");
      t.type("typed-line\r");
      await t.waitLine(/^RC:/);
      expect(t.lines).toContain("RC:[0]");
      expect(t.lines).toContain("typed-line");
      expect(readFileSync(`${t.dir}/out`, "utf8")).toBe("STDOUT-GOT:[typed-line]\n");
    },
    TIMEOUT,
  );

  for (const withNsbox of [true, false]) {
    test(
      `the library, stdin: Bun.file("/dev/tty"): ${withNsbox ? "refused before anything runs (the terminal by name is the caller's as much as fd 0)" : "control, Bun.spawn with the same stdin: the command reads the user's line"}`,
      async () => {
        const script = withNsbox
          ? `import { spawn } from ${JSON.stringify(`${ROOT}/src/index.ts`)};
             try { const p = spawn(["bash", "-c", ${JSON.stringify(steal("<&0"))}], { stdin: Bun.file("/dev/tty"), stderr: Bun.file("err") }); await p.exited; console.log("RAN"); }
             catch (e) { console.log("REFUSED:[" + e.message + "]"); }`
          : `const p = Bun.spawn(["bash", "-c", ${JSON.stringify(steal("<&0"))}], { stdin: Bun.file("/dev/tty"), stderr: Bun.file("err") }); await p.exited; console.log("RAN");`;
        const t = new Terminal(`${shq(process.execPath)} -e ${shq(script)} < /dev/null; echo DONE-$((6*7))`);
        if (withNsbox) {
          await t.waitLine("DONE-42");
          expect(t.lines.find((l) => l.startsWith("REFUSED:"))).toContain("stdin /dev/tty: a terminal");
          expect(existsSync(`${t.dir}/err`)).toBe(false);
        } else {
          const end = Date.now() + 60_000;
          while (!(existsSync(`${t.dir}/err`) && readFileSync(`${t.dir}/err`, "utf8").includes("WAITING")) && Date.now() < end) await Bun.sleep(25);
          t.type("secret-line\r");
          await t.waitLine("DONE-42");
          expect(readFileSync(`${t.dir}/err`, "utf8")).toContain("STOLE:[secret-line]");
        }
      },
      TIMEOUT,
    );
  }
});
