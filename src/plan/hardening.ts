// The payload's last steps before exec: no_new_privs, capabilities, Landlock, resource limits, seccomp.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { notAFile, readChecked, walkError, walkHostPath } from "./host-path.ts";
import { NsboxError } from "../errors.ts";
import { PINNED_FILES, type Pinned, type SandboxOptions } from "../options.ts";
import { sha256 } from "../digest.ts";
import type { PlanBuilder } from "./builder.ts";
import { keptCapabilities, parseRlimit } from "./privileges.ts";
import { originOf, resolved } from "../options/normalize.ts";
import { optionOf, originText } from "../options/problem.ts";
import { seccompProgram, type MappedIds } from "./seccomp.ts";

/** The ids the user namespace maps (the filter completes calls naming others), and the capabilities kept for them. */
export interface IdPolicy {
  mapped: MappedIds;
  caps: string[];
}

const CAP_SYS_ADMIN = 21;

/** cgroup limits need a cgroup v2 subtree the user may write (a systemd user session delegates one). */
function refuseCgroupLimits(o: SandboxOptions): void {
  for (const [key, value] of [["memory", o.memory], ["pids", o.pids]] as const) {
    if (value === undefined) continue;
    let where = "this host has no unified cgroup v2 hierarchy";
    try {
      if (readFileSync("/proc/self/cgroup", "utf8").trim().startsWith("0::")) where = "this session has no delegated cgroup v2 subtree";
    } catch {}
    // Named as it was given: the flag, the config file's key, or the library's key (whose limits are `rlimits`).
    const origin = originOf(o, key);
    const library = origin.from === "library";
    const named = origin.from === "cli" ? `${origin.flag} ${value}` : `${originText(origin)}${library ? ` ${JSON.stringify(value)}` : ""}`;
    throw new NsboxError("BAD_OPTION", `${named}: needs a delegated cgroup v2, and ${where}`, {
      option: optionOf(origin) ?? `--${key}`,
      hint: library
        ? 'run your program inside a systemd user session (systemd-run --user --scope -p Delegate=yes …), or use rlimits: ["as=…"] (address space) and, as an unprivileged user, "nproc=…" instead'
        : "run nsbox inside a systemd user session (systemd-run --user --scope -p Delegate=yes nsbox …), or use --rlimit as (address space) and, as an unprivileged user, --rlimit nproc instead",
    });
  }
}

function seccompFilter(o: SandboxOptions, keptSysAdmin: boolean, ids?: MappedIds): Uint8Array | undefined {
  const kind = resolved(o).seccomp;
  if (kind.kind === "none") return undefined;
  // A nested sandbox mounts in its own namespaces: --allow-nested lets the mount calls through
  // (the kernel still locks what nsbox mounted; tests/view.test.ts tries to undo it from there).
  if (kind.kind === "default") return seccompProgram({ allowMounts: keptSysAdmin || (o.allowNested ?? false), allowNested: o.allowNested ?? false, ids });
  const choice = kind.path;
  let program: Uint8Array;
  // A file in the project may be a planted symlink (to /dev/zero, or a permissive filter) or a
  // FIFO: read as --file's content is (plan/host-path.ts).
  const where = resolve(choice);
  let walk: ReturnType<typeof walkHostPath>;
  try {
    walk = walkHostPath(where);
  } catch (e) {
    throw new NsboxError("BAD_OPTION", `--seccomp ${choice}: ${walkError(e)}`, { option: "--seccomp", path: choice });
  }
  if (!walk.ok && "link" in walk) {
    const odd = notAFile(walk.leadsTo);
    if (odd) throw new NsboxError("BAD_OPTION", `--seccomp ${choice}: ${walk.link} is ${odd}, not a file`, { option: "--seccomp", path: choice, hint: "write the compiled filter to a file and name that" });
    throw new NsboxError("BAD_OPTION", `--seccomp ${choice}: ${walk.link} is a symlink to ${walk.leadsTo}; nsbox follows no symlink a sandbox or another user could have placed: name the real path`, { option: "--seccomp", path: choice });
  }
  if (!walk.ok) throw new NsboxError("PATH_NOT_FOUND", `--seccomp ${choice}: ${"notDir" in walk && walk.notDir ? `${walk.notDir} is not a directory` : "no such file"}`, { option: "--seccomp", path: choice });
  try {
    program = readChecked(walk.path, walk.st, 8 * 4096);
  } catch (e) {
    throw new NsboxError("BAD_OPTION", `--seccomp ${choice}: ${walk.path} ${(e as Error).message}`, { option: "--seccomp", path: choice });
  }
  const pinned = (o as Pinned)[PINNED_FILES]?.[where];
  if (pinned !== undefined && sha256(Buffer.from(program)) !== pinned) {
    throw new NsboxError("UNTRUSTED_CONFIG", `--seccomp ${choice}: ${walk.path} is not the filter your trust was checked against (it was ${pinned ? "changed" : "missing or unusable"} while nsbox started)`, { option: "--seccomp", path: choice, hint: "run again when nothing is writing the project; if the change is yours, trust the file again" });
  }
  if (program.length === 0 || program.length % 8 !== 0 || program.length / 8 > 4096) {
    throw new NsboxError("BAD_OPTION", `--seccomp ${choice}: not a compiled classic-BPF program (a whole number of 8-byte instructions, at most 4096)`, { option: "--seccomp", path: choice });
  }
  return program;
}

/** `installed`: the filter a running sandbox got, for exec to install the same (plan/join.ts). */
export function hardeningOps(b: PlanBuilder, o: SandboxOptions, hostUid = process.getuid!(), installed?: Uint8Array, ids?: IdPolicy): void {
  refuseCgroupLimits(o);
  const r = resolved(o);
  const limits = [...r.rlimits];
  // The kernel never counts processes against RLIMIT_NPROC for the host's root user: the limit
  // would be silently void, so it is refused rather than pretended.
  if (hostUid === 0 && limits.some((l) => l.name === "nproc")) {
    throw new NsboxError("BAD_OPTION", "--rlimit nproc: the kernel does not apply this limit to processes of the host's root user, and nsbox runs as root here", {
      option: "--rlimit",
      hint: "run nsbox as an unprivileged user for a process limit (it is rootless: sudo is not needed)",
    });
  }
  // The command starts with stdin, stdout and stderr open, and a dynamically linked one needs a
  // fourth descriptor to load its libraries: below that it could only fail, blaming its loader.
  const nofile = limits.find((l) => l.name === "nofile");
  if (nofile && nofile.soft !== "inf" && Number(nofile.soft) < 4) {
    throw new NsboxError("BAD_OPTION", `--rlimit nofile=${nofile.soft}${nofile.hard !== nofile.soft ? `:${nofile.hard}` : ""}: too few for any command to start (stdin, stdout, stderr and one more to load its libraries): give 4 or more`, { option: "--rlimit" });
  }
  if (!limits.some((l) => l.name === "core")) limits.unshift(parseRlimit("core=0"));
  // Root inside a multi-id map keeps what owning files needs (plan/ids.ts ID_MAP_CAPS), less --cap-drop.
  const caps = ids?.caps.length ? keptCapabilities([...ids.caps, ...(o.capAdd ?? [])], o.capDrop) : r.caps;
  b.push({ op: "NO_NEW_PRIVS", why: { what: "set no_new_privs" } })
    .push({ op: "DROP_CAPS", keep: caps, why: { what: caps.names.length ? `drop capabilities but ${caps.names.join(" ")}` : "drop every capability", option: caps.names.length ? (o.capAdd?.length || !ids?.caps.length ? "--cap-add" : "--id-map") : undefined } });
  // Landlock refuses mount(2) to the processes it confines, so a nested sandbox cannot set
  // itself up under it: --allow-nested leaves it off unless --landlock on insists.
  if (o.landlock === "on" || (o.landlock === undefined && !o.allowNested)) {
    b.push({
      op: "LANDLOCK",
      read: ["/"], write: b.writableMounts(), dev: ["/dev", "/proc"],
      why: { what: "restrict filesystem access with Landlock", option: "--landlock" },
    });
  }
  // After Landlock, which needs descriptors (--rlimit nofile=3 would refuse it them), before
  // seccomp, which a filter file could make refuse setrlimit(2). Nothing after needs a descriptor.
  for (const l of limits) {
    b.push({ op: "SETRLIMIT", resource: l.resource, soft: l.soft, hard: l.hard, why: { what: `set the ${l.name} limit to ${l.soft}${l.hard !== l.soft ? `:${l.hard}` : ""}`, option: "--rlimit" } });
  }
  const keptSysAdmin = (caps.low & (1 << CAP_SYS_ADMIN)) !== 0;
  const filter = installed ?? seccompFilter(o, keptSysAdmin, ids?.mapped);
  if (filter) b.push({ op: "SECCOMP", program: filter, why: { what: "install the seccomp filter", option: "--seccomp" } });
}
