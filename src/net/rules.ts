// --net allow= rules: which host:port the proxy lets the sandbox reach.
import { problem } from "../options/problem.ts";

// Not node:net's isIP: importing node:net costs Bun about 4 ms, on every start of the CLI.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^(?=.*:)[0-9a-f:]{2,39}$/i;

/** 4 or 6 for an address literal, 0 otherwise (as node:net's isIP). */
export function isIP(text: string): 0 | 4 | 6 {
  if (IPV4.test(text)) return 4;
  if (/^::ffff:/i.test(text) && IPV4.test(text.slice(7))) return 6;
  if (!IPV6.test(text)) return 0;
  // Every group 1 to 4 hex digits around at most one `::` (`1:::2` and `:::` are not addresses).
  const halves = text.split("::");
  const groups = halves.flatMap((h) => (h ? h.split(":") : []));
  if (halves.length > 2 || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return 0;
  return (halves.length === 2 ? groups.length <= 7 : groups.length === 8) ? 6 : 0;
}

/**
 * One allow rule: a host name, a domain's subdomains (`*.example.com`), or an address range.
 * `origin: "registry"` marks a rule @registries made from the user's package-manager
 * configuration: it never opens an internal or private address (src/net/address-policy.ts).
 */
export type Rule = (
  | { kind: "host"; host: string; port?: number; text: string }
  | { kind: "subdomains"; suffix: string; port?: number; text: string }
  | { kind: "cidr"; family: 4 | 6; base: bigint; bits: number; port?: number; text: string }
) & { origin?: "registry" };

const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/** An IPv4 or IPv6 address as a number (IPv4-mapped IPv6 is its IPv4 address). */
export function addressValue(address: string): { family: 4 | 6; value: bigint } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) address = mapped[1]!;
  if (isIP(address) === 4) return { family: 4, value: address.split(".").reduce((v, o) => (v << 8n) | BigInt(o), 0n) };
  if (isIP(address) !== 6) return undefined;
  const [head = "", tail = ""] = address.split("::");
  const parse = (s: string) => (s ? s.split(":") : []);
  const h = parse(head), t = parse(tail);
  const groups = address.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return { family: 6, value: groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

function port(text: string, p: string): number {
  const n = Number(p);
  if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw problem(p === "" ? "a port must follow ':' (1-65535)" : /^\d+$/.test(p) ? `port ${p} is out of range (1-65535)` : `port '${p}' is not a number (1-65535)`);
  return n;
}

/** Parse one rule (throws a Problem, worded without the option: options/normalize.ts names it): `host`, `host:port`, `*.domain[:port]`, `IP[/bits][:port]`, `[IPv6][/bits][:port]`. */
export function parseRule(text: string): Rule {
  let rest = text.trim();
  const url = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/?#]+)/i.exec(rest);
  if (url) throw problem(`a rule names a host, not a URL: write allow=${url[1]}`);
  let p: number | undefined;
  const bracket = /^\[([^\]]+)\](\/\d+)?(?::(\d+))?$/.exec(rest);
  if (bracket) {
    rest = bracket[1]! + (bracket[2] ?? "");
    if (bracket[3]) p = port(text, bracket[3]);
  } else if (!rest.includes("::") && (rest.match(/:/g)?.length ?? 0) === 1) {
    const i = rest.lastIndexOf(":");
    p = port(text, rest.slice(i + 1));
    rest = rest.slice(0, i);
  }
  const withPort = p === undefined ? {} : { port: p };
  const [addr, bitsText] = rest.split("/");
  const value = addressValue(addr!);
  if (value) {
    const max = value.family === 4 ? 32 : 128;
    const bits = bitsText === undefined ? max : Number(bitsText);
    if (!Number.isInteger(bits) || bits < 0 || bits > max) throw problem(`prefix length ${bitsText} is out of range (0-${max})`);
    const shift = BigInt(max - bits);
    return { kind: "cidr", family: value.family, base: (value.value >> shift) << shift, bits, ...withPort, text };
  }
  if (bitsText !== undefined) throw problem(`a prefix length needs an IP address`);
  if (rest.startsWith("*.") && HOST.test(rest.slice(2))) return { kind: "subdomains", suffix: rest.slice(1).toLowerCase(), ...withPort, text };
  if (HOST.test(rest)) return { kind: "host", host: rest.toLowerCase(), ...withPort, text };
  // Near misses: `.example.com`, `example.com.`, `*example.com`, `*`.
  const at = p === undefined ? "" : `:${p}`;
  if (rest.startsWith(".") && HOST.test(rest.slice(1))) throw problem(`write *${rest}${at} for its subdomains, or ${rest.slice(1)}${at} for the host itself`);
  if (rest.endsWith(".") && HOST.test(rest.slice(0, -1))) throw problem(`write ${rest.slice(0, -1)}${at}, without the final dot`);
  if (/^\*[^.]/.test(rest) && HOST.test(rest.slice(1))) throw problem(`write *.${rest.slice(1)}${at} for its subdomains`);
  if (rest === "*" || rest === "*.*") throw problem(`'${rest}' is not a rule: 0.0.0.0/0,::/0 allows every public address (--net host the whole network)`);
  throw problem(`expected host, host:port, *.domain, or an IP address or range with an optional port`);
}

/** The rule that lets the sandbox reach `host`:`port` as it asked for it (a name or a literal address). */
export function findRule(rules: Rule[], host: string, port: number): Rule | undefined {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  const address = addressValue(name);
  return rules.find((r) => {
    if (r.port !== undefined && r.port !== port) return false;
    if (r.kind === "host") return r.host === name;
    if (r.kind === "subdomains") return name.endsWith(r.suffix) && name.length > r.suffix.length;
    return inRange(r, address);
  });
}

/** Whether an address lies in a cidr rule. */
export function inRange(r: Rule, address: { family: 4 | 6; value: bigint } | undefined): boolean {
  if (r.kind !== "cidr" || !address || address.family !== r.family) return false;
  const shift = BigInt((r.family === 4 ? 32 : 128) - r.bits);
  return (address.value >> shift) << shift === r.base;
}
