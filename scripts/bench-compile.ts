// How much of nsbox's start is compiling the C executor with bun:ffi's cc(): time the first
// prepareExecutor() in fresh processes and print the median. Usage: bun scripts/bench-compile.ts [N]
import { prepareExecutor } from "../src/executor.ts";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

if (process.argv[2] === "--child") {
  const t0 = performance.now();
  prepareExecutor();
  console.log(performance.now() - t0);
} else {
  const n = Number(process.argv[2] ?? 20);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const child = Bun.spawnSync([process.execPath, import.meta.path, "--child"], { stderr: "inherit" });
    if (!child.success) throw new Error(`child exited ${child.exitCode}`);
    times.push(Number(child.stdout.toString()));
  }
  console.log(`cc() of the executor (first prepareExecutor()): median ${median(times).toFixed(2)} ms over ${n} fresh processes`);
}
