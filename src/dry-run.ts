// --dry-run: the final plan, for people (every step with its source, target and flags) or as JSON.
import { ATTR, MS } from "./plan/builder.ts";
import { CLONE, type Plan } from "./plan/index.ts";
import type { Op } from "./ops.ts";

const names = (value: number, table: Record<string, number>) =>
  Object.entries(table).filter(([, bit]) => value & bit).map(([n]) => n.toLowerCase());

/** One op as a short line: what it does, with the paths as they are during setup. */
export function describeOp(op: Op): string {
  switch (op.op) {
    case "MOUNT":
      if ((op.a ?? 0) & MS.BIND) return `bind ${op.s1} → ${op.s2}${(op.a ?? 0) & MS.REC ? " (with submounts)" : ""}`;
      if (op.s3) return `mount ${op.s3} on ${op.s2}${op.s4 ? ` (${op.s4})` : ""} [${names(op.a ?? 0, { NOSUID: MS.NOSUID, NODEV: MS.NODEV, NOEXEC: MS.NOEXEC }).join(",")}]`;
      return `propagation ${(op.a ?? 0) & MS.SLAVE ? "slave" : "private"} on ${op.s2}`;
    case "BIND":
      return `bind ${op.s1} → ${op.s2} (with submounts${op.a ? `; ${names(op.a, ATTR).join(",")}` : ""})`;
    case "HOLD":
      return op.s1 ? `hold ${op.s1} as descriptor ${op.a}` : `release descriptor ${op.a}`;
    case "SETATTR":
      return `set ${names(op.a ?? 0, ATTR).join(",")} on ${op.s1}${(op.flags ?? 0) & 1 ? " and below" : ""}`;
    case "MKDIR":
      return `mkdir ${op.s1} (${(op.a ?? 0).toString(8)})`;
    case "MKFILE":
      return `create ${op.s1}`;
    case "SYMLINK":
      return `symlink ${op.s2} → ${op.s1}`;
    case "WRITE_FILE":
      return `write ${op.s1}${op.s2 !== undefined ? `: ${JSON.stringify(op.s2)}` : ` (${op.a} bytes)`}`;
    case "PIVOT_ROOT":
      return `pivot_root ${op.s1}, ${op.s2}`;
    case "UMOUNT":
      return `detach ${op.s1}`;
    case "CHDIR":
      return `chdir ${op.s1}`;
    case "SETHOSTNAME":
      return `hostname ${op.s1}`;
    case "EXEC":
      return `exec ${JSON.stringify(op.lists?.s2)} (looking in ${op.lists?.s1?.length} places)`;
    case "DROP_CAPS":
      return "drop all capabilities";
    default:
      return op.op.toLowerCase().replaceAll("_", " ");
  }
}

/** The plan as JSON for tools: namespaces, ids, environment changes and every step. */
export function planJson(plan: Plan) {
  return {
    command: plan.command,
    namespaces: names(plan.cloneFlags, CLONE).map((n) => n.replace(/^new/, "")),
    terminal: plan.terminal,
    startDir: plan.startDir,
    environment: { set: plan.env, dropped: plan.droppedEnv },
    notes: plan.notes,
    steps: plan.ops.map((op, index) => ({
      index, op: op.op.toLowerCase(), what: op.why.what, ...(op.why.option ? { option: op.why.option } : {}),
      detail: describeOp(op),
    })),
  };
}

/** The plan for people. */
export function planText(plan: Plan): string {
  const j = planJson(plan);
  const lines = [
    `command:     ${JSON.stringify(j.command)} in ${j.startDir}`,
    `namespaces:  ${j.namespaces.join(" ")}`,
    `environment: ${Object.keys(j.environment.set).length} variables${j.environment.dropped.length ? `; dropped: ${j.environment.dropped.join(" ")}` : ""}`,
    ...j.notes.map((n) => `note:        ${n}`),
    "steps:",
    ...j.steps.map((s) => `  ${String(s.index).padStart(3)}  ${s.detail}${s.option ? `   [${s.option}]` : ""}`),
  ];
  return lines.join("\n") + "\n";
}
