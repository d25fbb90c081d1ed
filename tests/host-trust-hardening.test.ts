// Issue 11, items 9 and 10: the host's memory behind every tmpfs is capped by default, and the
// syscall filter refuses the socket families and calls a sandboxed tool never needs. Real
// sandboxes; each attack has its control (a larger explicit size, or --seccomp none).
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { ROOT, nsbox as nsboxIn, scratchDir } from "./helpers.ts";
import { SOCKET_FAMILIES, SOCKET_PROTOCOLS_REFUSED, assemble, seccompProgram } from "../src/plan/seccomp.ts";
import { TABLE_CHOICES, tableSource } from "../scripts/seccomp-table.ts";
import { TMPFS_LIMITS } from "../src/plan/tmpfs.ts";

const TIMEOUT = 120_000;
const X64 = process.arch === "x64";
const made: string[] = [];
afterAll(() => {
  for (const path of made) rmSync(path, { recursive: true, force: true });
});
function scratch(): string {
  const dir = scratchDir();
  made.push(dir);
  return dir;
}
/**
 * No sandbox here needs the current directory: each starts in / (its $HOME may be below /tmp,
 * as in scripts/test, and a --tmpfs /tmp would cover it).
 */
/**
 * Runs in the proxy mode, without the notify filter (transparent networking,
 * src/plan/seccomp-notify.ts): the seccomp-reaches probe, which installs a seccomp listener of
 * its own (the kernel allows one a process: EBUSY under nsbox's), and the controls with
 * --seccomp none, which mean "no filter of nsbox's" (the notify filter refuses io_uring and
 * foreign architectures too). The default filter is the same in both modes.
 */
const probing = (args: string[]) =>
  args.some((a, i) => a.includes("seccomp-reaches") || a.includes("SECCOMP_FILTER_FLAG_NEW_LISTENER") || (a === "--seccomp" && args[i + 1] === "none"));
const probeEnv = (args: string[], env?: Record<string, string | undefined>) => (probing(args) ? { env: { ...(env ?? process.env), NSBOX_NET_MODE: "proxy" } } : {});
const nsbox = (args: string[], opts: Parameters<typeof nsboxIn>[1] = {}) => nsboxIn(["--no-cwd", "--chdir", "/", ...args], { cwd: scratch(), ...opts, ...probeEnv(args, opts.env) });
/** Single-quote for a POSIX shell. */
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const sh = (script: string, extra: string[] = [], opts: Parameters<typeof nsboxIn>[1] = {}) => nsbox([...extra, "--", "sh", "-c", script], opts);

// ---------------------------------------------------------------------------------------------
describe("the host's memory behind each tmpfs", () => {
  /** The documented default, in bytes: the smaller of the cap and the share of RAM, in whole KiB. */
  const cap = (kind: keyof typeof TMPFS_LIMITS) => {
    const { atMost, ofRam } = TMPFS_LIMITS[kind].size;
    return Math.floor(Math.min(atMost, totalmem() * ofRam) / 4096) * 4096;
  };
  const MiB = 1024 ** 2;
  /** Write `bytes` into FILE, then print its size and whether head succeeded (never the error's wording). */
  const fill = (file: string, bytes: number) => `head -c ${bytes} /dev/zero > ${file} && echo wrote || echo failed; stat -c %s ${file}; rm -f ${file}`;

  test("/tmp: a write past the default cap fails with ENOSPC; with --tmpfs /tmp:size= larger, the same write succeeds", async () => {
    const bytes = cap("scratch") + 8 * MiB;
    const inside = await sh(fill("/tmp/big", bytes));
    expect(inside.stderr).toMatch(/No space left on device/);
    expect(inside.stdout).toBe(`failed\n${cap("scratch")}\n`);
    const control = await sh(fill("/tmp/big", bytes), ["--tmpfs", `/tmp:size=${bytes + 16 * MiB},mode=1777`]);
    expect(control).toMatchObject({ stdout: `wrote\n${bytes}\n`, exitCode: 0 });
  }, TIMEOUT);

  test("$HOME: the same cap; --tmpfs ~:size= replaces it", async () => {
    const bytes = cap("scratch") + 8 * MiB;
    // What the home already holds (the generated ~/.gitconfig, when the user has a git identity) counts against the cap.
    const inside = await sh(`df -B1 --output=used "$HOME" | tail -1; ${fill("$HOME/big", bytes)}`);
    expect(inside.stderr).toMatch(/No space left on device/);
    const [used, ...rest] = inside.stdout.split("\n");
    expect(rest.join("\n")).toBe(`failed\n${cap("scratch") - Number(used)}\n`);
    const control = await sh(fill("$HOME/big", bytes), ["--tmpfs", `~:size=${bytes + 16 * MiB},mode=700`]);
    expect(control).toMatchObject({ stdout: `wrote\n${bytes}\n`, exitCode: 0 });
  }, TIMEOUT);

  test("/dev/shm: its own cap; --tmpfs /dev/shm:size= replaces it", async () => {
    const bytes = cap("shm") + 8 * MiB;
    const inside = await sh(fill("/dev/shm/big", bytes));
    expect(inside.stderr).toMatch(/No space left on device/);
    expect(inside.stdout).toBe(`failed\n${cap("shm")}\n`);
    const control = await sh(fill("/dev/shm/big", bytes), ["--tmpfs", `/dev/shm:size=${bytes + 16 * MiB},mode=1777`]);
    expect(control).toMatchObject({ stdout: `wrote\n${bytes}\n`, exitCode: 0 });
  }, TIMEOUT);

  test("inodes: empty files stop at the inode cap (ENOSPC) although no byte is written; nr_inodes= lifts it", async () => {
    // /dev/shm's cap is the smallest writable one (64k); the root inode is one of them.
    const many = String.raw`my $n = 0; while ($n < $ARGV[1]) { open(my $f, ">", "$ARGV[0]/f$n") or last; close $f; $n++ } print "created=$n errno=", ($! + 0), "\n"`;
    const limit = 64 * 1024;
    const inside = await nsbox(["--", "perl", "-e", many, "/dev/shm", String(limit + 10)]);
    expect(inside.stdout).toBe(`created=${limit - 1} errno=28\n`);
    const control = await nsbox(["--tmpfs", "/dev/shm:nr_inodes=80k,mode=1777", "--", "perl", "-e", many, "/dev/shm", String(limit + 10)]);
    expect(control.stdout).toStartWith(`created=${limit + 10} `);
  }, TIMEOUT);

  test("every tmpfs in the default view, --tmpfs without size= and a discarded overlay's upper have their documented caps", async () => {
    const script = 'for d in / /dev /dev/shm /tmp /scratch /usr/share; do echo "$d $(stat -f -c "%b %S %c" $d)"; done; echo "HOME $(stat -f -c "%b %S %c" "$HOME")"';
    const r = await nsbox(["--tmpfs", "/scratch", "--overlay", "/usr/share", "--", "sh", "-c", script]);
    expect(r.exitCode).toBe(0);
    const sizes = Object.fromEntries(r.stdout.trim().split("\n").map((l) => {
      const [path, blocks, bsize, inodes] = l.split(" ").map((x, i) => (i === 0 ? x : Number(x))) as [string, number, number, number];
      return [path, { blocks, inodes, bsize }];
    }));
    const bsize = sizes["/"].bsize;
    const pages = (bytes: number) => Math.ceil(bytes / bsize);
    for (const v of Object.values(sizes)) delete (v as { bsize?: number }).bsize;
    expect(sizes).toEqual({
      "/": { blocks: pages(cap("skeleton")), inodes: 64 * 1024 },
      "/dev": { blocks: pages(cap("skeleton")), inodes: 64 * 1024 },
      "/dev/shm": { blocks: pages(cap("shm")), inodes: 64 * 1024 },
      "/tmp": { blocks: pages(cap("scratch")), inodes: 256 * 1024 },
      HOME: { blocks: pages(cap("scratch")), inodes: 256 * 1024 },
      "/scratch": { blocks: pages(cap("scratch")), inodes: 256 * 1024 },
      "/usr/share": { blocks: pages(cap("overlay")), inodes: 1024 * 1024 },
    });
  }, TIMEOUT);

  test("the staging area is sized for what the plan puts there: two --file contents of 16 MiB arrive whole, and the area has no room beyond them", async () => {
    const dir = scratch();
    const content = Buffer.alloc(16 * MiB, "nsbox-staging-");
    writeFileSync(join(dir, "big"), content);
    const r = await nsbox(["--file", `/opt/a:${join(dir, "big")}`, "--file", `/opt/b:${join(dir, "big")}`, "--", "sh", "-c", "cat /opt/a /opt/b | wc -c; grep ' /opt/a ' /proc/self/mountinfo | grep -o 'size=[0-9]*k'"]);
    expect(r.exitCode).toBe(0);
    // /etc/passwd, /etc/group and the two files, each rounded up to pages, plus 1 MiB.
    const [count, size] = r.stdout.trim().split("\n");
    expect(Number(count)).toBe(2 * content.length);
    expect(Number(/size=(\d+)k/.exec(size!)?.[1]) * 1024).toBeLessThan(2 * content.length + 2 * MiB);
  }, TIMEOUT);

  test("--tmpfs settings: nr_inodes=0 and size=0 (which tmpfs reads as unlimited) are refused (125)", async () => {
    for (const value of ["/x:size=0", "/x:nr_inodes=0", "/x:nr_inodes=", "/x:nr_inodes=1x"]) {
      const r = await nsbox(["--tmpfs", value, "--", "true"]);
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(/--tmpfs/);
    }
    const control = await nsbox(["--tmpfs", "/x:nr_inodes=10,size=1m", "--", "sh", "-c", "stat -f -c %c /x"]);
    expect(control).toMatchObject({ stdout: "10\n", exitCode: 0 });
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("inotify, which the sandbox shares with the user's own processes", () => {
  const INIT1 = X64 ? 294 : 26; // inotify_init1
  /** Take inotify instances until refused; print how many and the errno, then hold them for ARGV[1] seconds. */
  const GRAB = `my @fds; while (@fds < 100000) { my $r = syscall(${INIT1}, 0); last if $r < 0; push @fds, $r } print "held=", scalar(@fds), " errno=", ($! + 0), "\\n"; sleep($ARGV[0] // 0);`;
  const hostLimit = (name: string) => Number(readFileSync(`/proc/sys/fs/inotify/${name}`, "utf8").trim());

  test("the sandbox's user namespace gets half of the user's instances and watches: it stops at that share (EMFILE) and the user keeps the rest", async () => {
    const share = (n: number) => Math.floor(n / 2);
    const limits = await nsbox(["--", "cat", "/proc/sys/user/max_inotify_instances", "/proc/sys/user/max_inotify_watches"]);
    expect(limits.stdout).toBe(`${share(hostLimit("max_user_instances"))}\n${share(hostLimit("max_user_watches"))}\n`);

    const sandbox = Bun.spawn([process.execPath, join(ROOT, "bin", "nsbox"), "--no-cwd", "--chdir", "/", "--", "perl", "-e", GRAB, "3"], { cwd: scratch(), stdout: "pipe", stderr: "pipe" });
    try {
      const reader = sandbox.stdout.getReader();
      let out = "";
      while (!out.includes("\n")) {
        const chunk = await reader.read();
        if (chunk.done) break;
        out += new TextDecoder().decode(chunk.value);
      }
      const [, held, errno] = /^held=(\d+) errno=(\d+)\n/.exec(out) ?? [];
      expect(Number(errno)).toBe(24); // EMFILE: the sandbox's own limit (or the user's, if others hold more than half)
      expect(Number(held)).toBeLessThanOrEqual(share(hostLimit("max_user_instances")));
      // While the sandbox holds all it may, the user outside can still make one.
      const outside = Bun.spawnSync(["perl", "-e", `my $r = syscall(${INIT1}, 0); print $r < 0 ? "errno " . ($! + 0) : "ok"`]);
      expect(outside.stdout.toString()).toBe("ok");
    } finally {
      await sandbox.exited; // the payload lets go after 3 s
    }
    // Control: the same grab outside any sandbox takes more than the share (then lets go at once).
    const control = Bun.spawnSync(["perl", "-e", GRAB, "0"]);
    expect(Number(/held=(\d+)/.exec(control.stdout.toString())?.[1])).toBeGreaterThan(share(hostLimit("max_user_instances")));
  }, TIMEOUT);

  test("a nested user namespace inside (--allow-nested) does not escape the share: its counts go up the chain", async () => {
    const r = await nsbox(["--allow-nested", "--", "unshare", "-U", "perl", "-e", GRAB, "0"]);
    expect(Number(/held=(\d+)/.exec(r.stdout)?.[1])).toBeLessThanOrEqual(Math.floor(hostLimit("max_user_instances") / 2));
    expect(r.stdout).toMatch(/errno=24/);
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("socket families and calls the filter refuses", () => {
  const NR = X64 ? { socket: 41, socketpair: 53 } : { socket: 198, socketpair: 199 };
  const EAFNOSUPPORT = 97;
  const refused = SOCKET_FAMILIES.refused.map((f) => f.family);
  /** Families the table does not name: AF_UNSPEC, AF_MAX and beyond. */
  const unknown = [0, 46, 64, 255, 0x10001];

  /** tests/fixtures/seccomp-reaches.pl, run as `perl -e` (nothing of the host's is shared). */
  const PROBE = readFileSync(join(ROOT, "tests", "fixtures", "seccomp-reaches.pl"), "utf8");
  const probe = (...args: (string | number)[]) => `perl -e ${shq(PROBE)} ${args.join(" ")}`;
  /** For each family: does socket(family, SOCK_STREAM, 0) / socketpair(…) get past the filter? */
  const probeAll = (families: number[], call: "socket" | "socketpair") =>
    `for f in ${families.join(" ")}; do printf "%s " $f; ${probe(NR[call], "$f", 1, 0, 0)}; done`;

  for (const call of ["socket", "socketpair"] as const) {
    test(`${call}() of every refused family (and unknown ones) gets EAFNOSUPPORT from the filter; with --seccomp none each reaches the kernel`, async () => {
      const families = [...refused, ...unknown];
      const inside = await nsbox(["--", "sh", "-c", probeAll(families, call)]);
      expect(inside.stdout.trim().split("\n")).toEqual(families.map((f) => `${f} refused errno=${EAFNOSUPPORT}`));
      const control = await nsbox(["--seccomp", "none", "--", "sh", "-c", probeAll(families, call)]);
      expect(control.stdout.trim().split("\n")).toEqual(families.map((f) => `${f} reached`));
    }, TIMEOUT);
  }

  test("AF_INET and AF_INET6 with a refused protocol (SCTP, DCCP, L2TP, SMC): EPROTONOSUPPORT from the filter before the kernel loads a module; with --seccomp none each reaches the kernel", async () => {
    const cases = [2, 10].flatMap((family) => SOCKET_PROTOCOLS_REFUSED.map((r) => [family, r.protocol] as const));
    const script = (call: "socket" | "socketpair") => cases.map(([f, proto]) => `printf "%s " ${f}/${proto}; ${probe(NR[call], f, 1, proto, 0)}`).join("; ");
    for (const call of ["socket", "socketpair"] as const) {
      const inside = await nsbox(["--", "sh", "-c", script(call)]);
      expect(inside.stdout.trim().split("\n")).toEqual(cases.map(([f, proto]) => `${f}/${proto} refused errno=93`));
      const control = await nsbox(["--seccomp", "none", "--", "sh", "-c", script(call)]);
      expect(control.stdout.trim().split("\n")).toEqual(cases.map(([f, proto]) => `${f}/${proto} reached`));
    }
  }, TIMEOUT);

  test("AF_VSOCK (it ignores network namespaces): socket() is EAFNOSUPPORT inside; with --seccomp none this kernel makes one", async () => {
    const make = `$! = 0; my $r = syscall($ARGV[0], 40, 1, 0); print $r < 0 ? "errno " . ($! + 0) . "\\n" : "ok\\n"`;
    const inside = await nsbox(["--", "perl", "-e", make, String(NR.socket)]);
    expect(inside.stdout).toBe(`errno ${EAFNOSUPPORT}\n`);
    const control = await nsbox(["--seccomp", "none", "--", "perl", "-e", make, String(NR.socket)]);
    // This kernel has vsock (see /proc/net/protocols); a kernel without it would say EAFNOSUPPORT itself.
    const hasVsock = (await Bun.file("/proc/net/protocols").text()).includes("AF_VSOCK");
    expect(control.stdout).toBe(hasVsock ? "ok\n" : `errno ${EAFNOSUPPORT}\n`);
  }, TIMEOUT);

  test("AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK still work inside (socket, socketpair, a loopback connection)", async () => {
    const script = String.raw`use Socket; my @out;
socket(my $u, AF_UNIX, SOCK_STREAM, 0) and push @out, "unix";
socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, 0) and push @out, "pair";
socket(my $s, AF_INET, SOCK_STREAM, 0) and push @out, "inet";
socket(my $s6, AF_INET6, SOCK_DGRAM, 0) and push @out, "inet6";
socket(my $n, 16, SOCK_RAW, 0) and push @out, "netlink";
socket(my $l, AF_INET, SOCK_STREAM, 0); bind($l, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) && listen($l, 1);
my ($port) = unpack_sockaddr_in(getsockname($l)); socket(my $c, AF_INET, SOCK_STREAM, 0);
connect($c, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) and push @out, "connect";
print join(" ", @out), "\n";`;
    const inside = await nsbox(["--", "perl", "-e", script]);
    expect(inside).toMatchObject({ stdout: "unix pair inet inet6 netlink connect\n", exitCode: 0 });
  }, TIMEOUT);

  test("open_tree_attr (467, the mount API's newest call): EPERM from the filter; with --seccomp none it reaches the kernel", async () => {
    const inside = await nsbox(["--", "sh", "-c", probe(467, -100, 0, 0, 0, 0)]);
    expect(inside.stdout).toBe("refused errno=1\n");
    const control = await nsbox(["--seccomp", "none", "--", "sh", "-c", probe(467, -100, 0, 0, 0, 0)]);
    expect(control.stdout).toBe("reached\n");
  }, TIMEOUT);

  // modify_ldt exists only on x86.
  test.skipIf(!X64)("modify_ldt: ENOSYS from the filter; with --seccomp none the kernel answers (reads an empty LDT)", async () => {
    const ldt = `${probe(154, 0, 0, 0)}; perl -e '$! = 0; my $r = syscall(154, 0, 0, 0); print $r < 0 ? "errno " . ($! + 0) . "\\n" : "ok $r\\n"'`;
    const inside = await nsbox(["--", "sh", "-c", ldt]);
    expect(inside.stdout).toBe("refused errno=38\nerrno 38\n");
    const control = await nsbox(["--seccomp", "none", "--", "sh", "-c", ldt]);
    expect(control.stdout).toMatch(/^reached\n(ok 0|errno 38)\n$/); // ENOSYS here only if the kernel was built without it
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("the filter's program, run by a classic-BPF interpreter, on both architectures it knows", () => {
  /** Run a sock_filter program over seccomp_data {nr, arch, ip, args}; the return value. */
  function run(program: Uint8Array, data: { nr: number; arch: number; args: number[] }): number {
    const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
    const word = (at: number) => (at === 0 ? data.nr : at === 4 ? data.arch : at >= 16 && (at - 16) % 8 === 0 ? (data.args[(at - 16) / 8] ?? 0) >>> 0 : at >= 16 && (at - 16) % 8 === 4 ? 0 : NaN);
    let A = 0;
    for (let pc = 0; pc < program.length / 8; pc++) {
      const code = view.getUint16(pc * 8, true), jt = view.getUint8(pc * 8 + 2), jf = view.getUint8(pc * 8 + 3), k = view.getUint32(pc * 8 + 4, true);
      if (code === 0x20) A = word(k);
      else if (code === 0x15) pc += A === k ? jt : jf;
      else if (code === 0x45) pc += (A & k) !== 0 ? jt : jf;
      else if (code === 0x05) pc += k;
      else if (code === 0x06) return k >>> 0;
      else throw new Error(`opcode ${code.toString(16)}`);
    }
    throw new Error("fell off the end");
  }
  const ARCH = { x64: { audit: 0xc000003e, socket: 41, socketpair: 53, modify_ldt: 154 as number | undefined }, arm64: { audit: 0xc00000b7, socket: 198, socketpair: 199, modify_ldt: undefined } };
  const ALLOW = 0x7fff0000, ERRNO = (e: number) => 0x00050000 | e;

  for (const [machine, a] of Object.entries(ARCH)) {
    test(`${machine}: every refused family gets EAFNOSUPPORT, every allowed one passes, for socket and socketpair`, () => {
      const program = seccompProgram({ allowMounts: false, allowNested: false }, machine);
      for (const nr of [a.socket, a.socketpair]) {
        for (const f of SOCKET_FAMILIES.refused) expect([f.name, run(program, { nr, arch: a.audit, args: [f.family, 1, 0] })]).toEqual([f.name, ERRNO(97)]);
        for (const f of [0, 46, 1000, 0xffffffff]) expect(run(program, { nr, arch: a.audit, args: [f, 1, 0] })).toBe(ERRNO(97));
        for (const f of SOCKET_FAMILIES.allowed) expect([f.name, run(program, { nr, arch: a.audit, args: [f.family, 1, 0] })]).toEqual([f.name, ALLOW]);
        for (const family of [2, 10]) {
          for (const r of SOCKET_PROTOCOLS_REFUSED) expect([family, r.name, run(program, { nr, arch: a.audit, args: [family, 1, r.protocol] })]).toEqual([family, r.name, ERRNO(93)]);
          for (const proto of [0, 6, 17, 1, 58, 262]) expect(run(program, { nr, arch: a.audit, args: [family, 1, proto] })).toBe(ALLOW); // TCP, UDP, ICMP(v6), MPTCP
        }
        // The protocol matters only for AF_INET and AF_INET6.
        expect(run(program, { nr, arch: a.audit, args: [1, 1, 132] })).toBe(ALLOW);
      }
      if (a.modify_ldt !== undefined) expect(run(program, { nr: a.modify_ldt, arch: a.audit, args: [0, 0, 0] })).toBe(ERRNO(38));
      // The rest of the filter still answers as before, after the socket blocks.
      const uname = machine === "x64" ? 63 : 160, keyctl = machine === "x64" ? 250 : 219;
      expect(run(program, { nr: uname, arch: a.audit, args: [] })).toBe(ALLOW);
      expect(run(program, { nr: keyctl, arch: a.audit, args: [] })).toBe(ERRNO(38));
    });
  }

  test("open_tree_attr (Linux 6.15, the mount API's newest call) is refused with the other mount calls, on both architectures", () => {
    for (const [machine, a] of Object.entries(ARCH)) {
      expect(run(seccompProgram({ allowMounts: false, allowNested: false }, machine), { nr: 467, arch: a.audit, args: [] })).toBe(ERRNO(1));
      expect(run(seccompProgram({ allowMounts: true, allowNested: false }, machine), { nr: 467, arch: a.audit, args: [] })).toBe(ALLOW);
    }
  });

  test("the precomputed filters (src/plan/seccomp-table.ts) are what the filter's code assembles: run scripts/seccomp-table.ts after changing it", () => {
    expect(readFileSync(join(ROOT, "src/plan/seccomp-table.ts"), "utf8")).toBe(tableSource());
    for (const machine of Object.keys(ARCH)) {
      for (const [allowMounts, allowNested] of [...TABLE_CHOICES, [false, true] as const]) {
        const want = Buffer.from(assemble({ allowMounts, allowNested }, machine));
        expect(Buffer.from(seccompProgram({ allowMounts, allowNested }, machine))).toEqual(want);
        expect(Buffer.from(seccompProgram({ allowMounts, allowNested, ids: { uid: [[0, 1]], gid: [[0, 1]] } }, machine))).toEqual(want);
      }
      // Other ids are assembled, not looked up.
      const ids = { uid: [[1000, 1]] as const, gid: [[1000, 1]] as const };
      expect(Buffer.from(seccompProgram({ allowMounts: false, allowNested: false, ids }, machine))).toEqual(Buffer.from(assemble({ allowMounts: false, allowNested: false, ids }, machine)));
      expect(Buffer.from(seccompProgram({ allowMounts: false, allowNested: false, ids }, machine))).not.toEqual(Buffer.from(seccompProgram({ allowMounts: false, allowNested: false }, machine)));
    }
  });

  test("the table names every family from 1 to 45 once, allowed or refused, each with its reason", () => {
    const all = [...SOCKET_FAMILIES.allowed, ...SOCKET_FAMILIES.refused];
    expect(all.map((f) => f.family).sort((x, y) => x - y)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    for (const f of all) expect(f.why.length).toBeGreaterThan(10);
  });
});
