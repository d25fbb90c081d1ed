// --allow-socket PATH: the host Unix sockets the sandbox may connect to although they were made
// outside it, resolved before fork to (dev, ino), and bound in at the same path when not in the view.
import { NsboxError } from "../errors.ts";
import { fileKind } from "../errno.ts";
import type { Host } from "../host.ts";
import type { SandboxOptions } from "../options.ts";
import { originOf } from "../options/normalize.ts";
import { shellWord } from "../options/problem.ts";
import type { PlanBuilder } from "./builder.ts";
import { expandPath, walkError, walkHostPath } from "./host-path.ts";
import { isAncestorOrSelf } from "./builder.ts";

/** A socket the user allowed: its path (host and inside) and the identity connections are checked against. */
export interface AllowedSocket {
  path: string;
  dev: bigint;
  ino: bigint;
}

/** How a message names one value: `--allow-socket ./agent.sock`, the config file's key, or the library's. */
function label(o: SandboxOptions, value: string): { text: string; option: string } {
  const origin = originOf(o, "allowSockets");
  if (origin.from === "config") return { text: `${origin.where} ${JSON.stringify(value)}`, option: "allow-socket" };
  if (origin.from === "library") return { text: `The \`allowSockets\` option ${JSON.stringify(value)}`, option: "allowSockets" };
  return { text: `--allow-socket ${shellWord(value)}`, option: "--allow-socket" };
}

/** Whether the last of the user's mounts that covers `path` is an overlay (a socket there is the overlay's inode, not the host's). */
function overlaid(o: SandboxOptions, path: string, host: Host): boolean {
  const last = [...(o.mounts ?? [])].reverse().find((m) => isAncestorOrSelf(expandPath(m.target, host), path));
  return last?.kind === "overlay";
}

/**
 * Security decision: each path is resolved on the host as the other host paths of the plan are
 * (walkHostPath: a symlink that a sandbox, the project or another user could have planted is
 * refused, never followed), and must be a socket now. What the sandbox may reach is that inode,
 * (dev, ino), not the name: a socket later made at the same path (by the payload, in a shared
 * directory) is another one, and is refused unless the sandbox made it.
 */
export function allowSocketOps(b: PlanBuilder, o: SandboxOptions, host: Host): AllowedSocket[] {
  return resolveAllowedSockets(o, host, (path, text, option) => {
    const seen = b.viewsOf(path).some((v) => v.at === path) && !overlaid(o, path, host);
    if (!seen) b.bind(path, path, { readOnly: false, isDir: false, why: { what: `show the socket ${path} at the same path`, option, origin: text, path } });
  });
}

/**
 * The allowed sockets, each checked as allowSocketOps says; `place` is called for each new one
 * (the start binds it in; nsbox exec finds it where the start placed it).
 */
export function resolveAllowedSockets(o: SandboxOptions, host: Host, place?: (path: string, text: string, option: string) => void): AllowedSocket[] {
  const allowed: AllowedSocket[] = [];
  for (const value of o.allowSockets ?? []) {
    // nsbox exec (no `place`): a socket gone since the start (its agent ended) is simply not allowed.
    if (!place) {
      try {
        allowed.push(...resolveAllowedSockets({ ...o, allowSockets: [value] }, host, () => {}).filter((a) => !allowed.some((b) => a.dev === b.dev && a.ino === b.ino)));
      } catch {}
      continue;
    }
    const { text, option } = label(o, value);
    const path = expandPath(value, host);
    const fail = (problem: string, hint: string) => new NsboxError("BAD_OPTION", `${text}: ${problem}`, { option, path, hint });
    let walk: ReturnType<typeof walkHostPath>;
    try {
      walk = walkHostPath(path);
    } catch (e) {
      throw fail(`${path}: ${walkError(e)}`, "name a socket nsbox can reach");
    }
    if (!walk.ok && "link" in walk) {
      throw fail(`${walk.link} is a symlink to ${walk.leadsTo}; nsbox follows no symlink a sandbox, the project or another user could have placed`, "name the real path of the socket");
    }
    const at = (p: string) => (p === value ? "" : `${p}: `);
    if (!walk.ok && walk.notDir) throw fail(`${at(path)}${walk.notDir} is not a directory`, "name the Unix socket a program listens on");
    if (!walk.ok) throw fail(`${at(path)}no such file or directory`, "start the program that listens there first, or name the socket it made");
    if (!walk.st.isSocket()) throw fail(`${walk.path === value ? "it" : walk.path} is ${fileKind(walk.st.mode)}, not a socket`, "name the Unix socket a program listens on");
    if (allowed.some((a) => a.dev === walk.st.dev && a.ino === walk.st.ino)) continue;
    allowed.push({ path: walk.path, dev: walk.st.dev, ino: walk.st.ino });
    place(walk.path, text, option);
  }
  return allowed;
}

/**
 * The caller's variables that name an allowed socket (SSH_AUTH_SOCK=/run/…/agent.sock,
 * DOCKER_HOST=unix:///run/docker.sock), kept although their names look like secrets: the scrub
 * drops them because the socket is a way back to the host, and the user has just opened that
 * way. Only a value that is exactly the allowed path (or unix:// and it) is kept; not with
 * --clear-env, which keeps nothing unasked.
 */
export function allowedSocketEnv(env: Record<string, string | undefined>, allowed: readonly AllowedSocket[], clear: boolean): Record<string, string> {
  if (clear || allowed.length === 0) return {};
  const paths = new Set(allowed.map((a) => a.path));
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (paths.has(value) || (value.startsWith("unix://") && paths.has(value.slice(7))))) kept[name] = value;
  }
  return kept;
}
