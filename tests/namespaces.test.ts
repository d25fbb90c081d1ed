// Each namespace a sandbox gets, seen from inside the sandbox and from the host outside it.
import { describe, expect, it } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { hostname as hostHostname } from "node:os";
import { NSBOX, nsbox, sh, type Ran, cleanedUp, scratchIn } from "./helpers.ts";

const made = cleanedUp();
const scratch = () => scratchIn(made);

const callerUid = process.getuid!();
const callerGid = process.getgid!();

function procStatus(pid: number | string): string {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return "";
  }
}
const statusField = (status: string, name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim().split(/\s+/) ?? [];

/** Host pids of the children of `pid`, found through every process's PPid. */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => statusField(procStatus(e), "PPid")[0] === String(pid))
    .map(Number);
}

interface Running {
  /** Host pids of the sandbox's PID 1 and of the payload. */
  initPid: number;
  payloadPid: number;
  /** What the payload printed before "ready". */
  early: string;
  /** Let the payload finish (closes its stdin) and collect the run. */
  finish(): Promise<Ran>;
}

/**
 * Start a sandbox whose payload runs `script`, prints "ready" and then waits for its stdin to
 * close, so the host can look at it while it runs.
 */
async function startWaiting(args: string[], script: string, cwd: string): Promise<Running> {
  const proc = Bun.spawn([process.execPath, NSBOX, ...args, "--", "sh", "-c", `${script}\necho ready\nread _ || true`], {
    cwd,
    env: process.env,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  const finish = async (): Promise<Ran> => {
    proc.stdin.end();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value, { stream: true });
    }
    const stderr = await new Response(proc.stderr).text();
    return { stdout: out, stderr, exitCode: await proc.exited };
  };
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) {
      const ran = await finish();
      throw new Error(`the sandbox ended before it was ready: ${JSON.stringify(ran)}`);
    }
    out += decoder.decode(value, { stream: true });
  }
  const early = out.slice(0, out.indexOf("ready\n"));
  try {
    const inits = childrenOf(proc.pid);
    expect(inits).toHaveLength(1);
    const payloads = childrenOf(inits[0]!);
    expect(payloads).toHaveLength(1);
    return { initPid: inits[0]!, payloadPid: payloads[0]!, early, finish };
  } catch (e) {
    await finish();
    throw e;
  }
}

async function hostRun(cmd: string[]): Promise<Ran> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

describe("given a running sandbox seen from the host", () => {
  it("puts the payload in a new user, mount, PID, UTS, IPC, network and cgroup namespace", async () => {
    const run = await startWaiting([], "true", scratch());
    try {
      for (const ns of ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"]) {
        const inside = readlinkSync(`/proc/${run.payloadPid}/ns/${ns}`);
        expect(inside).toStartWith(`${ns}:[`);
        expect(inside).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
      }
    } finally {
      expect(await run.finish()).toMatchObject({ exitCode: 0 });
    }
  });

  it("runs the payload as the caller on the host while it is uid 0 inside", async () => {
    const run = await startWaiting([], "id -u; id -g", scratch());
    try {
      expect(run.early).toBe("0\n0\n");
      const status = procStatus(run.payloadPid);
      expect(statusField(status, "Uid")).toEqual(Array(4).fill(String(callerUid)));
      expect(statusField(status, "Gid")).toEqual(Array(4).fill(String(callerGid)));
      expect(readFileSync(`/proc/${run.payloadPid}/uid_map`, "utf8").trim().split(/\s+/)).toEqual(["0", String(callerUid), "1"]);
      expect(readFileSync(`/proc/${run.payloadPid}/gid_map`, "utf8").trim().split(/\s+/)).toEqual(["0", String(callerGid), "1"]);
    } finally {
      expect(await run.finish()).toMatchObject({ exitCode: 0 });
    }
  });

  it("still runs the payload as the caller on the host with --uid 1000 --gid 1000", async () => {
    const run = await startWaiting(["--uid", "1000", "--gid", "1000"], "id -u; id -g", scratch());
    try {
      expect(run.early).toBe("1000\n1000\n");
      const status = procStatus(run.payloadPid);
      expect(statusField(status, "Uid")).toEqual(Array(4).fill(String(callerUid)));
      expect(statusField(status, "Gid")).toEqual(Array(4).fill(String(callerGid)));
      expect(readFileSync(`/proc/${run.payloadPid}/uid_map`, "utf8").trim().split(/\s+/)).toEqual(["1000", String(callerUid), "1"]);
    } finally {
      expect(await run.finish()).toMatchObject({ exitCode: 0 });
    }
  });

  it("numbers the payload 2 and its init 1 in the sandbox's PID namespace", async () => {
    const run = await startWaiting([], "echo $$", scratch());
    try {
      expect(run.early).toBe("2\n");
      expect(statusField(procStatus(run.payloadPid), "NSpid")).toEqual([String(run.payloadPid), "2"]);
      expect(statusField(procStatus(run.initPid), "NSpid")).toEqual([String(run.initPid), "1"]);
    } finally {
      expect(await run.finish()).toMatchObject({ exitCode: 0 });
    }
  });

  it("leaves the host's mount table and host name as they were, during and after the run", async () => {
    const mountsBefore = readFileSync("/proc/self/mountinfo", "utf8");
    const nameBefore = hostHostname();
    const run = await startWaiting([], "true", scratch());
    try {
      expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(mountsBefore);
      expect(hostHostname()).toBe(nameBefore);
      // The sandbox's own mount table is a different one: a tmpfs root and a private /tmp.
      const theirs = readFileSync(`/proc/${run.payloadPid}/mountinfo`, "utf8");
      expect(theirs).not.toBe(mountsBefore);
      expect(theirs).toMatch(/^\d+ \d+ \S+ \/ \/ ro,\S* - tmpfs /m);
    } finally {
      expect(await run.finish()).toMatchObject({ exitCode: 0 });
    }
    const mountsAfter = readFileSync("/proc/self/mountinfo", "utf8");
    expect(mountsAfter).toBe(mountsBefore);
    // None of the sandbox's staging mounts (newroot, oldroot, the nsbox-etc-passwd file) leaked out.
    for (const line of mountsAfter.trim().split("\n")) {
      const [, , , root, point] = line.split(" ");
      expect(`${root} ${point}`).not.toMatch(/\/(newroot|oldroot|nsbox-etc-[a-z]+)(\/|$| )/);
    }
    expect(hostHostname()).toBe(nameBefore);
  });
});

describe("user namespace", () => {
  it("is root inside by default, and /etc/passwd and /etc/group name it", async () => {
    expect(await sh("id -u; id -g; id -un; id -gn", { cwd: scratch() })).toMatchObject({
      stdout: "0\n0\nroot\nroot\n",
      exitCode: 0,
    });
  });

  it("shows --uid 1000 --gid 1000 inside, resolved by /etc/passwd to the inside home", async () => {
    const home = process.env.HOME!;
    const r = await sh('id -u; id -g; n=$(id -un) && grep "^$n:" /etc/passwd | cut -d: -f3,4,6; id -gn >/dev/null && echo group-ok', { cwd: scratch() }, ["--uid", "1000", "--gid", "1000"]);
    expect(r).toMatchObject({ stdout: `1000\n1000\n1000:1000:${home}\ngroup-ok\n`, exitCode: 0 });
  });

  it("creates files in the shared directory as the caller on the host", async () => {
    const cwd = scratch();
    const r = await sh("touch by-root && stat -c %u:%g by-root", { cwd });
    expect(r).toMatchObject({ stdout: "0:0\n", exitCode: 0 });
    expect(statSync(`${cwd}/by-root`)).toMatchObject({ uid: callerUid, gid: callerGid });
  });

  it("creates files as the caller on the host even with --uid 1000 --gid 1000", async () => {
    const cwd = scratch();
    const r = await sh("touch by-1000 && stat -c %u:%g by-1000", { cwd }, ["--uid", "1000", "--gid", "1000"]);
    expect(r).toMatchObject({ stdout: "1000:1000\n", exitCode: 0 });
    expect(statSync(`${cwd}/by-1000`)).toMatchObject({ uid: callerUid, gid: callerGid });
  });

  it("shows host files of ids it does not map as owned by nobody", async () => {
    // /usr belongs to the host's root: mapped (to 0) only when the caller is root.
    expect(statSync("/usr").uid).toBe(0);
    const expected = callerUid === 0 ? "0" : "65534";
    expect(await sh("stat -c %u /usr", { cwd: scratch() })).toMatchObject({ stdout: `${expected}\n`, exitCode: 0 });
  });
});

describe("UTS namespace", () => {
  it("is named nsbox inside and leaves the host's name alone", async () => {
    const before = hostHostname();
    expect(before).not.toBe("nsbox");
    expect(await sh("hostname; cat /proc/sys/kernel/hostname", { cwd: scratch() })).toMatchObject({
      stdout: "nsbox\nnsbox\n",
      exitCode: 0,
    });
    expect(hostHostname()).toBe(before);
  });

  it("takes the name from --hostname", async () => {
    const before = hostHostname();
    expect(await sh("hostname", { cwd: scratch() }, ["--hostname", "build-box"])).toMatchObject({ stdout: "build-box\n", exitCode: 0 });
    expect(hostHostname()).toBe(before);
  });
});

describe("IPC namespace", () => {
  it("hides the host's SysV message queues, and keeps the sandbox's own from the host", async () => {
    const made = await hostRun(["ipcmk", "-Q"]);
    expect(made.exitCode).toBe(0);
    const id = made.stdout.match(/(\d+)\s*$/)?.[1];
    expect(id).toBeDefined();
    /** [msqid, perms] of each queue in a /proc/sysvipc/msg table. */
    const queues = (table: string) => table.split("\n").slice(1).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/).slice(1, 3));
    try {
      // The control: the host does see its queue.
      expect(queues(readFileSync("/proc/sysvipc/msg", "utf8")).map((q) => q[0])).toContain(id);
      // Inside: none of the host's queues; one made there (with a mode to recognise it by) is seen there.
      const r = await sh("cat /proc/sysvipc/msg; echo ---; ipcs -q | grep -c '^0x' || true; ipcmk -Q -p 0601 >/dev/null && ipcs -q | grep -c '^0x'", { cwd: scratch() });
      expect(r.exitCode).toBe(0);
      const [table, counts] = r.stdout.split("---\n");
      expect(queues(table!)).toEqual([]);
      expect(counts).toBe("0\n1\n");
      // It died with the sandbox's IPC namespace and never reached the host.
      expect(queues(readFileSync("/proc/sysvipc/msg", "utf8")).map((q) => q[1])).not.toContain("601");
    } finally {
      await hostRun(["ipcrm", "-q", id!]);
    }
  });
});

describe("PID namespace", () => {
  it("makes the payload PID 2 under a PID 1 that exists", async () => {
    expect(await nsbox(["--", "sh", "-c", "echo $$"], { cwd: scratch() })).toMatchObject({ stdout: "2\n", exitCode: 0 });
    // PID 1's parent is outside the namespace (0), and it has a command line; the sandbox's
    // processes have one pid each, none in an outer namespace.
    const r = await sh("grep -E '^(Pid|PPid):' /proc/1/status; tr -d '\\0' < /proc/1/cmdline | grep -c .; grep NSpid /proc/self/status", { cwd: scratch() });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Pid:\s+1\nPPid:\s+0\n1\nNSpid:\s+\d+\n$/);
  });

  it("lists only the sandbox's processes in /proc", async () => {
    const r = await sh('for e in /proc/[0-9]*; do echo "${e#/proc/}"; done', { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "1\n2\n", exitCode: 0 });
    expect(r.stdout.split("\n")).not.toContain(String(process.pid));
    // The control: the host's /proc does list this test's process.
    expect(readdirSync("/proc")).toContain(String(process.pid));
  });
});

describe("mount namespace", () => {
  it("shows the sandbox only its own mounts, none of the host's others", async () => {
    const cwd = scratch();
    const home = process.env.HOME!;
    const r = await sh("cut -d' ' -f5 /proc/self/mountinfo", { cwd });
    expect(r.exitCode).toBe(0);
    const points = r.stdout.trim().split("\n");
    expect(points[0]).toBe("/");
    const allowed = /^\/(usr|bin|sbin|lib|lib32|lib64|libx32|etc|proc|dev|tmp|sys)(\/|$)/;
    // Below $HOME: the toolchains on PATH that live there (--home-tools, tests/toolchains.test.ts), read-only.
    for (const p of points.slice(1)) {
      if (p !== cwd && p !== home && !p.startsWith(`${home}/`)) expect(p).toMatch(allowed);
    }
    const off = await sh("cut -d' ' -f5 /proc/self/mountinfo", { cwd }, ["--home-tools", "off"]);
    for (const p of off.stdout.trim().split("\n").slice(1)) if (p !== cwd && p !== home) expect(p).toMatch(allowed);
    expect(points).toContain(cwd);
    expect(points).toContain("/tmp");
    // /sys is the sandbox's own: a fresh sysfs, its masks and its cgroup tree (tests/sys.test.ts), none of the host's mounts there.
    expect(points.filter((p) => p.startsWith("/sys")).sort()).toEqual(["/sys", ...(existsSync("/sys/devices/virtual/powercap") ? ["/sys/devices/virtual/powercap"] : []), "/sys/firmware", "/sys/fs/cgroup"]);
  });

  it("cannot mount a tmpfs (the payload holds no capabilities)", async () => {
    const cwd = scratch();
    const before = readFileSync("/proc/self/mountinfo", "utf8");
    const r = await sh("mkdir m && mount -t tmpfs none m; echo status=$?; grep -c ' - tmpfs none ' /proc/self/mountinfo", { cwd });
    expect(r.stdout).toMatch(/^status=[1-9]\d*\n0\n$/);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).toBe(before);
  });
});

describe("network namespace", () => {
  it("has only lo, and it is up", async () => {
    const r = await nsbox(["--", "cat", "/proc/net/dev"], { cwd: scratch() });
    expect(r.exitCode).toBe(0);
    const names = r.stdout.split("\n").slice(2).filter(Boolean).map((l) => l.split(":")[0]!.trim());
    expect(names).toEqual(["lo"]);
    const up = await nsbox(
      ["--", "perl", "-MIO::Socket::INET", "-e",
        '$s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die "listen: $!\\n";' +
        '$c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $s->sockport) or die "connect: $!\\n"; print "connected\\n"'],
      { cwd: scratch() },
    );
    expect(up).toMatchObject({ stdout: "connected\n", exitCode: 0 });
  });

  it("cannot reach a server listening on the host's 127.0.0.1", async () => {
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: (s) => void s.end(), data: () => {} },
    });
    try {
      const probe = `echo > /dev/tcp/127.0.0.1/${server.port}`;
      // The control: the same probe connects from the host.
      expect(await hostRun(["bash", "-c", probe])).toMatchObject({ exitCode: 0 });
      const r = await nsbox(["--", "bash", "-c", probe], { cwd: scratch() });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/Connection refused/);
    } finally {
      server.stop(true);
    }
  });

  it("has no route off the machine", async () => {
    // In proxy mode the kernel answers (the namespace has no route); in transparent mode nsbox
    // refuses first and says so. The route table is the same either way: only lo.
    const proxied = await nsbox(["--", "bash", "-c", "echo > /dev/tcp/192.0.2.1/80"], { cwd: scratch(), env: { ...process.env, NSBOX_NET_MODE: "proxy" } });
    expect(proxied.exitCode).not.toBe(0);
    expect(proxied.stderr).toMatch(/Network is unreachable/);
    const r = await nsbox(["--", "bash", "-c", "echo > /dev/tcp/192.0.2.1/80"], { cwd: scratch() });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Network is unreachable|blocked connect to 192\.0\.2\.1:80/);
  });
});

describe("cgroup namespace", () => {
  it("shows the sandbox's cgroups as roots", async () => {
    const r = await nsbox(["--", "cat", "/proc/self/cgroup"], { cwd: scratch() });
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/:\/$/);
  });
});
