// Host trust, the terminal (issue 11, item 6): the payload never gets a descriptor of the user's terminal (any of fds 0, 1, 2), and a background nsbox does not read the terminal (it is not stopped either: a background build runs on); each attack beside its control without nsbox.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { NSBOX, ROOT, cleanedUp, scratchIn } from "./helpers.ts";

const TIMEOUT = 180_000; // generous: a loaded machine; nothing here asserts a duration
const made = cleanedUp();
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const NSBOX_SH = `${shq(process.execPath)} ${shq(NSBOX)}`;
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");

async function until(cond: () => boolean, what: string, show: () => string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; terminal so far:\n${show()}`);
    await Bun.sleep(25);
  }
}

function stat(pid: number): { state: string; ppid: number; argv: string[] } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { state: f[0]!, ppid: +f[1]!, argv: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1) };
  } catch {
    return null;
  }
}
function descendants(root: number): Array<{ pid: number; state: string; argv: string[] }> {
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map((n) => ({ pid: +n, ...stat(+n)! })).filter((p) => p.argv);
  const out: typeof all = [];
  const walk = (pid: number) => all.filter((p) => p.ppid === pid).forEach((p) => (out.push(p), walk(p.pid)));
  walk(root);
  return out;
}

/** A shell on a fresh pseudo-terminal (the user's terminal), with everything it printed. */
class Terminal {
  raw = "";
  readonly dir = scratchIn(made);
  readonly proc: ReturnType<typeof Bun.spawn>;
  constructor(argv: string[]) {
    const decoder = new TextDecoder();
    this.proc = Bun.spawn(argv, {
      cwd: this.dir,
      env: { ...process.env, TERM: "xterm", PS1: "$ ", HISTFILE: `${this.dir}/.bash_history` },
      terminal: { cols: 80, rows: 24, data: (_t, bytes) => void (this.raw += decoder.decode(bytes, { stream: true })) },
    });
    open.push(this);
  }
  get lines(): string[] {
    return plain(this.raw).split("\n");
  }
  type(s: string): void {
    this.proc.terminal!.write(s);
  }
  async waitLine(line: string | RegExp): Promise<void> {
    const match = (l: string) => (typeof line === "string" ? l === line : line.test(l));
    await until(() => this.lines.some(match), `a line ${line}`, () => plain(this.raw));
  }
  async close(): Promise<void> {
    for (const p of descendants(this.proc.pid).reverse()) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {}
    }
    this.proc.kill("SIGKILL");
    await this.proc.exited;
    if (!this.proc.terminal!.closed) this.proc.terminal!.close();
  }
}
const open: Terminal[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

/** An interactive bash with job control, ready for typing. */
async function shell(): Promise<Terminal> {
  const t = new Terminal(["bash", "--norc", "--noprofile", "-i"]);
  t.type("echo READY-$((6*7))\r");
  await t.waitLine("READY-42");
  return t;
}

describe("a background nsbox whose stdin is the terminal", () => {
  test(
    "a password typed at the next prompt goes to the shell, nsbox runs on without reading it, and after fg the payload reads",
    async () => {
      const t = await shell();
      t.type(`${NSBOX_SH} -- bash -c 'echo started > started; read -r x; echo "GOT:[$x]" > got' > log &\r`);
      await until(() => existsSync(`${t.dir}/started`), "the payload to start", () => plain(t.raw));
      // What the user types next, at the shell's prompt: a command, or a password for one.
      t.type("echo typed-$((6*7))\r");
      await t.waitLine("typed-42"); // the shell got it
      const nsbox = () => descendants(t.proc.pid).find((p) => p.argv.includes(NSBOX));
      expect(nsbox()?.state).not.toBe("T"); // not stopped: a background build runs on
      expect(existsSync(`${t.dir}/got`)).toBe(false); // the payload got nothing
      // As a job: fg gives it the terminal (bash sends no SIGCONT to a running job), and then
      // the payload reads what is typed.
      // Typed at once: the line waits in the terminal until nsbox, now in the foreground, reads it.
      t.type("fg\r");
      t.type("hello-fg\r");
      await until(() => existsSync(`${t.dir}/got`) && readFileSync(`${t.dir}/got`, "utf8").length > 0, "the payload's line", () => plain(t.raw));
      expect(readFileSync(`${t.dir}/got`, "utf8")).toBe("GOT:[hello-fg]\n");
    },
    TIMEOUT,
  );

  test(
    "a background nsbox whose payload never reads runs to its end (not stopped), its output shown",
    async () => {
      const t = await shell();
      t.type(`${NSBOX_SH} -- sh -c 'echo bg-$((6*7))' & wait $!; echo "RC:[$?]"\r`);
      await t.waitLine("bg-42");
      await t.waitLine(/^RC:/);
      expect(t.lines).toContain("RC:[0]");
    },
    TIMEOUT,
  );

  test(
    "control: a plain background cat in the same shell is stopped and the shell gets the line",
    async () => {
      const t = await shell();
      t.type("cat > got &\r");
      const cat = () => descendants(t.proc.pid).find((p) => p.argv[0] === "cat");
      await until(() => cat()?.state === "T", "cat to be stopped", () => plain(t.raw));
      t.type("echo typed-$((6*7))\r");
      await t.waitLine("typed-42");
      expect(readFileSync(`${t.dir}/got`, "utf8")).toBe("");
    },
    TIMEOUT,
  );
});

/** A payload that reads the user's next line from descriptor `fd` if it can (bash's read, 8 s). */
const steal = (fd: number) => `echo WAITING-$((6*7)) >&2; read -t 8 -r x <&${fd}; echo "STOLE:[$x]" >&2`;

describe("a terminal on stdout or stderr only is not handed over either", () => {
  for (const [fd, redirect] of [[1, "< /dev/null"], [2, "< /dev/null > out"]] as const) {
    for (const withNsbox of [true, false]) {
      test(
        `fd ${fd} a terminal (${redirect}): ${withNsbox ? "the payload reads nothing from it, the shell gets the line" : "control, without nsbox: the same command reads the user's line"}`,
        async () => {
          const run = withNsbox ? `${NSBOX_SH} -- bash -c ${shq(steal(fd))}` : `bash -c ${shq(steal(fd))}`;
          const t = new Terminal(["bash", "--norc", "--noprofile", "-c", `${run} ${redirect}; read -r y; echo "SHELL-GOT:[$y]"`]);
          await t.waitLine("WAITING-42");
          t.type("secret-line\r");
          await t.waitLine(/^STOLE:/);
          if (withNsbox) {
            await t.waitLine(/^SHELL-GOT:/);
            expect(t.lines).toContain("STOLE:[]");
            expect(t.lines).toContain("SHELL-GOT:[secret-line]");
          } else {
            expect(t.lines).toContain("STOLE:[secret-line]");
          }
        },
        TIMEOUT,
      );
    }
  }

  test(
    "files pass straight through: stdin from a file, stdout to a file, stderr the pty (relayed)",
    async () => {
      const t = new Terminal(["bash", "--norc", "--noprofile", "-c",
        `printf 'from-file\\n' > in; ${NSBOX_SH} -- sh -c 'cat; readlink /proc/self/fd/0 /proc/self/fd/1; [ -t 0 ] || echo no-tty-0; [ -t 1 ] || echo no-tty-1; [ -t 2 ] && echo tty-2 >&2' < in > log; echo "RC:[$?]"`]);
      await t.waitLine(/^RC:/);
      expect(t.lines).toContain("RC:[0]");
      expect(t.lines).toContain("tty-2");
      expect(readFileSync(`${t.dir}/log`, "utf8")).toBe(`from-file\n${t.dir}/in\n${t.dir}/log\nno-tty-0\nno-tty-1\n`);
    },
    TIMEOUT,
  );
});

describe("the library applies the same rule", () => {
  test(
    'stderr: "inherit" on a terminal: the payload gets a pty there, reads nothing the user types; stdout "inherit" is relayed',
    async () => {
      const script = `import { spawn } from ${JSON.stringify(`${ROOT}/src/index.ts`)};
        const p = spawn(["bash", "-c", ${JSON.stringify(`${steal(2)}; [ -t 2 ] && echo fd2-tty >&2; echo out-line`)}], { stdout: "inherit" });
        console.log("EXIT:[" + (await p.exited) + "]");`;
      const t = new Terminal(["bash", "--norc", "--noprofile", "-c", `${shq(process.execPath)} -e ${shq(script)} < /dev/null; read -r y; echo "SHELL-GOT:[$y]"`]);
      await t.waitLine("WAITING-42");
      t.type("secret-line\r");
      await t.waitLine(/^SHELL-GOT:/);
      expect(t.lines).toContain("STOLE:[]");
      expect(t.lines).toContain("fd2-tty");
      expect(t.lines).toContain("out-line");
      expect(t.lines).toContain("EXIT:[0]");
      expect(t.lines).toContain("SHELL-GOT:[secret-line]");
    },
    TIMEOUT,
  );

  test("a terminal given as another descriptor number is refused, naming the option", async () => {
    const script = `import { spawn } from ${JSON.stringify(`${ROOT}/src/index.ts`)};
      const fd = require("node:fs").openSync("/dev/tty", "r+");
      try { spawn(["true"], { stdout: fd }); } catch (e) { console.log("REFUSED:[" + e.message + "]"); }`;
    const t = new Terminal(["bash", "--norc", "--noprofile", "-c", `${shq(process.execPath)} -e ${shq(script)}; echo DONE-$((6*7))`]);
    await t.waitLine("DONE-42");
    expect(t.lines.find((l) => l.startsWith("REFUSED:"))).toContain("stdout: descriptor");
  });
});
