// SandboxOptions: the one description of every option, shared by the CLI and the library. Checked
// and resolved by src/options/normalize.ts; defined option by option in src/options/defs.ts.
import type { MountSpec } from "./plan/mount-spec.ts";

/** How a sandbox is made. Every field is optional; the defaults are the safe ones. */
export interface SandboxOptions {
  /** User id the payload sees itself as (default 0, root inside; the caller outside). */
  uid?: number;
  /** Group id the payload sees itself as (default 0). */
  gid?: number;
  /**
   * Ids inside: "single" (default) maps only yours, and a change to another id completes as it
   * would for an unprivileged user (chown leaves the owner, setuid is EPERM); "auto" maps your
   * range from /etc/subuid and /etc/subgid too, with newuidmap, where the system gives one.
   */
  idMap?: "single" | "auto";
  /** Host name inside (default "nsbox"), at most 64 characters. */
  hostname?: string;
  /** Mount propagation from the host into the sandbox: none ("private", default) or one-way ("slave"). */
  propagation?: "private" | "slave";
  /** Variables to set inside, after scrubbing. */
  env?: Record<string, string>;
  /** Variables to keep even though their names look like secrets. */
  keepEnv?: string[];
  /** Start from an empty environment (PATH, HOME, PWD and TERM are still set). */
  clearEnv?: boolean;
  /** The host directory the payload starts in and that is shared read-write (default: the current directory). */
  cwd?: string;
  /** Report each setup step as it runs. */
  verbose?: boolean;
  /** Filesystem changes (--ro, --rw, --bind, --tmpfs, --overlay, …), applied in order after the default view. */
  mounts?: MountSpec[];
  /** The directory the command starts in, inside (default: the shared current directory, else $HOME). */
  chdir?: string;
  /** Do not share the current directory. */
  noCwd?: boolean;
  /**
   * The toolchains on the caller's PATH below $HOME (~/.bun/bin, nvm's, rustup's, ~/.local/bin…)
   * and the Bun nsbox runs on, read-only inside without their credentials files: "on" (default) or "off".
   */
  homeTools?: "on" | "off";
  /** Capabilities the payload keeps (none by default): names like "CAP_NET_RAW", or "ALL". */
  capAdd?: string[];
  /** Capabilities removed from capAdd (useful with "ALL"). */
  capDrop?: string[];
  /** The syscall filter: "default", "none", or the path of a compiled classic-BPF program. */
  seccomp?: string;
  /** Allow new user namespaces inside (nested sandboxes); refused by the filter otherwise. */
  allowNested?: boolean;
  /** Landlock, the second wall behind the mounts: "on" (default, where the kernel has it) or "off". */
  landlock?: "on" | "off";
  /** POSIX resource limits, "NAME=SOFT[:HARD]" (nofile, nproc, as, fsize, cpu, core, …); core is 0 unless set. */
  rlimits?: string[];
  /**
   * Kill the whole sandbox after this many milliseconds (exit status 124, as timeout(1)): from 1
   * to 2147483647 (2^31-1, about 24.8 days, the longest a timer can wait), as Bun.spawn's
   * `timeout`. On the command line and in config files it is a duration ("30s", "5m").
   */
  timeout?: number;
  /** Memory limit through a delegated cgroup v2, e.g. "512m". */
  memory?: string;
  /** Process limit through a delegated cgroup v2. */
  pids?: string;
  /** The network, in order given: "none" (default), "host", or "allow=RULE[,RULE…]" (rules accumulate). */
  net?: string[];
  /**
   * Host Unix sockets (paths) the sandbox may connect to although they were made outside it
   * (an ssh or gpg agent): each must exist and be a socket; one outside the view is bound in at
   * the same path. Every other socket made outside the sandbox is refused (src/net/unix-socket.ts).
   */
  allowSockets?: string[];
  /** Write every network decision as JSON lines to this file. */
  netLog?: string;
  /**
   * Descriptors of this process to hand the command at the same numbers (3 and above): each must
   * be open, and neither a terminal nor the runtime's own. Nothing else of the caller's is passed.
   */
  passFds?: number[];
  /** The sandbox's name for nsbox ps, inspect, exec and stop (default: a short generated id). */
  name?: string;
}

/**
 * Policy files a trusted project profile names, with the sha256 trust was checked against: the
 * plan installs a file's content only if it is still that (src/plan/hardening.ts). A symbol, so
 * no config file or library caller's plain object can set it.
 */
export const PINNED_FILES = Symbol("nsbox.pinnedFiles");
export type Pinned = { [PINNED_FILES]?: Record<string, string> };
