// Transparent egress (--net allow= in transparent mode): programs that ignore the proxy
// variables reach what the rules allow through sockets nsbox connected on the host and installed
// in their place, and nothing else; against real servers this file starts on the host's loopback.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { collect, nsbox, scratchDir, type Ran } from "./helpers.ts";

const PYTHON = "/usr/bin/python3";
/** The caller's environment without proxy variables, so that what a sandbox has is nsbox's doing. */
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0])),
);
/** Whether this kernel gets transparent mode (user notification); else the proxy alone, and these tests don't apply. */
const transparent = (() => {
  try {
    return readFileSync("/proc/sys/kernel/seccomp/actions_avail", "utf8").includes("user_notif");
  } catch {
    return false;
  }
})();

// The client the sandbox runs: every proxy variable removed first, then one JSON line.
//   connect HOST PORT        blocking connect (no timeout: a timeout makes the socket non-blocking), "ping" sent, the echo read
//   nonblock HOST PORT       setblocking(False), connect_ex, select() for writing, SO_ERROR, echo
//   options HOST PORT [ND]   TCP_NODELAY=ND (default 1) before connect, read back after; getsockname, getpeername
//   udp HOST PORT            sendto one datagram
//   lookup NAME              a DNS query for NAME's A record to the resolver (127.0.0.53), its first answer
const CLIENT = String.raw`
import errno, json, os, select, socket, struct, sys
for k in list(os.environ):
    if k.lower().endswith("_proxy"): del os.environ[k]
mode, host = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
def out(**r): print(json.dumps(r)); sys.exit(0)
def err(e): out(error=errno.errorcode.get(e.errno, str(e.errno)))
def echo(s):
    s.sendall(b"ping"); return s.recv(100).decode()
try:
    if mode == "connect":
        s = socket.socket(); s.connect((host, port)); s.settimeout(20); out(echo=echo(s))
    if mode == "connect6":
        s = socket.socket(socket.AF_INET6); s.connect((host, port)); s.settimeout(20); out(echo=echo(s))
    if mode == "connected":
        # A socket connected to a server of the sandbox's own, then aimed at the allowed host port.
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
        s = socket.socket(); s.connect(srv.getsockname())
        out(second=errno.errorcode.get(s.connect_ex((host, port)), 0), peer=s.getpeername()[1] == srv.getsockname()[1])
    if mode == "sndtimeo":
        # A blocking connect bounded by SO_SNDTIMEO (1 s) to a server that never completes it.
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
        out(result=errno.errorcode.get(s.connect_ex((host, port)), 0))
    if mode == "nonblock":
        s = socket.socket(); s.setblocking(False)
        r = s.connect_ex((host, port))
        if r not in (0, errno.EINPROGRESS): out(error=errno.errorcode[r], at="connect")
        select.select([], [s], [], 20)
        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if e: out(error=errno.errorcode[e], at="so_error", first=errno.errorcode.get(r, r))
        s.setblocking(True); out(first=errno.errorcode.get(r, r), echo=echo(s))
    if mode == "options":
        s = socket.socket()
        want = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, want)
        s.connect((host, port))
        out(nodelay=s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), sockname=list(s.getsockname()), peername=list(s.getpeername()), echo=echo(s))
    if mode == "reaim":
        # A host socket whose connect failed can connect again: aim it at HOST:PORT2.
        s = socket.socket(); s.setblocking(False)
        r = s.connect_ex((host, port)); select.select([], [s], [], 20)
        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR); s.setblocking(True)
        r2 = s.connect_ex((host, int(sys.argv[4])))
        # The first connect after an asynchronous failure answers ECONNABORTED (and resets the socket), as on the host.
        if r2 == errno.ECONNABORTED: r2 = s.connect_ex((host, int(sys.argv[4])))
        out(first=errno.errorcode.get(r, r), so_error=errno.errorcode.get(e, e), second=errno.errorcode.get(r2, r2))
    if mode == "unspec":
        import ctypes
        s = socket.socket(); s.connect((host, port))
        libc = ctypes.CDLL(None, use_errno=True)
        r = libc.connect(s.fileno(), ctypes.create_string_buffer(16), 16)
        out(result=r, errno=ctypes.get_errno() if r else None, echo=echo(s))
    if mode == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out(sent=s.sendto(b"x", (host, port)))
    if mode == "lookup":
        q = struct.pack(">HHHHHH", 0x1234, 0x100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in host.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
        s.sendto(q, ("127.0.0.53", 53)); a = s.recv(512)
        rcode, count = a[3] & 15, struct.unpack(">H", a[6:8])[0]
        out(rcode=rcode, address=socket.inet_ntoa(a[-4:]) if count else None)
except OSError as e:
    err(e)
`;

/** A fresh project directory (the sandbox's working directory) holding client.py. */
function projectWithClient(): string {
  const cwd = scratchDir();
  writeFileSync(join(cwd, "client.py"), CLIENT);
  return cwd;
}

/** Run the client inside a sandbox with `net` (and more options), the caller's proxy variables gone. */
async function client(net: string, args: (string | number)[], extra: string[] = []): Promise<Ran & { result: Record<string, unknown> }> {
  const cwd = projectWithClient();
  const r = await nsbox(["--net", net, ...extra, "--", PYTHON, "client.py", ...args.map(String)], { env, cwd });
  let result: Record<string, unknown> = {};
  try {
    result = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    result = { unparsed: r.stdout, stderr: r.stderr };
  }
  return { ...r, result };
}

/** A host server on loopback: answers "pong:<what it read>" to raw TCP, a small page to HTTP; records its peers' ports. */
function echoServer(): Promise<Server & { port: number; peers: number[] }> {
  const peers: number[] = [];
  const server = createServer((s: Socket) => {
    peers.push(s.remotePort!);
    s.once("data", (d) => {
      const text = d.toString();
      if (/^(GET|HEAD) /.test(text)) s.end("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
      else s.end(`pong:${text}`);
    });
    s.on("error", () => {});
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(Object.assign(server, { port: (server.address() as { port: number }).port, peers }))));
}

/** A loopback port nothing listens on (a server's, closed). */
async function closedPort(): Promise<number> {
  const s = await echoServer();
  await new Promise((resolve) => s.close(resolve));
  return s.port;
}

let a: Awaited<ReturnType<typeof echoServer>>;
let b: Awaited<ReturnType<typeof echoServer>>;
beforeAll(async () => {
  [a, b] = await Promise.all([echoServer(), echoServer()]);
});
afterAll(() => {
  a?.close();
  b?.close();
});

describe.skipIf(!transparent)("given transparent egress (this kernel has seccomp user notification)", () => {
  test("a raw socket with no proxy variables reaches the allowed port, and is refused for another (control: allowing that one reaches it)", async () => {
    const allowed = await client(`allow=127.0.0.1:${a.port}`, ["connect", "127.0.0.1", a.port]);
    expect(allowed.result).toEqual({ echo: "pong:ping" });
    const refused = await client(`allow=127.0.0.1:${a.port}`, ["connect", "127.0.0.1", b.port]);
    expect(refused.result).toEqual({ error: "ECONNREFUSED" });
    expect(refused.stderr).toContain(`blocked connect to 127.0.0.1:${b.port} (not in --net allow; nothing listens on the sandbox's own loopback`);
    const control = await client(`allow=127.0.0.1:${b.port}`, ["connect", "127.0.0.1", b.port]);
    expect(control.result).toEqual({ echo: "pong:ping" });
  });

  test("a non-blocking connect (EINPROGRESS, select, SO_ERROR) works; to a port not allowed it is refused (control)", async () => {
    const r = await client(`allow=127.0.0.1:${a.port}`, ["nonblock", "127.0.0.1", a.port]);
    expect(r.result.echo).toBe("pong:ping");
    expect(["EINPROGRESS", 0]).toContain(r.result.first as string);
    const refused = await client(`allow=127.0.0.1:${a.port}`, ["nonblock", "127.0.0.1", b.port]);
    expect(refused.result.error).toBe("ECONNREFUSED");
  });

  test("TCP_NODELAY set before connect is there after it (control: not set, it reads 0); getsockname and getpeername answer the real connection", async () => {
    const r = await client(`allow=127.0.0.1:${a.port}`, ["options", "127.0.0.1", a.port, 1]);
    expect(r.result.echo).toBe("pong:ping");
    expect(r.result.nodelay).toBe(1);
    expect(r.result.peername).toEqual(["127.0.0.1", a.port]);
    const [host, port] = r.result.sockname as [string, number];
    expect(host).toBe("127.0.0.1");
    // The port the server saw is the one the payload's socket says it has: the same connection.
    expect(a.peers).toContain(port);
    const control = await client(`allow=127.0.0.1:${a.port}`, ["options", "127.0.0.1", a.port, 0]);
    expect(control.result.nodelay).toBe(0);
  });

  test("UDP sendto an address outside the sandbox is refused (EPERM) and reported; to the sandbox's own loopback it is sent (control)", async () => {
    const log = join(scratchDir(), "net.log");
    const r = await client(`allow=127.0.0.1:${a.port}`, ["udp", "192.0.2.1", 9], ["--net-log", log]);
    expect(r.result).toEqual({ error: "EPERM" });
    expect(r.stderr).toContain("blocked UDP to 192.0.2.1:9 (UDP goes only to the sandbox's own loopback and its resolver)");
    const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toContainEqual(expect.objectContaining({ action: "block", protocol: "udp", host: "192.0.2.1", port: 9 }));
    const control = await client(`allow=127.0.0.1:${a.port}`, ["udp", "127.0.0.1", 9]);
    expect(control.result).toEqual({ sent: 1 });
  });

  test("a blocked connect is in the end-of-run report and in --net-log; an allowed one only in the log (control)", async () => {
    const log = join(scratchDir(), "net.log");
    const blocked = await client(`allow=127.0.0.1:${a.port}`, ["connect", "127.0.0.1", b.port], ["--net-log", log]);
    expect(blocked.stderr).toContain(`blocked connect to 127.0.0.1:${b.port}`);
    expect(readFileSync(log, "utf8")).toContain(`"protocol":"tcp","host":"127.0.0.1","port":${b.port}`);
    // An address outside the sandbox that no rule names (TEST-NET-1: never routed).
    const outside = await client(`allow=127.0.0.1:${a.port}`, ["connect", "192.0.2.1", a.port], ["--net-log", log]);
    expect(outside.result).toEqual({ error: "ECONNREFUSED" });
    expect(outside.stderr).toContain(`blocked connect to 192.0.2.1:${a.port} (not in --net allow)`);
    expect(readFileSync(log, "utf8")).toContain(`"action":"block","protocol":"tcp","host":"192.0.2.1","port":${a.port}`);
    const allowed = await client(`allow=127.0.0.1:${a.port}`, ["connect", "127.0.0.1", a.port], ["--net-log", log]);
    expect(allowed.stderr).not.toContain("blocked");
    const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toContainEqual(expect.objectContaining({ action: "allow", protocol: "tcp", host: "127.0.0.1", port: a.port }));
  });

  // The name comes from the resolver's answers (src/net/resolver.ts): `localhost` is a rule the
  // resolver answers with 127.0.0.1; a connect to another port of that address then names it.
  test.skipIf(!existsSync(join(import.meta.dir, "..", "src", "net", "resolver.ts")))("a blocked connect to an address the resolver answered is reported with the name", async () => {
    const log = join(scratchDir(), "net.log");
    const looked = await client(`allow=localhost:${a.port}`, ["lookup", "localhost"]);
    expect(looked.result).toEqual({ rcode: 0, address: "127.0.0.1" });
    // One sandbox: look the name up, then connect to a port the rule does not name.
    const r = await nsbox(["--net", `allow=localhost:${a.port}`, "--net-log", log, "--", "sh", "-c",
      `${PYTHON} client.py lookup localhost && ${PYTHON} client.py connect 127.0.0.1 ${b.port}`], { env, cwd: projectWithClient() });
    expect(r.stdout).toContain('"error": "ECONNREFUSED"');
    expect(r.stderr).toContain(`blocked connect to localhost:${b.port}`);
    expect(readFileSync(log, "utf8")).toContain(`"name":"localhost"`);
  });

  test("a socket whose connect failed can't be aimed again at the host's loopback (control: a new socket to that port, when allowed, reaches it)", async () => {
    const closed = await closedPort();
    const before = b.peers.length;
    const r = await client(`allow=127.0.0.1:${closed}`, ["reaim", "127.0.0.1", closed, b.port]);
    // A host socket is installed only once established: the non-blocking connect waits and
    // answers the refusal itself, and the payload keeps its own socket (no error pending).
    expect(r.result.first).toBe("ECONNREFUSED");
    expect(r.result.so_error).toBe(0);
    expect(r.result.second).toBe("ECONNREFUSED");
    expect(b.peers.length).toBe(before);
    expect(r.stderr).toContain(`blocked connect to 127.0.0.1:${b.port}`);
    const control = await client(`allow=127.0.0.1:${closed},127.0.0.1:${b.port}`, ["reaim", "127.0.0.1", closed, b.port]);
    expect(control.result).toEqual({ first: "ECONNREFUSED", so_error: 0, second: 0 });
    expect(b.peers.length).toBe(before + 1);
  });

  test("connect(AF_UNSPEC) on a socket nsbox connected outside is refused (EOPNOTSUPP) and the connection stays", async () => {
    const r = await client(`allow=127.0.0.1:${a.port}`, ["unspec", "127.0.0.1", a.port]);
    expect(r.result).toEqual({ result: -1, errno: 95 /* EOPNOTSUPP */, echo: "pong:ping" });
  });

  test("an IPv6 socket aimed at ::ffff:127.0.0.1 or ::1 stays in the sandbox (control: the IPv4 rule for that port lets the mapped address reach the host's server)", async () => {
    const before = b.peers.length;
    const mapped = await client(`allow=127.0.0.1:${a.port}`, ["connect6", "::ffff:127.0.0.1", b.port]);
    expect(mapped.result).toEqual({ error: "ECONNREFUSED" });
    const one = await client(`allow=127.0.0.1:${a.port}`, ["connect6", "::1", b.port]);
    expect(one.result).toEqual({ error: "ECONNREFUSED" });
    expect(b.peers.length).toBe(before);
    const control = await client(`allow=127.0.0.1:${b.port}`, ["connect6", "::ffff:127.0.0.1", b.port]);
    expect(control.result).toEqual({ echo: "pong:ping" });
    expect(b.peers.length).toBe(before + 1);
  });

  test("a socket already connected inside gets the kernel's EISCONN for an allowed destination, not a replacement (control: a new socket reaches it)", async () => {
    const before = a.peers.length;
    const r = await client(`allow=127.0.0.1:${a.port}`, ["connected", "127.0.0.1", a.port]);
    expect(r.result).toEqual({ second: "EISCONN", peer: true });
    expect(a.peers.length).toBe(before);
    const control = await client(`allow=127.0.0.1:${a.port}`, ["connect", "127.0.0.1", a.port]);
    expect(control.result).toEqual({ echo: "pong:ping" });
  });

  test("a blocking connect ends at SO_SNDTIMEO with ETIMEDOUT, where the host answers EINPROGRESS: no host socket is installed before it is established (control: the same client on the host)", async () => {
    // A host server that never accepts, its backlog full: a new connect waits for an answer to its SYN.
    const full = Bun.spawn([PYTHON, "-c", String.raw`
import socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(0)
port = srv.getsockname()[1]; held = []
for i in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(("127.0.0.1", port)); held.append(c)
time.sleep(0.3); print(port, flush=True); time.sleep(60)
`], { stdout: "pipe", stderr: "ignore" });
    try {
      const reader = full.stdout.getReader();
      const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
      const cwd = projectWithClient();
      const host = await collect([PYTHON, "client.py", "sndtimeo", "127.0.0.1", String(port)], { cwd, env });
      expect(JSON.parse(host.stdout)).toEqual({ result: "EINPROGRESS" });
      const r = await client(`allow=127.0.0.1:${port}`, ["sndtimeo", "127.0.0.1", port]);
      // A departure: EINPROGRESS would leave a host socket in SYN_SENT in the payload's hands,
      // which shutdown() turns back into an unconnected one, free to bind and listen on the host.
      expect(r.result).toEqual({ result: "ETIMEDOUT" });
    } finally {
      full.kill();
    }
  });

  test("--net none: the host's loopback is out of reach and an outside address is refused and reported (control: allowed, the same connect reaches the host's server)", async () => {
    const before = a.peers.length;
    const loop = await client("none", ["connect", "127.0.0.1", a.port]);
    expect(loop.result).toEqual({ error: "ECONNREFUSED" });
    expect(a.peers.length).toBe(before);
    const outside = await client("none", ["connect", "192.0.2.1", 80]);
    expect(outside.result).toEqual({ error: "ECONNREFUSED" });
    expect(outside.stderr).toContain("blocked connect to 192.0.2.1:80 (the network is off (--net none))");
    const control = await client(`allow=127.0.0.1:${a.port}`, ["connect", "127.0.0.1", a.port]);
    expect(control.result).toEqual({ echo: "pong:ping" });
  });

  test("a rule opening every port of the host's loopback (allow=127.0.0.1) leaves the proxy and the resolver inside reachable (control: a raw socket reaches the host's port)", async () => {
    const log = join(scratchDir(), "net.log");
    const proxied = await nsbox(["--net", "allow=127.0.0.1", "--net-log", log, "--", "curl", "-sS", `http://127.0.0.1:${a.port}/`], { env });
    expect(proxied.stdout).toBe("hello");
    expect(readFileSync(log, "utf8")).toContain(`"protocol":"http"`);
    const raw = await client("allow=127.0.0.1", ["connect", "127.0.0.1", a.port]);
    expect(raw.result).toEqual({ echo: "pong:ping" });
  });

  test("a program that uses the proxy variables (curl with HTTP_PROXY) keeps working, through the proxy (control: with --noproxy it goes directly)", async () => {
    const log = join(scratchDir(), "net.log");
    const url = `http://127.0.0.1:${a.port}/`;
    const proxied = await nsbox(["--net", `allow=127.0.0.1:${a.port}`, "--net-log", log, "--", "curl", "-sS", url], { env });
    expect(proxied.stdout).toBe("hello");
    expect(readFileSync(log, "utf8")).toContain(`"protocol":"http"`);
    const direct = await nsbox(["--net", `allow=127.0.0.1:${a.port}`, "--net-log", log, "--", "curl", "-sS", "--noproxy", "*", url], { env });
    expect(direct.stdout).toBe("hello");
    expect(readFileSync(log, "utf8")).toContain(`"protocol":"tcp"`);
  });
});
