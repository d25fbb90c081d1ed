// Turning what the kernel refused, as (step, errno), into a sentence the user can act on.
import { readFileSync } from "node:fs";
import { NsboxError } from "./errors.ts";
import { Errno, errnoName, errnoText, outOfDescriptors, tooFewDescriptors } from "./errno.ts";
import type { Op } from "./ops.ts";
import { isDirectory } from "./plan/filesystem.ts";
import { walkHostPath } from "./plan/host-path.ts";
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** The #! interpreter of a script that exists (ENOENT from execve then means the interpreter is missing). */
function scriptInterpreter(path: string): string | undefined {
  return scriptInterpreterLine(path)?.split(/\s+/)[0];
}

/** What follows `#!` on a script's first line, or undefined. */
function scriptInterpreterLine(path: string): string | undefined {
  try {
    // Without blocking (a FIFO would hang nsbox) and without following a symlink.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY);
    if (!fstatSync(fd).isFile()) {
      closeSync(fd);
      return undefined;
    }
    const head = Buffer.alloc(256);
    const n = readSync(fd, head, 0, 256, 0);
    closeSync(fd);
    const line = head.subarray(0, n).toString("latin1").split("\n")[0]!;
    return line.startsWith("#!") ? line.slice(2).trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** The owner of a path (one with a `/`) to a plain file, not a link, with no execute bit at all: the usual reason a script is refused. */
function nonExecutableFileOwner(path: string): number | undefined {
  if (!path.includes("/")) return undefined;
  try {
    const st = lstatSync(path);
    return st.isFile() && (st.mode & 0o111) === 0 ? st.uid : undefined;
  } catch {
    return undefined;
  }
}

function sysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name.replaceAll(".", "/")}`, "utf8").trim();
  } catch {
    return undefined;
  }
}

const APPARMOR_FIX = (bun: string) =>
  "Ubuntu's AppArmor forbids unprivileged user namespaces to unconfined programs. Either allow them for Bun " +
  `with a profile (as root):\n  printf 'abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile nsbox-bun ${bun} flags=(unconfined) {\\n  userns,\\n}\\n' > /etc/apparmor.d/nsbox-bun && apparmor_parser -r /etc/apparmor.d/nsbox-bun\n` +
  "or turn the restriction off: sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0";

/** Why the host refuses unprivileged user namespaces, with the fix; undefined when it doesn't seem to. */
export function diagnoseUserns(errno: number): { message: string; hint: string } | undefined {
  const max = sysctl("user.max_user_namespaces");
  if (max === "0" || errno === Errno.ENOSPC || errno === Errno.EUSERS) {
    return {
      message: max === "0" ? "user namespaces are disabled on this host (user.max_user_namespaces = 0)" : `the user namespace limit is reached (user.max_user_namespaces = ${max ?? "?"})`,
      hint: "raise it (as root): sudo sysctl -w user.max_user_namespaces=15000",
    };
  }
  if (sysctl("kernel.unprivileged_userns_clone") === "0") {
    return {
      message: "unprivileged user namespaces are disabled on this host (kernel.unprivileged_userns_clone = 0)",
      hint: "enable them (as root): sudo sysctl -w kernel.unprivileged_userns_clone=1",
    };
  }
  if (sysctl("kernel.apparmor_restrict_unprivileged_userns") === "1") {
    return { message: "AppArmor restricts unprivileged user namespaces on this host", hint: APPARMOR_FIX(process.execPath) };
  }
  return undefined;
}

/** PID 1 here is an nsbox sandbox's init: this nsbox runs inside one (`nsbox -- bash`, then nsbox). */
function insideNsbox(): boolean {
  try {
    return readFileSync("/proc/1/comm", "utf8") === "nsbox-init\n";
  } catch {
    return false;
  }
}

/** What to do about nsbox in nsbox, which no option of the outer sandbox makes work. */
const NSBOX_IN_NSBOX = "nsbox is running inside an nsbox sandbox, and nesting nsbox in nsbox is not supported yet: run it outside, on the host";

/** nsbox inside another user namespace (a sandbox): what the kernel asks of the outer one. */
function nestedHint(op: Op): string | undefined {
  const map = (() => {
    try {
      return readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/).join(" ");
    } catch {
      return undefined;
    }
  })();
  if (map === undefined || map === "0 0 4294967295") return undefined;
  // Not the outer sandbox's --uid or --allow-nested: a sandbox made inside one fails at a later step.
  if (insideNsbox()) return NSBOX_IN_NSBOX;
  if (op.op === "WRITE_FILE" && op.path.endsWith("_map")) {
    return "nsbox is running inside another user namespace as its root, and mapping root again needs CAP_SETFCAP there: start the outer sandbox with a non-root id (e.g. --uid 1000 --gid 1000, and --allow-nested)";
  }
  if (op.op === "MOUNT" && op.fstype === "proc") {
    return "nsbox is running inside another sandbox whose /proc has parts covered (read-only /proc/sys and the like), and the kernel then refuses a fresh /proc: nesting nsbox in nsbox is not supported yet";
  }
  return undefined;
}

/** Why newuidmap or newgidmap refused, by the WAIT_ID_MAP step that waited for it (src/id-map.ts records it). */
const idMapRefusals = new WeakMap<Op, string>();
export const recordIdMapRefusal = (op: Op, said: string): void => void idMapRefusals.set(op, said);

/** A WAIT_ID_MAP step failed: the helper's own message, in one line with the fix. */
function idMapError(op: Op, errno: number): NsboxError {
  const said = idMapRefusals.get(op) ?? "nsbox stopped before the maps were written";
  return new NsboxError("KERNEL_REFUSED", `--id-map auto: can't ${op.why.what}: ${said}`, {
    option: "--id-map", errno,
    hint: "check your ranges in /etc/subuid and /etc/subgid (podman unshare cat /proc/self/uid_map tries the same), or run with --id-map single",
  });
}

/** The kernel refused to create the namespaces at all (clone failed). */
export function explainClone(errno: number): NsboxError {
  const known = diagnoseUserns(errno);
  if (known) return new NsboxError("USERNS_DISABLED", `can't create a user namespace: ${known.message}`, { hint: known.hint, errno });
  const hint = errno === Errno.EPERM && insideNsbox()
    ? NSBOX_IN_NSBOX
    : errno === Errno.EPERM
    ? "this process may itself be confined (a container's seccomp profile, or a sandbox that forbids nested user namespaces); run nsbox doctor"
    : undefined;
  return new NsboxError("KERNEL_REFUSED", `can't create the sandbox's namespaces: ${errnoText(errno)}`, { hint, errno });
}

/**
 * A setup step failed inside the sandbox: one line naming where the step comes from (the option
 * or file entry as written), what it did, and why the kernel refused, in words and by errno name:
 * `--ro ./data: can't bind /abs/data read-only: permission denied (EPERM)`.
 */
export function explainStep(op: Op | undefined, errno: number, command: string): NsboxError {
  // Index -1: the executor had too few descriptors to start (executor/spawn.c); any step: one ran out.
  if (outOfDescriptors(errno)) return tooFewDescriptors(errno);
  if (!op) return new NsboxError("INTERNAL", `the sandbox failed at an unknown step: ${errnoText(errno)}`, { errno });
  if (op.op === "EXEC") return explainExec(command, errno);
  if (op.op === "WAIT_ID_MAP") return idMapError(op, errno);
  const why = op.why;
  // The option as written leads; an option only known by its flag follows the step, as before.
  const step = why.origin ? `${why.origin}: can't ${why.what}` : `can't ${why.what}${why.option ? ` (${why.option})` : ""}`;
  const refused = (reason: string, hint?: string) =>
    new NsboxError("KERNEL_REFUSED", `${step}: ${reason}`, { option: why.option, path: why.path, hint, errno });
  const changed = hostChanged(op, errno);
  if (changed) return refused(changed);
  const overlay = overlayRefused(op, errno);
  if (overlay) return refused(overlay);
  if (op.op === "SETRLIMIT" && errno === Errno.EPERM) {
    return refused("operation not permitted (EPERM): the limit is above the hard limit nsbox runs under (ulimit -H), which only root can raise: give a lower one");
  }
  let hint: string | undefined;
  if (errno === Errno.EPERM && (op.op === "WRITE_FILE" || op.op === "MOUNT")) {
    hint = diagnoseUserns(errno)?.hint ?? nestedHint(op);
  } else if (insideNsbox()) {
    hint = NSBOX_IN_NSBOX; // --allow-nested: the outer filter's ENOSYS for a mount call
  }
  return refused(errnoWords(errno), hint);
}

/** "permission denied (EACCES)": the text and the name a user can look up. */
export function errnoWords(errno: number): string {
  const text = errnoText(errno);
  return `${text.charAt(0).toLowerCase()}${text.slice(1)} (${errnoName(errno)})`;
}

/**
 * An overlay the kernel refused, worded from what the host shows now: a lower directory with
 * mounts below it (the kernel won't take a tree with mounts it locked into the sandbox's user
 * namespace), or an upper or work directory that is not a directory.
 */
function overlayRefused(op: Op, errno: number): string | undefined {
  if (op.op === "MOUNT" && op.fstype === "overlay" && errno === Errno.EINVAL) {
    const lower = op.why.path; // the resolved lower directory (plan/mounts.ts)
    const below = lower === undefined ? [] : mountsBelow(lower);
    if (below.length) {
      return `${lower} has ${below.length === 1 ? "a mount" : "mounts"} below it (${below.slice(0, 3).join(", ")}${below.length > 3 ? ", …" : ""}), and the kernel does not let an unprivileged overlay take in mounts it did not make (EINVAL): overlay a directory without mounts below it, or share this one with --ro or --rw`;
    }
    return `invalid argument (EINVAL): the lower, upper and work directories must be directories the kernel can stack (not an overlay, FUSE or NFS upper, and the upper and work directories on one filesystem)`;
  }
  if ((op.op === "MKDIR" || op.op === "HOLD") && op.path?.startsWith("/oldroot/") && errno === Errno.ENOTDIR) {
    const path = op.path.slice("/oldroot".length);
    let file = path;
    while (file !== "/" && !existsAsFile(file)) file = dirname(file);
    return file === "/" ? `${path}: a part of it is not a directory (ENOTDIR): name a directory` : `${file} is a file, not a directory (ENOTDIR): name a directory there`;
  }
  return undefined;
}

function existsAsFile(path: string): boolean {
  try {
    return !lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Mount points strictly below host directory `dir`, as /proc/self/mountinfo lists them. */
function mountsBelow(dir: string): string[] {
  try {
    const prefix = dir === "/" ? "/" : dir + "/";
    return readFileSync("/proc/self/mountinfo", "utf8").split("\n")
      .map((l) => l.split(" ")[4]?.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
      .filter((p): p is string => p !== undefined && p.startsWith(prefix));
  } catch {
    return [];
  }
}

/**
 * A host path the plan checked was changed before the sandbox used it (see executor/safe_path.c):
 * a symlink appeared on the way, another file took its place, a directory nsbox creates was
 * created first by someone else, or an overlay directory stopped being the user's own.
 */
function hostChanged(op: Op, errno: number): string | undefined {
  const source = op.op === "BIND" ? op.source : op.op === "HOLD" || op.op === "MKDIR" ? op.path : undefined;
  const host = source?.startsWith("/oldroot/") ? source.slice("/oldroot".length) : undefined;
  if (host === undefined) return undefined;
  const after = "after nsbox checked it; nothing was mounted from it (something, perhaps a running sandbox, is changing it: run again once it holds still)";
  if (errno === Errno.ELOOP) {
    // The executor opens the target without following symlinks too: say which of the two it was.
    if (op.op === "BIND" && hostPathIsPlain(host)) return `${op.target.slice("/newroot".length) || "/"} now passes through a symlink inside the sandbox ${after}`;
    return `${host} now passes through a symlink ${after}`;
  }
  if (errno === Errno.ESTALE) return `${host} was replaced by another file ${after}`;
  if (errno === Errno.EEXIST && op.op === "MKDIR") return `${host} was created by someone else ${after}`;
  if (errno === Errno.EPERM && op.op === "HOLD") return `${host} is not a directory of yours that only you may write, ${after}`;
  return undefined;
}

function hostPathIsPlain(path: string): boolean {
  try {
    const w = walkHostPath(path);
    return w.ok && w.path === path;
  } catch {
    return false;
  }
}

/** execve failed for the command: 127 when it is not there, 126 when it can't be run. */
export function explainExec(command: string, errno: number): NsboxError {
  if (errno === Errno.ENOENT) {
    const interpreter = command.includes("/") ? scriptInterpreter(command) : undefined;
    // The host's script names an interpreter of the host's /usr, which every sandbox shares: what
    // is missing inside is the script itself, at a host path no share covers (/tmp, ~/scripts).
    if (interpreter && /^\/(usr\/|bin\/|sbin\/)/.test(interpreter) && existsSync(interpreter)) {
      const dir = dirname(resolve(command));
      return new NsboxError("NOT_FOUND", `${command}: no such file or directory in the sandbox, which does not share ${dir}`, {
        path: command, errno, hint: `share it with --ro ${dir}`,
      });
    }
    if (interpreter) {
      return new NsboxError("NOT_EXECUTABLE", `${command}: bad interpreter: ${interpreter}: no such file or directory`, { path: command, errno });
    }
    const what = command.includes("/") ? "no such file or directory" : "command not found";
    return new NsboxError("NOT_FOUND", `${command}: ${what}`, { path: command, errno });
  }
  let reason = errno === Errno.EACCES && isDirectory(command) ? "is a directory" : errnoText(errno).toLowerCase();
  const owner = errno === Errno.EACCES ? nonExecutableFileOwner(command) : undefined;
  if (owner !== undefined) {
    // `#!/usr/bin/env python3` runs python3; `#!/bin/sh -e` runs /bin/sh.
    const words = scriptInterpreterLine(command)?.split(/\s+/) ?? [];
    const interpreter = words[0]?.endsWith("/env") && words[1] && !words[1].startsWith("-") ? words[1] : words[0];
    const fixes = [owner === process.getuid?.() ? `chmod +x ${command}` : "", interpreter ? `run it with ${interpreter} ${command}` : ""].filter(Boolean);
    reason += `: it is not executable${fixes.length ? `; ${fixes.join(", or ")}` : ""}`;
  }
  return new NsboxError("NOT_EXECUTABLE", `${command}: ${reason}`, { path: command, errno });
}
