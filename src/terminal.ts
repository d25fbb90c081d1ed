// Relay between the user's terminal and the payload's own pseudo-terminal.
import { createReadStream, writeSync } from "node:fs";
import { closeFd, killPid, makeTerminalRaw, ptyWrite, readableBytes, restoreTerminalMode, setWindowSize, terminalJob, terminalSize } from "./executor.ts";
import { SIGNAL } from "./kernel.ts";

/*
 * The payload never gets a descriptor of the user's terminal: through any of them (stdin, and
 * stdout or stderr too, since a terminal is opened read-write) it could read what the user
 * types next, for the shell, even when nsbox runs in the background (an ordinary background
 * job would be stopped by SIGTTIN; a payload in its own session is not). So when any of fds 0,
 * 1, 2 is a terminal the payload gets a pty in its place, and the others (a file, a pipe) are
 * passed straight through: `nsbox -- cmd > log` writes the file itself, `< file` reads it.
 */
export function userTerminal(): { rows: number; cols: number; fds: number } | null {
  let fds = 0;
  let size: { rows: number; cols: number } | null = null;
  for (const fd of [1, 2, 0]) {
    const s = terminalSize(fd);
    if (s) {
      fds |= 1 << fd;
      size ??= s;
    }
  }
  return fds ? { ...size!, fds } : null;
}

/**
 * Copies the pty's output to the user's terminal (stdout, else stderr, else stdin itself) and
 * follows window-size changes. When stdin is the terminal it also relays keys: the terminal in
 * raw mode (Ctrl-C and Ctrl-Z go to the payload's terminal, whose line discipline turns them
 * into signals for its foreground job), restored on every exit. nsbox reads the terminal only
 * while it is the terminal's foreground job: in the background (`nsbox -- make > log &`) it
 * neither reads nor touches the terminal's mode, so what the user types at the shell's prompt
 * meanwhile (a password) is the shell's. Once `fg` makes it the foreground job (seen on
 * SIGCONT, or by looking every 250 ms) it relays every key.
 *
 * Job control, as sudo's pty relay does it: the payload is a job of the pty's session, which
 * the sandbox's init leads (executor/pty.c, init.c). When it stops (Ctrl-Z: SIGTSTP), init
 * reports it and nsbox stops its own job the same way, its output written and the terminal
 * given back in its own mode first: the shell says Stopped. `fg` continues nsbox, which makes
 * the terminal raw again, sets the pty's size (a full-screen program redraws) and has init
 * continue the payload as the pty's foreground job. `bg` has it go on as a background job of
 * the pty: writing works, reading stops it with SIGTTIN, and nsbox with it, as any background
 * job that reads the terminal. (Started with `&`, it keeps the pty's foreground: a read waits
 * for `fg`.) nsbox signals only its own process group (kill(0)) and the init (its own child):
 * never a process the payload names.
 */
export class TerminalRelay {
  private output?: Promise<void>;
  /** The terminal's mode before nsbox made it raw, while it is raw. */
  private saved: Uint8Array | null = null;
  private poll?: Timer;
  private readonly input: boolean;
  private readonly out: number;
  /** The payload's job stopped (init said so) and has not been continued since. */
  private halted = false;
  /** How init was last told the job goes on: as the pty's foreground job, or in its background. */
  private inForeground = true;
  private readonly restore = () => {
    // EIO: the terminal hung up; there is nothing left to restore.
    if (this.saved) restoreTerminalMode(0, this.saved);
    this.saved = null;
  };
  /** Keys not yet taken by the pty (its payload reads nothing), at most INPUT_MAX bytes. */
  private inputQueue: Uint8Array[] = [];
  private queued = 0;
  private retry?: Timer;
  private readonly onInput = (chunk: Buffer) => {
    this.makeRaw();
    // Beyond the cap, keys are dropped, as a terminal's own full input buffer drops them.
    if (this.queued + chunk.length > INPUT_MAX) chunk = chunk.subarray(0, Math.max(0, INPUT_MAX - this.queued));
    if (chunk.length) {
      this.inputQueue.push(new Uint8Array(chunk));
      this.queued += chunk.length;
    }
    this.feed();
  };
  /**
   * Give the pty what it takes now, never waiting for it: a payload that reads nothing of its
   * terminal (while the user types, or while the user's terminal answers the queries it
   * writes) made a blocking write hold nsbox for good: signals not forwarded, --timeout not
   * kept, the user's terminal raw. The rest is tried again shortly.
   */
  private feed(): void {
    while (this.inputQueue.length) {
      const head = this.inputQueue[0]!;
      const n = ptyWrite(this.master, head);
      if (n === -11 || n === 0) {
        this.retry ??= setTimeout(() => ((this.retry = undefined), this.feed()), 20);
        return;
      }
      if (n < 0) {
        // The payload's side is gone: nothing will read these.
        this.inputQueue = [];
        this.queued = 0;
        return;
      }
      this.queued -= n;
      if (n < head.length) this.inputQueue[0] = head.subarray(n);
      else this.inputQueue.shift();
    }
  }
  private readonly onResize = () => {
    const size = terminalSize(this.out) ?? terminalSize(0);
    if (size) setWindowSize(this.master, size.rows, size.cols);
  };
  /** Continued (fg, bg): the payload goes on as nsbox does; read the terminal only in the foreground. */
  private readonly onContinue = () => this.claim(true);

  /**
   * `fds`: which of stdin, stdout, stderr (bits 0, 1, 2) are the user's terminal. `signalInit`
   * sends a signal to the sandbox's init (false once it is gone): SIGCONT continues the payload
   * in the pty's foreground, SIGTTIN in its background.
   */
  constructor(private readonly master: number, fds = 7, private readonly signalInit: (sig: number) => boolean = () => false) {
    this.input = (fds & 1) !== 0;
    // Only stdin a terminal (`> log 2>&1`): the pty's output (the echo of what is typed, prompts
    // written to /dev/tty) goes back to that terminal, never into the file the user named.
    this.out = fds & 2 ? 1 : fds & 4 ? 2 : 0;
  }

  /** Whether nsbox is a background job of the user's terminal (stdin's, else the one it writes to). */
  private inBackground(): boolean {
    return terminalJob(this.input ? 0 : this.out) === "background";
  }

  /**
   * Read the terminal, raw, only as its foreground job; in the background, leave it alone.
   * `continued`: nsbox has been continued, so the payload goes on too, in the pty's foreground
   * or background as nsbox is in the user's terminal.
   */
  private claim(continued: boolean): void {
    if (this.inBackground()) {
      this.restore();
      if (this.input) process.stdin.pause();
      // bash's fg sends no SIGCONT to a job that is running: look for the terminal now and then.
      this.poll ??= setInterval(() => !this.inBackground() && this.claim(true), 250);
      this.poll.unref();
      if (continued) this.resume(false);
      return;
    }
    clearInterval(this.poll);
    this.poll = undefined;
    if (this.input) {
      this.makeRaw();
      process.stdin.resume();
    }
    this.resume(true);
  }

  /**
   * Have init continue the payload's job, when it is stopped or should now run elsewhere: in the
   * pty's foreground (SIGCONT; the pty takes the terminal's size first, which may have changed
   * meanwhile) or its background (SIGTTIN).
   */
  private resume(foreground: boolean): void {
    if (!this.halted && this.inForeground === foreground) return;
    this.halted = false;
    this.inForeground = foreground;
    if (foreground) this.onResize();
    this.signalInit(foreground ? SIGNAL.CONT : SIGNAL.TTIN);
  }

  /**
   * The payload stopped with signal `sig` (Ctrl-Z: SIGTSTP; reading the pty in its background:
   * SIGTTIN): stop nsbox's job the same way, and have the payload go on once nsbox does.
   */
  async stopped(sig: number): Promise<void> {
    this.halted = true;
    // Stopped as a background reader of the pty while nsbox came to the foreground: go on.
    if ((sig === SIGNAL.TTIN || sig === SIGNAL.TTOU) && !this.inBackground()) return this.claim(true);
    try {
      await this.drain();
      this.restore();
      if (this.input) process.stdin.pause();
      // The whole job, as the terminal stops it (a pipeline, a script running nsbox), and only
      // with a stop signal: SIGSTOP (and any other number) is sent as SIGTSTP, which the kernel
      // discards for an orphaned process group (one no shell would continue) instead of
      // stopping it for good.
      killPid(0, sig === SIGNAL.TTIN || sig === SIGNAL.TTOU ? sig : SIGNAL.TSTP);
    } finally {
      // Continued by now (fg, bg), or the stop was discarded. In the foreground, go on now; in
      // the background, on SIGCONT: after a discarded stop, a reader woken in the background
      // would only stop again.
      this.claim(!this.inBackground());
    }
  }

  /** Let what the payload wrote before it stopped reach the user's terminal first (at most about half a second). */
  private async drain(): Promise<void> {
    for (let i = 0; i < 50 && readableBytes(this.master) > 0; i++) await Bun.sleep(10);
    await Bun.sleep(10);
  }

  /** Raw mode only while nsbox is the terminal's foreground job: never under the shell's feet. */
  private makeRaw(): void {
    if (this.saved || !this.input || terminalJob(0) !== "foreground") return;
    this.saved = makeTerminalRaw(0);
  }

  start(): void {
    process.once("exit", this.restore);
    if (this.input) {
      // Paused first: a "data" listener would otherwise start reading at once, in the background too.
      process.stdin.pause();
      process.stdin.on("data", this.onInput);
    }
    process.on("SIGCONT", this.onContinue);
    // Not `continued`: started with `&`, the payload keeps the pty's foreground, and what it
    // reads waits for `fg` (the payload may have blocked in that read already, where taking the
    // foreground from it would not stop it).
    this.claim(false);
    process.on("SIGWINCH", this.onResize);
    this.onResize();
    this.output = (async () => {
      try {
        // Not Bun.file(fd).stream(): it reads with pread, which a terminal refuses (ESPIPE).
        for await (const chunk of createReadStream("", { fd: this.master, autoClose: false })) writeAll(this.out, chunk);
      } catch {
        // EIO: every slave descriptor is closed, the payload's side is gone.
      }
    })();
  }

  /** Wait for the remaining output (briefly), then give the terminal back. */
  async finish(): Promise<void> {
    await Promise.race([this.output, Bun.sleep(2000)]);
    if (this.input) {
      process.stdin.off("data", this.onInput);
      process.stdin.pause();
    }
    process.off("SIGCONT", this.onContinue);
    clearInterval(this.poll);
    clearTimeout(this.retry);
    process.off("SIGWINCH", this.onResize);
    this.restore();
    process.off("exit", this.restore);
    closeFd(this.master);
  }
}

/** Keys the relay holds for a pty that takes none (1 MiB): past that they are dropped. */
const INPUT_MAX = 1 << 20;

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
      return; // the other side is gone
    }
  }
}
