// The sandbox's resolver: DNS over UDP on 127.0.0.53:53 inside (the socket its PID 1 made and
// passed out), answered from the host for the names the rules allow, refused for the rest.
import { closeSync } from "node:fs";
import { ownEntry } from "../packages.ts";
import { refusal } from "./address-policy.ts";
import type { NameBook } from "./names.ts";
import { normalAddress } from "./names.ts";
import type { NetEvent } from "./proxy.ts";
import { isIP, type Rule } from "./rules.ts";

/** A decision of the resolver, as the session reports and logs it (`protocol: "dns"`, `port` 53). */
export type ResolverEvent = Omit<NetEvent, "protocol"> & { protocol: "dns" };

export interface ResolverOptions {
  /** "none": every name is refused (and recorded); "allow": names the rules allow are answered. */
  mode: "none" | "allow";
  rules: Rule[];
  names: NameBook;
  onEvent: (e: ResolverEvent) => void;
  /** Every address a name resolves to, on the host (default: node:dns lookup, all, verbatim). Tests give a stand-in. */
  resolve?: (name: string) => Promise<string[]>;
  /** This host's own interface addresses (default: os.networkInterfaces(), read at each answer). */
  ownAddresses?: () => string[];
  /** At most this many host lookups at once (default RESOLVER_LIMITS.outstanding). */
  outstanding?: number;
}

export interface Resolver {
  close(): void;
}

/**
 * Bounds. A payload can send datagrams as fast as it likes: each allowed name costs one host
 * lookup, and at most `outstanding` run at once (past that, SERVFAIL at once, said once). An
 * answer is at most 512 bytes (the classic UDP size: no EDNS, no truncation, no TCP); a name
 * answering more addresses than fit gives the first ones. Answers live 5 s: the payload asks
 * again soon, so the host's view (and the address policy) is consulted again soon.
 */
export const RESOLVER_LIMITS = { outstanding: 64, answerBytes: 512, ttl: 5 };

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const QR = 0x8000, RD = 0x0100, RA = 0x0080;

/** The parts of dns-packet used here (it ships no types). */
interface DnsPacket {
  decode(buf: Uint8Array): { id: number; type: string; flags: number; opcode: string; questions?: { name: string; type: string; class: string }[] };
  encode(p: object): Uint8Array;
  name: { encode(n: string): Uint8Array };
}

// node:dns and node:os are read at the first allowed lookup, not in every sandbox with a resolver.
const systemResolve = async (name: string) =>
  (await (require("node:dns/promises") as typeof import("node:dns/promises")).lookup(name, { all: true, verbatim: true })).map((a) => a.address);
const systemAddresses = () =>
  Object.values((require("node:os") as typeof import("node:os")).networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));

/**
 * A DNS name as a host name: letters, digits, `-` and `_` in dot-separated labels. Security
 * decision: only such a name goes to the host's resolver. getaddrinfo reads `127.1`,
 * `0x7f.1` or `::ffff:127.0.0.1%x` as addresses and answers them as they are; a name whose
 * last label is a number is never a DNS name, so it is refused with the literals.
 */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const isHostName = (name: string) => HOST_NAME.test(name) && !/(^|\.)(\d+|0x[0-9a-f]*)$/.test(name) && isIP(name) === 0;

/** A name the payload chose, printable and bounded for a report: every byte outside printable ASCII escaped. */
export function printable(name: string): string {
  const cut = name.length > 255 ? `${name.slice(0, 255)}…` : name;
  return cut.replace(/[^\x20-\x7e…]|\\/g, (c) => (c === "\\" ? "\\\\" : c.charCodeAt(0) < 256 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}` : `\\u{${c.codePointAt(0)!.toString(16)}}`));
}

/** The rules a name matches (host and *.domain rules; any port). */
function nameRules(rules: Rule[], name: string): Rule[] {
  return rules.filter((r) => (r.kind === "host" ? r.host === name : r.kind === "subdomains" ? name.endsWith(r.suffix) && name.length > r.suffix.length : false));
}

/**
 * The ports to check an address against: those of the matching rules, and when one of them
 * allows every port, the ports of every rule besides (a rule opening loopback for port 8080
 * makes `localhost` answerable) and 443 for the rest.
 */
function portsOf(matched: Rule[], rules: Rule[]): number[] {
  const ports = new Set<number>();
  for (const r of matched) if (r.port !== undefined) ports.add(r.port);
  if (matched.some((r) => r.port === undefined)) {
    for (const r of rules) if (r.port !== undefined) ports.add(r.port);
    ports.add(443);
  }
  return [...ports];
}

/**
 * The rule that would open an address the policy refused for a name (loopback, private, this
 * host's own): a command-line rule naming it, with the port of the name's rule when it has one.
 */
function openedBy(address: string, matched: Rule[]): string {
  if (isIP(address) === 0) return "";
  const port = matched.find((r) => r.port !== undefined)?.port;
  const rule = port === undefined ? address : isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  return `; --net allow=${rule} reaches it`;
}

/**
 * Read node:dgram (about 5 ms) ahead of the socket, and with `packets` dns-packet (two files,
 * about 5 ms) ahead of the first query. The session calls this while the sandbox is being set
 * up: reading a module takes a descriptor, and once the sandbox runs nsbox may hold all that
 * `ulimit -n` leaves it (FDS_NEEDED counts them). Without `packets`, dns-packet is read at the
 * first query: most sandboxes never ask one.
 */
export function loadResolver(packets: boolean): void {
  require("node:dgram");
  if (packets) require(ownEntry("dns-packet"));
}

/** Serve DNS on `fd` (a bound UDP socket inside the sandbox's network namespace). */
export function startResolver(fd: number, o: ResolverOptions): Resolver {
  let dgram: typeof import("node:dgram");
  try {
    dgram = require("node:dgram") as typeof import("node:dgram");
  } catch (e) {
    closeSync(fd); // The socket is ours: closed, the sandbox's lookups then fail with ECONNREFUSED at once.
    throw e;
  }
  let packet: DnsPacket | undefined;
  const resolve = o.resolve ?? systemResolve;
  const ownAddresses = o.ownAddresses ?? systemAddresses;
  const max = o.outstanding ?? RESOLVER_LIMITS.outstanding;
  let outstanding = 0;
  let closed = false;
  let capReported = false;
  const event = (action: NetEvent["action"], name: string, reason?: string, address?: string) =>
    o.onEvent({ time: new Date().toISOString(), action, protocol: "dns", host: printable(name), port: 53, ...(address ? { address } : {}), ...(reason ? { reason } : {}) });

  // Bun's node:dgram takes the descriptor as it is (bind({ fd })): no new socket, O_NONBLOCK set, its own event loop.
  const socket = dgram.createSocket({ type: "udp4" });
  socket.on("error", () => {});
  socket.on("message", (msg, from) => {
    // A Buffer: dns-packet reads with Buffer's methods. A throw here would end nsbox: none escapes.
    try {
      packet ??= require(ownEntry("dns-packet")) as DnsPacket; // by the path found before the sandbox started (src/packages.ts)
    } catch (e) {
      // Said once; the socket closes, so the sandbox's lookups fail at once rather than after a timeout.
      o.onEvent({ time: new Date().toISOString(), action: "error", protocol: "dns", host: "", port: 53, reason: `can't answer lookups: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` });
      return close();
    }
    answer(packet, msg, from.address, from.port).catch(() => {});
  });
  socket.bind({ fd } as unknown as number);

  const send = (data: Uint8Array, address: string, port: number) => {
    if (!closed) socket.send(data, port, address);
  };
  /** A reply with no question or answers: the query's id, its RD bit, and `rcode`. */
  const bare = (query: Uint8Array, rcode: number) => {
    const r = new Uint8Array(12);
    r.set(query.subarray(0, 2));
    const flags = QR | RA | (query[2]! << 8 & RD) | rcode;
    r[2] = flags >> 8;
    r[3] = flags & 0xff;
    return r;
  };

  async function answer(packet: DnsPacket, msg: Uint8Array, address: string, port: number) {
    // Shorter than a header, or a response (never answered: two resolvers would ping-pong): dropped.
    if (msg.length < 12 || msg[2]! & 0x80) return;
    let q: ReturnType<DnsPacket["decode"]>;
    try {
      q = packet.decode(msg);
    } catch {
      return send(bare(msg, RCODE.FORMERR), address, port);
    }
    if (q.opcode !== "QUERY") return send(bare(msg, RCODE.NOTIMP), address, port);
    const question = q.questions?.length === 1 ? q.questions[0]! : undefined;
    if (!question) return send(bare(msg, RCODE.FORMERR), address, port);
    // The name as its labels say: a label holding a dot (`\x0fallowed.example`) decodes as two
    // labels, bytes that are not UTF-8 as U+FFFD: the name must encode back to the same bytes.
    const name = question.name.toLowerCase();
    const raw = msg.subarray(12);
    if (!packet.name.encode(question.name).every((b, i) => b === raw[i])) {
      return send(bare(msg, RCODE.FORMERR), address, port);
    }
    const reply = (rcode: number, answers: object[] = []) => {
      const flags = RA | (q.flags & RD) | rcode;
      let out = packet.encode({ type: "response", id: q.id, flags, questions: [question], answers });
      while (out.length > RESOLVER_LIMITS.answerBytes && answers.length) out = packet.encode({ type: "response", id: q.id, flags, questions: [question], answers: (answers = answers.slice(0, -1)) });
      if (out.length <= RESOLVER_LIMITS.answerBytes) send(out, address, port);
    };
    if (question.class !== "IN") return reply(RCODE.REFUSED);

    if (o.mode === "none") {
      o.names.record(name, []);
      return reply(RCODE.NXDOMAIN);
    }
    if (!isHostName(name)) {
      o.names.record(name, []);
      event("block", name, "not a host name");
      return reply(RCODE.NXDOMAIN);
    }
    const matched = nameRules(o.rules, name);
    if (matched.length === 0) {
      o.names.record(name, []);
      // `*.example.com` for `example.com`: subdomains only.
      const apex = o.rules.some((r) => r.kind === "subdomains" && r.suffix === `.${name}`);
      event("block", name, apex ? `not in --net allow; *.${name} matches its subdomains only: add ${name}` : "not in --net allow");
      return reply(RCODE.NXDOMAIN);
    }
    if (question.type !== "A" && question.type !== "AAAA") return reply(RCODE.NOERROR);
    if (outstanding >= max) {
      if (!capReported) o.onEvent({ time: new Date().toISOString(), action: "error", protocol: "dns", host: "", port: 53, reason: `more than ${max} lookups at once: those past it were answered SERVFAIL` });
      capReported = true;
      return reply(RCODE.SERVFAIL);
    }
    outstanding++;
    let found: string[];
    try {
      found = await resolve(name);
    } catch {
      found = [];
    } finally {
      outstanding--;
    }
    if (closed) return;
    if (found.length === 0) {
      o.names.record(name, []);
      event("block", name, `can't resolve ${name}`);
      return reply(RCODE.NXDOMAIN);
    }
    const family = question.type === "A" ? 4 : 6;
    const ports = portsOf(matched, o.rules);
    const own = ownAddresses();
    const refused: { why: string; address: string }[] = [];
    const kept: string[] = [];
    for (const a of found.map(normalAddress)) {
      if (isIP(a) !== family || kept.includes(a)) continue;
      const reasons = ports.map((p) => refusal(a, p, o.rules, own));
      if (reasons.includes(undefined)) kept.push(a);
      else refused.push({ why: reasons[0]!, address: a });
    }
    o.names.record(name, kept);
    if (kept.length) event("allow", name, undefined, kept.join(" "));
    else if (refused.length) event("block", name, `${name} resolves to ${refused[0]!.why}${openedBy(refused[0]!.address, matched)}`);
    reply(RCODE.NOERROR, kept.map((data) => ({ type: question.type, class: "IN", name: question.name, ttl: RESOLVER_LIMITS.ttl, data })));
  }

  function close() {
    if (closed) return;
    closed = true;
    try {
      socket.close();
    } catch {}
  }
  return { close };
}
