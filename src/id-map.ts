// Writing a multi-id map from outside: newuidmap and newgidmap for the sandbox's first process,
// which waits for them at its WAIT_ID_MAP step (executor/idmap.c).
import { NsboxError } from "./errors.ts";
import { sendDataFd } from "./executor.ts";
import { findOp, type Op } from "./ops.ts";
import type { IdMap } from "./plan/ids.ts";
import { helperProblem, ID_HELPERS } from "./plan/subids.ts";

/** Why a helper refused, by the step that waited for it: explain.ts words that step's failure with it. */
const refusals = new WeakMap<Op, string>();

/** The helper's refusal for a WAIT_ID_MAP step that failed, if one refused. */
export const idMapRefusal = (op: Op): string | undefined => refusals.get(op);

/** Run one helper for `pid`: undefined when it wrote the map, else its message in one line. */
function runHelper(kind: "uid" | "gid", pid: number, lines: IdMap["uid"]): string | undefined {
  const path = ID_HELPERS[kind];
  // Checked again here, just before it runs: root-owned and setuid, in root's directories.
  const problem = helperProblem(path);
  if (problem) return problem;
  const args = [String(pid), ...lines.flatMap((l) => l.map(String))];
  try {
    const r = Bun.spawnSync([path, ...args], { env: {}, cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    if (r.exitCode === 0) return undefined;
    const said = `${r.stderr.toString()}\n${r.stdout.toString()}`.split("\n").map((l) => l.trim()).filter(Boolean).join("; ");
    return `${path} ${args.join(" ")} failed${said ? `: ${said.slice(0, 300)}` : ` with status ${r.exitCode}`}`;
  } catch (e) {
    return `${path} could not be run: ${(e as Error).message}`;
  }
}

/**
 * Map the ids of the sandbox whose first process is `pid` (plan.idMap), then let it go on by the
 * control socket `control`: a byte 1 when both maps are written, 0 when a helper refused (the
 * process then fails at its WAIT_ID_MAP step, and explain.ts words the helper's message).
 */
export function writeIdMaps(pid: number, plan: { ops: Op[]; idMap?: IdMap }, control: number): void {
  if (!plan.idMap) return;
  const refused = runHelper("uid", pid, plan.idMap.uid) ?? runHelper("gid", pid, plan.idMap.gid);
  const step = findOp(plan.ops, "WAIT_ID_MAP");
  if (refused && step) refusals.set(step, refused);
  sendDataFd(control, Uint8Array.of(refused ? 0 : 1), -1);
}

/** The one-line error for a WAIT_ID_MAP step that failed. */
export function idMapError(op: Op, errno: number): NsboxError {
  const said = idMapRefusal(op) ?? "nsbox stopped before the maps were written";
  return new NsboxError("KERNEL_REFUSED", `--id-map auto: can't ${op.why.what}: ${said}`, {
    option: "--id-map", errno,
    hint: "check your ranges in /etc/subuid and /etc/subgid (podman unshare cat /proc/self/uid_map tries the same), or run with --id-map single",
  });
}
