// nsbox's runtime directory (the registry of named sandboxes) is never visible inside a sandbox unless the user names it.
import { lstatSync, mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { NsboxError } from "../errors.ts";
import type { Host } from "../host.ts";
import { ATTR, isAncestorOrSelf, type PlanBuilder } from "./builder.ts";

/**
 * Where this user's nsbox runs keep their registry: $XDG_RUNTIME_DIR/nsbox and /tmp/nsbox-UID
 * (registry.ts runtimeDir), and /run/user/UID/nsbox, the usual $XDG_RUNTIME_DIR of the user's
 * other sessions: a run from one without it (su, cron, a service) may share /run/user/UID while
 * the desktop's sandboxes serve their sockets there.
 */
export function registryDirs(host: Pick<Host, "env" | "uid">): string[] {
  const xdg = host.env.XDG_RUNTIME_DIR;
  const dirs = [...(xdg?.startsWith("/") ? [join(xdg, "nsbox")] : []), `/run/user/${host.uid}/nsbox`, `/tmp/nsbox-${host.uid}`];
  return [...new Set(dirs)];
}

const realDir = (path: string): string | undefined => {
  try {
    return lstatSync(path).isDirectory() ? realpathSync(path) : undefined;
  } catch {
    return undefined;
  }
};

/*
 * A payload that can write the registry can delete entries, and bind sockets there posing as
 * sandboxes. stop, exec and inspect believe only a server outside every sandbox (registry.ts),
 * so that is not a way out, but nothing inside needs the registry: a share that contains it
 * (the current directory, or --rw/--ro/--overlay of a directory above it) gets an empty,
 * read-only, mode 0000 tmpfs over it. Only a share of the runtime directory itself or a
 * directory inside it, named with --rw/--ro/--bind, shows it: the user asked for exactly that.
 * The current directory inside it is refused. A registry directory that does not exist yet
 * but whose parent is shared is created first, so that it can be covered.
 */
export function hideRegistry(b: PlanBuilder, host: Pick<Host, "env" | "uid">, shareDir: string | null): void {
  for (const path of registryDirs(host)) {
    let dir = realDir(path);
    if (dir === undefined) {
      const parent = realDir(join(path, ".."));
      if (parent === undefined || b.viewsOf(parent).length === 0) continue;
      try {
        mkdirSync(path, 0o700);
      } catch {}
      if ((dir = realDir(path)) === undefined) continue;
    }
    if (shareDir !== null && isAncestorOrSelf(dir, shareDir)) {
      throw new NsboxError("BAD_OPTION", `the current directory ${shareDir} is inside nsbox's runtime directory ${dir}, which no sandbox may see`, {
        path: shareDir,
        hint: "run nsbox from a project directory, or add --no-cwd",
      });
    }
    for (const view of b.viewsOf(dir)) {
      if (isAncestorOrSelf(dir, view.host)) continue; // a share of it, named by the user
      const why = { what: `hide nsbox's runtime directory ${dir}`, path: view.at };
      b.tmpfs(view.at, "mode=0000", why).setattr(view.at, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC, why);
    }
  }
}
