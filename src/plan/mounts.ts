// The user's filesystem options (MountSpecs) as ops, in order, with every path resolved and checked before fork.
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { release } from "node:os";
import { NsboxError } from "../errors.ts";
import type { Host } from "../host.ts";
import type { Purpose } from "../ops.ts";
import { ATTR, MS, OPF, PlanBuilder, hostPath, isAncestorOrSelf, sandboxPath } from "./builder.ts";
import type { MountSpec } from "./mount-spec.ts";
import { openedPaths, protectShare, watchMissing } from "./protected.ts";
import { tmpfsOptions } from "./tmpfs.ts";

/** Trees nsbox itself manages inside; user options may not mount in them (devices may go in /dev). */
const MANAGED = ["/proc", "/dev/pts"];
const MAX_FILE_CONTENT = 16 << 20;

/** `~` is the real home; a relative path is relative to the current directory. */
export function expandPath(path: string, host: Host): string {
  if (path === "~") return host.home;
  if (path.startsWith("~/")) return join(host.home, path.slice(2));
  return resolve(host.cwd, path);
}

function fail(spec: MountSpec, problem: string, code: "BAD_OPTION" | "PATH_NOT_FOUND" = "BAD_OPTION", path?: string): NsboxError {
  return new NsboxError(code, `${spec.origin}: ${problem}`, { option: spec.option, path });
}

/** The host source, resolved through symlinks; undefined when missing and optional. */
function source(spec: MountSpec, host: Host): string | undefined {
  const path = expandPath(spec.source!, host);
  try {
    return realpathSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (spec.optional && (code === "ENOENT" || code === "ENOTDIR")) return undefined;
    throw fail(spec, `${path}: ${code === "EACCES" ? "permission denied" : "no such file or directory"}`, "PATH_NOT_FOUND", path);
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
  for (const spec of specs) {
    const why: Purpose = { what: spec.origin, option: spec.option, path: spec.target };
    switch (spec.kind) {
      case "ro":
      case "rw":
      case "bind":
      case "ro-bind":
      case "dev-bind": {
        const src = source(spec, host);
        if (src === undefined) break;
        const isDir = statSync(src).isDirectory();
        const readOnly = spec.kind === "ro" || spec.kind === "ro-bind";
        const attrs = spec.kind === "dev-bind" ? ATTR.NOSUID : ATTR.NOSUID | ATTR.NODEV;
        const dst = target(spec, host);
        // `--rw .git/config` inside a writable share only opens a protected path: bound again,
        // it would stay a mount point, and git's rename onto it would fail (EBUSY).
        const here = b.coverAt(dst);
        if (spec.kind === "rw" && here.writesHost && here.host === src && !b.mountsBelow(dst)) break;
        b.bind(src, dst, { readOnly, isDir, why, attrs });
        // A writable share: its git hooks and config, .envrc, editor tasks stay read-only inside.
        if (!readOnly && isDir) protectShare(b, dst, why, host, openedPaths(specs, host));
        break;
      }
      case "hide": {
        const dst = target(spec, host);
        const kind = b.kindAt(dst);
        // Not in the sandbox's view: nothing to hide if the host has it (it is hidden already).
        if (kind === "missing" && !existsSync(dst) && !spec.optional) throw fail(spec, `${dst}: no such file or directory`, "PATH_NOT_FOUND", dst);
        if (kind === "dir") b.tmpfs(dst, tmpfsOptions("hidden", "0000"), why).setattr(dst, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, why);
        else if (kind === "file") {
          const empty = stage("hidden");
          b.push({ op: "WRITE_FILE", s1: empty, s2: "", a: 0, b: 0, flags: OPF.CREATE, why });
          b.prepare(dst, "file", why)
            .push({ op: "MOUNT", s1: empty, s2: sandboxPath(dst), a: MS.BIND, flags: OPF.NO_SYMLINKS, why })
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
        if (!statSync(src).isFile()) throw fail(spec, `${src} is not a regular file`);
        let content: Buffer;
        try {
          content = readFileSync(src);
        } catch (e) {
          throw fail(spec, `can't read ${src}: ${(e as NodeJS.ErrnoException).code === "EACCES" ? "permission denied" : (e as Error).message}`, "PATH_NOT_FOUND", src);
        }
        if (content.length > MAX_FILE_CONTENT) throw fail(spec, `${src} is larger than 16 MiB; bind it with --ro instead`);
        const staging = stage("file");
        const dst = target(spec, host);
        b.push({ op: "WRITE_FILE", s1: staging, data: content, a: content.length, b: 0o644, flags: OPF.CREATE, why })
          .prepare(dst, "file", why)
          .push({ op: "MOUNT", s1: staging, s2: sandboxPath(dst), a: MS.BIND, flags: OPF.NO_SYMLINKS, why })
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

/** `dir` and its missing ancestors on the host, outermost first. */
function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && d !== "/"; d = dirname(d)) missing.unshift(d);
  return missing;
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
  if (!statSync(lower).isDirectory()) throw fail(spec, `${lower} is not a directory`);
  const dst = target(spec, host);
  let upper: string;
  let work: string;
  if (spec.upper) {
    const dir = expandPath(spec.upper, host);
    if (isAncestorOrSelf(lower, dir) || isAncestorOrSelf(dir, lower)) throw fail(spec, `the upper directory ${dir} may not be inside ${lower} or contain it`);
    const workDir = join(dirname(dir), `.${basename(dir)}.nsbox-work`);
    // Created when the sandbox starts (as the user, through the host's root), not while
    // planning: a dry run or a plan refused later leaves nothing behind.
    for (const d of [...missingDirs(dir), ...missingDirs(workDir)]) b.push({ op: "MKDIR", s1: hostPath(d), a: 0o755, why });
    cleanup.push(workDir);
    [upper, work] = [hostPath(dir), hostPath(workDir)];
  } else {
    const layer = stage("overlay");
    b.push({ op: "MKDIR", s1: layer, a: 0o700, why })
      .push({ op: "MOUNT", s1: "tmpfs", s2: layer, s3: "tmpfs", s4: tmpfsOptions("overlay", "0700"), a: MS.NOSUID | MS.NODEV, why })
      .push({ op: "MKDIR", s1: `${layer}/upper`, a: 0o755, why })
      .push({ op: "MKDIR", s1: `${layer}/work`, a: 0o700, why });
    [upper, work] = [`${layer}/upper`, `${layer}/work`];
  }
  for (const p of [lower, upper, work]) {
    if (/[,:\\]/.test(p)) throw fail(spec, `overlay paths may not contain ',', ':' or '\\' (${p})`);
  }
  b.overlay(lower, dst, upper, work, why);
}
