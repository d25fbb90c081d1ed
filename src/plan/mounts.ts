// The user's filesystem options (MountSpecs) as ops, in order, with every path resolved and checked before fork.
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { release } from "node:os";
import { fileKind } from "../errno.ts";
import { NsboxError } from "../errors.ts";
import type { Host } from "../host.ts";
import type { Op, Purpose } from "../ops.ts";
import { ATTR, MS, PlanBuilder, hostPath, isAncestorOrSelf, sandboxPath } from "./builder.ts";
import { TRY_KINDS, type MountSpec } from "./mount-spec.ts";
import { FD } from "../kernel.ts";
import { openedPaths, protectShare, watchMissing } from "./protected.ts";
import { tmpfsOptions } from "./tmpfs.ts";
import { expandPath, identity, notAFile, readChecked, walkError, walkHostPath } from "./host-path.ts";
export { expandPath };
import type { BigIntStats } from "node:fs";

/** Trees nsbox itself manages inside; user options may not mount in them (devices may go in /dev). */
const MANAGED = ["/proc", "/dev/pts"];
const MAX_FILE_CONTENT = 16 << 20;
/**
 * All `--file` contents of one sandbox together: each is held in nsbox's memory and then in a
 * tmpfs inside (the host's memory), and a project profile listed one 16 MiB file 100 times.
 */
const MAX_FILE_TOTAL = 64 << 20;


function fail(spec: MountSpec, problem: string, code: "BAD_OPTION" | "PATH_NOT_FOUND" = "BAD_OPTION", path?: string): NsboxError {
  return new NsboxError(code, `${spec.origin}: ${problem}`, { option: spec.option, path });
}

/**
 * The host source, resolved once: a symlink on the way that a sandbox, the project or another
 * user could have placed is refused with where it leads (host-path.ts says which are followed);
 * undefined when missing and optional.
 */
function source(spec: MountSpec, host: Host): { path: string; st: BigIntStats } | undefined {
  const path = expandPath(spec.source!, host);
  let walk: ReturnType<typeof walkHostPath>;
  try {
    walk = walkHostPath(path);
  } catch (e) {
    throw fail(spec, `${path}: ${walkError(e)}`, "PATH_NOT_FOUND", path);
  }
  if (walk.ok) return { path: walk.path, st: walk.st };
  if ("link" in walk) {
    const shown = walk.link === path ? path : `${walk.link} (in ${path})`;
    const odd = notAFile(walk.leadsTo);
    if (odd) {
      throw new NsboxError("BAD_OPTION", `${spec.origin}: ${shown} is ${odd}, not a file or directory`, {
        option: spec.option, path, hint: "write the data to a file and name that, or hand it to the payload on its stdin (nsbox passes stdin through)",
      });
    }
    throw fail(spec, `${shown} is a symlink to ${walk.leadsTo}; nsbox follows no symlink in a host path that a sandbox, the project or another user could have placed: name the real path if that is what you mean`, "BAD_OPTION", path);
  }
  if (spec.optional) return undefined;
  if (walk.notDir) throw fail(spec, `${path}: ${walk.notDir} is not a directory`, "PATH_NOT_FOUND", path);
  throw new NsboxError("PATH_NOT_FOUND", `${spec.origin}: ${path}: no such file or directory`, {
    option: spec.option, path, hint: missingHint(spec),
  });
}

/** The library's mounts skip a missing source with `optional: true`, the command line and config files with the -try form. */
function missingHint(spec: MountSpec): string | undefined {
  const entry = /^mounts\[\d+\]/.exec(spec.origin)?.[0];
  if (!TRY_KINDS.includes(spec.kind)) return "create it first"; // --file has no -try form to suggest
  if (entry) return `create it first, or set optional: true in ${entry} to skip it when it is missing`;
  if (!spec.option) return undefined;
  // `--ro-bind data:2024:/data` took `data` as the source: the first unescaped ':' split it.
  const value = spec.origin.startsWith("--") ? spec.origin.slice(spec.origin.indexOf(" ") + 1).replace(/^'(.*)'$/s, "$1") : "";
  const colon = (value.match(/(?<!\\):/g) ?? []).length >= 2 ? `; a ':' inside a path is written \\: (${spec.option} '${value.replace(/(?<!\\):/, "\\:")}')` : "";
  // A shell expands ~bob; nsbox only ~ and ~/…, so '~bob/x' is a directory named ~bob here.
  const tilde = spec.origin.startsWith("--") && /^~[^/]/.test(spec.source ?? "") ? `; only ~ and ~/… mean your home: ${spec.source!.split("/")[0]} is a name in the current directory` : "";
  return `create it first, or use ${spec.option}-try to skip it when it is missing${colon}${tilde}`;
}

/**
 * A path made read-only or hidden inside a writable share can't be moved (it is a mount point),
 * but a directory above it could (`mv data data2`): the host keeps the file at data2/secret.txt,
 * where the next run's `--hide-try ./data/secret.txt` no longer finds it. So each directory
 * between the share's root and the path is bound over itself first (a mount point can't be
 * renamed), as plan/protected.ts pins the parents of what it guards. Not when options placed
 * mounts below one already: bound again from the host, it would cover them.
 */
function pinParents(b: PlanBuilder, dst: string, why: Purpose): void {
  const share = b.coverAt(dst);
  if (!share.writesHost) return;
  const parents: string[] = [];
  for (let p = dirname(dst); p !== share.at && isAncestorOrSelf(share.at, p); p = dirname(p)) parents.unshift(p);
  for (const p of parents) {
    // A symlink or a missing directory on the way: the target's own checks refuse it, in its words.
    if (b.kindAt(p) !== "dir") return;
    const here = b.coverAt(p);
    if (here.at === p || !here.writesHost || b.mountsBelow(p)) continue;
    b.bind(here.host!, p, { readOnly: false, isDir: true, why: { ...why, what: `pin ${p} in place, to ${why.what}`, path: p } });
  }
}

/** What the option does, in words completing "can't …" (a kernel refusal names it). */
function action(spec: MountSpec, host: Host): string {
  const src = spec.source === undefined ? "" : spec.kind === "symlink" ? spec.source : expandPath(spec.source, host);
  const dst = expandPath(spec.target, host);
  const at = dst === src ? "" : ` at ${dst}`;
  switch (spec.kind) {
    case "ro": case "ro-bind": return `bind ${src}${at} read-only`;
    case "rw": case "bind": return `bind ${src}${at} writable`;
    case "dev-bind": return `bind ${src}${at} with its devices`;
    case "hide": return `hide ${dst}`;
    case "tmpfs": return `mount a tmpfs at ${dst}`;
    case "dir": return `create the directory ${dst}`;
    case "file": return `place the content of ${src} at ${dst}`;
    case "symlink": return `create the symlink ${dst} → ${src}`;
    case "overlay": return `mount an overlay over ${src}${spec.upper ? `, its changes kept in ${expandPath(spec.upper, host)}` : ""}`;
  }
}

function target(spec: MountSpec, host: Host): string {
  const path = expandPath(spec.target, host);
  if (path === "/" || path === "/dev") throw fail(spec, `cannot replace ${path === "/" ? "the sandbox's root" : "/dev"}`);
  if (MANAGED.some((m) => isAncestorOrSelf(m, path))) throw fail(spec, `${path} is managed by nsbox`);
  return path;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split(".").map((n) => parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

/**
 * Append the ops for `specs` (after the default view, before leaving the host). Returns the
 * host directories to remove after the run (overlay work directories).
 */
export function mountOps(b: PlanBuilder, specs: MountSpec[], host: Host): string[] {
  const cleanup: string[] = [];
  let staged = 0;
  const stage = (name: string) => `/nsbox-${name}-${staged++}`;
  let contents = 0;
  for (const spec of specs) {
    const why: Purpose = { what: action(spec, host), origin: spec.origin, option: spec.option, path: spec.target };
    switch (spec.kind) {
      case "ro":
      case "rw":
      case "bind":
      case "ro-bind":
      case "dev-bind": {
        const src = source(spec, host);
        if (src === undefined) break;
        const isDir = src.st.isDirectory();
        const readOnly = spec.kind === "ro" || spec.kind === "ro-bind";
        const attrs = spec.kind === "dev-bind" ? ATTR.NOSUID : ATTR.NOSUID | ATTR.NODEV;
        const dst = target(spec, host);
        // `--rw .git/config` inside a writable share only opens a protected path: bound again,
        // it would stay a mount point, and git's rename onto it would fail (EBUSY).
        const here = b.coverAt(dst);
        if (spec.kind === "rw" && here.writesHost && here.host === src.path && !b.mountsBelow(dst)) break;
        if (readOnly) pinParents(b, dst, why);
        b.bind(src.path, dst, { readOnly, isDir, why, attrs });
        // A writable share: its git hooks and config, .envrc, editor tasks stay read-only inside.
        if (!readOnly && isDir) protectShare(b, dst, why, host, openedPaths(specs, host));
        break;
      }
      case "hide": {
        const dst = target(spec, host);
        const kind = b.kindAt(dst);
        if (kind === "dir" || kind === "file") pinParents(b, dst, why);
        // Not in the sandbox's view: nothing to hide if the host has it (it is hidden already).
        if (kind === "missing" && !existsSync(dst) && !spec.optional) {
          throw new NsboxError("PATH_NOT_FOUND", `${spec.origin}: ${dst}: no such file or directory`, { option: spec.option, path: dst, hint: missingHint(spec) });
        }
        if (kind === "dir") b.tmpfs(dst, tmpfsOptions("hidden", "0000"), why).setattr(dst, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, why);
        else if (kind === "file") {
          const empty = stage("hidden");
          b.push({ op: "WRITE_FILE", path: empty, content: "", create: true, why });
          b.prepare(dst, "file", why)
            .push({ op: "MOUNT", source: empty, target: sandboxPath(dst), flags: MS.BIND, noSymlinks: true, why })
            .setattr(dst, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, why);
        } else if (kind === "symlink") throw fail(spec, `${dst} is a symlink inside the sandbox; hide the real path`);
        break; // missing inside: already hidden
      }
      case "tmpfs": {
        // Capped like /tmp unless the option says otherwise (plan/tmpfs.ts).
        b.tmpfs(target(spec, host), tmpfsOptions("scratch", spec.mode!.toString(8).padStart(4, "0"), { size: spec.size, inodes: spec.inodes }), why);
        break;
      }
      case "dir": {
        const dst = target(spec, host);
        if (b.kindAt(dst) !== "missing") throw fail(spec, `${dst} already exists inside the sandbox`);
        b.prepare(dst, "dir", why, spec.mode);
        break;
      }
      case "file": {
        const src = source(spec, host)!;
        if (!src.st.isFile()) throw fail(spec, `${src.path} is ${fileKind(src.st.mode)}, not a regular file`);
        let content: Buffer;
        const together = `makes the --file contents together more than ${MAX_FILE_TOTAL >> 20} MiB; bind large files with --ro instead`;
        if (Number(src.st.size) <= MAX_FILE_CONTENT && contents + Number(src.st.size) > MAX_FILE_TOTAL) throw fail(spec, `${src.path} ${together}`);
        try {
          content = readChecked(src.path, src.st, Math.min(MAX_FILE_CONTENT, MAX_FILE_TOTAL - contents), Number(src.st.size) > MAX_FILE_CONTENT ? "is larger than 16 MiB; bind it with --ro instead" : together);
        } catch (e) {
          throw fail(spec, `${src.path} ${(e as Error).message}`, "PATH_NOT_FOUND", src.path);
        }
        contents += content.length;
        const staging = stage("file");
        const dst = target(spec, host);
        b.push({ op: "WRITE_FILE", path: staging, content, mode: 0o644, create: true, why })
          .prepare(dst, "file", why)
          .push({ op: "MOUNT", source: staging, target: sandboxPath(dst), flags: MS.BIND, noSymlinks: true, why })
          .setattr(dst, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, why);
        break;
      }
      case "symlink":
        b.symlink(spec.source!, target(spec, host), why);
        break;
      case "overlay":
        overlay(b, spec, host, why, stage, cleanup);
        break;
    }
  }
  return cleanup;
}

/** Descriptor slots the executor holds an overlay's host layers at, named /oldroot/proc/self/fd/N. */
const SLOT = { lower: FD.HOLD_LOWER, upper: FD.HOLD_UPPER, work: FD.HOLD_WORK };
const heldPath = (slot: number) => hostPath(`/proc/self/fd/${slot}`);

/**
 * An overlay's upper or work directory on the host: the sandbox's writes land there, so it must
 * be the user's own and no one else's to read or change. Reached without an untrusted symlink
 * (an upper through `changes -> .` put whiteouts into the project); an existing one is a
 * directory of the user that no one else may write (in sticky, world-writable /tmp another user
 * can create /tmp/changes or /tmp/.changes.nsbox-work first, then read and inject); a missing one
 * is created mode 0700, and must still be missing when the sandbox creates it.
 */
function privateDir(spec: MountSpec, host: Host, path: string, what: string): { path: string; st?: BigIntStats; missing: string[] } {
  let walk: ReturnType<typeof walkHostPath>;
  try {
    walk = walkHostPath(path);
  } catch (e) {
    throw fail(spec, `the ${what} directory ${path}: ${walkError(e)}`);
  }
  if (!walk.ok && "link" in walk) {
    throw fail(spec, `${walk.link} is a symlink to ${walk.leadsTo}; the ${what} directory must be reached without one a sandbox or another user could have placed: name the real path`);
  }
  if (walk.ok) {
    const st = walk.st;
    const uid = host.uid;
    if (!st.isDirectory()) throw fail(spec, `the ${what} directory ${walk.path} is ${fileKind(st.mode)}, not a directory`);
    if (st.uid !== BigInt(uid)) {
      throw fail(spec, `the ${what} directory ${walk.path} belongs to uid ${st.uid}, not you: its owner could read and change what the sandbox writes; remove it or choose a directory of your own`);
    }
    // Group-writable is fine when the group is the user's private one (umask 002 systems).
    const privateGroup = st.gid === BigInt(host.gid) && host.group === host.user;
    if (Number(st.mode) & (privateGroup ? 0o002 : 0o022)) {
      throw fail(spec, `the ${what} directory ${walk.path} is writable by others (mode ${(Number(st.mode) & 0o7777).toString(8)}): run chmod go-w ${walk.path}, or choose another`);
    }
    return { path: walk.path, st, missing: [] };
  }
  const missing: string[] = [];
  for (let d = walk.path; isAncestorOrSelf(walk.missing, d); d = dirname(d)) missing.unshift(d);
  return { path: walk.path, missing };
}

/** The host's mount points strictly below `dir` (mountinfo's field 5, its octal escapes undone). */
function mountsBelow(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return []; // no /proc: the kernel's refusal is worded after the fact
  }
  const prefix = dir === "/" ? "/" : `${dir}/`;
  return info.split("\n").map((l) => l.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((m, i, all): m is string => m !== undefined && m !== dir && m.startsWith(prefix) && all.indexOf(m) === i);
}

/**
 * The kernel refuses (EINVAL) an overlay layer with mounts below it in a user namespace: the
 * mounts nsbox inherits from the host are locked there, and overlayfs does not take a layer whose
 * submounts it could not carry along. Known before fork: said with the mounts and the fix.
 */
function refuseSubmounts(spec: MountSpec, dir: string, what: string): void {
  const below = mountsBelow(dir);
  if (below.length === 0) return;
  const shown = below.length > 3 ? `${below.slice(0, 3).join(", ")} and ${below.length - 3} more` : below.join(", ");
  throw new NsboxError("BAD_OPTION", `${spec.origin}: the ${what} ${dir} has mounts below it (${shown}), and the kernel takes no overlay layer with submounts in a user namespace`, {
    option: spec.option, path: dir, hint: what === "directory"
      ? `overlay a directory without mounts below it (e.g. each mount on its own, --overlay ${below[0]}), or share ${dir} with --ro or --rw instead`
      : "keep the changes in a directory without mounts below it",
  });
}

function overlay(b: PlanBuilder, spec: MountSpec, host: Host, why: Purpose, stage: (n: string) => string, cleanup: string[]): void {
  if (!kernelAtLeast(5, 11)) throw fail(spec, `overlays in a user namespace need Linux 5.11 or later (this is ${release()})`);
  const lower = source(spec, host);
  if (lower === undefined) {
    // --overlay-try of a missing path is skipped, but what the sandbox makes there lands on
    // the host, which the overlay promised not to change (`-p test`'s `.venv`, that uv, poetry
    // and VS Code then run by themselves): moved aside after the run.
    watchMissing(b, expandPath(spec.source!, host), target(spec, host));
    return;
  }
  if (!lower.st.isDirectory()) throw fail(spec, `${lower.path} is ${fileKind(lower.st.mode)}, not a directory`);
  refuseSubmounts(spec, lower.path, "directory");
  const dst = target(spec, host);
  why = { ...why, path: lower.path }; // a refusal looks at what is mounted below it (explain.ts)
  const ops: Op[] = [{ op: "HOLD", path: hostPath(lower.path), identity: identity(lower.st), slot: SLOT.lower, why }];
  let upper: string;
  let work: string;
  if (spec.upper) {
    const u = privateDir(spec, host, expandPath(spec.upper, host), "upper");
    if (isAncestorOrSelf(lower.path, u.path) || isAncestorOrSelf(u.path, lower.path)) throw fail(spec, `the upper directory ${u.path} may not be inside ${lower.path} or contain it`);
    if (u.st) refuseSubmounts(spec, u.path, "upper directory");
    const w = privateDir(spec, host, join(dirname(u.path), `.${basename(u.path)}.nsbox-work`), "work");
    // The kernel wants the work directory on the upper's file system (EINVAL otherwise): an upper
    // that is itself a mount point (a tmpfs on ./changes) has its sibling on the parent's.
    if (u.st) {
      let workDev: bigint | undefined = w.st?.dev;
      try {
        workDev ??= lstatSync(dirname(u.path), { bigint: true }).dev;
      } catch {}
      if (workDev !== undefined && workDev !== u.st.dev) {
        throw new NsboxError("BAD_OPTION", `${spec.origin}: the upper directory ${u.path} is on another file system than ${w.path}, the work directory the kernel needs beside it (is ${u.path} a mount point?)`, {
          option: spec.option, path: u.path, hint: `keep the changes in a directory inside it, e.g. ${join(u.path, "changes")}`,
        });
      }
    }
    // Created when the sandbox starts (as the user, through the host's root), not while
    // planning: a dry run or a plan refused later leaves nothing behind. Each must be new then.
    const made = new Set<string>();
    for (const [dir, slot] of [[u, SLOT.upper], [w, SLOT.work]] as const) {
      for (const d of dir.missing) {
        if (made.has(d)) continue;
        made.add(d);
        ops.push({ op: "MKDIR", path: hostPath(d), mode: d === dir.path ? 0o700 : 0o755, noSymlinks: true, mustBeNew: true, why });
      }
      ops.push({ op: "HOLD", path: hostPath(dir.path), identity: dir.st ? identity(dir.st) : "mine", slot, why });
    }
    cleanup.push(w.path);
    [upper, work] = [heldPath(SLOT.upper), heldPath(SLOT.work)];
  } else {
    const layer = stage("overlay");
    ops.push({ op: "MKDIR", path: layer, mode: 0o700, why },
      { op: "MOUNT", source: "tmpfs", target: layer, fstype: "tmpfs", data: tmpfsOptions("overlay", "0700"), flags: MS.NOSUID | MS.NODEV, why },
      { op: "MKDIR", path: `${layer}/upper`, mode: 0o755, why },
      { op: "MKDIR", path: `${layer}/work`, mode: 0o700, why });
    [upper, work] = [`${layer}/upper`, `${layer}/work`];
  }
  for (const op of ops) b.push(op);
  b.overlay(lower.path, heldPath(SLOT.lower), dst, upper, work, why);
  for (const slot of spec.upper ? [SLOT.lower, SLOT.upper, SLOT.work] : [SLOT.lower]) b.push({ op: "HOLD", slot, why });
}
