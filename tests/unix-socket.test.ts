// Unix sockets in transparent mode: a path socket that a HOST process made is refused from inside
// (it is a host service: an agent, tmux, Docker), unless the user names it with --allow-socket,
// and nsbox never connects to it to decide (the host servers count what they accept); one the
// sandbox made itself works as before, on the payload's own socket. Real sandboxes, real host servers.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collect, eventually, nsbox, projectWithSecret, scratchIn, type Ran } from "./helpers.ts";
import { netMode } from "../src/net/mode.ts";
import { run } from "../src/index.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
const servers: Bun.Subprocess[] = [];
afterAll(() => {
  for (const s of servers) s.kill();
  for (const p of made) Bun.spawnSync(["rm", "-rf", p]);
});

// Not python3 from PATH: as uid 1000, root's pyenv shims on PATH cannot be run.
const PY = "/usr/bin/python3";

/** Connects (stream) or sends one datagram ("dgram") to argv[1]; prints reply:WORD, sent, or error:ERRNO. */
const CLIENT = `import socket,sys,errno
dgram = len(sys.argv) > 2 and sys.argv[2] == "dgram"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if dgram else socket.SOCK_STREAM)
try:
    if dgram:
        s.sendto(b"DGRAM\\n", sys.argv[1]); print("sent")
    else:
        s.connect(sys.argv[1]); print("reply:" + s.recv(100).decode().strip())
except OSError as e:
    print("error:" + errno.errorcode.get(e.errno, str(e.errno)))
`;
/** A stream server on argv[1] (a path, or @name for an abstract one) answering argv[2] to every client; prints "ready", then "accepted" for each. */
const SERVER = `import socket,sys
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind("\\0" + p[1:] if p.startswith("@") else p); s.listen(); print("ready", flush=True)
while True:
    c, _ = s.accept()
    print("accepted", flush=True)
    try: c.send(sys.argv[2].encode() + b"\\n")
    except OSError: pass
    c.close()
`;
/** A datagram server on argv[1]: prints "ready", then each datagram. */
const DGRAM_SERVER = `import socket,sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print("ready", flush=True)
while True: print(s.recv(100).decode().strip(), flush=True)
`;
/** Server and client in one sandbox: listens on argv[1] (path or @abstract), a child answers INSIDE, the parent connects. */
const BOTH = `import socket,sys,os,errno
p = sys.argv[1]
name = "\\0" + p[1:] if p.startswith("@") else p
srv = socket.socket(socket.AF_UNIX); srv.bind(name); srv.listen()
if os.fork() == 0:
    c, _ = srv.accept(); c.send(b"INSIDE\\n"); os._exit(0)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(name); print("reply:" + s.recv(100).decode().strip())
except OSError as e:
    print("error:" + errno.errorcode.get(e.errno, str(e.errno)))
`;

/** A project directory (shared read-write) with the scripts, and run/ for sockets (nsbox does not share a directory that holds one itself). */
function project(dir = scratchIn(made)): string {
  mkdirSync(join(dir, "run"), { recursive: true });
  writeFileSync(join(dir, "client.py"), CLIENT);
  writeFileSync(join(dir, "both.py"), BOTH);
  return dir;
}

/** Start a host server (stream or datagram) on `path`; resolves once it listens. `accepted()`: the connections it took (stream). */
async function hostServer(path: string, word = "HOST", kind: "stream" | "dgram" = "stream"): Promise<{ out: () => string; accepted: () => number }> {
  const script = join(scratchIn(made), "server.py");
  writeFileSync(script, kind === "stream" ? SERVER : DGRAM_SERVER);
  const proc = Bun.spawn([PY, script, path, word], { stdout: "pipe", stderr: "inherit" });
  servers.push(proc);
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("ready")) {
    const r = await reader.read();
    if (r.done) throw new Error(`the host server on ${path} did not start`);
    out += new TextDecoder().decode(r.value);
  }
  (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      out += new TextDecoder().decode(r.value);
    }
  })();
  return { out: () => out, accepted: () => out.match(/^accepted$/gm)?.length ?? 0 };
}

const client = (cwd: string, args: string[], target: string, extra: string[] = []) => nsbox([...args, "--", PY, "client.py", target, ...extra], { cwd });
const lines = (r: Ran) => r.stderr.trim().split("\n").filter(Boolean);

// Transparent mode needs seccomp user notification with ADDFD (5.14) and no Yama above 1: where
// the kernel lacks it, nsbox falls back to the proxy, which has no Unix-socket policy to test.
const transparent = netMode().mode === "transparent";

describe.skipIf(!transparent)("a Unix socket in the project made by a host process", () => {
  it("is refused from inside with --net none, and the refusal names --allow-socket; the host server sees no connection at all (control: reached and counted without nsbox)", async () => {
    const dir = project();
    const server = await hostServer(join(dir, "run/host.sock"));
    expect((await collect([PY, "client.py", "run/host.sock"], { cwd: dir })).stdout).toBe("reply:HOST\n");
    expect(await eventually(async () => server.accepted() === 1)).toBe(true);
    const r = await client(dir, ["--net", "none"], "run/host.sock");
    expect(r).toMatchObject({ exitCode: 0, stdout: "error:ECONNREFUSED\n" });
    expect(r.stderr).toContain("blocked connect to unix socket run/host.sock (made outside the sandbox; --allow-socket run/host.sock allows it)");
    // Deciding did not connect either: a connection alone starts a socket-activated unit's daemon.
    await Bun.sleep(200);
    expect(server.accepted()).toBe(1);
  });

  it("one a host process makes in the project after the sandbox started is refused, and its server sees no connection (control: the host's own client is counted)", async () => {
    const dir = project();
    const sock = join(dir, "run/late.sock");
    writeFileSync(join(dir, "late.sh"), `echo ready; for i in $(seq 400); do [ -S run/late.sock ] && break; sleep 0.05; done; ${PY} client.py run/late.sock`);
    const proc = Bun.spawn([process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "../bin/nsbox"), "--net", "none", "--", "sh", "late.sh"], { cwd: dir, stdout: "pipe", stderr: "ignore" });
    servers.push(proc);
    const reader = proc.stdout.getReader();
    let out = new TextDecoder().decode((await reader.read()).value);
    expect(out).toBe("ready\n");
    const server = await hostServer(sock);
    for (let r = await reader.read(); !r.done; r = await reader.read()) out += new TextDecoder().decode(r.value);
    expect(await proc.exited).toBe(0);
    expect(out).toBe("ready\nerror:ECONNREFUSED\n");
    await Bun.sleep(200);
    expect(server.accepted()).toBe(0);
    expect((await collect([PY, "client.py", "run/late.sock"], { cwd: dir })).stdout).toBe("reply:HOST\n");
    expect(await eventually(async () => server.accepted() === 1)).toBe(true);
  });

  it("control: --allow-socket PATH reaches it from the same sandbox, by path relative and absolute", async () => {
    const dir = project();
    await hostServer(join(dir, "run/host.sock"));
    expect(await client(dir, ["--net", "none", "--allow-socket", "run/host.sock"], "run/host.sock")).toMatchObject({ exitCode: 0, stdout: "reply:HOST\n" });
    expect(await client(dir, ["--net", "none", "--allow-socket", join(dir, "run/host.sock")], join(dir, "run/host.sock"))).toMatchObject({ exitCode: 0, stdout: "reply:HOST\n" });
  });

  it("is refused with --net allow= too (transparent there as well)", async () => {
    const dir = project();
    await hostServer(join(dir, "run/host.sock"));
    const r = await client(dir, ["--net", "allow=127.0.0.1:9"], "run/host.sock");
    expect(r.stdout).toBe("error:ECONNREFUSED\n");
  });

  it("a symlink made inside that points at it is refused too (control: the same link to an allowed socket works)", async () => {
    const dir = project();
    const sock = join(dir, "run/host.sock");
    await hostServer(sock);
    const viaLink = (extra: string[]) => nsbox([...extra, "--net", "none", "--", "sh", "-c", `ln -s ${sock} /tmp/l && ${PY} client.py /tmp/l`], { cwd: dir });
    const refused = await viaLink([]);
    expect(refused.stdout).toBe("error:ECONNREFUSED\n");
    expect(refused.stderr).toContain("blocked connect to unix socket /tmp/l");
    expect((await viaLink(["--allow-socket", sock])).stdout).toBe("reply:HOST\n");
  });

  it("a link planted in the project before the run is refused the same way", async () => {
    const dir = project();
    const sock = join(scratchIn(made), "agent.sock");
    await hostServer(sock);
    symlinkSync(sock, join(dir, "run/link.sock"));
    // The link's target is outside the view: bound in by --allow-socket, it is reached through the link; without, not at all.
    expect((await client(dir, ["--net", "none"], "run/link.sock")).stdout).toMatch(/^error:(ENOENT|ECONNREFUSED)\n$/);
    expect((await client(dir, ["--net", "none", "--allow-socket", sock], "run/link.sock")).stdout).toBe("reply:HOST\n");
  });

  it("the refusal shows a name with control characters escaped, never raw on the terminal", async () => {
    const dir = project();
    const name = "run/\x1b[31mred.sock";
    await hostServer(join(dir, name));
    const r = await client(dir, ["--net", "none"], name);
    expect(r.stdout).toBe("error:ECONNREFUSED\n");
    expect(r.stderr).toContain("blocked connect to unix socket run/\\x1b[31mred.sock");
    expect(r.stderr).not.toContain("\x1b");
  });

  it("a socket that is connected already gets the kernel's EISCONN, not a new connection", async () => {
    const dir = project();
    writeFileSync(join(dir, "twice.py"), `import socket,errno
s = socket.socket(socket.AF_UNIX); s.connect("run/host.sock")
try:
    s.connect("run/host.sock"); print("connected twice")
except OSError as e:
    print("error:" + errno.errorcode[e.errno])
`);
    await hostServer(join(dir, "run/host.sock"));
    expect((await collect([PY, "twice.py"], { cwd: dir })).stdout).toBe("error:EISCONN\n");
    expect((await nsbox(["--net", "none", "--allow-socket", "run/host.sock", "--", PY, "twice.py"], { cwd: dir })).stdout).toBe("error:EISCONN\n");
  });

  it("datagrams to it are refused with EPERM (control: sent with --allow-socket, and without nsbox)", async () => {
    const dir = project();
    const server = await hostServer(join(dir, "run/d.sock"), "", "dgram");
    const r = await client(dir, ["--net", "none"], "run/d.sock", ["dgram"]);
    expect(r.stdout).toBe("error:EPERM\n");
    expect(r.stderr).toContain("blocked send to unix socket run/d.sock");
    expect((await client(dir, ["--net", "none", "--allow-socket", "run/d.sock"], "run/d.sock", ["dgram"])).stdout).toBe("sent\n");
    expect((await collect([PY, "client.py", "run/d.sock", "dgram"], { cwd: dir })).stdout).toBe("sent\n");
    await Bun.sleep(200);
    expect(server.out().match(/DGRAM/g)?.length).toBe(2);
  });

  it("nsbox keeps no descriptor of hundreds of connects and sends it decided (refused, allowed, missing, inside, abstract, datagrams inside)", async () => {
    const dir = project();
    const sock = join(dir, "run/host.sock");
    await hostServer(sock);
    writeFileSync(join(dir, "many.py"), `import socket,errno,sys
srv = socket.socket(socket.AF_UNIX); srv.bind("/tmp/in.sock"); srv.listen(512)
dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); dg.bind("/tmp/dg.sock")
seen = set()
for i in range(100):
    for target in ("/tmp/in.sock", sys.argv[1], "run/missing.sock", "\\0abs"):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(target); seen.add("ok")
        except OSError as e:
            seen.add(errno.errorcode[e.errno])
        s.close()
    srv.accept()[0].close()
    d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try: d.sendto(b"x", sys.argv[1])
    except OSError as e: seen.add("send:" + errno.errorcode[e.errno])
    d.sendto(b"y", "/tmp/dg.sock"); seen.add("dgram:" + dg.recv(10).decode())
    d.close()
print(sorted(seen))
`);
    const { readdirSync } = await import("node:fs");
    const count = () => readdirSync("/proc/self/fd").length;
    await run(["true"], { cwd: dir, net: ["none"] });
    for (const allowSockets of [[], [sock]]) {
      const before = count();
      const r = await run([PY, "many.py", sock], { cwd: dir, net: ["none"], allowSockets, stderr: "ignore" });
      expect(r.stdout).toContain(allowSockets.length ? "'ok'" : "'ECONNREFUSED'");
      expect(r.stdout).toContain("'dgram:y'");
      // The connect threads close their copies once their records are written: a moment after the answer.
      await eventually(() => count() <= before, 5_000);
      expect(count()).toBeLessThanOrEqual(before);
    }
  });

  it("the library's allowSockets allows it as --allow-socket does (control: refused without)", async () => {
    const dir = project();
    const sock = join(dir, "run/host.sock");
    await hostServer(sock);
    expect((await run([PY, "client.py", sock], { cwd: dir, net: ["none"], stderr: "ignore" })).stdout).toBe("error:ECONNREFUSED\n");
    expect((await run([PY, "client.py", sock], { cwd: dir, net: ["none"], allowSockets: [sock] })).stdout).toBe("reply:HOST\n");
  });
});

describe.skipIf(!transparent)("nsbox exec into a sandbox with --net none", () => {
  it("the joined command's connect to the host's socket is refused too; its own sockets work (control: --allow-socket of the sandbox reaches it)", async () => {
    const dir = project();
    const sock = join(dir, "run/host.sock");
    await hostServer(sock);
    const start = async (name: string, extra: string[]) => {
      const proc = Bun.spawn([process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "../bin/nsbox"), "--name", name, "--net", "none", ...extra, "--", "sleep", "60"], { cwd: dir, stdout: "ignore", stderr: "ignore" });
      servers.push(proc);
      for (let i = 0; i < 200 && !(await nsbox(["ps"], { cwd: dir })).stdout.includes(name); i++) await Bun.sleep(50);
      return proc;
    };
    const name = `us${process.pid}x${Math.floor(Math.random() * 1e6)}`;
    await start(name, []);
    const r = await nsbox(["exec", name, "--", "sh", "-c", `${PY} client.py run/host.sock; ${PY} both.py /tmp/x.sock`], { cwd: dir });
    expect(r.stdout).toBe("error:ECONNREFUSED\nreply:INSIDE\n");
    expect(r.stderr).toContain("blocked connect to unix socket run/host.sock");
    await nsbox(["stop", name], { cwd: dir });
    const allowed = `${name}a`;
    await start(allowed, ["--allow-socket", "run/host.sock"]);
    expect((await nsbox(["exec", allowed, "--", PY, "client.py", "run/host.sock"], { cwd: dir })).stdout).toBe("reply:HOST\n");
    await nsbox(["stop", allowed], { cwd: dir });
  });
});

describe.skipIf(!transparent)("a Unix socket made inside the sandbox", () => {
  it("works in the project directory (a relative name) and in /tmp", async () => {
    const dir = project();
    expect(await nsbox(["--net", "none", "--", PY, "both.py", "run/in.sock"], { cwd: dir })).toMatchObject({ exitCode: 0, stdout: "reply:INSIDE\n", stderr: "" });
    expect(await nsbox(["--net", "none", "--", PY, "both.py", "/tmp/in.sock"], { cwd: dir })).toMatchObject({ exitCode: 0, stdout: "reply:INSIDE\n", stderr: "" });
  });

  it("works in an --overlay project, stream and datagram (stat(2) there names a layer's device, not the one the kernel reports)", async () => {
    const dir = project();
    writeFileSync(join(dir, "dgram-in.py"), `import socket
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind("run/dg.sock")
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.sendto(b"DGRAM", "run/dg.sock"); print(d.recv(10).decode())
`);
    const r = await nsbox(["--net", "none", "--overlay", ".", "--", "sh", "-c", `${PY} both.py run/in.sock && ${PY} dgram-in.py`], { cwd: dir });
    expect(r).toMatchObject({ exitCode: 0, stdout: "reply:INSIDE\nDGRAM\n", stderr: "" });
  });

  it("works from a process that did not make it, through a path with .. from another directory", async () => {
    const dir = project();
    writeFileSync(join(dir, "server.py"), SERVER);
    const script = `${PY} server.py /tmp/s/srv.sock INSIDE >/dev/null & mkdir -p /tmp/s /tmp/other; while [ ! -S /tmp/s/srv.sock ]; do sleep 0.05; done; cd /tmp/other && ${PY} ${dir}/client.py ../s/srv.sock; kill $!`;
    expect(await nsbox(["--net", "none", "--", "sh", "-c", script], { cwd: dir })).toMatchObject({ exitCode: 0, stdout: "reply:INSIDE\n" });
  });

  it("is reached on the payload's own socket: the same socket, its options kept, and an abstract name bound after connect is the sandbox's, not the host's (control: without nsbox, the host's)", async () => {
    const dir = project();
    const name = `nsbox-squat-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
    writeFileSync(join(dir, "own.py"), `import socket,sys,os,struct
d = sys.argv[1]
srv = socket.socket(socket.AF_UNIX); srv.bind(d + "/own.sock"); srv.listen()
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 7, 0))
before = os.fstat(s.fileno()).st_ino
s.connect(d + "/own.sock")
same = os.fstat(s.fileno()).st_ino == before
timeo = struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))[0]
try:
    s.bind("\\0" + sys.argv[2]); bound = "bound"
except OSError as e:
    bound = "error:" + str(e.errno)
sys.stdout.write(("same" if same else "replaced") + " %d %s\\n" % (timeo, bound)); sys.stdout.flush()
sys.stdin.read()
`);
    /** own.py's line, and whether the host's network namespace holds its abstract name while it still runs. */
    const own = async (argv: string[], abstract: string) => {
      const proc = Bun.spawn(argv, { cwd: dir, stdin: "pipe", stdout: "pipe", stderr: "ignore" });
      servers.push(proc);
      const line = new TextDecoder().decode((await proc.stdout.getReader().read()).value);
      const onHost = readFileSync("/proc/net/unix", "utf8").includes(`@${abstract}\n`);
      proc.stdin.end();
      await proc.exited;
      return { line, onHost };
    };
    expect(await own([PY, "own.py", scratchIn(made), `${name}-control`], `${name}-control`)).toEqual({ line: "same 7 bound\n", onHost: true });
    const nsboxBin = [process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "../bin/nsbox")];
    expect(await own([...nsboxBin, "--net", "none", "--", PY, "own.py", "/tmp", name], name)).toEqual({ line: "same 7 bound\n", onHost: false });
  });

  it("a server that forked after listen() and exited (as ssh-agent does) is reached in /tmp and in the project; the host's daemon in the project is refused and sees no connection", async () => {
    const dir = project();
    writeFileSync(join(dir, "daemon.py"), `import socket,os,sys,time
srv = socket.socket(socket.AF_UNIX); srv.bind(sys.argv[1]); srv.listen()
child = os.fork()
if child == 0:
    while True:
        c, _ = srv.accept()
        if len(sys.argv) > 3: open(sys.argv[3], "a").write("accepted\\n")
        try: c.send(sys.argv[2].encode() + b"\\n")
        except OSError: pass
        c.close()
if len(sys.argv) > 3: print(child, flush=True)
os._exit(0)
`);
    const inside = `${PY} daemon.py /tmp/d.sock INSIDE && ${PY} client.py /tmp/d.sock && ${PY} daemon.py run/d.sock INSIDE && ${PY} client.py run/d.sock`;
    const r = await nsbox(["--net", "none", "--", "sh", "-c", inside], { cwd: dir });
    expect(r).toMatchObject({ exitCode: 0, stdout: "reply:INSIDE\nreply:INSIDE\n", stderr: "" });
    // The host's daemon in the project: refused, never connected (control: reached without nsbox).
    const log = join(scratchIn(made), "accepts");
    writeFileSync(log, "");
    const host = Bun.spawn([PY, "daemon.py", join(dir, "run/h.sock"), "HOST", log], { cwd: dir, stdout: "pipe" });
    // The first line only: the daemon keeps the pipe open.
    const first = await host.stdout.getReader().read();
    const daemon = Number(new TextDecoder().decode(first.value).trim());
    await host.exited;
    try {
      const refused = await client(dir, ["--net", "none"], "run/h.sock");
      expect(refused.stdout).toBe("error:ECONNREFUSED\n");
      expect(refused.stderr).toContain("blocked connect to unix socket run/h.sock (made outside the sandbox;");
      await Bun.sleep(200);
      expect(readFileSync(log, "utf8")).toBe("");
      expect((await collect([PY, "client.py", "run/h.sock"], { cwd: dir })).stdout).toBe("reply:HOST\n");
      expect(await eventually(() => readFileSync(log, "utf8") === "accepted\n")).toBe(true);
    } finally {
      process.kill(daemon);
    }
  });

  it("a datagram socket made inside is reached by path, by sendto and by connect then send, in /tmp and in the project (control: the host's is refused)", async () => {
    const dir = project();
    writeFileSync(join(dir, "dgram.py"), `import socket,sys,errno
out = []
for p in sys.argv[1:]:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); srv.bind(p)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        c.sendto(b"one", p); c.connect(p); c.send(b"two")
        out.append(srv.recv(10).decode() + "," + srv.recv(10).decode())
    except OSError as e:
        out.append("error:" + errno.errorcode[e.errno])
print(" ".join(out))
`);
    const r = await nsbox(["--net", "none", "--", PY, "dgram.py", "/tmp/dg.sock", "run/dg.sock"], { cwd: dir });
    expect(r).toMatchObject({ exitCode: 0, stdout: "one,two one,two\n", stderr: "" });
    const server = await hostServer(join(dir, "run/host-dg.sock"), "", "dgram");
    expect((await client(dir, ["--net", "none"], "run/host-dg.sock", ["dgram"])).stdout).toBe("error:EPERM\n");
    await Bun.sleep(200);
    expect(server.out()).not.toContain("DGRAM");
  });

  it("an abstract name made inside works; the host's abstract names are not reachable (control: without nsbox they are)", async () => {
    const dir = project();
    const name = `@nsbox-test-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
    expect(await nsbox(["--net", "none", "--", PY, "both.py", name], { cwd: dir })).toMatchObject({ exitCode: 0, stdout: "reply:INSIDE\n" });
    await hostServer(name);
    const abstractClient = `import socket,sys,errno
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\\0" + sys.argv[1][1:]); print("reply:" + s.recv(100).decode().strip())
except OSError as e:
    print("error:" + errno.errorcode.get(e.errno, str(e.errno)))
`;
    writeFileSync(join(dir, "abstract.py"), abstractClient);
    expect((await collect([PY, "abstract.py", name], { cwd: dir })).stdout).toBe("reply:HOST\n");
    expect((await nsbox(["--net", "none", "--", PY, "abstract.py", name], { cwd: dir })).stdout).toBe("error:ECONNREFUSED\n");
  });
});

/**
 * The race: a thread swaps the link `DIR/l` between a socket made inside (`DIR/in.sock`) and the
 * host's (argv[1]) while the main thread connects through it, N times; prints the replies counted.
 */
const RACE = `import socket,os,threading,sys,errno,json
host, n, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket(socket.AF_UNIX); srv.bind(d + "/in.sock"); srv.listen(128)
def serve():
    while True:
        c, _ = srv.accept()
        try: c.send(b"INSIDE\\n")
        except OSError: pass
        c.close()
threading.Thread(target=serve, daemon=True).start()
def flip():
    i = 0
    while True:
        try:
            os.symlink(host if i % 2 else d + "/in.sock", d + "/l.new"); os.rename(d + "/l.new", d + "/l")
        except OSError:
            try: os.unlink(d + "/l.new")
            except OSError: pass
        i += 1
threading.Thread(target=flip, daemon=True).start()
counts = {}
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(d + "/l"); r = s.recv(10).decode().strip()
    except OSError as e:
        r = "error:" + errno.errorcode[e.errno]
    counts[r] = counts.get(r, 0) + 1
    s.close()
print(json.dumps(counts))
`;

describe.skipIf(!transparent)("a payload that swaps a link between its own socket and the host's while it connects", () => {
  it("never reaches the host's in 3000 tries (control: without nsbox the same race reaches it)", async () => {
    const dir = project();
    writeFileSync(join(dir, "race.py"), RACE);
    const sock = join(dir, "run/host.sock");
    await hostServer(sock);
    const control = JSON.parse((await collect([PY, "race.py", sock, "300", scratchIn(made)], { cwd: dir })).stdout);
    expect(control.HOST).toBeGreaterThan(0);
    const r = await nsbox(["--net", "none", "--", PY, "race.py", sock, "3000", "/tmp"], { cwd: dir });
    expect(r.exitCode).toBe(0);
    const counts = JSON.parse(r.stdout);
    expect(counts.HOST ?? 0).toBe(0);
    expect(counts.INSIDE).toBeGreaterThan(0);
  }, 180_000);
});

describe.skipIf(!transparent)("--allow-socket with a socket outside the sandbox's view ($SSH_AUTH_SOCK)", () => {
  it("is bound in at the same path and reached (control: without it the path does not exist inside)", async () => {
    const dir = project();
    const agent = join(scratchIn(made), "agent.sock");
    await hostServer(agent, "AGENT");
    expect((await client(dir, ["--net", "none"], agent)).stdout).toBe("error:ENOENT\n");
    const env = { ...process.env, SSH_AUTH_SOCK: agent };
    const r = await nsbox(["--net", "none", "--allow-socket", agent, "--", "sh", "-c", `${PY} client.py "$SSH_AUTH_SOCK"`], { cwd: dir, env });
    expect(r).toMatchObject({ exitCode: 0, stdout: "reply:AGENT\n", stderr: "" });
  });
});

describe("--allow-socket refusals: one line naming the option, the value and the fix, exit 125", () => {
  it("a missing path, a regular file, a directory, a symlink", async () => {
    const dir = project();
    writeFileSync(join(dir, "run/file"), "x");
    symlinkSync(join(dir, "run/file"), join(dir, "run/link"));
    const cases: [string, string][] = [
      ["run/missing.sock", `--allow-socket run/missing.sock: ${join(dir, "run/missing.sock")}: no such file or directory; start the program`],
      ["run/file", `--allow-socket run/file: ${join(dir, "run/file")} is a regular file, not a socket; name the Unix socket a program listens on`],
      ["run", `--allow-socket run: ${dir}/run is a directory, not a socket`],
      ["run/link", `--allow-socket run/link: ${join(dir, "run/link")} is a symlink to ${join(dir, "run/file")}`],
    ];
    for (const [value, message] of cases) {
      const r = await nsbox(["--allow-socket", value, "--", "true"], { cwd: dir });
      expect({ value, exitCode: r.exitCode, stdout: r.stdout }).toEqual({ value, exitCode: 125, stdout: "" });
      expect(lines(r)).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });

  it.skipIf(!transparent)("from an untrusted nsbox.json it is refused as a loosening (control: after nsbox trust it reaches the socket)", async () => {
    const s = projectWithSecret(made, { "nsbox.json": { profiles: { agent: { "allow-socket": "run/host.sock" } } } });
    project(s.cwd);
    await hostServer(join(s.cwd, "run/host.sock"));
    const go = () => nsbox(["-p", "agent", "--net", "none", "--", PY, "client.py", "run/host.sock"], { cwd: s.cwd, env: s.env });
    const refused = await go();
    expect(refused).toMatchObject({ exitCode: 125, stdout: "" });
    expect(refused.stderr).toContain(`profiles.agent.allow-socket "run/host.sock": lets the sandbox connect to the Unix socket ${join(s.cwd, "run/host.sock")}, made outside it`);
    expect(await nsbox(["trust"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    expect(await go()).toMatchObject({ exitCode: 0, stdout: "reply:HOST\n" });
  });

  it("the user's command line needs no trust, and --dry-run lists the socket", async () => {
    const dir = project();
    const sock = join(dir, "run/host.sock");
    await hostServer(sock);
    const r = await nsbox(["--allow-socket", "run/host.sock", "--dry-run", "--", "true"], { cwd: dir });
    expect(r.exitCode).toBe(0);
    if (transparent) expect(r.stdout).toContain(`socket:      ${sock} (dev `);
    expect(readFileSync(join(dir, "client.py"), "utf8")).toBe(CLIENT);
  });
});
