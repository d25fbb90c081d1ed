// Socket addresses as the kernel lays them out (struct sockaddr_un, sockaddr_in, sockaddr_in6):
// decoded from the bytes nsbox copied out of the payload's memory, and encoded for nsbox's calls.

/** 4 for dotted-quad IPv4 text, 6 for IPv6 text, 0 otherwise (node:net's isIP costs a module load at every start). */
function isIP(text: string): 0 | 4 | 6 {
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(text)) return 4;
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return 0;
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 && isIP(v4[1]!) !== 4) return 0;
  const head = v4 ? text.slice(0, -v4[1]!.length) + "0:0" : text;
  const halves = head.split("::");
  if (halves.length > 2) return 0;
  const words = halves.flatMap((h) => (h ? h.split(":") : []));
  if (!words.every((w) => /^[0-9a-fA-F]{1,4}$/.test(w))) return 0;
  return (halves.length === 2 ? words.length < 8 : words.length === 8) ? 6 : 0;
}

export type Sockaddr =
  | { family: 1; path?: string | Uint8Array; abstract?: boolean }
  | { family: 2 | 10; address: string; port: number }
  | { family: 0 };

export const AF = { UNSPEC: 0, UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 } as const;

/**
 * Decode a sockaddr the payload passed. AF_UNIX: `path` is the name's bytes up to the first NUL
 * (a string when it is valid UTF-8), `abstract` when sun_path[0] is 0 (then `path` holds the
 * name after that 0, every byte of it, as Uint8Array); an unnamed address (just the family) has
 * no path. undefined for a family this does not know or an address too short for its family.
 */
export function decodeSockaddr(bytes: Uint8Array): Sockaddr | undefined {
  if (bytes.length < 2) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = view.getUint16(0, true);
  if (family === AF.UNSPEC) return { family: 0 };
  if (family === AF.UNIX) {
    const rest = bytes.subarray(2);
    if (rest.length === 0) return { family: 1 };
    if (rest[0] === 0) return { family: 1, abstract: true, path: rest.slice(1) };
    const end = rest.indexOf(0);
    const name = rest.slice(0, end < 0 ? rest.length : end);
    try {
      return { family: 1, abstract: false, path: new TextDecoder("utf-8", { fatal: true }).decode(name) };
    } catch {
      return { family: 1, abstract: false, path: name };
    }
  }
  if (family === AF.INET) {
    if (bytes.length < 8) return undefined;
    return { family: 2, port: view.getUint16(2, false), address: [...bytes.subarray(4, 8)].join(".") };
  }
  if (family === AF.INET6) {
    if (bytes.length < 24) return undefined;
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(view.getUint16(8 + 2 * i, false).toString(16));
    return { family: 10, port: view.getUint16(2, false), address: compressV6(words) };
  }
  return undefined;
}

/** RFC 5952 text for eight hex words (::ffff:a.b.c.d for an IPv4-mapped address). */
function compressV6(words: string[]): string {
  if (words.slice(0, 5).every((w) => w === "0") && words[5] === "ffff") {
    const [hi, lo] = [parseInt(words[6]!, 16), parseInt(words[7]!, 16)];
    return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) (best = i), (bestLen = j - i);
    i = j;
  }
  if (best < 0) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
}

/** A sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes) for `address`:`port`. */
export function encodeInet(address: string, port: number, family: 2 | 10): Uint8Array {
  const b = new Uint8Array(family === 2 ? 16 : 28);
  const view = new DataView(b.buffer);
  view.setUint16(0, family, true);
  view.setUint16(2, port, false);
  if (family === 2) {
    const parts = address.split(".").map(Number);
    if (isIP(address) !== 4) throw new Error(`not an IPv4 address: ${address}`);
    b.set(parts, 4);
    return b;
  }
  let text = address;
  if (isIP(address) === 4) text = `::ffff:${address}`;
  if (isIP(text) !== 6) throw new Error(`not an IPv6 address: ${address}`);
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const p = v4[1]!.split(".").map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail === undefined ? [] : tail ? tail.split(":") : [];
  const words = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  words.forEach((w, i) => view.setUint16(8 + 2 * i, parseInt(w, 16), false));
  return b;
}

/** A sockaddr_un for `path` (bytes, or text), abstract when asked (a leading 0 byte). */
export function encodeUnix(path: string | Uint8Array, abstract = false): Uint8Array {
  const name = typeof path === "string" ? new TextEncoder().encode(path) : path;
  const b = new Uint8Array(2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1));
  new DataView(b.buffer).setUint16(0, AF.UNIX, true);
  b.set(name, abstract ? 3 : 2);
  return b;
}
