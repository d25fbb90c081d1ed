// Host-side trust of the network (issue 11): no name, range or registry leads into the machine;
// the proxy decides per request and is bounded; --net-log never follows what the payload planted;
// @registries takes registries only from the user's own configuration. Every attack has a control.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType, ptr } from "bun:ffi";
import { chownSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { cleanedUp, eventually, homeIn, nsbox, scratchIn, type Ran } from "./helpers.ts";
import { classify, refusal } from "../src/net/address-policy.ts";
import { startProxy, type NetEvent } from "../src/net/proxy.ts";
import { parseRule, type Rule } from "../src/net/rules.ts";

const made = cleanedUp();

/** The caller's environment without proxy or registry variables, so that what a sandbox has is nsbox's doing. */
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$|registry|index_url|^npm_config_/i.test(e[0])),
);

const blockedLine = (host: string, port: number, reason: string) => `nsbox: blocked connect to ${host}:${port} (${reason})`;
const blockedLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("nsbox: blocked connect to "));

/** Requests the web server saw, by path, with their Host header. */
const seen: { path: string; host: string | null }[] = [];
let web: ReturnType<typeof Bun.serve>;
/** Bytes each connection to the recorder brought (it answers the first request head with "ok" and keeps reading). */
const recorded: { bytes: string; closed: boolean }[] = [];
let recorder: ReturnType<typeof Bun.listen<{ i: number; answered: boolean }>>;
/** This machine's own non-loopback IPv4 address, with a server on it, when it has one. */
let own: { address: string; server: ReturnType<typeof Bun.serve> } | undefined;

beforeAll(() => {
  web = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    fetch: (req) => {
      const path = new URL(req.url).pathname;
      seen.push({ path, host: req.headers.get("host") });
      return new Response(`web ${path}\n`);
    },
  });
  recorder = Bun.listen<{ i: number; answered: boolean }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open: (s) => void (s.data = { i: recorded.push({ bytes: "", closed: false }) - 1, answered: false }),
      data: (s, d) => {
        const r = recorded[s.data.i]!;
        r.bytes += d.toString("latin1");
        if (!s.data.answered && r.bytes.includes("\r\n\r\n")) {
          s.data.answered = true;
          s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        }
      },
      close: (s) => void (recorded[s.data.i]!.closed = true),
    },
  });
  const address = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === "IPv4")?.address;
  if (address) own = { address, server: Bun.serve({ hostname: address, port: 0, fetch: (req) => new Response(`own ${new URL(req.url).pathname}\n`) }) };
});

afterAll(() => {
  web?.stop(true);
  recorder?.stop(true);
  own?.server.stop(true);
});

/** A listening TCP socket on 127.0.0.1, as the sandbox's PID 1 makes one, for startProxy. */
function listeningSocket(): { fd: number; port: number } {
  const libc = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    getsockname: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  });
  const SOCK_STREAM = 1, SOCK_CLOEXEC = 0o2000000, AF_INET = 2;
  const fd = libc.symbols.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const addr = new Uint8Array([AF_INET, 0, 0, 0, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  if (fd < 0 || libc.symbols.bind(fd, ptr(addr), 16) !== 0 || libc.symbols.listen(fd, 64) !== 0) throw new Error("can't make a listening socket");
  const length = new Uint32Array([16]);
  libc.symbols.getsockname(fd, ptr(addr), ptr(length));
  libc.close();
  return { fd, port: (addr[2]! << 8) | addr[3]! };
}

/** A proxy this file runs in-process: names under .nsbox.invalid resolve as `answers` says (the stand-in resolver). */
function proxyWith(rules: string[], opts: { answers?: Record<string, string[] | (() => string[])>; maxConnections?: number; idleMs?: number } = {}) {
  const events: NetEvent[] = [];
  const lookups: string[] = [];
  const socket = listeningSocket();
  const resolve = async (name: string) => {
    lookups.push(name);
    const a = opts.answers?.[name];
    if (a === undefined) throw new Error("ENOTFOUND");
    return typeof a === "function" ? a() : a;
  };
  const proxy = startProxy(socket.fd, rules.map(parseRule), (e) => events.push(e), { resolve, maxConnections: opts.maxConnections, idleMs: opts.idleMs });
  const p = { port: socket.port, events, lookups, close: () => proxy.close() };
  proxies.push(p);
  return p;
}
const proxies: { close(): void }[] = [];
afterAll(() => proxies.forEach((p) => p.close()));

/** Send `bytes` to the proxy on a fresh connection; everything it answers until it closes (or until `done` holds). */
function exchange(port: number, bytes: string, done?: (got: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const s = connect({ host: "127.0.0.1", port }, () => s.write(bytes));
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (done?.(got)) s.destroy();
    });
    s.on("close", () => resolve(got));
    s.on("error", reject);
    setTimeout(() => (s.destroy(), resolve(got + "[timeout]")), 15_000);
  });
}
const status = (answer: string) => Number(answer.split(" ")[1]);
const get = (target: string, host = target) => `GET http://${target}/ HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe("no name leads into the machine (the proxy, with a stand-in resolver)", () => {
  const internal: [string, string, string][] = [
    ["loop4", "127.0.0.1", "loopback"],
    ["loop-other", "127.45.6.7", "loopback"],
    ["loop6", "::1", "loopback"],
    ["mapped", "::ffff:127.0.0.1", "loopback"],
    ["mapped-hex", "::ffff:7f00:1", "loopback"],
    ["nat64", "64:ff9b::7f00:1", "loopback"],
    ["zero", "0.0.0.0", "unspecified"],
    ["zero6", "::", "unspecified"],
    ["metadata", "169.254.169.254", "link-local"],
    ["mapped-metadata", "::ffff:169.254.169.254", "link-local"],
    ["ll6", "fe80::1", "link-local"],
    ["multicast", "224.0.0.1", "multicast"],
    ["multicast6", "ff02::1", "multicast"],
    ["ten", "10.1.2.3", "private"],
    ["rfc1918-172", "172.16.9.9", "private"],
    ["rfc1918-192", "192.168.1.1", "private"],
    ["cgnat", "100.64.0.1", "private (CGNAT)"],
    ["ula", "fd00::1", "private"],
  ];

  for (const [label, address, kind] of internal) {
    test(`*.domain answering ${address} (${kind}) is refused before any connection`, async () => {
      const name = `${label}.nsbox.invalid`;
      const p = proxyWith(["*.nsbox.invalid"], { answers: { [name]: [address] } });
      const before = seen.length;
      const answer = await exchange(p.port, get(`${name}:${web.port}`));
      expect(status(answer)).toBe(403);
      expect(answer).toContain(blockedLine(name, web.port, `${name} resolves to the ${kind} address ${address}`).slice("nsbox: ".length));
      expect(p.events).toEqual([expect.objectContaining({ action: "block", protocol: "http", host: name })]);
      expect(seen.length).toBe(before);
    });
  }

  test("the issue's example: *.example.test answering this host's own address is refused; a rule naming the address reaches it (control)", async () => {
    if (!own) return; // no non-loopback address on this machine
    const port = own.server.port!;
    const p = proxyWith(["*.nsbox.invalid"], { answers: { "svc.nsbox.invalid": [own.address] } });
    const answer = await exchange(p.port, get(`svc.nsbox.invalid:${port}`));
    expect(status(answer)).toBe(403);
    expect(answer).toContain(`svc.nsbox.invalid resolves to this host's own address ${own.address}`);
    const control = proxyWith(["*.nsbox.invalid", `${own.address}:${port}`], { answers: { "svc.nsbox.invalid": [own.address] } });
    const served = await exchange(control.port, get(`svc.nsbox.invalid:${port}`));
    expect(status(served)).toBe(200);
    expect(served).toEndWith("own /\n");
  });

  test("controls: a command-line rule naming the loopback address (or localhost) lets a name that resolves to it through", async () => {
    for (const [rule, answer] of [[`127.0.0.1:${web.port}`, "127.0.0.1"], [`127.0.0.0/8:${web.port}`, "127.0.0.1"], [`127.0.0.1`, "::ffff:127.0.0.1"], [`localhost:${web.port}`, "127.0.0.1"]] as const) {
      const p = proxyWith(["*.nsbox.invalid", rule], { answers: { "a.nsbox.invalid": [answer] } });
      const served = await exchange(p.port, get(`a.nsbox.invalid:${web.port}`));
      expect(`${rule}: ${status(served)}`).toBe(`${rule}: 200`);
    }
  });

  test("a rule wider than the range (0.0.0.0/0) does not open loopback: the literal address is refused, a rule inside 127/8 opens it (control)", async () => {
    const wide = proxyWith(["0.0.0.0/0"]);
    const answer = await exchange(wide.port, get(`127.0.0.1:${web.port}`));
    expect(status(answer)).toBe(403);
    expect(answer).toContain("the loopback address 127.0.0.1 is reached only through a command-line rule naming it");
    const narrow = proxyWith(["0.0.0.0/0", "127.0.0.0/8"]);
    expect(status(await exchange(narrow.port, get(`127.0.0.1:${web.port}`)))).toBe(200);
  });

  test("every address a name resolves to is checked, not just the first: a public answer next to a loopback one is refused", async () => {
    if (!own) return;
    const port = own.server.port!;
    const rules = ["*.nsbox.invalid", `${own.address}:${port}`];
    const mixed = proxyWith(rules, { answers: { "m.nsbox.invalid": [own.address, "127.0.0.1"] } });
    const answer = await exchange(mixed.port, get(`m.nsbox.invalid:${port}`));
    expect(status(answer)).toBe(403);
    expect(answer).toContain("resolves to the loopback address 127.0.0.1");
    const control = proxyWith(rules, { answers: { "m.nsbox.invalid": [own.address] } });
    expect(status(await exchange(control.port, get(`m.nsbox.invalid:${port}`)))).toBe(200);
  });

  test("DNS rebinding: the name is resolved once and the connection goes to exactly the checked address", async () => {
    if (!own) return;
    const port = own.server.port!;
    let calls = 0;
    // First answer: the allowed own address; any later lookup would answer loopback.
    const p = proxyWith(["*.nsbox.invalid", `${own.address}:${port}`], { answers: { "r.nsbox.invalid": () => (calls++ === 0 ? [own!.address] : ["127.0.0.1"]) } });
    const answer = await exchange(p.port, get(`r.nsbox.invalid:${port}`));
    expect(answer).toEndWith("own /\n");
    expect(p.lookups).toEqual(["r.nsbox.invalid"]);
    expect(p.events.at(-1)).toMatchObject({ action: "allow", address: own.address });
  });

  test("SOCKS5 and CONNECT get the same check", async () => {
    const p = proxyWith(["*.nsbox.invalid"], { answers: { "s.nsbox.invalid": ["127.0.0.1"] } });
    const connectAnswer = await exchange(p.port, `CONNECT s.nsbox.invalid:${web.port} HTTP/1.1\r\nHost: s.nsbox.invalid:${web.port}\r\n\r\n`);
    expect(status(connectAnswer)).toBe(403);
    const name = Buffer.from("s.nsbox.invalid");
    const socksReply = await new Promise<number[]>((resolve) => {
      const s = connect({ host: "127.0.0.1", port: p.port }, () => {
        s.write(Buffer.from([5, 1, 0]));
        s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([web.port! >> 8, web.port! & 255])]));
      });
      let got = Buffer.alloc(0);
      s.on("data", (d) => (got = Buffer.concat([got, d])));
      s.on("close", () => resolve([...got]));
    });
    expect(socksReply.slice(0, 4)).toEqual([5, 0, 5, 2]); // method accepted, then "not allowed by ruleset"
    expect(p.events.map((e) => [e.protocol, e.action])).toEqual([["connect", "block"], ["socks5", "block"]]);
  });
});

describe("the address policy (src/net/address-policy.ts)", () => {
  const rules = (...texts: string[]): Rule[] => texts.map(parseRule);
  test("what is internal, private, or public", () => {
    expect(classify("8.8.8.8")).toBeUndefined();
    expect(classify("2001:db8::1")).toBeUndefined();
    expect(classify("192.0.2.2", ["192.0.2.2"])?.label).toBe("this host's own");
    expect(classify("::ffff:192.0.2.2", ["192.0.2.2"])?.label).toBe("this host's own");
    expect(classify("10.0.0.5", ["10.0.0.5"])?.label).toBe("this host's own");
    expect(classify("255.255.255.255")?.label).toBe("reserved");
    expect(classify("fec0::1")?.kind).toBe("private");
  });
  test("private ranges open only through a rule inside them; internal ones only by naming them; @registries never", () => {
    expect(refusal("10.1.2.3", 443, rules("10.0.0.0/8"), [])).toBeUndefined();
    expect(refusal("10.1.2.3", 443, rules("10.1.2.3:443"), [])).toBeUndefined();
    expect(refusal("10.1.2.3", 443, rules("10.1.2.3:80"), [])).toBe("the private address 10.1.2.3");
    expect(refusal("10.1.2.3", 443, rules("0.0.0.0/0"), [])).toBe("the private address 10.1.2.3");
    expect(refusal("172.20.0.1", 80, rules("172.0.0.0/8"), [])).toBe("the private address 172.20.0.1");
    expect(refusal("fd12::1", 80, rules("[fd00::]/8"), [])).toBeUndefined();
    expect(refusal("169.254.169.254", 80, rules("169.254.169.254"), [])).toBeUndefined();
    expect(refusal("169.254.169.254", 80, rules("169.254.0.0/16"), [])).toBeUndefined();
    expect(refusal("169.254.169.254", 80, rules("0.0.0.0/0", "localhost"), [])).toBe("the link-local address 169.254.169.254");
    expect(refusal("192.0.2.2", 80, rules("192.0.2.0/24"), ["192.0.2.2"])).toBe("this host's own address 192.0.2.2");
    expect(refusal("192.0.2.2", 80, rules("192.0.2.2"), ["192.0.2.2"])).toBeUndefined();
    expect(refusal("192.0.2.9", 80, rules("192.0.2.0/24"), ["192.0.2.2"])).toBeUndefined();
    expect(refusal("::ffff:127.0.0.1", 80, rules("[::ffff:7f00:1]"), [])).toBeUndefined();
    const registry: Rule[] = [{ ...parseRule("127.0.0.1:4873"), origin: "registry" }];
    expect(refusal("127.0.0.1", 4873, registry, [])).toBe("the loopback address 127.0.0.1");
    expect(refusal("127.0.0.1", 4873, [...registry, parseRule("127.0.0.1:4873")], [])).toBeUndefined();
  });
});

describe("plain HTTP: one request per connection, Host = target", () => {
  test("a Host header that differs from the checked target is refused; the same header equal to the target passes (control)", async () => {
    const p = proxyWith([`127.0.0.1:${web.port}`]);
    const before = seen.length;
    const refused = await exchange(p.port, get(`127.0.0.1:${web.port}`, "internal.admin"));
    expect(status(refused)).toBe(403);
    expect(refused).toContain("its Host header 'internal.admin' is not the target");
    expect(seen.length).toBe(before);
    const served = await exchange(p.port, get(`127.0.0.1:${web.port}`));
    expect(status(served)).toBe(200);
    expect(seen.at(-1)).toEqual({ path: "/", host: `127.0.0.1:${web.port}` });
    // No Host header at all: the target's is added.
    await exchange(p.port, `GET http://127.0.0.1:${web.port}/nohost HTTP/1.0\r\n\r\n`);
    expect(seen.at(-1)).toEqual({ path: "/nohost", host: `127.0.0.1:${web.port}` });
  });

  test("two Host headers, a header smuggled behind a bare LF, a folded header: refused", async () => {
    const p = proxyWith([`127.0.0.1:${web.port}`]);
    const t = `127.0.0.1:${web.port}`;
    for (const head of [
      `GET http://${t}/ HTTP/1.1\r\nHost: ${t}\r\nHost: internal.admin\r\n\r\n`,
      `GET http://${t}/ HTTP/1.1\r\nX-A: 1\nHost: internal.admin\r\nHost: ${t}\r\n\r\n`,
      `GET http://${t}/ HTTP/1.1\r\nHost: ${t}\r\nX-A: 1\r\n Host: internal.admin\r\n\r\n`,
    ]) expect(status(await exchange(p.port, head))).toBe(400);
  });

  test("a request pipelined behind the first is never sent upstream; the same bytes sent directly reach the server (control)", async () => {
    const t = `127.0.0.1:${recorder.port}`;
    const pipelined = `GET http://${t}/first HTTP/1.1\r\nHost: ${t}\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal.admin\r\n\r\n`;
    const p = proxyWith([t]);
    const n = recorded.length;
    const answer = await exchange(p.port, pipelined, (got) => got.endsWith("ok\n"));
    expect(answer).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(answer.toLowerCase()).toContain("connection: close\r\n");
    expect(await eventually(() => recorded[n]?.closed === true)).toBe(true);
    expect(recorded[n]!.bytes).toContain("GET /first HTTP/1.1\r\n");
    expect(recorded[n]!.bytes).not.toContain("smuggled");
    // Control: straight to the server, the second request arrives.
    await new Promise<void>((resolve) => {
      const s = connect({ host: "127.0.0.1", port: recorder.port }, () => s.write(pipelined.replace(`http://${t}`, "")));
      s.on("data", () => s.end());
      s.on("close", () => resolve());
    });
    expect(await eventually(() => recorded[n + 1]?.closed === true)).toBe(true);
    expect(recorded[n + 1]!.bytes).toContain("GET /smuggled");
  });

  for (const [framing, head, body] of [
    ["Content-Length", "Content-Length: 5", "hello"],
    ["chunked", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"],
  ] as const) {
    test(`a request smuggled after a ${framing} body is not forwarded; the body itself is`, async () => {
      const t = `127.0.0.1:${recorder.port}`;
      const p = proxyWith([t]);
      const n = recorded.length;
      const answer = await exchange(p.port, `POST http://${t}/upload HTTP/1.1\r\nHost: ${t}\r\n${head}\r\n\r\n${body}GET /smuggled HTTP/1.1\r\nHost: internal.admin\r\n\r\n`, (got) => got.endsWith("ok\n"));
      expect(status(answer)).toBe(200);
      expect(await eventually(() => recorded[n]?.closed === true)).toBe(true);
      expect(recorded[n]!.bytes).toEndWith(`\r\n\r\n${body}`);
      expect(recorded[n]!.bytes).not.toContain("smuggled");
    });
  }

  test("ambiguous framing is refused: Content-Length with Transfer-Encoding, two different lengths, an unknown coding", async () => {
    const t = `127.0.0.1:${recorder.port}`;
    const p = proxyWith([t]);
    for (const headers of ["Content-Length: 5\r\nTransfer-Encoding: chunked", "Content-Length: 5\r\nContent-Length: 6", "Transfer-Encoding: gzip, chunked"]) {
      expect(status(await exchange(p.port, `POST http://${t}/ HTTP/1.1\r\nHost: ${t}\r\n${headers}\r\n\r\nhello`))).toBe(400);
    }
  });
});

describe("the proxy's bounds: a connection cap and an idle timeout", () => {
  test("past the cap a new connection is closed at once and reported once; a slot freed serves again (control)", async () => {
    const p = proxyWith([`127.0.0.1:${web.port}`], { maxConnections: 4 });
    const held: Socket[] = [];
    const closed = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const s = connect({ host: "127.0.0.1", port: p.port });
      s.on("close", () => closed.add(i));
      s.on("error", () => {});
      held.push(s);
      await new Promise((r) => s.once("connect", r));
      if (i === 3) await eventually(() => true, 0); // the four are open
    }
    expect(await eventually(() => closed.has(4) && closed.has(5))).toBe(true);
    expect([0, 1, 2, 3].some((i) => closed.has(i))).toBe(false);
    expect(p.events.filter((e) => e.protocol === "proxy")).toEqual([expect.objectContaining({ action: "block", reason: "more than 4 connections open at once: the new ones were closed" })]);
    held[0]!.destroy();
    expect(await eventually(async () => status(await exchange(p.port, get(`127.0.0.1:${web.port}`))) === 200)).toBe(true);
    held.forEach((s) => s.destroy());
  });

  test("a connection with nothing moving is closed after the idle time; one that keeps sending stays open (control)", async () => {
    const p = proxyWith([`127.0.0.1:${web.port}`], { idleMs: 1000 });
    const idle = connect({ host: "127.0.0.1", port: p.port });
    let idleClosed = false;
    idle.on("close", () => (idleClosed = true)).on("error", () => {});
    const busy = connect({ host: "127.0.0.1", port: p.port });
    let busyClosed = false;
    busy.on("close", () => (busyClosed = true)).on("error", () => {});
    let answer = "";
    busy.on("data", (d) => (answer += d));
    busy.write(`GET http://127.0.0.1:${web.port}/slow HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n`);
    const ticker = setInterval(() => busy.write("X-Slow: 1\r\n"), 100);
    expect(await eventually(() => idleClosed)).toBe(true);
    await Bun.sleep(2500);
    clearInterval(ticker);
    expect(busyClosed).toBe(false);
    busy.write("\r\n");
    expect(await eventually(() => answer.includes("web /slow"))).toBe(true);
    busy.destroy();
    expect(p.events.filter((e) => e.protocol === "proxy").map((e) => e.reason)).toEqual(["closed connections idle for 1 s"]);
  });
});

/** A project directory (the sandbox's cwd) and a stand-in $HOME, with the registry server's URL. */
function project(): { dir: string; home: string; env: Record<string, string> } {
  const dir = scratchIn(made);
  const home = homeIn(made);
  return { dir, home, env: { ...env, HOME: home, XDG_CONFIG_HOME: join(home, ".config") } };
}
/** curl through the proxy even to 127.0.0.1 (NO_PROXY keeps loopback direct unless a command-line rule names it). */
const CURL = "curl -x http://127.0.0.1:3128 --noproxy ''";
const run = (p: { dir: string; env: Record<string, string> }, net: string, script: string, extra: string[] = []): Promise<Ran> =>
  nsbox(["--net", net, ...extra, "--", "sh", "-c", script], { cwd: p.dir, env: p.env });

describe("@registries: only the user's own configuration, and still the address policy", () => {
  const url = () => `http://127.0.0.1:${web.port}/`;
  const planted: [string, (u: string) => string][] = [
    [".npmrc", (u) => `registry=${u}\n`],
    ["bunfig.toml", (u) => `[install]\nregistry = "${u}"\n`],
    ["pip.conf", (u) => `[global]\nindex-url = ${u}\n`],
  ];
  for (const [file, text] of planted) {
    test(`a registry in the project's ${file} opens nothing, and nsbox says it ignored it`, async () => {
      const p = project();
      writeFileSync(join(p.dir, file), text(url()));
      const r = await run(p, "allow=@registries", `${CURL} -s -f http://127.0.0.1:${web.port}/reg; echo "curl: $?"`);
      expect(r.stdout).toBe("curl: 22\n");
      expect(r.stderr).toContain(`@registries: ignored the registry 127.0.0.1:${web.port} in the project's ${file}`);
      expect(blockedLines(r.stderr)).toEqual([blockedLine("127.0.0.1", web.port!, "not in --net allow")]);
    });
  }

  test("started by `npm run`: the npm_config_registry npm exported from the project's .npmrc opens nothing either", async () => {
    const p = project();
    writeFileSync(join(p.dir, ".npmrc"), `registry=${url()}\n`);
    // What `npm run` puts in its scripts' environment (checked with npm 11): the project's registry, lower-case.
    Object.assign(p.env, { npm_lifecycle_event: "test", npm_command: "run-script", npm_config_registry: url(), npm_config_userconfig: join(p.dir, ".npmrc") });
    const r = await run(p, "allow=@registries", `${CURL} -s -f http://127.0.0.1:${web.port}/reg; echo "curl: $?"`);
    expect(r.stdout).toBe("curl: 22\n");
    expect(blockedLines(r.stderr)).toEqual([blockedLine("127.0.0.1", web.port!, "not in --net allow")]);
    // Control: the same variable outside a script runner is the user's own, and becomes a rule.
    const { npm_lifecycle_event, npm_command, ...plain } = p.env;
    const control = await run({ ...p, env: plain }, "allow=@registries", `${CURL} -s -f http://127.0.0.1:${web.port}/reg; echo "curl: $?"`);
    expect(blockedLines(control.stderr)).toEqual([blockedLine("127.0.0.1", web.port!, "the loopback address 127.0.0.1 is reached only through a command-line rule naming it")]);
  });

  const userFiles: [string, (home: string) => string, (u: string) => string][] = [
    ["~/.npmrc", (h) => join(h, ".npmrc"), (u) => `registry=${u}\n`],
    ["$XDG_CONFIG_HOME/.bunfig.toml", (h) => join(h, ".config", ".bunfig.toml"), (u) => `[install]\nregistry = { url = "${u}" }\n`],
    ["~/.config/pip/pip.conf", (h) => join(h, ".config", "pip", "pip.conf"), (u) => `[global]\nextra-index-url =\n    https://pypi.org/simple\n    ${u}\n`],
  ];
  for (const [label, where, text] of userFiles) {
    test(`control: the same URL in ${label} becomes a rule, which still does not open loopback; naming it on the command line does`, async () => {
      const p = project();
      mkdirSync(join(p.home, ".config", "pip"), { recursive: true });
      writeFileSync(where(p.home), text(url()));
      const script = `${CURL} -s -f http://127.0.0.1:${web.port}/reg; echo "curl: $?"`;
      const r = await run(p, "allow=@registries", script);
      expect(r.stdout).toBe("curl: 22\n");
      // Matched by the registry's rule (not "not in --net allow"), refused by the address policy.
      expect(blockedLines(r.stderr)).toEqual([blockedLine("127.0.0.1", web.port!, "the loopback address 127.0.0.1 is reached only through a command-line rule naming it")]);
      const named = await run(p, `allow=@registries,127.0.0.1:${web.port}`, `curl -sS -f http://127.0.0.1:${web.port}/reg`);
      expect(named).toEqual({ exitCode: 0, stdout: "web /reg\n", stderr: "" });
    });
  }

  test("control: NPM_CONFIG_REGISTRY and PIP_EXTRA_INDEX_URL in the user's environment become rules too", async () => {
    const p = project();
    p.env.NPM_CONFIG_REGISTRY = url();
    p.env.PIP_EXTRA_INDEX_URL = `https://pypi.org/simple http://127.0.0.1:${recorder.port}/`;
    const r = await run(p, "allow=@registries", `${CURL} -s -f http://127.0.0.1:${web.port}/; echo "curl: $?"; ${CURL} -s -f http://127.0.0.1:${recorder.port}/; echo "curl: $?"`);
    expect(r.stdout).toBe("curl: 22\ncurl: 22\n");
    const why = "the loopback address 127.0.0.1 is reached only through a command-line rule naming it";
    expect(blockedLines(r.stderr)).toEqual([blockedLine("127.0.0.1", web.port!, why), blockedLine("127.0.0.1", recorder.port, why)]);
  });
});

describe("no name leads into the machine (real sandboxes)", () => {
  /** The host's resolver turns a decimal number into the IPv4 address it stands for: a name that answers this host's own address. */
  const decimal = (a: string) => String(a.split(".").reduce((v, o) => v * 256 + Number(o), 0));

  test("a name resolving to this host's own address is refused; the rule naming the address reaches the service (control)", async () => {
    if (!own) return;
    const p = project();
    const port = own.server.port!;
    const name = decimal(own.address);
    // curl (and any URL parser) would turn the numeric name into the address itself: CONNECT to the name, raw.
    const script = `bash -c 'exec 3<>/dev/tcp/127.0.0.1/3128; printf "CONNECT ${name}:${port} HTTP/1.1\\r\\n\\r\\nGET /svc HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n" >&3; cat <&3 | tr -d "\\r" | sed -n "1p;\\$p"'`;
    const r = await run(p, `allow=${name}:${port}`, script);
    expect(r.stdout).toBe(`HTTP/1.1 403 Forbidden\n${blockedLine(name, port, name + " resolves to this host's own address " + own.address)}\n`);
    expect(blockedLines(r.stderr)).toEqual([blockedLine(name, port, `${name} resolves to this host's own address ${own.address}`)]);
    const control = await run(p, `allow=${name}:${port},${own.address}:${port}`, script);
    expect(control.stdout).toBe("HTTP/1.1 200 Connection Established\nown /svc\n");
  });

  test("curl with a Host header other than the target is refused by the proxy; without it, served (control)", async () => {
    const p = project();
    const r = await run(p, `allow=127.0.0.1:${web.port}`, [
      `curl -s -f -H 'Host: internal.admin' http://127.0.0.1:${web.port}/h; echo "other host: $?"`,
      `curl -s -f http://127.0.0.1:${web.port}/h; echo "same host: $?"`,
    ].join("\n"));
    expect(r.stdout).toBe("other host: 22\nweb /h\nsame host: 0\n");
  });
});

describe("--net-log never follows what the payload planted", () => {
  /** A file standing in for the user's ~/.bashrc, outside the project. */
  function victim(): string {
    const file = join(homeIn(made), ".bashrc");
    writeFileSync(file, "# the user's own\n");
    return file;
  }
  const attempt = `curl -s http://127.0.0.1:1/ >/dev/null; true`;

  test("a symlink planted where the log goes is refused, the target untouched; a regular file is written (control)", async () => {
    const p = project();
    const target = victim();
    symlinkSync(target, join(p.dir, "net.jsonl"));
    const r = await run(p, `allow=127.0.0.1:${web.port}`, attempt, ["--net-log", "net.jsonl"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("nsbox: --net-log net.jsonl: it is a symlink");
    expect(readFileSync(target, "utf8")).toBe("# the user's own\n");
    rmSync(join(p.dir, "net.jsonl"));
    const control = await run(p, `allow=127.0.0.1:${web.port}`, attempt, ["--net-log", "net.jsonl"]);
    expect(control.exitCode).toBe(0);
    expect(JSON.parse(readFileSync(join(p.dir, "net.jsonl"), "utf8"))).toMatchObject({ action: "block", port: 1 });
  });

  test("a hard link to another file, a directory symlink on the path: refused", async () => {
    const p = project();
    const target = victim();
    linkSync(target, join(p.dir, "hard.jsonl"));
    const hard = await run(p, `allow=127.0.0.1:${web.port}`, attempt, ["--net-log", "hard.jsonl"]);
    expect(hard.exitCode).toBe(125);
    expect(hard.stderr).toContain("it has other hard links");
    symlinkSync(join(target, ".."), join(p.dir, "logs"));
    const dir = await run(p, `allow=127.0.0.1:${web.port}`, attempt, ["--net-log", "logs/.bashrc"]);
    expect(dir.exitCode).toBe(125);
    expect(dir.stderr).toContain(`${p.dir}/logs is a symlink or not a directory`);
    expect(readFileSync(target, "utf8")).toBe("# the user's own\n");
  });

  test("the payload swapping the log for a symlink while it runs changes nothing: every line goes to the descriptor opened at start", async () => {
    const p = project();
    const target = victim();
    const r = await run(p, `allow=127.0.0.1:${web.port}`, `rm net.jsonl && ln -s ${target} net.jsonl && ${attempt}`, ["--net-log", "net.jsonl"]);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("# the user's own\n");
    // Control: without the swap, the same attempt is logged.
    const q = project();
    await run(q, `allow=127.0.0.1:${web.port}`, attempt, ["--net-log", "net.jsonl"]);
    expect(readFileSync(join(q.dir, "net.jsonl"), "utf8")).toContain('"port":1');
  });

  test("a log file owned by another user is refused (as root only: no one else can make one)", async () => {
    if (process.getuid!() !== 0) return;
    const p = project();
    writeFileSync(join(p.dir, "theirs.jsonl"), "");
    chownSync(join(p.dir, "theirs.jsonl"), 1000, 1000);
    const r = await run(p, `allow=127.0.0.1:${web.port}`, attempt, ["--net-log", "theirs.jsonl"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("owned by uid 1000, not by you");
    expect(existsSync(join(p.dir, "theirs.jsonl"))).toBe(true);
  });
});
