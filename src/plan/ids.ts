// Identity: the user namespace's id maps, and /etc/passwd and /etc/group that resolve them.
import { readFileSync } from "node:fs";
import { userName, type Host } from "../host.ts";
import type { Op } from "../ops.ts";
import type { MappedIds } from "./seccomp.ts";
import type { SubRange } from "./subids.ts";

export interface Identity {
  uid: number;
  gid: number;
}

/** How many subordinate ids a multi-id map takes at most: inside ids 0-65535, as containers have. */
export const SUB_IDS = 65535;

/** One line of uid_map or gid_map: the first id inside, the first id on the host, how many. */
export type MapLine = readonly [inside: number, host: number, count: number];

/** A multi-id map: written by newuidmap and newgidmap from outside (src/id-map.ts). */
export interface IdMap {
  uid: MapLine[];
  gid: MapLine[];
}

/**
 * What root inside keeps with a multi-id map, so that it can own files as root does: change
 * owners (chown), read and write what the ids it owns own (dac_override, fowner, fsetid), become
 * them (setuid, setgid, setgroups) and signal their processes (kill). Over the mapped ids only:
 * the kernel grants a capability of a user namespace on nothing else. Rootless podman's default
 * set, less net_bind_service, setfcap, setpcap and sys_chroot.
 */
export const ID_MAP_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"];

/**
 * The lines for inside id `inside` as the caller's `own` host id, the other inside ids from 0
 * up taken from `sub` in order (at most SUB_IDS of them): `0 <uid> 1` and `1 <start> N` for root.
 */
function mapLines(inside: number, own: number, sub: SubRange): MapLine[] {
  const n = Math.min(sub.count, SUB_IDS);
  const below = Math.min(inside, n);
  const lines: MapLine[] = [];
  if (below) lines.push([0, sub.start, below]);
  lines.push([inside, own, 1]);
  if (n > below) lines.push([inside + 1, sub.start + below, n - below]);
  return lines;
}

/**
 * The multi-id map for `--id-map auto`, or undefined with the reason in `notes` when the system
 * provides none: the subordinate ranges /etc/subuid and /etc/subgid give the caller, and setuid
 * root newuidmap and newgidmap to write them with. "single" (the default) asks for none.
 */
export function chooseIdMap(host: Host, id: Identity, mode: "single" | "auto" | undefined, notes: string[]): IdMap | undefined {
  if (mode !== "auto") return undefined;
  // Loaded only for --id-map auto: every module at start costs a descriptor while Bun loads it (ulimit -n).
  const { groupProblem, helperProblem, ID_HELPERS, subordinateRange } = require("./subids.ts") as typeof import("./subids.ts");
  const problem = helperProblem(ID_HELPERS.uid) ?? helperProblem(ID_HELPERS.gid) ?? groupProblem(host.uid, host.gid);
  // By login name only when /etc/passwd has one: host.user is a stand-in ("user") otherwise.
  const name = userName(host.uid) ?? String(host.uid);
  const uids = subordinateRange("/etc/subuid", name, host.uid, host.uid);
  const gids = subordinateRange("/etc/subgid", name, host.uid, host.gid);
  if (problem !== undefined || "problem" in uids || "problem" in gids) {
    const why = problem ?? ("problem" in uids ? uids.problem : "problem" in gids ? gids.problem : "");
    notes.push(`--id-map auto: one id mapped, as with --id-map single: ${why}`);
    return undefined;
  }
  return { uid: mapLines(id.uid, host.uid, uids), gid: mapLines(id.gid, host.gid, gids) };
}

/**
 * The ops that give the user namespace its maps. One id: setgroups must be denied before an
 * unprivileged process may write gid_map; then the caller's own uid and gid are each mapped to
 * one id inside ("0 <uid> 1" by default). A multi-id map: the process waits until newuidmap and
 * newgidmap, run from outside, have written it (setgroups stays allowed: newgidmap leaves it so
 * for a range /etc/subgid grants).
 */
export function idMapOps(host: Host, id: Identity, map?: IdMap): Op[] {
  const why = (what: string) => ({ what, option: map ? "--id-map" : "--uid/--gid" });
  if (map) return [{ op: "WAIT_ID_MAP", why: why(`map ${describe("uid", map.uid)} and ${describe("gid", map.gid)} with newuidmap and newgidmap`) }];
  return [
    { op: "WRITE_FILE", path: "/proc/self/setgroups", content: "deny", why: why("deny setgroups in the user namespace") },
    { op: "WRITE_FILE", path: "/proc/self/uid_map", content: `${id.uid} ${host.uid} 1\n`, why: why(`map uid ${host.uid} to ${id.uid}`) },
    { op: "WRITE_FILE", path: "/proc/self/gid_map", content: `${id.gid} ${host.gid} 1\n`, why: why(`map gid ${host.gid} to ${id.gid}`) },
  ];
}

/** "uids 0-65535 (host 1000, 100000-165534)": a map in words. */
export function describe(kind: "uid" | "gid", lines: readonly MapLine[]): string {
  const span = (first: number, count: number) => (count === 1 ? `${first}` : `${first}-${first + count - 1}`);
  const all = lines.reduce((n, l) => n + l[2], 0);
  return `${kind}s ${span(Math.min(...lines.map((l) => l[0])), all)} (host ${lines.map((l) => span(l[1], l[2])).join(", ")})`;
}

/** The ids inside that the namespace maps, as the seccomp filter's runs (plan/seccomp.ts ID_CALLS). */
export function mappedIds(id: Identity, map?: IdMap): MappedIds {
  if (!map) return { uid: [[id.uid, 1]], gid: [[id.gid, 1]] };
  return { uid: map.uid.map((l) => [l[0], l[2]] as const), gid: map.gid.map((l) => [l[0], l[2]] as const) };
}

/**
 * What `nsbox exec` gives its command in a running sandbox whose process is `proc` (/proc/PID):
 * the ids its user namespace maps, read from the kernel's own uid_map and gid_map (written once,
 * and only by the kernel's rules), and the capabilities root keeps when that map is a multi-id one.
 * Undefined when they cannot be read (the kernel refuses the join then anyway).
 */
export function joinedIds(proc: string, id: Identity): { mapped: MappedIds; caps: string[] } | undefined {
  const lines = (file: string): MapLine[] =>
    readFileSync(`${proc}/${file}`, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number) as unknown as MapLine);
  try {
    const map = { uid: lines("uid_map"), gid: lines("gid_map") };
    if (![...map.uid, ...map.gid].every((l) => l.length === 3 && l.every(Number.isSafeInteger))) return undefined;
    const multi = map.uid.length > 1 || map.gid.length > 1;
    return { mapped: mappedIds(id, map), caps: idMapCaps(id, multi ? map : undefined) };
  } catch {
    return undefined;
  }
}

/** Capabilities the payload keeps for the id map: ID_MAP_CAPS for root inside a multi-id map, else none. */
export function idMapCaps(id: Identity, map?: IdMap): string[] {
  return map && id.uid === 0 ? ID_MAP_CAPS : [];
}

const mapped = (lines: readonly MapLine[] | undefined, n: number) => lines?.some(([inside, , count]) => n >= inside && n < inside + count) ?? false;

/** The host's system accounts (ids 1-999) of `file` that the map gives inside, as passwd or group lines with no members. */
function systemEntries(file: string, fields: number, lines: readonly MapLine[] | undefined, except: number): string[] {
  if (!lines) return [];
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {}
  const seen = new Set<string>();
  return text.split("\n").map((l) => l.split(":")).filter((f) => {
    const n = Number(f[2]);
    if (f.length !== fields || !/^\d+$/.test(f[2]!) || n < 1 || n > 999 || n === except || !mapped(lines, n) || seen.has(f[0]!)) return false;
    seen.add(f[0]!);
    return /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(f[0]!);
  }).map((f) => (fields === 7 ? [f[0], "x", ...f.slice(2)] : [f[0], "x", f[2], ""]).join(":"));
}

/**
 * /etc/passwd inside: the payload's own id, nobody, and with a multi-id map the host's system
 * accounts (daemon, _apt, www-data…) whose ids it maps, so that tools that drop privileges to
 * them by name find them.
 */
export function passwdFile(host: Host, id: Identity, home: string, map?: IdMap): string {
  const name = id.uid === 0 ? "root" : id.uid === host.uid ? host.user : userName(id.uid) ?? "user";
  return [
    `${name}:x:${id.uid}:${id.gid}:${name}:${home}:${host.shell}`,
    ...(map && id.uid !== 0 ? ["root:x:0:0:root:/root:/bin/sh"] : []),
    ...systemEntries("/etc/passwd", 7, map?.uid, id.uid),
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    "",
  ].join("\n");
}

/** /etc/group inside: the payload's own group, nogroup, and with a multi-id map the host's system groups it maps (without members). */
export function groupFile(host: Host, id: Identity, map?: IdMap): string {
  const name = id.gid === 0 ? "root" : host.group;
  return [`${name}:x:${id.gid}:`, ...(map && id.gid !== 0 ? ["root:x:0:"] : []), ...systemEntries("/etc/group", 4, map?.gid, id.gid), "nogroup:x:65534:", ""].join("\n");
}
