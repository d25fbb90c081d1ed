// The library's standard input and output: pipes, files and /dev/null for a sandbox's stdio,
// each descriptor closed exactly once.
import type { BunFile } from "bun";
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readlinkSync, readSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { walkError, walkHostPath } from "./plan/host-path.ts";
import { refuseDirectoryStdio } from "./plan/pass-fds.ts";
import { NsboxError } from "./errors.ts";
import { fileError } from "./errno.ts";
import { closeFd, descriptorError, pipe, readableBytes, setBlocking, terminalSize } from "./executor.ts";

/** Where the payload's standard input comes from (as Bun.spawn's `stdin`). */
export type StdinOption =
  | "inherit" | "pipe" | "ignore" | null
  | number | BunFile | Blob | ReadableStream<Uint8Array> | string | ArrayBufferView | ArrayBuffer;

/** Where the payload's standard output or error goes (as Bun.spawn's `stdout`, `stderr`). */
export type OutputOption = "inherit" | "pipe" | "ignore" | null | number | BunFile;

/** `proc.stdin` when stdin is "pipe": write to it, then end() it so that the payload reads end-of-file. */
export interface StdinSink {
  /** Queue bytes or text; a promise when they could not all be written yet (backpressure). */
  write(chunk: string | ArrayBufferView | ArrayBuffer): number | Promise<number>;
  /** Wait until what was written has reached the pipe. */
  flush(): number | Promise<number>;
  /** Flush and close: the payload's next read returns end-of-file. */
  end(): Promise<void>;
}

/** The stdio fields of spawn()'s options. */
export interface StdioOptions {
  stdin?: StdinOption;
  stdout?: OutputOption;
  stderr?: OutputOption;
}

/** Descriptors this process opened for one sandbox: each closed exactly once. */
export class Descriptors {
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
export interface OutputPipe {
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
export async function feed(data: Exclude<StdinOption, "inherit" | "pipe" | "ignore" | null | number>, sink: StdinSink): Promise<void> {
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

const O_PATH = 0o10000000;

const isBunFile = (v: unknown): v is BunFile => v instanceof Blob && typeof (v as BunFile).name === "string";

/**
 * Open a file given as stdio on the host. Its name may lie in a share, where the payload of an
 * earlier run can have put a symlink (out.log -> ~/.bashrc): no symlink is followed but root's own
 * (plan/host-path.ts), and opening never blocks (a FIFO for stdin would hang this process).
 */
function openFile(file: BunFile, flags: "r" | "w", what: string): number {
  const path = resolve(file.name!);
  const refuse = (problem: string) =>
    new NsboxError("BAD_OPTION", `${what} ${file.name}: ${problem}; nsbox does not follow a symlink a sandbox could have placed: name the real path`, { option: what, path: file.name });
  let dir: ReturnType<typeof walkHostPath>;
  try {
    dir = walkHostPath(dirname(path));
  } catch (e) {
    throw new NsboxError("BAD_OPTION", `${what} ${file.name}: ${walkError(e)}`, { option: what, path: file.name, cause: e });
  }
  if (!dir.ok && "link" in dir) throw refuse(`${dir.link} is a symlink to ${dir.leadsTo}`);
  // No O_TRUNC yet: the file is truncated once it is known to be the one named (below).
  // Non-blocking for writes too: a FIFO the payload planted as out.log, with no reader, held
  // this process in open(2) for good. The descriptor is made blocking again below.
  const mode = flags === "r" ? constants.O_RDONLY | constants.O_NONBLOCK : constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK;
  const name = dir.ok ? `${dir.path === "/" ? "" : dir.path}/${basename(path)}` : path;
  // The directory is held first and checked to be the one walked: an open by the whole name would
  // pass through a directory on the way swapped for a symlink after the walk (logs -> ~/.ssh), and
  // O_CREAT would make logs' file there before the check below could refuse it.
  let at = name;
  let dirFd: number | undefined;
  if (dir.ok) {
    try {
      dirFd = openSync(dir.path, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOTDIR" || code === "ELOOP") throw refuse(`${dir.path} is no longer a directory (a symlink now?)`);
      throw new NsboxError("BAD_OPTION", `${what} ${file.name}: ${dir.path}: ${fileError(e)}`, { option: what, path: file.name, cause: e });
    }
    let held: string | undefined;
    try {
      held = readlinkSync(`/proc/self/fd/${dirFd}`);
    } catch {}
    if (held !== undefined && held !== dir.path) {
      closeSync(dirFd);
      throw refuse(`${dir.path} led to ${held} when opened`);
    }
    at = `/proc/self/fd/${dirFd}/${basename(path)}`;
  }
  let fd: number;
  try {
    fd = openSync(at, mode | constants.O_NOFOLLOW | constants.O_NOCTTY, 0o666); // Bun opens with O_CLOEXEC
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw refuse(`${path} is a symlink`);
    if (code === "ENXIO") {
      throw new NsboxError("BAD_OPTION", `${what} ${file.name}: a FIFO no process reads (nsbox would wait for a reader for good); remove it or name a regular file`, { option: what, path: file.name });
    }
    // Worded as the other path errors are ("no such file or directory"), not Node's "ENOENT: …, open '…'".
    throw new NsboxError(code === "ENOENT" ? "PATH_NOT_FOUND" : "BAD_OPTION", `${what} ${file.name}: ${fileError(e)}`, {
      option: what, path: file.name, cause: e,
      hint: code === "EISDIR" ? `name a file in it, e.g. Bun.file(${JSON.stringify(join(file.name ?? "", `${what}.log`))})` : undefined,
    });
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
  // A directory on the way swapped for a symlink after the walk: the descriptor shows where it went.
  let opened: string | undefined;
  try {
    opened = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {}
  if (opened !== undefined && opened !== name && name.startsWith("/")) {
    closeSync(fd);
    throw refuse(`${path} led to ${opened} when opened`);
  }
  // A terminal by name (Bun.file("/dev/tty"), "/dev/pts/3") is as much the caller's as fd 0:
  // through it the payload would read what is typed there. The rule of checkFd holds for it too.
  if (terminalSize(fd)) {
    closeSync(fd);
    throw new NsboxError("BAD_OPTION", `${what} ${file.name}: a terminal, and the payload never gets one of yours (it could read what is typed there)`, {
      option: what, path: file.name,
      hint: `use ${what}: "inherit" when it is this process's own ${what} (the payload then gets a pty, relayed), or a pipe`,
    });
  }
  if (flags === "w" && fstatSync(fd).isFile()) ftruncateSync(fd, 0);
  if (flags === "w") setBlocking(fd);
  return fd;
}

/** A value as a message shows it: a string quoted, else its kind. */
const describe = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : typeof v);

function checkFd(fd: number, what: string): number {
  if (!Number.isInteger(fd) || fd < 0) throw new NsboxError("BAD_OPTION", `${what}: expected a file descriptor (a whole number), got ${fd}`, { option: what });
  try {
    fstatSync(fd);
  } catch {
    // Else the sandbox's setup fails at dup2 and reads as an internal error.
    throw new NsboxError("BAD_OPTION", `${what}: descriptor ${fd} is not open in this process`, { option: what, hint: `open it first, or give ${what} a Bun.file(path)` });
  }
  if (fd !== STDIO.indexOf(what as (typeof STDIO)[number]) && terminalSize(fd)) {
    throw new NsboxError("BAD_OPTION", `${what}: descriptor ${fd} is a terminal, and the payload never gets one of yours (it could read what is typed there)`, {
      option: what,
      hint: `use ${what}: "inherit" when it is this process's own ${what} (the payload then gets a pty, relayed), or a pipe`,
    });
  }
  return fd;
}

const STDIO = ["stdin", "stdout", "stderr"] as const;

/**
 * The same rule as the CLI's (terminal.ts): a payload never gets a terminal of the caller's.
 * Each of stdin, stdout, stderr given as "inherit" (or as its own number, 0, 1, 2) that is a
 * terminal is replaced by a pty of the sandbox's, relayed as the CLI relays it: output copied
 * to this process's descriptor; for stdin, keys, with the terminal raw while this process is
 * its foreground job (and stopped by SIGTTIN when a background job reads).
 */
export function inheritedTerminal(options: StdioOptions, defaults: { stderr: OutputOption }): { rows: number; cols: number; fds: number } | null {
  const given = { stdin: options.stdin ?? "ignore", stdout: options.stdout ?? "pipe", stderr: options.stderr ?? defaults.stderr };
  let fds = 0;
  let size: { rows: number; cols: number } | null = null;
  STDIO.forEach((name, fd) => {
    const g = given[name];
    if (g !== "inherit" && g !== fd) return;
    const s = terminalSize(fd);
    if (!s) return;
    fds |= 1 << fd;
    size ??= s;
  });
  return fds ? { ...size!, fds } : null;
}

/** The descriptors to give the sandbox, and what this process keeps of them. */
export interface Stdio {
  child: { stdin: number; stdout: number; stderr: number };
  /** Opened here only for the child: closed as soon as it has its copies. */
  childOnly: number[];
  stdin?: StdinSink & { ended: boolean };
  feed?: Exclude<StdinOption, "inherit" | "pipe" | "ignore" | null | number>;
  stdout?: OutputPipe;
  stderr?: OutputPipe;
}

/** /dev/null for "ignore"; under descriptor exhaustion a typed NsboxError, like pipe(). */
function openDevNull(): number {
  try {
    return openSync("/dev/null", "r+");
  } catch (e) {
    const errno = Math.abs((e as NodeJS.ErrnoException).errno ?? 5);
    throw descriptorError("open /dev/null", errno);
  }
}

export function openStdio(options: StdioOptions, defaults: { stderr: OutputOption }, fds: Descriptors): Stdio {
  const io: Stdio = { child: { stdin: -1, stdout: -1, stderr: -1 }, childOnly: [] };
  let devNull = -1;
  const nullFd = () => (devNull >= 0 ? devNull : (io.childOnly.push((devNull = fds.add(openDevNull()))), devNull));
  const forChild = (fd: number) => (io.childOnly.push(fds.add(fd)), fd);

  const stdin = options.stdin === undefined ? "ignore" : options.stdin;
  if (stdin === "ignore" || stdin === null) io.child.stdin = nullFd();
  else if (stdin === "inherit") io.child.stdin = -1;
  else if (typeof stdin === "number") io.child.stdin = checkFd(stdin, "stdin");
  else if (isBunFile(stdin)) io.child.stdin = forChild(openFile(stdin, "r", "stdin"));
  else {
    const data = typeof stdin === "string" || ArrayBuffer.isView(stdin) || stdin instanceof ArrayBuffer || stdin instanceof Blob || stdin instanceof ReadableStream;
    if (stdin !== "pipe" && !data) {
      throw new NsboxError("BAD_OPTION", `stdin: expected "pipe", "inherit", "ignore", a file descriptor, Bun.file(path), or data (a string, Uint8Array, ArrayBuffer, Blob or ReadableStream), got ${describe(stdin)}`, { option: "stdin" });
    }
    const [r, w] = pipe("make the stdin pipe");
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
      const [r, w] = pipe(`make the ${name} pipe`);
      io.child[name] = forChild(w);
      io[name] = outputPipe(fds.add(r), fds);
    } else throw new NsboxError("BAD_OPTION", `${name}: expected "pipe", "inherit", "ignore", a file descriptor or Bun.file(path)`, { option: name });
  }
  // -1: this process's own (inherited). On a throw the caller closes what was opened (fds).
  refuseDirectoryStdio([io.child.stdin, io.child.stdout, io.child.stderr].map((fd, i) => (fd < 0 ? i : fd)));
  return io;
}

