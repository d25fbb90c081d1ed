// Lifetime: signals sent to nsbox reach the payload, the sandbox dies with nsbox, leaves nothing behind, and PID 1 reaps orphans.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { NSBOX, sh, marker, eventually, background } from "./helpers.ts";

interface HostProc {
  pid: number;
  ppid: number;
  state: string;
  argv: string[];
}

/** One host process from /proc, or undefined once it is gone. */
function readProc(pid: number): HostProc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (argv.at(-1) === "") argv.pop();
    return { pid, ppid: Number(fields[1]), state: fields[0]!, argv };
  } catch {
    return undefined;
  }
}

/** Live (not zombie) host processes whose argv is exactly `argv`. */
function findLive(argv: string[]): HostProc[] {
  const found: HostProc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p && p.state !== "Z" && p.state !== "X" && p.argv.length === argv.length && p.argv.every((a, i) => a === argv[i])) found.push(p);
  }
  return found;
}

/** The child of `ancestor` that `pid` descends from (or is), if it descends from `ancestor` at all. */
function childOnPathFrom(ancestor: number, pid: number): number | undefined {
  for (let p = readProc(pid); p && p.pid > 1; p = readProc(p.ppid)) {
    if (p.ppid === ancestor) return p.pid;
  }
  return undefined;
}

/** nsbox running `args`, with its stdout readable as it arrives. */
const start = (args: string[]) => background([process.execPath, NSBOX, ...args]);

describe("signals sent to nsbox reach the payload", () => {
  test.each(["TERM", "INT", "USR1", "USR2", "HUP", "QUIT", "CONT", "WINCH"] as const)(
    "SIG%s is forwarded to a payload that traps it",
    async (sig) => {
      const run = start(["--", "sh", "-c", `trap "echo got-${sig}; exit 7" ${sig}; echo ready; while :; do sleep 0.1; done`]);
      expect(await run.waitFor("ready\n")).toBe(true);
      run.proc.kill(`SIG${sig}`);
      const r = await run.finish();
      expect(r.stdout).toBe(`ready\ngot-${sig}\n`);
      expect(r.exitCode).toBe(7);
      expect(r.stderr).toBe("");
    },
  );

  test("a payload that doesn't trap SIGTERM dies of it, and nsbox says so with 143", async () => {
    const run = start(["--", "sh", "-c", "echo ready; exec sleep 1000"]);
    expect(await run.waitFor("ready\n")).toBe(true);
    run.proc.kill("SIGTERM");
    const r = await run.finish();
    expect(r.exitCode).toBe(143);
    expect(r.signalCode).toBeNull();
    expect(r.stderr).toBe("");
  });

  test("several signals in a row each reach the payload", async () => {
    const run = start([
      "--", "sh", "-c",
      'trap "echo one" USR1; trap "echo two" USR2; trap "echo bye; exit 0" TERM; echo ready; while :; do sleep 0.1; done',
    ]);
    expect(await run.waitFor("ready\n")).toBe(true);
    run.proc.kill("SIGUSR1");
    expect(await run.waitFor("one\n")).toBe(true);
    run.proc.kill("SIGUSR2");
    expect(await run.waitFor("two\n")).toBe(true);
    run.proc.kill("SIGTERM");
    const r = await run.finish();
    expect(r.stdout).toBe("ready\none\ntwo\nbye\n");
    expect(r.exitCode).toBe(0);
  });
});

describe("the sandbox dies with nsbox", () => {
  test("kill -9 of nsbox ends every process inside", async () => {
    const m = marker();
    const run = start(["--", "sh", "-c", `trap "" TERM HUP INT; sleep ${m} & echo ready; wait`]);
    expect(await run.waitFor("ready\n")).toBe(true);
    // The payload's child, found from the host by its unique argument.
    expect(await eventually(() => findLive(["sleep", m]).length === 1)).toBe(true);
    const [inside] = findLive(["sleep", m]);
    // The sandbox's PID 1 is nsbox's child, and the payload's processes descend from it.
    const init = childOnPathFrom(run.proc.pid, inside!.pid);
    expect(init).toBeNumber();
    const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${init}/status`, "utf8"))?.[1]?.split(/\s+/);
    expect(nspid?.at(-1)).toBe("1");

    run.proc.kill("SIGKILL");
    const r = await run.finish();
    expect(r.signalCode).toBe("SIGKILL");
    // Nothing of the sandbox is left running (a dead, unreaped PID 1 may linger as a zombie of the host's init).
    expect(await eventually(() => findLive(["sleep", m]).length === 0)).toBe(true);
    expect(await eventually(() => { const p = readProc(init!); return !p || p.state === "Z" || p.state === "X"; })).toBe(true);
  });

  test("a payload's background job, even in its own session, ends when the payload exits", async () => {
    const m = marker();
    // The payload exits only once both jobs are really running `sleep <marker>`.
    const r = await sh(`
      setsid sleep ${m} >/dev/null 2>&1 < /dev/null & a=$!
      nohup sleep ${m} >/dev/null 2>&1 & b=$!
      for p in $a $b; do
        i=0
        until [ "$(tr '\\0' ' ' < /proc/$p/cmdline)" = "sleep ${m} " ] || [ $i -ge 500 ]; do sleep 0.02; i=$((i+1)); done
      done
      echo "started $(cat /proc/$a/cmdline /proc/$b/cmdline | tr '\\0' ' ')"
    `);
    expect(r.stdout).toBe(`started sleep ${m} sleep ${m} \n`);
    expect(r.exitCode).toBe(0);
    // PID 1 exits with the payload, and the kernel ends the PID namespace before nsbox can reap it.
    expect(findLive(["sleep", m])).toEqual([]);
  });

  test("a background job holding stdout open doesn't keep nsbox (or its output) open", async () => {
    const m = marker();
    const r = await sh(`sleep ${m} & echo started; exit 5`);
    expect(r).toEqual({ stdout: "started\n", stderr: "", exitCode: 5 });
    expect(findLive(["sleep", m])).toEqual([]);
  });
});

describe("PID 1 reaps orphans", () => {
  test("an orphan is adopted by PID 1 and reaped when it exits", async () => {
    // The orphan waits on a FIFO, so the payload decides when it exits: no timing involved.
    const r = await sh(`
      mkfifo /tmp/go
      ( sh -c 'read x < /tmp/go' & echo $! > /tmp/orphan )
      pid=$(cat /tmp/orphan)
      while read key value; do [ "$key" = PPid: ] && echo "parent=$value"; done < /proc/$pid/status
      echo go > /tmp/go
      i=0
      while [ -e /proc/$pid ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
      if [ -e /proc/$pid ]; then echo "left: $(cat /proc/$pid/stat)"; else echo reaped; fi
    `);
    expect(r.stdout).toBe("parent=1\nreaped\n");
    expect(r.exitCode).toBe(0);
  });

  test("many short-lived orphans leave no zombies", async () => {
    const r = await sh(`
      for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do ( true & ); done
      zombies() {
        n=0
        for f in /proc/[0-9]*/stat; do
          read line < "$f" 2>/dev/null || continue
          state=\${line##*) }; state=\${state%% *}
          [ "$state" = Z ] && n=$((n+1))
        done
        echo $n
      }
      i=0
      while [ "$(zombies)" != 0 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
      echo "zombies=$(zombies)"
      echo "pid1=$(cat /proc/1/stat | cut -d' ' -f1)"
    `);
    expect(r.stdout).toBe("zombies=0\npid1=1\n");
    expect(r.exitCode).toBe(0);
  });

  test("the payload is not PID 1 but PID 1's child", async () => {
    const r = await sh(`echo "me=$$"; while read key value; do [ "$key" = PPid: ] && echo "parent=$value"; done < /proc/$$/status`);
    expect(r.stdout).toMatch(/^me=\d+\nparent=1\n$/);
    expect(r.stdout).not.toContain("me=1\n");
  });
});
