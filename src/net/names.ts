// Which names the sandbox's resolver answered with which addresses, and which names it was asked.
import { addressValue } from "./rules.ts";

/** Bounds: a payload asking a million names must not grow nsbox without limit. */
export const NAME_LIMITS = { addresses: 4096, namesPerAddress: 16, asked: 256 };

/** An address in one spelling: IPv4-mapped IPv6 as IPv4, IPv6 compressed (RFC 5952), lower case. */
export function normalAddress(address: string): string {
  const v = addressValue(address.trim().toLowerCase());
  if (!v) return address.trim().toLowerCase();
  if (v.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v.value >> s) & 0xffn)).join(".");
  if (v.value >> 32n === 0xffffn) return normalAddress([24n, 16n, 8n, 0n].map((s) => String((v.value >> s) & 0xffn)).join("."));
  const groups = Array.from({ length: 8 }, (_, i) => Number((v.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups becomes `::` (the first such run on a tie).
  let best = -1, bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) (best = i), (bestLength = j - i);
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

/** A name in one spelling: lower case, no trailing dot. */
export function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * The resolver's memory. `record` after each answer; `namesOf` lets a connection be decided
 * (and reported) by the name the payload used; `asked` lists every name asked, in order, once.
 * Example: `book.record("example.com", ["93.184.215.14"]); book.namesOf("::ffff:93.184.215.14")`
 * is `["example.com"]`.
 */
export class NameBook {
  #byAddress = new Map<string, string[]>();
  #asked = new Set<string>();
  #version = 0;

  /** Changes at each record(): a decision made by the names of an address holds while it stays. */
  get version(): number {
    return this.#version;
  }

  /** Remember that `name` was asked and answered with `addresses` (none for a refused name). */
  record(name: string, addresses: string[]): void {
    this.#version++;
    const n = normalName(name);
    if (this.#asked.size < NAME_LIMITS.asked || this.#asked.has(n)) this.#asked.add(n);
    for (const a of addresses) {
      const key = normalAddress(a);
      let names = this.#byAddress.get(key);
      if (!names) {
        // Forget the oldest address first: a recent answer matters more than an old one.
        if (this.#byAddress.size >= NAME_LIMITS.addresses) this.#byAddress.delete(this.#byAddress.keys().next().value!);
        this.#byAddress.set(key, (names = []));
      }
      if (!names.includes(n)) {
        names.push(n);
        if (names.length > NAME_LIMITS.namesPerAddress) names.shift();
      }
    }
  }

  /** The names that were answered with `address`, oldest first. */
  namesOf(address: string): string[] {
    return [...(this.#byAddress.get(normalAddress(address)) ?? [])];
  }

  /** Every name asked (at most NAME_LIMITS.asked), in the order first asked. */
  asked(): string[] {
    return [...this.#asked];
  }
}

/** The none-mode note names at most this many names, each at most this long. */
const NOTE_NAMES = 8, NOTE_NAME_LENGTH = 80;
const HOST_RULE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * What nsbox says once when a command failed under `--net none` after looking names up: that the
 * network is off, which names (printable, bounded), and the option that would allow them (only
 * names a rule can name). Undefined when nothing was looked up.
 */
export function offlineNote(asked: string[]): string | undefined {
  if (asked.length === 0) return undefined;
  const show = (n: string) => {
    const cut = n.length > NOTE_NAME_LENGTH ? `${n.slice(0, NOTE_NAME_LENGTH)}…` : n;
    // Each character outside printable ASCII, and the backslash, as an escape: a code point past
    // 0xff whole (its low byte alone, U+202E as "\x2e", would read as a dot).
    return cut.replace(/[^\x21-\x5b\x5d-\x7e…]/gu, (c) => {
      const p = c.codePointAt(0)!;
      return p === 0x5c ? "\\\\" : p <= 0xff ? `\\x${p.toString(16).padStart(2, "0")}` : `\\u{${p.toString(16)}}`;
    });
  };
  const listed = asked.slice(0, NOTE_NAMES).map(show).join(", ") + (asked.length > NOTE_NAMES ? ` and ${asked.length - NOTE_NAMES} more` : "");
  const allowable = asked.filter((n) => HOST_RULE.test(n) && n.length <= NOTE_NAME_LENGTH).slice(0, NOTE_NAMES);
  const fix = allowable.length ? `; to allow ${allowable.length === 1 ? "it" : "them"}: --net allow=${allowable.join(",")}` : "";
  return `the network is off (--net none); the command looked up: ${listed}${fix}`;
}
