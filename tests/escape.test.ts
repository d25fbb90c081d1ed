// Escape attempts (issue 5): a payload that is root inside tries to get out of the sandbox, or
// at the user's secrets, terminal, processes, network, kernel and resources. Each test is one
// attack: it fails inside, and a control shows that the same action does succeed where the
// protection is absent (on the host, or inside with that protection turned off), so that no
// test can pass because the probe itself is broken.
//
// Probes use only perl-base, bash, coreutils and util-linux. System call numbers are x86_64's
// (and aarch64's where there is one); the x32 and ia32 attacks exist only on x86_64.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { NSBOX, ROOT, nsbox as nsboxIn, scratchDir, type Ran, marker, eventually } from "./helpers.ts";

const TIMEOUT = 60_000;
const X64 = process.arch === "x64";
const AS_ROOT = process.getuid!() === 0;
/** System call numbers: x86_64, or the generic table aarch64 uses. */
const NR = X64
  ? { keyctl: 250, add_key: 248, bpf: 321, perf_event_open: 298, userfaultfd: 323, io_uring_setup: 425, ptrace: 101, open_by_handle_at: 304, setxattr: 188, getxattr: 191, uname: 63 }
  : { keyctl: 219, add_key: 217, bpf: 280, perf_event_open: 241, userfaultfd: 282, io_uring_setup: 425, ptrace: 117, open_by_handle_at: 265, setxattr: 5, getxattr: 8, uname: 160 };
const AUDIT_ARCH = X64 ? 0xc000003e : 0xc00000b7;
const ERRNO = { EPERM: 1, ENOENT: 2, ESRCH: 3, EIO: 5, EFAULT: 14, EXDEV: 18, EINVAL: 22, ENOTTY: 25, ENOSYS: 38, ECONNREFUSED: 111 };
const FIXTURES = join(ROOT, "tests", "fixtures");

// ---------------------------------------------------------------------------------------------
// Host-side bookkeeping: every file and process a test makes is removed afterwards.

const made: string[] = [];
const hostProcs: ReturnType<typeof Bun.spawn>[] = [];
const cleanups: (() => void | Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const p of hostProcs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  for (const path of made.splice(0)) rmSync(path, { recursive: true, force: true });
});

/** A scratch directory (a sandbox's current directory, shared read-write), removed afterwards. */
function scratch(): string {
  const dir = scratchDir();
  made.push(dir);
  return dir;
}

/** A host directory of the user's, outside every share: /tmp is private inside, so it is not visible there. */
function victimDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-victim-")));
  made.push(dir);
  return dir;
}

/** nsbox and sh of helpers.ts, in a scratch directory of this file's (removed afterwards) unless told. */
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
const nsbox = (args: string[], opts: Parameters<typeof nsboxIn>[1] = {}) => nsboxIn(args, { cwd: scratch(), ...opts, ...probeEnv(args, opts.env) });
const sh = (script: string, opts: Parameters<typeof nsboxIn>[1] = {}, extra: string[] = []) => nsbox([...extra, "--", "sh", "-c", script], opts);

const rand = () => `${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
/** Single-quote for a POSIX shell. */
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const NSBOX_SH = `${shq(process.execPath)} ${shq(NSBOX)}`;

/** Run a command directly on the host (the control), to completion. */
async function host(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; stdio3?: number } = {}): Promise<Ran> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? scratch(),
    env: opts.env ?? process.env,
    stdio: opts.stdio3 === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "pipe", opts.stdio3],
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), new Response(proc.stderr as ReadableStream).text(), proc.exited]);
  return { stdout, stderr, exitCode };
}
const hostSh = (script: string, opts: Parameters<typeof host>[1] = {}) => host(["sh", "-c", script], opts);

/** Run `perl -e CODE ARGS…` inside a sandbox (`extra` are nsbox options). */
const perlIn = (code: string, args: (string | number)[] = [], extra: string[] = [], opts: Parameters<typeof nsbox>[1] = {}) =>
  nsbox([...extra, "--", "perl", "-e", code, ...args.map(String)], opts);
/** The same on the host. */
const perlOnHost = (code: string, args: (string | number)[] = [], opts: Parameters<typeof host>[1] = {}) => host(["perl", "-e", code, ...args.map(String)], opts);

/** A perl one-liner: syscall(NR, ARGS…) with integer arguments; prints "ok R" or "errno N". */
const SYSCALL = `my ($nr, @a) = map { /^0x/ ? hex : $_ + 0 } @ARGV; $! = 0; my $r = syscall($nr, @a); print $r < 0 ? "errno " . ($! + 0) . "\\n" : "ok $r\\n"`;

/** A scratch directory holding the seccomp-reaches probe (see tests/fixtures/seccomp-reaches.pl). */
function withReachesProbe(): string {
  const cwd = scratch();
  copyFileSync(join(FIXTURES, "seccomp-reaches.pl"), join(cwd, "seccomp-reaches.pl"));
  return cwd;
}

/** Host processes whose argv is exactly `argv` (not zombies). */
function findLive(argv: string[]): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
      const args = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").slice(0, -1);
      if (state !== "Z" && state !== "X" && args.length === argv.length && args.every((a, i) => a === argv[i])) found.push(Number(name));
    } catch {}
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
describe("the terminal", () => {
  /** What a user would read: no carriage returns, no escape sequences. */
  const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\x1b[()][A-Za-z0-9]/g, "").replace(/\r/g, "");

  /** Run `bash -c script` on a fresh pseudo-terminal; its lines once it printed DONE-42. */
  async function onTerminal(script: string): Promise<string[]> {
    let raw = "";
    const decoder = new TextDecoder();
    const cwd = scratch();
    const proc = Bun.spawn(["bash", "--norc", "--noprofile", "-c", `${script}; echo DONE-$((6*7))`], {
      cwd,
      env: { ...process.env, TERM: "xterm", HISTFILE: `${cwd}/.bash_history` },
      terminal: { cols: 100, rows: 30, data: (_t, bytes) => void (raw += decoder.decode(bytes, { stream: true })) },
    });
    try {
      if (!(await eventually(() => plain(raw).split("\n").includes("DONE-42"), 45_000))) throw new Error(`no DONE-42; terminal so far:\n${plain(raw)}`);
      await proc.exited;
      return plain(raw).split("\n");
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      if (!proc.terminal!.closed) proc.terminal!.close();
    }
  }

  // Push "echo INJECTED\n" into the input of the controlling terminal, as if typed.
  const TIOCSTI = String.raw`$| = 1; open(my $t, "+<", "/dev/tty") or do { print "TIOCSTI open-errno=", $! + 0, "\n"; exit };
my ($n, $e) = (0, 0); for my $c (split //, "echo INJECTED\n") { if (ioctl($t, 0x5412, $c)) { $n++ } else { $e = $! + 0 } }
print "TIOCSTI injected=$n errno=$e\n";`;
  // TIOCLINUX subcode 3: paste the console selection into the terminal's input.
  const TIOCLINUX = String.raw`$| = 1; open(my $t, "+<", "/dev/tty") or die "tty: $!"; my $sub = "\x03";
print ioctl($t, 0x541c, $sub) ? "TIOCLINUX ok\n" : "TIOCLINUX errno=" . ($! + 0) . "\n";`;
  /** The outer shell reads its terminal: "echo INJECTED" if something was pushed into it. */
  const OUTER_READ = `read -t 2 line; echo "OUTER-READ:[$line]"`;
  const legacyTiocsti = (() => {
    try {
      return readFileSync("/proc/sys/dev/tty/legacy_tiocsti", "utf8").trim();
    } catch {
      return "1"; // a kernel without the switch always allows TIOCSTI
    }
  })();

  test(
    "TIOCSTI cannot push keystrokes into the user's shell (EPERM); run directly, the same probe can",
    async () => {
      const inside = await onTerminal(`${NSBOX_SH} -- perl -e ${shq(TIOCSTI)}; echo "RC:[$?]"; ${OUTER_READ}`);
      expect(inside).toContain("RC:[0]");
      expect(inside).toContain(`TIOCSTI injected=0 errno=${ERRNO.EPERM}`);
      expect(inside).toContain("OUTER-READ:[]");

      const control = await onTerminal(`perl -e ${shq(TIOCSTI)}; ${OUTER_READ}`);
      if (legacyTiocsti === "0") {
        // The kernel itself refuses TIOCSTI without CAP_SYS_ADMIN here: nothing can be injected anywhere.
        expect(control).toContain(`TIOCSTI injected=0 errno=${ERRNO.EIO}`);
      } else {
        expect(control).toContain("TIOCSTI injected=14 errno=0");
        expect(control).toContain("OUTER-READ:[echo INJECTED]");
      }
    },
    TIMEOUT * 2,
  );

  test(
    "TIOCLINUX is refused by the filter (EPERM), where the kernel itself would answer otherwise (--seccomp none)",
    async () => {
      const inside = await onTerminal(`${NSBOX_SH} -- perl -e ${shq(TIOCLINUX)}; echo "RC:[$?]"`);
      expect(inside).toContain("RC:[0]");
      expect(inside).toContain(`TIOCLINUX errno=${ERRNO.EPERM}`);
      // Without the filter the call reaches the terminal driver, which has no such ioctl on a pty.
      const control = await onTerminal(`${NSBOX_SH} --seccomp none -- perl -e ${shq(TIOCLINUX)}; echo "RC:[$?]"`);
      expect(control).toContain("RC:[0]");
      const line = control.find((l) => l.startsWith("TIOCLINUX "));
      expect(line).toMatch(/^TIOCLINUX errno=\d+$/);
      expect(line).not.toBe(`TIOCLINUX errno=${ERRNO.EPERM}`);
    },
    TIMEOUT * 2,
  );
});

// ---------------------------------------------------------------------------------------------
describe("the user's secrets", () => {
  const SECRETS: Record<string, string> = {
    ".ssh/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY----- nsbox-secret-rsa",
    ".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY----- nsbox-secret-ed25519",
    ".aws/credentials": "[default]\naws_secret_access_key = nsbox-secret-aws",
    ".npmrc": "//registry.npmjs.org/:_authToken=nsbox-secret-npm",
  };
  /** A stand-in $HOME holding the kind of secrets a real one does. */
  function fakeHome(): string {
    const home = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-home-")));
    made.push(home);
    for (const [file, content] of Object.entries(SECRETS)) {
      mkdirSync(join(home, dirname(file)), { recursive: true });
      writeFileSync(join(home, file), `${content}\n`);
    }
    return home;
  }

  test("~/.ssh/id_*, ~/.aws/credentials and ~/.npmrc cannot be read, by $HOME or by absolute path", async () => {
    const home = fakeHome();
    const cwd = scratch(); // outside the home, so the current directory is shared
    const script = Object.keys(SECRETS).map((f) => `cat "$HOME/${f}"; cat '${home}/${f}'`).join("; ") + "; cat \"$HOME\"/.ssh/id_*; true";
    const env = { ...process.env, HOME: home };
    const inside = await sh(script, { cwd, env });
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).toBe("");
    expect(inside.stderr).toMatch(/No such file or directory/);

    const control = await hostSh(script, { cwd, env });
    for (const content of Object.values(SECRETS)) expect(control.stdout).toContain(content);
  }, TIMEOUT);

  test("tokens in the environment (GITHUB_TOKEN, AWS_*, NPM_TOKEN, …) are not passed in", async () => {
    const names = ["GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OPENAI_API_KEY", "GITLAB_TOKEN", "VAULT_TOKEN", "NPM_CONFIG__AUTH", "DATABASE_PASSWORD", "SSH_AUTH_SOCK", "STRIPE_SECRET"];
    const tag = rand();
    const env: Record<string, string | undefined> = { ...process.env };
    for (const n of names) env[n] = `nsbox-secret-${n}-${tag}`;
    const script = `env; tr '\\0' '\\n' < /proc/self/environ; tr '\\0' '\\n' < /proc/$PPID/environ; true`;
    const inside = await sh(script, { env });
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).not.toContain(`nsbox-secret-`);
    expect(inside.stdout).toContain("PATH="); // the probe does print the environment

    const control = await hostSh("env", { env });
    for (const n of names) expect(control.stdout).toContain(`${n}=nsbox-secret-${n}-${tag}`);
    // And inside, with the scrubbing waived for one of them, the same probe sees it.
    const kept = await sh(script, { env }, ["--keep-env", "GITHUB_TOKEN"]);
    expect(kept.stdout).toContain(`GITHUB_TOKEN=nsbox-secret-GITHUB_TOKEN-${tag}`);
  }, TIMEOUT);

  test("the unscrubbed environment PID 1 still holds (it is a copy of nsbox) is out of reach: /proc/1/environ is EACCES", async () => {
    const secret = `nsbox-secret-${rand()}`;
    const env = { ...process.env, GITHUB_TOKEN: secret };
    const script = `tr '\\0' '\\n' < /proc/1/environ; head -c 4096 /proc/1/mem; true`;
    const inside = await sh(script, { env });
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).not.toContain(secret);
    expect(inside.stderr).toMatch(/\/proc\/1\/environ: Permission denied/);
    // PID 1 is not dumpable: even a payload allowed to trace, without Landlock, is refused.
    const loosened = await sh(script, { env }, ["--cap-add", "CAP_SYS_PTRACE", "--landlock", "off"]);
    expect(loosened.stdout).not.toContain(secret);
    expect(loosened.stderr).toMatch(/\/proc\/1\/environ: Permission denied/);
    // Control: the probe does read an environment it may read (its own, given the same value).
    const control = await sh(script.replaceAll("/proc/1/", "/proc/self/"), { env }, ["--env", `GITHUB_TOKEN=${secret}`]);
    expect(control.stdout).toContain(`GITHUB_TOKEN=${secret}`);
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("writing outside the writable paths", () => {
  test("via .. from the current directory: lands in the sandbox's private /tmp, not beside the project", async () => {
    const base = scratch();
    const project = join(base, "project");
    mkdirSync(project);
    const above = `nsbox-pwned-${rand()}`; // in the host's temporary directory, two levels up
    made.push(join(dirname(base), above));
    const script = `echo x > ../pwned-dotdot; mkdir ../../${above}; cd .. && echo x > pwned-cd; ls -A; true`;
    const inside = await sh(script, { cwd: project });
    expect(inside.exitCode).toBe(0);
    expect(readdirSync(base).sort()).toEqual(["project"]);
    expect(existsSync(join(dirname(base), above))).toBe(false);

    const control = await hostSh("echo x > ../pwned-dotdot", { cwd: project });
    expect(control.exitCode).toBe(0);
    expect(existsSync(join(base, "pwned-dotdot"))).toBe(true);
  }, TIMEOUT);

  test("via a symlink in the shared directory pointing to a host directory outside it", async () => {
    const victim = victimDir();
    const cwd = scratch();
    symlinkSync(victim, join(cwd, "planted")); // as an untrusted checkout could contain
    const script = `ln -s '${victim}' out; echo x > out/pwned; echo x > planted/pwned2; mkdir -p '${victim}' && echo x > out/pwned3; true`;
    const inside = await sh(script, { cwd });
    expect(inside.exitCode).toBe(0);
    expect(inside.stderr).toMatch(/nonexistent|No such file or directory/);
    expect(readdirSync(victim)).toEqual([]);

    const control = await hostSh(`echo x > out/pwned; echo x > planted/pwned2`, { cwd });
    expect(control.exitCode).toBe(0);
    expect(readdirSync(victim).sort()).toEqual(["pwned", "pwned2"]);
  }, TIMEOUT);

  test("via a hard link to a host file outside the share: the file is not there to link (ENOENT)", async () => {
    const victim = victimDir();
    writeFileSync(join(victim, "file"), "original\n");
    const cwd = scratch();
    const inside = await sh(`ln '${victim}/file' x && echo x >> x; true`, { cwd });
    expect(inside.exitCode).toBe(0);
    expect(inside.stderr).toMatch(/No such file or directory/);
    expect(existsSync(join(cwd, "x"))).toBe(false);
    expect(readFileSync(join(victim, "file"), "utf8")).toBe("original\n");

    const control = await hostSh(`ln '${victim}/file' x && echo pwned >> x`, { cwd });
    expect(control.exitCode).toBe(0);
    expect(readFileSync(join(victim, "file"), "utf8")).toBe("original\npwned\n");
  }, TIMEOUT);

  test("via a hard link from a read-only share (or /etc) into the writable one: EXDEV", async () => {
    const victim = victimDir();
    writeFileSync(join(victim, "file"), "original\n");
    const cwd = scratch();
    const inside = await sh(`ln '${victim}/file' x && echo pwned >> x; ln /etc/passwd p && echo linked-passwd; echo pwned >> '${victim}/file'; true`, { cwd }, ["--ro", victim]);
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).toBe("");
    expect(inside.stderr.match(/Invalid cross-device link/g)).toHaveLength(2);
    expect(inside.stderr).toMatch(/Read-only file system/);
    expect(readdirSync(cwd)).toEqual([]);
    expect(readFileSync(join(victim, "file"), "utf8")).toBe("original\n");

    // On the host the two directories are one filesystem, and the link makes the file writable.
    const control = await hostSh(`ln '${victim}/file' x && echo pwned >> x`, { cwd });
    expect(control.exitCode).toBe(0);
    expect(readFileSync(join(victim, "file"), "utf8")).toBe("original\npwned\n");
  }, TIMEOUT);

  test("via /proc/self/root, /proc/self/cwd and /proc/$$/root", async () => {
    const victim = victimDir();
    const cwd = scratch();
    const rel = `../${victim.split("/").at(-1)}`; // both are directly in the host's temporary directory
    expect(dirname(victim)).toBe(dirname(cwd));
    const script = [
      `/proc/self/root${victim}/pwned1`,
      `/proc/self/cwd/${rel}/pwned2`,
      `/proc/$$/root${victim}/pwned3`,
      `/proc/$$/cwd/${rel}/pwned4`,
      "/proc/self/root/usr/nsbox-pwned",
    ].map((p) => `echo x > ${p}`).join("; ") + "; true";
    const inside = await sh(`ls -d /proc/self/root${victim}; ${script}`, { cwd });
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).toBe("");
    expect(readdirSync(victim)).toEqual([]);
    expect(existsSync("/usr/nsbox-pwned")).toBe(false);

    const control = await host(["bash", "-c", script.replace("echo x > /proc/self/root/usr/nsbox-pwned; ", "")], { cwd });
    expect(control.exitCode).toBe(0);
    expect(readdirSync(victim).sort()).toEqual(["pwned1", "pwned2", "pwned3", "pwned4"]);
  }, TIMEOUT);

  test("via PID 1's /proc/1/root, /proc/1/cwd and /proc/1/fd: EACCES", async () => {
    const script = "ls /proc/1/root/; ls /proc/1/cwd/; ls -l /proc/1/fd/ | grep -- '->'; readlink /proc/1/root /proc/1/cwd; true";
    const inside = await sh(script);
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).toBe("");
    expect(inside.stderr).toMatch(/cannot access '\/proc\/1\/root\/': Permission denied/);
    expect(inside.stderr).toMatch(/cannot access '\/proc\/1\/cwd\/': Permission denied/);
    // PID 1 is not dumpable: a payload allowed to trace, without Landlock, is refused too.
    const loosened = await sh(script, {}, ["--cap-add", "CAP_SYS_PTRACE", "--landlock", "off"]);
    expect(loosened.stdout).toBe("");
    expect(loosened.stderr).toMatch(/cannot access '\/proc\/1\/root\/': Permission denied/);
    // Control: the same listing through a process the payload may look into (itself) works.
    const control = await sh(script.replaceAll("/proc/1/", "/proc/self/"));
    expect(control.stdout).toContain("usr\n");
  }, TIMEOUT);

  test("via paths read from /proc/self/mountinfo: a sibling of the shared directory stays out of reach", async () => {
    const base = scratch();
    const project = join(base, "project");
    mkdirSync(project);
    mkdirSync(join(base, ".ssh"));
    const secret = join(base, ".ssh", "id_rsa");
    writeFileSync(secret, "nsbox-secret-sibling\n");
    // For each mount: its mount point plus the secret's path below the mount's host root (when it
    // is below), the mount point's parent plus the secret's path relative to the root's parent,
    // and the same through /proc/self/root and /proc/1/root. Then the block device itself.
    const probe = String.raw`
my $secret = shift; my %c;
open my $m, "<", "/proc/self/mountinfo" or die "mountinfo: $!";
while (<$m>) {
  my ($root, $mp) = (split)[3, 4];
  (my $up = $root) =~ s{/[^/]*$}{};
  $c{$mp . substr($secret, length $root)} = 1 if index($secret, "$root/") == 0;
  $c{"$mp/.." . substr($secret, length $up)} = 1 if $up ne "" && index($secret, "$up/") == 0;
  $c{"$_$secret"} = 1 for "", "/proc/self/root", "/proc/1/root", "$mp/..";
  my ($dev) = /\s-\s\S+\s(\S+)/; $c{$dev} = 1 if $dev && $dev =~ m{^/dev/};
}
my $n = 0;
for (sort keys %c) { $n++; open(my $f, "<", $_) or next; my $l = <$f> // ""; print "READ $_: $l" if $l =~ /nsbox-secret/ }
print "tried $n\n";`;
    const inside = await perlIn(probe, [secret], [], { cwd: project });
    expect(inside.exitCode).toBe(0);
    expect(inside.stdout).toMatch(/^tried \d+\n$/);
    expect(Number(/tried (\d+)/.exec(inside.stdout)![1])).toBeGreaterThan(5);

    // The same probe on the host, with the host's mountinfo, finds the file.
    const control = await perlOnHost(probe, [secret], { cwd: project });
    expect(control.stdout).toContain(`READ ${secret}: nsbox-secret-sibling`);
  }, TIMEOUT);

  test("via an inherited descriptor: a directory nsbox was started with open does not reach the payload", async () => {
    const victim = victimDir();
    writeFileSync(join(victim, "secret"), "nsbox-secret-fd\n");
    const fd = openSync(victim, "r");
    try {
      const script = "cat /proc/self/fd/3/secret; echo x > /proc/self/fd/3/pwned; ls /proc/self/fd/; true";
      const proc = Bun.spawn([process.execPath, NSBOX, "--", "sh", "-c", script], { cwd: scratch(), stdio: ["ignore", "pipe", "pipe", fd] });
      const [stdout, exitCode] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
      expect(exitCode).toBe(0);
      expect(stdout).not.toContain("nsbox-secret-fd");
      expect(stdout.split("\n").filter(Boolean).sort()).toEqual(["0", "1", "2", "3"]); // 3: ls's own directory
      expect(readdirSync(victim)).toEqual(["secret"]);

      const control = await hostSh("cat /proc/self/fd/3/secret", { stdio3: fd });
      expect(control.stdout).toBe("nsbox-secret-fd\n");
    } finally {
      closeSync(fd);
    }
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("undoing the sandbox's mounts", () => {
  test("mount -o remount,rw /usr is refused, and /usr stays read-only", async () => {
    const script = `mount -o remount,rw /usr && echo remounted; mount -o remount,bind,rw /usr && echo rebound; grep ' /usr ' /proc/self/mountinfo | cut -d' ' -f6`;
    const inside = await sh(script);
    expect(inside.stdout).toBe("ro,nosuid,nodev,relatime\n");
    expect(inside.stderr).toMatch(/permission denied/i);
    // Control: with CAP_SYS_ADMIN kept and Landlock off the bind can be made writable (nothing is written).
    const control = await sh(script, {}, ["--cap-add", "CAP_SYS_ADMIN", "--landlock", "off"]);
    expect(control.stdout).toContain("rebound\n");
    expect(control.stdout).toMatch(/^rw,/m);
  }, TIMEOUT);

  test("umount /tmp and umount -l $HOME are refused, and the home stays the empty private one", async () => {
    const cwd = scratch();
    const home = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-home-")));
    made.push(home);
    writeFileSync(join(home, ".npmrc"), "nsbox-secret-home\n");
    const script = `umount /tmp && echo unmounted-tmp; umount -l "$HOME" && echo detached-home; umount -l /tmp && echo detached-tmp; cat "$HOME/.npmrc"; grep -c -e ' /tmp ' -e " $HOME " /proc/self/mountinfo`;
    const env = { ...process.env, HOME: home };
    const inside = await sh(script, { cwd, env });
    expect(inside.stdout).toBe("2\n");
    expect(inside.stderr.match(/umount: /g)).toHaveLength(3);
    const control = await sh(script, { cwd, env }, ["--cap-add", "CAP_SYS_ADMIN", "--landlock", "off"]);
    expect(control.stdout).toContain("detached-home\n");
    expect(control.stdout).toContain("detached-tmp\n");
    expect(control.stdout).not.toContain("nsbox-secret-home"); // what was under it is the sandbox's own staging root
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("privilege from set-uid and file capabilities", () => {
  // Start PROGRAM with a pipe for stdin (su waits there for a password); once it sleeps as
  // PROGRAM, report its ids and capabilities from /proc, then kill it.
  const WATCH = String.raw`
my @cmd = @ARGV; (my $comm = $cmd[0]) =~ s{.*/}{};
pipe(my $r, my $w) or die; my $pid = fork // die;
if (!$pid) { close $w; open STDIN, "<&", $r; open STDERR, ">", "/dev/null"; exec @cmd; exit 127 }
close $r;
for (1 .. 1000) {
  open(my $s, "<", "/proc/$pid/status") or last; my $st = join "", <$s>;
  if ($st =~ /^Name:\s+\Q$comm\E$/m && $st =~ /^State:\s+S/m) { print grep { /^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):/ } split /^/, $st; last }
  select(undef, undef, undef, 0.02);
}
kill 9, $pid; waitpid $pid, 0;`;
  const field = (out: string, name: string) => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(out)?.[1]?.split(/\s+/);

  test(
    "a set-uid-root program (/usr/bin/su) run by a non-root payload gains no uid and no capability",
    async () => {
      const su = ["/usr/bin/su", "nobody", "-s", "/bin/true"];
      expect(statSync(su[0]!).mode & 0o4000).toBe(0o4000);
      const inside = await perlIn(WATCH, su, ["--uid", "1000", "--gid", "1000"]);
      expect(field(inside.stdout, "Uid")).toEqual(["1000", "1000", "1000", "1000"]);
      expect(field(inside.stdout, "CapEff")).toEqual(["0000000000000000"]);
      expect(field(inside.stdout, "NoNewPrivs")).toEqual(["1"]);

      // On the host, an unprivileged user running it does become root (effective uid 0).
      const asUser = AS_ROOT ? ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"] : [];
      const control = await host([...asUser, "perl", "-e", WATCH, ...su]);
      expect(field(control.stdout, "Uid")?.[1]).toBe("0");
      expect(field(control.stdout, "CapEff")?.[0]).not.toBe("0000000000000000");
    },
    TIMEOUT,
  );

  test(
    "a copy of perl with file capabilities (cap_dac_override,cap_net_raw=ep) gains none inside",
    async () => {
      const cwd = scratch();
      copyFileSync("/usr/bin/perl", join(cwd, "capperl"));
      chmodSync(join(cwd, "capperl"), 0o755);
      // Set security.capability (v2: effective, permitted = DAC_OVERRIDE | NET_RAW) from a user
      // namespace the user owns, as an unprivileged user can; no setcap(8) needed.
      const setcap = `my ($f, $n) = ("capperl", "security.capability"); my $v = pack("V5", 0x02000001, 0x2002, 0, 0, 0); syscall(${NR.setxattr}, $f, $n, $v, length $v, 0) == 0 or die "setxattr: $!\\n"`;
      const set = await host(["unshare", "-Ur", "perl", "-e", setcap], { cwd });
      expect(set).toMatchObject({ stderr: "", exitCode: 0 });
      const capEff = `open my $s, "<", "/proc/self/status" or die; print grep /^CapEff:/, <$s>`;
      const getxattr = `my ($f, $n, $b) = ("capperl", "security.capability", "\\0" x 64); print "xattr ", syscall(${NR.getxattr}, $f, $n, $b, 64), "\\n"`;

      for (const who of [[], ["--uid", "1000", "--gid", "1000"]]) {
        const inside = await nsbox([...who, "--", "sh", "-c", `perl -e ${shq(getxattr)}; ./capperl -e ${shq(capEff)}`], { cwd });
        expect(inside.exitCode).toBe(0);
        expect(inside.stdout).toMatch(/^xattr (20|24)\n/); // the capabilities are on the file inside too
        expect(inside.stdout).toContain("CapEff:\t0000000000000000\n");
      }

      // Control: exec'd where no_new_privs is off, the file grants them. (In a user namespace of
      // the user's, with SECBIT_NOROOT so that being root there does not grant everything anyway.)
      const control = await host(["unshare", "-Ur", "setpriv", "--securebits", "+noroot", "./capperl", "-e", capEff], { cwd });
      expect(control.stdout).toBe("CapEff:\t0000000000002002\n");
      const plain = await host(["unshare", "-Ur", "setpriv", "--securebits", "+noroot", "perl", "-e", capEff], { cwd });
      expect(plain.stdout).toBe("CapEff:\t0000000000000000\n");
    },
    TIMEOUT,
  );
});

// ---------------------------------------------------------------------------------------------
describe("capabilities", () => {
  const CAPS = `open my $s, "<", "/proc/self/status" or die; print grep /^Cap(Eff|Bnd):/, <$s>; use Socket; print socket(my $raw, AF_INET, SOCK_RAW, 1) ? "raw socket\\n" : "raw socket errno " . ($! + 0) . "\\n"`;

  test("the bounding set is empty: nothing can be regained by exec", async () => {
    const inside = await perlIn(CAPS);
    expect(inside.stdout).toBe(`CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nraw socket errno ${ERRNO.EPERM}\n`);
    const control = await perlOnHost(CAPS);
    expect(control.stdout).not.toContain("CapBnd:\t0000000000000000");
  }, TIMEOUT);

  test("--cap-add CAP_NET_RAW keeps exactly that one (CapEff 0x2000), and it works", async () => {
    const inside = await perlIn(CAPS, [], ["--cap-add", "CAP_NET_RAW"]);
    expect(inside.stdout).toBe("CapEff:\t0000000000002000\nCapBnd:\t0000000000002000\nraw socket\n");
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("the kernel through system calls the filter refuses", () => {
  // [name, arguments, errno inside, what the kernel answers with the filter off]
  const cases: [string, number, (string | number)[], number, (r: string) => boolean, string][] = [
    ["keyctl(KEYCTL_GET_KEYRING_ID, session)", NR.keyctl, [0, -3, 0], ERRNO.ENOSYS, (r) => /^ok \d+$/.test(r), "a keyring id"],
    ["bpf(BPF_MAP_CREATE, NULL)", NR.bpf, [0, 0, 0], ERRNO.EPERM, (r) => r !== `errno ${ERRNO.EPERM}` && r.startsWith("errno "), "the kernel's own errno (EINVAL), not EPERM"],
    ["perf_event_open(NULL)", NR.perf_event_open, [0, 0, -1, -1, 0], ERRNO.ENOSYS, (r) => r === `errno ${ERRNO.EFAULT}`, "EFAULT"],
    ["userfaultfd(UFFD_USER_MODE_ONLY)", NR.userfaultfd, [1], ERRNO.ENOSYS, (r) => /^ok \d+$/.test(r), "a descriptor"],
    ["io_uring_setup(1, NULL)", NR.io_uring_setup, [1, 0], ERRNO.ENOSYS, (r) => r !== `errno ${ERRNO.ENOSYS}`, "not ENOSYS (EFAULT)"],
  ];
  for (const [what, nr, args, errno, reached, expected] of cases) {
    test(`${what}: ${errno === ERRNO.ENOSYS ? "ENOSYS" : "EPERM"} inside; with --seccomp none the kernel answers (${expected})`, async () => {
      const inside = await perlIn(SYSCALL, [nr, ...args]);
      expect(inside).toMatchObject({ stdout: `errno ${errno}\n`, exitCode: 0 });
      const control = await perlIn(SYSCALL, [nr, ...args], ["--seccomp", "none"]);
      expect(control.exitCode).toBe(0);
      expect(reached(control.stdout.trim())).toBe(true);
    }, TIMEOUT);
  }

  test("add_key (planting a key): ENOSYS inside, refused before the kernel; with --seccomp none it would reach the kernel", async () => {
    // The control never lets the call run: seccomp-reaches.pl stops it in the kernel's hands.
    const cwd = withReachesProbe();
    const args = [NR.add_key, 0, 0, 0, 0, -3];
    const inside = await nsbox(["--", "perl", "seccomp-reaches.pl", ...args.map(String)], { cwd });
    expect(inside.stdout).toBe(`refused errno=${ERRNO.ENOSYS}\n`);
    const control = await nsbox(["--seccomp", "none", "--", "perl", "seccomp-reaches.pl", ...args.map(String)], { cwd });
    expect(control.stdout).toBe("reached\n");
  }, TIMEOUT);

  test("open_by_handle_at (the 'shocker' escape) with a handle of a host file: EPERM from the filter", async () => {
    const cwd = withReachesProbe();
    const args = [NR.open_by_handle_at, -100, 0, 0];
    const inside = await nsbox(["--", "perl", "seccomp-reaches.pl", ...args.map(String)], { cwd });
    expect(inside.stdout).toBe(`refused errno=${ERRNO.EPERM}\n`);
    const control = await nsbox(["--seccomp", "none", "--", "perl", "seccomp-reaches.pl", ...args.map(String)], { cwd });
    expect(control.stdout).toBe("reached\n");
  }, TIMEOUT);

  // x32 exists only on x86_64 kernels; on aarch64 the foreign-architecture check covers arm32.
  test.skipIf(!X64)("the x32 ABI (keyctl | 0x40000000): ENOSYS, answered by the filter, never the call", async () => {
    const cwd = withReachesProbe();
    const x32 = `0x${(0x40000000 | NR.keyctl).toString(16)}`;
    const inside = await nsbox(["--", "sh", "-c", `perl -e ${shq(SYSCALL)} ${x32} 0 -3 0; perl seccomp-reaches.pl ${x32} 0 -3 0`], { cwd });
    expect(inside.stdout).toBe(`errno ${ERRNO.ENOSYS}\nrefused errno=${ERRNO.ENOSYS}\n`);
    // This kernel may lack x32 and answer ENOSYS itself; what shows the filter answered is that
    // without it the call goes on to the kernel (the listener hears of it), on the host too.
    const control = await nsbox(["--seccomp", "none", "--", "perl", "seccomp-reaches.pl", x32, "0", "-3", "0"], { cwd });
    expect(control.stdout).toBe("reached\n");
    const onHost = await host(["perl", "seccomp-reaches.pl", x32, "0", "-3", "0"], { cwd });
    expect(onHost.stdout).toBe("reached\n");
  }, TIMEOUT);

  /** A minimal static x86_64 ELF: keyctl(KEYCTL_GET_KEYRING_ID, session) through `int $0x80` (the ia32 ABI), exit(errno or 0). */
  function ia32Keyctl(): Uint8Array {
    const code = [
      0xb8, 0x20, 0x01, 0x00, 0x00, // mov eax, 288 (keyctl in the i386 table)
      0x31, 0xdb, //                   xor ebx, ebx (KEYCTL_GET_KEYRING_ID)
      0xb9, 0xfd, 0xff, 0xff, 0xff, // mov ecx, -3 (KEY_SPEC_SESSION_KEYRING)
      0x31, 0xd2, //                   xor edx, edx (don't create)
      0xcd, 0x80, //                   int 0x80
      0x31, 0xff, //                   xor edi, edi
      0x85, 0xc0, //                   test eax, eax
      0x79, 0x04, //                   jns exit
      0x89, 0xc7, //                   mov edi, eax
      0xf7, 0xdf, //                   neg edi (the errno)
      0xb8, 0x3c, 0x00, 0x00, 0x00, // exit: mov eax, 60 (exit, x86_64)
      0x0f, 0x05, //                   syscall
    ];
    const base = 0x400000, headers = 64 + 56, size = headers + code.length;
    const b = Buffer.alloc(size);
    b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF, 64-bit, little-endian, version 1, System V
    b.writeUInt16LE(2, 16); // ET_EXEC
    b.writeUInt16LE(0x3e, 18); // EM_X86_64
    b.writeUInt32LE(1, 20);
    b.writeBigUInt64LE(BigInt(base + headers), 24); // entry
    b.writeBigUInt64LE(64n, 32); // program headers right after this header
    b.writeUInt16LE(64, 52);
    b.writeUInt16LE(56, 54);
    b.writeUInt16LE(1, 56); // one program header
    b.writeUInt16LE(64, 58);
    b.writeUInt32LE(1, 64); // PT_LOAD
    b.writeUInt32LE(5, 68); // R+X
    b.writeBigUInt64LE(BigInt(base), 80); // vaddr
    b.writeBigUInt64LE(BigInt(base), 88); // paddr
    b.writeBigUInt64LE(BigInt(size), 96); // filesz
    b.writeBigUInt64LE(BigInt(size), 104); // memsz
    b.writeBigUInt64LE(0x1000n, 112);
    b.set(code, headers);
    return b;
  }

  // The hand-made ELF is x86_64 code; int $0x80 (ia32) exists only there.
  test.skipIf(!X64)("the ia32 ABI (int $0x80 from a hand-made ELF): the process is killed with SIGSYS (exit 159)", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "ia32-keyctl"), ia32Keyctl(), { mode: 0o755 });
    const inside = await nsbox(["--", "./ia32-keyctl"], { cwd });
    expect(inside.exitCode).toBe(128 + 31);
    // Control: the same program runs to its end on the host, and inside without the filter.
    const control = await nsbox(["--seccomp", "none", "--", "./ia32-keyctl"], { cwd });
    expect(control.exitCode).toBe(0);
    const onHost = await host(["./ia32-keyctl"], { cwd });
    expect(onHost.exitCode).toBe(0);
  }, TIMEOUT);

  test("nested user namespaces (unshare -U) are refused; --allow-nested allows them", async () => {
    const inside = await sh("unshare -U true && echo nested");
    expect(inside.stdout).toBe("");
    expect(inside.stderr).toMatch(/unshare failed: Operation not permitted/);
    expect(inside.exitCode).not.toBe(0);
    const control = await sh("unshare -U true && echo nested", {}, ["--allow-nested"]);
    expect(control).toMatchObject({ stdout: "nested\n", exitCode: 0 });
  }, TIMEOUT);

  test("--seccomp FILE installs the user's own program (one denying uname), and a malformed one is an error (125)", async () => {
    const cwd = scratch();
    const insns: [number, number, number, number][] = [
      [0x20, 0, 0, 4], // A = arch
      [0x15, 1, 0, AUDIT_ARCH], // this architecture?
      [0x06, 0, 0, 0x80000000], // no: kill
      [0x20, 0, 0, 0], // A = nr
      [0x15, 0, 1, NR.uname],
      [0x06, 0, 0, 0x00050000 | ERRNO.EPERM], // uname: EPERM
      [0x06, 0, 0, 0x7fff0000], // allow
    ];
    const program = Buffer.alloc(insns.length * 8);
    insns.forEach(([code, jt, jf, k], i) => {
      program.writeUInt16LE(code, i * 8);
      program.writeUInt8(jt, i * 8 + 2);
      program.writeUInt8(jf, i * 8 + 3);
      program.writeUInt32LE(k >>> 0, i * 8 + 4);
    });
    writeFileSync(join(cwd, "no-uname.bpf"), program);
    const denied = await nsbox(["--seccomp", "no-uname.bpf", "--", "uname", "-s"], { cwd });
    expect(denied.stdout).toBe("");
    expect(denied.stderr).toMatch(/Operation not permitted/);
    expect(denied.exitCode).not.toBe(0);
    const control = await nsbox(["--", "uname", "-s"], { cwd });
    expect(control).toMatchObject({ stdout: "Linux\n", exitCode: 0 });

    writeFileSync(join(cwd, "bad.bpf"), program.subarray(0, 12));
    const bad = await nsbox(["--seccomp", "bad.bpf", "--", "true"], { cwd });
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr).toMatch(/--seccomp/);
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("processes outside the sandbox, and its PID 1", () => {
  test("a host process is invisible inside and cannot be signalled (ESRCH)", async () => {
    const m = marker();
    const proc = Bun.spawn(["sleep", m], { stdio: ["ignore", "ignore", "ignore"] });
    hostProcs.push(proc);
    const pid = proc.pid;
    expect(await eventually(() => findLive(["sleep", m]).includes(pid))).toBe(true);
    // Every visible process's command line, the one we look for alone on a line; then signal 0.
    const script = `for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < "$f"; echo; done 2>/dev/null | grep -x 'sleep ${m} '; kill -0 ${pid} && echo signalled; perl -e '$! = 0; print kill(0, ${pid}) ? "sent\\n" : "errno " . ($! + 0) . "\\n"'; true`;
    const inside = await sh(script);
    expect(inside.stdout).toBe(`errno ${ERRNO.ESRCH}\n`);
    expect(inside.stderr).toMatch(/No such process/);

    const control = await hostSh(script);
    expect(control.stdout).toBe(`sleep ${m} \nsignalled\nsent\n`);
  }, TIMEOUT);

  test("ptrace of PID 1 (the sandbox's init, holding every capability there): EPERM", async () => {
    // PTRACE_SEIZE: attaches like PTRACE_ATTACH, without stopping PID 1 (the control would hang).
    const attach = `$! = 0; my $r = syscall(${NR.ptrace}, 0x4206, 1, 0, 0); print $r == 0 ? "attached\\n" : "errno " . ($! + 0) . "\\n"`;
    const inside = await perlIn(attach);
    expect(inside.stdout).toBe(`errno ${ERRNO.EPERM}\n`);
    // PID 1 is not dumpable: CAP_SYS_PTRACE inside, without Landlock, does not reach it either.
    const loosened = await perlIn(attach, [], ["--cap-add", "CAP_SYS_PTRACE", "--landlock", "off"]);
    expect(loosened.stdout).toBe(`errno ${ERRNO.EPERM}\n`);
    // Control: with that capability the probe attaches to a process of the sandbox's own.
    const sibling = attach.replace("0x4206, 1,", "0x4206, $pid,");
    const control = await perlIn(`my $pid = fork // die; if (!$pid) { sleep 30; exit 0 } ${sibling}; kill 9, $pid;`, [], ["--cap-add", "CAP_SYS_PTRACE", "--landlock", "off"]);
    expect(control.stdout).toBe("attached\n");
  }, TIMEOUT);

  test("kill -TERM 1: EPERM (Landlock signal scoping); with --landlock off the signal is sent", async () => {
    const script = `kill -TERM 1; echo "rc=$?"`;
    const inside = await sh(script);
    expect(inside).toMatchObject({ stdout: "rc=1\n", exitCode: 0 });
    expect(inside.stderr).toMatch(/Operation not permitted/);
    const control = await sh(script, {}, ["--landlock", "off"]);
    // Sent: PID 1 passes it on to the payload, which dies of it (143) or has reported success first.
    expect(control.exitCode === 143 || control.stdout === "rc=0\n").toBe(true);
  }, TIMEOUT);

  test("a process that outlives its parent does not outlive the sandbox", async () => {
    const m = marker();
    const script = `(sleep ${m} </dev/null >/dev/null 2>&1 &); exit 0`;
    const inside = await sh(script);
    expect(inside.exitCode).toBe(0);
    // A survivor would stay (for 1000+ seconds); the sandbox's are gone once nsbox has exited.
    expect(await eventually(() => findLive(["sleep", m]).length === 0)).toBe(true);

    // Control: on the host the same orphan lives on.
    const control = await hostSh(script);
    expect(control.exitCode).toBe(0);
    try {
      expect(await eventually(() => findLive(["sleep", m]).length === 1)).toBe(true);
    } finally {
      for (const pid of findLive(["sleep", m])) process.kill(pid, "SIGKILL");
    }
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("the host's network and sockets", () => {
  const servers: { stop(force?: boolean): void }[] = [];
  cleanups.push(() => {
    for (const s of servers.splice(0)) s.stop(true);
  });
  /** A server that greets each connection with `hello <tag>`. */
  function listen(where: { hostname: string; port: number } | { unix: string }, tag: string) {
    const server = Bun.listen({
      ...where,
      socket: {
        open(s) {
          s.write(`hello ${tag}\n`);
          s.end();
        },
        data() {},
      },
    } as Parameters<typeof Bun.listen>[0]);
    servers.push(server);
    return server;
  }
  /** Connect to a Unix socket (abstract when it starts with "@"); print "connected" (and with
   * "read", the server's first line: only our own servers send one) or the errno. */
  const UNIX_CONNECT = String.raw`use Socket; my ($p, $read) = @ARGV; $p =~ s/^@/\0/;
socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
if (connect($s, pack_sockaddr_un($p))) { print "connected\n"; print scalar(<$s>) // "" if $read } else { print "errno ", $! + 0, "\n" }`;

  test("a TCP server on the host's 127.0.0.1 is not reachable from inside; from the host it is", async () => {
    const tag = rand();
    const server = listen({ hostname: "127.0.0.1", port: 0 }, tag);
    const script = `exec 3<>/dev/tcp/127.0.0.1/${server.port} && head -n 1 <&3`;
    const inside = await nsbox(["--", "bash", "-c", script]);
    expect(inside.stdout).toBe("");
    expect(inside.stderr).toMatch(/Connection refused/);
    expect(inside.exitCode).not.toBe(0);
    const control = await host(["bash", "-c", script]);
    expect(control.stdout).toBe(`hello ${tag}\n`);
  }, TIMEOUT);

  test("an abstract Unix socket on the host is not reachable from inside; from the host it is", async () => {
    const tag = rand();
    const name = `nsbox-test-${tag}`;
    listen({ unix: `\0${name}` }, tag);
    const inside = await perlIn(UNIX_CONNECT, [`@${name}`, "read"]);
    expect(inside.stdout).toBe(`errno ${ERRNO.ECONNREFUSED}\n`);
    const control = await perlOnHost(UNIX_CONNECT, [`@${name}`, "read"]);
    expect(control.stdout).toBe(`connected\nhello ${tag}\n`);
  }, TIMEOUT);

  test("the session bus (/run/user/UID/bus, $DBUS_SESSION_BUS_ADDRESS) is not visible inside", async () => {
    const tag = rand();
    // The real one when there is one; else a stand-in the user can make, in the host's /tmp.
    let bus = `/run/user/${process.getuid!()}/bus`;
    if (!existsSync(bus)) {
      const dir = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-run-user-")));
      made.push(dir);
      bus = join(dir, "bus");
      listen({ unix: bus }, tag);
    }
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}` };
    const script = `echo "addr=$DBUS_SESSION_BUS_ADDRESS"; ls -d /run/user '${dirname(bus)}' '${bus}'; perl -e ${shq(UNIX_CONNECT)} '${bus}'`;
    const inside = await sh(script, { env });
    expect(inside.stdout).toBe(`addr=\nerrno ${ERRNO.ENOENT}\n`);
    const control = await hostSh(script, { env });
    expect(control.stdout).toContain(`addr=unix:path=${bus}\n`);
    expect(control.stdout).toContain(`${bus}\nconnected\n`);
  }, TIMEOUT);

  test("the X11 sockets (/tmp/.X11-unix) are not visible inside", async () => {
    const tag = rand();
    const dir = "/tmp/.X11-unix";
    if (!existsSync(dir)) {
      mkdirSync(dir);
      chmodSync(dir, 0o1777);
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    }
    // A stand-in X server socket (a high display number nobody uses), when one can be made.
    let socket: string | undefined;
    try {
      socket = join(dir, `X${9000 + Math.floor(Math.random() * 900)}`);
      if (existsSync(socket)) throw new Error("taken");
      listen({ unix: socket }, tag);
      made.push(socket);
    } catch {
      socket = readdirSync(dir).map((n) => join(dir, n))[0];
    }
    const script = `ls -A ${dir}; ${socket ? `perl -e ${shq(UNIX_CONNECT)} '${socket}'` : ""}`;
    const inside = await sh(script);
    expect(inside.stderr).toMatch(/cannot access '\/tmp\/.X11-unix'/);
    if (socket) expect(inside.stdout).toBe(`errno ${ERRNO.ENOENT}\n`);
    const control = await hostSh(script);
    expect(control.exitCode).toBe(0);
    if (socket) expect(control.stdout).toContain(socket.split("/").at(-1)!);
    if (socket && readFileSync("/proc/net/unix", "utf8").includes(socket)) expect(control.stdout).toContain("connected\n");
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------------
describe("resources", () => {
  // Fork until fork fails; report how many started and the errno.
  const FORK_BOMB = String.raw`$| = 1; my @kids; my $err = 0;
for (1 .. 200) { my $p = fork; if (!defined $p) { $err = $! + 0; last } if (!$p) { sleep 30; exit 0 } push @kids, $p }
print "started=", scalar(@kids), " errno=$err\n"; kill 9, @kids; waitpid($_, 0) for @kids;`;

  // Run by root, the payload's processes belong to the host's root user, whom the kernel
  // exempts from RLIMIT_NPROC (copy_process skips the check for INIT_USER): nsbox refuses the
  // limit there rather than pretend to apply it.
  test(
    "a fork bomb under --rlimit nproc=50 stops short (EAGAIN), and --timeout bounds it; without the limit it runs to 200",
    async () => {
      const control = await perlIn(FORK_BOMB, [], ["--timeout", "60s"]);
      expect(control.stdout).toBe("started=200 errno=0\n");
      if (AS_ROOT) {
        const refused = await perlIn(FORK_BOMB, [], ["--rlimit", "nproc=50", "--timeout", "60s"]);
        expect(refused).toMatchObject({ exitCode: 125, stdout: "" });
        expect(refused.stderr).toMatch(/--rlimit nproc: .*root/);
        return;
      }
      const inside = await perlIn(FORK_BOMB, [], ["--rlimit", "nproc=50", "--timeout", "60s"]);
      expect(inside.exitCode).toBe(0);
      expect(inside.stdout).toMatch(new RegExp(`^started=\\d+ errno=11\\n$`)); // EAGAIN
      expect(Number(/started=(\d+)/.exec(inside.stdout)![1])).toBeLessThan(50);
    },
    TIMEOUT * 2,
  );

  // The same with bash: it retries each failed fork with growing pauses, so --timeout ends it
  // (124) or it gives up (254); either way it never starts all 200. (Refused as root, above.)
  test(
    "a bash fork loop under --rlimit nproc=50 hits 'fork: Resource temporarily unavailable' and is ended; without the limit it starts all 200",
    async () => {
      const loop = 'for i in $(seq 200); do sleep 1000 & done; echo "started $(jobs -p | wc -l)"';
      const control = await nsbox(["--timeout", "60s", "--", "bash", "-c", loop]);
      expect(control).toMatchObject({ stdout: "started 200\n", exitCode: 0 });
      if (AS_ROOT) return; // refused as root: see the test above
      const inside = await nsbox(["--rlimit", "nproc=50", "--timeout", "5s", "--", "bash", "-c", loop]);
      expect(inside.stdout).toBe("");
      expect(inside.stderr).toMatch(/fork: (retry: )?Resource temporarily unavailable/);
      expect([124, 254]).toContain(inside.exitCode);
    },
    TIMEOUT,
  );

  test("a memory hog (1 GiB) under --rlimit as=256m fails; without the limit it succeeds", async () => {
    const hog = `my $x = "a" x $ARGV[0]; print "allocated ", length($x), "\\n"`;
    const inside = await perlIn(hog, [1024 ** 3], ["--rlimit", "as=256m"]);
    expect(inside.stdout).toBe("");
    expect(inside.stderr).toMatch(/Out of memory/);
    expect(inside.exitCode).not.toBe(0);
    const control = await perlIn(hog, [1024 ** 3]);
    expect(control).toMatchObject({ stdout: `allocated ${1024 ** 3}\n`, exitCode: 0 });
  }, TIMEOUT);

  test("--memory 1g without a delegated cgroup v2: exit 125, explaining that", async () => {
    const r = await nsbox(["--memory", "1g", "--", "true"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/--memory 1g: needs a delegated cgroup v2/);
    expect(r.stderr).toMatch(/--rlimit/);
    const control = await nsbox(["--", "true"]);
    expect(control.exitCode).toBe(0);
  }, TIMEOUT);
});
