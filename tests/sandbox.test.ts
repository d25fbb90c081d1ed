// src/sandbox.ts: the one launch of a plan (CLI, library, nsbox exec), its result shape, timers
// of any length, and callbacks on nsbox's side that throw without ending the run.
import { describe, expect, test } from "bun:test";
import { dirname } from "node:path";
import { readHost } from "../src/host.ts";
import type { SandboxOptions } from "../src/options.ts";
import { buildPlan } from "../src/plan/index.ts";
import { after, launch, type Report } from "../src/sandbox.ts";
import { start } from "../src/supervise.ts";
import { cleanedUp, marker, scratchIn } from "./helpers.ts";

const made = cleanedUp();

/** A plan for `command` in a fresh project directory. */
function planOf(command: string[], options: SandboxOptions = {}) {
  const cwd = scratchIn(made);
  return buildPlan(command, options, readHost(cwd), { terminal: null });
}

/** A report that keeps every line by level. */
function collecting(): { report: Report; lines: [string, string][] } {
  const lines: [string, string][] = [];
  return { lines, report: (level, line) => void lines.push([level, line]) };
}

describe("given a timer longer than setTimeout's 2^31-1 ms", () => {
  test("after() chains it: it does not fire at once (control: a short one fires)", async () => {
    let long = false;
    let short = false;
    const cancel = after(2 ** 31 + 1000, () => (long = true));
    after(10, () => (short = true));
    await Bun.sleep(300);
    cancel();
    expect({ long, short }).toEqual({ long: false, short: true });
  });

  test("a launch with such a timeout runs its payload to the end (control: a short timeout kills it, 124)", async () => {
    const { report } = collecting();
    // The options refuse such a timeout (options/duration.ts); launch's own timer is what is tried here.
    const long = await launch(planOf(["sh", "-c", "sleep 0.3; exit 5"]), { options: { timeout: 2 ** 31 + 5 }, report }).result;
    expect(long).toMatchObject({ exitCode: 5, timedOut: false, signal: null });
    const short = await launch(planOf(["sleep", marker()]), { options: { timeout: 200 }, report }).result;
    expect(short).toMatchObject({ exitCode: 124, timedOut: true, aborted: false, signal: "SIGKILL" });
  });

  test("a timeout that is not a number of milliseconds is refused before anything starts", () => {
    const { report } = collecting();
    for (const timeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => launch(planOf(["true"]), { options: { timeout }, report })).toThrow(/timeout: expected at least 1 millisecond/);
    }
  });
});

describe("given any end, the result has one shape", () => {
  test("an exit status, a signal, an abort and nsbox's own failure", async () => {
    const { report } = collecting();
    const exit = await launch(planOf(["sh", "-c", "exit 3"]), { report }).result;
    expect(exit).toEqual({ exitCode: 3, signal: null, timedOut: false, aborted: false, warnings: [] });
    const killed = await launch(planOf(["sh", "-c", "kill -TERM $$"]), { report }).result;
    expect(killed).toMatchObject({ exitCode: 143, signal: "SIGTERM", timedOut: false, aborted: false });
    const abort = new AbortController();
    const running = launch(planOf(["sleep", marker()]), { signal: abort.signal, report });
    setTimeout(() => abort.abort(), 100);
    expect(await running.result).toMatchObject({ exitCode: 137, signal: "SIGKILL", aborted: true, timedOut: false });
    const missing = await launch(planOf(["no-such-command-" + marker()]), { report }).result;
    expect(missing).toMatchObject({ exitCode: 127, signal: null, timedOut: false, aborted: false });
    expect(missing.error?.code).toBe("NOT_FOUND");
  });

  test("notes are reported as notes and kept in warnings; steps only when verbose", async () => {
    const quiet = collecting();
    await launch(planOf(["true"]), { report: quiet.report }).result;
    expect(quiet.lines.filter(([l]) => l === "debug")).toEqual([]);
    const loud = collecting();
    const r = await launch(planOf(["true"], { verbose: true }), { options: { verbose: true }, report: loud.report }).result;
    expect(r.exitCode).toBe(0);
    expect(loud.lines.some(([l, line]) => l === "debug" && /^\[\d+\] exec: run true$/.test(line))).toBe(true);
  });
});

describe("given a callback on nsbox's side that throws, the run goes on", () => {
  test("a report that throws on every step: one line says so, and the payload's status is the result", async () => {
    const warned: string[] = [];
    const report: Report = (level, line) => {
      if (level === "debug") throw new Error("the verbose sink broke");
      warned.push(line);
    };
    const r = await launch(planOf(["sh", "-c", "echo out; exit 4"], { verbose: true }), { options: { verbose: true }, report }).result;
    expect(r.exitCode).toBe(4);
    expect(r.error).toBeUndefined();
    expect(warned).toEqual(["showing nsbox's messages failed (the verbose sink broke); the sandbox goes on"]);
  });

  test("onStep and onListen that throw are each reported in one line; the sandbox runs to its end (control: without them, no warning)", async () => {
    const lines: string[] = [];
    const plan = planOf(["sh", "-c", "exit 6"], { net: ["allow=example.com"], verbose: true });
    const running = start(plan, {
      verbose: true,
      forwardSignals: false,
      onStep: () => {
        throw new Error("step sink broke");
      },
      onListen: () => {
        throw new Error("proxy broke");
      },
      warn: (line) => void lines.push(line),
    });
    const outcome = await running.outcome;
    expect(outcome.exitCode).toBe(6);
    expect(lines.filter((l) => l.startsWith("reporting a setup step failed (step sink broke)")).length).toBeGreaterThan(0);
    expect(lines).toContain("starting the network proxy failed (proxy broke); the sandbox goes on");
    const control: string[] = [];
    const ok = await start(planOf(["sh", "-c", "exit 6"], { net: ["allow=example.com"] }), { forwardSignals: false, warn: (l) => void control.push(l) }).outcome;
    expect(ok.exitCode).toBe(6);
    expect(control).toEqual([]);
  });

  test("a live network report that throws (verbose, a blocked connection): said once, the proxy and the payload go on", async () => {
    const bun = process.execPath;
    const client = `const s = require("node:net").connect(3128, "127.0.0.1", () => s.write("CONNECT blocked.invalid:80 HTTP/1.1\\r\\n\\r\\n")); s.on("data", (d) => { console.log(String(d).split(" ")[1]); s.destroy(); });`;
    const options: SandboxOptions = {
      net: ["allow=example.com"],
      verbose: true,
      ...(/^\/(usr|bin|sbin|lib)\//.test(bun) ? {} : { mounts: [{ kind: "ro", source: dirname(bun), target: dirname(bun), origin: `--ro ${dirname(bun)}`, option: "--ro" }] }),
    } as SandboxOptions;
    const warned: string[] = [];
    const report: Report = (level, line) => {
      if (level === "note" && line.startsWith("blocked connect")) throw new Error("the live sink broke");
      if (level !== "debug") warned.push(line);
    };
    const plan = planOf([bun, "-e", `${client} setTimeout(() => { ${client} }, 200); setTimeout(() => process.exit(9), 600);`], options);
    const r = await launch(plan, { options, report }).result;
    expect(r.exitCode).toBe(9);
    expect(warned.filter((l) => l.includes("the live sink broke"))).toEqual(["showing nsbox's messages failed (the live sink broke); the sandbox goes on"]);
  });
});
