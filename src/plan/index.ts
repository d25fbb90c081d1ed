// buildPlan: options + host facts → the ordered ops for the executor. Every user error is raised here.
import { existsSync } from "node:fs";
import { hideRegistry } from "./runtime-dir.ts";
import type { Host } from "../host.ts";
import { NsboxError } from "../errors.ts";
import type { Op } from "../ops.ts";
import type { SandboxOptions } from "../options.ts";
import { checkCommand, ensureNormal, resolved } from "../options/normalize.ts";
import { isAncestorOrSelf, PlanBuilder } from "./builder.ts";
import { sandboxEnv } from "./env.ts";
import { chooseShareDir, filesystemOps, leaveHostOps } from "./filesystem.ts";
import { expandPath, mountOps } from "./mounts.ts";
import { chooseIdMap, groupFile, idMapCaps, idMapOps, mappedIds, passwdFile, type IdMap } from "./ids.ts";
import { etcFileOps, RESOLVER_ADDRESS } from "./etc-files.ts";
import { gitIdentityOps } from "./git-identity.ts";
import { payloadOps } from "./payload.ts";
import { finalWatches, openedPaths, protectShare, type Watch } from "./protected.ts";
import { ownPackages } from "../packages.ts";
import { netChoice, PROXY_PORT, proxyEnv, type NetChoice } from "./network.ts";
import { homeToolOps } from "./toolchains.ts";
import { bindJobserverFifo, landlockConfines, listenEnv, passFdPlan, type PassedFd } from "./pass-fds.ts";
import { netMode, type NetMode } from "../net/mode.ts";
import { notifyProgram } from "./seccomp-notify.ts";
import { allowedSocketEnv, allowSocketOps } from "./allow-sockets.ts";

import { CLONE, SIGNAL } from "../kernel.ts";
export { CLONE };
export { FORWARDED_SIGNALS } from "./payload.ts";

export interface Plan {
  ops: Op[];
  cloneFlags: number;
  command: string[];
  env: Record<string, string>;
  /** Names of variables dropped as secrets. */
  droppedEnv: string[];
  /** Where the payload starts, inside. */
  startDir: string;
  /** Whether the payload gets its own pseudo-terminal. */
  terminal: boolean;
  /** Which of stdin, stdout, stderr (bits 0, 1, 2) the pty takes the place of: those that are the user's terminal. */
  terminalFds?: number;
  /** Things the user should know (printed as warnings by the CLI). */
  notes: string[];
  /** The network the sandbox gets. */
  net: NetChoice;
  /** Host directories to remove once the sandbox has ended (overlay work directories). */
  cleanup?: string[];
  /** Directories whose protected names that appear during the run are moved aside after it (plan/protected.ts). */
  watch?: Watch[];
  /** With --net allow=: the rules nsbox's proxy applies to the sandbox's connections. */
  proxy?: { rules: import("../net/rules.ts").Rule[] };
  /**
   * With --net none or allow= in transparent mode: nsbox decides every connection and send of the
   * payload itself (src/net/unotify.ts); PID 1 hands it the notify filter's listener.
   */
  egress?: { mode: "none" | "allow"; rules: import("../net/rules.ts").Rule[]; allowSockets: { path: string; dev: bigint; ino: bigint }[] };
  /** How --net none and allow= work here (src/net/mode.ts); none with --net host. */
  netMode?: NetMode;
  /** The caller's descriptors the command gets at the same numbers, and why (plan/pass-fds.ts). */
  passFds?: PassedFd[];
  /** With --id-map auto where the system gives a range: the map newuidmap and newgidmap write (src/id-map.ts). */
  idMap?: IdMap;
}

export interface PlanIo {
  /**
   * The size of the user's terminal when the payload gets a pty of its own, else null; `fds`:
   * which of stdin, stdout, stderr (bits 0, 1, 2) are that terminal (default all three).
   */
  terminal: { rows: number; cols: number; fds?: number } | null;
  /** Planned for the library: a refusal of the current directory names `cwd`, `noCwd` and `mounts`, not the command line's flags. */
  library?: boolean;
}

/** The current directory is gone from the view: name the option that covered it. */
function hiddenCwd(o: SandboxOptions, host: Host, dir: string): NsboxError {
  const cover = [...(o.mounts ?? [])].reverse().find((m) => isAncestorOrSelf(expandPath(m.target, host), dir));
  const problem = `hides the current directory ${dir}; add --chdir DIR or --no-cwd`;
  return cover
    ? new NsboxError("BAD_OPTION", `${cover.origin}: ${problem}`, { option: cover.option, path: dir })
    : new NsboxError("BAD_OPTION", `the current directory ${dir} is not a directory inside the sandbox; add --chdir DIR or --no-cwd`, { path: dir });
}

/**
 * `options` as normalised (src/options/normalize.ts): the values are checked and resolved, and
 * only what depends on the host is checked here.
 */
export function buildPlan(command: string[], options: SandboxOptions, host: Host, io: PlanIo): Plan {
  if (command.length === 0 || command[0] === "") {
    if (io.library) throw new NsboxError("BAD_OPTION", `command: expected a program and its arguments, e.g. ["ls", "-l"], got ${JSON.stringify(command)}`, { option: "command" });
    throw new NsboxError("BAD_OPTION", "no command given: usage is nsbox [options] -- command [args…]");
  }
  checkCommand(command);
  // The packages this process loads while the sandbox runs (consola, dns-packet), found now, before
  // it starts, also when no writable share asks for OWN_CODE (src/packages.ts).
  ownPackages();
  const o = ensureNormal(options);
  const id = { uid: o.uid ?? 0, gid: o.gid ?? 0 };
  const notes: string[] = [];
  // An option that mounts over the current directory (--rw DIR, --ro DIR, …) is the user's own choice for it.
  const covered = (o.mounts ?? []).some((m) => isAncestorOrSelf(expandPath(m.target, host), host.cwd));
  const share = o.noCwd ? { dir: null } : chooseShareDir(host, covered, io.library === true);
  if ("reason" in share && share.reason) notes.push(share.reason);
  const home = host.home;
  let startDir = o.chdir !== undefined ? expandPath(o.chdir, host) : share.dir ?? home;
  const net = netChoice(resolved(o).net, host);
  // NSBOX_NET_MODE=proxy: the environment nsbox itself was started with (tests of the fallback).
  const mode = net.mode === "host" ? undefined : netMode(host.env.NSBOX_NET_MODE);
  if (net.mode === "allow" && net.notes) notes.push(...net.notes);

  const b = new PlanBuilder();
  b.push({ op: "DEATH_SIGNAL", signal: SIGNAL.KILL, why: { what: "tie the sandbox's life to nsbox's" } });
  const idMap = chooseIdMap(host, id, o.idMap, notes);
  for (const op of idMapOps(host, id, idMap)) b.push(op);
  filesystemOps(b, {
    propagation: o.propagation ?? "private",
    shareDir: share.dir,
    home,
    passwd: passwdFile(host, id, home, idMap),
    group: groupFile(host, id, idMap),
    // kernel.shm* are writable by the IPC namespace's root uid only: with --uid N, unless nsbox runs as root.
    ipcLimits: id.uid === 0 || host.uid === 0,
    ownNetwork: net.mode !== "host",
  });
  const hostname = o.hostname ?? "nsbox";
  etcFileOps(b, hostname, net.mode === "host");
  const gitEnv = gitIdentityOps(b, host, home, notes);
  // Files the host runs later (git hooks and config, .envrc, editor tasks) stay read-only in the
  // share; an option that shares a directory over the current one guards it again (mounts.ts).
  if (share.dir) protectShare(b, share.dir, { what: `share the current directory ${share.dir}`, path: share.dir }, host, openedPaths(o.mounts ?? [], host));
  else b.guarded.push(host.cwd);
  const toolPath = o.homeTools === "off" ? undefined : homeToolOps(b, host);
  const cleanup = mountOps(b, o.mounts ?? [], host);
  hideRegistry(b, host, share.dir);
  const allowSockets = allowSocketOps(b, o, host);
  // Descriptors handed over on purpose; the command line's own /dev/fd/N and jobserver too, never the library's.
  const passing = passFdPlan(command, o, host, { args: !io.library, makeflags: io.library ? undefined : host.env.MAKEFLAGS, fifo: true, landlocked: () => landlockConfines(o) });
  notes.push(...passing.notes);
  if (passing.fifo) bindJobserverFifo(b, passing.fifo, notes);
  // `cd /tmp && nsbox --rw /tmp -- cmd`: the option shares the current directory, so start there.
  if (covered && !o.noCwd && o.chdir === undefined && share.dir === null && b.kindAt(host.cwd) === "dir") startDir = host.cwd;
  // `--hide .`: the command would start in an empty directory it cannot read; said rather than run.
  const last = [...(o.mounts ?? [])].reverse().find((m) => isAncestorOrSelf(expandPath(m.target, host), startDir));
  if (last?.kind === "hide" && (!last.optional || existsSync(expandPath(last.target, host)))) {
    throw new NsboxError("BAD_OPTION", `${last.origin}: hides ${startDir}, where the command starts, behind an empty unreadable directory; add --chdir DIR to start elsewhere${o.noCwd ? "" : ", or --no-cwd to share no directory"}`, { option: last.option, path: startDir });
  }
  if (b.kindAt(startDir) !== "dir") {
    throw o.chdir !== undefined
      ? new NsboxError("BAD_OPTION", `--chdir ${o.chdir}: ${o.chdir === startDir ? "" : `${startDir} is `}not a directory inside the sandbox`, { option: "--chdir", path: startDir })
      : hiddenCwd(o, host, startDir);
  }
  const { env, dropped } = sandboxEnv({
    base: host.env, clear: o.clearEnv ?? false, keep: [...(o.keepEnv ?? []), ...Object.keys(allowedSocketEnv(host.env, allowSockets, o.clearEnv ?? false))], home, pwd: startDir,
    set: { ...(toolPath ? { PATH: toolPath } : {}), ...(net.mode === "allow" ? proxyEnv(net.rules) : {}), ...gitEnv, ...o.env },
  });
  const listenPid = listenEnv(env, passing.fds);
  leaveHostOps(b);
  b.push({ op: "SETHOSTNAME", name: hostname, why: { what: `set the host name to ${hostname}`, option: "--hostname" } });
  if (net.mode !== "host") b.push({ op: "LOOPBACK_UP", why: { what: "bring up the loopback interface" } });
  if (net.mode === "allow") {
    b.push({ op: "LISTEN_TCP", port: PROXY_PORT, why: { what: `listen on 127.0.0.1:${PROXY_PORT} inside for the network proxy`, option: "--net" } });
  }
  if (net.mode !== "host") {
    b.push({ op: "LISTEN_TCP", port: 53, udp: true, address: RESOLVER_ADDRESS, why: { what: `listen on ${RESOLVER_ADDRESS}:53 (UDP) inside for the sandbox's resolver`, option: "--net" } });
  }
  if (io.terminal) {
    b.push({ op: "OPEN_PTY", ptmx: "/dev/pts/ptmx", rows: io.terminal.rows, cols: io.terminal.cols, why: { what: "open a pseudo-terminal for the command" } });
  }
  // After every op that passes a socket out (sendmsg on the control socket): from here on PID 1's
  // and the payload's connects and sends go to nsbox.
  if (mode?.mode === "transparent") {
    // Which Unix sockets were made inside, asked without connecting to any (src/net/unix-diag.ts).
    b.push({ op: "LISTEN_TCP", port: 0, diag: true, why: { what: "open a sock_diag socket inside, to tell the sandbox's Unix sockets from the host's", option: "--net" } });
    b.push({ op: "SECCOMP_NOTIFY", program: notifyProgram(), why: { what: "hand nsbox the command's connections and sends (seccomp user notification)", option: "--net" } });
  }
  b.push({ op: "CHDIR", path: startDir, why: { what: `start in ${startDir}`, path: startDir } });

  payloadOps(b, o, { command, env, terminal: io.terminal, spawn: { what: "start the command under the sandbox's init" }, passFds: passing.fds, listenPid, ids: { mapped: mappedIds(id, idMap), caps: idMapCaps(id, idMap) } });

  const cloneFlags = Object.values(CLONE).reduce((a, f) => a | f, 0) & ~(net.mode === "host" ? CLONE.NEWNET : 0);
  return {
    ops: b.ops, cloneFlags, command, env, droppedEnv: dropped, startDir, terminal: io.terminal !== null, terminalFds: io.terminal ? io.terminal.fds ?? 7 : 0, notes, net, cleanup,
    watch: finalWatches(b, o.mounts ?? [], host), passFds: passing.fds,
    ...(net.mode === "allow" ? { proxy: { rules: net.rules } } : {}),
    ...(mode ? { netMode: mode } : {}),
    ...(mode?.mode === "transparent" && net.mode !== "host" ? { egress: { mode: net.mode, rules: net.mode === "allow" ? net.rules : [], allowSockets } } : {}),
    ...(idMap ? { idMap } : {}),
  };
}
