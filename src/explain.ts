// Turning what the kernel refused, as (step, errno), into a sentence the user can act on.
import { readFileSync } from "node:fs";
import { NsboxError } from "./errors.ts";
import { Errno, errnoText } from "./errno.ts";
import type { Op } from "./ops.ts";
import { isDirectory } from "./plan/filesystem.ts";
import { walkHostPath } from "./plan/host-path.ts";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** The #! interpreter of a script that exists (ENOENT from execve then means the interpreter is missing). */
function scriptInterpreter(path: string): string | undefined {
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
    return line.startsWith("#!") ? line.slice(2).trim().split(/\s+/)[0] : undefined;
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
  if (op.op === "WRITE_FILE" && op.s1?.endsWith("_map")) {
    return "nsbox is running inside another user namespace as its root, and mapping root again needs CAP_SETFCAP there: start the outer sandbox with a non-root id (e.g. --uid 1000 --gid 1000, and --allow-nested)";
  }
  if (op.op === "MOUNT" && op.s3 === "proc") {
    return "nsbox is running inside another sandbox whose /proc has parts covered (read-only /proc/sys and the like), and the kernel then refuses a fresh /proc: nesting nsbox in nsbox is not supported yet";
  }
  return undefined;
}

/** The kernel refused to create the namespaces at all (clone failed). */
export function explainClone(errno: number): NsboxError {
  const known = diagnoseUserns(errno);
  if (known) return new NsboxError("USERNS_DISABLED", `can't create a user namespace: ${known.message}`, { hint: known.hint, errno });
  const hint = errno === Errno.EPERM
    ? "this process may itself be confined (a container's seccomp profile, or a sandbox that forbids nested user namespaces); run nsbox doctor"
    : undefined;
  return new NsboxError("KERNEL_REFUSED", `can't create the sandbox's namespaces: ${errnoText(errno)}`, { hint, errno });
}

/** A setup step failed inside the sandbox: word it against the option and path that caused it. */
export function explainStep(op: Op | undefined, errno: number, command: string): NsboxError {
  if (!op) return new NsboxError("INTERNAL", `the sandbox failed at an unknown step: ${errnoText(errno)}`, { errno });
  if (op.op === "EXEC") return explainExec(command, errno);
  const where = op.why.option ? ` (${op.why.option})` : "";
  let hint: string | undefined;
  if (errno === Errno.EPERM && (op.op === "WRITE_FILE" || op.op === "MOUNT")) {
    hint = diagnoseUserns(errno)?.hint ?? nestedHint(op);
  }
  const changed = hostChanged(op, errno);
  if (changed) {
    return new NsboxError("KERNEL_REFUSED", `can't ${op.why.what}${where}: ${changed}`, { option: op.why.option, path: op.why.path, errno });
  }
  return new NsboxError("KERNEL_REFUSED", `can't ${op.why.what}${where}: ${errnoText(errno)}`, {
    option: op.why.option, path: op.why.path, hint, errno,
  });
}

/**
 * A host path the plan checked was changed before the sandbox used it (see executor/safe_path.c):
 * a symlink appeared on the way, another file took its place, a directory nsbox creates was
 * created first by someone else, or an overlay directory stopped being the user's own.
 */
function hostChanged(op: Op, errno: number): string | undefined {
  const host = (op.op === "BIND" || op.op === "HOLD" || op.op === "MKDIR") && op.s1?.startsWith("/oldroot/") ? op.s1.slice("/oldroot".length) : undefined;
  if (host === undefined) return undefined;
  const after = "after nsbox checked it; nothing was mounted from it (something, perhaps a running sandbox, is changing it: run again once it holds still)";
  if (errno === Errno.ELOOP) {
    // The executor opens the target without following symlinks too: say which of the two it was.
    if (op.op === "BIND" && op.s2 && hostPathIsPlain(host)) return `${op.s2.slice("/newroot".length) || "/"} now passes through a symlink inside the sandbox ${after}`;
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
    if (interpreter) {
      return new NsboxError("NOT_EXECUTABLE", `${command}: bad interpreter: ${interpreter}: no such file or directory`, { path: command, errno });
    }
    const what = command.includes("/") ? "no such file or directory" : "command not found";
    return new NsboxError("NOT_FOUND", `${command}: ${what}`, { path: command, errno });
  }
  const reason = errno === Errno.EACCES && isDirectory(command) ? "is a directory" : errnoText(errno).toLowerCase();
  return new NsboxError("NOT_EXECUTABLE", `${command}: ${reason}`, { path: command, errno });
}
