// Overlay work directories on the host: removed after each run, and, when nsbox was killed
// before it could, at the next run. A failed removal is a warning, never the run's result.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { errnoName, errnoText, Errno } from "./errno.ts";
import { removeDir } from "./executor.ts";
import { processInfo, runtimeDir } from "./registry.ts";

/** A run's work directories, recorded in the runtime directory until it has removed them. */
export interface WorkRecord {
  file: string;
  dirs: string[];
}

/** What nsbox names an overlay's work directory (plan/mounts.ts): `.UPPER.nsbox-work`. */
const WORK_NAME = /^\..+\.nsbox-work$/;
const RECORD = /^work\.(\d+)\.(\d+)\.(\d+)$/;
const ENOTEMPTY = 39;
let recorded = 0;

/**
 * Write down `dirs` before the sandbox that creates them starts: if this process is killed
 * (SIGKILL at start-up, the machine's OOM killer), the sandbox dies with it (its parent-death
 * signal) and the next run removes what it left. Undefined when there is nothing to record or
 * no runtime directory to record it in (then only this run removes them).
 */
export function recordWorkDirs(dirs: string[]): WorkRecord | undefined {
  if (dirs.length === 0) return undefined;
  try {
    const start = processInfo(process.pid)?.start ?? 0;
    const file = join(runtimeDir(), `work.${process.pid}.${start}.${recorded++}`);
    writeFileSync(file, JSON.stringify(dirs), { mode: 0o600, flag: "wx" });
    return { file, dirs };
  } catch {
    return undefined;
  }
}

/**
 * Remove this run's work directories once its sandbox has ended, then its record. Returns the
 * warnings: a directory that could not be removed is left, said once, and never changes the
 * payload's exit status.
 *
 * Overlay work directories are only needed while the overlay is mounted. One beside an upper
 * directory in a share is the payload's to change while it runs (a symlink to $HOME in place of
 * the directory or of work/work, which the kernel leaves with mode 000): so nothing is followed,
 * each entry is removed relative to its held parent and opened up through a descriptor
 * (executor/safe_path.c), and the directory must still be the user's own.
 */
export function removeWorkDirs(dirs: string[], record: WorkRecord | undefined, earlier = false): string[] {
  const warnings: string[] = [];
  for (const dir of dirs) {
    let r: number;
    try {
      r = removeDir(dir);
    } catch (e) {
      warnings.push(`the overlay work directory ${dir} was not removed (${(e as Error).message}): remove it by hand`);
      continue;
    }
    // Nothing there to remove: never made, or under a path that is not a directory (an upper
    // directory named below a file: the run was refused, and that refusal says so).
    if (r >= 0 || r === -Errno.ENOENT || (r === -Errno.ENOTDIR && absent(dir))) continue;
    const whose = earlier ? " (left by an nsbox run that was killed)" : "";
    warnings.push(r === -ENOTEMPTY
      ? `the overlay work directory ${dir}${whose} was left: it holds files overlayfs did not make; look at them, then remove it`
      : `the overlay work directory ${dir}${whose} was not removed: ${errnoText(-r)} (${errnoName(-r)}); remove it by hand`);
  }
  if (record) {
    try {
      unlinkSync(record.file);
    } catch {}
  }
  return warnings;
}

/** True when nothing is at `path` (the last component not followed). */
function absent(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR";
  }
}

/**
 * At each run: remove the work directories of earlier runs whose nsbox is gone (their record
 * is still there), except those `inUse` by this run's plan and those any live run lists.
 *
 * Security decision: a record names host paths to delete from. The runtime directory is the
 * user's own, mode 0700, and hidden in every sandbox unless the user shares it by name
 * (plan/runtime-dir.ts); even so a record is taken only as a regular file of the user's, read
 * without following a symlink, and only absolute paths named like a work directory are
 * removed, through removeDir, which follows nothing and removes only what overlayfs leaves.
 */
export function sweepWorkDirs(inUse: string[] = []): string[] {
  let dir: string;
  let names: string[];
  try {
    dir = runtimeDir();
    names = readdirSync(dir).filter((n) => RECORD.test(n));
  } catch {
    return [];
  }
  if (names.length === 0) return [];
  const live = new Set(inUse);
  const stale: { file: string; dirs: string[] }[] = [];
  for (const name of names) {
    const [, pid, start] = RECORD.exec(name)!;
    const file = join(dir, name);
    const dirs = readRecord(file);
    const info = processInfo(Number(pid));
    if (info && info.start === Number(start) && info.state !== "Z") for (const d of dirs) live.add(d);
    else stale.push({ file, dirs });
  }
  const warnings: string[] = [];
  for (const s of stale) {
    const gone = s.dirs.filter((d) => !live.has(d) && d.startsWith("/") && WORK_NAME.test(basename(d)));
    warnings.push(...removeWorkDirs(gone, { file: s.file, dirs: gone }, true));
  }
  return warnings;
}

/** A record's paths; none when it is not a small regular file of ours holding a list of strings. */
function readRecord(file: string): string[] {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_CLOEXEC);
  } catch {
    return [];
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid!() || st.size > 1 << 20) return [];
    const buf = Buffer.alloc(Number(st.size));
    const n = readSync(fd, buf, 0, buf.length, 0);
    const list: unknown = JSON.parse(buf.subarray(0, n).toString("utf8"));
    return Array.isArray(list) ? list.filter((d): d is string => typeof d === "string") : [];
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}
