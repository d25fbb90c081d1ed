// The filtering proxy: serves the sandbox's connections on the socket its PID 1 made, and
// connects from the host to what the rules allow. HTTP CONNECT, plain HTTP forwarding and
// SOCKS5 on one port; names are resolved here, so the sandbox needs no DNS.
import { lookup } from "node:dns/promises";
import { createServer, connect, type Socket } from "node:net";
import { findRule, isIP, isLoopback, type Rule } from "./rules.ts";

/** One decision, as written to --net-log. */
export interface NetEvent {
  time: string;
  action: "allow" | "block" | "error";
  protocol: "connect" | "http" | "socks5";
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

/** Serve the sandbox's connections on `fd` (a listening socket made inside its network namespace). */
export function startProxy(fd: number, rules: Rule[], onEvent: (e: NetEvent) => void): Proxy {
  const open = new Set<Socket>();
  // Half-open on both sides: one direction's end-of-file is passed on, the other keeps flowing.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    first(client);
  });
  server.listen({ fd });

  /** Where a request may go: the address to connect to, or why not. */
  async function decide(host: string, port: number): Promise<{ address?: string; reason?: string }> {
    const rule = findRule(rules, host, port);
    if (!rule) return { reason: "not in --net allow" };
    const bare = host.replace(/^\[|\]$/g, "");
    if (isIP(bare)) return { address: bare };
    let address: string;
    try {
      address = (await lookup(bare)).address;
    } catch {
      return { reason: `can't resolve ${bare}` };
    }
    // A name must not lead to the host's own services unless the rule says localhost or gives
    // the address itself: a DNS answer of 127.0.0.1 is not a way into the machine.
    if (isLoopback(address) && !(rule.kind === "host" && rule.host === "localhost")) {
      return { reason: `${bare} resolves to the loopback address ${address}` };
    }
    return { address };
  }

  function report(protocol: NetEvent["protocol"], host: string, port: number, d: { address?: string; reason?: string }, action?: NetEvent["action"]) {
    onEvent({
      time: new Date().toISOString(), protocol, host, port,
      action: action ?? (d.address ? "allow" : "block"),
      ...(d.address ? { address: d.address } : {}), ...(d.reason ? { reason: d.reason } : {}),
    });
  }

  /** Connect upstream; `ready` runs once connected, `failed` if it cannot. */
  function upstream(address: string, port: number, client: Socket, ready: (up: Socket) => void, failed: (e: Error) => void) {
    const up = connect({ host: address, port, allowHalfOpen: true });
    open.add(up);
    up.once("connect", () => {
      up.removeListener("error", failed);
      // pipe() passes each end-of-file on. An upstream that closes still has its last bytes
      // queued toward the client: end (which flushes), never destroy. A client that is gone
      // has no one left to deliver to: destroy.
      up.on("error", () => client.destroy());
      up.on("close", () => (open.delete(up), client.end()));
      client.on("error", () => up.destroy());
      client.on("close", () => up.destroy());
      ready(up);
    });
    up.once("error", failed);
  }

  /** Read until the first message is complete, then tell SOCKS5 (first byte 5) from HTTP. */
  function first(client: Socket) {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf[0] === 5) {
        client.removeListener("data", onData);
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
      client.pause();
      http(client, buf.subarray(0, end + 4).toString("latin1"), buf.subarray(end + 4));
    };
    client.on("data", onData);
  }

  async function http(client: Socket, head: string, rest: Buffer) {
    const [requestLine = "", ...headers] = head.slice(0, -4).split("\r\n");
    const [method = "", target = "", version = "HTTP/1.1"] = requestLine.split(" ");
    const refuse = (status: string, why: string) =>
      client.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(why) + 1}\r\n\r\n${why}\n`);
    if (method === "CONNECT") {
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
      if (!m) return refuse("400 Bad Request", "nsbox: CONNECT needs host:port");
      const [host, port] = [m[1]!, Number(m[2])];
      const d = await decide(host, port);
      if (!d.address) return report("connect", host, port, d), refuse("403 Forbidden", `nsbox: blocked connect to ${host}:${port} (${d.reason})`);
      upstream(d.address, port, client, (up) => {
        report("connect", host, port, d);
        client.write(`${version} 200 Connection Established\r\n\r\n`);
        if (rest.length) up.write(rest);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      }, (e) => (report("connect", host, port, { reason: e.message }, "error"), refuse("502 Bad Gateway", `nsbox: can't connect to ${host}:${port}: ${e.message}`)));
      return;
    }
    let url: URL;
    try {
      url = new URL(target);
      if (url.protocol !== "http:") throw new Error();
    } catch {
      return refuse("400 Bad Request", "nsbox: this is a proxy; send absolute http:// URLs or use CONNECT");
    }
    const port = Number(url.port || 80);
    const d = await decide(url.hostname, port);
    if (!d.address) return report("http", url.hostname, port, d), refuse("403 Forbidden", `nsbox: blocked connect to ${url.hostname}:${port} (${d.reason})`);
    // One request per connection upstream: the request goes out in origin form with
    // Connection: close, and its body streams after it.
    const kept = headers.filter((h) => !/^(proxy-connection|proxy-authorization|connection|keep-alive):/i.test(h));
    const out = [`${method} ${url.pathname}${url.search} ${version}`, ...kept, "Connection: close", "", ""].join("\r\n");
    upstream(d.address, port, client, (up) => {
      report("http", url.hostname, port, d);
      up.write(out);
      if (rest.length) up.write(rest);
      client.pipe(up);
      up.pipe(client);
      client.resume();
    }, (e) => (report("http", url.hostname, port, { reason: e.message }, "error"), refuse("502 Bad Gateway", `nsbox: can't connect to ${url.hostname}:${port}: ${e.message}`)));
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
      if (cmd !== 1) return reply(7), client.end(), false;
      const d = await decide(host, port);
      if (!d.address) return report("socks5", host, port, d), reply(2), client.end(), false;
      upstream(d.address, port, client, (up) => {
        report("socks5", host, port, d);
        reply(0);
        if (rest.length) up.write(rest);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      }, (e) => (report("socks5", host, port, { reason: e.message }, "error"), reply(5), client.end()));
      return true;
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      void step();
    };
    client.on("data", onData);
    client.resume();
    void step();
  }

  return {
    close() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}
