// Ctrl-Z, fg and bg of a sandboxed command (issue 13, item 4), typed into an interactive bash in
// tmux as a user would. The payload is a job of a pty session that the sandbox's init leads,
// so the terminal's SIGTSTP stops it; init reports the stop, and nsbox stops its own job in the
// user's shell (the terminal given back in its mode first). fg continues both, bg lets a writer
// run on and stops a reader again (SIGTTIN). Job control inside `nsbox -- bash` is bash's own.
//
// Waiting is by polling the screen (tmux capture-pane) and /proc, never by asserting durations.
// Typed commands print markers computed by the shell or the program (`echo NAME-$((6*7))`
// prints NAME-42), so the echo of the typed line is never mistaken for the output.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NSBOX, cleanedUp, eventually, marker, scratchIn } from "./helpers.ts";

const TIMEOUT = 120_000;
const made = cleanedUp();
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const NSBOX_SH = `${shq(process.execPath)} --no-env-file --config=/dev/null ${shq(NSBOX)}`;

interface Proc {
  pid: number;
  state: string;
  ppid: number;
  argv: string[];
}

function proc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pid, state: f[0]!, ppid: +f[1]!, argv: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1) };
  } catch {
    return null; // gone meanwhile
  }
}

/** Every live descendant of `root` (the sandbox's processes are visible from here by their host pids). */
function descendants(root: number): Proc[] {
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map((n) => proc(+n)).filter((p) => p !== null);
  const out: Proc[] = [];
  const walk = (pid: number) => all.filter((p) => p.ppid === pid).forEach((p) => (out.push(p), walk(p.pid)));
  walk(root);
  return out;
}

/** An interactive bash in a tmux window of its own (a private tmux server), in a scratch directory. */
class Tmux {
  readonly dir = scratchIn(made);
  // Not in the shell's directory: nsbox refuses to share a directory that holds a socket.
  readonly socket = join(scratchIn(made), "tmux.sock");
  private panePid = 0;

  private tmux(...args: string[]): string {
    const r = Bun.spawnSync(["tmux", "-S", this.socket, "-f", "/dev/null", ...args], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr.toString()}`);
    return r.stdout.toString();
  }

  async start(): Promise<void> {
    const env = `env -i PATH=${shq(process.env.PATH ?? "/usr/bin:/bin")} HOME=${shq(process.env.HOME ?? this.dir)} TERM=xterm PS1='$ ' HISTFILE=${shq(`${this.dir}/.bash_history`)} LANG=C.UTF-8`;
    this.tmux("new-session", "-d", "-x", "120", "-y", "50", "-c", this.dir, `${env} bash --norc --noprofile -i`);
    this.panePid = +this.tmux("display-message", "-p", "#{pane_pid}").trim();
    opened.push(this);
    await this.run("true", "READY");
  }

  /** The whole screen and scrollback, as lines. */
  lines(): string[] {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-1000").split("\n").map((l) => l.trimEnd());
  }
  /** The visible screen only, as lines. */
  screen(): string[] {
    return this.tmux("capture-pane", "-p", "-J").split("\n").map((l) => l.trimEnd());
  }
  /** Type `text` literally, then Enter (unless `enter` is false). */
  type(text: string, enter = true): void {
    this.tmux("send-keys", "-l", text);
    if (enter) this.tmux("send-keys", "Enter");
  }
  /** Press a key by tmux's name (C-z, C-c, C-d). */
  key(name: string): void {
    this.tmux("send-keys", name);
  }
  /** The window's terminal: its modes as `stty -a` prints them. */
  modes(): string {
    const tty = this.tmux("display-message", "-p", "#{pane_tty}").trim();
    return Bun.spawnSync(["stty", "-F", tty, "-a"], { stdout: "pipe" }).stdout.toString();
  }
  /**
   * Press `name` once nsbox relays keys (the terminal raw): a Ctrl-Z typed before that is the
   * user's terminal's own, which stops nsbox alone, as it always did.
   */
  async press(name: string): Promise<void> {
    if (!(await eventually(() => / -icanon /.test(this.modes())))) throw new Error(`the terminal never went raw:\n${this.modes()}`);
    this.key(name);
  }
  /** Wait for a line that is `line` (or matches it), among those after the first `from`. */
  async waitLine(line: string | RegExp, from = 0): Promise<string> {
    let found: string | undefined;
    const match = (l: string) => (typeof line === "string" ? l === line : line.test(l));
    const ok = await eventually(() => (found = this.lines().slice(from).find(match)) !== undefined, 60_000);
    if (!ok) throw new Error(`no line ${line} on the screen:\n${this.lines().join("\n")}`);
    return found!;
  }
  /** Type a command followed by a marker, and wait for the marker's output: the shell answers again. */
  async run(cmd: string, name: string): Promise<void> {
    this.type(`${cmd}; echo ${name}-$((6*7))`);
    await this.waitLine(`${name}-42`);
  }
  /** Wait for a process of this window matching `pred`. */
  async waitProc(pred: (p: Proc) => boolean, what: string): Promise<Proc> {
    let found: Proc | undefined;
    const ok = await eventually(() => (found = descendants(this.panePid).find(pred)) !== undefined, 60_000);
    if (!ok) {
      const seen = descendants(this.panePid).map((p) => `${p.pid} ${p.state} ${p.argv.join(" ")}`);
      throw new Error(`no process: ${what}; processes:\n${seen.join("\n")}\nscreen:\n${this.lines().join("\n")}`);
    }
    return found!;
  }
  /** Wait for nsbox to end: what is typed before then goes to the sandbox's terminal, not to the shell. */
  async ended(): Promise<void> {
    if (!(await eventually(() => this.nsbox() === undefined))) throw new Error(`nsbox did not end; screen:\n${this.lines().join("\n")}`);
  }
  /** nsbox's own process in this window (bun running bin/nsbox). */
  nsbox(): Proc | undefined {
    return descendants(this.panePid).find((p) => p.argv.includes(NSBOX));
  }

  close(): void {
    for (const p of descendants(this.panePid).reverse()) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {}
    }
    try {
      this.tmux("kill-server");
    } catch {}
  }
}
const opened: Tmux[] = [];
afterEach(() => {
  for (const t of opened.splice(0)) t.close();
});

async function shell(): Promise<Tmux> {
  const t = new Tmux();
  await t.start();
  return t;
}

const isSleep = (arg: string) => (p: Proc) => p.argv[0] === "sleep" && p.argv[1] === arg;

describe("Ctrl-Z of a sandboxed command", () => {
  test(
    "stops nsbox as a job of the user's shell (the prompt comes back, jobs lists it); fg resumes it; Ctrl-C ends it with 130",
    async () => {
      const t = await shell();
      const n = marker();
      t.type(`${NSBOX_SH} -- sleep ${n}`);
      await t.waitProc((p) => isSleep(n)(p) && p.state === "S", "the sandboxed sleep");
      await t.press("C-z");
      // The shell has its prompt back and answers: before, Ctrl-Z went to a payload whose stop
      // the kernel discarded, and nsbox went on in the foreground.
      await t.waitLine(/^\[1\]\+\s+Stopped\s+.*sleep/);
      await t.run("jobs", "J1");
      expect(t.lines().filter((l) => /^\[1\]\+\s+Stopped\s+.*-- sleep/.test(l)).length).toBe(2);
      // Both are stopped: the sandboxed sleep, and nsbox itself.
      await t.waitProc((p) => isSleep(n)(p) && p.state === "T", "the sandboxed sleep stopped");
      expect(t.nsbox()?.state).toBe("T");

      t.type("fg");
      await t.waitProc((p) => isSleep(n)(p) && p.state === "S", "the sandboxed sleep running again");
      await eventually(() => t.nsbox()?.state !== "T");
      expect(t.nsbox()?.state).not.toBe("T");
      t.key("C-c");
      await t.ended();
      await t.run(`echo "RC:[$?]"`, "AFTER");
      expect(t.lines()).toContain("RC:[130]");
      expect(descendants(0).some(isSleep(n))).toBe(false);
    },
    TIMEOUT,
  );

  test(
    "Ctrl-C ends a shell loop of sandboxed commands, as it does one of plain ones (nsbox dies of the payload's SIGINT)",
    async () => {
      const t = await shell();
      const n = marker();
      // The shell sees no SIGINT of its own (the key goes through the sandbox's pty): bash ends
      // the loop only when its child died of SIGINT, not when it exited with 130.
      t.type(`for i in 1 2 3; do ${NSBOX_SH} -- sleep ${n}; echo "ITER:[$i:$?]"; done; echo "LOOP-$((6*7))"`);
      await t.waitProc((p) => isSleep(n)(p) && p.state === "S", "the sandboxed sleep");
      await t.press("C-c");
      await t.ended();
      await t.run(`echo "RC:[$?]"`, "AFTER");
      expect(t.lines()).toContain("RC:[130]");
      expect(t.lines().some((l) => l.includes("ITER:[1") || l.includes("LOOP-42"))).toBe(false);
      expect(descendants(0).some(isSleep(n))).toBe(false);
    },
    TIMEOUT,
  );

  test(
    "two nsbox of make -j on one terminal: the one that ends last (started while the other had it raw) leaves it as it was",
    async () => {
      const t = await shell();
      const before = t.modes();
      // b starts once a made the terminal raw (so b saw a raw mode) and ends after a.
      writeFileSync(
        join(t.dir, "Makefile"),
        [
          "all: a b",
          "a:",
          `\t${NSBOX_SH} -- sleep 1; touch a.done`,
          "b:",
          "\tuntil stty -F /dev/tty -a | grep -q -- -icanon; do sleep 0.1; done",
          `\t${NSBOX_SH} -- sh -c 'until [ -e a.done ]; do sleep 0.1; done'`,
          "",
        ].join("\n"),
      );
      await t.run("make -s -j2", "MADE");
      expect(existsSync(join(t.dir, "a.done"))).toBe(true);
      expect(t.modes()).toBe(before);
    },
    TIMEOUT,
  );

  for (const [what, start, typed, expected] of [
    ["the python3 REPL", "python3 -q", `print("py-%d" % (6*7))`, "py-42"],
    ["cat", "cat > out", "typed-to-cat", null],
  ] as const) {
    test(
      `${what}: after fg, what is typed reaches it, and the user's terminal modes are as before, while stopped and after`,
      async () => {
        const t = await shell();
        t.type(`stty -a > modes-before; ${NSBOX_SH} -- ${start}`);
        // By its name: a version manager's shim (pyenv) may run it by its full path.
        const isIt = (p: Proc) => p.argv[0]?.split("/").pop() === start.split(" ")[0];
        await t.waitProc((p) => isIt(p) && p.state === "S", `${what} waiting for input`);
        await t.press("C-z");
        await t.waitLine(/^\[1\]\+\s+Stopped\s+/);
        await t.run("stty -a > modes-stopped", "STOPPED");
        t.type("fg");
        await t.waitProc((p) => isIt(p) && p.state === "S", `${what} running again`);
        t.type(typed);
        if (expected) await t.waitLine(expected);
        else await eventually(() => existsSync(join(t.dir, "out")) && readFileSync(join(t.dir, "out"), "utf8") === `${typed}\n`);
        t.key("C-d");
        await t.ended();
      await t.ended();
        await t.run(`echo "RC:[$?]"; stty -a > modes-after`, "AFTER");
        expect(t.lines()).toContain("RC:[0]");
        if (!expected) expect(readFileSync(join(t.dir, "out"), "utf8")).toBe(`${typed}\n`);
        const before = readFileSync(join(t.dir, "modes-before"), "utf8");
        expect(before).toContain(" icanon ");
        expect(readFileSync(join(t.dir, "modes-stopped"), "utf8")).toBe(before);
        expect(readFileSync(join(t.dir, "modes-after"), "utf8")).toBe(before);
      },
      TIMEOUT,
    );
  }

  const haveLess = Bun.which("less") !== null;
  test.skipIf(!haveLess)(
    "a full-screen program (less): Ctrl-Z gives the shell its screen, fg redraws the program's",
    async () => {
      const t = await shell();
      writeFileSync(join(t.dir, "text"), Array.from({ length: 200 }, (_, i) => `line-${i + 1}`).join("\n") + "\n");
      t.type(`${NSBOX_SH} -- less text`);
      await eventually(() => t.screen()[0] === "line-1");
      await t.press("C-z");
      await t.waitLine(/^\[1\]\+\s+Stopped\s+/);
      await t.run("clear", "CLEARED");
      expect(t.screen()).not.toContain("line-1");
      t.type("fg");
      // less redraws its page once continued (on a screen the shell had cleared).
      if (!(await eventually(() => t.screen()[0] === "line-1"))) throw new Error(`less did not redraw:\n${t.screen().join("\n")}`);
      t.type("q", false);
      await t.ended();
      await t.run(`echo "RC:[$?]"`, "AFTER");
      expect(t.lines()).toContain("RC:[0]");
    },
    TIMEOUT,
  );

  test(
    "bg: a program that writes and does not read runs to its end in the background",
    async () => {
      const t = await shell();
      // It waits for a file the test makes after bg: still running when Ctrl-Z comes.
      t.type(`${NSBOX_SH} -- sh -c 'echo started-$((6*7)); while [ ! -e go ]; do sleep 0.1; done; echo finished-$((6*7))'`);
      await t.waitLine("started-42");
      await t.press("C-z");
      await t.waitLine(/^\[1\]\+\s+Stopped\s+/);
      await t.run("bg", "BG");
      writeFileSync(join(t.dir, "go"), "");
      await t.run(`wait %1; echo "WAIT:[$?]"`, "WAITED");
      // Written by a background job: it may share its line with the shell's prompt.
      expect(t.lines().some((l) => l.endsWith("finished-42"))).toBe(true);
      expect(t.lines()).toContain("WAIT:[0]");
    },
    TIMEOUT,
  );

  test(
    "bg: a program that reads the terminal is stopped again (SIGTTIN), and fg gives it what is typed",
    async () => {
      const t = await shell();
      t.type(`${NSBOX_SH} -- cat > out`);
      await t.waitProc((p) => p.argv[0] === "cat" && p.state === "S", "cat waiting for input");
      await t.press("C-z");
      await t.waitLine(/^\[1\]\+\s+Stopped\s+/);
      t.type("bg");
      // Its read stops it in the background of its own terminal, and nsbox with it: tty input.
      await t.waitProc((p) => p.argv[0] === "cat" && p.state === "T", "cat stopped again");
      await eventually(() => t.nsbox()?.state === "T");
      await t.run("jobs -l", "J1");
      expect(t.lines().some((l) => /^\[1\]\+\s+\d+\s+Stopped \(tty input\)\s+.*-- cat/.test(l))).toBe(true);
      // What is typed at the prompt meanwhile is the shell's.
      await t.run("echo typed-at-prompt", "PROMPT");
      t.type("fg");
      await t.waitProc((p) => p.argv[0] === "cat" && p.state === "S", "cat running again");
      t.type("typed-after-fg");
      await eventually(() => readFileSync(join(t.dir, "out"), "utf8") === "typed-after-fg\n");
      t.key("C-d");
      await t.ended();
      await t.run(`echo "RC:[$?]"`, "AFTER");
      expect(t.lines()).toContain("RC:[0]");
      expect(readFileSync(join(t.dir, "out"), "utf8")).toBe("typed-after-fg\n");
    },
    TIMEOUT,
  );

  test(
    "a payload that stops itself (SIGSTOP) stops nsbox's own job and no other: another job of the shell runs on; fg continues it",
    async () => {
      const t = await shell();
      const other = marker();
      await t.run(`{ sleep ${other} & }`, "OTHER");
      t.type(`${NSBOX_SH} -- sh -c 'kill -STOP $$; echo continued-$((6*7))'`);
      await t.waitLine(/^\[2\]\+\s+Stopped\s+/);
      await eventually(() => t.nsbox()?.state === "T");
      expect(t.nsbox()?.state).toBe("T");
      expect(descendants(0).find(isSleep(other))?.state).toBe("S");
      t.type("fg");
      await t.waitLine("continued-42");
      await t.ended();
      await t.run(`echo "RC:[$?]"; kill %1`, "AFTER");
      expect(t.lines()).toContain("RC:[0]");
    },
    TIMEOUT,
  );

  test(
    "inside nsbox -- bash, Ctrl-Z stops bash's own job (its jobs lists it) and nsbox runs on",
    async () => {
      const t = await shell();
      t.type(`${NSBOX_SH} -- bash --norc --noprofile -i`);
      await t.run("true", "INNER");
      const n = marker();
      t.type(`sleep ${n}`);
      await t.waitProc((p) => isSleep(n)(p) && p.state === "S", "the inner sleep");
      await t.press("C-z");
      await t.waitProc((p) => isSleep(n)(p) && p.state === "T", "the inner sleep stopped");
      await t.run("jobs", "J1");
      expect(t.lines().some((l) => new RegExp(`^\\[1\\]\\+\\s+Stopped\\s+sleep ${n.replace(".", "\\.")}$`).test(l))).toBe(true);
      expect(t.nsbox()?.state).not.toBe("T");
      // The inner bash answers (nsbox relays), and its fg and Ctrl-C work as without nsbox.
      t.type("fg");
      await t.waitProc((p) => isSleep(n)(p) && p.state === "S", "the inner sleep running again");
      t.key("C-c");
      await t.run(`echo "INNER-RC:[$?]"`, "INNER-AFTER");
      expect(t.lines()).toContain("INNER-RC:[130]");
      t.type("exit 7");
      await t.ended();
      await t.run(`echo "RC:[$?]"`, "OUTER");
      expect(t.lines()).toContain("RC:[7]");
    },
    TIMEOUT,
  );
});

describe("without a terminal", () => {
  test(
    "nothing changes: the sandboxed command stopped (SIGSTOP) does not stop nsbox, and goes on when continued",
    async () => {
      const dir = scratchIn(made);
      const n = marker();
      const p = Bun.spawn([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--", "sh", "-c", `sleep ${n}; echo done-$((6*7))`], {
        cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe",
      });
      try {
        let sleep: Proc | undefined;
        await eventually(() => (sleep = descendants(p.pid).find(isSleep(n))) !== undefined);
        const payload = proc(sleep!.ppid)!;
        expect(payload.argv[0]).toBe("sh");
        process.kill(payload.pid, "SIGSTOP");
        await eventually(() => proc(payload.pid)?.state === "T");
        expect(proc(p.pid)?.state).not.toBe("T");
        process.kill(payload.pid, "SIGCONT");
        process.kill(sleep!.pid, "SIGTERM");
        expect(await p.exited).toBe(0);
        expect(await new Response(p.stdout).text()).toBe("done-42\n");
      } finally {
        p.kill("SIGKILL");
      }
    },
    TIMEOUT,
  );
});
