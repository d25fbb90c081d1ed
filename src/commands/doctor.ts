// nsbox doctor [--json]: can nsbox work on this host? Each requirement checked for real, with the exact fix when one fails; exit 0 when nsbox can work, 1 when not.
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { fileError } from "../errno.ts";
import { NsboxError } from "../errors.ts";
import { executorOrigin, landlockAbi, prepareExecutor } from "../executor.ts";
import { diagnoseUserns } from "../explain.ts";
import { readHost, type Host } from "../host.ts";
import type { Op } from "../ops.ts";
import { MS, SIGNAL } from "../kernel.ts";
import { chooseIdMap, describe, idMapOps } from "../plan/ids.ts";
import { buildPlan, CLONE, type Plan } from "../plan/index.ts";
import { supervise } from "../supervise.ts";
import { describeNetMode, netMode } from "../net/mode.ts";
import { HELP, type CommandDef } from "../cli-args.ts";

type Status = "ok" | "fail" | "warn" | "info";

export interface Check {
  id: string;
  title: string;
  status: Status;
  /** What was found. */
  detail: string;
  /** The exact fix, when the check did not pass. */
  fix?: string;
  /** Whether nsbox cannot work without it (a failed required check makes doctor exit 1). */
  required: boolean;
}

const MARK: Record<Status, string> = { ok: "✓", fail: "✗", warn: "!", info: "·" };
const MIN_KERNEL: [number, number] = [5, 12]; // mount_setattr(2); openat2 and close_range are older
const MIN_BUN = "1.2.0";

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};
const sysctl = (name: string) => read(`/proc/sys/${name.replaceAll(".", "/")}`)?.trim();

function versionAtLeast(have: number[], want: number[]): boolean {
  for (let i = 0; i < want.length; i++) {
    if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) > want[i]!;
  }
  return true;
}

/** A plan of bare ops, for the probes below (no payload init, no hardening). */
function probePlan(ops: Op[], cloneFlags: number): Plan {
  const why = { what: "run true" };
  const run: Op = { op: "EXEC", candidates: ["/usr/bin/true", "/bin/true"], argv: ["true"], envp: [], why };
  return {
    ops: [{ op: "DEATH_SIGNAL", signal: SIGNAL.KILL, why: { what: "tie the probe to nsbox" } }, ...ops, run],
    cloneFlags, command: ["true"], env: {}, droppedEnv: [], startDir: "/", terminal: false, notes: [], net: { mode: "none" },
  };
}

/** Run a plan with stdio closed to /dev/null; the outcome's error (an NsboxError) when it failed. */
async function attempt(plan: Plan): Promise<NsboxError | undefined> {
  const outcome = await supervise(plan, { forwardSignals: false });
  if (outcome.error) return outcome.error;
  if (outcome.exitCode !== 0) return new NsboxError("INTERNAL", `the probe exited with status ${outcome.exitCode}`);
  return undefined;
}

function kernelCheck(): Check {
  const have = release().split(/[.-]/).map((n) => parseInt(n, 10) || 0);
  const ok = versionAtLeast(have, MIN_KERNEL);
  return {
    id: "kernel", title: "kernel", required: true, status: ok ? "ok" : "fail",
    detail: `Linux ${release()}${ok ? "" : `; nsbox needs ${MIN_KERNEL.join(".")} or later (mount_setattr)`}`,
    fix: ok ? undefined : `upgrade the kernel to Linux ${MIN_KERNEL.join(".")} or later`,
  };
}

function bunCheck(): Check {
  const ok = versionAtLeast(Bun.version.split(".").map(Number), MIN_BUN.split(".").map(Number));
  return {
    id: "bun", title: "Bun", required: true, status: ok ? "ok" : "fail",
    detail: `Bun ${Bun.version} (${process.execPath})${ok ? "" : `; nsbox needs ${MIN_BUN} or later`}`,
    fix: ok ? undefined : "bun upgrade  (or: npm install -g bun)",
  };
}

function executorCheck(): Check {
  try {
    prepareExecutor();
    // The prebuilt one (scripts/build.ts) when it is of these C sources, else cc()'s.
    return { id: "executor", title: "C executor", required: true, status: "ok", detail: executorOrigin };
  } catch (e) {
    return {
      id: "executor", title: "C executor", required: true, status: "fail",
      detail: `bun:ffi could not compile src/executor/executor.c: ${(e as Error).message}`,
      fix: "reinstall Bun from its official build (bun:ffi's cc() must be available on this architecture)",
    };
  }
}

async function usernsCheck(): Promise<Check> {
  const max = sysctl("user.max_user_namespaces");
  const facts = [`user.max_user_namespaces = ${max ?? "?"}`];
  const clone = sysctl("kernel.unprivileged_userns_clone");
  if (clone !== undefined) facts.push(`kernel.unprivileged_userns_clone = ${clone}`);
  const apparmor = sysctl("kernel.apparmor_restrict_unprivileged_userns");
  if (apparmor !== undefined) facts.push(`kernel.apparmor_restrict_unprivileged_userns = ${apparmor}`);
  const error = await attempt(probePlan([], CLONE.NEWUSER));
  const base = { id: "userns", title: "unprivileged user namespaces", required: true };
  if (!error) return { ...base, status: "ok", detail: `a user namespace was created (${facts.join(", ")})` };
  const known = diagnoseUserns(error.errno ?? 0);
  if (known) return { ...base, status: "fail", detail: known.message, fix: known.hint };
  return { ...base, status: "fail", detail: `${error.message} (${facts.join(", ")})`, fix: error.hint ?? "this process may itself be confined (a container's seccomp profile or a sandbox that forbids nested user namespaces); run nsbox on the host" };
}

/** What --id-map auto would map here: the caller's subordinate ranges through newuidmap, or why one id. */
function subidCheck(host: Host): Check {
  const notes: string[] = [];
  const map = chooseIdMap(host, { uid: 0, gid: 0 }, "auto", notes);
  return {
    id: "subuid", title: "subordinate id ranges (--id-map auto)", required: false, status: "info",
    detail: map
      ? `--id-map auto maps ${describe("uid", map.uid)} and ${describe("gid", map.gid)} (the default, --id-map single, maps only yours)`
      : `--id-map auto maps only your own ids here: ${notes[0]?.replace(/^.*? single: /, "") ?? "no range"}`,
  };
}

async function overlayCheck(host: Host, userns: boolean): Promise<Check> {
  const base = { id: "overlay", title: "overlayfs in a user namespace (--overlay)", required: false };
  if (!userns) return { ...base, status: "warn", detail: "not checked: needs user namespaces" };
  const have = release().split(/[.-]/).map((n) => parseInt(n, 10) || 0);
  if (!versionAtLeast(have, [5, 11])) return { ...base, status: "warn", detail: `Linux ${release()} cannot mount overlayfs in a user namespace`, fix: "upgrade to Linux 5.11 or later for --overlay" };
  const why = { what: "mount an overlay" };
  const ops: Op[] = [
    ...idMapOps(host, { uid: 0, gid: 0 }),
    { op: "MOUNT", target: "/", flags: MS.REC | MS.PRIVATE, why },
    { op: "MOUNT", source: "tmpfs", target: "/tmp", fstype: "tmpfs", data: "mode=0755", flags: MS.NOSUID | MS.NODEV, why },
    ...["l", "u", "w", "m"].map((d): Op => ({ op: "MKDIR", path: `/tmp/${d}`, mode: 0o755, why })),
    { op: "MOUNT", source: "overlay", target: "/tmp/m", fstype: "overlay", data: "lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w,userxattr", flags: MS.NOSUID | MS.NODEV, why },
  ];
  const error = await attempt(probePlan(ops, CLONE.NEWUSER | CLONE.NEWNS));
  if (!error) return { ...base, status: "ok", detail: "an overlay was mounted in a user namespace" };
  const loaded = /\toverlay\n/.test(read("/proc/filesystems") ?? "");
  return {
    ...base, status: "warn", detail: error.message,
    fix: loaded ? "--overlay will not work here; use --rw or --tmpfs instead" : "load the module (as root): sudo modprobe overlay",
  };
}

function seccompCheck(): Check {
  const base = { id: "seccomp", title: "seccomp", required: true };
  const status = read("/proc/self/status") ?? "";
  const mode = /^Seccomp:\s*(\d)/m.exec(status)?.[1];
  const actions = sysctl("kernel.seccomp.actions_avail");
  if (mode === undefined || actions === undefined) {
    return { ...base, status: "fail", detail: "this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)", fix: "use a kernel built with CONFIG_SECCOMP_FILTER=y, or run with --seccomp none (less safe)" };
  }
  const confined = mode !== "0" ? "; nsbox itself already runs under a filter (a container?), which may refuse some steps" : "";
  return { ...base, status: "ok", detail: `filters available (${actions.split(" ").length} actions)${confined}` };
}

function landlockCheck(): Check {
  const base = { id: "landlock", title: "Landlock", required: false };
  let abi = 0;
  try {
    abi = landlockAbi();
  } catch {}
  if (abi <= 0) {
    const lsm = read("/sys/kernel/security/lsm")?.trim();
    return {
      ...base, status: "warn",
      detail: `not available${lsm ? ` (active LSMs: ${lsm})` : ""}; sandboxes run without this second wall`,
      fix: `enable it at boot: add landlock to the lsm= kernel parameter${lsm ? ` (lsm=landlock,${lsm.replace(/(^|,)landlock(?=,|$)/, "")})` : ""} on Linux 5.13 or later`,
    };
  }
  const scoped = abi >= 6 ? "signals and abstract sockets scoped too" : "signal and abstract-socket scoping need ABI 6 (Linux 6.12)";
  return { ...base, status: "ok", detail: `ABI ${abi}: filesystem rules; ${scoped}` };
}

/** How --net none and --net allow= work here (src/net/mode.ts): transparent, or through the proxy only. */
function networkCheck(host: Host): Check {
  const mode = netMode(host.env.NSBOX_NET_MODE);
  const base = { id: "network", title: "network", required: false };
  if (mode.mode === "transparent") return { ...base, status: "ok", detail: `${describeNetMode(mode)}: with --net none and --net allow=, nsbox decides every program's connections and lookups` };
  return {
    ...base, status: "warn",
    detail: `${describeNetMode(mode)}; with --net allow= only programs that use HTTP_PROXY reach the allowed hosts`,
    fix: /NSBOX_NET_MODE/.test(mode.why) ? "unset NSBOX_NET_MODE" : /yama/.test(mode.why) ? "sysctl kernel.yama.ptrace_scope=1" : "Linux 5.14 or later with seccomp user notification",
  };
}

/** Where the caller's cgroup v2 directory is, and whether nsbox could make child groups there with memory and pids. */
function cgroupCheck(): Check {
  const base = { id: "cgroup", title: "cgroup v2 delegation (--memory, --pids)", required: false };
  const fix = "run nsbox in a systemd user session with a delegated cgroup: systemd-run --user --scope -p Delegate=yes nsbox …; until then use --rlimit as and --rlimit nproc";
  const mount = (read("/proc/self/mountinfo") ?? "").split("\n").map((l) => l.split(" - ")).find(([, r]) => r?.startsWith("cgroup2 "));
  if (!mount) return { ...base, status: "warn", detail: "no cgroup v2 hierarchy is mounted (cgroup v1 only)", fix };
  const at = mount[0]!.split(" ")[4]!;
  const own = /^0::(.*)$/m.exec(read("/proc/self/cgroup") ?? "")?.[1];
  if (own === undefined) return { ...base, status: "warn", detail: `cgroup v2 is mounted at ${at}, but this process is not in it`, fix };
  const dir = join(at, own).replace(/(.)\/$/, "$1");
  let writable = false;
  try {
    accessSync(dir, fsConstants.W_OK);
    writable = statSync(dir).uid === process.getuid!() || process.getuid!() === 0;
  } catch {}
  const controllers = (read(join(dir, "cgroup.controllers")) ?? "").trim().split(/\s+/);
  const missing = ["memory", "pids"].filter((c) => !controllers.includes(c));
  if (!writable) return { ...base, status: "warn", detail: `${dir} is not delegated to you`, fix };
  if (missing.length) {
    // A hybrid hierarchy: the controllers are still bound to cgroup v1 mounts.
    const v1Options = (read("/proc/self/mountinfo") ?? "").split("\n").filter((l) => l.includes(" - cgroup ")).flatMap((l) => l.split(" ").at(-1)!.split(","));
    const v1 = missing.filter((c) => v1Options.includes(c));
    return {
      ...base, status: "warn",
      detail: `${dir} is writable by you but lacks the ${missing.join(" and ")} controller${missing.length > 1 ? "s" : ""}${v1.length ? ` (bound to cgroup v1 here: a hybrid hierarchy)` : ""}`,
      fix: v1.length ? `boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=${v1.join(",")}) for a pure cgroup v2 host; then ${fix.slice(0, 1).toLowerCase()}${fix.slice(1)}` : fix,
    };
  }
  return { ...base, status: "ok", detail: `${dir} is writable by you, with the memory and pids controllers` };
}

async function endToEndCheck(host: Host, userns: boolean): Promise<Check> {
  const base = { id: "sandbox", title: "a real sandbox", required: true };
  if (!userns) return { ...base, status: "fail", detail: "not attempted: user namespaces are unavailable (see above)" };
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), "nsbox-doctor-"));
  } catch (e) {
    // TMPDIR set to a missing or read-only directory: the user's to fix, and a finding, not a crash.
    return { ...base, status: "fail", detail: `can't create a scratch directory in ${tmpdir()}: ${fileError(e)}`, fix: "set TMPDIR to a directory you can write, or unset it (/tmp)" };
  }
  try {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const plan = buildPlan(["true"], { noCwd: true }, { ...host, cwd: dir }, { terminal: null });
      const started = performance.now();
      const error = await attempt(plan);
      if (error) return { ...base, status: "fail", detail: `nsbox -- true failed: ${error.message}`, fix: error.hint ?? "run nsbox -v -- true to see the step that fails, and report it" };
      times.push(performance.now() - started);
    }
    const median = times.sort((a, b) => a - b)[1]!;
    return { ...base, status: "ok", detail: `started with every default (namespaces, mounts, seccomp, Landlock), ran true and ended in ${median.toFixed(1)} ms (median of 3)` };
  } catch (e) {
    const error = e instanceof NsboxError ? e : undefined;
    return { ...base, status: "fail", detail: `can't plan a sandbox: ${error?.message ?? (e as Error).message}`, fix: error?.hint };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function doctor(): Promise<{ ok: boolean; checks: Check[] }> {
  const host = readHost();
  const checks: Check[] = [kernelCheck(), bunCheck(), executorCheck()];
  const ffi = checks.at(-1)!.status === "ok";
  const userns = ffi ? await usernsCheck() : { id: "userns", title: "unprivileged user namespaces", required: true, status: "fail" as Status, detail: "not checked: the executor did not compile" };
  checks.push(userns, subidCheck(host));
  const usable = userns.status === "ok";
  checks.push(await overlayCheck(host, usable), seccompCheck(), landlockCheck(), networkCheck(host), cgroupCheck(), await endToEndCheck(host, usable));
  return { ok: checks.every((c) => !c.required || c.status === "ok"), checks };
}

async function run({ args }: { args: Record<string, unknown> }): Promise<number> {
  const report = await doctor();
  if (args.json) {
    process.stdout.write(JSON.stringify({ version: pkg.version, ...report }, null, 2) + "\n");
  } else {
    const lines = [`nsbox ${pkg.version} on Linux ${release()}, as uid ${process.getuid!()}`];
    for (const c of report.checks) {
      lines.push(`${MARK[c.status]} ${c.title}: ${c.detail}`);
      if (c.fix) lines.push(...c.fix.split("\n").map((l, i) => `    ${i === 0 ? "fix: " : "     "}${l}`));
    }
    lines.push(report.ok
      ? "nsbox can work here."
      : `nsbox can't work here: ${report.checks.filter((c) => c.required && c.status !== "ok").map((c) => c.title).join(", ")}.`);
    process.stdout.write(lines.join("\n") + "\n");
  }
  return report.ok ? 0 : 1;
}

export default {
  meta: { name: "doctor", description: "Check that nsbox can work here, with fixes for what is missing" },
  args: { json: { type: "boolean", description: "Print JSON" }, help: HELP },
  run,
} satisfies CommandDef;
