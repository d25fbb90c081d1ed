// Bun Workers: a sandbox lives as long as the JavaScript thread that started it; when a Worker
// ends, its sandboxes are killed and reaped (src/executor/reap.c), never left as zombies.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "../src/index.ts";
import { cleanedUp, eventually, marker, ROOT, scratchIn } from "./helpers.ts";

const made = cleanedUp();

/** The state letter of host process `pid` (S, R, Z…), or "gone". */
function state(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
  } catch {
    return "gone";
  }
}

/** A Worker that starts `sleep MARKER` in a sandbox, posts its PID 1, then does `then`. */
async function workerSandbox(then: "stay" | "exit"): Promise<{ worker: Worker; pid: number }> {
  const dir = scratchIn(made);
  const file = join(dir, "worker.ts");
  writeFileSync(file, [
    `import { spawn } from ${JSON.stringify(join(ROOT, "src/index.ts"))};`,
    `const proc = spawn(["sleep", "${marker()}"], { stdout: "ignore" });`,
    `postMessage(proc.pid);`,
    then === "exit" ? `setTimeout(() => process.exit(0), 100);` : ``,
  ].join("\n"));
  const worker = new Worker(file);
  const pid = await new Promise<number>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(e.message);
  });
  return { worker, pid };
}

describe("given a sandbox started from a Bun Worker", () => {
  test("when the Worker is terminated, the sandbox is killed and reaped (no zombie)", async () => {
    const { worker, pid } = await workerSandbox("stay");
    expect(state(pid)).not.toBe("gone");
    worker.terminate();
    expect(await eventually(() => state(pid) === "gone")).toBe(true);
  });

  test("when the Worker ends by itself, the sandbox is killed and reaped (no zombie)", async () => {
    const { pid } = await workerSandbox("exit");
    expect(await eventually(() => state(pid) === "gone")).toBe(true);
  });

  test("control: while the Worker runs, its sandbox runs; a sandbox of the main thread outlives the Worker", async () => {
    const main = spawn(["sleep", marker()], { stdout: "ignore" });
    const { worker, pid } = await workerSandbox("stay");
    await Bun.sleep(300);
    expect(state(pid)).toMatch(/^[SR]$/);
    worker.terminate();
    expect(await eventually(() => state(pid) === "gone")).toBe(true);
    expect(state(main.pid)).toMatch(/^[SR]$/);
    main.kill("SIGKILL");
    expect(await main.exited).toBe(137);
    expect(state(main.pid)).toBe("gone");
  });
});
