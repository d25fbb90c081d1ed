// A sandbox's network session on the CLI side: the proxy's lifetime, the notifications of
// transparent egress, the resolver, the live or final report of what was blocked, and --net-log.
import { closeSync, writeSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { fileError, openFileLimit } from "../errno.ts";
import type { EgressEvent } from "./egress.ts";
import type { NameBook } from "./names.ts";
import { isIP, type Rule } from "./rules.ts";
import type { NetEvent, Proxy, ProxyOptions } from "./proxy.ts";
import { ENDED, readNotifications, type Served } from "./watcher.ts";
import type { LogNamed } from "./net-log.ts";

export type { LogNamed };
import type { AllowedSocket } from "../plan/allow-sockets.ts";

/** One line of --net-log: the proxy's decisions, and those of transparent egress (tcp, udp), the resolver (dns) and Unix sockets. */
export interface SessionEvent {
  time: string;
  action: "allow" | "block" | "error";
  protocol: NetEvent["protocol"] | "tcp" | "udp" | "dns" | "unix";
  /** The name the payload used when it used one (else the address), the path of a Unix socket. */
  host: string;
  port: number;
  address?: string;
  /** The name the resolver answered for the address, when there is one. */
  name?: string;
  reason?: string;
  /** Unix sockets: a connect or a datagram send. */
  call?: "connect" | "send";
}

export interface NetSession {
  /** For supervise: serve the proxy (or the resolver) on the socket the sandbox made; keep the sock_diag one for the Unix-socket policy. */
  onListen(fd: number, which?: "proxy" | "resolver" | "diag"): void;
  /** For supervise: serve the seccomp notifications of the sandbox's connects and sends (the callee owns the listener). */
  onNotify(listener: number): void;
  /** For supervise: the sandbox has no listener (one is in place above it): what was held for onNotify is served at once. */
  onNoListener(): void;
  /** For supervise: serve DNS on the UDP socket bound to 127.0.0.53:53 inside (the callee owns it). */
  onResolver(fd: number): void;
  /** The names the sandbox looked up, and which addresses were answered for them (made at first use). */
  readonly names: NameBook;
  /** The names asked, in order (none when nothing was: nothing is read for it). */
  asked(): string[];
  /** Stop the proxy, the resolver and the notifications; the lines to print about what was blocked (empty when live). */
  finish(): string[];
}

/**
 * The report's bounds: the payload chooses the names it asks for (up to the proxy's 64 KiB
 * head, any bytes through SOCKS5), and each distinct one blocked was kept until the end and
 * printed to the user's terminal. At most this many lines, each name cut short and with its
 * control characters shown escaped, never sent to the terminal as they are.
 */
const MAX_REPORTED = 100;
const shown = (host: string) =>
  (host.length > 255 ? `${host.slice(0, 255)}…` : host).replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

/** Close `fd`; false when close(2) failed. */
function closeQuietly(fd: number): boolean {
  try {
    closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** host:port as a user writes it: an IPv6 address in brackets ([::1]:8000). */
const hostPort = (host: string, port: number) => (isIP(host) === 6 ? `[${shown(host)}]:${port}` : `${shown(host)}:${port}`);

/** The port of a blocked connect to the sandbox's own loopback where nothing listened (egress.ts says so in its reason). */
const emptyLoopbackPort = (e: SessionEvent) => (e.protocol === "tcp" && /nothing listens on the sandbox's own loopback/.test(e.reason ?? "") ? e.port : undefined);
const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/i;

/** The line the report shows for a blocked event (its name cut short and escaped). */
function blockedLine(e: SessionEvent): string {
  const why = shown(e.reason ?? "");
  const at = e.name && e.address && e.address !== e.host ? ` at ${shown(e.address)}` : "";
  switch (e.protocol) {
    case "proxy": return `proxy: ${e.reason}`;
    case "dns": return `blocked lookup of ${shown(e.host)} (${why})`;
    case "unix": return e.call === "send" ? `blocked send to unix socket ${shown(e.host)} (${why})` : `blocked connect to unix socket ${shown(e.host)} (${why}; --allow-socket ${shown(e.host)} allows it)`;
    case "udp": return `blocked UDP to ${hostPort(e.host, e.port)}${at} (${why})`;
    default: return `blocked connect to ${hostPort(e.host, e.port)}${at} (${why})`;
  }
}

const systemAddresses = () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));

const POLLIN = 1;

/**
 * `rules`: the sandbox's --net allow rules (none for --net none). `transparent`: its connections
 * will come through onNotify (plan.egress). `live`: each blocked connection as it happens
 * (verbose). `warn`: told once when handling an event throws (a `live` that fails, say): the
 * proxy and the sandbox go on, and so does the log.
 *
 * Nothing of the network's code is read here, nor when the sandbox passes its sockets: in
 * transparent mode the resolver's and the proxy's sockets are held, and the notification
 * watcher (src/net/watcher.ts) says when the first datagram or connection is waiting on one;
 * the resolver (node:dgram, dns-packet) or the proxy (node:net) is read and started then, and
 * the dispatcher, egress and the Unix-socket policy at the first trapped call. A payload that
 * never connects or looks a name up pays for none of them. What arrives meanwhile waits in the
 * kernel: a datagram or a connection in its socket's queue, a trapped call unanswered.
 */
export function netSession(rules: Rule[], opts: { mode?: "none" | "allow"; transparent?: boolean; allowSockets?: readonly AllowedSocket[]; logFile?: string; logNamed?: LogNamed; live?: (line: string) => void; warn?: (line: string) => void; proxy?: ProxyOptions }): NetSession {
  // Under a tight ulimit -n, every module now: the running sandbox may leave nsbox no descriptor
  // to read one with (FDS_NEEDED counts the sandbox's, not these).
  if ((openFileLimit() ?? Infinity) < 64) {
    if (opts.mode !== "none") require("./proxy.ts");
    (require("./resolver.ts") as typeof import("./resolver.ts")).loadResolver(true);
    require("./names.ts");
    if (opts.transparent) require("./unotify.ts"), require("./egress.ts"), require("./unix-socket.ts");
  }
  let log = opts.logFile === undefined ? -1 : (require("./net-log.ts") as typeof import("./net-log.ts")).openNetLog(opts.logFile, opts.logNamed);
  const blocked = new Map<string, string>();
  /**
   * A connect refused on the sandbox's loopback, by port (its report key), and the loopback ports
   * the host's server was reached on: a program that tried ::1 before 127.0.0.1 (Python,
   * happy eyeballs) and got through is not told at exit that nothing listened.
   */
  const emptyLoopback = new Map<string, number>();
  const reachedLoopback = new Set<number>();
  let more = 0;
  let logFailed: string | undefined;
  let proxy: Proxy | undefined;
  let notifications: Served | undefined;
  let unix: { close(): void } | undefined;
  let resolver: { close(): void } | undefined;
  let finished = false;
  /** The sandbox's NETLINK_SOCK_DIAG socket (src/net/unix-diag.ts), until the Unix-socket policy owns it. */
  let diag = -1;
  /** The resolver's and the proxy's sockets, until their first datagram or connection (transparent mode). */
  const held = { resolver: -1, proxy: -1 };
  let book: NameBook | undefined;
  const names = () => (book ??= new (require("./names.ts") as typeof import("./names.ts")).NameBook());
  const onEvent = (e: SessionEvent) => {
    // A write that fails (the disk the payload shares filled up) ends the log, not nsbox.
    if (log >= 0) {
      try {
        writeSync(log, JSON.stringify(e) + "\n");
      } catch (err) {
        closeQuietly(log);
        log = -1;
        logFailed = `--net-log ${opts.logFile}: stopped writing: ${fileError(err)}; the lines after that are missing`;
      }
    }
    // The resolver's own trouble (host ""), said as the proxy's is; its other errors are only logged.
    const own = e.protocol === "dns" && e.host === "";
    if (e.action === "allow" && e.protocol === "tcp" && LOOPBACK.test(e.address ?? e.host)) reachedLoopback.add(e.port);
    if (e.action !== "block" && !own) return;
    const line = own ? `resolver: ${shown(e.reason ?? "")}` : blockedLine(e);
    const key = e.protocol === "proxy" ? line : e.protocol === "dns" || e.protocol === "unix" || e.protocol === "udp" ? `${e.protocol} ${e.host}:${e.port}` : `${e.host}:${e.port}`;
    if (opts.live) opts.live(line);
    else if (blocked.has(key) || blocked.size < MAX_REPORTED) {
      blocked.set(key, line);
      const port = emptyLoopbackPort(e);
      if (port !== undefined) emptyLoopback.set(key, port);
    } else more++;
  };
  // The proxy and the handlers call this from their callbacks, where a throw would end nsbox and the sandbox with it.
  let eventFailed = false;
  const safeEvent = (e: SessionEvent) => {
    try {
      onEvent(e);
    } catch (err) {
      if (eventFailed) return;
      eventFailed = true;
      try {
        opts.warn?.(`reporting a network event failed (${err instanceof Error ? err.message : String(err)}); the proxy goes on`);
      } catch {}
    }
  };
  const stamped = (e: (Omit<SessionEvent, "time"> & { time?: string }) | EgressEvent) => safeEvent({ time: new Date().toISOString(), ...e });
  const ownAddresses = opts.proxy?.ownAddresses ?? systemAddresses;
  const onResolver = (fd: number) => {
    resolver = (require("./resolver.ts") as typeof import("./resolver.ts")).startResolver(fd, { mode: opts.mode ?? "allow", rules, names: names(), onEvent: stamped, resolve: opts.proxy?.resolve, ownAddresses });
  };
  const onProxy = (fd: number) => {
    proxy = (require("./proxy.ts") as typeof import("./proxy.ts")).startProxy(fd, rules, safeEvent, opts.proxy);
  };
  /** Start serving a held socket; a failure is said (the socket is the server's, closed by it). */
  const serveHeld = (which: "resolver" | "proxy") => {
    const fd = held[which];
    if (fd < 0 || finished) return;
    held[which] = -1;
    try {
      (which === "resolver" ? onResolver : onProxy)(fd);
    } catch (e) {
      opts.warn?.(`starting the network ${which} failed (${e instanceof Error ? e.message : String(e)}); the sandbox goes on`);
    }
  };
  const serveAllHeld = () => {
    serveHeld("resolver");
    serveHeld("proxy");
  };
  /**
   * The first trapped call: the dispatcher, and egress and the Unix-socket policy, are read and
   * built now (nsbox's main thread, a few milliseconds, once); that call, and any that come
   * meanwhile, wait for them, unanswered.
   */
  const firstCall = (listener: number, served: Served): ((n: import("./sys.ts").Notification) => void) => {
    const { answer } = require("./unotify.ts") as typeof import("./unotify.ts");
    type Handlers = import("./unotify.ts").NotifyHandlers & { close(): void };
    let built: Handlers | undefined;
    let failed = false;
    const handlers = (): Handlers => {
      if (built) return built;
      try {
        return build();
      } catch (e) {
        // The call is refused (EPERM, as any handler's throw); said once.
        if (!failed) opts.warn?.(`serving the sandbox's connections failed (${e instanceof Error ? e.message : String(e)}); its connects and addressed sends now fail`);
        failed = true;
        throw e;
      }
    };
    const build = (): Handlers => {
      const { egress } = require("./egress.ts") as typeof import("./egress.ts");
      const { withUnixSockets } = require("./unix-socket.ts") as typeof import("./unix-socket.ts");
      const inet = egress({ rules, names: names(), ownAddresses, report: stamped, mode: opts.mode ?? "allow" });
      built = withUnixSockets({ connectInet: inet.connectInet, connectUnix: async () => ({ errno: 111 }), sendDestination: inet.sendDestination }, {
        allowed: opts.allowSockets ?? [],
        diag,
        report: (b) => stamped({ action: b.action, protocol: "unix", host: b.path, port: 0, reason: b.reason, call: b.call }),
      });
      diag = -1;
      return built;
    };
    unix = { close: () => built?.close() };
    const wrapped: import("./unotify.ts").NotifyHandlers = {
      connectInet: (c, to) => handlers().connectInet(c, to),
      connectUnix: (c, to) => handlers().connectUnix(c, to),
      sendDestination: (c, to) => handlers().sendDestination(c, to),
    };
    return (n) => answer(listener, n, wrapped, served);
  };
  return {
    get names() {
      return names();
    },
    asked: () => book?.asked() ?? [],
    onListen(fd, which = "proxy") {
      if (which === "diag") {
        if (diag >= 0) closeQuietly(diag);
        diag = fd;
      } else if (which === "proxy" && opts.mode === "none") closeSync(fd);
      else if (opts.transparent && !finished) {
        // Served from the first datagram or connection on (onNotify), or at once without a listener (onNoListener).
        if (held[which] >= 0) closeQuietly(held[which]);
        held[which] = fd;
      } else if (which === "resolver") onResolver(fd);
      else onProxy(fd);
    },
    onResolver,
    onNotify(listener) {
      try {
        let answerWith: ((n: import("./sys.ts").Notification) => void) | undefined;
        const served: Served = readNotifications(listener, (n) => (answerWith ??= firstCall(listener, served))(n));
        notifications = served;
      } catch (e) {
        // Closed, the listener fails the payload's trapped calls (ENOSYS) instead of leaving them waiting.
        if (!notifications) closeQuietly(listener);
        try {
          opts.warn?.(`serving the sandbox's connections failed (${e instanceof Error ? e.message : String(e)}); its connects and addressed sends now fail`);
        } catch {}
      }
      // The held sockets: served at their first readiness (asked once PID 1 is acked: a datagram
      // or connection that comes first waits in its queue, and poll(2) sees it). The watcher
      // ended (ENDED: the sandbox is gone) serves nothing; finish() closes them.
      if (!notifications) return serveAllHeld();
      const served = notifications;
      queueMicrotask(() => {
        for (const which of ["resolver", "proxy"] as const) {
          const fd = held[which];
          if (fd >= 0) void served.watch(fd, POLLIN).then((revents) => void (!(revents & ENDED) && held[which] === fd && serveHeld(which)));
        }
      });
    },
    onNoListener: () => serveAllHeld(),
    finish() {
      finished = true;
      proxy?.close();
      notifications?.stop();
      for (const fd of [held.resolver, held.proxy]) if (fd >= 0) closeQuietly(fd);
      held.resolver = held.proxy = -1;
      unix?.close();
      if (diag >= 0) closeQuietly(diag);
      diag = -1;
      resolver?.close();
      // close(2) reports a write the file system deferred (NFS, a full disk): said, not thrown.
      if (log >= 0 && !closeQuietly(log)) logFailed ??= `--net-log ${opts.logFile}: the last lines may be missing (closing it failed)`;
      log = -1;
      for (const [key, port] of emptyLoopback) if (reachedLoopback.has(port)) blocked.delete(key);
      const rest = more ? [`and ${more} more blocked connections${opts.logFile === undefined ? "" : " (every one is in --net-log)"}`] : [];
      return [...blocked.values(), ...rest, ...(logFailed ? [logFailed] : [])];
    },
  };
}
