// Identity: the user namespace's id maps, and /etc/passwd and /etc/group that resolve them.
import { userName, type Host } from "../host.ts";
import type { Op } from "../ops.ts";

export interface Identity {
  uid: number;
  gid: number;
}

/**
 * setgroups must be denied before an unprivileged process may write gid_map; then the
 * caller's own uid and gid are each mapped to one id inside ("0 <uid> 1" by default).
 */
export function idMapOps(host: Host, id: Identity): Op[] {
  const why = (what: string) => ({ what, option: "--uid/--gid" });
  return [
    { op: "WRITE_FILE", path: "/proc/self/setgroups", content: "deny", why: why("deny setgroups in the user namespace") },
    { op: "WRITE_FILE", path: "/proc/self/uid_map", content: `${id.uid} ${host.uid} 1\n`, why: why(`map uid ${host.uid} to ${id.uid}`) },
    { op: "WRITE_FILE", path: "/proc/self/gid_map", content: `${id.gid} ${host.gid} 1\n`, why: why(`map gid ${host.gid} to ${id.gid}`) },
  ];
}

/** /etc/passwd inside: the payload's own id, and nobody for every unmapped id. */
export function passwdFile(host: Host, id: Identity, home: string): string {
  const name = id.uid === 0 ? "root" : id.uid === host.uid ? host.user : userName(id.uid) ?? "user";
  return [
    `${name}:x:${id.uid}:${id.gid}:${name}:${home}:${host.shell}`,
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    "",
  ].join("\n");
}

export function groupFile(host: Host, id: Identity): string {
  const name = id.gid === 0 ? "root" : host.group;
  return [`${name}:x:${id.gid}:`, "nogroup:x:65534:", ""].join("\n");
}
