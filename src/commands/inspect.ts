// nsbox inspect NAME [--json]: a running sandbox from the host's side: namespaces beside the host's, id maps, limits and privileges of its command, mounts.
import { readFileSync, readlinkSync } from "node:fs";
import { NsboxError } from "../errors.ts";
import { checkOwner, findSandbox, provenPayload } from "../registry.ts";
import { HELP, type CommandDef } from "../cli-args.ts";
import { age, commandLine, publicState, visible } from "./ps.ts";

export const NAMESPACES = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup", "time"];

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};
const link = (path: string): string | undefined => {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
};
const inode = (ns: string | undefined) => (ns ? Number(/\[(\d+)\]/.exec(ns)?.[1]) : null);

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

export interface Mount {
  mountPoint: string;
  fstype: string;
  source: string;
  /** The path of the mounted filesystem that is shown there (a bind's subtree). */
  root: string;
  options: string;
  superOptions: string;
}

export function parseMountinfo(text: string): Mount[] {
  return text.split("\n").filter(Boolean).map((line) => {
    const [left, right = ""] = line.split(" - ");
    const f = left!.split(" ");
    const [fstype = "", source = "", superOptions = ""] = right.split(" ");
    return { mountPoint: unescape(f[4]!), fstype, source: unescape(source), root: unescape(f[3]!), options: f[5]!, superOptions };
  });
}

export function parseLimits(text: string) {
  return text.split("\n").slice(1).filter(Boolean).map((line) => {
    const m = /^(.*?\S)\s{2,}(\S+)\s+(\S+)(?:\s+(\S+))?\s*$/.exec(line);
    return m ? { name: m[1]!, soft: m[2]!, hard: m[3]!, units: m[4] ?? "" } : { name: line.trim(), soft: "", hard: "", units: "" };
  });
}

const PRIVILEGE_FIELDS = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"];

export function inspect(name: string) {
  const s = findSandbox(name);
  checkOwner(s);
  const pid = s.pid!;
  // PID 1 is not dumpable (its memory is a copy of nsbox's), so its /proc entries are closed
  // even to its owner: the sandbox's command, in the same namespaces, is read instead.
  const payload = provenPayload(s);
  const proc = payload ?? pid;
  const namespaces = Object.fromEntries(NAMESPACES.map((ns) => {
    const sandbox = link(`/proc/${proc}/ns/${ns}`);
    const host = link(`/proc/self/ns/${ns}`);
    return [ns, { sandbox, inode: inode(sandbox), host, hostInode: inode(host), shared: sandbox !== undefined && sandbox === host }];
  }));
  const status = payload === undefined ? undefined : read(`/proc/${payload}/status`);
  const privileges = Object.fromEntries(PRIVILEGE_FIELDS.flatMap((f) => {
    const m = status && new RegExp(`^${f}:\\s*(.*)$`, "m").exec(status);
    return m ? [[f, m[1]!.trim()]] : [];
  }));
  const limitsText = payload === undefined ? undefined : read(`/proc/${payload}/limits`);
  const mountinfo = read(`/proc/${proc}/mountinfo`);
  if (mountinfo === undefined) throw new NsboxError("NOT_RUNNING", `sandbox ${name} ended while being inspected`);
  // Read while the pidfd still names PID 1: what was read is that sandbox's.
  provenPayload(s);
  return {
    ...publicState(s),
    payloadPid: payload ?? null,
    namespaces,
    uidMap: (read(`/proc/${proc}/uid_map`) ?? "").trim().split("\n").map((l) => l.trim().split(/\s+/).join(" ")),
    gidMap: (read(`/proc/${proc}/gid_map`) ?? "").trim().split("\n").map((l) => l.trim().split(/\s+/).join(" ")),
    limits: limitsText ? parseLimits(limitsText) : [],
    privileges,
    mounts: parseMountinfo(mountinfo),
  };
}

function table(rows: string[][], indent = "  "): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

// Bun.write, awaited: process.stdout.write to a pipe is cut at 64 KiB when nsbox exits (a large inspect --json).
async function run({ args }: { args: Record<string, unknown> }): Promise<number> {
  const i = inspect(args.sandbox as string);
  if (args.json) {
    await Bun.write(Bun.stdout, JSON.stringify(i, null, 2) + "\n");
    return 0;
  }
  const out = [
    `${i.name}: pid ${i.pid} on the host, up ${age(i.startedAt)} (since ${i.startedAt})`,
    `  command   ${commandLine(i.command)}${i.payloadPid ? ` (host pid ${i.payloadPid})` : ""}`,
    `  started   in ${i.cwd}; the command in ${i.startDir}, host name ${i.hostname}`,
    `  options   ${i.summary}`,
    "",
    "namespaces (/proc/PID/ns)",
    ...table([["", "sandbox", "host", ""], ...Object.entries(i.namespaces).map(([ns, n]) => [ns, String(n.inode ?? "-"), String(n.hostInode ?? "-"), n.shared ? "shared with the host" : "own"])]),
    "",
    "id maps (inside  outside  count)",
    ...i.uidMap.map((l) => `  uid  ${l}`),
    ...i.gidMap.map((l) => `  gid  ${l}`),
    "",
    `privileges of the command${i.payloadPid ? "" : " (not running)"}`,
    ...Object.entries(i.privileges).map(([k, v]) => `  ${k.padEnd(16)}${v}`),
    "",
    "limits of the command (soft  hard)",
    ...table(i.limits.map((l) => [l.name, l.soft, l.hard, l.units])),
    "",
    "mounts (/proc/PID/mountinfo)",
    ...table(i.mounts.map((m) => [m.mountPoint, m.fstype, m.root !== "/" ? `${m.source}[${m.root}]` : m.source, m.options])),
  ];
  await Bun.write(Bun.stdout, visible(out.join("\n")) + "\n");
  return 0;
}

export default {
  meta: { name: "inspect", description: "A running sandbox from the host's side: its namespaces, id maps, limits, privileges and mounts" },
  args: {
    sandbox: { type: "positional", valueHint: "NAME", required: true, description: "The sandbox's name (nsbox ps lists them)" },
    json: { type: "boolean", description: "Print JSON" },
    help: HELP,
  },
  run,
} satisfies CommandDef;
