// Which addresses the sandbox may be connected to: no name, range or registry leads into the machine.
import { addressValue, inRange, type Rule } from "./rules.ts";

/** An address range: family, first address as a number, prefix length. */
interface Block {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

const block = (text: string): Block => {
  const [address, bits] = text.split("/");
  const v = addressValue(address!)!;
  return { family: v.family, base: v.value, bits: Number(bits) };
};

/*
 * Security decision: these ranges lead into the machine or its own network, not to the
 * internet, so a rule that merely matches them is not enough (`*.example.test` answering
 * 127.0.0.1, `0.0.0.0/0`, a registry URL, a name answering the metadata address). "internal"
 * ranges (and this host's own interface addresses) are reached only when a command-line rule
 * names an address or range inside them; "private" ranges likewise only by a rule inside them.
 * A rule wider than the range (0.0.0.0/0, 172.0.0.0/8) opens only the public part of it.
 */
const RANGES: { label: string; kind: "internal" | "private"; block: Block }[] = [
  ["0.0.0.0/8", "unspecified", "internal"],
  ["127.0.0.0/8", "loopback", "internal"],
  ["169.254.0.0/16", "link-local", "internal"],
  ["224.0.0.0/4", "multicast", "internal"],
  ["240.0.0.0/4", "reserved", "internal"],
  ["::/128", "unspecified", "internal"],
  ["::1/128", "loopback", "internal"],
  ["fe80::/10", "link-local", "internal"],
  ["ff00::/8", "multicast", "internal"],
  ["10.0.0.0/8", "private", "private"],
  ["172.16.0.0/12", "private", "private"],
  ["192.168.0.0/16", "private", "private"],
  ["100.64.0.0/10", "private (CGNAT)", "private"],
  ["fc00::/7", "private", "private"],
  ["fec0::/10", "private (site-local)", "private"],
].map(([range, label, kind]) => ({ label: label!, kind: kind as "internal" | "private", block: block(range!) }));

/** IPv6 forms that carry an IPv4 address in their last 32 bits: mapped, compatible, NAT64. */
const EMBEDDING = ["::ffff:0:0/96", "::/96", "64:ff9b::/96"].map(block);

const within = (b: Block, v: { family: 4 | 6; value: bigint }) => {
  if (v.family !== b.family) return false;
  const shift = BigInt((b.family === 4 ? 32 : 128) - b.bits);
  return v.value >> shift === b.base >> shift;
};

/** The IPv4 address an IPv6 address stands for, when it embeds one (::ffff:127.0.0.1). */
function unwrap(v: { family: 4 | 6; value: bigint }): { family: 4 | 6; value: bigint } {
  if (v.family === 6 && v.value > 1n && EMBEDDING.some((b) => within(b, v))) return { family: 4, value: v.value & 0xffffffffn };
  return v;
}

/** What an address is, when it is not simply public: its label and the range a rule must lie in. */
export function classify(address: string, own: readonly string[] = []): { label: string; kind: "internal" | "private"; block: Block } | undefined {
  const raw = addressValue(address);
  if (!raw) return undefined;
  const v = unwrap(raw);
  const ownMatch = own.map(addressValue).find((o) => o && unwrap(o).family === v.family && unwrap(o).value === v.value);
  const range = RANGES.find((r) => within(r.block, v));
  if (range?.kind === "internal") return range;
  if (ownMatch) return { label: "this host's own", kind: "internal", block: { family: v.family, base: v.value, bits: v.family === 4 ? 32 : 128 } };
  return range;
}

/** A cidr rule's range, with IPv4 embedded in IPv6 (::ffff:7f00:1/128) read as the IPv4 range. */
function ruleBlock(r: Rule): Block | undefined {
  if (r.kind !== "cidr") return undefined;
  const first = unwrap({ family: r.family, value: r.base });
  if (first.family === r.family) return { family: r.family, base: r.base, bits: r.bits };
  return r.bits >= 96 ? { family: 4, base: first.value, bits: r.bits - 96 } : undefined;
}

/**
 * Why the sandbox may not be connected to `address`:`port`, or undefined when it may. `rules`
 * are all of the sandbox's rules; only those from the command line (not @registries) can open
 * an internal or private address, and only by naming it: an address or range inside its block,
 * or `localhost` for loopback.
 */
export function refusal(address: string, port: number, rules: readonly Rule[], own: readonly string[]): string | undefined {
  // An answer this parser can't read (`::1%lo`, with a scope id) may still be one the kernel connects to: refused.
  if (!addressValue(address)) return `the address ${address}, which nsbox can't read`;
  const c = classify(address, own);
  if (!c) return undefined;
  const v = unwrap(addressValue(address)!);
  const opened = rules.some((r) => {
    if (r.origin === "registry" || (r.port !== undefined && r.port !== port)) return false;
    if (r.kind === "host") return r.host === "localhost" && c.label === "loopback";
    const b = ruleBlock(r);
    return b !== undefined && b.bits >= c.block.bits && within(c.block, { family: b.family, value: b.base }) && within(b, v);
  });
  return opened ? undefined : `${c.label === "this host's own" ? "" : "the "}${c.label} address ${address}`;
}
