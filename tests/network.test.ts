// Networking: --net none | host | allow=RULES, the proxy a sandbox reaches at 127.0.0.1:3128
// (HTTP CONNECT, plain HTTP, SOCKS5), what it refuses and how it says so, against real servers
// this file starts on the host's loopback.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as dns from "node:dns/promises";
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import { dirname, join } from "node:path";
import { NSBOX, nsbox, scratchDir, type Ran } from "./helpers.ts";

const BUN = process.execPath;
/** Bun must be visible inside: it is when it lives under /usr (shared read-only); otherwise share its directory. */
const bunMount = /^\/(usr|bin|sbin|lib)\//.test(BUN) ? [] : ["--ro", dirname(BUN)];

/** The caller's environment without proxy variables, so that what a sandbox has is nsbox's doing. */
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0])),
);

// A self-signed certificate for localhost, 127.0.0.1 and ::1 (EC P-256, valid 2000–2099), made
// once with openssl so that the test needs no openssl. Test-only: it protects nothing.
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT6gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEyMzU5NTlaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKU4PTpStwavzaf8
9bISPjPPx+2s1Nomaaz6MJeUgQfQgzv7B2HvSTCaSknFaxSNFlrYyM4KVFuMeph4
4G7MF6qjfzB9MAwGA1UdEwEB/wQCMAAwLAYDVR0RBCUwI4IJbG9jYWxob3N0hwR/
AAABhxAAAAAAAAAAAAAAAAAAAAABMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggr
BgEFBQcDATAdBgNVHQ4EFgQUDwK+doGiCOAtrvi+kIP1ralDV5EwCgYIKoZIzj0E
AwIDSAAwRQIhAJhwk8auFB+5Nko6cULeHMJLzJbuFoO+XaUQ/Irx2/bBAiB0WJCL
1dQEPRDLDS4Sz6U8knUR36qpLtr3xw3xnbpjhA==
-----END CERTIFICATE-----
`;
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgz0ara7nkPc9FORPi
fkibQn4oW+uUgrdy5SLfDovr636hRANCAASlOD06UrcGr82n/PWyEj4zz8ftrNTa
Jmms+jCXlIEH0IM7+wdh70kwmkpJxWsUjRZa2MjOClRbjHqYeOBuzBeq
-----END PRIVATE KEY-----
`;

// A small client the sandbox runs with Bun, printing one JSON line:
//   direct HOST PORT                      connect straight to HOST:PORT, around the proxy
//   connect HOST PORT PAYLOAD [WANT]      CONNECT through the proxy, send PAYLOAD, wait for WANT (default PAYLOAD) or close
//   connect-half HOST PORT PAYLOAD        the same, then shut down writing (as `nc -N` does) and wait for the answer
//   get HOST PORT                         a plain-HTTP proxy request for http://HOST:PORT/get (the host as written, unnormalised)
const CLIENT = String.raw`
import { connect } from "node:net";
const [mode, host, port, payload = "", want = payload] = process.argv.slice(2);
const done = (r) => { console.log(JSON.stringify(r)); process.exit(0); };
setTimeout(() => done({ error: "timeout" }), 20000);
if (mode === "direct") {
  const s = connect(Number(port), host, () => done({ connected: true }));
  s.on("error", (e) => done({ error: e.code }));
} else {
  const target = host + ":" + port;
  const s = connect(3128, "127.0.0.1", () => s.write(mode === "get"
    ? "GET http://" + target + "/get HTTP/1.1\r\nHost: " + target + "\r\nConnection: close\r\n\r\n"
    : "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"));
  let head = "", body = "", status;
  const finish = () => done({ status, body });
  s.on("data", (d) => {
    if (status === undefined) {
      head += d.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      status = Number(head.split(" ")[1]);
      body = head.slice(end + 4);
      if (mode !== "get" && status === 200) {
        s.write(payload);
        if (mode === "connect-half") s.end();
      }
    } else body += d.toString("latin1");
    if (mode !== "get" && status === 200 && want && body.includes(want)) finish();
  });
  s.on("close", finish);
  s.on("error", (e) => done({ error: e.code }));
}
`;

const made: string[] = [];
/** A scratch directory (the sandbox's cwd) holding client.mjs and ca.pem; removed after the file's tests. */
function workdir(): string {
  const dir = scratchDir();
  made.push(dir);
  writeFileSync(join(dir, "client.mjs"), CLIENT);
  writeFileSync(join(dir, "ca.pem"), TLS_CERT);
  return dir;
}

/** Run `nsbox NET… -- sh -c SCRIPT` in a fresh work directory. */
function inside(net: string[], script: string, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Ran> {
  return nsbox([...bunMount, ...net, "--", "sh", "-c", script], { cwd: opts.cwd ?? workdir(), env: opts.env ?? env });
}

/** Run the client inside: `bun client.mjs ARGS…`, parsed. */
async function client(net: string[], args: string[], runEnv: Record<string, string> = env): Promise<{ ran: Ran; result: { status?: number; body?: string; error?: string; connected?: boolean } }> {
  const ran = await nsbox([...bunMount, ...net, "--", BUN, "client.mjs", ...args], { cwd: workdir(), env: runEnv });
  let result = {};
  try {
    result = JSON.parse(ran.stdout.trim());
  } catch {
    throw new Error(`client printed no result: ${JSON.stringify(ran)}`);
  }
  return { ran, result };
}

const blockedLine = (host: string, port: number, reason = "not in --net allow") => `nsbox: blocked connect to ${host}:${port} (${reason})`;
const count = (text: string, part: string) => text.split(part).length - 1;
const blockedLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("nsbox: blocked connect to "));

/** A server this file started: its port, and how to stop it. */
interface Listening {
  port: number;
  stop(closeActiveConnections?: boolean): unknown;
}
const listening = (s: { port?: number; stop(closeActiveConnections?: boolean): unknown }): Listening => ({ port: s.port!, stop: (c) => s.stop(c) });

let web: Listening;
let tls: Listening;
let echo: Listening;
/** Answers "got N bytes" once the client has shut down writing (a half-close), then closes. */
let atEof: Listening;
/** What the host's resolver makes of "localhost" (the TLS server listens there, so that allow=localhost can reach it). */
let localhostAddress: string;
/** A server on one of this machine's non-loopback addresses, when it has one. */
let outside: { address: string; server: Listening } | undefined;
/** A server on ::1, when the host has IPv6 loopback. */
let v6: Listening | undefined;
let closedPort: number;

const reply = (where: string) => (req: Request) => new Response(`${where} ${new URL(req.url).pathname}\n`);

beforeAll(async () => {
  web = listening(Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: reply("web") }));
  echo = listening(Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } }));
  atEof = listening(Bun.listen<{ n: number }>({
    hostname: "127.0.0.1", port: 0, allowHalfOpen: true,
    socket: { open: (s) => void (s.data = { n: 0 }), data: (s, d) => void (s.data.n += d.length), end: (s) => void s.end(`got ${s.data.n} bytes\n`) },
  }));
  localhostAddress = (await dns.lookup("localhost")).address;
  tls = listening(Bun.serve({ hostname: localhostAddress, port: 0, tls: { cert: TLS_CERT, key: TLS_KEY }, fetch: reply("tls") }));
  const address = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === "IPv4")?.address;
  if (address) outside = { address, server: listening(Bun.serve({ hostname: address, port: 0, fetch: reply("outside") })) };
  try {
    v6 = listening(Bun.serve({ hostname: "::1", port: 0, fetch: reply("v6") }));
  } catch {
    v6 = undefined;
  }
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  closedPort = probe.port;
  probe.stop(true);
});

afterAll(() => {
  web?.stop(true);
  tls?.stop(true);
  echo?.stop(true);
  atEof?.stop(true);
  outside?.server.stop(true);
  v6?.stop(true);
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe("--net allow=: through the proxy", () => {
  test("sets the proxy variables (replacing the caller's) and curl reaches an allowed host:port", async () => {
    const callerProxy = { ...env, HTTP_PROXY: "http://192.0.2.1:9", https_proxy: "http://192.0.2.1:9", NO_PROXY: "*" };
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`], `env | grep -i '_proxy=' | LC_ALL=C sort; curl -sS -f http://127.0.0.1:${web.port}/curl`, { env: callerProxy });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const proxy = "http://127.0.0.1:3128", socks = "socks5h://127.0.0.1:3128";
    // The rule names the host's loopback: NO_PROXY is empty, so 127.0.0.1 goes through the proxy too.
    const want = { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, ALL_PROXY: socks, NO_PROXY: "" };
    const lines = Object.entries(want).flatMap(([k, v]) => [`${k}=${v}`, `${k.toLowerCase()}=${v}`]);
    expect(r.stdout).toBe([...lines.sort(), `web /curl`, ""].join("\n"));
  });

  test("Bun's fetch inside goes through the proxy", async () => {
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`], `${BUN} -e 'const r = await fetch("http://127.0.0.1:${web.port}/bun"); console.log(r.status, await r.text())'`);
    expect(r).toEqual({ exitCode: 0, stdout: "200 web /bun\n\n", stderr: "" });
  });

  test("SOCKS5: socks5h (the proxy resolves) and socks5 (the client sends an address)", async () => {
    const log = join(workdir(), "net.jsonl");
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`, "--net-log", log],
      `curl -sS -f -x socks5h://127.0.0.1:3128 http://127.0.0.1:${web.port}/h && curl -sS -f --socks5 127.0.0.1:3128 http://127.0.0.1:${web.port}/a`);
    expect(r).toEqual({ exitCode: 0, stdout: "web /h\nweb /a\n", stderr: "" });
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => [e.protocol, e.action, e.host, e.port])).toEqual([
      ["socks5", "allow", "127.0.0.1", web.port],
      ["socks5", "allow", "127.0.0.1", web.port],
    ]);
  });

  test("HTTPS through CONNECT: curl and Bun's fetch verify the server's certificate end to end", async () => {
    const r = await inside(["--net", `allow=localhost:${tls.port}`], [
      `curl -sS -f --cacert ca.pem https://localhost:${tls.port}/curl`,
      `${BUN} -e 'const r = await fetch("https://localhost:${tls.port}/bun", { tls: { ca: await Bun.file("ca.pem").text() } }); console.log(r.status, await r.text())'`,
      // Without the certificate the client refuses: the proxy does not terminate TLS.
      `curl -sS https://localhost:${tls.port}/ >/dev/null 2>&1; echo "untrusted: $?"`,
    ].join("\n"));
    expect(r).toEqual({ exitCode: 0, stdout: "tls /curl\n200 tls /bun\n\nuntrusted: 60\n", stderr: "" });
  });

  test("CONNECT tunnels any TCP: the raw echo server answers through it, and curl -p tunnels HTTP", async () => {
    const net = ["--net", `allow=127.0.0.1:${echo.port},127.0.0.1:${web.port}`];
    const { ran, result } = await client(net, ["connect", "127.0.0.1", String(echo.port), "ping over the tunnel\n"]);
    expect(ran.exitCode).toBe(0);
    expect(result).toEqual({ status: 200, body: "ping over the tunnel\n" });
    const r = await inside(net, `curl -sS -f -p -x http://127.0.0.1:3128 http://127.0.0.1:${web.port}/tunnelled`);
    expect(r).toEqual({ exitCode: 0, stdout: "web /tunnelled\n", stderr: "" });
  });

  // BUG (src/net/proxy.ts): the proxy's sockets do not allow half-open connections, and the
  // client's close destroys the upstream: a client that sends its request and shuts down its
  // writing side (nc -N, many one-shot protocols) never gets the answer through CONNECT, although
  // the same exchange works directly. Half-close should be forwarded (allowHalfOpen: true, end
  // the other side on 'end', destroy only when both sides are done).
  test("CONNECT forwards a half-close: the answer still comes back after the client shuts down writing", async () => {
    // The server answers only once it has read to the end; directly, that works:
    const direct = await new Promise<string>((resolve, reject) => {
      let got = "";
      const s = connect({ host: "127.0.0.1", port: atEof.port }, () => s.end("half-closed\n"));
      s.on("data", (d) => (got += d)).on("close", () => resolve(got)).on("error", reject);
    });
    expect(direct).toBe("got 12 bytes\n");
    const { result } = await client(["--net", `allow=127.0.0.1:${atEof.port}`], ["connect-half", "127.0.0.1", String(atEof.port), "half-closed\n", "got 12 bytes\n"]);
    expect(result).toEqual({ status: 200, body: "got 12 bytes\n" });
  });

  test("several --net allow= options add up", async () => {
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`, "--net", `allow=localhost:${tls.port}`],
      `curl -sS -f http://127.0.0.1:${web.port}/one && curl -sS -f --cacert ca.pem https://localhost:${tls.port}/two`);
    expect(r).toEqual({ exitCode: 0, stdout: "web /one\ntls /two\n", stderr: "" });
  });
});

describe("--net allow=: what is refused", () => {
  test("a port or host not in the list is refused, and each is reported once on stderr when the sandbox ends", async () => {
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`], [
      `curl -s -f http://127.0.0.1:${echo.port}/; echo "http other port: $?"`,
      `curl -s -f http://127.0.0.1:${echo.port}/again; echo "again: $?"`,
      `curl -s -x socks5h://127.0.0.1:3128 http://127.0.0.1:${echo.port}/; echo "socks other port: $?"`,
      `curl -s -f http://localhost:${web.port}/; echo "other name: $?"`,
      `curl -s https://example.com/; echo "connect other host: $?"`,
      `curl -sS -f http://127.0.0.1:${web.port}/still-fine`,
      `echo payload-done >&2`,
    ].join("\n"));
    expect(r.exitCode).toBe(0);
    // 22: HTTP 403 from the proxy (-f); 97: SOCKS5 refused; 56: CONNECT answered 403.
    expect(r.stdout).toBe(["http other port: 22", "again: 22", "socks other port: 97", "other name: 22", "connect other host: 56", "web /still-fine", ""].join("\n"));
    const lines = [blockedLine("127.0.0.1", echo.port), blockedLine("localhost", web.port), blockedLine("example.com", 443)];
    for (const line of lines) expect(count(r.stderr, line)).toBe(1);
    expect(blockedLines(r.stderr)).toHaveLength(3);
    // Reported at exit: after everything the payload wrote.
    expect(r.stderr.indexOf("payload-done")).toBeLessThan(r.stderr.indexOf("nsbox: blocked"));
  });

  test("the proxy's refusal names the reason to the client too", async () => {
    const { result } = await client(["--net", `allow=127.0.0.1:${web.port}`], ["get", "127.0.0.1", String(echo.port)]);
    expect(result).toEqual({ status: 403, body: `${blockedLine("127.0.0.1", echo.port)}\n` });
  });

  test("--verbose reports a refused connection as it happens, and not again at exit", async () => {
    const cwd = workdir();
    const line = blockedLine("127.0.0.1", echo.port);
    const proc = Bun.spawn([BUN, NSBOX, "-v", ...bunMount, "--net", `allow=127.0.0.1:${web.port}`, "--", "sh", "-c",
      `curl -s -o /dev/null http://127.0.0.1:${echo.port}/; echo waiting; read _; echo done`], { cwd, env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    try {
      const reader = proc.stderr.getReader();
      const decoder = new TextDecoder();
      let stderr = "";
      // The payload is blocked in `read` until stdin closes: the line must arrive while it waits.
      while (!stderr.includes(line)) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += decoder.decode(value, { stream: true });
      }
      expect(stderr).toContain(line);
      proc.stdin.end();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += decoder.decode(value, { stream: true });
      }
      expect(await new Response(proc.stdout).text()).toBe("waiting\ndone\n");
      expect(await proc.exited).toBe(0);
      expect(count(stderr, line)).toBe(1);
    } finally {
      proc.kill(9);
    }
  });

  test("--net-log writes every decision as a JSON line: allowed, blocked, and failed upstream", async () => {
    const cwd = workdir();
    const log = join(cwd, "net.jsonl");
    writeFileSync(log, "left over from before\n");
    const r = await inside(["--net", `allow=127.0.0.1:${web.port},127.0.0.1:${echo.port},127.0.0.1:${closedPort}`, "--net-log", log], [
      `curl -s -o /dev/null http://127.0.0.1:${web.port}/`,
      `curl -s -o /dev/null -p -x http://127.0.0.1:3128 http://127.0.0.1:${web.port}/`,
      `curl -s -o /dev/null -x socks5h://127.0.0.1:3128 http://127.0.0.1:${web.port}/`,
      `curl -s -o /dev/null http://127.0.0.1:${closedPort}/`,
      `curl -s -o /dev/null http://127.0.0.1:1/`,
      `curl -s -o /dev/null https://example.com/`,
      `true`,
    ].join("\n"), { cwd });
    expect(r.exitCode).toBe(0);
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    for (const e of events) {
      expect(Object.keys(e).sort()).toEqual(e.action === "allow" ? ["action", "address", "host", "port", "protocol", "time"] : ["action", "host", "port", "protocol", "reason", "time"]);
      expect(new Date(e.time).toISOString()).toBe(e.time);
    }
    expect(events.map(({ time, ...e }) => e)).toEqual([
      { action: "allow", protocol: "http", host: "127.0.0.1", port: web.port, address: "127.0.0.1" },
      { action: "allow", protocol: "connect", host: "127.0.0.1", port: web.port, address: "127.0.0.1" },
      { action: "allow", protocol: "socks5", host: "127.0.0.1", port: web.port, address: "127.0.0.1" },
      { action: "error", protocol: "http", host: "127.0.0.1", port: closedPort, reason: expect.stringContaining("ECONNREFUSED") },
      { action: "block", protocol: "http", host: "127.0.0.1", port: 1, reason: "not in --net allow" },
      { action: "block", protocol: "connect", host: "example.com", port: 443, reason: "not in --net allow" },
    ]);
  });

  test("--net-log is written (empty) even when nothing connects", async () => {
    const cwd = workdir();
    const log = join(cwd, "quiet.jsonl");
    writeFileSync(log, "stale\n");
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`, "--net-log", log], "true", { cwd });
    expect(r).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    expect(readFileSync(log, "utf8")).toBe("");
  });
});

describe("--net none and --net host", () => {
  const hostNetNs = readlinkSync("/proc/self/ns/net");
  const probe = (proxyLine: boolean) => [
    `readlink /proc/self/ns/net`,
    `env | grep -ic '_proxy='`,
    `grep -o '^ *[a-z0-9]*:' /proc/net/dev | tr -d ' :' | sort | tr '\\n' ' '; echo`,
    `curl -sS -f --max-time 10 http://127.0.0.1:${web.port}/direct 2>/dev/null || echo "web: $?"`,
    // Nothing listens on the sandbox's 127.0.0.1:3128 without --net allow= (not asked with --net host: the host's own port).
    ...(proxyLine ? [`curl -s -f --max-time 10 -x http://127.0.0.1:3128 http://127.0.0.1:${web.port}/ || echo "proxy: $?"`] : []),
    `${BUN} client.mjs direct 127.0.0.1 ${echo.port}`,
  ].join("\n");

  const nones: [string, () => string[]][] = [
    ["the default", () => []],
    ["--net none", () => ["--net", "none"]],
    ["--net allow=… then --net none", () => ["--net", `allow=127.0.0.1:${web.port}`, "--net", "none"]],
  ];
  for (const [label, net] of nones) {
    test(`${label}: its own namespace with only lo, no proxy variables, neither server reachable`, async () => {
      const r = await inside(net(), probe(true));
      expect(r.stderr).toBe("");
      expect(r.exitCode).toBe(0);
      const [ns, proxyVars, interfaces, ...rest] = r.stdout.split("\n");
      expect(ns).not.toBe(hostNetNs);
      expect(proxyVars).toBe("0");
      expect(interfaces).toBe("lo ");
      expect(rest).toEqual(["web: 7", "proxy: 7", JSON.stringify({ error: "ECONNREFUSED" }), ""]);
    });
  }

  test("--net host: the host's namespace, no proxy variables, both servers reached directly", async () => {
    const r = await inside(["--net", "host"], probe(false));
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const [ns, proxyVars, , ...rest] = r.stdout.split("\n");
    expect(ns).toBe(hostNetNs);
    expect(proxyVars).toBe("0");
    expect(rest).toEqual(["web /direct", JSON.stringify({ connected: true }), ""]);
  });

  test("--net host after --net allow= replaces it", async () => {
    const r = await inside(["--net", `allow=127.0.0.1:${web.port}`, "--net", "host"], `readlink /proc/self/ns/net; env | grep -ic '_proxy='; curl -sS -f http://127.0.0.1:${web.port}/replaced`);
    expect(r).toEqual({ exitCode: 0, stdout: `${hostNetNs}\n0\nweb /replaced\n`, stderr: "" });
  });
});

// Proxy mode (the fallback where the kernel lacks user notification; forced here): only the
// proxy leads out. In transparent mode a direct connection to an allowed destination works
// (tests/egress.test.ts).
const proxyMode = { ...env, NSBOX_NET_MODE: "proxy" };

describe("--net allow=: going around the proxy (proxy mode)", () => {
  test("a direct connection to the host's loopback, bypassing the proxy, reaches the sandbox's own lo instead", async () => {
    const net = ["--net", `allow=127.0.0.1:${web.port},127.0.0.1:${echo.port}`];
    const r = await inside(net, `curl -sS --noproxy '*' --max-time 10 http://127.0.0.1:${web.port}/ 2>/dev/null; echo "noproxy: $?"`, { env: proxyMode });
    expect(r).toEqual({ exitCode: 0, stdout: "noproxy: 7\n", stderr: "" });
    const { result } = await client(net, ["direct", "127.0.0.1", String(echo.port)], proxyMode);
    expect(result).toEqual({ error: "ECONNREFUSED" });
  });

  test("a direct connection to this machine's non-loopback address fails, though the proxy reaches it when allowed", async () => {
    // The machine has no non-loopback address: there is nothing to go around the proxy to.
    if (!outside) return;
    const url = `http://${outside.address}:${outside.server.port}`;
    expect(await (await fetch(`${url}/from-host`)).text()).toBe("outside /from-host\n");
    const net = ["--net", `allow=${outside.address}:${outside.server.port}`];
    const r = await inside(net, [
      `curl -sS --noproxy '*' --max-time 10 ${url}/ 2>/dev/null; echo "noproxy: $?"`,
      `${BUN} client.mjs direct ${outside.address} ${outside.server.port}`,
      `curl -sS -f ${url}/proxied`,
    ].join("\n"), { env: proxyMode });
    expect(r.exitCode).toBe(0);
    const [noproxy, direct, proxied] = r.stdout.split("\n");
    expect(noproxy).toBe("noproxy: 7");
    expect(JSON.parse(direct!).error).toMatch(/^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH)$/);
    expect(proxied).toBe("outside /proxied");
  });

  test("without a loopback rule, NO_PROXY keeps the sandbox's own loopback direct (and unreported)", async () => {
    const r = await inside(["--net", "allow=example.com:443"], [
      `echo "NO_PROXY=$NO_PROXY no_proxy=$no_proxy"`,
      `${BUN} -e 'Bun.serve({ hostname: "127.0.0.1", port: 8080, fetch: () => new Response("inner\\n") }); setTimeout(() => process.exit(0), 20000)' &`,
      `for i in $(seq 200); do curl -s -f http://127.0.0.1:8080/ && break; sleep 0.1; done`,
      `kill $!`,
      `curl -s --max-time 10 http://127.0.0.1:${web.port}/; echo "host loopback: $?"`,
    ].join("\n"));
    expect(r.stdout).toBe("NO_PROXY=localhost,127.0.0.1,::1 no_proxy=localhost,127.0.0.1,::1\ninner\nhost loopback: 7\n");
    expect(blockedLines(r.stderr)).toEqual([]);
  });
});

describe("--net allow= rules", () => {
  for (const value of ["allow=", "allow=,", "allow=bad host", "wat", "allow=example.com:0", "allow=example.com:65536", "allow=example.com:http", "allow=10.0.0.0/33", "allow=example.com/8", "allow=[::1]/129", "allow=*.", "allow=-bad.example"]) {
    test(`--net '${value}' is refused before anything runs: exit 125 naming --net`, async () => {
      const r = await nsbox(["--net", value, "--", "sh", "-c", "echo ran"], { cwd: workdir(), env });
      expect(r.exitCode).toBe(125);
      expect(r.stdout).toBe("");
      expect(r.stderr).toStartWith("nsbox: --net");
    });
  }

  test("valid forms are accepted: host, host:port, *.domain[:port], IPv4/IPv6 with prefix and port, @registries", async () => {
    const r = await nsbox(["--dry-run", "--net", "allow=example.com,example.com:443,*.example.org:8443,10.0.0.0/8,192.0.2.1:80,[::1]:80,[fd00::]/8:443,::1,@registries", "--", "true"], { cwd: workdir(), env });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("listen tcp");
  });

  test("*.domain allows subdomains only (names are checked before they are resolved)", async () => {
    const cwd = workdir();
    const log = join(cwd, "net.jsonl");
    // .invalid never resolves (RFC 6761): what the rule lets through fails at resolution, the rest at the rule.
    const r = await inside(["--net", "allow=*.nsbox.invalid", "--net-log", log], [
      `curl -s -f http://nsbox.invalid/; echo "apex: $?"`,
      `curl -s -f http://evilnsbox.invalid/; echo "lookalike: $?"`,
      `curl -s -f http://a.nsbox.invalid/; echo "sub: $?"`,
      `curl -s -x socks5h://127.0.0.1:3128 http://b.a.nsbox.invalid:8080/; echo "deeper: $?"`,
    ].join("\n"), { cwd });
    expect(r.stdout).toBe("apex: 22\nlookalike: 22\nsub: 22\ndeeper: 97\n");
    expect(blockedLines(r.stderr).sort()).toEqual([
      blockedLine("a.nsbox.invalid", 80, "can't resolve a.nsbox.invalid"),
      blockedLine("b.a.nsbox.invalid", 8080, "can't resolve b.a.nsbox.invalid"),
      blockedLine("evilnsbox.invalid", 80),
      blockedLine("nsbox.invalid", 80),
    ]);
  });

  test("a CIDR rule with a port (127.0.0.0/8:PORT) reaches that port by address, no other", async () => {
    const r = await inside(["--net", `allow=127.0.0.0/8:${web.port}`], [
      `echo "NO_PROXY=$NO_PROXY"`,
      `curl -sS -f http://127.0.0.1:${web.port}/cidr`,
      `curl -s -f http://127.0.0.1:${echo.port}/; echo "other port: $?"`,
    ].join("\n"));
    expect(r.stdout).toBe(`NO_PROXY=\nweb /cidr\nother port: 22\n`);
    expect(blockedLines(r.stderr)).toEqual([blockedLine("127.0.0.1", echo.port)]);
  });

  test("an address rule without a port allows every port of that address", async () => {
    const net = ["--net", "allow=127.0.0.1"];
    const r = await inside(net, `curl -sS -f http://127.0.0.1:${web.port}/any-port`);
    expect(r).toEqual({ exitCode: 0, stdout: "web /any-port\n", stderr: "" });
    const { result } = await client(net, ["connect", "127.0.0.1", String(echo.port), "any port\n"]);
    expect(result).toEqual({ status: 200, body: "any port\n" });
  });

  test("IPv6 rules in brackets reach a server on ::1 (when the host has IPv6 loopback)", async () => {
    // Without ::1 on this host the parse is still checked above (valid forms); nothing to connect to here.
    if (!v6) return;
    const r = await inside(["--net", `allow=[::1]:${v6.port}`], [
      `curl -sS -f -g http://[::1]:${v6.port}/http`,
      `curl -sS -f -g -x socks5h://127.0.0.1:3128 http://[::1]:${v6.port}/socks`,
      `curl -sS -f -g -p -x http://127.0.0.1:3128 http://[::1]:${v6.port}/connect`,
      `curl -s -f -g http://[::1]:${web.port}/; echo "other port: $?"`,
    ].join("\n"));
    expect(r.stdout).toBe("v6 /http\nv6 /socks\nv6 /connect\nother port: 22\n");
  });
});

describe("the loopback guard: a name must not lead into the host", () => {
  test("a host rule whose name resolves to 127.0.0.1 (127.1) is refused, with the reason", async () => {
    const net = ["--net", `allow=127.1:${web.port}`];
    const reason = "127.1 resolves to the loopback address 127.0.0.1";
    const connect = await client(net, ["connect", "127.1", String(web.port)]);
    expect(connect.result).toEqual({ status: 403, body: `${blockedLine("127.1", web.port, reason)}\n` });
    expect(blockedLines(connect.ran.stderr)).toEqual([blockedLine("127.1", web.port, reason)]);
    const get = await client(net, ["get", "127.1", String(web.port)]);
    expect(get.result.status).toBe(403);
  });

  test("allow=localhost:PORT reaches the host's localhost (the rule says localhost)", async () => {
    const r = await inside(["--net", `allow=localhost:${tls.port}`], `curl -sS -f --cacert ca.pem https://localhost:${tls.port}/local`);
    expect(r).toEqual({ exitCode: 0, stdout: "tls /local\n", stderr: "" });
  });

  // Connecting to 0.0.0.0 (or ::) reaches the host's own services too. A name that resolves to
  // 0.0.0.0 — here "0", which the host's resolver turns into 0.0.0.0; in the wild a DNS record —
  // is refused (src/net/address-policy.ts).
  test("a name that resolves to 0.0.0.0 is refused like one that resolves to 127.0.0.1", async () => {
    const { result } = await client(["--net", `allow=0:${web.port}`], ["connect", "0", String(web.port), `GET /zero HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, "web /zero"]);
    expect(result.status).toBe(403);
  });
});

describe("unit: rules", () => {
  test("matching", async () => {
    const { parseRule, findRule } = await import("../src/net/rules.ts");
    const { classify } = await import("../src/net/address-policy.ts");
    const isLoopback = (a: string) => classify(a)?.label === "loopback";
    const { proxyEnv } = await import("../src/plan/network.ts");
    const match = (rule: string, host: string, port: number) => findRule([parseRule(rule)], host, port) !== undefined;
    expect(match("*.example.com:443", "a.example.com", 443)).toBe(true);
    expect(match("*.example.com:443", "A.B.Example.COM", 443)).toBe(true);
    expect(match("*.example.com:443", "a.example.com", 80)).toBe(false);
    expect(match("*.example.com", "example.com", 443)).toBe(false);
    expect(match("*.example.com", "badexample.com", 443)).toBe(false);
    expect(match("example.com", "example.com", 1234)).toBe(true);
    expect(match("example.com", "www.example.com", 443)).toBe(false);
    expect(match("10.0.0.0/8", "10.255.1.2", 22)).toBe(true);
    expect(match("10.0.0.0/8", "11.0.0.1", 22)).toBe(false);
    expect(match("10.0.0.0/8", "ten.example", 22)).toBe(false);
    expect(match("127.0.0.0/8:80", "::ffff:127.0.0.9", 80)).toBe(true);
    expect(match("[::1]:80", "[::1]", 80)).toBe(true);
    expect(match("[fd00::]/8:443", "fd12:3456::1", 443)).toBe(true);
    expect(match("[fd00::]/8:443", "fe80::1", 443)).toBe(false);
    expect(["127.0.0.1", "127.255.0.1", "::1", "::ffff:127.0.0.1"].every(isLoopback)).toBe(true);
    expect(["192.0.2.1", "::2", "example.com"].some(isLoopback)).toBe(false);
    expect(proxyEnv([parseRule("example.com:443")]).NO_PROXY).toBe("localhost,127.0.0.1,::1");
    for (const loop of ["localhost:3000", "127.0.0.1", "127.0.0.0/8:80", "[::1]:80"]) expect(proxyEnv([parseRule(loop)]).no_proxy).toBe("");
    // A rule that matches loopback without naming it opens nothing there (src/net/address-policy.ts): the sandbox's own lo stays direct.
    for (const wide of ["0.0.0.0/0", "[::]/0", "example.com"]) expect(proxyEnv([parseRule(wide)]).no_proxy).toBe("localhost,127.0.0.1,::1");
    expect(proxyEnv([{ ...parseRule("127.0.0.1:4873"), origin: "registry" }]).no_proxy).toBe("localhost,127.0.0.1,::1");
  });
});

describe("installs with -p install: only the configured registries", () => {
  /** A project with a local package (a file: dependency) whose postinstall tries to phone home. */
  function project(): string {
    const dir = workdir();
    mkdirSync(join(dir, "phone-home"));
    writeFileSync(join(dir, "phone-home", "package.json"), JSON.stringify({ name: "phone-home", version: "1.0.0", scripts: { postinstall: `${BUN} phone-home.mjs` } }));
    // The script records what happened and exits 0 either way, so that the install's success is
    // the install's own; the record proves the attempt was made and refused.
    writeFileSync(join(dir, "phone-home", "phone-home.mjs"), [
      `const results = [];`,
      `for (const url of ["http://example.com/", "https://example.com/"]) {`,
      `  try { const r = await fetch(url); results.push(url + " " + r.status); } catch (e) { results.push(url + " failed"); }`,
      `}`,
      `require("node:fs").writeFileSync(${JSON.stringify(join(dir, "phoned.txt"))}, results.join("\\n") + "\\n");`,
    ].join("\n"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({
      name: "install-test", version: "1.0.0", private: true,
      dependencies: { "phone-home": "file:./phone-home" },
      trustedDependencies: ["phone-home"], // Bun runs a dependency's scripts only when trusted
    }));
    return dir;
  }

  async function install(command: string[]) {
    const dir = project();
    const log = join(dir, "net.jsonl");
    const r = await nsbox([...bunMount, "-p", "install", "--net-log", log, "--", ...command], {
      cwd: dir,
      // Caches inside the project: nothing of the caller's is used or changed.
      env: { ...env, npm_config_cache: join(dir, ".npm-cache"), BUN_INSTALL_CACHE_DIR: join(dir, ".bun-cache"), npm_config_update_notifier: "false" },
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "node_modules", "is-number", "package.json"), "utf8")).version).toBe("7.0.0");
    expect(existsSync(join(dir, "node_modules", "phone-home", "phone-home.mjs"))).toBe(true);
    // The postinstall ran, and both of its attempts were refused by the proxy.
    expect(readFileSync(join(dir, "phoned.txt"), "utf8")).toBe("http://example.com/ 403\nhttps://example.com/ failed\n");
    expect(blockedLines(r.stderr)).toEqual([blockedLine("example.com", 80), blockedLine("example.com", 443)]);
    const events = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const allowed = events.filter((e) => e.action === "allow");
    expect(allowed.length).toBeGreaterThan(0);
    for (const e of allowed) expect(["registry.npmjs.org:443", "pypi.org:443", "files.pythonhosted.org:443"]).toContain(`${e.host}:${e.port}`);
    expect(events.filter((e) => e.action !== "allow").map((e) => `${e.action} ${e.host}:${e.port}`)).toEqual(["block example.com:80", "block example.com:443"]);
  }

  test("npm install is-number@7", () => install(["npm", "install", "--no-audit", "--no-fund", "is-number@7"]), 120_000);
  test("bun add is-number@7", () => install([BUN, "add", "is-number@7"]), 120_000);
});
