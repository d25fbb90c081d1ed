// The interactive-terminal path, driven through a real pseudo-terminal (Bun.spawn's `terminal`
// option; no tmux needed). When nsbox's stdin and stdout are terminals, the payload runs on a pty
// of its own, in its own session; nsbox relays keys and output, follows window-size changes and
// gives the user's terminal back on exit. Without a terminal, stdio passes straight through and
// the payload still gets its own session.
//
// Waiting is done by polling for output or for process state in /proc (never by asserting on
// durations). Typed commands print markers computed by the shell (`echo NAME-$((6*7))` prints
// NAME-42), so the terminal's echo of the typed line is never mistaken for the command's output.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { NSBOX, scratchDir } from "./helpers.ts";

const ICANON = 0o2;
const ECHO = 0o10;
const TIMEOUT = 60_000;

/** Single-quote for a POSIX shell. */
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
/** The nsbox command line, for shell scripts. */
const NSBOX_SH = `${shq(process.execPath)} ${shq(NSBOX)}`;

/** A command that prints `${name}-42`, which its own echo on the terminal does not contain. */
const mark = (name: string) => ({ cmd: `echo ${name}-$((6*7))`, out: `${name}-42` });

/** What a user would read: no carriage returns, no escape sequences (prompt colours, bracketed paste). */
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\x1b[()][A-Za-z0-9]/g, "").replace(/\r/g, "");

async function until(cond: () => boolean, ms: number, what: string, show: () => string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}; terminal so far:\n${show()}`);
    await Bun.sleep(25);
  }
}

interface ProcInfo {
  pid: number;
  argv: string[];
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Foreground process group of the process's controlling terminal (-1: none). */
  tpgid: number;
}

function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
    return { pid, argv, state: f[0]!, ppid: +f[1]!, pgrp: +f[2]!, session: +f[3]!, tpgid: +f[5]! };
  } catch {
    return null; // gone meanwhile
  }
}

/** Every live descendant of `root` (host pids: the sandbox's processes are visible from here). */
function descendants(root: number): ProcInfo[] {
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map((n) => procInfo(+n)).filter((p) => p !== null);
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: ProcInfo[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(root);
  return out;
}

/** A process started on a fresh pseudo-terminal, with everything it printed. */
class Session {
  raw = "";
  readonly proc: ReturnType<typeof Bun.spawn>;
  private readonly decoder = new TextDecoder();

  constructor(cmd: string[], opts: { cols?: number; rows?: number; cwd?: string; env?: Record<string, string | undefined> } = {}) {
    const cwd = opts.cwd ?? scratchDir();
    this.proc = Bun.spawn(cmd, {
      cwd,
      // History goes to the scratch directory, never to the user's own ~/.bash_history.
      env: { ...process.env, TERM: "xterm", PS1: "$ ", HISTFILE: `${cwd}/.bash_history`, ...opts.env },
      terminal: {
        cols: opts.cols ?? 80,
        rows: opts.rows ?? 24,
        data: (_t, bytes) => {
          this.raw += this.decoder.decode(bytes, { stream: true });
        },
      },
    });
    sessions.push(this);
  }

  get term(): Bun.Terminal {
    return this.proc.terminal!;
  }
  /** The output so far, as plain text. */
  get text(): string {
    return plain(this.raw);
  }
  lines(): string[] {
    return this.text.split("\n");
  }
  type(s: string): void {
    this.term.write(s);
  }
  /** Wait until a line of output is exactly `line` (or matches it), searching from `from` characters of text on. */
  async waitLine(line: string | RegExp, ms = 20_000, from = 0): Promise<string> {
    let found: string | undefined;
    const match = (l: string) => (typeof line === "string" ? l === line : line.test(l));
    await until(() => (found = plain(this.raw).slice(from).split("\n").find(match)) !== undefined, ms, `a line ${line}`, () => this.text);
    return found!;
  }
  /** Type a command followed by a marker, and wait for the marker's output. */
  async run(cmd: string, name: string, ms = 20_000): Promise<void> {
    const m = mark(name);
    this.type(`${cmd}; ${m.cmd}\r`);
    await this.waitLine(m.out, ms);
  }
  /** Wait until a descendant process matching `pred` exists, and return it. */
  async waitProc(pred: (p: ProcInfo) => boolean, what: string, ms = 20_000): Promise<ProcInfo> {
    let found: ProcInfo | undefined;
    await until(() => (found = descendants(this.proc.pid).find(pred)) !== undefined, ms, what, () => this.text);
    return found!;
  }
  async exited(ms = 20_000): Promise<number> {
    await until(() => this.proc.exitCode !== null || this.proc.signalCode !== null, ms, "the process to exit", () => this.text);
    return (await this.proc.exited) as number;
  }
  /** End whatever is left (this session's own processes, by pid) and close the terminal. */
  async close(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      for (const p of descendants(this.proc.pid).reverse()) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {}
      }
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    if (!this.term.closed) this.term.close();
  }
}

const sessions: Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
});

/** nsbox running an interactive bash (no rc files) on a fresh terminal; resolves once bash answers. */
async function nsboxBash(opts: { cols?: number; rows?: number } = {}): Promise<Session> {
  const s = new Session([process.execPath, NSBOX, "--", "bash", "--norc", "--noprofile", "-i"], opts);
  // Only plain text before this: a Ctrl-C typed before nsbox has made the terminal raw would hit nsbox.
  await s.run("true", "READY");
  return s;
}

const isSleep100 = (p: ProcInfo) => p.argv.length === 2 && p.argv[0] === "sleep" && p.argv[1] === "100";
/** The foreground process group of its terminal, and running (sleeping in the kernel sense). */
const inForeground = (p: ProcInfo) => p.pgrp === p.tpgid && p.state === "S";

describe("nsbox on a terminal", () => {
  test(
    "the payload has its own pty of the outer size, and follows resizes (SIGWINCH)",
    async () => {
      const s = await nsboxBash({ cols: 91, rows: 37 });
      await s.run(`echo "TTY:[$(tty)]"; echo "SIZE:[$(stty size)]"`, "M1");
      expect(await s.waitLine(/^TTY:\[/)).toMatch(/^TTY:\[\/dev\/pts\/\d+\]$/);
      expect(await s.waitLine(/^SIZE:\[/)).toBe("SIZE:[37 91]");
      // Its own pty, not the outer one: bash leads a session of its own that has a controlling
      // terminal, and a terminal belongs to one session only (the outer one is nsbox's).
      const bash = descendants(s.proc.pid).find((p) => p.argv[0] === "bash")!;
      expect(bash.session).toBe(bash.pid);
      expect(bash.tpgid).toBeGreaterThan(0);
      expect(bash.session).not.toBe(procInfo(s.proc.pid)!.session);

      // A foreground program is told about a resize by SIGWINCH, and then sees the new size.
      const waiter = `$|=1; $SIG{WINCH} = sub { $w = 1 }; print "WAITING-", 6*7, "\\n"; sleep 1 until $w; chomp(my $sz = qx(stty size)); print "GOT-WINCH:[$sz]\\n"`;
      s.type(`perl -e ${shq(waiter)}\r`);
      await s.waitLine("WAITING-42");
      s.term.resize(103, 41);
      expect(await s.waitLine(/^GOT-WINCH:/)).toBe("GOT-WINCH:[41 103]");
      const after = s.text.length;
      await s.run(`echo "SIZE2:[$(stty size)]"`, "M2");
      expect(await s.waitLine(/^SIZE2:\[/, 20_000, after)).toBe("SIZE2:[41 103]");

      // Again, at the shell prompt this time.
      s.term.resize(70, 20);
      const resized = `for i in $(seq 200); do [ "$(stty size)" = "20 70" ] && break; sleep 0.1; done`;
      await s.run(`${resized}; echo "SIZE3:[$(stty size)]"`, "M3");
      expect(await s.waitLine(/^SIZE3:\[/)).toBe("SIZE3:[20 70]");

      s.type("exit 0\r");
      expect(await s.exited()).toBe(0);
    },
    TIMEOUT,
  );

  test(
    "job control: Ctrl-Z stops the foreground job, fg resumes it, Ctrl-C ends it, bash lives on; exit status passes out",
    async () => {
      const s = await nsboxBash();
      const outer = s.proc.pid;
      s.type("sleep 100\r");
      const sleep = await s.waitProc((p) => isSleep100(p) && inForeground(p), "sleep 100 in the foreground");
      // It runs in the sandbox's session, not in nsbox's (the outer terminal's) session.
      expect(sleep.session).not.toBe(procInfo(outer)!.session);

      s.type("\x1a"); // Ctrl-Z
      await s.waitLine(/Stopped\s+sleep 100/);
      await s.waitProc((p) => p.pid === sleep.pid && p.state === "T", "sleep 100 stopped");
      await s.run("jobs", "J1");
      expect(s.text).toMatch(/\[1\]\+\s+Stopped\s+sleep 100/);

      s.type("fg\r");
      await s.waitProc((p) => p.pid === sleep.pid && inForeground(p), "sleep 100 back in the foreground");
      s.type("\x03"); // Ctrl-C
      await until(() => procInfo(sleep.pid) === null, 20_000, "sleep 100 to end", () => s.text);
      await s.run(`echo "STATUS:[$?]"`, "ALIVE");
      expect(s.lines()).toContain("STATUS:[130]"); // 128 + SIGINT

      s.type("exit 3\r");
      expect(await s.exited()).toBe(3);
    },
    TIMEOUT,
  );

  test(
    "Ctrl-C reaches only the foreground job, not the shell that waits for it",
    async () => {
      const s = await nsboxBash();
      await s.run(`trap 'echo bash-got-int' INT`, "TRAPPED");
      const trapFired = () => s.lines().filter((l) => /bash-got-int$/.test(l)).length;

      // Control: with the shell itself in the foreground, Ctrl-C does reach it and runs the trap.
      s.type("\x03");
      await until(() => trapFired() === 1, 20_000, "the INT trap to run at the prompt", () => s.text);

      s.type("sleep 100\r");
      const sleep = await s.waitProc((p) => isSleep100(p) && inForeground(p), "sleep 100 in the foreground");
      s.type("\x03");
      await until(() => procInfo(sleep.pid) === null, 20_000, "sleep 100 to end", () => s.text);
      await s.run(`echo "STATUS:[$?]"`, "AFTER");
      expect(s.lines()).toContain("STATUS:[130]");
      expect(trapFired()).toBe(1); // the shell did not get the second one

      s.type("exit 0\r");
      expect(await s.exited()).toBe(0);
    },
    TIMEOUT,
  );
});

// TIOCSTI (push a byte into a terminal's input queue, as if typed) on every terminal descriptor
// the probe has, and on /dev/tty (its controlling terminal, if any).
const PROBE = String.raw`
$| = 1;
sub inject { my ($fh, $name) = @_; my ($n, $errno, $msg) = (0, 0, "");
  for my $c (split //, "echo INJECTED\n") { if (ioctl($fh, 0x5412, $c)) { $n++ } else { ($errno, $msg) = ($! + 0, "$!") } }
  print "TIOCSTI $name injected=$n errno=$errno ($msg)\n"; }
opendir(my $d, "/proc/self/fd") or die "opendir: $!";
for my $fd (sort { $a <=> $b } grep { /^\d+$/ } readdir($d)) {
  my $fh; open($fh, "<&=", $fd) or open($fh, ">&=", $fd) or next;
  inject($fh, "fd$fd") if -t $fh;
}
if (open(my $t, "+<", "/dev/tty")) { inject($t, "devtty") } else { print "TIOCSTI devtty open-errno=", $! + 0, " ($!)\n" }
`;
const PROBE_SH = `perl -e ${shq(PROBE)}`;
/** What the outer shell reads from its terminal afterwards: "echo INJECTED" if the probe got through. */
const OUTER_READ = `read -t 2 line; echo "OUTER-READ:[$line]"`;

const legacyTiocsti = (() => {
  try {
    return readFileSync("/proc/sys/dev/tty/legacy_tiocsti", "utf8").trim();
  } catch {
    return null; // a kernel without the switch: TIOCSTI is always allowed
  }
})();
const CONTROL_SKIP =
  legacyTiocsti === "0"
    ? "/proc/sys/dev/tty/legacy_tiocsti is 0: the kernel refuses TIOCSTI to processes without CAP_SYS_ADMIN, so the control cannot inject"
    : null;

/** Run `script` with `bash -c` on a fresh terminal, to completion. */
async function outerShell(script: string): Promise<Session> {
  const s = new Session(["bash", "--norc", "--noprofile", "-c", script]);
  await s.exited(40_000);
  return s;
}

describe("TIOCSTI (CVE-2017-5226 class)", () => {
  test(
    "from inside nsbox it lands in the sandbox's own pty, never in the outer terminal",
    async () => {
      // Control: the same probe run directly by the outer shell does type into its terminal.
      const control = await outerShell(`${PROBE_SH}; ${OUTER_READ}`);
      if (CONTROL_SKIP) {
        console.warn(`skipping the TIOCSTI control: ${CONTROL_SKIP}`);
        expect(control.lines()).toContain("OUTER-READ:[]");
      } else {
        expect(control.lines()).toContain("TIOCSTI fd0 injected=14 errno=0 ()");
        expect(control.lines()).toContain("OUTER-READ:[echo INJECTED]");
      }

      // Inside nsbox, with the syscall filter off: the probe's terminal is the sandbox's own,
      // where the bytes do arrive (the inner shell reads them), and the outer shell reads nothing.
      const inner = `${PROBE_SH}; read -t 5 line; echo "INNER-READ:[$line]"`;
      const s = await outerShell(`${NSBOX_SH} --seccomp none -- bash --norc -c ${shq(inner)}; echo "RC:[$?]"; ${OUTER_READ}`);
      const lines = s.lines();
      expect(lines).toContain("RC:[0]");
      expect(lines).toContain("OUTER-READ:[]");
      const probed = lines.filter((l) => l.startsWith("TIOCSTI "));
      expect(probed.length).toBeGreaterThan(0);
      if (!CONTROL_SKIP) {
        expect(probed).toContain("TIOCSTI fd0 injected=14 errno=0 ()");
        expect(probed).toContain("TIOCSTI devtty injected=14 errno=0 ()");
        expect(lines).toContain("INNER-READ:[echo INJECTED]");
      }
    },
    TIMEOUT,
  );

  test(
    "with the default filter, TIOCSTI is refused outright (EPERM) and nothing reaches the outer terminal",
    async () => {
      const s = await outerShell(`${NSBOX_SH} -- ${PROBE_SH}; echo "RC:[$?]"; ${OUTER_READ}`);
      const lines = s.lines();
      expect(lines).toContain("RC:[0]");
      expect(lines).toContain("OUTER-READ:[]");
      const probed = lines.filter((l) => l.startsWith("TIOCSTI "));
      expect(probed.length).toBeGreaterThan(0);
      for (const line of probed) expect(line).toMatch(/errno=(1|6) /);
    },
    TIMEOUT,
  );

  test(
    "stdout a pipe: stdin and stderr, the outer terminal, are the payload's own pty (never the outer one); TIOCSTI: EPERM",
    async () => {
      // stdin is the outer terminal, stdout a pipe: the pipe passes straight through, the
      // terminal's places get the sandbox's pty (tests/host-trust-terminal.test.ts).
      const s = await outerShell(`${NSBOX_SH} -- ${PROBE_SH} | cat; echo "RC:[\${PIPESTATUS[0]}]"; ${OUTER_READ}`);
      const lines = s.lines();
      expect(lines).toContain("RC:[0]");
      expect(lines).toContain("OUTER-READ:[]");
      const fd0 = lines.find((l) => l.startsWith("TIOCSTI fd0 "));
      expect(fd0).toMatch(/^TIOCSTI fd0 injected=0 errno=1 \(/); // EPERM: Operation not permitted
      for (const l of lines.filter((l) => /^TIOCSTI (fd\d+|devtty) /.test(l))) expect(l).toMatch(/injected=0 errno=1 /);
    },
    TIMEOUT,
  );
});

describe("the outer terminal after nsbox", () => {
  const CHECK = `stty -a | tr ' ;' '\\n\\n' | grep -xE -e '-?(icanon|echo|isig|icrnl|opost)' | sort | tr '\\n' ' ' | sed 's/^/MODES:[/; s/ $/]\\n/'; [ "$(stty -g)" = "$before" ] && echo SAME-AS-BEFORE || echo CHANGED`;

  for (const [how, inner, code] of [
    ["bash exits 3", "exit 3", 3],
    ["bash is killed by SIGKILL", "kill -KILL $$", 137],
  ] as const) {
    test(
      `is back in cooked mode when ${how}`,
      async () => {
        const s = new Session([
          "bash", "--norc", "--noprofile", "-c",
          `before=$(stty -g); ${NSBOX_SH} -- bash --norc --noprofile -i; echo "RC:[$?]"; ${CHECK}; read -r done`,
        ]);
        await s.run("true", "READY");
        // While nsbox runs, the outer terminal is raw (every key goes to the payload's pty)…
        const flags = s.term.localFlags; // of the slave side: what nsbox set
        expect(flags & ICANON).toBe(0);
        expect(flags & ECHO).toBe(0);
        s.type(`${inner}\r`);
        await s.waitLine(/^(SAME-AS-BEFORE|CHANGED)$/);
        // Seen from outside too: the terminal is canonical and echoing again.
        expect(s.term.localFlags & (ICANON | ECHO)).toBe(ICANON | ECHO);
        s.type("\r"); // ends the outer shell's last `read`
        expect(await s.exited()).toBe(0);
        // …and afterwards it is what it was before.
        expect(s.lines()).toContain(`RC:[${code}]`);
        expect(s.lines()).toContain("MODES:[echo icanon icrnl isig opost]");
        expect(s.lines()).toContain("SAME-AS-BEFORE");
      },
      TIMEOUT,
    );
  }
});

describe("the relay", () => {
  test(
    "copies all of the payload's output, up to its last byte before exit",
    async () => {
      const s = new Session([process.execPath, NSBOX, "--", "seq", "1", "20000"]);
      expect(await s.exited()).toBe(0);
      await until(() => s.text.endsWith("20000\n"), 20_000, "the last line", () => s.text.slice(-200));
      const lines = s.text.split("\n").slice(0, -1);
      expect(lines.length).toBe(20000);
      expect(lines.every((l, i) => l === String(i + 1))).toBe(true);
    },
    TIMEOUT,
  );

  test(
    "passes a long typed (pasted) line through intact",
    async () => {
      // Not an interactive shell: bash discards what is typed ahead while it switches from
      // readline to `read`. Here the pty stays canonical throughout.
      const script = `echo READY-$((6*7)); read -r line; echo "LEN:[\${#line}] SUM:[$(printf %s "$line" | cksum)]"`;
      const s = new Session([process.execPath, NSBOX, "--", "bash", "--norc", "-c", script]);
      await s.waitLine("READY-42");
      const pasted = Array.from({ length: 3000 }, (_, i) => "abcdefghij"[i % 10]).join("");
      s.type(`${pasted}\r`);
      const expected = Bun.spawnSync(["cksum"], { stdin: new TextEncoder().encode(pasted) }).stdout.toString().trim();
      expect(await s.waitLine(/^LEN:/)).toBe(`LEN:[3000] SUM:[${expected}]`);
      expect(await s.exited()).toBe(0);
    },
    TIMEOUT,
  );

  test(
    "when the outer terminal hangs up, the sandbox's processes end and nsbox exits",
    async () => {
      const s = await nsboxBash();
      s.type("sleep 100\r");
      await s.waitProc((p) => isSleep100(p) && inForeground(p), "sleep 100 in the foreground");
      const inside = descendants(s.proc.pid).map((p) => p.pid);
      s.term.close(); // the terminal window is closed: SIGHUP
      await s.exited();
      await until(() => inside.every((pid) => procInfo(pid) === null), 20_000, "the sandbox's processes to end", () => "");
    },
    TIMEOUT,
  );

  // On hangup the terminal is gone: restoring it must not turn into an internal error.
  test(
    "when the outer terminal hangs up, nsbox exits 128+SIGHUP and reports no internal error",
    async () => {
      const dir = scratchDir();
      const s = new Session(["bash", "--norc", "-c", `exec ${NSBOX_SH} -- bash --norc --noprofile -i 2>${shq(`${dir}/stderr`)}`], { cwd: dir });
      await s.run("true", "READY");
      s.term.close();
      const code = await s.exited();
      // stderr is a file: the payload writes there itself (bash's prompt), and nsbox adds nothing.
      const stderr = readFileSync(`${dir}/stderr`, "utf8");
      expect(stderr).not.toContain("nsbox:");
      expect(stderr).not.toContain("internal error");
      expect(code).toBe(129);
    },
    TIMEOUT,
  );
});
