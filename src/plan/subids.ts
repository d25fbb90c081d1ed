// The subordinate ids the system gives the caller (/etc/subuid, /etc/subgid), and the setuid
// helpers that map them (newuidmap, newgidmap), each checked before nsbox relies on it.
import { lstatSync } from "node:fs";
import { readSmallFile } from "../small-file.ts";
import { dirname } from "node:path";

/** The helpers, at fixed paths: never found through PATH, which the user or a project could plant. */
export const ID_HELPERS = { uid: "/usr/bin/newuidmap", gid: "/usr/bin/newgidmap" } as const;

/** The largest id the kernel maps (4294967295 is "no id", -1). */
const ID_LAST = 4294967294;

/** A run of subordinate host ids: `start`, `start + 1`, … `start + count - 1`. */
export interface SubRange {
  start: number;
  count: number;
}

/**
 * Why a setuid helper at `path` can't be relied on, or undefined when it can: a regular file of
 * root's, setuid, writable by no one else, in directories only root can change up to `/`.
 */
export function helperProblem(path: string): string | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return `${path} is not installed (Debian and Ubuntu: apt install uidmap; Fedora: dnf install shadow-utils)`;
  }
  if (!st.isFile()) return `${path} is not a regular file`;
  if (st.uid !== 0 || (st.mode & 0o4000) === 0) return `${path} is not setuid root`;
  if (st.mode & 0o022) return `${path} is writable by others than root`;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const d = lstatSync(dir);
    if (!d.isDirectory() || d.uid !== 0 || d.mode & 0o022) return `${dir}, which holds ${path}, is not a directory only root can change`;
    if (dir === "/") return undefined;
  }
}

/** The text of a system file, when it is a regular file of root's that only root can write; else why not. */
function readSystemFile(path: string): { text: string } | { problem: string } {
  const r = readSmallFile(path, {
    max: 1 << 20,
    accept: (st) => (st.uid !== 0 || st.mode & 0o022 ? `${path} is not root's own file (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)})` : undefined),
  });
  return "bytes" in r ? { text: r.bytes.toString("utf8") } : r;
}

const NUMBER = /^\d{1,10}$/;

/**
 * Why newuidmap would refuse this process whatever the ranges, or undefined: it requires the
 * current group to be the login group /etc/passwd gives the uid (not so after `newgrp` or `sg`).
 */
export function groupProblem(uid: number, gid: number): string | undefined {
  const read = readSystemFile("/etc/passwd");
  if ("problem" in read) return undefined; // NSS may still know the user: newuidmap says
  const entry = read.text.split("\n").map((l) => l.split(":")).find((f) => f.length >= 7 && f[2] === String(uid));
  if (entry && entry[3] !== String(gid)) return `your current group ${gid} is not your login group ${entry[3]}, and newuidmap and newgidmap only map for the login group`;
  return undefined;
}

/**
 * The caller's range in `path` (/etc/subuid or /etc/subgid), by login name or numeric uid as
 * newuidmap accepts them: the first line that is usable, or why none is. A line is refused
 * (and the next one tried) when its numbers are not plain decimals, it is empty, it contains
 * id 0 (the host's root) or `own` (the caller's own id, which the map gives inside id 0), it
 * runs past the last id, or it overlaps another user's range (files the sandbox makes would
 * belong to that user's sandboxes too).
 */
export function subordinateRange(path: string, user: string, uid: number, own: number): SubRange | { problem: string } {
  const read = readSystemFile(path);
  if ("problem" in read) return read;
  const lines = read.text.split("\n").map((l, i) => ({ fields: l.trim().split(":"), line: i + 1 }))
    .filter(({ fields }) => fields[0] !== "" && !fields[0]!.startsWith("#"));
  const mine = (owner: string) => owner === user || owner === String(uid);
  const parsed = (f: string[]) => (f.length === 3 && NUMBER.test(f[1]!) && NUMBER.test(f[2]!) ? { start: Number(f[1]), count: Number(f[2]) } : undefined);
  let first: string | undefined;
  for (const { fields, line } of lines) {
    if (!mine(fields[0]!)) continue;
    const where = `${path} line ${line} (${fields.join(":").slice(0, 60)})`;
    const r = parsed(fields);
    const problem = !r ? "is not NAME:START:COUNT in plain decimal numbers"
      : r.count === 0 ? "has no ids"
      : r.start === 0 ? "includes id 0, the host's root"
      : r.start + r.count - 1 > ID_LAST ? `runs past the last id, ${ID_LAST}`
      : own >= r.start && own < r.start + r.count ? `includes your own id ${own}`
      : lines.some((o) => !mine(o.fields[0]!) && ((s) => s !== undefined && s.start < r.start + r.count && r.start < s.start + s.count)(parsed(o.fields)))
        ? "overlaps another user's range"
        : undefined;
    if (!problem) return r!;
    first ??= `${where} ${problem}`;
  }
  const add = path.endsWith("subgid") ? "--add-subgids" : "--add-subuids";
  return { problem: first ?? `${path} has no range for ${user} (uid ${uid}); an administrator adds one with: usermod ${add} 100000-165535 ${user}` };
}
