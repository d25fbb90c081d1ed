// /sys in the default view: read-only, its sensitive parts masked as Docker masks them, and the sandbox's own cgroup tree.
import { readFileSync, statSync } from "node:fs";
import { ATTR, MS, type PlanBuilder, isAncestorOrSelf } from "./builder.ts";
import { tmpfsOptions } from "./tmpfs.ts";

/**
 * Directories of sysfs shown empty (Docker's and runc's masked paths): firmware tables (ACPI,
 * DMI serial numbers, EFI variables) and the powercap energy counters, whose readings leak what
 * other processes compute (PLATYPUS, CVE-2020-8694).
 */
export const SYS_MASKED = ["/sys/firmware", "/sys/devices/virtual/powercap"];

/**
 * The empty directories the kernel makes in sysfs for other filesystems to be mounted on (debugfs,
 * tracefs, securityfs, bpffs, configfs, pstore, fusectl, efivarfs, selinuxfs, cgroups). A fresh
 * sysfs shows them empty; the host's mounts on them are not carried along.
 */
const KERNEL_MOUNT_POINTS = [
  "/sys/fs/cgroup", "/sys/kernel/debug", "/sys/kernel/tracing", "/sys/kernel/security", "/sys/kernel/config",
  "/sys/fs/bpf", "/sys/fs/pstore", "/sys/fs/fuse/connections", "/sys/firmware/efi/efivars", "/sys/fs/selinux",
];

const RO = ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC;
const FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/** The host's mounts at or below /sys, in mountinfo's order: mount point, filesystem type, mount options. */
function sysMounts(): Array<{ at: string; fstype: string; options: string[] }> {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8").split("\n").flatMap((line) => {
      const f = line.split(" ");
      const at = f[4]?.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
      const fstype = f[f.indexOf("-") + 1];
      return at && fstype && f.includes("-") && isAncestorOrSelf("/sys", at) ? [{ at, fstype, options: f[5]?.split(",") ?? [] }] : [];
    });
  } catch {
    return [];
  }
}

const isDir = (path: string) => {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
};

/**
 * Ops for /sys: nothing when the host has no sysfs at /sys. With its own network namespace
 * (`ownNetwork`) the sandbox mounts a fresh sysfs, which shows its own network devices; the
 * kernel allows that to a user namespace only while a sysfs it can fully see is mounted in it
 * (mount_too_revealing), so where the host's /sys has mounts over its contents (a container's
 * masks, an outer sandbox's) and with the host's network (`--net host`: the kernel wants the
 * network namespace's owner) it binds the host's /sys read-only with everything below it, and
 * masks each filesystem mounted there (debugfs, securityfs, bpffs, …) with an empty directory.
 * Then the masked directories, and /sys/fs/cgroup as the sandbox's cgroup namespace shows the
 * cgroup v2 tree (cgroup-aware runtimes read their limits there), read-only.
 *
 * Nothing of it is writable: every mount is read-only and no payload capability may remount it;
 * from a nested user namespace (--allow-nested) the kernel locks the masks in place and refuses
 * a fresh sysfs, since this one is not fully visible.
 */
export function sysOps(b: PlanBuilder, ownNetwork: boolean): void {
  const mounts = sysMounts();
  if (mounts[0]?.at !== "/sys" || mounts[0].fstype !== "sysfs") return;
  const below = mounts.slice(1).filter((m, i, all) => !all.slice(0, i).some((o) => isAncestorOrSelf(o.at, m.at)));
  // The kernel also wants the new mount's access-time rule to be the visible one's: the default.
  const fresh = ownNetwork && mounts[0].options.includes("relatime") && below.every((m) => KERNEL_MOUNT_POINTS.includes(m.at));
  const why = { what: "mount a read-only /sys", path: "/sys" };
  if (fresh) {
    b.special("sysfs", "/sys", undefined, FLAGS, why, "/sys").setattr("/sys", RO, why);
  } else {
    b.bind("/sys", "/sys", { readOnly: true, isDir: true, why, attrs: ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC });
  }
  const masks = [...SYS_MASKED, ...(fresh ? [] : below.map((m) => m.at).filter((at) => at !== "/sys/fs/cgroup"))];
  for (const path of masks) {
    // A mask's parent masked already (an efivarfs below /sys/firmware) hides it too.
    if (!isDir(path) || masks.some((m) => m !== path && isAncestorOrSelf(m, path))) continue;
    const mask = { what: `mask ${path} with an empty directory`, path };
    b.special("tmpfs", path, tmpfsOptions("hidden", "0755"), FLAGS, mask).setattr(path, RO, mask);
  }
  if (isDir("/sys/fs/cgroup")) {
    const cgroup = { what: "mount the sandbox's cgroup tree read-only at /sys/fs/cgroup", path: "/sys/fs/cgroup" };
    b.special("cgroup2", "/sys/fs/cgroup", undefined, FLAGS, cgroup).setattr("/sys/fs/cgroup", RO, cgroup);
  }
}
