// Writing a multi-id map from outside: newuidmap and newgidmap for the sandbox's first process,
// which waits for them at its WAIT_ID_MAP step (executor/idmap.c).
import { recordIdMapRefusal } from "./explain.ts";
import { sendDataFd } from "./executor.ts";
import { findOp, type Op } from "./ops.ts";
import type { IdMap } from "./plan/ids.ts";
import { helperProblem, ID_HELPERS } from "./plan/subids.ts";

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
  if (refused && step) recordIdMapRefusal(step, refused);
  sendDataFd(control, Uint8Array.of(refused ? 0 : 1), -1);
}
