// Transparent egress (issue 14), end to end: programs that ignore the proxy variables (Python
// sockets, nc, a TLS client, getaddrinfo, git over ssh, UDP, Unix sockets, C programs that
// re-aim a connected socket or race their own connect) against real servers this file starts on
// the host's loopback. Each sandboxed client runs with every proxy variable unset (`env -u …`:
// nsbox sets them inside), and each has a control: the same client on the host reaches what the
// sandbox must not, the same client in a sandbox without the rule is refused, and for the race a
// supervisor that checks and then answers CONTINUE (tests/fixtures/continue-supervisor.c) loses
// it. Servers count what they accepted, so that "refused" means the host never saw the
// connection, not only that the client gave up. The C fixtures are compiled with gcc; sshd, nc,
// python3 are Debian's (.ci/run installs them; a missing one fails with the apt-get line).
// scripts/test runs this file as root and as uid 1000.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { background, type Background, cleanedUp, collect, NSBOX, nsbox, ROOT, type Ran, scratchIn } from "./helpers.ts";

const PYTHON = "/usr/bin/python3"; // Debian's, visible inside (/usr is shared); not a pyenv shim under /root
const FIXTURES = join(ROOT, "tests", "fixtures");
const APT = "apt-get install -y openssh-server openssh-client netcat-openbsd gcc libc6-dev python3 curl git openssl";
const made = cleanedUp();

/** The caller's environment without proxy variables: what a sandbox has is nsbox's doing. */
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0])),
);
/** getaddrinfo's "no such name" (glibc); "try again" is -3 (EAI_AGAIN). */
const EAI_NONAME = -2;
/** Prefix for a command inside: runs it with every proxy variable nsbox set removed. */
const NO_PROXY_VARS = ["env", ...["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"].flatMap((n) => ["-u", n, "-u", n.toLowerCase()])];
const noProxyShell = NO_PROXY_VARS.join(" ");

/** Fail (never skip) when a program the test needs is missing, naming the line that installs it. */
function need(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${APT}`);
  return path;
}

/** A project directory (the sandbox's cwd) holding client.py. */
function project(): string {
  const dir = scratchIn(made);
  copyFileSync(join(FIXTURES, "egress-client.py"), join(dir, "client.py"));
  return dir;
}

type Result = { connected?: boolean; peer?: [string, number]; reply?: string; error?: string; gaierror?: number; addresses?: string[]; sent?: boolean; rcode?: number; answers?: string[]; status?: number; body?: string; server?: string };

function parse(ran: Ran): Result {
  const line = ran.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`the client printed no result: ${JSON.stringify(ran)}`);
  }
}

/** Every line of `text` as JSON (client.py prints one per run). */
const jsonLines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l));

/** client.py ARGS… inside `nsbox NET…`, with no proxy variables. */
async function inside(net: string[], args: string[], cwd = project()): Promise<{ ran: Ran; result: Result }> {
  const ran = await nsbox([...net, "--", ...NO_PROXY_VARS, PYTHON, "client.py", ...args], { cwd, env });
  return { ran, result: parse(ran) };
}

/** client.py ARGS… on the host: the control. */
async function onHost(args: string[]): Promise<Result> {
  const dir = project();
  return parse(await collect([need(PYTHON), join(dir, "client.py"), ...args], { cwd: dir, env }));
}

/** A shell script inside `nsbox NET…`. */
const shell = (net: string[], script: string, cwd = project()) => nsbox([...net, "--", "sh", "-c", script], { cwd, env });

/** nsbox's end-of-run lines about what it blocked. */
const blockedLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("nsbox: blocked"));

/** A TCP server on the host's 127.0.0.1 that counts the connections it accepted. */
interface Counting {
  port: number;
  accepted: number;
  stop(): void;
}

/** Echoes what it reads, and closes when the client has finished sending (nc -N, shutdown(SHUT_WR)). */
function echoServer(): Counting {
  const counter = { accepted: 0 };
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: { open: () => void counter.accepted++, data: (s, d) => void s.write(d), end: (s) => void s.end() },
  });
  return { port: server.port, get accepted() { return counter.accepted; }, stop: () => server.stop(true) };
}

/** Says `text` to each client and closes. */
function greetingServer(text: string): Counting {
  const counter = { accepted: 0 };
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (s) => { counter.accepted++; s.end(text); }, data() {} },
  });
  return { port: server.port, get accepted() { return counter.accepted; }, stop: () => server.stop(true) };
}

/** A TCP port nothing on the host's loopback listens on right now. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** An address of TEST-NET-1 (RFC 5737): outside the sandbox, routed nowhere, never a real server. */
const OUTSIDE = "192.0.2.1";

let allowed: Counting;
let other: Counting;
let tls: { port: number; stop(): void };
let tlsDir: string;
let udp: { port: number; received: number; stop(): void };

/** A test CA and a certificate it signed for localhost and 127.0.0.1 (openssl), in `dir`. */
function testCa(dir: string): void {
  const run = (argv: string[]) => {
    const r = Bun.spawnSync(argv, { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (${APT}): ${r.stderr.toString()}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(["openssl", "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=nsbox egress test CA"]);
  run(["openssl", "req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"]);
}

beforeAll(() => {
  allowed = echoServer();
  other = greetingServer("other server\n");
  tlsDir = scratchIn(made);
  testCa(tlsDir);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(join(tlsDir, "server.pem"), "utf8"), key: readFileSync(join(tlsDir, "server.key"), "utf8") },
    fetch: (req) => new Response(`tls ${new URL(req.url).pathname}\n`),
  });
  tls = { port: server.port!, stop: () => server.stop(true) };
});

afterAll(() => {
  allowed?.stop();
  other?.stop();
  tls?.stop();
  udp?.stop();
});

describe("raw TCP without proxy variables (Python socket, nc)", () => {
  test("control: on the host, the Python client and nc reach both servers", async () => {
    const before = [allowed.accepted, other.accepted];
    expect(await onHost(["tcp", "127.0.0.1", String(allowed.port), "ping\n"])).toEqual({ connected: true, peer: ["127.0.0.1", allowed.port], reply: "ping\n" });
    expect(await onHost(["tcp", "127.0.0.1", String(other.port)])).toEqual({ connected: true, peer: ["127.0.0.1", other.port], reply: "other server\n" });
    const nc = await collect(["sh", "-c", `printf 'nc ping\\n' | ${need("/usr/bin/nc")} -N -w 10 127.0.0.1 ${allowed.port}; ${noProxyShell} nc -w 10 127.0.0.1 ${other.port}`], { env });
    expect(nc).toEqual({ exitCode: 0, stdout: "nc ping\nother server\n", stderr: "" });
    expect([allowed.accepted - before[0]!, other.accepted - before[1]!]).toEqual([2, 2]);
  });

  test("--net allow=127.0.0.1:PORT: the Python client reaches the allowed host server (getpeername names it)", async () => {
    const before = allowed.accepted;
    const { ran, result } = await inside(["--net", `allow=127.0.0.1:${allowed.port}`], ["tcp", "127.0.0.1", String(allowed.port), "ping from python\n"]);
    expect(result).toEqual({ connected: true, peer: ["127.0.0.1", allowed.port], reply: "ping from python\n" });
    expect(allowed.accepted - before).toBe(1);
    expect(ran.exitCode).toBe(0);
    expect(blockedLines(ran.stderr)).toEqual([]);
  });

  test("--net allow=127.0.0.1:PORT: nc reaches the allowed host server", async () => {
    const before = allowed.accepted;
    const r = await shell(["--net", `allow=127.0.0.1:${allowed.port}`], `printf 'nc ping\\n' | ${noProxyShell} nc -N -w 10 127.0.0.1 ${allowed.port}; echo "nc: $?"`);
    expect(r.stdout).toBe("nc ping\nnc: 0\n");
    expect(allowed.accepted - before).toBe(1);
  });

  test("a loopback port not in the rules is refused and the host server sees nothing (Python, nc)", async () => {
    const before = other.accepted;
    const net = ["--net", `allow=127.0.0.1:${allowed.port}`];
    const { result } = await inside(net, ["tcp", "127.0.0.1", String(other.port)]);
    expect(result).toEqual({ error: "ECONNREFUSED" });
    const r = await shell(net, `${noProxyShell} nc -w 10 127.0.0.1 ${other.port}; echo "nc: $?"`);
    expect(r.stdout).toBe("nc: 1\n");
    expect(other.accepted - before).toBe(0);
  });

  test("an outside address not in the rules is refused by nsbox (ECONNREFUSED, not 'network unreachable') and reported", async () => {
    const net = ["--net", `allow=127.0.0.1:${allowed.port}`];
    const { ran, result } = await inside(net, ["tcp", OUTSIDE, "9"]);
    // Without nsbox deciding, the sandbox's namespace (only lo) answers ENETUNREACH.
    expect(result).toEqual({ error: "ECONNREFUSED" });
    expect(blockedLines(ran.stderr)).toEqual([`nsbox: blocked connect to ${OUTSIDE}:9 (not in --net allow)`]);
  });

  test("--net none: the allowed server is not reached either", async () => {
    const before = allowed.accepted;
    const { result } = await inside(["--net", "none"], ["tcp", "127.0.0.1", String(allowed.port)]);
    expect(result).toEqual({ error: "ECONNREFUSED" });
    expect(allowed.accepted - before).toBe(0);
  });
});

describe("TLS without proxy variables", () => {
  test("control: on the host, Python's ssl and curl fetch from the test CA's server", async () => {
    const ca = join(tlsDir, "ca.pem");
    expect(await onHost(["tls", "localhost", String(tls.port), ca, "/host"])).toEqual({ status: 200, body: "tls /host\n" });
    const r = await collect(["curl", "-sS", "--noproxy", "*", "--cacert", ca, `https://127.0.0.1:${tls.port}/host-curl`], { env });
    expect(r).toEqual({ exitCode: 0, stdout: "tls /host-curl\n", stderr: "" });
  });

  /** A project holding client.py and the test CA's certificate. */
  const withCa = () => {
    const dir = project();
    copyFileSync(join(tlsDir, "ca.pem"), join(dir, "ca.pem"));
    return dir;
  };

  test("--net allow=localhost:PORT: Python's ssl fetches https://localhost:PORT, the certificate checked", async () => {
    const { ran, result } = await inside(["--net", `allow=localhost:${tls.port}`], ["tls", "localhost", String(tls.port), "ca.pem", "/python"], withCa());
    expect(result).toEqual({ status: 200, body: "tls /python\n" });
    expect(ran.exitCode).toBe(0);
  });

  test("--net allow=127.0.0.1:PORT: curl --noproxy '*' fetches https://127.0.0.1:PORT", async () => {
    const r = await shell(["--net", `allow=127.0.0.1:${tls.port}`], `${noProxyShell} curl -sS --noproxy '*' --cacert ca.pem https://127.0.0.1:${tls.port}/curl`, withCa());
    expect(r).toEqual({ exitCode: 0, stdout: "tls /curl\n", stderr: "" });
  });

  test("control: without the rule (another port allowed), both are refused", async () => {
    const net = ["--net", `allow=localhost:${allowed.port}`];
    const { result } = await inside(net, ["tls", "localhost", String(tls.port), "ca.pem", "/python"], withCa());
    expect(result).toEqual({ error: "ECONNREFUSED" });
    const r = await shell(net, `${noProxyShell} curl -sS --noproxy '*' --cacert ca.pem https://127.0.0.1:${tls.port}/curl 2>/dev/null; echo "curl: $?"`, withCa());
    expect(r.stdout).toBe("curl: 7\n");
  });
});

describe("names: getaddrinfo and the sandbox's resolver", () => {
  const BLOCKED_NAME = "nsbox-e2e-blocked.invalid";

  test("/etc/resolv.conf inside names nsbox's resolver under --net allow= and --net none", async () => {
    for (const net of [["--net", `allow=localhost:${allowed.port}`], ["--net", "none"]]) {
      const r = await shell(net, "cat /etc/resolv.conf");
      expect(r.stdout.split("\n").filter((l) => /^\s*nameserver/.test(l))).toEqual(["nameserver 127.0.0.53"]);
    }
  });

  test("the resolver answers a DNS query for an allowed name (localhost: the rule names it) with its loopback address", async () => {
    const { result } = await inside(["--net", `allow=localhost:${allowed.port}`], ["dns", "localhost"]);
    expect(result).toEqual({ server: "127.0.0.53", rcode: 0, answers: ["127.0.0.1"] });
  });

  test("getaddrinfo resolves the allowed name, and the Python client reaches the host server through it", async () => {
    const net = ["--net", `allow=localhost:${allowed.port}`];
    const { result } = await inside(net, ["resolve", "localhost"]);
    expect(result.addresses).toContain("127.0.0.1");
    const before = allowed.accepted;
    const tcp = await inside(net, ["tcp", "localhost", String(allowed.port), "by name\n"]);
    expect(tcp.result).toEqual({ connected: true, peer: ["127.0.0.1", allowed.port], reply: "by name\n" });
    expect(allowed.accepted - before).toBe(1);
  });

  test("getaddrinfo fails for a name no rule allows (EAI_NONAME: the resolver says NXDOMAIN), and the lookup is reported", async () => {
    const net = ["--net", `allow=localhost:${allowed.port}`];
    const { ran, result } = await inside(net, ["resolve", BLOCKED_NAME]);
    // -2 is EAI_NONAME; without a resolver inside, the C library gives up with -3 (EAI_AGAIN).
    expect(result).toEqual({ gaierror: EAI_NONAME });
    const dns = await inside(net, ["dns", BLOCKED_NAME]);
    expect(dns.result).toEqual({ server: "127.0.0.53", rcode: 3, answers: [] });
    expect(blockedLines(ran.stderr).filter((l) => l.includes(BLOCKED_NAME))).toHaveLength(1);
  });

  test("--net none: a failed lookup makes the payload's failure end with one note naming the name and the option", async () => {
    const r = await shell(["--net", "none"], `${noProxyShell} ${PYTHON} client.py resolve ${BLOCKED_NAME}; ${noProxyShell} ${PYTHON} client.py resolve ${BLOCKED_NAME}; exit 3`);
    expect(r.exitCode).toBe(3);
    expect(jsonLines(r.stdout)).toEqual([{ gaierror: EAI_NONAME }, { gaierror: EAI_NONAME }]);
    expect(r.stderr.split(`--net allow=${BLOCKED_NAME}`)).toHaveLength(2);
  });

  test("control: on the host, getaddrinfo resolves localhost and fails for the .invalid name", async () => {
    expect((await onHost(["resolve", "localhost"])).addresses).toContain("127.0.0.1");
    expect((await onHost(["resolve", BLOCKED_NAME])).gaierror).toBeDefined();
  });
});

describe("UDP", () => {
  beforeAll(async () => {
    const counter = { received: 0 };
    const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: () => void counter.received++ } });
    udp = { port: s.port, get received() { return counter.received; }, stop: () => s.close() };
  });

  test("control: on the host, sendto and sendmsg reach the UDP server", async () => {
    const before = udp.received;
    expect(await onHost(["udp", "127.0.0.1", String(udp.port), "sendto"])).toEqual({ sent: true });
    expect(await onHost(["udp", "127.0.0.1", String(udp.port), "sendmsg"])).toEqual({ sent: true });
    expect(await eventuallyAtLeast(() => udp.received - before, 2)).toBe(2);
  });

  test("sendto and sendmsg to an outside address are refused with EPERM, and reported", async () => {
    const net = ["--net", `allow=127.0.0.1:${allowed.port}`];
    for (const how of ["sendto", "sendmsg"]) {
      const { ran, result } = await inside(net, ["udp", OUTSIDE, "53", how]);
      // Without nsbox deciding, the sandbox's namespace (only lo) answers ENETUNREACH.
      expect(result).toEqual({ error: "EPERM" });
      expect(blockedLines(ran.stderr).filter((l) => l.includes(`${OUTSIDE}:53`))).toHaveLength(1);
    }
  });

  test("UDP to 127.0.0.1 never reaches the host's loopback, even with a rule for its port: the host server receives nothing", async () => {
    const before = udp.received;
    const net = ["--net", `allow=127.0.0.1:${udp.port}`];
    for (const how of ["sendto", "sendmsg"]) {
      const { result } = await inside(net, ["udp", "127.0.0.1", String(udp.port), how]);
      // Refused (EPERM), or sent to the sandbox's own lo, where nothing listens: never a host socket.
      expect([{ error: "EPERM" }, { sent: true }] as Result[]).toContainEqual(result);
    }
    await Bun.sleep(200); // a datagram that got out would have arrived by now (loopback)
    expect(udp.received - before).toBe(0);
  });
});

/** Poll `value` until it reaches `want` (or a generous deadline passes); returns the last value. */
async function eventuallyAtLeast(value: () => number, want: number, ms = 10_000): Promise<number> {
  const end = Date.now() + ms;
  while (value() < want && Date.now() < end) await Bun.sleep(20);
  return value();
}

describe("Unix sockets in the project", () => {
  // nsbox hides the sockets it finds at the top of a share or one directory down (and refuses to
  // share a current directory that holds one); this one is deeper, where only the connect is refused.
  const DEEP = "run/service/host.sock";

  /** A host process's socket (at `where` in `dir`): counts connections and bytes, answers what it read. */
  function hostServer(dir: string, where: string) {
    const counter = { accepted: 0, bytes: 0 };
    const server = Bun.listen({
      unix: join(dir, where),
      allowHalfOpen: true,
      socket: { open: () => void counter.accepted++, data: (_s, d) => void (counter.bytes += d.length), end: (s) => void s.end(`made by the host, got ${counter.bytes} bytes\n`) },
    });
    return { dir, path: join(dir, where), get accepted() { return counter.accepted; }, get bytes() { return counter.bytes; }, stop: () => server.stop(true) };
  }

  /** A host process's socket deep in a fresh project. */
  function hostSocket() {
    const dir = project();
    mkdirSync(join(dir, "run/service"), { recursive: true });
    return hostServer(dir, DEEP);
  }

  test("control: on the host, the client reaches the host process's socket", async () => {
    const host = hostSocket();
    try {
      expect(await onHost(["unix", host.path, "hello\n"])).toEqual({ connected: true, reply: "made by the host, got 6 bytes\n" });
      expect([host.accepted, host.bytes]).toEqual([1, 6]);
    } finally {
      host.stop();
    }
  });

  test("--net none: a socket a host process made in the project is refused (ECONNREFUSED) and reported; the host process gets nothing from the payload", async () => {
    const host = hostSocket();
    try {
      const { ran, result } = await inside(["--net", "none"], ["unix", DEEP, "hello\n"], host.dir);
      expect(result).toEqual({ error: "ECONNREFUSED" });
      expect(host.bytes).toBe(0);
      expect(blockedLines(ran.stderr).filter((l) => l.includes("host.sock"))).toHaveLength(1);
    } finally {
      host.stop();
    }
  });

  // nsbox must not be the one who connects either: a connection alone is an action for some
  // services (a systemd socket-activated unit starts its daemon on the first connect; an
  // accept-and-fork server runs a child). The check "was this socket made inside?" can be
  // answered without connecting (sock_diag in the sandbox's network namespace lists the (dev,
  // ino) of every path socket bound there); a probe connect from nsbox reaches the host service.
  test("--net none: deciding that refusal does not connect to the host process's socket at all (no probe from nsbox)", async () => {
    const host = hostSocket();
    try {
      const { result } = await inside(["--net", "none"], ["unix", DEEP, "hello\n"], host.dir);
      expect(result).toEqual({ error: "ECONNREFUSED" });
      await Bun.sleep(200); // a connection that was made has been accepted by now
      expect(host.accepted).toBe(0);
    } finally {
      host.stop();
    }
  });

  test("--net none: a socket a host process makes at the top of the project after the start is refused too", async () => {
    const dir = project();
    const run = background([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--net", "none", "--", "sh", "-c", [
      "echo ready",
      "for i in $(seq 400); do [ -S host.sock ] && break; sleep 0.05; done",
      `${noProxyShell} ${PYTHON} client.py unix host.sock hello`,
    ].join("\n")], { cwd: dir, env });
    let host: ReturnType<typeof hostServer> | undefined;
    try {
      expect(await run.waitFor("ready\n")).toBe(true);
      host = hostServer(dir, "host.sock");
      const end = await run.finish();
      expect(jsonLines(end.stdout.replace("ready\n", ""))).toEqual([{ error: "ECONNREFUSED" }]);
      expect(host.bytes).toBe(0);
    } finally {
      host?.stop();
      run.proc.kill(9);
    }
  });

  test("--net none: a socket made inside the sandbox works", async () => {
    const r = await shell(["--net", "none"], [
      `${PYTHON} client.py unix-serve inner.sock > served.json &`,
      `for i in $(seq 400); do [ -s served.json ] && break; sleep 0.05; done`,
      `${PYTHON} client.py unix inner.sock`,
      `wait`,
    ].join("\n"));
    expect(jsonLines(r.stdout)).toEqual([{ connected: true, reply: "made inside\n" }]);
    expect(r.exitCode).toBe(0);
  });
});

describe("git clone over ssh from an sshd on the host's loopback", () => {
  const user = Bun.spawnSync(["id", "-un"]).stdout.toString().trim();
  let sshd: Background | undefined;
  let sshPort = 0;
  let dir = "";
  let ssh = "";

  beforeAll(async () => {
    need("/usr/sbin/sshd");
    need("/usr/bin/ssh");
    if (!user) throw new Error(`uid ${process.getuid!()} has no name in /etc/passwd: sshd logs in only a user it knows (useradd -u ${process.getuid!()} -m nsbox-test)`);
    dir = scratchIn(made);
    const keygen = (file: string) => {
      const r = Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nsbox-e2e", "-f", join(dir, file)], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`ssh-keygen failed (${APT}): ${r.stderr.toString()}`);
    };
    keygen("host_key");
    keygen("client_key");
    copyFileSync(join(dir, "client_key.pub"), join(dir, "authorized_keys"));
    // A bare repository with one commit, to be cloned.
    const git = (args: string[], cwd: string) => {
      const r = Bun.spawnSync(["git", "-c", "user.name=nsbox", "-c", "user.email=nsbox@example.invalid", "-c", "init.defaultBranch=main", ...args], { cwd, stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr.toString()}`);
    };
    mkdirSync(join(dir, "work"));
    git(["init", "-q"], join(dir, "work"));
    writeFileSync(join(dir, "work", "README"), "cloned over ssh\n");
    git(["add", "README"], join(dir, "work"));
    git(["commit", "-q", "-m", "first"], join(dir, "work"));
    git(["clone", "-q", "--bare", join(dir, "work"), join(dir, "repo.git")], dir);
    for (let attempt = 0; attempt < 5 && !sshd; attempt++) {
      sshPort = freePort();
      writeFileSync(join(dir, "sshd_config"), [
        `Port ${sshPort}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${join(dir, "host_key")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "UsePAM no",
        "StrictModes no",
        "PidFile none",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "",
      ].join("\n"));
      // As root, sshd wants its privilege-separation directory /run/sshd: when the host has none,
      // a tmpfs /run in a mount namespace of its own gives it one without touching the host's /run.
      const argv = process.getuid!() === 0 && !existsSync("/run/sshd")
        ? ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f "$1" 2>&1', "sh", join(dir, "sshd_config")]
        : ["sh", "-c", 'exec /usr/sbin/sshd -D -e -f "$1" 2>&1', "sh", join(dir, "sshd_config")];
      const started = background(argv, { cwd: dir, env });
      if (await started.waitFor(`Server listening on 127.0.0.1 port ${sshPort}`)) sshd = started;
      else {
        started.proc.kill();
        const end = await started.finish();
        if (!end.stdout.includes("Address already in use")) throw new Error(`sshd did not start: ${end.stdout}${end.stderr}`);
      }
    }
    if (!sshd) throw new Error("sshd found no free port");
    ssh = `ssh -i ./client_key -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10`;
  });

  afterAll(() => {
    sshd?.proc.kill();
  });

  /** A project holding a copy of the client key (0600: ssh refuses a readable one). */
  const withKey = () => {
    const cwd = project();
    copyFileSync(join(dir, "client_key"), join(cwd, "client_key"));
    chmodSync(join(cwd, "client_key"), 0o600);
    return cwd;
  };
  /** What git printed, less sshd's note when the user's home directory is missing (uid 1000 on a bare CI machine). */
  const quiet = (r: Ran) => ({ ...r, stderr: r.stderr.replace(/^Could not chdir to home directory .*\n/m, "") });
  // Inside, the clone goes to the sandbox's private /tmp: a .git made in the shared project is
  // moved aside at exit (the host would run its hooks), which is another test's business.
  const clone = (into = "/tmp/clone") => `${noProxyShell} GIT_SSH_COMMAND="${ssh}" git clone -q ssh://${user}@127.0.0.1:${sshPort}${join(dir, "repo.git")} ${into} && cat ${into}/README`;

  test("control: on the host, git clone over ssh works", async () => {
    const r = quiet(await collect(["sh", "-c", clone("clone")], { cwd: withKey(), env }));
    expect(r).toEqual({ exitCode: 0, stdout: "cloned over ssh\n", stderr: "" });
  });

  test("--net allow=127.0.0.1:PORT: git clone over ssh works inside", async () => {
    const r = quiet(await shell(["--net", `allow=127.0.0.1:${sshPort}`], clone(), withKey()));
    expect(r).toEqual({ exitCode: 0, stdout: "cloned over ssh\n", stderr: "" });
  });

  test("control: without the rule (another port allowed), ssh is refused", async () => {
    const r = await shell(["--net", `allow=127.0.0.1:${allowed.port}`], `{ ${clone()}; } 2>err; echo "git: $?"; grep -c 'Connection refused' err`, withKey());
    expect(r.stdout).toBe("git: 128\n1\n");
  });
});

/** tests/fixtures/NAME.c compiled with gcc (or cc), once per run: the executable's path. */
const binaries = new Map<string, string>();
function compiled(name: string): string {
  const known = binaries.get(name);
  if (known) return known;
  const cc = ["/usr/bin/gcc", "/usr/bin/cc"].find(existsSync);
  if (!cc) throw new Error(`no C compiler (gcc or cc): ${APT}`);
  const out = join(scratchIn(made), name);
  const r = Bun.spawnSync([cc, "-O2", "-pthread", "-o", out, join(FIXTURES, `${name}.c`)], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`compiling tests/fixtures/${name}.c failed (${APT}): ${r.stderr.toString()}`);
  chmodSync(out, 0o755);
  binaries.set(name, out);
  return out;
}

/** A copy of a compiled fixture in a fresh project (the sandbox's cwd): [cwd, "./NAME"]. */
function inProject(name: string): [string, string] {
  const cwd = project();
  copyFileSync(compiled(name), join(cwd, name));
  chmodSync(join(cwd, name), 0o755);
  return [cwd, `./${name}`];
}

describe("re-aiming a host socket: connect(AF_UNSPEC) and connect again, by every entry", () => {
  // Under transparent egress the allowed connect puts a HOST socket in the payload's hands; a
  // disconnect (AF_UNSPEC) and a second connect, by a path the check might not see, would aim
  // it anywhere. tests/fixtures/egress-escape.c connects to the allowed port, then tries.
  type Escape = { first: number; unspec: number; second: number; peer: number };
  const ENOSYS = 38;

  /** egress-escape MODE on the host (net undefined) or inside; what it printed and what the servers saw. */
  async function escape(mode: string, net?: string[]) {
    const before = [allowed.accepted, other.accepted];
    const [cwd, program] = inProject("egress-escape");
    const argv = [program, mode, String(allowed.port), String(other.port)];
    const ran = net ? await nsbox([...net, "--", ...NO_PROXY_VARS, ...argv], { cwd, env }) : await collect(argv, { cwd, env });
    await Bun.sleep(200); // a connection that was made has been accepted by now
    let printed: Escape | undefined;
    try {
      printed = JSON.parse(ran.stdout.trim());
    } catch {
      printed = undefined; // killed before it could say (SIGSYS for a foreign entry)
    }
    return { ran, printed, served: { allowed: allowed.accepted - before[0]!, blocked: other.accepted - before[1]! } };
  }

  const entries: [string, string][] = [
    ["unspec", "connect(AF_UNSPEC) then connect"],
    ["int80", "the i386 entry (int $0x80)"],
    ["x32", "the x32 entry"],
    ["fastopen", "connect(AF_UNSPEC) then sendto(MSG_FASTOPEN)"],
  ];
  for (const [mode, label] of entries) {
    test(`control: on the host, ${label} re-aims the connected socket at the other port${mode === "x32" || mode === "int80" ? " (or this kernel lacks that entry)" : ""}`, async () => {
      const { printed, served } = await escape(mode);
      // A kernel without the i386 entry (no IA32 emulation, or ia32_emulation=0) faults int $0x80: killed, nothing sent.
      if (mode === "int80" && printed === undefined) expect(served).toEqual({ allowed: 1, blocked: 0 });
      else if (mode === "x32" && printed?.unspec === ENOSYS) expect([printed, served]).toEqual([{ first: 0, unspec: ENOSYS, second: ENOSYS, peer: allowed.port }, { allowed: 1, blocked: 0 }]);
      // (After Fast Open's data the other server's close may reset the socket first: its peer is then unknown.)
      else expect([printed, served]).toEqual([{ first: 0, unspec: 0, second: 0, peer: mode === "fastopen" ? expect.any(Number) : other.port }, { allowed: 1, blocked: 1 }]);
    });

    test(`--net allow=127.0.0.1:ALLOWED: the allowed connect works, and ${label} never re-aims it at the blocked port`, async () => {
      const { printed, served } = await escape(mode, ["--net", `allow=127.0.0.1:${allowed.port}`]);
      expect(served).toEqual({ allowed: 1, blocked: 0 });
      // Killed (a foreign entry: SIGSYS) or told no, and still connected where it was allowed.
      if (printed) {
        expect(printed.first).toBe(0);
        expect(printed.second).not.toBe(0);
        expect(printed.peer).toBe(allowed.port);
      }
    });
  }
});

describe("the race: a second thread rewrites the address while the first connects", () => {
  const TRIES = 10_000;
  let naive = "";

  beforeAll(() => {
    naive = compiled("continue-supervisor");
  });

  /** Run the racer on the host (net undefined) or inside, blocking or not; its counts, and the servers'. */
  async function runRace(net: string[] | "naive" | undefined, how: "blocking" | "nonblock", a: Counting, b: Counting) {
    const before = [a.accepted, b.accepted];
    const [cwd, program] = inProject("egress-race");
    const argv = [program, String(a.port), String(b.port), String(TRIES), "127.0.0.1", how];
    const ran = net === "naive" ? await collect([naive, String(a.port), ...argv], { cwd, env })
      : net ? await nsbox([...net, "--", ...NO_PROXY_VARS, ...argv], { cwd, env })
      : await collect(argv, { cwd, env });
    expect(ran.exitCode).toBe(0);
    const counts = JSON.parse(ran.stdout.trim()) as { allowed: number; blocked: number; refused: number; other: number; lastErrno: number };
    // Let the servers' accept loops catch up with what the kernel already completed.
    await Bun.sleep(300);
    return { ran, counts, served: { allowed: a.accepted - before[0]!, blocked: b.accepted - before[1]! } };
  }

  for (const how of ["blocking", "nonblock"] as const) {
    const label = how === "blocking" ? "blocking" : "non-blocking (EINPROGRESS, poll)";
    test(`control: on the host, ${TRIES} racing ${label} connects reach both ports`, async () => {
      const { counts, served } = await runRace(undefined, how, allowed, other);
      expect(counts.allowed).toBeGreaterThan(0);
      expect(counts.blocked).toBeGreaterThan(0);
      expect(counts.allowed + counts.blocked).toBe(TRIES);
      expect(served.blocked).toBeGreaterThan(0);
    }, 120_000);

    // The control that matters: a supervisor that checks the address and then lets the kernel
    // read it again (SECCOMP_USER_NOTIF_FLAG_CONTINUE) loses this race, so the test can see it.
    test(`control: under a check-then-CONTINUE supervisor, ${TRIES} racing ${label} connects reach the blocked port`, async () => {
      const { counts, served } = await runRace("naive", how, allowed, other);
      expect(counts.blocked).toBeGreaterThan(0);
      expect(served.blocked).toBeGreaterThan(0);
    }, 120_000);

    test(`--net allow=127.0.0.1:ALLOWED: ${TRIES} racing ${label} connects never reach the blocked port, and do reach the allowed one`, async () => {
      const { ran, counts, served } = await runRace(["--net", `allow=127.0.0.1:${allowed.port}`], how, allowed, other);
      expect(counts.blocked).toBe(0);
      expect(served.blocked).toBe(0);
      // The control inside: the same program reaches the allowed server through nsbox.
      expect(counts.allowed).toBeGreaterThan(0);
      expect(served.allowed).toBeGreaterThan(0);
      // The blocked port, when the kernel read it, is the sandbox's own lo: refused there.
      expect(counts).toMatchObject({ other: 0, allowed: TRIES - counts.refused });
      expect(ran.stderr).not.toContain("nsbox: proxy");
    }, 300_000);
  }
});

describe("--net-log: the transparent decisions, with the name the payload used", () => {
  test("an allowed connect by name, a blocked connect and a blocked lookup each write a JSON line", async () => {
    const cwd = project();
    const log = join(cwd, "net.jsonl");
    const r = await shell(["--net", `allow=localhost:${allowed.port}`, "--net-log", log], [
      `${noProxyShell} ${PYTHON} client.py tcp localhost ${allowed.port} logged`,
      `${noProxyShell} ${PYTHON} client.py tcp ${OUTSIDE} 9`,
      `${noProxyShell} ${PYTHON} client.py resolve nsbox-e2e-logged.invalid`,
    ].join("\n"), cwd);
    expect(jsonLines(r.stdout)).toEqual([{ connected: true, peer: ["127.0.0.1", allowed.port], reply: "logged" }, { error: "ECONNREFUSED" }, { gaierror: EAI_NONAME }]);
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(events).toContainEqual(expect.objectContaining({ action: "allow", protocol: "tcp", host: "localhost", port: allowed.port, address: "127.0.0.1" }));
    expect(events).toContainEqual(expect.objectContaining({ action: "block", protocol: "tcp", host: OUTSIDE, port: 9, reason: "not in --net allow" }));
    expect(events).toContainEqual(expect.objectContaining({ action: "block", protocol: "dns", host: "nsbox-e2e-logged.invalid" }));
  });
});

describe("programs that use the proxy variables keep working", () => {
  test("curl with its defaults (HTTP_PROXY) reaches an allowed server through nsbox's proxy", async () => {
    const web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`web ${new URL(req.url).pathname}\n`) });
    try {
      const cwd = project();
      const log = join(cwd, "net.jsonl");
      const r = await nsbox(["--net", `allow=127.0.0.1:${web.port}`, "--net-log", log, "--", "sh", "-c", `echo "$HTTP_PROXY"; curl -sS -f http://127.0.0.1:${web.port}/via-proxy`], { cwd, env });
      expect(r).toEqual({ exitCode: 0, stdout: `http://127.0.0.1:3128\nweb /via-proxy\n`, stderr: "" });
      const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
      expect(events.map((e) => [e.protocol, e.action, e.host, e.port])).toContainEqual(["http", "allow", "127.0.0.1", web.port]);
    } finally {
      web.stop(true);
    }
  });
});

describe("the network mode is named", () => {
  /** What the kernel offers: transparent needs >= 5.14, user_notif, and Yama ptrace_scope absent or <= 1. */
  function expectedMode(): "transparent" | "proxy" {
    const [major = 0, minor = 0] = release().split(".").map((n) => parseInt(n, 10));
    const actions = (() => {
      try {
        return readFileSync("/proc/sys/kernel/seccomp/actions_avail", "utf8").split(/\s+/);
      } catch {
        return [];
      }
    })();
    const yama = (() => {
      try {
        return Number(readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8"));
      } catch {
        return 0;
      }
    })();
    return (major > 5 || (major === 5 && minor >= 14)) && actions.includes("user_notif") && yama <= 1 ? "transparent" : "proxy";
  }

  test("nsbox doctor says which network mode is active", async () => {
    const r = await nsbox(["doctor"], { env });
    expect(r.stdout).toMatch(expectedMode() === "transparent" ? /transparent/ : /proxy \(/);
  }, 120_000);

  test("--verbose says which network mode a run uses", async () => {
    const r = await nsbox(["--verbose", "--net", `allow=127.0.0.1:${allowed.port}`, "--", "true"], { env });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(expectedMode() === "transparent" ? /transparent/ : /proxy \(/);
  });
});
