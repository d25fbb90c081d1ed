// /sys in the default view (read-only, masked as Docker masks it, the sandbox's cgroup tree), and renames of directories in --overlay.
import { describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { NSBOX, collect, cleanedUp, scratchIn, sh } from "./helpers.ts";

const made = cleanedUp();
const scratch = () => scratchIn(made);

/** Docker's masked sysfs paths that this host has, with entries to hide (the control: each has some outside). */
const MASKED = ["/sys/firmware", "/sys/devices/virtual/powercap"].filter((p) => existsSync(p) && readdirSync(p).length > 0);
/** The network choices: a fresh sysfs in the sandbox's own network namespace, and the host's /sys bound. */
const NETS: [string, string[]][] = [["by default", []], ["with --net host", ["--net", "host"]]];

describe.each(NETS)("given /sys %s", (_, net) => {
  it("lscpu, lsblk and nproc work and see the host's CPUs; the cgroup files are readable", async () => {
    // The control: what the tools read is there outside (the old view had no /sys at all).
    expect(existsSync("/sys/devices/system/cpu/possible")).toBe(true);
    const r = await sh("lscpu | grep '^CPU(s):'; nproc; lsblk -d -n -o NAME | head -1 | grep -c .; cat /sys/devices/system/cpu/possible; stat -f -c %T /sys/fs/cgroup; cat /sys/fs/cgroup/cgroup.controllers > /dev/null && echo controllers-read", { cwd: scratch() }, net);
    expect(r.stderr).toBe("");
    const [lscpu, nproc, lsblk, possible, fstype, controllers] = r.stdout.trim().split("\n");
    expect(lscpu).toMatch(new RegExp(`^CPU\\(s\\):\\s+${cpus().length}$`));
    expect(Number(nproc)).toBeGreaterThan(0);
    expect(lsblk).toBe("1");
    expect(possible).toBe(readFileSync("/sys/devices/system/cpu/possible", "utf8").trim());
    expect([fstype, controllers]).toEqual(["cgroup2fs", "controllers-read"]);
    expect(r.exitCode).toBe(0);
  });

  // The default view shares the system directories only: a runtime elsewhere (under $HOME) is not there.
  const system = (path: string | null) => (path && /^\/(usr|bin|sbin|lib)\//.test(path) ? path : undefined);
  const runtimes = [["node", system(Bun.which("node"))], ["bun", system(process.execPath)]].filter((r): r is [string, string] => r[1] !== undefined);
  it.skipIf(runtimes.length === 0)("Node's and Bun's os.availableParallelism() work", async () => {
    const script = runtimes.map(([, path]) => `${path} -e 'console.log(require("os").availableParallelism())'`).join("; ");
    const r = await sh(script, { cwd: scratch() }, net);
    expect(r).toMatchObject({ stdout: runtimes.map(() => `${availableParallelism()}\n`).join(""), exitCode: 0 });
  });

  it("is read-only everywhere: every mount at or below /sys, and writes as root inside fail", async () => {
    const cwd = scratch();
    const writes = [
      "touch /sys/nsbox-x", "echo 1 > /sys/kernel/mm/transparent_hugepage/enabled", "mkdir /sys/fs/cgroup/nsbox-x",
      "echo 1 > /sys/fs/cgroup/cgroup.max.depth", "cat /sys/class/net/lo/mtu > /sys/class/net/lo/mtu", "mount -o remount,rw /sys", "umount /sys/firmware",
    ].map((w) => `${w} 2>/dev/null && echo "did: ${w}"`).join("; ");
    const r = await sh(`${writes}; echo x > here && echo wrote-share; cut -d' ' -f5,6 /proc/self/mountinfo`, { cwd }, net);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n");
    // The control: the same shell writes to the shared directory, and it is mounted rw.
    expect(lines[0]).toBe("wrote-share");
    const mounts = lines.slice(1).map((l) => l.split(" ") as [string, string]);
    expect(mounts.find(([at]) => at === cwd)?.[1]).toMatch(/^rw,/);
    const sys = mounts.filter(([at]) => at === "/sys" || at.startsWith("/sys/"));
    expect(sys.map(([at]) => at)).toContain("/sys");
    for (const [at, options] of sys) expect(`${at} ${options}`).toMatch(/ ro,nosuid,nodev,noexec/);
  });

  it("shows Docker's masked paths empty, though they have entries outside", async () => {
    for (const p of MASKED) expect(readdirSync(p).length).toBeGreaterThan(0);
    const r = await sh(MASKED.map((p) => `echo "${p} $(ls -A ${p} | wc -l)"`).join("; ") || "true", { cwd: scratch() }, net);
    expect(r).toMatchObject({ stdout: MASKED.map((p) => `${p} 0\n`).join(""), stderr: "", exitCode: 0 });
  });
});

describe("given the host's /sys bound (--net host)", () => {
  it("masks every filesystem the host mounts below /sys with an empty directory, and shows the sandbox's cgroup tree", async () => {
    const info = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4]).filter((p): p is string => !!p);
    const below = info.filter((p) => p.startsWith("/sys/") && !p.startsWith("/sys/fs/cgroup"));
    const top = below.filter((p) => !below.some((q) => q !== p && p.startsWith(`${q}/`)));
    const r = await sh(`${top.map((p) => `echo "${p} $(ls -A '${p}' | wc -l)"; `).join("")}test -e /sys/fs/cgroup/cgroup.procs && echo cgroup2`, { cwd: scratch() }, ["--net", "host"]);
    expect(r).toMatchObject({ stdout: `${top.map((p) => `${p} 0\n`).join("")}cgroup2\n`, exitCode: 0 });
  });

  it("shows the host's network devices, where the default sysfs shows only lo", async () => {
    const host = readdirSync("/sys/class/net").sort();
    const [own, shared] = await Promise.all([[], ["--net", "host"]].map((net) => sh("ls /sys/class/net", { cwd: scratch() }, net)));
    expect(own!.stdout.trim().split("\n")).toEqual(["lo"]);
    expect(shared!.stdout.trim().split("\n")).toEqual(host);
  });
});

describe("given a host whose /sys has filesystems mounted below it (made in an outer namespace)", () => {
  /**
   * Run nsbox in `unshare -Urm` after mounting a tmpfs holding a file `secret` at each of
   * `points` (as a host's debugfs or a container's masks would be): `script` runs inside.
   */
  const outer = (points: string[], script: string, args: string[] = []) => collect([
    "unshare", "-Urm", "sh", "-c", `${points.map((p) => `mount -t tmpfs none ${p} && touch ${p}/secret && `).join("")}exec "$@"`, "sh",
    process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, ...args, "--", "sh", "-c", script,
  ], { cwd: scratch() });

  it("masks them with --net host, and keeps its own sysfs where they cover only the kernel's mount points", async () => {
    const script = "ls -A /sys/kernel/debug | wc -l; ls /sys/class/net | grep -cv '^lo$'; true";
    const [bound, own] = await Promise.all([outer(["/sys/kernel/debug"], script, ["--net", "host"]), outer(["/sys/kernel/debug"], script)]);
    // The control: the outer namespace shows the file (the same script, without nsbox).
    const control = await collect(["unshare", "-Urm", "sh", "-c", `mount -t tmpfs none /sys/kernel/debug && touch /sys/kernel/debug/secret && ${script}`], { cwd: scratch() });
    expect(control.stdout.split("\n")[0]).toBe("1");
    expect(bound).toMatchObject({ stdout: `0\n${readdirSync("/sys/class/net").length - 1}\n`, exitCode: 0 });
    expect(own).toMatchObject({ stdout: "0\n0\n", exitCode: 0 });
  });

  it("binds the host's /sys where a mount covers its contents (a container's mask), which the kernel's rule for a fresh sysfs refuses, and masks it", async () => {
    const r = await outer(["/sys/firmware"], "ls -A /sys/firmware | wc -l; touch /sys/nsbox-x 2>/dev/null || echo read-only");
    expect(r).toMatchObject({ stdout: "0\nread-only\n", exitCode: 0 });
  });
});

describe("given a payload that makes its own user namespace (--allow-nested)", () => {
  // As uid 1000 inside, root can be mapped again in a nested namespace (tests/view.test.ts).
  const nested = ["--allow-nested", "--uid", "1000", "--gid", "1000"];
  const attempt = "mkdir -p /tmp/m && mount -t sysfs -o ro,nosuid,nodev,noexec none /tmp/m && echo mounted && ls -A /tmp/m/firmware | wc -l; umount /sys/firmware && echo unmounted; ls -A /sys/firmware | wc -l";

  // A mask over an empty directory hides nothing, and the kernel then allows a fresh sysfs.
  it.skipIf(MASKED.length === 0)("cannot mount a sysfs of its own nor unmount a mask: the kernel locks them", async () => {
    const r = await sh(`unshare -Urmn sh -c '${attempt}'`, { cwd: scratch() }, nested);
    expect(r).toMatchObject({ stdout: "0\n", exitCode: 0 });
    expect(r.stderr).toMatch(/mount: .*\/tmp\/m: permission denied/);
  });

  it.skipIf(MASKED.length === 0)("control: under the host's whole /sys (--ro /sys, the user's choice) the same mount succeeds and shows the firmware", async () => {
    const r = await sh(`unshare -Urmn sh -c '${attempt}'`, { cwd: scratch() }, [...nested, "--ro", "/sys"]);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("mounted");
    expect(Number(lines[1])).toBeGreaterThan(0);
  });
});

describe("given --overlay . and a directory of the project", () => {
  /** A git repository holding sub/f, committed. */
  function repo(): string {
    const cwd = scratch();
    mkdirSync(join(cwd, "sub"));
    writeFileSync(join(cwd, "sub/f"), "x\n");
    const git = (...args: string[]) => Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd, stderr: "pipe" });
    for (const args of [["init", "-q"], ["add", "sub"], ["commit", "-qm", "init"]]) expect(git(...args).exitCode).toBe(0);
    return cwd;
  }

  it("renaming it fails with EXDEV, as README says; mv and git add -A do what git mv would; the host is unchanged", async () => {
    const cwd = repo();
    const r = await sh("git mv sub sub2; echo git-mv=$?; mv sub sub2 && git add -A sub sub2 && git status --short", { cwd }, ["--overlay", "."]);
    expect(r.stderr).toMatch(/renaming 'sub' failed: Invalid cross-device link/);
    expect(r.stdout).toBe("git-mv=128\nR  sub/f -> sub2/f\n");
    expect(readdirSync(cwd).sort()).toEqual([".git", "sub"]);
    const status = await collect(["git", "status", "--short"], { cwd });
    expect(status.stdout).toBe("");
  });

  it("control: files of the project, and directories made inside, rename; without the overlay the directory does too", async () => {
    const cwd = repo();
    const rename = (from: string, to: string) => `python3 -c 'import os; os.rename("${from}", "${to}")' && echo renamed-${from}`;
    const r = await sh(`${rename("sub/f", "sub/g")}; mkdir made && ${rename("made", "made2")}; ${rename("sub", "sub2")}`, { cwd }, ["--overlay", "."]);
    expect(r.stdout).toBe("renamed-sub/f\nrenamed-made\n");
    expect(r.stderr).toMatch(/OSError: \[Errno 18\] Invalid cross-device link/);
    const plain = await sh(rename("sub", "sub2"), { cwd });
    expect(plain).toMatchObject({ stdout: "renamed-sub\n", exitCode: 0 });
  });
});
