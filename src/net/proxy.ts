// The filtering proxy: serves the sandbox's connections on the socket its PID 1 made, and
// connects from the host to what the rules allow. HTTP CONNECT, plain HTTP forwarding and
// SOCKS5 on one port; names are resolved here, so the sandbox needs no DNS.
import { lookup } from "node:dns/promises";
import { createServer, connect, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { refusal } from "./address-policy.ts";
import { findRule, isIP, type Rule } from "./rules.ts";

/** One decision, as written to --net-log. */
export interface NetEvent {
  time: string;
  action: "allow" | "block" | "error";
  /** "proxy" for the proxy's own limits (host and port then empty). */
  protocol: "connect" | "http" | "socks5" | "proxy";
  host: string;
  port: number;
  /** The address connected to, when allowed. */
  address?: string;
  reason?: string;
}

export interface Proxy {
  /** Stop accepting and end every open connection. */
  close(): void;
}

const MAX_HEADER = 64 * 1024;

/**
 * The proxy's bounds on the host process (every connection costs the nsbox process memory):
 * at most this many connections from the sandbox at once (each has one upstream), and a
 * connection with no data either way for this long is closed. Past the cap, new connections
 * are closed at once; each limit is reported once.
 */
export const PROXY_LIMITS = { maxConnections: 256, idleMs: 60_000 };

export interface ProxyOptions {
  /** Every address a name resolves to (default: the host's resolver). Tests give a stand-in. */
  resolve?: (name: string) => Promise<string[]>;
  /** This host's own interface addresses (default: os.networkInterfaces(), read at each decision). */
  ownAddresses?: () => string[];
  maxConnections?: number;
  idleMs?: number;
}

const systemResolve = async (name: string) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
const systemAddresses = () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));

/** Serve the sandbox's connections on `fd` (a listening socket made inside its network namespace). */
export function startProxy(fd: number, rules: Rule[], onEvent: (e: NetEvent) => void, options: ProxyOptions = {}): Proxy {
  const resolve = options.resolve ?? systemResolve;
  const ownAddresses = options.ownAddresses ?? systemAddresses;
  const maxConnections = options.maxConnections ?? PROXY_LIMITS.maxConnections;
  const idleMs = options.idleMs ?? PROXY_LIMITS.idleMs;
  const open = new Set<Socket>();
  /** Each connection from the sandbox, and when data last moved on it (either way). */
  const clients = new Map<Socket, { last: number }>();
  const reported = new Set<string>();
  const once = (key: string, reason: string) => {
    if (reported.has(key)) return;
    reported.add(key);
    onEvent({ time: new Date().toISOString(), action: key === "cap" ? "block" : "error", protocol: "proxy", host: "", port: 0, reason });
  };
  // Half-open on both sides: one direction's end-of-file is passed on, the other keeps flowing.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (clients.size >= maxConnections) {
      client.destroy();
      once("cap", `more than ${maxConnections} connections open at once: the new ones were closed`);
      return;
    }
    open.add(client);
    const state = { last: Date.now() };
    clients.set(client, state);
    client.on("data", () => void (state.last = Date.now()));
    client.on("close", () => (open.delete(client), clients.delete(client)));
    client.on("error", () => client.destroy());
    first(client);
  });
  server.listen({ fd });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [client, state] of clients) {
      if (now - state.last < idleMs) continue;
      once("idle", `closed connections idle for ${idleMs / 1000} s`);
      client.destroy();
    }
  }, Math.max(50, Math.min(idleMs / 2, 5000)));
  sweep.unref?.();
  const touch = (client: Socket) => {
    const state = clients.get(client);
    if (state) state.last = Date.now();
  };

  /**
   * Where a request may go: the addresses to connect to, or why not. A name is resolved once
   * and every address it resolves to must pass the address policy; the connection then goes to
   * exactly those checked addresses (no second lookup for a rebinding answer to slip into).
   */
  async function decide(host: string, port: number): Promise<{ addresses?: string[]; reason?: string }> {
    const rule = findRule(rules, host, port);
    if (!rule) return { reason: "not in --net allow" };
    const bare = host.replace(/^\[|\]$/g, "");
    const literal = isIP(bare) !== 0;
    /*
     * Security decision: only a DNS name goes to the resolver. getaddrinfo reads
     * `::ffff:127.0.0.1%.example.test` as an address with a scope id and answers it as it is,
     * though `*.example.test` matches it; likewise any name it could read as a number.
     */
    if (!literal && !/^(?=.{1,253}$)[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i.test(bare)) return { reason: "not a host name" };
    if (port < 1 || port > 65535) return { reason: "not a port" };
    let addresses: string[];
    if (literal) addresses = [bare];
    else {
      try {
        addresses = await resolve(bare);
      } catch {
        addresses = [];
      }
      if (addresses.length === 0) return { reason: `can't resolve ${bare}` };
    }
    const own = ownAddresses();
    for (const address of addresses) {
      const why = refusal(address, port, rules, own);
      if (why) return { reason: literal ? `${why} is reached only through a command-line rule naming it` : `${bare} resolves to ${why}` };
    }
    return { addresses };
  }

  function report(protocol: NetEvent["protocol"], host: string, port: number, d: { address?: string; reason?: string }, action?: NetEvent["action"]) {
    onEvent({
      time: new Date().toISOString(), protocol, host, port,
      action: action ?? (d.address ? "allow" : "block"),
      ...(d.address ? { address: d.address } : {}), ...(d.reason ? { reason: d.reason } : {}),
    });
  }

  /**
   * Connect upstream to the first of the checked addresses that answers; `ready` runs once
   * connected (with the address), `failed` when none does.
   */
  function upstream(addresses: string[], port: number, client: Socket, ready: (up: Socket, address: string) => void, failed: (e: Error) => void) {
    const [address, ...others] = addresses;
    let up: Socket;
    try {
      up = connect({ host: address!, port, allowHalfOpen: true });
    } catch (e) {
      return failed(e as Error); // thrown, not emitted (a bad port): never a crash of nsbox
    }
    open.add(up);
    const onError = (e: Error) => {
      open.delete(up);
      up.destroy();
      if (others.length && !client.destroyed) upstream(others, port, client, ready, failed);
      else failed(e);
    };
    up.once("connect", () => {
      up.removeListener("error", onError);
      if (client.destroyed) return void up.destroy();
      // An upstream that closes still has its last bytes queued toward the client: end (which
      // flushes), never destroy. A client that is gone has no one left to deliver to: destroy.
      up.on("data", () => touch(client));
      up.on("error", () => client.destroy());
      up.on("close", () => (open.delete(up), client.end()));
      client.on("error", () => up.destroy());
      client.on("close", () => up.destroy());
      ready(up, address!);
    });
    up.once("error", onError);
  }

  /** Pass everything both ways (CONNECT, SOCKS5): pipe() passes each end-of-file on. */
  function tunnel(client: Socket, up: Socket, rest: Buffer) {
    if (rest.length) up.write(rest);
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }

  /** Read until the first message is complete, then tell SOCKS5 (first byte 5) from HTTP. */
  function first(client: Socket) {
    let buf = Buffer.alloc(0);
    // A client that ends before its request is complete is done (half-open would hold it forever).
    const onEnd = () => client.destroy();
    client.once("end", onEnd);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf[0] === 5) {
        client.removeListener("data", onData);
        client.removeListener("end", onEnd);
        client.pause();
        socks(client, buf);
        return;
      }
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEADER) client.end("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n");
        return;
      }
      client.removeListener("data", onData);
      client.removeListener("end", onEnd);
      client.pause();
      void http(client, buf.subarray(0, end + 4).toString("latin1"), buf.subarray(end + 4));
    };
    client.on("data", onData);
  }

  async function http(client: Socket, head: string, rest: Buffer) {
    const refuse = (status: string, why: string) =>
      client.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(why) + 1}\r\n\r\n${why}\n`);
    const request = parseRequest(head);
    if (typeof request === "string") return refuse("400 Bad Request", `nsbox: ${request}`);
    const { method, target, version, headers } = request;
    if (method === "CONNECT") {
      const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return refuse("400 Bad Request", "nsbox: CONNECT needs host:port");
      const [host, port] = [m[1]!, Number(m[2])];
      const d = await decide(host, port);
      if (!d.addresses) return report("connect", host, port, d), refuse("403 Forbidden", `nsbox: blocked connect to ${host}:${port} (${d.reason})`);
      upstream(d.addresses, port, client, (up, address) => {
        report("connect", host, port, { address });
        client.write(`${version} 200 Connection Established\r\n\r\n`);
        tunnel(client, up, rest);
      }, (e) => (report("connect", host, port, { reason: e.message }, "error"), refuse("502 Bad Gateway", `nsbox: can't connect to ${host}:${port}: ${e.message}`)));
      return;
    }
    let url: URL;
    try {
      url = new URL(target);
      if (url.protocol !== "http:" || !/^http:\/\//i.test(target)) throw new Error();
    } catch {
      return refuse("400 Bad Request", "nsbox: this is a proxy; send absolute http:// URLs or use CONNECT");
    }
    const port = Number(url.port || 80);
    const host = url.hostname;
    /*
     * Security decision: one request per connection. The rule check is made for the target in
     * the request line; the upstream would route by the Host header and by whatever requests
     * follow on the same connection, so the Host header must name the same target (or is
     * added), the request's body is forwarded only up to its end by its own framing
     * (Content-Length or chunked; anything ambiguous is refused, as request smuggling relies on
     * it), and both sides are told Connection: close. A client that pipelines more requests
     * sees the connection close and opens a new one, which is checked again.
     */
    const hosts = headers.filter(([n]) => n === "host").map(([, v]) => v.toLowerCase());
    const authority = url.host.toLowerCase();
    if (hosts.length > 1) return report("http", host, port, { reason: "more than one Host header" }), refuse("400 Bad Request", `nsbox: blocked request to ${host}:${port} (more than one Host header)`);
    if (hosts.length === 1 && hosts[0] !== authority && hosts[0] !== `${url.hostname}:${port}`.toLowerCase()) {
      const reason = `its Host header '${hosts[0]}' is not the target ${authority}`;
      return report("http", host, port, { reason }), refuse("403 Forbidden", `nsbox: blocked request to ${host}:${port} (${reason})`);
    }
    let body: BodyEnd;
    try {
      body = new BodyEnd(headers);
    } catch (e) {
      return refuse("400 Bad Request", `nsbox: ${(e as Error).message}`);
    }
    const d = await decide(host, port);
    if (!d.addresses) return report("http", host, port, d), refuse("403 Forbidden", `nsbox: blocked connect to ${host}:${port} (${d.reason})`);
    const kept = headers.filter(([n]) => !HOP_BY_HOP.has(n)).map(([n, v]) => `${n}: ${v}`);
    const out = [`${method} ${url.pathname}${url.search} ${version}`, `host: ${authority}`, ...kept, "Connection: close", "", ""].join("\r\n");
    upstream(d.addresses, port, client, (up, address) => {
      report("http", host, port, { address });
      up.write(out);
      const send = (chunk: Buffer) => {
        if (body.done) return; // bytes after the request's end are never sent on
        let n: number;
        try {
          n = body.take(chunk);
        } catch {
          client.destroy();
          return;
        }
        if (n > 0 && !up.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          client.pause();
          up.once("drain", () => client.resume());
        }
      };
      send(rest);
      client.on("data", send);
      client.on("end", () => up.end());
      const response = new ResponseHead();
      up.on("data", (chunk: Buffer) => {
        let out: Buffer;
        try {
          out = response.take(chunk);
        } catch {
          up.destroy();
          client.destroy();
          return;
        }
        if (out.length && !client.write(out)) {
          up.pause();
          client.once("drain", () => up.resume());
        }
      });
      up.on("end", () => client.end());
      client.resume();
    }, (e) => (report("http", host, port, { reason: e.message }, "error"), refuse("502 Bad Gateway", `nsbox: can't connect to ${host}:${port}: ${e.message}`)));
  }

  /** SOCKS5 (RFC 1928), no authentication, CONNECT only. */
  function socks(client: Socket, initial: Buffer) {
    let buf = initial;
    let stage: "greeting" | "request" = "greeting";
    const reply = (code: number) => client.write(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    const step = async () => {
      if (stage === "greeting") {
        if (buf.length < 2 || buf.length < 2 + buf[1]!) return false;
        const methods = buf.subarray(2, 2 + buf[1]!);
        buf = buf.subarray(2 + buf[1]!);
        if (!methods.includes(0)) return client.end(Buffer.from([5, 0xff])), false;
        client.write(Buffer.from([5, 0]));
        stage = "request";
      }
      if (buf.length < 5) return false;
      const [, cmd, , type] = buf;
      const addrLen = type === 1 ? 4 : type === 4 ? 16 : type === 3 ? 1 + buf[4]! : -1;
      if (addrLen < 0) return reply(8), client.end(), false;
      if (buf.length < 4 + addrLen + 2) return false;
      const raw = buf.subarray(4, 4 + addrLen);
      const host = type === 1 ? [...raw].join(".") : type === 3 ? raw.subarray(1).toString("latin1")
        : `[${Array.from({ length: 8 }, (_, i) => raw.readUInt16BE(i * 2).toString(16)).join(":")}]`;
      const port = buf.readUInt16BE(4 + addrLen);
      const rest = buf.subarray(4 + addrLen + 2);
      client.pause();
      client.removeListener("data", onData);
      client.removeListener("end", onEnd);
      if (cmd !== 1) return reply(7), client.end(), false;
      const d = await decide(host, port);
      if (!d.addresses) return report("socks5", host, port, d), reply(2), client.end(), false;
      upstream(d.addresses, port, client, (up, address) => {
        report("socks5", host, port, { address });
        reply(0);
        tunnel(client, up, rest);
      }, (e) => (report("socks5", host, port, { reason: e.message }, "error"), reply(5), client.end()));
      return true;
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      void step();
    };
    const onEnd = () => client.destroy();
    client.on("data", onData);
    client.once("end", onEnd);
    client.resume();
    void step();
  }

  return {
    close() {
      clearInterval(sweep);
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

/** Headers that concern one hop: nsbox's own connection to the upstream sets its own. */
const HOP_BY_HOP = new Set(["host", "proxy-connection", "proxy-authorization", "connection", "keep-alive", "upgrade", "te"]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The request line and headers, strictly (RFC 9112): a request that one parser could read
 * differently from another (bare CR or LF, a folded or nameless header, a space in the
 * target) is refused rather than guessed at, since the upstream's reading is the one that counts.
 */
export function parseRequest(head: string): { method: string; target: string; version: string; headers: [string, string][] } | string {
  const lines = head.slice(0, -4).split("\r\n");
  if (lines.some((l) => /[\r\n\0]/.test(l))) return "malformed request (a bare CR, LF or NUL)";
  const parts = lines[0]!.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]!) || !/^HTTP\/1\.[01]$/.test(parts[2]!)) return "malformed request line";
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon < 0 || !TOKEN.test(line.slice(0, colon))) return "malformed header line";
    headers.push([line.slice(0, colon).toLowerCase(), trimOws(line.slice(colon + 1))]);
  }
  return { method: parts[0]!, target: parts[1]!, version: parts[2]!, headers };
}

/**
 * A header value without the spaces and tabs around it, in one pass: a regular expression
 * such as `(.*?)[ \t]*$` backtracks quadratically on a long run of spaces inside the value
 * (one 60 KB head held the proxy, and nsbox with it, for seconds).
 */
function trimOws(value: string): string {
  let start = 0, end = value.length;
  while (start < end && (value[start] === " " || value[start] === "\t")) start++;
  while (end > start && (value[end - 1] === " " || value[end - 1] === "\t")) end--;
  return value.slice(start, end);
}

/** Where a request's body ends: after Content-Length bytes, or after the chunked encoding's last chunk and trailers. */
export class BodyEnd {
  done = false;
  private left = 0;
  private state: "length" | "size" | "data" | "cr" | "lf" | "trailer" = "length";
  private line = "";

  constructor(headers: [string, string][]) {
    const lengths = headers.filter(([n]) => n === "content-length").map(([, v]) => v);
    const codings = headers.filter(([n]) => n === "transfer-encoding").map(([, v]) => v.toLowerCase());
    if (codings.length) {
      if (lengths.length) throw new Error("both Content-Length and Transfer-Encoding");
      if (codings.length > 1 || codings[0] !== "chunked") throw new Error(`unsupported Transfer-Encoding '${codings.join(", ")}'`);
      this.state = "size";
    } else if (lengths.length) {
      if (!lengths.every((v) => /^\d{1,15}$/.test(v) && v === lengths[0])) throw new Error("bad or conflicting Content-Length");
      this.left = Number(lengths[0]);
    }
    if (this.state === "length" && this.left === 0) this.done = true;
  }

  /** How many bytes at the start of `chunk` belong to the body (throws on a malformed body). */
  take(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (this.state === "length" || this.state === "data") {
        const n = Math.min(this.left, chunk.length - i);
        i += n;
        this.left -= n;
        if (this.left === 0) this.state === "length" ? (this.done = true) : (this.state = "cr");
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === "cr" || this.state === "lf") {
        if (byte !== (this.state === "cr" ? 13 : 10)) throw new Error("malformed chunk");
        this.state = this.state === "cr" ? "lf" : "size";
        continue;
      }
      // "size" or "trailer": one line, CRLF-terminated.
      if (byte !== 10) {
        if ((this.line += String.fromCharCode(byte)).length > 4096) throw new Error("chunk line too long");
        continue;
      }
      const line = this.line;
      this.line = "";
      if (!line.endsWith("\r")) throw new Error("malformed chunk line");
      const text = line.slice(0, -1);
      if (this.state === "trailer") {
        if (text === "") this.done = true;
        else if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(text)) throw new Error("malformed trailer");
        continue;
      }
      const m = /^([0-9a-fA-F]{1,12})[ \t]*(;[^\r\n]*)?$/.exec(text);
      if (!m) throw new Error("malformed chunk size");
      this.left = parseInt(m[1]!, 16);
      this.state = this.left === 0 ? "trailer" : "data";
    }
    return i;
  }
}

/**
 * The upstream's response with its final head rewritten to say Connection: close (interim 1xx
 * heads pass as they are), so that the client does not send another request on this connection.
 */
class ResponseHead {
  private buf: Buffer | undefined = Buffer.alloc(0);

  take(chunk: Buffer): Buffer {
    if (!this.buf) return chunk;
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.buf.length > MAX_HEADER) throw new Error("response head too large");
        return Buffer.concat(out);
      }
      const head = this.buf.subarray(0, end).toString("latin1");
      const rest = this.buf.subarray(end + 4);
      const status = Number(head.split(" ")[1]);
      if (status >= 100 && status < 200 && status !== 101) {
        out.push(this.buf.subarray(0, end + 4));
        this.buf = rest;
        continue;
      }
      const lines = head.split("\r\n").filter((l, i) => i === 0 || !/^(connection|keep-alive|proxy-connection)[ \t]*:/i.test(l));
      out.push(Buffer.from([...lines, "Connection: close", "", ""].join("\r\n"), "latin1"), rest);
      this.buf = undefined;
      return Buffer.concat(out);
    }
  }
}
