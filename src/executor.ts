// The C executor: compiled once per process with bun:ffi's cc(), then called to start sandboxes.
import { cc, ptr } from "bun:ffi";

/** executor.c includes the other files: one translation unit compiles faster than seven. */
const SOURCE = new URL("./executor/executor.c", import.meta.url).pathname;

function compile() {
  return cc({
    source: SOURCE,
    symbols: {
      nsbox_spawn: { args: ["ptr", "int", "int", "int", "int", "int", "int"], returns: "int" },
      nsbox_pipe: { args: ["ptr"], returns: "int" },
      nsbox_socketpair: { args: ["ptr"], returns: "int" },
      nsbox_close: { args: ["int"], returns: "int" },
      nsbox_kill: { args: ["int", "int"], returns: "int" },
      nsbox_wait: { args: ["int", "ptr", "int"], returns: "int" },
      nsbox_recv_fd: { args: ["int"], returns: "int" },
      nsbox_set_winsize: { args: ["int", "int", "int"], returns: "int" },
      nsbox_set_blocking: { args: ["int"], returns: "int" },
      nsbox_terminal_size: { args: ["int"], returns: "int" },
      nsbox_readable: { args: ["int"], returns: "int" },
      nsbox_landlock_abi: { args: [], returns: "int" },
    },
  }).symbols;
}

/** The running kernel's Landlock ABI version, 0 when it has none (nsbox doctor). */
export const landlockAbi = (): number => lib().nsbox_landlock_abi();

let compiled: ReturnType<typeof compile> | undefined;
const lib = () => (compiled ??= compile());

/** Descriptors the child receives; -1 leaves the parent's own (stdio) or none (the others). */
export interface ChildFds {
  report: number;
  /** The Unix socket the sandbox passes descriptors back on (pty master, proxy socket). */
  control: number;
  stdin: number;
  stdout: number;
  stderr: number;
}

/** Clone the sandbox's PID 1 and run the plan in it. Returns its host pid, or -errno. */
export function spawnPlan(plan: Uint8Array, fds: ChildFds): number {
  return lib().nsbox_spawn(ptr(plan), plan.length, fds.report, fds.control, fds.stdin, fds.stdout, fds.stderr);
}

/** A close-on-exec pipe: [read end, write end]. */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  const r = lib().nsbox_pipe(ptr(fds));
  if (r < 0) throw new Error(`pipe failed: errno ${-r}`);
  return [fds[0]!, fds[1]!];
}

/** A close-on-exec Unix stream socket pair. */
export function socketPair(): [number, number] {
  const fds = new Int32Array(2);
  const r = lib().nsbox_socketpair(ptr(fds));
  if (r < 0) throw new Error(`socketpair failed: errno ${-r}`);
  return [fds[0]!, fds[1]!];
}

export const closeFd = (fd: number) => void lib().nsbox_close(fd);
export const killPid = (pid: number, signal: number) => lib().nsbox_kill(pid, signal);
export const receiveFd = (socket: number) => lib().nsbox_recv_fd(socket);
export const setWindowSize = (fd: number, rows: number, cols: number) => lib().nsbox_set_winsize(fd, rows, cols);
export const setBlocking = (fd: number) => lib().nsbox_set_blocking(fd);

/** The size of the terminal on `fd`, or null when it is not a terminal. */
export function terminalSize(fd: number): { rows: number; cols: number } | null {
  const r = lib().nsbox_terminal_size(fd);
  return r < 0 ? null : { rows: r >>> 16 || 24, cols: r & 0xffff || 80 };
}

/** Bytes waiting unread in the pipe `fd` (FIONREAD), or -errno. */
export const readableBytes = (fd: number) => lib().nsbox_readable(fd);

/** waitpid(pid) → the raw wait status; `hang: false` returns undefined while it still runs. */
export function waitPid(pid: number, hang = true): number | undefined {
  const status = new Int32Array(1);
  const r = lib().nsbox_wait(pid, ptr(status), hang ? 0 : 1 /* WNOHANG */);
  if (r === 0) return undefined;
  if (r < 0) throw new Error(`waitpid(${pid}) failed: errno ${-r}`);
  return status[0];
}

/** Compile now (the CLI does it while it plans, the library on first use). */
export function prepareExecutor(): void {
  lib();
}
