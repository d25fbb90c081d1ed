// Running sandboxes by name: in the user's private runtime directory, a JSON file (the name's claim, for listing) and a Unix socket served by the nsbox process that runs the sandbox, the only proof stop, exec and inspect accept.
import { chmodSync, closeSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { fileError } from "./errno.ts";
import { currentDir } from "./host.ts";
import { NsboxError } from "./errors.ts";
import { findOp } from "./ops.ts";
import { closeFd, pidfdOpen, receiveDataFd, sendDataFd, unixAccept, unixConnect, unixListen } from "./executor.ts";
import { log } from "./log.ts";
import type { SandboxOptions } from "./options.ts";
import { SANDBOX_NAME as NAME } from "./options/defs.ts";
import { summarize } from "./options/summary.ts";

/** What `ps`, `inspect`, `stop` and `exec` know about a running sandbox. */
export interface SandboxState {
  version: 1;
  name: string;
  /** Host pid of the sandbox's PID 1; null while it is being created. */
  pid: number | null;
  /** PID 1's start time (field 22 of /proc/PID/stat, clock ticks after boot): a reused pid has another. */
  pidStart: number | null;
  /** The nsbox process that supervises it. */
  supervisor: { pid: number; start: number };
  /** The host uid that owns it. */
  uid: number;
  command: string[];
  /** ISO 8601. */
  startedAt: string;
  /** Where nsbox was run, its $HOME, and where the command started inside. */
  cwd: string;
  home: string;
  startDir: string;
  hostname: string;
  /** The options in command-line words, for ps. */
  summary: string;
  /** The options the sandbox was made with: exec rebuilds its restrictions from them. */
  options: SandboxOptions;
  /** The trees Landlock let the payload write (the writable mounts, inside). */
  writable: string[];
  /**
   * With `--seccomp FILE`: the program the sandbox got, base64. exec installs it rather than
   * reading the file again: the payload can rewrite a file in its project, and a relative name
   * would be read from exec's own current directory.
   */
  seccompFilter?: string;
}

const STATE_VERSION = 1;

/** A short random name, like a container id. */
export function generateName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 7);
}

function stateDirError(dir: string, problem: string): NsboxError {
  return new NsboxError("STATE_DIR", `nsbox's runtime directory ${dir} ${problem}`, {
    path: dir,
    hint: "remove it, or set XDG_RUNTIME_DIR to a private directory of yours",
  });
}

/** Create `dir` (0700) or accept it when it is a real directory of ours that no one else may write. */
function privateDir(dir: string, uid: number): string {
  try {
    mkdirSync(dir, 0o700);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") throw stateDirError(dir, `can't be created: ${fileError(e)}`);
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw stateDirError(dir, "is a symlink; nsbox keeps its state only in a real directory");
  if (!st.isDirectory()) throw stateDirError(dir, "is not a directory");
  if (st.uid !== uid) throw stateDirError(dir, `belongs to uid ${st.uid}, not to you (uid ${uid})`);
  if (st.mode & 0o077) chmodSync(dir, 0o700);
  return dir;
}

/** $XDG_RUNTIME_DIR/nsbox when that is a directory of ours, else /tmp/nsbox-UID; created 0700, refused when someone else owns it. */
export function runtimeDir(env: Record<string, string | undefined> = process.env): string {
  const uid = process.getuid!();
  const xdg = env.XDG_RUNTIME_DIR;
  let base: string | undefined;
  if (xdg?.startsWith("/")) {
    try {
      const st = statSync(xdg);
      if (st.isDirectory() && st.uid === uid) base = xdg;
    } catch {}
  }
  return base ? privateDir(join(base, "nsbox"), uid) : privateDir(`/tmp/nsbox-${uid}`, uid);
}

/** A process as /proc shows it: its start time, owner and state; undefined when there is none. */
export function processInfo(pid: number): { start: number; uid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { start: Number(fields[19]), uid: statSync(`/proc/${pid}`).uid, state: fields[0]! };
  } catch {
    return undefined;
  }
}

/**
 * The sandbox's command: the first child of its PID 1. PID 1 is not dumpable (its memory is a
 * copy of nsbox's, environment included), so whatever needs its /proc entries (namespaces,
 * root, owner) reads them from the command, which shares its namespaces.
 */
export function payloadOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return children ? Number(children.split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}

/*
 * Who may write the runtime directory: the user's own processes, and, if the user shares it
 * with a sandbox (an explicit --rw of it), that sandbox's payload. Another local user cannot
 * (privateDir refuses a directory of theirs), and a stale entry's pid may since belong to any
 * process of the user. So nothing in an entry is believed: the JSON file only claims the name.
 * The proof is the socket NAME.sock, served by the nsbox process that started the sandbox (the
 * parent of its PID 1, which it has not reaped: that pid cannot be reused while it lives).
 * A client believes it only when the kernel says (SO_PEERCRED) the server runs as this user, in
 * this PID and user namespace (not inside a sandbox, whose processes are the only others that
 * could bind a socket there), and when the server hands over a pidfd of its own unreaped child
 * PID 1 (SCM_RIGHTS). Signals go through that pidfd; exec and inspect check /proc/PID against it.
 * The server, in turn, answers only clients of this user in its own namespaces.
 */

/** A running sandbox, proven: its state as its own nsbox holds it, and a pidfd of its PID 1 (-1 while it starts). */
export interface ProvenSandbox extends SandboxState {
  pidfd: number;
}

const socketPath = (dir: string, name: string) => join(dir, `${name}.sock`);

const nsLink = (pid: number | "self", ns: string): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
};

/** Whether `pid` runs in this process's PID and user namespaces (a sandbox's processes do not). */
function besideUs(pid: number): boolean {
  return pid > 0 && ["pid", "user"].every((ns) => {
    const theirs = nsLink(pid, ns);
    return theirs !== undefined && theirs === nsLink("self", ns);
  });
}

/** The pid a pidfd refers to (its fdinfo's Pid line): -1 once the process has been reaped. */
function pidfdPid(pidfd: number): number | undefined {
  try {
    const m = /^Pid:\s*(-?\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${pidfd}`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const m = /^PPid:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function unproven(name: string, problem: string): NsboxError {
  return new NsboxError("NOT_OWNER", `sandbox ${name}: ${problem}; nsbox acts only on a sandbox its own nsbox process proves`, {
    hint: "nsbox ps lists your running sandboxes; remove stale files from the runtime directory if this persists",
  });
}

const STALE = ["ENOENT", "ECONNREFUSED"];
const errnoName = (n: number) => (Object.entries(constants.errno).find(([, v]) => v === -n)?.[0] ?? `errno ${-n}`);

/**
 * Ask the nsbox process that runs `name` for its state and a pidfd of its PID 1. Undefined when
 * no nsbox serves that name (a stale or forged entry); an error when a server does not prove itself.
 */
export function querySandbox(name: string, dir: string): ProvenSandbox | undefined {
  const path = socketPath(dir, name);
  // Served by this very process (the library's named sandboxes): it cannot answer itself while it waits.
  const own = servedHere.get(path)?.();
  if (own) return { ...own, pidfd: -1 };
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (!st.isSocket()) throw unproven(name, `${path} is not a socket`);
  if (st.uid !== process.getuid!()) {
    throw new NsboxError("NOT_OWNER", `sandbox ${name} belongs to uid ${st.uid}: only its owner can join or stop it`, { hint: `run nsbox as uid ${st.uid}` });
  }
  const c = unixConnect(path, 3);
  if (typeof c === "number") {
    if (STALE.includes(errnoName(c))) return undefined;
    throw unproven(name, `can't connect to ${path} (${errnoName(c)})`);
  }
  let answer: ReturnType<typeof receiveDataFd>;
  try {
    const uid = process.getuid!();
    if (c.peer.uid !== uid) {
      throw new NsboxError("NOT_OWNER", `sandbox ${name} (served by pid ${c.peer.pid}) belongs to uid ${c.peer.uid}: only its owner can join or stop it`, {
        hint: `run nsbox as uid ${c.peer.uid}`,
      });
    }
    if (!besideUs(c.peer.pid)) throw unproven(name, `its socket is served by pid ${c.peer.pid}, which runs in another PID or user namespace (inside a sandbox?), not by an nsbox of yours`);
    answer = receiveDataFd(c.fd);
  } finally {
    closeFd(c.fd);
  }
  if (typeof answer === "number") {
    const stopped = processInfo(c.peer.pid)?.state === "T";
    throw new NsboxError("NOT_RUNNING", `sandbox ${name}: its nsbox (pid ${c.peer.pid}) ${stopped ? "is stopped" : "did not answer"}, so it cannot prove the sandbox is its own`, {
      hint: stopped ? "bring it back with fg (or kill -CONT " + c.peer.pid + "), then try again" : "try again; nsbox ps lists your running sandboxes",
    });
  }
  const fail = (problem: string) => {
    if (answer.fd >= 0) closeFd(answer.fd);
    return unproven(name, problem);
  };
  let s: SandboxState;
  try {
    s = JSON.parse(new TextDecoder().decode(answer.data)) as SandboxState;
  } catch {
    throw fail(`its server (pid ${c.peer.pid}) answered something other than nsbox's state`);
  }
  if (s?.version !== STATE_VERSION || s.name !== name || s.supervisor?.pid !== c.peer.pid) throw fail(`its server (pid ${c.peer.pid}) is not the nsbox that runs it`);
  if (s.pid === null) return { ...s, pidfd: answer.fd };
  if (answer.fd < 0) throw fail(`its server (pid ${c.peer.pid}) sent no pidfd`);
  // The pidfd names the process; /proc/PID is believed only while it is that process, the server's child.
  if (pidfdPid(answer.fd) === -1) {
    closeFd(answer.fd);
    return undefined; // it has ended; its nsbox is about to let go of the name
  }
  if (pidfdPid(answer.fd) !== s.pid || parentOf(s.pid) !== c.peer.pid) throw fail(`pid ${s.pid} is not the unreaped child of its nsbox (pid ${c.peer.pid})`);
  return { ...s, pidfd: answer.fd };
}

/** Remove what a sandbox that is gone left behind (only what is still the same file). */
function removeStale(dir: string, name: string): void {
  for (const file of [join(dir, `${name}.json`), socketPath(dir, name)]) {
    try {
      const before = lstatSync(file);
      if (querySandbox(name, dir) === undefined) {
        const now = lstatSync(file);
        if (now.ino === before.ino && now.dev === before.dev) unlinkSync(file);
      }
    } catch {}
  }
}

/** The user's running sandboxes, oldest first, each proven by its nsbox. Entries that no nsbox serves are removed. */
export function listSandboxes(dir = runtimeDir(), stopped: string[] = []): SandboxState[] {
  const found: SandboxState[] = [];
  const names = new Set<string>();
  for (const entry of readdirSync(dir)) {
    if (entry.includes(".tmp.")) {
      // A temporary file left by an nsbox killed while it wrote: a minute is more than enough.
      try {
        if (Date.now() - lstatSync(join(dir, entry)).mtimeMs > 60_000) unlinkSync(join(dir, entry));
      } catch {}
      continue;
    }
    const m = /^(.*)\.(json|sock)$/.exec(entry);
    if (m && NAME.test(m[1]!)) names.add(m[1]!);
  }
  for (const name of names) {
    let s: ProvenSandbox | undefined;
    try {
      s = querySandbox(name, dir);
    } catch (e) {
      // A sandbox whose nsbox is stopped (Ctrl-Z) is the user's own: said, not silently left out.
      if (e instanceof NsboxError && e.code === "NOT_RUNNING" && e.message.includes(") is stopped, ")) stopped.push(`${e.message}; ${e.hint}`);
      else void log.debug(e instanceof Error ? e.message : String(e));
      continue;
    }
    if (!s) {
      removeStale(dir, name);
      continue;
    }
    if (s.pidfd >= 0) closeFd(s.pidfd);
    const { pidfd: _, ...state } = s;
    found.push(state);
  }
  return found.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name));
}

/** The running sandbox called `name`, proven by its nsbox, or a 125 error that says there is none or that it is not proven. */
export function findSandbox(name: string, dir = runtimeDir()): ProvenSandbox {
  const s = NAME.test(name) ? querySandbox(name, dir) : undefined;
  if (!s || s.pid === null) {
    if (s && s.pidfd >= 0) closeFd(s.pidfd);
    if (!s && NAME.test(name)) removeStale(dir, name);
    throw new NsboxError("NOT_RUNNING", `no sandbox named ${name} is running`, {
      hint: "nsbox ps lists your running sandboxes",
    });
  }
  return s;
}

/**
 * Check /proc/PID still names the proven PID 1 (its pidfd) right before /proc is read or joined,
 * and find its command (its child, which shares its namespaces and, unlike PID 1, is dumpable).
 */
export function provenPayload(s: ProvenSandbox): number | undefined {
  if (pidfdPid(s.pidfd) !== s.pid || parentOf(s.pid!) !== s.supervisor.pid) {
    throw new NsboxError("NOT_RUNNING", `sandbox ${s.name} is no longer running`);
  }
  const payload = payloadOf(s.pid!);
  return payload !== undefined && parentOf(payload) === s.pid ? payload : undefined;
}

/** A proven sandbox's command must run as the caller: the kernel would refuse the rest anyway, less clearly. */
export function checkOwner(s: SandboxState): void {
  const uid = process.getuid!();
  const p = s.pid === null ? undefined : processInfo(payloadOf(s.pid) ?? s.pid);
  if (!p) throw new NsboxError("NOT_RUNNING", `sandbox ${s.name} is no longer running`);
  if (p.uid !== uid) {
    throw new NsboxError("NOT_OWNER", `sandbox ${s.name} (pid ${s.pid}) belongs to uid ${p.uid}: only its owner can join or stop it`, {
      hint: `run nsbox as uid ${p.uid}`,
    });
  }
}

let tmpCount = 0;
/**
 * Write `file` whole (a temporary file, then link or rename): readers never see half a record.
 * Returns the file's identity (device and inode), by which release knows it is still ours.
 */
function writeWhole(file: string, s: SandboxState, create: boolean): { dev: number; ino: number } {
  const tmp = `${file}.tmp.${process.pid}.${tmpCount++}`;
  // "wx": O_CREAT|O_EXCL, which never follows a symlink planted at the temporary name.
  const fd = openSync(tmp, "wx", 0o600);
  let id;
  try {
    writeFileSync(fd, JSON.stringify(s) + "\n");
    const st = fstatSync(fd);
    id = { dev: st.dev, ino: st.ino };
  } finally {
    closeSync(fd);
  }
  try {
    if (create) linkSync(tmp, file); // fails with EEXIST: the name is taken
    else renameSync(tmp, file);
  } finally {
    if (create) {
      try {
        unlinkSync(tmp);
      } catch {}
    }
  }
  return id;
}

/** What a run records: everything but the pid, known only once PID 1 runs. */
export type StateFacts = Omit<SandboxState, "version" | "name" | "pid" | "pidStart" | "supervisor" | "uid" | "startedAt" | "summary">;

/** A name held by this nsbox process for its sandbox; released when the process exits. */
export interface Registration {
  name: string;
  /** Record PID 1's host pid (supervise's onStart). */
  started(pid: number): void;
  /** Forget the sandbox (also done at process exit). */
  release(): void;
}

/** The sockets this process serves, by path: what each would answer. */
const servedHere = new Map<string, () => SandboxState>();

/** Answer each waiting client of this user in these namespaces with `answer()`; others get nothing. Polled: a listener in Bun's own loop could not pass descriptors. */
function serve(listener: number, answer: () => { data: Uint8Array; fd: number }): () => void {
  const uid = process.getuid!();
  const tick = () => {
    for (;;) {
      const c = unixAccept(listener);
      if (typeof c === "number") return;
      try {
        // A payload that reaches the socket (the runtime directory shared with --rw) is in
        // another PID and user namespace: it gets neither the state nor a pidfd.
        if (c.peer.uid === uid && besideUs(c.peer.pid)) {
          const a = answer();
          sendDataFd(c.fd, a.data, a.fd);
        }
      } finally {
        closeFd(c.fd);
      }
    }
  };
  const timer = setInterval(tick, 50);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Take `name` (or a generated one) for a sandbox about to start: a 125 error when a sandbox of
 * that name is running. The claim is the socket itself: it listens before it takes the name
 * (link(2), which fails when the name is taken), so a name is never without its server. A
 * stale socket (nobody listens) is replaced. `pid`: PID 1 runs already (a generated name,
 * claimed after the clone): recorded at once, so the state file is written once, not twice.
 */
export function claimName(name: string | undefined, facts: StateFacts, dir = runtimeDir(), pid1?: number): Registration {
  const supervisor = { pid: process.pid, start: processInfo(process.pid)?.start ?? 0 };
  const tmp = join(dir, `.sock.tmp.${process.pid}.${tmpCount++}`);
  try {
    unlinkSync(tmp);
  } catch {}
  const listener = unixListen(tmp);
  if (listener < 0) throw stateDirError(dir, `can't hold a socket: ${fileError({ errno: listener, code: errnoName(listener) })}`);
  let state: SandboxState | undefined;
  let sock = "";
  try {
    for (let attempt = 0; attempt < 8 && !state; attempt++) {
      const candidate = name ?? generateName();
      sock = socketPath(dir, candidate);
      try {
        linkSync(tmp, sock);
        state = {
          version: STATE_VERSION, name: candidate, pid: null, pidStart: null, supervisor, uid: process.getuid!(),
          startedAt: new Date().toISOString(), summary: summarize(facts.options), ...facts,
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw stateDirError(dir, `can't be written: ${fileError(e)}`);
        let other: ProvenSandbox | undefined;
        try {
          other = querySandbox(candidate, dir);
        } catch (e) {
          if (name !== undefined) throw e;
          continue;
        }
        if (other) {
          if (other.pidfd >= 0) closeFd(other.pidfd);
          if (name !== undefined) {
            throw new NsboxError("NAME_IN_USE", `--name ${name}: a sandbox of that name is already running (pid ${other.pid ?? other.supervisor.pid})`, {
              option: "--name",
              hint: `choose another name, or end it first: nsbox stop ${name}`,
            });
          }
        } else removeStale(dir, candidate);
        // Stale and now removed, or a generated name that happened to be taken: try again.
      }
    }
  } catch (e) {
    closeFd(listener);
    throw e;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {}
  }
  if (!state) {
    closeFd(listener);
    throw stateDirError(dir, "has no free name (too many stale entries?)");
  }
  const held = state;
  const file = join(dir, `${held.name}.json`);
  const ours = lstatSync(sock);
  let pidfd = -1;
  const stop = serve(listener, () => ({ data: new TextEncoder().encode(JSON.stringify(state)), fd: pidfd }));
  servedHere.set(sock, () => state!);
  /** The state file as this process last wrote it: what release may remove. */
  let written: { dev: number; ino: number } | undefined;
  const started = (pid: number) => {
    // Opened while PID 1 is this process's unreaped child: the pidfd can only ever name it.
    const fd = pidfdOpen(pid);
    if (fd >= 0) pidfd = fd;
    state = { ...held, pid, pidStart: processInfo(pid)?.start ?? null };
    try {
      written = writeWhole(file, state, false);
    } catch {}
  };
  if (pid1 !== undefined) started(pid1);
  else {
    try {
      written = writeWhole(file, held, false);
    } catch {}
  }
  const release = () => {
    process.off("exit", release);
    stop();
    servedHere.delete(sock);
    closeFd(listener);
    if (pidfd >= 0) closeFd(pidfd);
    pidfd = -1;
    for (const [f, id] of [[sock, ours], [file, written]] as const) {
      try {
        // Only what is still ours (the same inode; lstat opens nothing, so a FIFO left in its
        // place cannot hold nsbox): the name may already belong to the next sandbox.
        const now = lstatSync(f);
        if (id && now.ino === id.ino && now.dev === id.dev) unlinkSync(f);
      } catch {}
    }
  };
  process.on("exit", release);
  return { name: held.name, started, release };
}
/**
 * Register a sandbox about to run `plan` (the CLI's run path; the name from --name, else
 * generated). Without --name, an unusable runtime directory only costs the listing (said with -v):
 * a host where /tmp/nsbox-UID is someone else's, or a user namespace that shows it so, still runs.
 * `pid`: PID 1 is running already (a run without --name registers after the clone).
 */
export function registerRun(options: SandboxOptions, plan: import("./plan/index.ts").Plan, dir?: string, pid?: number): Registration {
  const landlock = findOp(plan.ops, "LANDLOCK");
  // Checked as --name (options/defs.ts); checked again here, as it becomes a file name in the runtime directory.
  const name = options.name;
  if (name !== undefined && !NAME.test(name)) throw new NsboxError("BAD_OPTION", `--name ${JSON.stringify(name)}: not a sandbox name`, { option: "--name" });
  try {
    return claimName(name, {
      command: plan.command,
      cwd: currentDir(),
      home: plan.env.HOME ?? "/",
      startDir: plan.startDir,
      hostname: findOp(plan.ops, "SETHOSTNAME")?.name ?? "nsbox",
      options,
      writable: landlock?.write ?? [],
      ...(options.seccomp !== undefined && options.seccomp !== "default" && options.seccomp !== "none" ? { seccompFilter: Buffer.from(findOp(plan.ops, "SECCOMP")?.program ?? []).toString("base64") } : {}),
    }, dir, pid);
  } catch (e) {
    if (name !== undefined || !(e instanceof NsboxError) || e.code !== "STATE_DIR") throw e;
    void log.debug(`${e.message}: this sandbox will not be listed by nsbox ps`);
    return { name: "", started() {}, release() {} };
  }
}
