// Running sandboxes by name: one JSON file each in the user's private runtime directory, gone when the sandbox ends (or, after a crash, at the next listing).
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NsboxError } from "./errors.ts";
import { log } from "./log.ts";
import type { SandboxOptions } from "./options.ts";

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
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const STATE_VERSION = 1;

/** Check a sandbox name (it is a file name in the runtime directory). */
export function checkName(name: string, origin = "--name"): string {
  if (!NAME.test(name)) {
    throw new NsboxError("BAD_OPTION", `${origin} ${name}: a sandbox name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit`, { option: origin });
  }
  return name;
}

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
    if (code !== "EEXIST") throw stateDirError(dir, `can't be created (${code})`);
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

/** Whether this very process (not a zombie, not a reused pid) is still running. */
function running(pid: number, start: number): boolean {
  const p = processInfo(pid);
  return p !== undefined && p.start === start && p.state !== "Z" && p.state !== "X";
}

/** Whether the sandbox the state describes still runs: its PID 1, or while it starts, its nsbox. */
export function isRunning(s: SandboxState): boolean {
  if (s.pid !== null && s.pidStart !== null) return running(s.pid, s.pidStart);
  return running(s.supervisor.pid, s.supervisor.start);
}

function readState(file: string): SandboxState | undefined {
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as SandboxState;
    return s.version === STATE_VERSION && typeof s.name === "string" ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Remove `file` if it still holds what was read from it (another nsbox may have just claimed the name). */
function removeIfUnchanged(file: string, seen: string): void {
  try {
    if (readFileSync(file, "utf8") === seen) unlinkSync(file);
  } catch {}
}

/** The state file of `name` if that sandbox is running; a stale one is removed. */
function liveState(dir: string, name: string): SandboxState | undefined {
  const file = join(dir, `${name}.json`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  let s: SandboxState | undefined;
  try {
    s = JSON.parse(text) as SandboxState;
  } catch {}
  if (s?.version === STATE_VERSION && isRunning(s)) return s;
  removeIfUnchanged(file, text);
  return undefined;
}

/** The user's running sandboxes, oldest first. Entries whose process is gone or reused are removed. */
export function listSandboxes(dir = runtimeDir()): SandboxState[] {
  const found: SandboxState[] = [];
  for (const entry of readdirSync(dir)) {
    if (!entry.endsWith(".json")) {
      // A temporary file left by an nsbox killed while it wrote: a minute is more than enough.
      if (entry.includes(".tmp.")) {
        try {
          if (Date.now() - lstatSync(join(dir, entry)).mtimeMs > 60_000) unlinkSync(join(dir, entry));
        } catch {}
      }
      continue;
    }
    const s = liveState(dir, entry.slice(0, -5));
    if (s) found.push(s);
  }
  return found.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name));
}

/** The running sandbox called `name`, or a 125 error that says there is none. */
export function findSandbox(name: string, dir = runtimeDir()): SandboxState {
  const s = NAME.test(name) ? liveState(dir, name) : undefined;
  if (!s || s.pid === null) {
    throw new NsboxError("NOT_RUNNING", `no sandbox named ${name} is running`, {
      hint: "nsbox ps lists your running sandboxes",
    });
  }
  return s;
}

/** A running sandbox's PID 1 must be the caller's: the kernel would refuse the rest anyway, less clearly. */
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
/** Write `file` whole (a temporary file, then link or rename): readers never see half a record. */
function writeWhole(file: string, s: SandboxState, create: boolean): void {
  const tmp = `${file}.tmp.${process.pid}.${tmpCount++}`;
  writeFileSync(tmp, JSON.stringify(s) + "\n", { mode: 0o600 });
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

/**
 * Take `name` (or a generated one) for a sandbox about to start: a 125 error when a sandbox of
 * that name is running. A stale record of a sandbox that died without cleaning up is replaced.
 */
export function claimName(name: string | undefined, facts: StateFacts, dir = runtimeDir()): Registration {
  const supervisor = { pid: process.pid, start: processInfo(process.pid)?.start ?? 0 };
  let state: SandboxState | undefined;
  let file = "";
  for (let attempt = 0; attempt < 8 && !state; attempt++) {
    const candidate = name ?? generateName();
    file = join(dir, `${candidate}.json`);
    const s: SandboxState = {
      version: STATE_VERSION, name: candidate, pid: null, pidStart: null, supervisor, uid: process.getuid!(),
      startedAt: new Date().toISOString(), summary: summarize(facts.options), ...facts,
    };
    try {
      writeWhole(file, s, true);
      state = s;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw stateDirError(dir, `can't be written (${(e as NodeJS.ErrnoException).code})`);
      const other = liveState(dir, candidate);
      if (other && name !== undefined) {
        throw new NsboxError("NAME_IN_USE", `--name ${name}: a sandbox of that name is already running (pid ${other.pid ?? other.supervisor.pid})`, {
          option: "--name",
          hint: `choose another name, or end it first: nsbox stop ${name}`,
        });
      }
      // Stale and now removed, or a generated name that happened to be taken: try again.
    }
  }
  if (!state) throw stateDirError(dir, "has no free name (too many stale entries?)");
  const held = state;
  const release = () => {
    process.off("exit", release);
    try {
      const now = readState(file);
      if (now && now.supervisor.pid === process.pid && now.supervisor.start === supervisor.start) unlinkSync(file);
    } catch {}
  };
  process.on("exit", release);
  return {
    name: held.name,
    started(pid: number) {
      const start = processInfo(pid)?.start ?? null;
      try {
        writeWhole(file, { ...held, pid, pidStart: start }, false);
      } catch {}
    },
    release,
  };
}

/** The options in command-line words ("--rw ./out --net host --cap-add CAP_NET_RAW"), or "defaults". */
export function summarize(o: SandboxOptions): string {
  const words: string[] = [];
  const add = (flag: string, value?: string | number | boolean) => {
    if (value === undefined || value === false) return;
    words.push(value === true ? flag : `${flag} ${value}`);
  };
  add("--uid", o.uid);
  add("--gid", o.gid);
  add("--hostname", o.hostname);
  add("--propagation", o.propagation);
  add("--no-cwd", o.noCwd);
  add("--chdir", o.chdir);
  for (const m of o.mounts ?? []) {
    words.push(m.origin.startsWith("--") ? m.origin : `--${m.kind}${m.optional ? "-try" : ""} ${m.source ? `${m.source}:` : ""}${m.target}`);
  }
  for (const n of o.net ?? []) add("--net", n);
  for (const c of o.capAdd ?? []) add("--cap-add", c);
  for (const c of o.capDrop ?? []) add("--cap-drop", c);
  add("--seccomp", o.seccomp);
  add("--allow-nested", o.allowNested);
  add("--landlock", o.landlock);
  for (const r of o.rlimits ?? []) add("--rlimit", r);
  if (o.timeout !== undefined) add("--timeout", o.timeout >= 1000 ? `${o.timeout / 1000}s` : `${o.timeout}ms`);
  add("--clear-env", o.clearEnv);
  for (const k of Object.keys(o.env ?? {})) add("--env", `${k}=…`);
  for (const k of o.keepEnv ?? []) add("--keep-env", k);
  return words.length ? words.join(" ") : "defaults";
}

/**
 * Register a sandbox about to run `plan` (the CLI's run path; the name from --name, else
 * generated). Without --name, an unusable runtime directory only costs the listing (said with -v):
 * a host where /tmp/nsbox-UID is someone else's, or a user namespace that shows it so, still runs.
 */
export function registerRun(options: SandboxOptions, plan: import("./plan/index.ts").Plan, dir?: string): Registration {
  const landlock = plan.ops.find((op) => op.op === "LANDLOCK");
  const name = options.name === undefined ? undefined : checkName(options.name);
  try {
    return claimName(name, {
      command: plan.command,
      cwd: process.cwd(),
      home: plan.env.HOME ?? "/",
      startDir: plan.startDir,
      hostname: plan.ops.find((op) => op.op === "SETHOSTNAME")?.s1 ?? "nsbox",
      options,
      writable: landlock?.lists?.s2 ?? [],
    }, dir);
  } catch (e) {
    if (name !== undefined || !(e instanceof NsboxError) || e.code !== "STATE_DIR") throw e;
    void log.debug(`${e.message}: this sandbox will not be listed by nsbox ps`);
    return { name: "", started() {}, release() {} };
  }
}
