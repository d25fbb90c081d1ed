// Relay between the user's terminal and the payload's own pseudo-terminal.
import { createReadStream, writeSync } from "node:fs";
import { closeFd, setWindowSize } from "./executor.ts";

/**
 * Puts the user's terminal in raw mode (every key, Ctrl-C and Ctrl-Z included, goes to the
 * payload's terminal, whose line discipline turns them into signals for its foreground job),
 * copies output back, follows window-size changes, and restores the terminal on every exit.
 */
export class TerminalRelay {
  private output?: Promise<void>;
  private readonly restore = () => {
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    } catch {
      // EIO: the terminal hung up; there is nothing left to restore.
    }
  };
  private readonly onInput = (chunk: Buffer) => writeAll(this.master, chunk);
  private readonly onResize = () => setWindowSize(this.master, process.stdout.rows, process.stdout.columns);

  constructor(private readonly master: number) {}

  start(): void {
    process.once("exit", this.restore);
    process.stdin.setRawMode(true);
    process.stdin.on("data", this.onInput);
    process.stdin.resume();
    process.stdout.on("resize", this.onResize);
    this.onResize();
    this.output = (async () => {
      try {
        // Not Bun.file(fd).stream(): it reads with pread, which a terminal refuses (ESPIPE).
        for await (const chunk of createReadStream("", { fd: this.master, autoClose: false })) writeAll(1, chunk);
      } catch {
        // EIO: every slave descriptor is closed, the payload's side is gone.
      }
    })();
  }

  /** Wait for the remaining output (briefly), then give the terminal back. */
  async finish(): Promise<void> {
    await Promise.race([this.output, Bun.sleep(2000)]);
    process.stdin.off("data", this.onInput);
    process.stdin.pause();
    process.stdout.off("resize", this.onResize);
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
