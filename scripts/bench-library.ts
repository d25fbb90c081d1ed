// The library's cost per sandbox, in one long-running Bun process: run(["true"]) next to Bun.spawn
// of bubblewrap and of unshare(1), timed in turn, as medians, p99s and ratios to bubblewrap.
// Goal: run()'s median at most 0.8x bubblewrap's. Take the figures as an unprivileged user:
//   setpriv --reuid=1000 --regid=1000 --clear-groups env -i PATH=$PATH HOME=/tmp/home bun scripts/bench-library.ts
// Options (environment): RUNS=500 sequential runs each, CONCURRENT=50 at once, WARMUP=20.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../src/index.ts";

const RUNS = Number(process.env.RUNS ?? 500);
const CONCURRENT = Number(process.env.CONCURRENT ?? 50);
const WARMUP = Number(process.env.WARMUP ?? 20);
const GOAL = 0.8;

const BWRAP = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "true"];
const UNSHARE = ["unshare", "-Urmpfiun", "--mount-proc", "true"];

const cwd = mkdtempSync(join(tmpdir(), "nsbox-bench-"));

/** One Bun.spawn to the end, its output collected as run() collects the sandbox's. */
async function spawned(argv: string[]): Promise<void> {
  const proc = Bun.spawn(argv, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
}

async function library(): Promise<void> {
  const r = await run(["true"], { cwd });
  if (r.exitCode !== 0) throw new Error(`run(["true"]) exited ${r.exitCode}`);
}

const contenders: [string, () => Promise<void>][] = [
  ['run(["true"])', library],
  ["Bun.spawn bwrap", () => spawned(BWRAP)],
  ["Bun.spawn unshare", () => spawned(UNSHARE)],
];

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  for (const [name, once] of contenders) {
    try {
      await once();
    } catch (e) {
      console.error(`bench-library: ${name} does not run here: ${(e as Error).message}`);
      process.exit(1);
    }
  }
  for (let i = 0; i < WARMUP; i++) for (const [, once] of contenders) await once();

  // Sequential: the contenders take turns, so that a slow moment of the machine hits all of them.
  const times = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, once] of contenders) {
      const t0 = performance.now();
      await once();
      times.get(name)!.push(performance.now() - t0);
    }
  }
  // Concurrent: CONCURRENT at once, the whole batch timed; best of three batches.
  const batches = new Map<string, number>();
  for (const [name, once] of contenders) {
    let best = Infinity;
    for (let b = 0; b < 3; b++) {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CONCURRENT }, once));
      best = Math.min(best, performance.now() - t0);
    }
    batches.set(name, best);
  }

  const uid = process.getuid!();
  console.log(`as uid ${uid}, ${cpus().length} CPUs, bun ${Bun.version}, ${RUNS} sequential runs each (interleaved), ${CONCURRENT} concurrent`);
  const bwrapMedian = median(times.get("Bun.spawn bwrap")!);
  const bwrapBatch = batches.get("Bun.spawn bwrap")!;
  for (const [name] of contenders) {
    const xs = times.get(name)!;
    const m = median(xs);
    const batch = batches.get(name)!;
    console.log(
      `${name.padEnd(18)} median ${m.toFixed(2).padStart(6)} ms  p99 ${percentile(xs, 99).toFixed(2).padStart(6)} ms  ` +
        `${(m / bwrapMedian).toFixed(2).padStart(5)}x bwrap  | ${CONCURRENT} at once ${batch.toFixed(0).padStart(5)} ms  ${(batch / bwrapBatch).toFixed(2).padStart(5)}x bwrap`,
    );
  }
  const ratio = median(times.get('run(["true"])')!) / bwrapMedian;
  console.log(`goal: run(["true"]) median within ${GOAL}x of Bun.spawn bwrap's: ${ratio.toFixed(2)}x ${ratio <= GOAL ? "PASS" : "FAIL"}`);
}

try {
  await main();
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
