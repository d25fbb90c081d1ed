// --dry-run: the final plan, for people (every step with its source, target and flags) or as JSON.
import { ATTR, CLONE, MS } from "./kernel.ts";
import type { Plan } from "./plan/index.ts";
import type { Op } from "./ops.ts";

const names = (value: number, table: Record<string, number>) =>
  Object.entries(table).filter(([, bit]) => value & bit).map(([n]) => n.toLowerCase());

/** One op as a short line: what it does, with the paths as they are during setup. */
export function describeOp(op: Op): string {
  switch (op.op) {
    case "MOUNT":
      if (op.flags & MS.BIND) return `bind ${op.source} → ${op.target}${op.flags & MS.REC ? " (with submounts)" : ""}`;
      if (op.fstype) return `mount ${op.fstype} on ${op.target}${op.data ? ` (${op.data})` : ""} [${names(op.flags, { NOSUID: MS.NOSUID, NODEV: MS.NODEV, NOEXEC: MS.NOEXEC }).join(",")}]`;
      return `propagation ${op.flags & MS.SLAVE ? "slave" : "private"} on ${op.target}`;
    case "BIND":
      return `bind ${op.source} → ${op.target} (with submounts${op.attrs ? `; ${names(op.attrs, ATTR).join(",")}` : ""})`;
    case "HOLD":
      return op.path ? `hold ${op.path} as descriptor ${op.slot}` : `release descriptor ${op.slot}`;
    case "SETATTR":
      return `set ${names(op.set, ATTR).join(",")} on ${op.path}${op.recursive ? " and below" : ""}`;
    case "MKDIR":
      return `mkdir ${op.path} (${op.mode.toString(8)})`;
    case "MKFILE":
      return `create ${op.path}`;
    case "SYMLINK":
      return `symlink ${op.linkpath} → ${op.target}`;
    case "WRITE_FILE":
      return `write ${op.path}${typeof op.content === "string" ? `: ${JSON.stringify(op.content)}` : ` (${op.content.length} bytes)`}`;
    case "PIVOT_ROOT":
      return `pivot_root ${op.newRoot}, ${op.putOld}`;
    case "UMOUNT":
      return `detach ${op.path}`;
    case "CHDIR":
      return `chdir ${op.path}`;
    case "SETHOSTNAME":
      return `hostname ${op.name}`;
    case "EXEC":
      return `exec ${JSON.stringify(op.argv)} (looking in ${op.candidates.length} places${op.listenPid ? "; LISTEN_PID set to its pid" : ""})`;
    case "PASS_FDS":
      return `pass descriptor${op.fds.length > 1 ? "s" : ""} ${op.fds.join(", ")} at the same number${op.fds.length > 1 ? "s" : ""}`;
    case "DROP_CAPS":
      return op.keep.low || op.keep.high ? op.why.what : "drop all capabilities";
    case "WAIT_ID_MAP":
      return op.why.what;
    case "LISTEN_TCP":
      if (op.diag) return "open a sock_diag socket (passed out)";
      return op.udp ? `bind udp ${op.address ?? "127.0.0.1"}:${op.port} (passed out)` : `listen tcp 127.0.0.1:${op.port} (passed out)`;
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
    descriptors: (plan.passFds ?? []).map(({ fd, why }) => ({ fd, why })),
    // --allow-socket: the host sockets the sandbox may connect to, by identity (dev, ino as decimal strings: JSON has no bigint).
    sockets: (plan.egress?.allowSockets ?? []).map(({ path, dev, ino }) => ({ path, dev: String(dev), ino: String(ino) })),
    notes: plan.notes,
    steps: plan.ops.map((op, index) => ({
      index, op: op.op.toLowerCase(), what: op.why.what, ...(op.why.option ? { option: op.why.option } : {}), ...(op.why.origin ? { origin: op.why.origin } : {}),
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
    `descriptors: 0 1 2${j.descriptors.map((d) => ` ${d.fd}`).join("")}${j.descriptors.length ? ` (${j.descriptors.map((d) => `${d.fd}: ${d.why}`).join("; ")})` : " (everything else is closed)"}`,
    ...j.sockets.map((s) => `socket:      ${s.path} (dev ${s.dev}, inode ${s.ino}): connections allowed although made outside the sandbox`),
    ...j.notes.map((n) => `note:        ${n}`),
    "steps:",
    ...j.steps.map((s) => `  ${String(s.index).padStart(3)}  ${s.detail}${s.option ? `   [${s.option}]` : ""}`),
  ];
  return lines.join("\n") + "\n";
}
