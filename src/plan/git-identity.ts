// git's commit identity inside: user.name and user.email from the user's own git configuration, and nothing else of it.
import { join } from "node:path";
import type { Host } from "../host.ts";
import { smallFileText } from "../small-file.ts";
import { type PlanBuilder, sandboxPath } from "./builder.ts";
import { GitConfigError, parseGitConfig } from "./git-config.ts";

/** The keys passed in: who commits, never how git authenticates or runs anything. */
export const IDENTITY_KEYS = ["user.name", "user.email", "author.name", "author.email", "committer.name", "committer.email"] as const;
/** A git config file is read up to this size; past it, it is left out. */
const MAX_CONFIG = 1024 * 1024;

export interface GitIdentity {
  /** The generated file's text, one byte a character as read ("" when there is no identity to pass). */
  text: string;
  /** Things the user should know: a file git would refuse, a value that was not passed. */
  notes: string[];
}

/**
 * The user's global git config files, in the order git reads them (a later one wins):
 * $GIT_CONFIG_GLOBAL alone when it is set, else $XDG_CONFIG_HOME/git/config (~/.config/git/config
 * when XDG_CONFIG_HOME is unset or empty), then ~/.gitconfig. Never a repository's .git/config
 * and never /etc/gitconfig (the sandbox reads that one itself: /etc is shared read-only). A
 * relative $GIT_CONFIG_GLOBAL or $XDG_CONFIG_HOME is skipped: git would read it from the current
 * directory, the project's, which is not the user's.
 */
export function globalConfigFiles(env: Record<string, string | undefined>, home: string): string[] {
  if (env.GIT_CONFIG_GLOBAL) return env.GIT_CONFIG_GLOBAL.startsWith("/") ? [env.GIT_CONFIG_GLOBAL] : [];
  const xdg = env.XDG_CONFIG_HOME || join(home, ".config");
  return [...(xdg.startsWith("/") ? [join(xdg, "git/config")] : []), join(home, ".gitconfig")];
}

/**
 * The identity keys of the user's git config files, as a config file for the sandbox:
 * `[user]` (and `[author]`, `[committer]`) with each value quoted. Security decision: only the
 * keys in IDENTITY_KEYS are taken, so credential helpers, `url.*.insteadOf` with tokens,
 * `http.extraHeader`, aliases and hooks stay outside; `include.path` and `includeIf` are not
 * followed (an identity kept in an included file is not passed: set it in ~/.gitconfig, or pass
 * GIT_AUTHOR_NAME and friends with --env). A value holding a control character (a newline
 * could start a `[core]` line of its own) is left out with a note; `\` and `"` are escaped, so
 * a value is always one quoted string. A file git would refuse is left out whole, with a note.
 */
export function gitIdentity(env: Record<string, string | undefined>, home: string, uid: number): GitIdentity {
  const values = new Map<string, string>();
  const notes: string[] = [];
  for (const file of globalConfigFiles(env, home)) {
    const text = readOwn(file, uid);
    if (text === undefined) continue;
    let entries: ReturnType<typeof parseGitConfig>;
    try {
      entries = parseGitConfig(text);
    } catch (e) {
      if (!(e instanceof GitConfigError)) throw e;
      notes.push(`${file} ${e.message}: git would refuse this file, so no git identity is taken from it; fix the line`);
      continue;
    }
    for (const [name, value] of entries) {
      if (!(IDENTITY_KEYS as readonly string[]).includes(name) || value === null) continue;
      values.set(name, value);
      if (!/[\x00-\x1f\x7f]/.test(value)) continue;
      values.delete(name);
      notes.push(`${file}: ${name} holds a control character (a newline or a tab), so it is not passed into the sandbox; write it on one line`);
    }
  }
  if (values.size === 0) return { text: "", notes };
  const quote = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  let text = "# written by nsbox: your git identity, and nothing else of your git configuration\n";
  for (const section of ["user", "author", "committer"]) {
    const keys = [...values].filter(([name]) => name.startsWith(section + "."));
    if (keys.length === 0) continue;
    text += `[${section}]\n${keys.map(([name, v]) => `\t${name.slice(section.length + 1)} = ${quote(v)}\n`).join("")}`;
  }
  return { text, notes };
}

/**
 * Ops that write the identity as ~/.gitconfig in the sandbox's empty home (git's global file:
 * a repository's own .git/config still wins, /etc/gitconfig is still read, and `git config
 * --global` inside writes there as it would at home). Nothing is written when there is no
 * identity, when the home is `/`, or when something already stands at ~/.gitconfig. Returns the
 * variables to set inside: GIT_CONFIG_GLOBAL, when the user set it, would name a file the
 * sandbox cannot see, so it names this one.
 */
export function gitIdentityOps(b: PlanBuilder, host: Host, home: string, notes: string[]): Record<string, string> {
  const identity = gitIdentity(host.env, host.home, host.uid);
  notes.push(...identity.notes);
  const file = join(home, ".gitconfig");
  if (identity.text === "" || home === "/" || b.kindAt(file) !== "missing") return {};
  const why = { what: "give git your identity (user.name, user.email; nothing else) in ~/.gitconfig", path: file };
  b.prepare(file, "file", why).push({ op: "WRITE_FILE", path: sandboxPath(file), content: Buffer.from(identity.text, "latin1"), why });
  return host.env.GIT_CONFIG_GLOBAL ? { GIT_CONFIG_GLOBAL: file } : {};
}

/**
 * The text of one of the user's config files, or undefined when it is missing or not to be
 * trusted: a regular file (a FIFO would block, a device could be anything) owned by the user or
 * root, at most MAX_CONFIG bytes, checked through the descriptor it is read from. A symlink is
 * followed (dotfile managers link ~/.gitconfig): only two identity values are ever taken from
 * what it names. Group- and world-writable files are accepted as git accepts them: what another
 * user could write there is an author name, not a way to run code.
 */
function readOwn(path: string, uid: number): string | undefined {
  // One character a byte: a name in any encoding is passed as the bytes git would read.
  return smallFileText(path, { max: MAX_CONFIG, follow: true, accept: (st) => (st.uid === uid || st.uid === 0 ? undefined : "not the user's") }, "latin1");
}
