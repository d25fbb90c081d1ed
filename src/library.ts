// nsbox as a library: spawn() and run() start sandboxes from a Bun program, shaped like Bun.spawn.
import type { BunFile } from "bun";
import { openSync, readSync, realpathSync, statSync } from "node:fs";
import { constants } from "node:os";
import { resolve } from "node:path";
import { loadProjectConfig } from "./config.ts";
import { NsboxError } from "./errors.ts";
import { closeFd, pipe, readableBytes } from "./executor.ts";
import { readHost } from "./host.ts";
import type { SandboxOptions } from "./options.ts";
import { buildPlan, FORWARDED_SIGNALS, type Plan } from "./plan/index.ts";
import { resolveProfile } from "./profiles.ts";
import { start, type Outcome, type Running } from "./supervise.ts";

/** Where the payload's standard input comes from (as Bun.spawn's `stdin`). */
export type StdinOption =
  | "inherit" | "pipe" | "ignore" | null
  | number | BunFile | Blob | ReadableStream<Uint8Array> | string | ArrayBufferView | ArrayBuffer;

/** Where the payload's standard output or error goes (as Bun.spawn's `stdout`, `stderr`). */
export type OutputOption = "inherit" | "pipe" | "ignore" | null | number | BunFile;

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

/** `proc.stdin` when stdin is "pipe": write to it, then end() it so that the payload reads end-of-file. */
export interface StdinSink {
  /** Queue bytes or text; a promise when they could not all be written yet (backpressure). */
  write(chunk: string | ArrayBufferView | ArrayBuffer): number | Promise<number>;
  /** Wait until what was written has reached the pipe. */
  flush(): number | Promise<number>;
  /** Flush and close: the payload's next read returns end-of-file. */
  end(): Promise<void>;
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

/** Descriptors this process opened for one sandbox: each closed exactly once. */
class Descriptors {
  private readonly open = new Set<number>();

  add(fd: number): number {
    this.open.add(fd);
    return fd;
  }

  close(fd: number): void {
    if (this.open.delete(fd)) closeFd(fd);
  }

  closeAll(): void {
    for (const fd of this.open) closeFd(fd);
    this.open.clear();
  }
}

/** The read end of an output pipe, as a stream; `settle` is called once the sandbox has ended. */
interface OutputPipe {
  stream: ReadableStream<Uint8Array>;
  settle(): void;
}

/** After the sandbox has ended, at most this much more is read ahead into memory from a pipe being read. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/**
 * The read end of a pipe as a ReadableStream that closes the descriptor exactly once.
 *
 * While the sandbox runs, each read of the stream is one read of the pipe. Once it has ended
 * nothing more can arrive (every writer was in the sandbox), so whatever is left is read into
 * memory, a pipe's capacity or little more, and the descriptor closed: a caller who never reads
 * stdout, or stops half-way without cancel(), leaks nothing, and one who reads it after
 * `exited` still gets all of it.
 */
function outputPipe(fd: number, fds: Descriptors): OutputPipe {
  const open = () => Bun.file(fd).stream().getReader();
  let inner: ReturnType<typeof open> | undefined;
  /** The pipe's read in progress for the consumer, if any. */
  let reading: Promise<unknown> | undefined;
  /** Once the sandbox has ended: what was read ahead, not yet given to the consumer. */
  let ahead: Uint8Array[] | undefined;
  let closed = false;
  let wake: (() => void) | undefined;
  const close = () => {
    closed = true;
    fds.close(fd);
    wake?.();
  };

  async function drain(): Promise<void> {
    ahead = [];
    if (!inner) {
      // Never read: take exactly what FIONREAD counts, so no read here can block.
      for (let n = readableBytes(fd); n > 0; ) {
        const chunk = new Uint8Array(n);
        const got = readSync(fd, chunk, 0, n, null);
        if (got <= 0) break;
        ahead.push(chunk.subarray(0, got));
        n -= got;
      }
      return close();
    }
    await reading; // that chunk goes to the consumer first
    try {
      for (let total = 0; total < DRAIN_LIMIT && !closed; ) {
        const r = await inner.read();
        if (r.done) break;
        ahead.push(r.value);
        total += r.value.length;
        wake?.();
      }
      if (!closed) await inner.cancel();
    } catch {
      // A read error ends the output like end-of-file.
    }
    close();
  }

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (ahead) {
          while (ahead.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
          const chunk = ahead.shift();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
          return;
        }
        // Bun.file(fd).stream() reads a pipe with read(2) and never closes a descriptor it did not open.
        inner ??= open();
        const read = inner.read();
        reading = read.catch(() => {});
        try {
          const r = await read;
          if (r.done) {
            close();
            controller.close();
          } else controller.enqueue(r.value);
        } catch (e) {
          close();
          controller.error(e);
        } finally {
          reading = undefined;
        }
      },
      async cancel(reason) {
        if (ahead) ahead.length = 0;
        try {
          if (!closed) await inner?.cancel(reason);
        } finally {
          close();
        }
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    settle() {
      if (!ahead && !closed) void drain();
    },
  };
}

/** The write end of the stdin pipe, closed once after end() (or when the sandbox has ended). */
function stdinSink(fd: number, fds: Descriptors): StdinSink & { ended: boolean } {
  const sink = Bun.file(fd).writer();
  let ending: Promise<void> | undefined;
  const closed = () => Object.assign(new Error("write to the sandbox's stdin after end()"), { code: "ERR_STREAM_WRITE_AFTER_END" });
  return {
    get ended() {
      return ending !== undefined;
    },
    write(chunk) {
      if (ending) throw closed();
      return sink.write(chunk as Uint8Array | string | ArrayBuffer);
    },
    flush() {
      if (ending) throw closed();
      return sink.flush();
    },
    end() {
      ending ??= (async () => {
        try {
          await sink.end();
        } catch {
          // EPIPE: the payload stopped reading; there is nothing left to deliver.
        } finally {
          fds.close(fd);
        }
      })();
      return ending;
    },
  };
}

/** Write `data` to the payload's stdin, then close it. */
async function feed(data: Exclude<StdinOption, "inherit" | "pipe" | "ignore" | null | number>, sink: StdinSink): Promise<void> {
  try {
    if (typeof data === "string" || ArrayBuffer.isView(data) || data instanceof ArrayBuffer) await sink.write(data);
    else {
      const stream = data instanceof Blob ? data.stream() : data;
      for await (const chunk of stream as ReadableStream<Uint8Array>) await sink.write(chunk);
    }
  } catch {
    // EPIPE: the payload exited without reading everything, as with any pipe.
  } finally {
    await sink.end();
  }
}

const isBunFile = (v: unknown): v is BunFile => v instanceof Blob && typeof (v as BunFile).name === "string";

function openFile(file: BunFile, flags: "r" | "w", what: string): number {
  try {
    return openSync(file.name!, flags); // Bun opens with O_CLOEXEC
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NsboxError(code === "ENOENT" ? "PATH_NOT_FOUND" : "BAD_OPTION", `${what} ${file.name}: ${(e as Error).message}`, {
      option: what, path: file.name, cause: e,
    });
  }
}

function checkFd(fd: number, what: string): number {
  if (!Number.isInteger(fd) || fd < 0) throw new NsboxError("BAD_OPTION", `${what}: expected a file descriptor (a whole number), got ${fd}`, { option: what });
  return fd;
}

/** The descriptors to give the sandbox, and what this process keeps of them. */
interface Stdio {
  child: { stdin: number; stdout: number; stderr: number };
  /** Opened here only for the child: closed as soon as it has its copies. */
  childOnly: number[];
  stdin?: StdinSink & { ended: boolean };
  feed?: Exclude<StdinOption, "inherit" | "pipe" | "ignore" | null | number>;
  stdout?: OutputPipe;
  stderr?: OutputPipe;
}

function openStdio(options: SpawnOptions, defaults: { stderr: OutputOption }, fds: Descriptors): Stdio {
  const io: Stdio = { child: { stdin: -1, stdout: -1, stderr: -1 }, childOnly: [] };
  let devNull = -1;
  const nullFd = () => (devNull >= 0 ? devNull : (io.childOnly.push((devNull = fds.add(openSync("/dev/null", "r+")))), devNull));
  const forChild = (fd: number) => (io.childOnly.push(fds.add(fd)), fd);

  const stdin = options.stdin === undefined ? "ignore" : options.stdin;
  if (stdin === "ignore" || stdin === null) io.child.stdin = nullFd();
  else if (stdin === "inherit") io.child.stdin = -1;
  else if (typeof stdin === "number") io.child.stdin = checkFd(stdin, "stdin");
  else if (isBunFile(stdin)) io.child.stdin = forChild(openFile(stdin, "r", "stdin"));
  else {
    const [r, w] = pipe();
    io.child.stdin = forChild(r);
    io.stdin = stdinSink(fds.add(w), fds);
    if (stdin !== "pipe") io.feed = stdin;
  }

  for (const name of ["stdout", "stderr"] as const) {
    const given = options[name] === undefined ? (name === "stdout" ? "pipe" : defaults.stderr) : options[name];
    if (given === "ignore" || given === null) io.child[name] = nullFd();
    else if (given === "inherit") io.child[name] = -1;
    else if (typeof given === "number") io.child[name] = checkFd(given, name);
    else if (isBunFile(given)) io.child[name] = forChild(openFile(given, "w", name));
    else if (given === "pipe") {
      const [r, w] = pipe();
      io.child[name] = forChild(w);
      io[name] = outputPipe(fds.add(r), fds);
    } else throw new NsboxError("BAD_OPTION", `${name}: expected "pipe", "inherit", "ignore", a file descriptor or Bun.file(path)`, { option: name });
  }
  return io;
}

const LIBRARY_ONLY = ["profile", "stdin", "stdout", "stderr", "signal", "encoding"] as const;

/** The sandbox options: the profile's, then the caller's on top (lists appended, env merged, the rest replaced). */
function sandboxOptions(options: RunOptions, cwd: string): SandboxOptions {
  const own: Record<string, unknown> = { ...options };
  for (const key of LIBRARY_ONLY) delete own[key];
  if (options.profile === undefined) return own as SandboxOptions;
  const config = loadProjectConfig(cwd);
  const merged: Record<string, unknown> = { ...resolveProfile(options.profile, config?.profiles, config?.file, config?.root) };
  for (const [key, value] of Object.entries(own)) {
    if (value === undefined) continue;
    const base = merged[key];
    if (Array.isArray(base) && Array.isArray(value)) merged[key] = [...base, ...value];
    else if (key === "env") merged[key] = { ...(base as object), ...(value as object) };
    else merged[key] = value;
  }
  return merged as SandboxOptions;
}

/** The host directory shared as the payload's current directory: `cwd`, resolved, or this process's. */
function hostDir(cwd: string | undefined): string {
  if (cwd === undefined) return process.cwd();
  let real: string;
  try {
    real = realpathSync(resolve(cwd));
  } catch (e) {
    throw new NsboxError("PATH_NOT_FOUND", `cwd ${cwd}: no such directory`, { option: "cwd", path: cwd, cause: e });
  }
  if (!statSync(real).isDirectory()) throw new NsboxError("BAD_OPTION", `cwd ${cwd}: not a directory`, { option: "cwd", path: cwd });
  return real;
}

function checkTimeout(timeout: unknown): number | undefined {
  if (timeout === undefined) return undefined;
  if (typeof timeout !== "number" || !(timeout > 0) || !Number.isFinite(timeout)) {
    throw new NsboxError("BAD_OPTION", `timeout: expected a positive number of milliseconds, got ${String(timeout)}`, { option: "timeout" });
  }
  return timeout;
}

/** Plan a sandbox for the library: never a pseudo-terminal, the host as this process sees it. */
function planFor(command: string[], options: RunOptions): { plan: Plan; sandbox: SandboxOptions } {
  if (!Array.isArray(command) || command.some((a) => typeof a !== "string")) {
    throw new NsboxError("BAD_OPTION", 'command: expected an array of strings, e.g. ["ls", "-l"]', { option: "command" });
  }
  const cwd = hostDir(options.cwd);
  const sandbox = sandboxOptions(options, cwd);
  checkTimeout(sandbox.timeout);
  return { plan: buildPlan(command, sandbox, readHost(cwd), { terminal: null }), sandbox };
}

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
  private readonly running: Running;
  /** Whether the timer or the abort signal sent SIGKILL (it may have come too late to matter). */
  private readonly sent = { timeout: false, abort: false };

  constructor(plan: Plan, sandbox: SandboxOptions, options: SpawnOptions, defaults: { stderr: OutputOption }) {
    const fds = new Descriptors();
    const verbose = sandbox.verbose === true;
    let io: Stdio | undefined;
    let net: import("./net/session.ts").NetSession | undefined;
    // Only a named sandbox is listed for nsbox ps, inspect, exec and stop: the others belong to this program alone.
    let registration: import("./registry.ts").Registration | undefined;
    try {
      if (sandbox.name !== undefined) {
        const { registerRun } = require("./registry.ts") as typeof import("./registry.ts");
        registration = registerRun(sandbox, plan);
      }
      io = openStdio(options, defaults, fds);
      if (plan.proxy) {
        const { netSession } = require("./net/session.ts") as typeof import("./net/session.ts");
        net = netSession(plan.proxy.rules, { logFile: sandbox.netLog, live: verbose ? say : undefined });
      }
      if (verbose) for (const note of plan.notes) say(note);
      this.running = start(plan, {
        stdio: io.child,
        verbose,
        forwardSignals: false,
        onListen: net?.onListen,
        onStep: verbose ? (i) => say(`[${i}] ${plan.ops[i]!.op.toLowerCase()}: ${plan.ops[i]!.why.what}`) : undefined,
      });
    } catch (e) {
      net?.finish();
      registration?.release();
      fds.closeAll();
      throw e;
    }
    registration?.started(this.running.pid);
    // The sandbox has its own copies now.
    for (const fd of io.childOnly) fds.close(fd);
    const stdin = io.stdin;
    this.pid = this.running.pid;
    this.stdin = io.feed === undefined ? stdin : undefined;
    this.stdout = io.stdout?.stream;
    this.stderr = io.stderr?.stream;
    const { stdout, stderr } = io;
    if (io.feed !== undefined) void feed(io.feed, stdin!);

    // timeout and signal: SIGKILL to PID 1 ends its PID namespace, so every process in the sandbox.
    const sigkill = constants.signals.SIGKILL;
    const timer = sandbox.timeout === undefined ? undefined : setTimeout(() => (this.sent.timeout = this.running.kill(sigkill)), sandbox.timeout);
    const onAbort = () => (this.sent.abort = this.running.kill(sigkill));
    options.signal?.addEventListener("abort", onAbort, { once: true });

    this.exited = this.running.outcome
      .finally(() => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        net?.finish();
        registration?.release();
        // Every process that could read stdin or write stdout and stderr is gone.
        if (stdin && !stdin.ended) void stdin.end();
        stdout?.settle();
        stderr?.settle();
      })
      .then((outcome) => this.ended(outcome));
    // A caller who never awaits `exited` (only reading stdout, say) must not get an unhandled rejection.
    this.exited.catch(() => {});
  }

  private ended(outcome: Outcome): number {
    // Killed by us only if PID 1 really died of it: a payload that exited just before keeps its own status.
    const byUs = outcome.signal === "SIGKILL" && !outcome.error;
    this.timedOut = this.sent.timeout && byUs;
    this.aborted = this.sent.abort && byUs && !this.timedOut;
    this.signalCode = outcome.signal;
    this.exitCode = this.timedOut ? 124 : outcome.exitCode;
    if (outcome.error) throw outcome.error;
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
 * @example
 *   const proc = spawn(["sh", "-c", "cat; echo done >&2"], { stdin: "pipe", stderr: "pipe" });
 *   proc.stdin.write("hello\n");
 *   await proc.stdin.end();
 *   console.log(await new Response(proc.stdout).text()); // "hello\n"
 *   console.log(await proc.exited); // 0
 */
export function spawn<const O extends SpawnOptions = {}>(command: string[], options?: O): SandboxProcessFor<O> {
  const o: SpawnOptions = options ?? {};
  o.signal?.throwIfAborted();
  const { plan, sandbox } = planFor(command, o);
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
  if (options.encoding !== undefined && options.encoding !== "utf8" && options.encoding !== "buffer") {
    throw new NsboxError("BAD_OPTION", `encoding: expected "utf8" or "buffer", got ${JSON.stringify(options.encoding)}`, { option: "encoding" });
  }
  options.signal?.throwIfAborted();
  const { plan, sandbox } = planFor(command, options);
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
