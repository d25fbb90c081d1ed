// The library's descriptor failures (pipe, socket pair, /dev/null) are typed NsboxErrors with
// the step and errno, not plain Errors: tried in a child Bun whose open-file limit is used up.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanedUp, collect, NSBOX, nsbox, ROOT, scratchIn } from "./helpers.ts";

const made = cleanedUp();

/** Run `body` in a child Bun after filling every free descriptor; it prints one JSON line. */
async function exhausted(body: string): Promise<Record<string, unknown>> {
  const dir = scratchIn(made);
  const file = join(dir, "probe.ts");
  writeFileSync(file, [
    `import { openSync, closeSync } from "node:fs";`,
    `import { pipe, socketPair, prepareExecutor } from ${JSON.stringify(join(ROOT, "src/executor.ts"))};`,
    `import { run } from ${JSON.stringify(join(ROOT, "src/index.ts"))};`,
    `prepareExecutor();`,
    `const held: number[] = [];`,
    `const fill = () => { for (;;) { try { held.push(openSync("/dev/null", "r")); } catch { return; } } };`,
    `const show = (e: any) => ({ name: e?.name, code: e?.code, errno: e?.errno, message: e?.message, hint: e?.hint });`,
    `const out: Record<string, unknown> = {};`,
    body,
    `for (const fd of held) closeSync(fd);`,
    `console.log(JSON.stringify(out));`,
  ].join("\n"));
  const r = await collect(["prlimit", "--nofile=256", process.execPath, file]);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout);
}

describe("given no descriptor left", () => {
  test("pipe() and socketPair() throw NsboxError KERNEL_REFUSED naming the limit and the fix on EMFILE; control: with descriptors, they work", async () => {
    const out = await exhausted([
      `fill();`,
      `try { pipe("make the test pipe"); out.pipe = "made"; } catch (e) { out.pipe = show(e); }`,
      `try { socketPair(); out.pair = "made"; } catch (e) { out.pair = show(e); }`,
      `for (const fd of held.splice(0, 8)) closeSync(fd);`,
      `out.control = pipe().length + socketPair().length;`,
    ].join("\n"));
    expect(out.pipe).toMatchObject({ name: "NsboxError", code: "KERNEL_REFUSED", errno: 24, message: expect.stringMatching(/^too few file descriptors: ulimit -n is \d+, nsbox needs at least \d+ \(EMFILE\): raise the limit/) });
    expect(out.pair).toMatchObject({ name: "NsboxError", code: "KERNEL_REFUSED", errno: 24 });
    expect(out.control).toBe(4);
  });

  test("run() rejects with a typed NsboxError, not a plain Error", async () => {
    const out = await exhausted([
      `fill();`,
      `for (const fd of held.splice(0, 2)) closeSync(fd);`, // room for the plan's reads, not for the pipes too
      `try { await run(["true"]); out.run = "ran"; } catch (e) { out.run = show(e); }`,
    ].join("\n"));
    expect(out.run).toMatchObject({ name: "NsboxError", errno: 24 });
  });
});

describe("given the CLI with only 16 descriptors (prlimit --nofile=16)", () => {
  test("it is never a silent 125: it runs, or says why (control: a payload's own exit 125 is its status, silently)", async () => {
    const cwd = scratchIn(made);
    const r = await collect(["prlimit", "--nofile=16", process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--", "true"], { cwd });
    if (r.exitCode !== 0) {
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(/^nsbox: .+\n/);
    }
    const own = await nsbox(["--", "sh", "-c", "exit 125"], { cwd });
    expect(own).toMatchObject({ exitCode: 125, stderr: "" });
  });
});
