// Relay between the user's terminal and the payload's own pseudo-terminal.
import { createReadStream, writeSync } from "node:fs";
import { closeFd, setWindowSize, terminalJob, terminalSize } from "./executor.ts";

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
 * meanwhile (a password) is the shell's, and a payload that reads its stdin waits. It is not
 * stopped either (a background build runs to its end, as under bubblewrap); once `fg` makes it
 * the foreground job (seen on SIGCONT, or by looking every 250 ms) it relays every key.
 */
export class TerminalRelay {
  private output?: Promise<void>;
  private raw = false;
  private poll?: Timer;
  private readonly input: boolean;
  private readonly out: number;
  private readonly restore = () => {
    if (!this.raw) return;
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    } catch {
      // EIO: the terminal hung up; there is nothing left to restore.
    }
    this.raw = false;
  };
  private readonly onInput = (chunk: Buffer) => {
    this.makeRaw();
    writeAll(this.master, chunk);
  };
  private readonly onResize = () => {
    const size = terminalSize(this.out) ?? terminalSize(0);
    if (size) setWindowSize(this.master, size.rows, size.cols);
  };
  /** Continued (fg, bg): read the terminal again only if it is now the foreground job. */
  private readonly onContinue = () => this.claim();

  /** `fds`: which of stdin, stdout, stderr (bits 0, 1, 2) are the user's terminal. */
  constructor(private readonly master: number, fds = 7) {
    this.input = (fds & 1) !== 0;
    // Only stdin a terminal (`> log 2>&1`): the pty's output (the echo of what is typed, prompts
    // written to /dev/tty) goes back to that terminal, never into the file the user named.
    this.out = fds & 2 ? 1 : fds & 4 ? 2 : 0;
  }

  /** Read the terminal, raw, only as its foreground job; in the background, leave it alone. */
  private claim(): void {
    if (terminalJob(0) === "background") {
      this.restore();
      process.stdin.pause();
      // bash's fg sends no SIGCONT to a job that is running: look for the terminal now and then.
      this.poll ??= setInterval(() => terminalJob(0) !== "background" && this.claim(), 250);
      this.poll.unref();
      return;
    }
    clearInterval(this.poll);
    this.poll = undefined;
    this.makeRaw();
    process.stdin.resume();
  }

  /** Raw mode only while nsbox is the terminal's foreground job: never under the shell's feet. */
  private makeRaw(): void {
    if (this.raw || !this.input || terminalJob(0) !== "foreground") return;
    try {
      process.stdin.setRawMode(true);
      this.raw = true;
    } catch {}
  }

  start(): void {
    process.once("exit", this.restore);
    if (this.input) {
      // Paused first: a "data" listener would otherwise start reading at once, in the background too.
      process.stdin.pause();
      process.stdin.on("data", this.onInput);
      process.on("SIGCONT", this.onContinue);
      this.claim();
    }
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
      process.off("SIGCONT", this.onContinue);
      clearInterval(this.poll);
    }
    process.off("SIGWINCH", this.onResize);
    this.restore();
    process.off("exit", this.restore);
    closeFd(this.master);
  }
}

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
