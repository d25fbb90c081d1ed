// Transparent egress: the payload's inet connect() and addressed sends, decided by the rules and
// executed by nsbox. An allowed outside destination gets a socket nsbox connected itself in the
// host's network namespace, installed in place of the payload's (ADDFD SETFD): the data then
// flows through the kernel with no relay. Everything else stays in the sandbox's own namespace.
import { ptr } from "bun:ffi";
import { arch } from "node:os";
import { PROXY_PORT } from "../plan/network.ts";
import { refusal } from "./address-policy.ts";
import type { NameBook } from "./names.ts";
import { findRule, addressValue, type Rule } from "./rules.ts";
import { abandon, connectInterruptible, INTERRUPTED, interruption } from "./interrupt.ts";
import { encodeInet } from "./sockaddr.ts";
import * as sys from "./sys.ts";
import { inSandbox, type Call, type Reply } from "./unotify.ts";

/** One decision, as the session reports it (the --net-log line and the end-of-run report). */
export interface EgressEvent {
  action: "allow" | "block" | "error";
  protocol: "tcp" | "udp";
  /** The name the payload used (from the resolver's answers), else the address. */
  host: string;
  port: number;
  address: string;
  name?: string;
  reason?: string;
}

export interface EgressOptions {
  rules: Rule[];
  names: NameBook;
  /** This host's own interface addresses (as the proxy reads them), at each decision. */
  ownAddresses: () => string[];
  report: (e: EgressEvent) => void;
  /** "none": every outside destination is refused (the network is off). Default "allow". */
  mode?: "none" | "allow";
}

type Inet = { family: 2 | 10; address: string; port: number };

const SOCK_STREAM = 1;
const POLLOUT = 4, POLLNVAL = 32;
const SOL_SOCKET = 1, SO_ERROR = 4, SO_SNDTIMEO = 21;
const TCP_SYN_SENT = 2;
const MSG_FASTOPEN = 0x20000000n;
/** What nsbox serves inside the sandbox, which no rule sends to the host: the resolver, and the proxy (src/plan/network.ts PROXY_PORT). */
const RESOLVER = { address: "127.0.0.53", port: 53 };
const PROXY = { address: "127.0.0.1", port: PROXY_PORT };

/*
 * The options copied from the payload's socket to the host socket before it connects (those a
 * program sets before connect and expects to find after) are listed in executor/notify.c
 * copy_options. Not SO_RCVBUF/SO_SNDBUF: setting them turns off the kernel's autotuning, and
 * the payload never set them on the new socket.
 */

const NR_PPOLL = arch() === "x64" ? 271 : 73;
const pollfd = new Int32Array(2);
const noWait = new BigInt64Array(2);
/**
 * Whether `fd` is ready for `events` now (ppoll with a zero timeout). A connect on loopback or a
 * near host is often complete by the time nsbox looks: this spares the watcher's round trip.
 */
function readyNow(fd: number, events: number): boolean {
  pollfd[0] = fd;
  pollfd[1] = events;
  return sys.syscall(NR_PPOLL, ptr(pollfd), 1, ptr(noWait), 0, 8) === 1;
}

/** The payload socket's SO_SNDTIMEO in milliseconds (0: none), which bounds a blocking connect. */
function sendTimeout(fd: number): number {
  const tv = sys.getsockoptBytes(fd, SOL_SOCKET, SO_SNDTIMEO, 16);
  if (typeof tv === "number" || tv.length < 16) return 0;
  const v = new DataView(tv.buffer, tv.byteOffset, 16);
  const ms = Number(v.getBigInt64(0, true)) * 1000 + Math.ceil(Number(v.getBigInt64(8, true)) / 1000);
  return ms > 0 ? Math.min(ms, 2 ** 31 - 1) : 0;
}

/** What nsbox remembers of a host socket it installed: where it went, by which name. */
interface Installed {
  address: string;
  port: number;
  name?: string;
}

/** errno values by name (sys.ts's table, and the one it lacks). */
const errno = (name: string) => sys.ERRNO[name] ?? ({ EPROTONOSUPPORT: 93 } as Record<string, number>)[name]!;
const isLoopbackOrUnspecified = (address: string) => {
  const v = addressValue(address);
  if (!v) return false;
  if (v.family === 4) return v.value >> 24n === 127n || v.value >> 24n === 0n;
  return v.value === 1n || v.value === 0n;
};

/**
 * The two handlers egress owns. `connectInet` decides and executes connect(2) of an AF_INET or
 * AF_INET6 socket; `sendDestination` decides where an addressed send (sendto, sendmsg, sendmmsg)
 * may go, and notify executes it.
 */
export function egress(opts: EgressOptions) {
  const { rules, names, report } = opts;
  /*
   * os.networkInterfaces() costs about 130 µs (netlink), more than the connect itself: read at
   * most once a second, and each decision kept as long as the list it was made with. An address
   * this host gains is refused from the next second on; until then a rule would also have to
   * name it (only literal rules open this host's addresses).
   */
  let own: { at: number; list: string[] } | undefined;
  /** refusal() of each (address, port) while `own` stays the same: it parses every own address each time (about 80 µs with five). */
  const refused = new Map<string, string | undefined>();
  /** decideTcp()'s, below. */
  const decisions = new Map<string, { inside: boolean; d: { reason?: string; name?: string } }>();
  let namesVersion: number | undefined;
  /** The list of this host's addresses, read again once a second: every decision made with the old one forgotten. */
  const freshOwn = (): string[] => {
    const now = performance.now();
    if (!own || now - own.at > 1000 || refused.size > 4096) {
      own = { at: now, list: opts.ownAddresses() };
      refused.clear();
      decisions.clear();
    }
    return own.list;
  };
  const policy = (address: string, port: number): string | undefined => {
    freshOwn();
    const key = `${address} ${port}`;
    if (refused.has(key)) return refused.get(key);
    const why = refusal(address, port, rules, own!.list);
    refused.set(key, why);
    return why;
  };
  /*
   * Security decision: a host socket in the payload's hands must never be re-aimed by a second
   * connect to a destination nsbox did not decide, and never at "inside" addresses (on a host
   * socket 127.0.0.1 is the HOST's loopback). So each one installed is remembered by its inode
   * (socket inodes are not reused while the socket lives), and a later connect on it is decided
   * again as an outside destination.
   */
  const installed = new Map<string, Installed>();
  /** Bound on `installed` (oldest forgotten first): a forgotten host socket is still found by its namespace (inSandbox). */
  const INSTALLED_MAX = 65536;
  const inodeKey = (fd: number) => {
    const st = sys.fstatIds(fd);
    return typeof st === "number" ? undefined : `${st.dev}:${st.ino}`;
  };
  const reportedOnce = new Set<string>();

  /** The name the payload most likely used for `address` (the latest the resolver answered with it). */
  const nameOf = (address: string) => names.namesOf(address).at(-1);

  /**
   * Whether `address`:`port` is a destination inside the sandbox (its own loopback, the
   * resolver, the proxy): true unless a rule opens the host's loopback for that port (a literal
   * 127.0.0.1:PORT, a range, or localhost:PORT, which refusal() then passes).
   */
  function inside(to: Inet): boolean {
    if (!isLoopbackOrUnspecified(to.address)) return false;
    if ((to.address === RESOLVER.address && to.port === RESOLVER.port) || (to.address === PROXY.address && to.port === PROXY.port)) return true;
    const opened = findRule(rules, to.address, to.port) ?? findRule(rules, "localhost", to.port);
    return !(opened && policy(to.address, to.port) === undefined);
  }

  /** Why an outside destination is refused, or undefined when a rule allows it and the address policy passes it. */
  function outsideRefusal(to: Inet): { reason?: string; name?: string } {
    const known = names.namesOf(to.address);
    const name = known.at(-1);
    const byName = known.find((n) => findRule(rules, n, to.port));
    const rule = findRule(rules, to.address, to.port) ?? (byName ? findRule(rules, byName, to.port) : undefined);
    // `localhost:PORT` opens the host's loopback for PORT, however the payload resolved the name (/etc/hosts).
    const local = !rule && isLoopbackOrUnspecified(to.address) ? findRule(rules, "localhost", to.port) : undefined;
    const used = byName ?? name ?? (local ? "localhost" : undefined);
    if (!rule && !local) return { reason: opts.mode === "none" ? "the network is off (--net none)" : "not in --net allow", name: used };
    const why = policy(to.address, to.port);
    if (why) return { reason: used ? `${used} resolves to ${why}` : `${why} is reached only through a command-line rule naming it`, name: used };
    return { name: used };
  }

  /*
   * A TCP connect's decision (inside? and if not, refused why, by which name) for each
   * (family, address, port), kept while its inputs stay: the rules (fixed), the names the
   * resolver answered (NameBook.version) and this host's addresses (freshOwn). Decided afresh
   * it costs about 40 µs (addresses parsed, rules searched), the third of a connect's work.
   */
  function decideTcp(to: Inet): { inside: boolean; d: { reason?: string; name?: string } } {
    freshOwn();
    const version = (names as { version?: number }).version;
    if (version === undefined || version !== namesVersion || decisions.size >= 4096) {
      decisions.clear();
      namesVersion = version;
    }
    const key = `${to.family} ${to.address} ${to.port}`;
    let known = decisions.get(key);
    if (!known) {
      const here = inside(to);
      known = { inside: here, d: here ? {} : outsideRefusal(to) };
      decisions.set(key, known);
    }
    return known;
  }

  const event = (action: EgressEvent["action"], protocol: EgressEvent["protocol"], to: Inet, d: { name?: string; reason?: string }) =>
    report({ action, protocol, host: d.name ?? to.address, port: to.port, address: to.address, ...(d.name ? { name: d.name } : {}), ...(d.reason ? { reason: d.reason } : {}) });

  /**
   * connect(2) on nsbox's duplicate of a socket of the sandbox with nsbox's copy of the address,
   * on a thread of its own with the socket's own flags (Call.connect): the payload's thread
   * waits as it would for its own connect, and nsbox's main thread never blocks on a file the
   * payload shares. Never on a host socket (the callers check): a connect there could return it
   * to "unconnected" (the kernel's error path disconnects), free to bind and listen.
   */
  async function connectHere(c: Call, address: Uint8Array): Promise<Reply> {
    const r = await connectInterruptible(c, c.sock, address);
    return r < 0 ? { errno: -r } : { val: 0 };
  }

  /** Put `fd` in the payload's place (same number, its close-on-exec, its O_NONBLOCK), remembered by inode. */
  function install(c: Call, fd: number, to: Inet, name: string | undefined): number {
    const { r, dev, ino } = sys.install(c.n, c.listener, fd, Number(c.n.args[0]! & 0xffffffffn), c.fdFlags.nonblock);
    if (r >= 0 && ino !== 0n) {
      if (installed.size >= INSTALLED_MAX) installed.delete(installed.keys().next().value!);
      installed.set(`${dev}:${ino}`, { address: to.address, port: to.port, ...(name ? { name } : {}) });
    }
    sys.close(fd);
    return r;
  }

  async function connectInet(c: Call, to: Inet | { family: 0 }): Promise<Reply> {
    const key = inodeKey(c.sock);
    const host = key === undefined ? undefined : installed.get(key);
    if (to.family === 0) {
      // Dissolving a host socket's association would leave a host socket free to be aimed anew.
      if (host || !inSandbox(c.sock)) return { errno: errno("EOPNOTSUPP") };
      return connectHere(c, new Uint8Array(16));
    }
    const udp = c.type !== SOCK_STREAM;
    /*
     * Security decision: nsbox never executes connect() on a host socket. After the peer ends
     * the connection, the kernel's connect would take its error path and disconnect the socket
     * (SS_UNCONNECTED), and bind()+listen() (not trapped) would then make it a listener in the
     * host's network. nsbox installs a host socket only once it is established, so a later
     * connect on one is answered as the kernel answers a connected socket, whatever it has
     * become since: EISCONN, with nothing executed.
     */
    if (host) return { errno: errno("EISCONN") };
    // UDP never leaves the sandbox: its loopback is always the sandbox's own.
    const decided = udp ? undefined : decideTcp(to);
    if (udp ? isLoopbackOrUnspecified(to.address) : decided!.inside) {
      // Executed on the socket itself: it must be the sandbox's, never a host socket nsbox forgot.
      if (!inSandbox(c.sock)) {
        event("block", "tcp", to, { name: nameOf(to.address), reason: "a socket of the host's network (connected outside the sandbox, or handed in) can't reach the sandbox's loopback" });
        return { errno: errno("ECONNREFUSED") };
      }
      const r = await connectHere(c, encodeInet(to.address, to.port, to.family));
      // Nothing listens there inside: say so when the user may have meant the host's port of that number.
      if (!udp && "errno" in r && r.errno === errno("ECONNREFUSED") && isLoopbackOrUnspecified(to.address)) {
        once("tcp", to, { name: nameOf(to.address), reason: `not in --net allow; nothing listens on the sandbox's own loopback at port ${to.port}` });
      }
      return r;
    }
    if (udp) {
      const d = { reason: "UDP goes only to the sandbox's own loopback and its resolver", name: nameOf(to.address) };
      reportUdp(to, d);
      return { errno: errno("EPERM") };
    }
    const d = decided!.d;
    if (d.reason) {
      event("block", "tcp", to, d);
      return { errno: errno("ECONNREFUSED") };
    }
    // A new host socket like the payload's, its options copied (executor/notify.c
    // nsbox_host_connect), connecting; refused when the payload's socket is already connected
    // (or connecting, or listening) in the sandbox: the kernel's own answer, not a replacement.
    const made = sys.hostConnect(c.sock, c.family, encodeInet(to.address, to.port, to.family));
    if (made.step === sys.HOST.STATE) return { errno: errno(made.value === TCP_SYN_SENT ? "EALREADY" : "EISCONN") };
    if (made.step === sys.HOST.PROTOCOL) {
      event("block", "tcp", to, { name: d.name, reason: `protocol ${made.value < 0 ? undefined : made.value} (nsbox connects TCP only)` });
      return { errno: errno("EPROTONOSUPPORT") };
    }
    if (made.step !== 0) {
      event("error", "tcp", to, { name: d.name, reason: `connect: errno ${made.value}` });
      return { errno: made.value };
    }
    /*
     * Security decision: a host socket is installed only once it is established. One installed
     * while still connecting (SYN_SENT) could be brought back to "unconnected" by the payload's
     * shutdown(), then bound and listening in the host's network. So a non-blocking payload
     * waits for the handshake too and gets 0 (a legal result of a non-blocking connect); a
     * SO_SNDTIMEO that passes first answers ETIMEDOUT, and nothing is installed.
     */
    if (made.value !== 0 && !readyNow(made.fd, POLLOUT)) {
      const waited = c.watch(made.fd, POLLOUT);
      const limit = sendTimeout(c.sock);
      let expire = (_: undefined) => {};
      const expired = new Promise<undefined>((r) => (expire = r));
      const timer = limit ? setTimeout(() => expire(undefined), limit) : undefined;
      const signalled = interruption(c);
      const revents = await Promise.race([waited, expired, signalled.promise]);
      signalled.done();
      if (timer) clearTimeout(timer);
      if (revents === INTERRUPTED) {
        // A caught signal (Ctrl-C in python): EINTR as the kernel's blocking connect; the host
        // connection is given up, never installed.
        abandon(made.fd, waited);
        return { errno: errno("EINTR") };
      }
      if (revents === undefined) {
        // nsbox's copy stays open until the wait ends (the watcher holds its number); then closed.
        void waited.then(() => sys.close(made.fd));
        event("error", "tcp", to, { name: d.name, reason: "connect: timed out (SO_SNDTIMEO)" });
        return { errno: errno("ETIMEDOUT") };
      }
      if (revents & POLLNVAL) {
        sys.close(made.fd);
        return { errno: errno("EINTR") };
      }
    }
    if (made.value !== 0) {
      const err = sys.getsockoptInt(made.fd, SOL_SOCKET, SO_ERROR) ?? errno("EIO");
      if (err) {
        sys.close(made.fd);
        event("error", "tcp", to, { name: d.name, reason: `connect: errno ${err}` });
        return { errno: err };
      }
    }
    const r = install(c, made.fd, to, d.name);
    if (r < 0) return { errno: -r };
    event("allow", "tcp", to, d);
    return { val: 0 };
  }

  /**
   * Each refused UDP destination, and each loopback port refused inside, once: a payload can send
   * a million datagrams or poll for its own server, and the log is on the user's disk.
   */
  function once(protocol: EgressEvent["protocol"], to: Inet, d: { reason: string; name?: string }) {
    const key = `${protocol} ${to.address}:${to.port}`;
    if (reportedOnce.has(key)) return;
    if (reportedOnce.size < 4096) reportedOnce.add(key);
    event("block", protocol, to, d);
  }
  const reportUdp = (to: Inet, d: { reason: string; name?: string }) => once("udp", to, d);

  /** Whether this trapped send asks for TCP Fast Open (a connect inside a send). */
  function fastOpen(c: Call): boolean {
    const nr = c.n.nr;
    const flags = nr === sys.NR.sendto || nr === sys.NR.sendmmsg ? c.n.args[3] : nr === sys.NR.sendmsg ? c.n.args[2] : 0n;
    return ((flags ?? 0n) & MSG_FASTOPEN) !== 0n;
  }

  async function sendDestination(c: Call, to: Inet | { family: 0 }): Promise<{ address: Uint8Array } | { errno: number }> {
    if (fastOpen(c)) return { errno: errno("EOPNOTSUPP") };
    if (to.family === 0) return { address: new Uint8Array(16) };
    // A stream socket ignores a send's address (without MSG_FASTOPEN): nothing to decide.
    if (c.type === SOCK_STREAM) return { address: encodeInet(to.address, to.port, to.family) };
    // Datagrams (and raw packets) go only to the sandbox's own loopback, where the resolver is.
    if (isLoopbackOrUnspecified(to.address)) return { address: encodeInet(to.address, to.port, to.family) };
    reportUdp(to, { reason: "UDP goes only to the sandbox's own loopback and its resolver", name: nameOf(to.address) });
    return { errno: errno("EPERM") };
  }

  return { connectInet, sendDestination };
}
