// Attacks on the network's host side as a payload that knows the source would make them
// (issue 11, items 1, 3 and 7): each in a real sandbox, each with its control.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanedUp, collect, homeIn, NSBOX, nsbox, scratchIn, type Ran } from "./helpers.ts";

const made = cleanedUp();

/** The caller's environment without proxy or registry variables, so that what a sandbox has is nsbox's doing. */
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$|registry|index_url|^npm_config_/i.test(e[0])),
);

/** A service on the host's loopback that no rule of these tests names unless the control says so. */
let secret: ReturnType<typeof Bun.serve>;
/** A TCP service on the host's loopback that reads and discards whatever it is sent. */
let sink: ReturnType<typeof Bun.listen>;
beforeAll(() => {
  secret = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`secret ${new URL(req.url).pathname}\n`) });
  sink = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
});
afterAll(() => (secret?.stop(true), sink?.stop(true)));

function project(): { dir: string; env: Record<string, string> } {
  const dir = scratchIn(made);
  const home = homeIn(made);
  return { dir, env: { ...env, HOME: home, XDG_CONFIG_HOME: join(home, ".config") } };
}

/**
 * Run a Python payload (the file `payload.py` in the project) under `--net net`. Its helper
 * `ask(raw)` sends raw bytes to the proxy and returns everything it answers until it closes.
 */
function payload(p: { dir: string; env: Record<string, string> }, net: string, code: string): Promise<Ran> {
  writeFileSync(join(p.dir, "payload.py"), [
    "import socket, struct, sys",
    "def ask(raw, wait=10):",
    "    s = socket.create_connection(('127.0.0.1', 3128)); s.settimeout(wait); s.sendall(raw); got = b''",
    "    try:",
    "        while True:",
    "            d = s.recv(65536)",
    "            if not d: break",
    "            got += d",
    "    except OSError: pass",
    "    s.close(); return got",
    "def first(got): return got.split(b'\\r\\n')[0].decode('latin1')",
    "def last(got): return got.rstrip(b'\\n').split(b'\\n')[-1].decode('latin1')",
    code,
  ].join("\n"));
  return nsbox(["--net", net, "--", "python3", "payload.py"], { cwd: p.dir, env: p.env });
}

const tunnelGet = (host: string, port: number, path: string) =>
  `CONNECT ${host}:${port} HTTP/1.1\r\n\r\nGET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

describe("no name leads into the machine: names the host's resolver reads as addresses", () => {
  /*
   * glibc's getaddrinfo reads `ADDRESS%ANYTHING` as a numeric IPv6 address with a scope id and
   * answers it verbatim: `::ffff:127.0.0.1%.example.test` ends in `.example.test`, so
   * `*.example.test` matched it, and the address policy could not read the answer.
   */
  const forms = ["[::ffff:127.0.0.1%.example.test]", "[::ffff:7f00:1%x.example.test]", "[::1%lo.example.test]"];
  for (const form of forms) {
    test(`CONNECT ${form} under *.example.test does not reach the host's loopback; a rule naming 127.0.0.1 does (control)`, async () => {
      const p = project();
      const port = secret.port!;
      const r = await payload(p, "allow=*.example.test", `print(first(ask(${JSON.stringify(tunnelGet(form, port, "/zone"))}.encode())))`);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 40[03] /);
      const control = await payload(p, `allow=127.0.0.1:${port}`, `print(last(ask(${JSON.stringify(tunnelGet("127.0.0.1", port, "/zone"))}.encode())))`);
      expect(control.stdout).toBe("secret /zone\n");
    });
  }

  test("SOCKS5 with the same name as a domain (ATYP 3) is refused too; the loopback address by a rule naming it is served (control)", async () => {
    const p = project();
    const port = secret.port!;
    const socks = (atyp: string) => [
      `name = ${atyp}`,
      `got = ask(b'\\x05\\x01\\x00\\x05\\x01\\x00' + name + struct.pack('>H', ${port}) + b'GET /s HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')`,
      "print(got[3], last(got))",
    ].join("\n");
    const zone = "::ffff:127.0.0.1%.example.test";
    const r = await payload(p, "allow=*.example.test", socks(`b'\\x03' + bytes([${zone.length}]) + b'${zone}'`));
    expect(r.stdout.split(" ")[0]).toBe("2");
    const control = await payload(p, `allow=127.0.0.1:${port}`, socks("b'\\x01\\x7f\\x00\\x00\\x01'"));
    expect(control.stdout).toBe("0 secret /s\n");
  });
});

describe("nothing the payload sends makes the nsbox process crash", () => {
  test("CONNECT to a port past 65535 is refused, nsbox goes on; a valid port is served (control)", async () => {
    const p = project();
    const port = secret.port!;
    const r = await payload(p, "allow=127.0.0.1", [
      `print(first(ask(${JSON.stringify(tunnelGet("127.0.0.1", 99999, "/big"))}.encode())))`,
      `print(first(ask(${JSON.stringify(tunnelGet("127.0.0.1", 65536 + port, "/wrap"))}.encode())))`,
      `print(last(ask(${JSON.stringify(tunnelGet("127.0.0.1", port, "/ok"))}.encode())))`,
    ].join("\n"));
    expect(r.stderr).not.toContain("RangeError");
    expect(r.stdout).toBe("HTTP/1.1 400 Bad Request\nHTTP/1.1 400 Bad Request\nsecret /ok\n");
    expect(r.exitCode).toBe(0);
  });
});

describe("the report of what was blocked is bounded and inert", () => {
  const lines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("nsbox: blocked connect to ") || l.startsWith("nsbox: and "));

  test("400 distinct long names blocked: at most 100 lines, each short, and a count of the rest; 5 names are each reported (control)", async () => {
    const p = project();
    const ask = (n: number) => `for i in range(${n}): ask(b'CONNECT h%d${"a".repeat(2000)}.test:443 HTTP/1.1\\r\\n\\r\\n' % i)`;
    const r = await payload(p, "allow=allowed.test", ask(400));
    const seen = lines(r.stderr);
    expect(seen.length).toBe(101);
    expect(seen.at(-1)).toBe("nsbox: and 300 more blocked connections");
    expect(Math.max(...seen.map((l) => l.length))).toBeLessThan(400);
    const control = await payload(p, "allow=allowed.test", ask(5));
    expect(lines(control.stderr).length).toBe(5);
  });

  test("a name with terminal escapes (SOCKS5 takes any bytes) is shown escaped; a plain name as it is (control)", async () => {
    const p = project();
    const r = await payload(p, "allow=allowed.test", [
      "for name in [b'\\x1b]0;pwned\\x07.test', b'plain.test']:",
      "    ask(b'\\x05\\x01\\x00\\x05\\x01\\x00\\x03' + bytes([len(name)]) + name + b'\\x01\\xbb')",
    ].join("\n"));
    expect(r.stderr).not.toContain("\x1b");
    expect(lines(r.stderr)).toEqual([
      "nsbox: blocked connect to \\x1b]0;pwned\\x07.test:443 (not in --net allow)",
      "nsbox: blocked connect to plain.test:443 (not in --net allow)",
    ]);
  });
});

describe("--net-log: a write that fails is not a crash", () => {
  /*
   * The payload can fill the disk it shares with the log; RLIMIT_FSIZE on nsbox stands in for
   * the full disk here (the same error reaches the same write).
   */
  const run = (p: { dir: string; env: Record<string, string> }, n: number) => {
    writeFileSync(join(p.dir, "payload.py"), [
      "import socket",
      `for i in range(${n}):`,
      "    s = socket.create_connection(('127.0.0.1', 3128)); s.sendall(b'CONNECT h%d.test:443 HTTP/1.1\\r\\n\\r\\n' % i); s.recv(100); s.close()",
      "print('payload done')",
    ].join("\n"));
    return collect(["prlimit", "--fsize=8192", process.execPath, NSBOX, "--net", "allow=allowed.test", "--net-log", join(p.dir, "net.log"), "--", "python3", "payload.py"], { cwd: p.dir, env: p.env });
  };

  test("the log growing past what the disk takes: nsbox says the log stopped, no stack trace; a short log holds every line (control)", async () => {
    const p = project();
    const r = await run(p, 200);
    expect(r.stdout).toBe("payload done\n");
    expect(r.stderr).not.toContain("    at ");
    expect(r.stderr).toContain(`nsbox: --net-log ${join(p.dir, "net.log")}: stopped writing: the file is too large (a file-size limit); the lines after that are missing`);
    const control = await run(p, 5);
    expect(control.stdout).toBe("payload done\n");
    expect(readFileSync(join(p.dir, "net.log"), "utf8").trim().split("\n").length).toBe(5);
  });
});

describe("blocked as they are (kept as tests so that they stay blocked)", () => {
  test("numeric, hex, octal and IPv6 forms of loopback under 0.0.0.0/0 and ::/0 are refused; the rule naming 127.0.0.1 serves the hex form (control)", async () => {
    const p = project();
    const port = secret.port!;
    const forms = ["0x7f.1", "017700000001", "2130706433", "127.1", "0", "[::ffff:7f00:1]", "[::ffff:127.0.0.1]", "[::1]", "[::]", "[0:0:0:0:0:ffff:7f00:1]"];
    const http = (host: string) => `GET http://${host}:${port}/n HTTP/1.0\r\n\r\n`;
    const r = await payload(p, "allow=0.0.0.0/0,[::]/0", [
      `for h in ${JSON.stringify(forms)}:`,
      `    print(h, first(ask(('GET http://%s:${port}/n HTTP/1.0\\r\\n\\r\\n' % h).encode())), first(ask(('CONNECT %s:${port} HTTP/1.1\\r\\n\\r\\n' % h).encode())))`,
    ].join("\n"));
    for (const line of r.stdout.trim().split("\n")) expect(line).toMatch(/ HTTP\/1\.1 40[03] .* HTTP\/1\.1 40[03] /);
    expect(r.stdout.trim().split("\n").length).toBe(forms.length);
    const control = await payload(p, `allow=127.0.0.1:${port}`, `print(last(ask(${JSON.stringify(http("0x7f.1"))}.encode())))`);
    expect(control.stdout).toBe("secret /n\n");
  });

  test("SOCKS4 and SOCKS4a are not spoken (no connection made); SOCKS5 to the same address is (control)", async () => {
    const p = project();
    const port = secret.port!;
    const r = await payload(p, `allow=127.0.0.1:${port}`, [
      `print(first(ask(b'\\x04\\x01' + struct.pack('>H', ${port}) + b'\\x7f\\x00\\x00\\x01u\\x00GET /4 HTTP/1.0\\r\\n\\r\\n', 3)))`,
      `print(first(ask(b'\\x04\\x01' + struct.pack('>H', ${port}) + b'\\x00\\x00\\x00\\x01u\\x00127.0.0.1\\x00GET /4a HTTP/1.0\\r\\n\\r\\n', 3)))`,
      `got = ask(b'\\x05\\x01\\x00\\x05\\x01\\x00\\x01\\x7f\\x00\\x00\\x01' + struct.pack('>H', ${port}) + b'GET /5 HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')`,
      "print(last(got))",
    ].join("\n"));
    const [four, fourA, five] = r.stdout.split("\n");
    expect(four).not.toContain("secret");
    expect(fourA).not.toContain("secret");
    expect(five).toBe("secret /5");
  });

  test("after a refusal (a head past 64 KiB, a SOCKS5 method or address type it does not speak) the proxy reads no more; a tunnel takes the same bytes (control)", async () => {
    const p = project();
    const port = sink.port;
    const r = await payload(p, `allow=127.0.0.1:${port}`, [
      "def push(first_bytes, megabytes=64):",
      "    s = socket.create_connection(('127.0.0.1', 3128)); s.sendall(first_bytes); s.recv(100); sent = 0",
      "    try:",
      "        while sent < megabytes << 20: s.sendall(b'b' * 65536); sent += 65536",
      "        return 'took %d MiB' % (sent >> 20)",
      "    except OSError: return 'closed'",
      "print(push(b'GET http://x/ HTTP/1.1\\r\\nX: ' + b'a' * 70000))",
      "print(push(b'\\x05\\x01\\x02'))",
      "print(push(b'\\x05\\x01\\x00\\x05\\x01\\x00\\x09'))",
      `print(push(b'CONNECT 127.0.0.1:${port} HTTP/1.1\\r\\n\\r\\n', 8))`,
    ].join("\n"));
    expect(r.stdout).toBe("closed\nclosed\nclosed\ntook 8 MiB\n");
  });

  test("--net-log through /proc/self/fd, /dev/stderr or at a FIFO is refused before the payload runs; a regular file is written (control)", async () => {
    const p = project();
    const fifo = join(p.dir, "fifo");
    await collect(["mkfifo", fifo]);
    for (const log of ["/proc/self/fd/2", "/dev/stderr", fifo, p.dir]) {
      const r = await nsbox(["--net", "allow=allowed.test", "--net-log", log, "--", "echo", "ran"], { cwd: p.dir, env: p.env });
      expect([r.exitCode, r.stdout]).toEqual([125, ""]);
      expect(r.stderr).toStartWith(`nsbox: --net-log ${log}: `);
    }
    const r = await nsbox(["--net", "allow=allowed.test", "--net-log", join(p.dir, "net.log"), "--", "echo", "ran"], { cwd: p.dir, env: p.env });
    expect([r.exitCode, r.stdout]).toEqual([0, "ran\n"]);
  });
});

describe("addresses the parser could not count", () => {
  test("CONNECT [1:::2], SOCKS5 to ':::' and --net allow=[1:::2] are refused, no stack trace; a well-formed IPv6 address is decided (control)", async () => {
    const p = project();
    const r = await payload(p, "allow=example.test", [
      "print(first(ask(b'CONNECT [1:::2]:80 HTTP/1.1\\r\\n\\r\\n')))",
      "print(ask(b'\\x05\\x01\\x00\\x05\\x01\\x00\\x03\\x03:::\\x00\\x50')[3])",
      "print(first(ask(b'CONNECT [1::2]:80 HTTP/1.1\\r\\n\\r\\n')))",
    ].join("\n"));
    expect(r.stderr).not.toContain("    at ");
    expect(r.stdout).toBe("HTTP/1.1 403 Forbidden\n2\nHTTP/1.1 403 Forbidden\n");
    const rule = await nsbox(["--net", "allow=[1:::2]", "--", "true"], { cwd: p.dir, env: p.env });
    expect([rule.exitCode, rule.stderr.split("\n")[0]]).toEqual([125, "nsbox: --net 'allow=[1:::2]': expected host, host:port, *.domain, or an IP address or range with an optional port"]);
    const control = await nsbox(["--net", "allow=[1::2]", "--", "true"], { cwd: p.dir, env: p.env });
    expect(control.exitCode).toBe(0);
  });
});

describe("no request head stalls the proxy", () => {
  /*
   * `(.*?)[ \t]*$` on a header whose value is one long run of spaces followed by another
   * character backtracks quadratically: one 60 KB head held nsbox's event loop (every
   * connection, signals, the terminal) for seconds, and a stream of them for as long as the
   * payload liked.
   */
  const run = (p: { dir: string; env: Record<string, string> }, tail: string) =>
    payload(p, `allow=127.0.0.1:${secret.port}`, [
      "import threading",
      `head = b'GET http://127.0.0.1:${secret.port}/x HTTP/1.1\\r\\nX-Pad:a' + b' ' * 60000 + b'${tail}\\r\\n\\r\\n'`,
      "for _ in range(3): threading.Thread(target=ask, args=(head, 60), daemon=True).start()",
      "import time; time.sleep(1)",
      `got = ask(b'GET http://127.0.0.1:${secret.port}/alive HTTP/1.1\\r\\nHost: 127.0.0.1:${secret.port}\\r\\n\\r\\n', 10)`,
      "print(last(got) if got else 'no answer within 10 s')",
    ].join("\n"));

  test("three heads with a 60 KB run of spaces inside a header value: the proxy still answers; the same heads with the spaces at the end (control)", async () => {
    const p = project();
    expect((await run(p, "b")).stdout).toBe("secret /alive\n");
    expect((await run(p, "")).stdout).toBe("secret /alive\n");
  });
});

describe("@registries: what the project names is not a rule, and not a flood either", () => {
  const notes = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("nsbox: @registries: "));
  const withScopes = (n: number) => Array.from({ length: n }, (_, i) => `@s${i}:registry=https://r${i}.example.test/\n`).join("");

  test("a project .npmrc naming 2,000 registries: none becomes a rule, at most 10 notes and a count; 3 are each named (control)", async () => {
    const p = project();
    writeFileSync(join(p.dir, ".npmrc"), withScopes(2000));
    const r = await payload(p, "allow=@registries", "print(first(ask(b'CONNECT r7.example.test:443 HTTP/1.1\\r\\n\\r\\n')))");
    expect(r.stdout).toBe("HTTP/1.1 403 Forbidden\n");
    expect(r.stderr).toContain("nsbox: blocked connect to r7.example.test:443 (not in --net allow)");
    expect(notes(r.stderr).length).toBe(11);
    expect(notes(r.stderr).at(-1)).toBe("nsbox: @registries: and 1990 more registries in the project's files, ignored too");
    writeFileSync(join(p.dir, ".npmrc"), withScopes(3));
    const control = await payload(p, "allow=@registries", "pass");
    expect(notes(control.stderr)).toEqual([0, 1, 2].map((i) => `nsbox: @registries: ignored the registry r${i}.example.test:443 in the project's .npmrc (project files do not open ports); if you trust it, add --net allow=r${i}.example.test:443`));
  });
});
