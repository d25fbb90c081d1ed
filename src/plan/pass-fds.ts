// Descriptors the caller hands over on purpose: --pass-fd N (the library's `passFds`), and on the
// command line the /dev/fd/N arguments of the command and the jobserver MAKEFLAGS names. Each is
// checked here, before fork; everything else stays closed (executor/pass_fds.c places them).
import { fstatSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { NsboxError } from "../errors.ts";
import { landlockAbi } from "../executor.ts";
import type { Host } from "../host.ts";
import { PASS_FDS_MAX } from "../kernel.ts";
import type { SandboxOptions } from "../options.ts";
import { FD_MAX } from "../options/defs.ts";
import { originOf } from "../options/normalize.ts";
import { originText } from "../options/problem.ts";
import type { PlanBuilder } from "./builder.ts";
import { walkHostPath } from "./host-path.ts";

/** One descriptor passed, and why: "--pass-fd 5", "/dev/fd/63 in the command", "MAKEFLAGS --jobserver-auth=3,4". */
export interface PassedFd {
  fd: number;
  why: string;
}

/** What the plan passes: the descriptors (ascending), a jobserver FIFO to bind, and what the user should know. */
export interface FdPlan {
  fds: PassedFd[];
  /** make 4.4's jobserver FIFO (--jobserver-auth=fifo:PATH), checked: shown at the same path inside. */
  fifo?: { path: string; why: string };
  notes: string[];
}

/** An argument naming a descriptor: `/dev/fd/N`, `/proc/self/fd/N`, or either after `NAME=` (`--config=/dev/fd/63`, dd's `if=/dev/fd/5`). */
const FD_ARG = /^(?:[^=]*=)?\/(?:dev|proc\/self)\/fd\/(\d{1,7})$/;

/**
 * What stands at `fd` in this process: closed, a terminal, one of the runtime's own (Bun's event
 * loop: epoll, eventfd, timerfd, inotify… are anonymous inodes; the caller's are files, pipes,
 * sockets and devices), or passable with its stat.
 */
/**
 * Whether `fd` is a terminal (TIOCGWINSZ answers), asked of the executor only for a character
 * device: node:tty's isatty cost 26 ms of start-up (it loads Node's stream and net modules).
 */
const isTerminal = (fd: number): boolean => (require("../executor.ts") as typeof import("../executor.ts")).terminalSize(fd) !== null;

type FdState = { kind: "closed" } | { kind: "terminal" } | { kind: "directory" } | { kind: "runtime"; name: string } | { kind: "ok"; st: Stats };
function fdState(fd: number): FdState {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch {
    return { kind: "closed" };
  }
  if (st.isCharacterDevice() && isTerminal(fd)) return { kind: "terminal" };
  // A directory's descriptor reaches every file below it by openat(2), whatever the view shows.
  if (st.isDirectory()) return { kind: "directory" };
  let name = "";
  try {
    name = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {}
  if (name.startsWith("anon_inode:")) return { kind: "runtime", name };
  return { kind: "ok", st };
}

/** The access mode of `fd` (O_RDONLY 0, O_WRONLY 1, O_RDWR 2) from /proc/self/fdinfo, or undefined. */
function accessMode(fd: number): number | undefined {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
    return flags === undefined ? undefined : parseInt(flags, 8) & 3;
  } catch {
    return undefined;
  }
}

/** Why a descriptor the user named can't be passed, as a phrase; undefined when it can. */
function refusal(fd: number, state: FdState, library: boolean): string | undefined {
  switch (state.kind) {
    case "closed":
      return library
        ? `descriptor ${fd} is not open in this process; pass one your program has open (fs.openSync, a socket's fd)`
        : `descriptor ${fd} is not open in nsbox's process; open it where you start nsbox (${fd}<file, ${fd}>file) or leave the option out`;
    case "terminal":
      return `descriptor ${fd} is a terminal, and the command never gets your terminal (through it, it could read what you type next): pass a file, pipe or socket instead`;
    case "directory":
      return `descriptor ${fd} is a directory, through which the command would reach every file below it past the sandbox's view: share the directory with --ro or --rw instead`;
    case "runtime":
      return library
        ? `descriptor ${fd} (${state.name}) belongs to Bun's event loop, not to your program: pass a file, pipe or socket`
        : `descriptor ${fd} (${state.name}) is not one you gave nsbox: it belongs to the runtime nsbox runs on; open yours where you start nsbox (${fd}<file)`;
  }
  return undefined;
}

/**
 * Whether Landlock will confine the command: the plan asks for it (hardening.ts: unless
 * --landlock off, or --allow-nested without --landlock on) and the running kernel has it.
 */
export function landlockConfines(o: SandboxOptions): boolean {
  if (!(o.landlock === "on" || (o.landlock === undefined && !o.allowNested))) return false;
  try {
    return landlockAbi() > 0;
  } catch {
    return false;
  }
}

/**
 * Why the command could widen `fd`, or undefined: a regular file opened read-only or write-only
 * can be opened again by its magic link /proc/self/fd/N with the other access, and that open
 * reaches the host's file by its host path, past the sandbox's view (a `5<~/.bashrc` becomes
 * writable). Landlock refuses such an open (the path lies outside the view it allows), so this
 * holds only where `landlocked()` says Landlock does not confine the command (--landlock off,
 * --allow-nested, a kernel without it). A descriptor opened read-write gives nothing more.
 */
function widenable(fd: number, state: FdState, landlocked: () => boolean): string | undefined {
  if (state.kind !== "ok" || !state.st.isFile()) return undefined;
  const mode = accessMode(fd);
  if (mode === 2 || landlocked()) return undefined;
  const [opened, more] = mode === 0 ? ["read-only", "writing"] : ["write-only", "reading"];
  return `descriptor ${fd} is a file opened ${opened}, and without Landlock (--landlock off, --allow-nested, or a kernel without it) the command could open it again through /proc/self/fd/${fd} for ${more}: pass its content through a pipe (cat FILE | nsbox …, or <(cat FILE)), or let Landlock on`;
}

/** How an explicit descriptor is named in a message: `--pass-fd 5`, the config file's key, or the library's option. */
function named(o: SandboxOptions, fd: number): { text: string; option?: string } {
  const origin = originOf(o, "passFds");
  if (origin.from === "cli") return { text: `${origin.flag} ${fd}`, option: origin.flag };
  if (origin.from === "config") return { text: `${origin.where} ${fd}` };
  return { text: `The \`passFds\` option ${fd}`, option: "passFds" };
}

/** The jobserver MAKEFLAGS names: `--jobserver-auth=R,W` (make 4.2+), `--jobserver-fds=R,W` (older), `--jobserver-auth=fifo:PATH` (4.4). */
export function jobserverOf(makeflags: string | undefined): { fds: [number, number]; text: string } | { fifo: string; text: string } | undefined {
  if (!makeflags) return undefined;
  // Variable definitions follow " -- "; make reads the last jobserver option of the flags.
  const flags = makeflags.split(/ -- /)[0]!.split(/\s+/);
  const text = flags.findLast((w) => /^--jobserver-(auth|fds)=/.test(w));
  if (!text) return undefined;
  const value = text.slice(text.indexOf("=") + 1);
  const pair = /^(\d{1,7}),(\d{1,7})$/.exec(value);
  if (pair) return { fds: [Number(pair[1]), Number(pair[2])], text };
  if (value.startsWith("fifo:") && value.length > 5) return { fifo: value.slice(5), text };
  return undefined;
}

/**
 * The jobserver's two descriptors, when they are what make gives a recursive make (`+` or
 * $(MAKE) in the recipe): the read and write ends of one pipe. Make closes them for other
 * recipes, and the numbers are then free for anything (Bun's event loop takes 3 and 4): such a
 * MAKEFLAGS passes nothing, and the make inside says "jobserver unavailable" as it would outside.
 */
function jobserverPipe(r: number, w: number): boolean {
  if (r < 3 || w < 3 || r === w) return false;
  const a = fdState(r), b = fdState(w);
  if (a.kind !== "ok" || b.kind !== "ok" || !a.st.isFIFO() || !b.st.isFIFO()) return false;
  if (a.st.ino !== b.st.ino || a.st.dev !== b.st.dev) return false;
  const ra = accessMode(r), wa = accessMode(w);
  return (ra === 0 || ra === 2) && (wa === 1 || wa === 2);
}

/**
 * make 4.4's jobserver FIFO, when it is safe to show inside: reached without a symlink a sandbox
 * or another user could have placed (host-path.ts), a FIFO, and the caller's own. The bind holds
 * it by identity from this check to the mount (builder.ts bind). Else a note says why not.
 */
function jobserverFifo(path: string, host: Host): { ok: true; path: string } | { ok: false; why: string } {
  if (!path.startsWith("/")) return { ok: false, why: "is not an absolute path" };
  let walk: ReturnType<typeof walkHostPath>;
  try {
    walk = walkHostPath(path);
  } catch (e) {
    return { ok: false, why: `can't be looked at (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
  }
  if (!walk.ok) return { ok: false, why: "link" in walk ? `goes through the symlink ${walk.link}, which nsbox does not follow` : "does not exist" };
  if (walk.path !== path) return { ok: false, why: `is reached through a symlink (it is ${walk.path})` };
  if (!walk.st.isFIFO()) return { ok: false, why: "is not a FIFO" };
  if (Number(walk.st.uid) !== host.uid) return { ok: false, why: `belongs to uid ${walk.st.uid}, not to you` };
  return { ok: true, path: walk.path };
}

/**
 * The descriptors to pass. `options.passFds` are the caller's explicit ones: each must be open,
 * not a terminal, not the runtime's own, not a file the command could reopen with more access
 * (widenable; a one-line BAD_OPTION otherwise). With `auto` (the
 * command line and nsbox exec, never the library, whose arguments may come from anywhere), standard
 * input is checked as an explicit one is (it is always passed), and the command's /dev/fd/N and
 * /proc/self/fd/N arguments and the jobserver of MAKEFLAGS are added when
 * they are open and fit; what does not fit is left closed, with a note when it was a terminal.
 */
export function passFdPlan(command: readonly string[], options: SandboxOptions, host: Host, auto: { args: boolean; makeflags?: string; fifo: boolean; landlocked?: () => boolean }): FdPlan {
  const landlocked = auto.landlocked ?? (() => false);
  const chosen = new Map<number, string>();
  const notes: string[] = [];
  for (const fd of options.passFds ?? []) {
    const why = named(options, fd);
    if (!Number.isInteger(fd) || fd < 3 || fd > FD_MAX) {
      throw new NsboxError("BAD_OPTION", `${why.text}: must be a descriptor number from 3 to ${FD_MAX} (0, 1 and 2 are always passed)`, { option: why.option });
    }
    const state = fdState(fd);
    const problem = refusal(fd, state, why.option === "passFds") ?? widenable(fd, state, landlocked);
    if (problem) throw new NsboxError("BAD_OPTION", `${why.text}: ${problem}`, { option: why.option });
    if (!chosen.has(fd)) chosen.set(fd, why.text);
  }
  if (auto.args) {
    refuseDirectoryStdio([0, 1, 2]);
    // Standard input is always passed, as it is: `nsbox -- cmd < ~/.bashrc` gives the same reopen.
    const stdin = widenable(0, fdState(0), landlocked);
    if (stdin) throw new NsboxError("BAD_OPTION", `standard input: ${stdin.replace("pass its content through a pipe (cat FILE | nsbox …, or <(cat FILE))", "pipe it in instead (cat FILE | nsbox …)")}`);
    for (const arg of command) {
      const m = FD_ARG.exec(arg);
      if (!m) continue;
      const fd = Number(m[1]);
      if (fd < 3 || chosen.has(fd)) continue;
      const state = fdState(fd);
      if (state.kind === "terminal") notes.push(`${arg} in the command is a terminal: not passed (the command never gets your terminal)`);
      if (state.kind === "directory") notes.push(`${arg} in the command is a directory: not passed (through it the command would reach past its view; share it with --ro or --rw)`);
      const wider = widenable(fd, state, landlocked);
      if (wider) notes.push(`${arg} in the command: not passed: ${wider}`);
      else if (state.kind === "ok") chosen.set(fd, `${arg} in the command`);
    }
  }
  let fifo: FdPlan["fifo"];
  const job = jobserverOf(auto.makeflags);
  if (job && "fds" in job) {
    const [r, w] = job.fds;
    if (jobserverPipe(r, w)) for (const fd of [r, w]) if (!chosen.has(fd)) chosen.set(fd, `MAKEFLAGS ${job.text}`);
  } else if (job) {
    const checked = auto.fifo ? jobserverFifo(job.fifo, host) : { ok: false as const, why: "can't be shown in a sandbox that is already running" };
    if (checked.ok) fifo = { path: checked.path, why: `MAKEFLAGS ${job.text}` };
    else notes.push(`the jobserver FIFO ${job.fifo} that MAKEFLAGS names ${checked.why}: not shared, so make inside runs its jobs one at a time`);
  }
  if (chosen.size > PASS_FDS_MAX) {
    throw new NsboxError("BAD_OPTION", `${chosen.size} descriptors to pass (${[...chosen.values()].slice(0, 3).join(", ")}, …): nsbox passes at most ${PASS_FDS_MAX}`);
  }
  const fds = [...chosen].sort(([a], [b]) => a - b).map(([fd, why]) => ({ fd, why }));
  return { fds, ...(fifo ? { fifo } : {}), notes };
}

/**
 * Standard input, output and error are always passed: none of them may be a directory
 * (`nsbox -- cmd < ~`), through which openat(0, ".ssh/id_ed25519") reaches every file below it
 * past the sandbox's view (Landlock stops that, but not with --landlock off), as for --pass-fd.
 * `fds`: the descriptors the command gets as 0, 1, 2, in that order.
 */
export function refuseDirectoryStdio(fds: readonly number[]): void {
  fds.forEach((fd, i) => {
    if (fdState(fd).kind !== "directory") return;
    const name = ["standard input", "standard output", "standard error"][i]!;
    throw new NsboxError("BAD_OPTION", `${name} is a directory (descriptor ${fd}), through which the command would reach every file below it past the sandbox's view: give it a file, a pipe or /dev/null, and share the directory with --ro or --rw instead`);
  });
}

/**
 * Socket activation (sd_listen_fds): LISTEN_FDS=N means descriptors 3 to N+2, for the process
 * whose pid is LISTEN_PID. When those are all passed, LISTEN_PID is set to the command's own pid
 * inside (the executor writes it right before exec: true is returned); otherwise LISTEN_PID is
 * removed, so that the command takes none of the closed descriptors for sockets.
 */
export function listenEnv(env: Record<string, string>, fds: readonly PassedFd[]): boolean {
  if (env.LISTEN_FDS === undefined) return false;
  const n = /^\d{1,7}$/.test(env.LISTEN_FDS) ? Number(env.LISTEN_FDS) : 0;
  const passed = new Set(fds.map((p) => p.fd));
  const all = n > 0 && Array.from({ length: n }, (_, i) => i + 3).every((fd) => passed.has(fd));
  if (!all) {
    delete env.LISTEN_PID;
    return false;
  }
  env.LISTEN_PID = "";
  return true;
}

/** Show the checked jobserver FIFO at its own path inside, writable (make reads and writes tokens). */
export function bindJobserverFifo(b: PlanBuilder, fifo: NonNullable<FdPlan["fifo"]>, notes: string[]): void {
  try {
    b.bind(fifo.path, fifo.path, { readOnly: false, isDir: false, why: { what: `share the jobserver FIFO ${fifo.path}`, origin: fifo.why, path: fifo.path } });
  } catch (e) {
    if (!(e instanceof NsboxError)) throw e;
    notes.push(`${e.message}: not shared, so make inside runs its jobs one at a time`);
  }
}
