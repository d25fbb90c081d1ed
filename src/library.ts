// nsbox as a library: spawn() and run() start sandboxes from a Bun program, shaped like Bun.spawn.
import { walkError, walkHostPath } from "./plan/host-path.ts";
import { constants } from "node:os";
import { resolve } from "node:path";
import { NsboxError } from "./errors.ts";
import { Descriptors, feed, inheritedTerminal, openStdio, type OutputOption, type Stdio, type StdinOption, type StdinSink } from "./library-stdio.ts";
import { currentDir, readHost } from "./host.ts";
import type { SandboxOptions } from "./options.ts";
import { attribute, expected } from "./options/problem.ts";
import { normalizeLibrary } from "./options/sources.ts";
import { buildPlan, FORWARDED_SIGNALS, type Plan } from "./plan/index.ts";
import { launch, type Launched, type SandboxResult } from "./sandbox.ts";

export type { OutputOption, StdinOption, StdinSink } from "./library-stdio.ts";

/** Options of spawn(): every SandboxOptions field (`timeout` included), plus where stdio goes. */
export interface SpawnOptions extends SandboxOptions {
  /** Start from a profile (built-in, or from the project's nsbox.json / package.json#nsbox); the other options apply on top. */
  profile?: string;
  /** Default "ignore" (/dev/null). "pipe" gives `proc.stdin`; a string, bytes, Blob or stream is written and then closed. */
  stdin?: StdinOption;
  /** Default "pipe" (`proc.stdout` is a ReadableStream); "inherit" is this process's own. */
  stdout?: OutputOption;
  /** Default "inherit" for spawn(), "pipe" for run(). */
  stderr?: OutputOption;
  /** Aborting it kills the sandbox (SIGKILL to its PID 1). */
  signal?: AbortSignal;
}

/** Options of run(): those of spawn(), and how the output is returned. */
export interface RunOptions extends SpawnOptions {
  /** "utf8" (default): stdout and stderr as strings; "buffer": as Uint8Array. */
  encoding?: "utf8" | "buffer";
}

/** What run() returns, for success and failure alike. */
export interface RunResult<Output extends string | Uint8Array = string> {
  /** The payload's status; 128+N when it died of signal N; 124 when `timeout` killed it. */
  exitCode: number;
  /** The signal that ended it, if one did ("SIGKILL" after a timeout or an abort). */
  signal: NodeJS.Signals | null;
  /** What it wrote, when stdout was piped (the default); empty otherwise. */
  stdout: Output;
  stderr: Output;
  /** The sandbox was killed because `timeout` ran out. */
  timedOut: boolean;
  /** The sandbox was killed because `signal` was aborted. */
  aborted: boolean;
}

type Given<O, K extends keyof SpawnOptions> = K extends keyof O ? O[K] : undefined;
type Piped<T, IfPipe, Default extends boolean> = [T] extends ["pipe"]
  ? IfPipe
  : [T] extends [undefined]
    ? Default extends true ? IfPipe : undefined
    : "pipe" extends T ? IfPipe | undefined : undefined;

/** spawn()'s handle for these options: `stdout` is a stream when piped (the default), and so on. */
export type SandboxProcessFor<O extends SpawnOptions> = SandboxProcess<
  Piped<Given<O, "stdin">, StdinSink, false>,
  Piped<Given<O, "stdout">, ReadableStream<Uint8Array>, true>,
  Piped<Given<O, "stderr">, ReadableStream<Uint8Array>, false>
>;

/** The handle spawn() returns: Bun's Subprocess shape, for a whole sandbox. */
export interface SandboxProcess<
  In extends StdinSink | undefined = StdinSink | undefined,
  Out extends ReadableStream<Uint8Array> | undefined = ReadableStream<Uint8Array> | undefined,
  Err extends ReadableStream<Uint8Array> | undefined = ReadableStream<Uint8Array> | undefined,
> extends AsyncDisposable {
  /** The host pid of the sandbox's PID 1 (its init; the payload is its child). */
  readonly pid: number;
  /** With stdin "pipe": write, then end(). */
  readonly stdin: In;
  /** With stdout "pipe" (the default): the payload's output as it comes. */
  readonly stdout: Out;
  /** With stderr "pipe". */
  readonly stderr: Err;
  /**
   * The exit code once the sandbox has ended (see exitCode). Rejects with NsboxError when
   * nsbox itself failed inside the sandbox: a setup step refused (KERNEL_REFUSED), the command
   * not found (NOT_FOUND) or not executable (NOT_EXECUTABLE).
   */
  readonly exited: Promise<number>;
  /** null while running; then the payload's status, 128+N for signal N, 124 after a timeout (never null after exit, unlike Bun's). */
  readonly exitCode: number | null;
  /** The signal that ended the payload (or PID 1, for SIGKILL), if one did. */
  readonly signalCode: NodeJS.Signals | null;
  /** Whether kill() has delivered a signal. */
  readonly killed: boolean;
  /** Whether `timeout` ran out and killed the sandbox. */
  readonly timedOut: boolean;
  /** Whether `signal` was aborted and killed the sandbox. */
  readonly aborted: boolean;
  /**
   * Signal the sandbox (default SIGTERM). PID 1 passes SIGHUP, SIGINT, SIGQUIT, SIGUSR1,
   * SIGUSR2, SIGTERM, SIGCONT and SIGWINCH on to the payload; SIGKILL kills PID 1 and with it
   * every process in the sandbox. Other signals would be dropped by PID 1 and are refused
   * (NsboxError BAD_OPTION). Nothing is sent once the sandbox has ended.
   */
  kill(signal?: NodeJS.Signals | number): void;
}

/** Signals kill() accepts: those PID 1 forwards, SIGKILL, and 0 (is it still there?). */
const KILLABLE = new Set<number>([0, constants.signals.SIGKILL, ...FORWARDED_SIGNALS.map((s) => constants.signals[s])]);
const NAMES = Object.fromEntries(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** The sandbox options, normalised (src/options/sources.ts): the profile's, then the caller's on top (lists appended, env merged, the rest replaced). */
function sandboxOptions(options: RunOptions, cwd: string): SandboxOptions {
  return normalizeLibrary(options, cwd, (m) => void process.stderr.write(`nsbox: ${m}\n`));
}

/** The host directory shared as the payload's current directory: `cwd`, resolved, or this process's. */
function hostDir(cwd: string | undefined): string {
  if (cwd === undefined) return currentDir();
  if (typeof cwd !== "string" || cwd === "" || cwd.includes("\0")) throw attribute({ from: "library", key: "cwd", value: cwd }, expected("a directory (a non-empty string)"));
  // Shared read-write: resolved without following a symlink a sandbox could have placed (host-path.ts).
  const abs = resolve(cwd.startsWith("/") ? "/" : currentDir(), cwd); // a removed current directory: said by currentDir
  let walk: ReturnType<typeof walkHostPath>;
  try {
    walk = walkHostPath(abs);
  } catch (e) {
    throw new NsboxError("PATH_NOT_FOUND", `cwd ${cwd}: ${walkError(e)}`, { option: "cwd", path: cwd, cause: e });
  }
  if (!walk.ok && "link" in walk) {
    throw new NsboxError("BAD_OPTION", `cwd ${cwd}: ${walk.link} is a symlink to ${walk.leadsTo}; nsbox shares no directory through a symlink a sandbox could have placed: name the real path`, { option: "cwd", path: cwd });
  }
  if (!walk.ok) throw new NsboxError("PATH_NOT_FOUND", `cwd ${cwd}: no such directory`, { option: "cwd", path: cwd });
  if (!walk.st.isDirectory()) throw new NsboxError("BAD_OPTION", `cwd ${cwd}: not a directory`, { option: "cwd", path: cwd });
  return walk.path;
}

/** Plan a sandbox for the library: the host as this process sees it; a pty only in place of an inherited terminal (library-stdio.ts). */
/** An aborted signal throws its reason: nothing starts. Anything but an AbortSignal is a BAD_OPTION, not a TypeError. */
function throwIfAborted(signal: unknown): void {
  if (signal === undefined) return;
  if (!(signal instanceof AbortSignal)) {
    const got = signal === null ? "null" : typeof signal === "object" ? "an object" : `${JSON.stringify(signal) ?? typeof signal} (${typeof signal})`;
    throw new NsboxError("BAD_OPTION", `The \`signal\` option must be an AbortSignal (new AbortController().signal), got ${got}`, { option: "signal" });
  }
  signal.throwIfAborted();
}

function planFor(command: string[], options: RunOptions, defaults: { stderr: OutputOption }): { plan: Plan; sandbox: SandboxOptions } {
  if (!Array.isArray(command) || command.some((a) => typeof a !== "string")) {
    throw new NsboxError("BAD_OPTION", 'command: expected an array of strings, e.g. ["ls", "-l"]', { option: "command" });
  }
  const cwd = hostDir(options.cwd);
  const sandbox = sandboxOptions(options, cwd);
  return { plan: buildPlan(command, sandbox, readHost(cwd), { terminal: inheritedTerminal(options, defaults), library: true }), sandbox };
}

/** `signal` is an AbortSignal or absent: anything else failed as a TypeError, or never aborted. */
class Sandbox implements SandboxProcess {
  readonly pid: number;
  readonly stdin: StdinSink | undefined;
  readonly stdout: ReadableStream<Uint8Array> | undefined;
  readonly stderr: ReadableStream<Uint8Array> | undefined;
  readonly exited: Promise<number>;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  killed = false;
  timedOut = false;
  aborted = false;
  private readonly running: Launched;

  constructor(plan: Plan, sandbox: SandboxOptions, options: SpawnOptions, defaults: { stderr: OutputOption }) {
    const fds = new Descriptors();
    const verbose = sandbox.verbose === true;
    let io: Stdio | undefined;
    try {
      io = openStdio(options, defaults, fds);
      // The launch the CLI and nsbox exec share (src/sandbox.ts). Only a named sandbox is listed
      // for nsbox ps, inspect, exec and stop: the others belong to this program alone.
      this.running = launch(plan, {
        options: sandbox,
        register: sandbox.name !== undefined,
        signal: options.signal,
        stdio: io.child,
        forwardSignals: false,
        // Warnings (files moved aside, cleanups that failed) always: a security event the caller's user must see.
        report: (level, line) => void ((level === "warn" || verbose) && say(line)),
      });
    } catch (e) {
      fds.closeAll();
      throw e;
    }
    // The sandbox has its own copies now.
    for (const fd of io.childOnly) fds.close(fd);
    const stdin = io.stdin;
    this.pid = this.running.pid;
    this.stdin = io.feed === undefined ? stdin : undefined;
    this.stdout = io.stdout?.stream;
    this.stderr = io.stderr?.stream;
    const { stdout, stderr } = io;
    if (io.feed !== undefined) void feed(io.feed, stdin!);

    this.exited = this.running.result
      .finally(() => {
        // Every process that could read stdin or write stdout and stderr is gone.
        if (stdin && !stdin.ended) void stdin.end();
        stdout?.settle();
        stderr?.settle();
      })
      .then((result) => this.ended(result));
    // A caller who never awaits `exited` (only reading stdout, say) must not get an unhandled rejection.
    this.exited.catch(() => {});
  }

  private ended(result: SandboxResult): number {
    this.timedOut = result.timedOut;
    this.aborted = result.aborted;
    this.signalCode = result.signal;
    this.exitCode = result.exitCode;
    if (result.error) throw result.error;
    return this.exitCode;
  }

  kill(signal: NodeJS.Signals | number = "SIGTERM"): void {
    const n = typeof signal === "number" ? signal : constants.signals[signal as keyof typeof constants.signals];
    if (n === undefined || !KILLABLE.has(n)) {
      const name = typeof signal === "number" ? (NAMES[signal] ?? String(signal)) : signal;
      throw new NsboxError(
        "BAD_OPTION",
        `kill(${name}): the sandbox's PID 1 passes on only ${FORWARDED_SIGNALS.join(", ")}; SIGKILL ends the whole sandbox`,
        { option: "signal" },
      );
    }
    if (this.running.kill(n) && n !== 0) this.killed = true;
  }

  /** `await using proc = spawn(…)`: the sandbox is killed (if still running) and reaped at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.exitCode === null) this.running.kill(constants.signals.SIGKILL);
    await this.exited.catch(() => {});
  }
}

/**
 * The options only run() and spawn() take (the sandbox options are normalize.ts's): each of its
 * type, or a BAD_OPTION naming the key, before any of them is used.
 */
function checkRunOptions(options: RunOptions): void {
  const bad = (key: string, what: string, value: unknown) =>
    attribute({ from: "library", key, value }, expected(what));
  if (typeof options !== "object" || Array.isArray(options)) return; // normalize.ts words it
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw bad("signal", "an AbortSignal (new AbortController().signal)", options.signal);
  if (options.encoding !== undefined && options.encoding !== "utf8" && options.encoding !== "buffer") throw bad("encoding", '"utf8" or "buffer"', options.encoding);
  const stdin: unknown = options.stdin;
  const stdinOk = stdin === undefined || stdin === null || stdin === "inherit" || stdin === "pipe" || stdin === "ignore" || typeof stdin === "string" ||
    typeof stdin === "number" || stdin instanceof Blob || stdin instanceof ReadableStream || stdin instanceof ArrayBuffer || ArrayBuffer.isView(stdin);
  if (!stdinOk) throw bad("stdin", '"pipe", "inherit", "ignore", a file descriptor, Bun.file(path), or the input (a string, bytes, a Blob or a ReadableStream)', stdin);
}

/** "nsbox: …" on this process's stderr, as the CLI words it (verbose only). */
function say(line: string): void {
  process.stderr.write(`nsbox: ${line}\n`);
}

/**
 * Start `command` in a new sandbox and return at once, with a handle shaped like Bun.spawn's.
 * Throws NsboxError for what is known before the sandbox runs (BAD_OPTION, PATH_NOT_FOUND,
 * USERNS_DISABLED, KERNEL_REFUSED when the namespaces can't be made); what the sandbox itself
 * reports (a refused setup step, NOT_FOUND, NOT_EXECUTABLE) rejects `exited`. The payload's own
 * failure is only ever an exit code.
 *
 * The sandbox lives as long as the JavaScript thread that started it: one spawned in a Bun
 * Worker is killed and reaped when the Worker ends (the parent-death signal is per thread).
 *
 * @example
 *   const proc = spawn(["sh", "-c", "cat; echo done >&2"], { stdin: "pipe", stderr: "pipe" });
 *   proc.stdin.write("hello\n");
 *   await proc.stdin.end();
 *   console.log(await new Response(proc.stdout).text()); // "hello\n"
 *   console.log(await proc.exited); // 0
 */
export function spawn<const O extends SpawnOptions = {}>(command: string[], options?: O): SandboxProcessFor<O> {
  const o: SpawnOptions = options ?? {};
  checkRunOptions(o);
  o.signal?.throwIfAborted();
  const { plan, sandbox } = planFor(command, o, { stderr: "inherit" });
  return new Sandbox(plan, sandbox, o, { stderr: "inherit" }) as unknown as SandboxProcessFor<O>;
}

/**
 * Run `command` in a new sandbox and wait for it: its exit code, signal and output, the same
 * shape whether it succeeded or failed. Throws NsboxError only when nsbox itself failed (a bad
 * option, the kernel refused, the command not found or not executable).
 *
 * @example
 *   const r = await run(["sh", "-c", "echo hi; exit 3"], { timeout: 10_000 });
 *   // { exitCode: 3, signal: null, stdout: "hi\n", stderr: "", timedOut: false, aborted: false }
 */
export async function run(command: string[], options: RunOptions & { encoding: "buffer" }): Promise<RunResult<Uint8Array>>;
export async function run(command: string[], options?: RunOptions): Promise<RunResult<string>>;
export async function run(command: string[], options: RunOptions = {}): Promise<RunResult<string | Uint8Array>> {
  checkRunOptions(options ?? {});
  options ??= {};
  options.signal?.throwIfAborted();
  const { plan, sandbox } = planFor(command, options, { stderr: "pipe" });
  const proc = new Sandbox(plan, sandbox, options, { stderr: "pipe" });
  const bytes = (s: ReadableStream<Uint8Array> | undefined) => (s ? Bun.readableStreamToBytes(s) : new Uint8Array(0));
  // Wait for all three, so that every descriptor is closed when run() returns or throws.
  const [stdout, stderr, exited] = await Promise.allSettled([bytes(proc.stdout), bytes(proc.stderr), proc.exited]);
  if (exited.status === "rejected") throw exited.reason;
  if (stdout.status === "rejected") throw stdout.reason;
  if (stderr.status === "rejected") throw stderr.reason;
  const text = (b: Uint8Array) => (options.encoding === "buffer" ? b : new TextDecoder().decode(b));
  return {
    exitCode: exited.value,
    signal: proc.signalCode,
    stdout: text(stdout.value),
    stderr: text(stderr.value),
    timedOut: proc.timedOut,
    aborted: proc.aborted,
  };
}
