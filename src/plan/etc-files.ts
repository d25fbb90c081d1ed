// /etc/hosts and /etc/hostname inside: the sandbox's own host name, resolvable, as Docker and podman
// write them; /etc/resolv.conf naming the sandbox's own resolver when it has its own network.
import { lstatSync, readlinkSync } from "node:fs";
import { dirname, normalize } from "node:path";
import { smallFileText } from "../small-file.ts";
import { ATTR, MS, type PlanBuilder, sandboxPath } from "./builder.ts";

/** Where the sandbox's host name resolves: a loopback address of its own, as Debian writes it (any 127/8 address answers on `lo`). */
export const HOSTNAME_ADDRESS = "127.0.1.1";
/** Where the sandbox's resolver listens (UDP port 53 on the sandbox's own `lo`), as systemd-resolved's stub does on the host. */
export const RESOLVER_ADDRESS = "127.0.0.53";
/** The host's /etc/hosts is read (with `--net host`) up to this size; past it, it is left out. */
const MAX_HOSTS = 1024 * 1024;

/**
 * /etc/hosts for host name `hostname`: localhost for IPv4 and IPv6 and the IPv6 names Docker
 * writes, then `127.0.1.1 NAME` (`NAME SHORT` for a dotted name, so `hostname -f` prints NAME).
 * `hostShared`: the text of the host's own /etc/hosts, appended after a comment when the
 * sandbox shares the host's network (its names then point where they do outside); else the
 * host's names are left out: they would name addresses the sandbox cannot reach.
 */
export function hostsFile(hostname: string, hostShared?: string): string {
  const dot = hostname.indexOf(".");
  const names = dot > 0 ? `${hostname} ${hostname.slice(0, dot)}` : hostname;
  const own = [
    "# written by nsbox for this sandbox",
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    `${HOSTNAME_ADDRESS}\t${names}`,
    "",
  ].join("\n");
  if (hostShared === undefined) return own;
  return `${own}# the host's /etc/hosts (the network is the host's: --net host)\n${hostShared}${hostShared.endsWith("\n") || hostShared === "" ? "" : "\n"}`;
}

/**
 * The host's /etc/hosts, as the machine's own file: a regular file owned by root, read through
 * the descriptor that was checked; "" when it is missing, someone else's, or too large.
 */
function hostHosts(): string {
  return smallFileText("/etc/hosts", { max: MAX_HOSTS, follow: true, accept: (st) => (st.uid === 0 ? undefined : "not root's") }) ?? "";
}

/**
 * Ops that put the sandbox's /etc/hosts and /etc/hostname in place of the host's (`/etc` is the
 * host's, read-only: each file is staged and bound over the host's one, as /etc/passwd is).
 * A file the view does not have as a regular file (missing, a symlink, or /etc itself a symlink)
 * is left alone: a read-only /etc cannot get a new name, and nothing is placed through a symlink. Without
 * /etc/hostname, programs take the name from uname(2), which is the sandbox's anyway.
 * `hostShared`: the network is the host's (`--net host`).
 */
export function etcFileOps(b: PlanBuilder, hostname: string, hostShared: boolean): void {
  const files: [string, () => string, string][] = [
    ["/etc/hosts", () => hostsFile(hostname, hostShared ? hostHosts() : undefined), `for the host name ${hostname}`],
    ["/etc/hostname", () => `${hostname}\n`, `for the host name ${hostname}`],
  ];
  for (const [file, content, purpose] of files) {
    if (b.kindAt(file) !== "file") continue;
    const staged = `/nsbox${file.replaceAll("/", "-")}`;
    const why = { what: `provide ${file} ${purpose}`, path: file };
    b.push({ op: "WRITE_FILE", path: staged, content: content(), mode: 0o644, create: true, why })
      .push({ op: "MOUNT", source: staged, target: sandboxPath(file), flags: MS.BIND, noSymlinks: true, why })
      .setattr(file, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, why);
  }
  if (!hostShared) resolvConfOps(b);
}

/**
 * /etc/resolv.conf naming the sandbox's resolver (src/net/resolver.ts), for a sandbox with its
 * own network (`--net none`, `--net allow=`). The host's file is often a symlink
 * (systemd-resolved's `../run/systemd/resolve/stub-resolv.conf`): root's own symlinks in the
 * view are followed to the file they name, which is covered (or made, in the sandbox's own
 * /run) in its place; the symlink is left as it is. Where nothing can be placed (no
 * /etc/resolv.conf, a target in a read-only or shared tree), it is left alone.
 */
export function resolvConfOps(b: PlanBuilder): void {
  const why = { what: `point /etc/resolv.conf at the sandbox's resolver ${RESOLVER_ADDRESS}`, path: "/etc/resolv.conf", option: "--net" };
  let at = "/etc/resolv.conf";
  for (let hops = 0; b.kindAt(at) === "symlink"; hops++) {
    const host = b.coverAt(at).host;
    if (hops >= 8 || host === undefined) return;
    try {
      if (lstatSync(host).uid !== 0) return;
      const target = readlinkSync(host);
      at = normalize(target.startsWith("/") ? target : `${dirname(at)}/${target}`);
    } catch {
      return;
    }
  }
  try {
    if (b.kindAt(at) === "missing") b.prepare(at, "file", why);
    if (b.kindAt(at) !== "file") return;
  } catch {
    return;
  }
  const staged = "/nsbox-etc-resolv.conf";
  b.push({ op: "WRITE_FILE", path: staged, content: `# written by nsbox: the sandbox's own resolver\nnameserver ${RESOLVER_ADDRESS}\n`, mode: 0o644, create: true, why })
    .push({ op: "MOUNT", source: staged, target: sandboxPath(at), flags: MS.BIND, noSymlinks: true, why })
    .setattr(at, ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV, why);
}
