// Transparent networking, the notify side: with --net none (and allow=) the payload's connect,
// sendto with an address, sendmsg and sendmmsg are trapped by the notify filter and executed by
// nsbox (src/net/unotify.ts). Until the egress policy decides more, a destination inside the
// sandbox (its own lo, abstract Unix names) is reached and every other one refused. Real
// sandboxes; the control for each refusal is the same call with the filter off (proxy mode).
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readHost } from "../src/host.ts";
import { netMode } from "../src/net/mode.ts";
import { readNotifications } from "../src/net/watcher.ts";
import type { SandboxOptions } from "../src/options.ts";
import { buildPlan } from "../src/plan/index.ts";
import { notifyProgram } from "../src/plan/seccomp-notify.ts";
import { start } from "../src/supervise.ts";
import { collect, NSBOX, nsbox, scratchDir } from "./helpers.ts";

const BUN = process.execPath;
const bunMount = /^\/(usr|bin|sbin|lib)\//.test(BUN) ? [] : ["--ro", dirname(BUN)];
const transparent = netMode().mode === "transparent";
/** The CLI's environment without proxy variables and without a forced mode. */
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0]) && e[0] !== "NSBOX_NET_MODE"),
);
const proxyEnv = { ...env, NSBOX_NET_MODE: "proxy" };

/** Every kind of call the filter traps, aimed inside the sandbox, and two aimed outside. */
const PROBE = String.raw`
import socket, os, select, errno, array, time, ctypes
out = {}
def ok(name, f):
  try: out[name] = "ok" if f() else "FAIL"
  except Exception as e: out[name] = "error " + repr(e)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); port = s.getsockname()[1]
def tcp_block():
  c = socket.socket(); c.connect(("127.0.0.1", port)); a, _ = s.accept()
  c.sendall(b"x" * 300000); got = b""
  while len(got) < 300000: got += a.recv(65536)
  return c.getpeername() == ("127.0.0.1", port) and a.getpeername() == c.getsockname() and len(got) == 300000
ok("tcp_block", tcp_block)
def tcp_nonblock():
  n = socket.socket(); n.setblocking(False); r = n.connect_ex(("127.0.0.1", port))
  select.select([], [n], [], 10)
  return r in (0, errno.EINPROGRESS) and n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and n.getpeername()[1] == port and n.getblocking() is False
ok("tcp_nonblock", tcp_nonblock)
def tcp_thread():
  import threading
  got = []
  t = threading.Thread(target=lambda: got.append(socket.create_connection(("127.0.0.1", port)).getpeername()), daemon=True)
  t.start(); t.join(10); return got == [("127.0.0.1", port)]
ok("tcp_thread", tcp_thread)
def tcp6():
  s6 = socket.socket(socket.AF_INET6); s6.bind(("::1", 0)); s6.listen(); p6 = s6.getsockname()[1]
  c6 = socket.socket(socket.AF_INET6); c6.connect(("::1", p6)); return c6.getpeername()[:2] == ("::1", p6) and c6.getblocking()
ok("tcp6", tcp6)
ok("tcp_closed_port", lambda: socket.socket().connect_ex(("127.0.0.1", 1)) == errno.ECONNREFUSED)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); up = u.getsockname()[1]; u.settimeout(5)
def udp_sendto():
  v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.sendto(b"one", ("127.0.0.1", up)); return u.recv(10) == b"one"
ok("udp_sendto", udp_sendto)
def udp_connect():
  v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.connect(("127.0.0.1", up)); v.send(b"two"); a = u.recv(10) == b"two"
  v.sendmsg([b"thr", b"ee"]); return a and u.recv(10) == b"three"
ok("udp_connect_send_sendmsg", udp_connect)
def udp_sendmsg_name():
  w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); w.sendmsg([b"four"], [], 0, ("127.0.0.1", up)); return u.recv(10) == b"four"
ok("udp_sendmsg_name", udp_sendmsg_name)
def udp_sendmmsg():
  libc = ctypes.CDLL(None, use_errno=True)
  class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
  class msghdr(ctypes.Structure): _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t), ("flags", ctypes.c_int)]
  class mmsghdr(ctypes.Structure): _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint32)]
  w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
  bufs = [ctypes.create_string_buffer(b"m1"), ctypes.create_string_buffer(b"m22")]
  iovs = [iovec(ctypes.cast(bufs[0], ctypes.c_void_p), 2), iovec(ctypes.cast(bufs[1], ctypes.c_void_p), 3)]
  ab = ctypes.create_string_buffer(bytes([2, 0, up >> 8, up & 255, 127, 0, 0, 1]) + bytes(8), 16)
  vec = (mmsghdr * 2)()
  for i in range(2):
    vec[i].hdr.name = ctypes.cast(ab, ctypes.c_void_p); vec[i].hdr.namelen = 16; vec[i].hdr.iov = ctypes.pointer(iovs[i]); vec[i].hdr.iovlen = 1
  r = libc.sendmmsg(w.fileno(), vec, 2, 0)
  return r == 2 and vec[0].len == 2 and vec[1].len == 3 and u.recv(10) == b"m1" and u.recv(10) == b"m22"
ok("udp_sendmmsg", udp_sendmmsg)
def scm_rights():
  p, q = socket.socketpair(); r, w = os.pipe(); os.write(w, b"via-fd")
  p.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))])
  msg, anc, _, _ = q.recvmsg(10, socket.CMSG_SPACE(4)); fds = array.array("i"); fds.frombytes(anc[0][2][:4])
  return msg == b"f" and os.read(fds[0], 10) == b"via-fd"
ok("scm_rights", scm_rights)
def unix_abstract():
  a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a.bind(b"\0nsbox-notify-test"); a.settimeout(5)
  b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); b.sendto(b"abs", b"\0nsbox-notify-test"); return a.recv(10) == b"abs"
ok("unix_abstract_dgram", unix_abstract)
def sigpipe():
  import signal
  got = []
  signal.signal(signal.SIGPIPE, lambda *a: got.append(1))
  p, q = socket.socketpair(); q.close()
  try: p.sendmsg([b"x"])
  except BrokenPipeError: pass
  time.sleep(0.2); return got == [1]
ok("sigpipe", sigpipe)
def non_dumpable():
  ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
  c = socket.socket(); c.connect(("127.0.0.1", port)); return c.getpeername()[1] == port
ok("non_dumpable", non_dumpable)
def errno_of(f):
  try: f(); return 0
  except OSError as e: return e.errno
out["udp_outside"] = errno.errorcode.get(errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("1.1.1.1", 53))), "0")
t = time.time(); e = socket.socket().connect_ex(("1.1.1.1", 80))
out["tcp_outside"] = errno.errorcode.get(e, str(e)) + (" quickly" if time.time() - t < 5 else " slowly")
print(" ".join(k + "=" + v.replace(" ", "_") for k, v in out.items()), flush=True)
os._exit(0)
`;

const INSIDE = ["tcp_block", "tcp_nonblock", "tcp_thread", "tcp6", "tcp_closed_port", "udp_sendto", "udp_connect_send_sendmsg", "udp_sendmsg_name", "udp_sendmmsg", "scm_rights", "unix_abstract_dgram", "sigpipe", "non_dumpable"];

function probeDir(): string {
  const dir = scratchDir();
  writeFileSync(join(dir, "probe.py"), PROBE);
  return dir;
}
const results = (stdout: string) => Object.fromEntries(stdout.trim().split(" ").map((kv) => kv.split("=") as [string, string]));

describe.if(transparent)("transparent mode (--net none)", () => {
  test("connect, sendto, sendmsg, sendmmsg and SCM_RIGHTS inside the sandbox all work through nsbox; outside: ECONNREFUSED and EPERM at once", async () => {
    const r = await nsbox(["-v", "--", "python3", "probe.py"], { cwd: probeDir(), env });
    expect(r.stderr).toContain("network: transparent");
    expect(r.stderr).toContain("seccomp_notify:");
    const got = results(r.stdout);
    for (const name of INSIDE) expect(`${name}=${got[name]}`).toBe(`${name}=ok`);
    expect(got.tcp_outside).toBe("ECONNREFUSED_quickly");
    expect(got.udp_outside).toBe("EPERM");
    expect(r.exitCode).toBe(0);
  });

  test("control: the same probe with the filter off (NSBOX_NET_MODE=proxy) works inside, and outside meets no route (ENETUNREACH), not nsbox", async () => {
    const r = await nsbox(["-v", "--", "python3", "probe.py"], { cwd: probeDir(), env: proxyEnv });
    expect(r.stderr).toContain("network: proxy (NSBOX_NET_MODE=proxy)");
    expect(r.stderr).not.toContain("seccomp_notify:");
    const got = results(r.stdout);
    for (const name of INSIDE) expect(`${name}=${got[name]}`).toBe(`${name}=ok`);
    expect(got.tcp_outside).toBe("ENETUNREACH_quickly");
    expect(got.udp_outside).toBe("ENETUNREACH");
  });

  test("waits go through the watcher: 200 threads in a blocking connect at once, and a blocking sendmsg larger than the socket's buffer while the reader sleeps", async () => {
    const script = String.raw`
import socket, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1000); port = s.getsockname()[1]
ok = []
def f():
  c = socket.socket(); c.connect(("127.0.0.1", port)); ok.append(c)
ts = [threading.Thread(target=f) for _ in range(200)]
for t in ts: t.start()
for t in ts: t.join(30)
p, q = socket.socketpair(); got = []
def reader():
  time.sleep(0.5); n = 0
  while n < 3 << 20:
    d = q.recv(1 << 20)
    if not d: break
    n += len(d)
  got.append(n)
t = threading.Thread(target=reader); t.start()
data = b"y" * (3 << 20); sent = 0
while sent < len(data): sent += p.sendmsg([data[sent:]])
t.join(20); print(len(ok), sent, got[0] if got else 0)`;
    const r = await nsbox(["--", "python3", "-c", script], { env });
    expect(r.stdout.trim()).toBe(`200 ${3 << 20} ${3 << 20}`);
  });

  test("a Bun program inside serves and connects on its own loopback (blocking and non-blocking sockets of another runtime)", async () => {
    const script = `
      import { createServer, connect } from "node:net";
      const lines = [];
      const done = (line) => { lines.push(line); if (lines.length === 2) { console.log(lines.sort().join("\\n")); process.exit(0); } };
      const server = createServer((s) => s.end("pong")).listen(0, "127.0.0.1", () => {
        const c = connect(server.address().port, "127.0.0.1");
        let data = "";
        c.on("data", (d) => (data += d)).on("end", () => done(data + " " + c.remoteAddress));
      });
      const udp = await Bun.udpSocket({ port: 0, hostname: "127.0.0.1", socket: { data(s, buf) { done("udp " + buf.toString()); } } });
      (await Bun.udpSocket({})).send("ping", udp.port, "127.0.0.1");
      setTimeout(() => { console.log("gave up:", lines.join(", ")); process.exit(1); }, 20000);
    `;
    const r = await nsbox([...bunMount, "--", BUN, "-e", script], { env });
    expect(r.stdout).toContain("pong 127.0.0.1");
    expect(r.stdout).toContain("udp ping");
    expect(r.exitCode).toBe(0);
  });

  test("sendto with MSG_FASTOPEN is refused (EOPNOTSUPP): the kernel would connect with an address nsbox did not decide", async () => {
    const script = `import socket, errno
try:
  socket.socket().sendto(b"x", 0x20000000, ("127.0.0.1", 9)); print("sent")
except OSError as e: print(e.errno)`;
    const r = await nsbox(["--", "python3", "-c", script], { env });
    expect(r.stdout.trim()).toBe("95"); // EOPNOTSUPP
  });

  test("an x32 system call number is not let through by the notify filter (ENOSYS), even with the default filter off", async () => {
    const script = `import ctypes
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(0x40000000 | 42, 3, 0, 0)
print(r, ctypes.get_errno())`;
    const r = await nsbox(["--seccomp", "none", "--", "python3", "-c", script], { env });
    expect(r.stdout.trim()).toBe("-1 38");
  });

  test("a host socket handed in (--pass-fd) is not connected by nsbox, even to loopback (it would reach the host's); control: without the filter the payload's own connect reaches the host server", async () => {
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open(s) { s.end("hello"); }, data() {} } });
    try {
      const launcher = String.raw`import socket, os, sys
s = socket.socket(); os.dup2(s.fileno(), 5); os.set_inheritable(5, True)
inner = "import socket, errno, sys\ns = socket.socket(fileno=5)\ntry:\n  s.connect(('127.0.0.1', int(sys.argv[1]))); print('reached the host')\nexcept OSError as e: print(errno.errorcode[e.errno])"
os.execvp(sys.argv[1], [sys.argv[1], "--pass-fd", "5", "--", "python3", "-c", inner, sys.argv[2]])`;
      const run = (e: Record<string, string>) => collect(["python3", "-c", launcher, NSBOX, String(server.port)], { env: e });
      // Refused: EPERM (inside-only handlers) or ECONNREFUSED (the egress policy), never reached.
      const r = await run(env);
      expect(r.stdout.trim()).toMatch(/^(EPERM|ECONNREFUSED)$/);
      expect((await run(proxyEnv)).stdout.trim()).toBe("reached the host");
    } finally {
      server.stop(true);
    }
  });

  test("io_uring is refused (ENOSYS) even with --seccomp none: its connect would re-aim a host socket or reach a host Unix socket unseen; control: with the filter off (proxy mode) it is the kernel's", async () => {
    const script = `import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
r = libc.syscall(425, 4, params)
print("refused" if r == -1 and ctypes.get_errno() == 38 else "kernel")`;
    const allow = ["--seccomp", "none", "--net", "allow=127.0.0.1:9", "--", "python3", "-c", script];
    expect((await nsbox(allow, { env })).stdout.trim()).toBe("refused");
    expect((await nsbox(allow, { env: proxyEnv })).stdout.trim()).toBe("kernel");
  });

  test("a trapped call nsbox can't decide (its dispatcher fails to load) is answered EPERM, neither let through nor left waiting; control: the dispatcher answers ECONNREFUSED", async () => {
    const dir = scratchDir();
    const script = "import socket, errno\nfor i in range(2):\n  s = socket.socket()\n  try: s.connect(('127.0.0.1', 9)); print('connected')\n  except OSError as e: print(errno.errorcode[e.errno])";
    const run = async (failing: boolean) => {
      const file = join(dir, failing ? "failing.out" : "control.out");
      writeFileSync(file, "");
      const out = openSync(file, "w");
      const plan = buildPlan(["python3", "-c", script], { net: ["none"] } as SandboxOptions, readHost(dir), { terminal: null });
      const running = start(plan, {
        forwardSignals: false,
        stdio: { stdin: -1, stdout: out, stderr: out },
        onNotify: failing ? (listener) => void readNotifications(listener, () => { throw new Error("can't read the dispatcher"); }) : undefined,
      });
      const outcome = await running.outcome;
      closeSync(out);
      return { exitCode: outcome.exitCode, out: readFileSync(file, "utf8") };
    };
    expect(await run(true)).toEqual({ exitCode: 0, out: "EPERM\nEPERM\n" });
    expect(await run(false)).toEqual({ exitCode: 0, out: "ECONNREFUSED\nECONNREFUSED\n" });
  });

  test("--net host gets no notify filter", async () => {
    const r = await nsbox(["-v", "--net", "host", "--", "true"], { env });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toContain("seccomp_notify:");
    expect(r.stderr).not.toContain("network: ");
  });

  test("--net allow= gets the filter too, and the proxy inside is reached through it", async () => {
    const r = await nsbox(["-v", "--net", "allow=127.0.0.1:9", "--", "python3", "-c", "import socket; c = socket.create_connection(('127.0.0.1', 3128)); print('proxy reached')"], { env });
    expect(r.stderr).toContain("seccomp_notify:");
    expect(r.stdout).toContain("proxy reached");
  });
});

describe("mode", () => {
  test("doctor says which mode the network has, and NSBOX_NET_MODE=proxy forces the fallback", async () => {
    const r = await nsbox(["doctor"], { env });
    expect(r.stdout + r.stderr).toContain(transparent ? "network: transparent" : "network: proxy (");
    const forced = await nsbox(["doctor"], { env: proxyEnv });
    expect(forced.stdout + forced.stderr).toContain("network: proxy (NSBOX_NET_MODE=proxy)");
  });

  test("netMode: kernel release, user_notif and Yama decide", () => {
    const facts = { release: "6.1.0", actions: "kill_process kill_thread trap errno user_notif trace log allow", yama: undefined };
    expect(netMode(undefined, facts)).toEqual({ mode: "transparent" });
    expect(netMode(undefined, { ...facts, release: "5.10.0-28-amd64" })).toEqual({ mode: "proxy", why: "kernel 5.10 lacks seccomp ADDFD, 5.14" });
    expect(netMode(undefined, { ...facts, actions: "kill_process errno allow" }).mode).toBe("proxy");
    expect(netMode(undefined, { ...facts, yama: "2" }).mode).toBe("proxy");
    expect(netMode(undefined, { ...facts, yama: "1" }).mode).toBe("transparent");
  });

  test("the notify program ends in USER_NOTIF and ALLOW on both architectures", () => {
    for (const machine of ["x64", "arm64"] as const) {
      const p = notifyProgram(machine);
      const view = new DataView(p.buffer);
      const rets = Array.from({ length: p.length / 8 }, (_, i) => i).filter((i) => view.getUint16(i * 8, true) === 0x06).map((i) => view.getUint32(i * 8 + 4, true));
      expect(rets).toContain(0x7fc00000);
      expect(rets).toContain(0x7fff0000);
    }
  });
});
