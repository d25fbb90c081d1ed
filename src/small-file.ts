// One small host file, read through the descriptor it was checked on.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";

export interface SmallFileRules {
  /** Larger than this many bytes: not read. */
  max: number;
  /** Open a symlink at `path` (default: refuse it, ELOOP). */
  follow?: boolean;
  /** Judges the opened file's own stat (so the file checked is the file read): why not, or undefined to read it. */
  accept?: (st: Stats) => string | undefined;
}

/**
 * The bytes of a small regular file, or why not (`code` is the errno's name when open failed).
 * Opened without blocking (a FIFO planted at the path), without becoming a controlling terminal,
 * close-on-exec, and not through a symlink unless `follow`; then only a regular file of at most
 * `max` bytes that `accept` lets through is read. Read to the size fstat gave (what grows after
 * is not read).
 */
export function readSmallFile(path: string, rules: SmallFileRules): { bytes: Buffer } | { problem: string; code?: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_CLOEXEC | (rules.follow ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "EIO";
    return { problem: code === "ENOENT" ? `${path} does not exist` : code === "ELOOP" ? `${path} is a symlink` : `${path} can't be read (${code})`, code };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { problem: `${path} is not a regular file` };
    const refused = rules.accept?.(st);
    if (refused) return { problem: refused };
    if (st.size > rules.max) return { problem: `${path} is larger than ${rules.max} bytes` };
    const buf = Buffer.alloc(st.size);
    return { bytes: buf.subarray(0, readSync(fd, buf, 0, st.size, 0)) };
  } catch (e) {
    return { problem: `${path} can't be read (${(e as NodeJS.ErrnoException).code ?? "EIO"})` };
  } finally {
    closeSync(fd);
  }
}

/** The text of `path` decoded as `encoding`, or undefined for any reason readSmallFile gives. */
export function smallFileText(path: string, rules: SmallFileRules, encoding: BufferEncoding = "utf8"): string | undefined {
  const r = readSmallFile(path, rules);
  return "bytes" in r ? r.bytes.toString(encoding) : undefined;
}
