// What the kernel refuses, worded against the option as the user typed it (src/explain.ts), and
// nsbox with few file descriptors (tooFewDescriptors in src/errno.ts, executor/spawn.c).
import { describe, expect, it } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { explainStep } from "../src/explain.ts";
import { FDS_NEEDED } from "../src/kernel.ts";
import { findOp } from "../src/ops.ts";
import { buildPlan } from "../src/plan/index.ts";
import { parseMount, parseMountSpec } from "../src/plan/mount-spec.ts";
import { readHost } from "../src/host.ts";
import { cleanedUp, collect, nsbox, NSBOX, ROOT, scratchIn } from "./helpers.ts";

const made = cleanedUp();
const EPERM = 1;
/** One line on stderr, nothing else. */
const oneLine = (stderr: string) => stderr.trimEnd().split("\n");

describe("a kernel refusal names the option as typed, the step and the errno", () => {
  it("--ro ./data: the bind's op carries the origin and what it does; the refusal reads as one line from there", () => {
    const dir = scratchIn(made);
    mkdirSync(join(dir, "data"));
    const plan = buildPlan(["true"], { mounts: [parseMount("ro", "./data")] }, readHost(dir), { terminal: null });
    const bind = plan.ops.find((o) => o.op === "BIND" && o.why.origin === "--ro ./data");
    expect(bind?.why).toMatchObject({ origin: "--ro ./data", what: `bind ${dir}/data read-only`, option: "--ro" });
    const error = explainStep(bind, EPERM, "true");
    expect(error.message).toBe(`--ro ./data: can't bind ${dir}/data read-only: operation not permitted (EPERM)`);
    expect(error.exitCode).toBe(125);
    // Control: a step no option asked for names itself, and keeps its option (if any) in brackets.
    const hostname = findOp(plan.ops, "SETHOSTNAME")!;
    expect(explainStep(hostname, 22, "true").message).toBe("can't set the host name to nsbox (--hostname): invalid argument (EINVAL)");
  });

  it("a config file's entry is the origin when the option came from one", () => {
    const dir = scratchIn(made);
    mkdirSync(join(dir, "data"));
    const origin = `${dir}/nsbox.json: profiles.ci.ro "./data"`;
    const plan = buildPlan(["true"], { mounts: [parseMountSpec("ro", "./data", origin)] }, readHost(dir), { terminal: null });
    const bind = plan.ops.find((o) => o.op === "BIND" && o.why.origin === origin);
    expect(explainStep(bind, EPERM, "true").message).toStartWith(`${origin}: can't bind ${dir}/data read-only: operation not permitted (EPERM)`);
  });

  it("--overlay of a directory with a mount below it: says which mount, and what to do instead (control: without the mount it works)", async () => {
    const dir = scratchIn(made);
    mkdirSync(join(dir, "lower/sub"), { recursive: true });
    mkdirSync(join(dir, "plain"));
    // The mount is made in a namespace of the test's own (unshare -Urm), where any user may mount;
    // nsbox, started there, sees it as a host mount, and refuses before fork (src/plan/mounts.ts)
    // what the kernel would refuse with EINVAL: the message, "; " and the fix.
    const script = `mount -t tmpfs none ${dir}/lower/sub || exit 99
      "$0" --no-env-file --config=/dev/null ${NSBOX} --no-cwd --overlay ${dir}/lower -- true; echo "with: $?" >&2
      "$0" --no-env-file --config=/dev/null ${NSBOX} --no-cwd --overlay ${dir}/plain -- true; echo "without: $?" >&2`;
    const r = await collect(["unshare", "-Urm", "sh", "-c", script, process.execPath], { cwd: dir });
    const lines = oneLine(r.stderr);
    expect(lines).toEqual([
      `nsbox: --overlay ${dir}/lower: the directory ${dir}/lower has mounts below it (${dir}/lower/sub), and the kernel takes no overlay layer with submounts in a user namespace; overlay a directory without mounts below it (e.g. each mount on its own, --overlay ${dir}/lower/sub), or share ${dir}/lower with --ro or --rw instead`,
      "with: 125",
      "without: 0",
    ]);
  });

  it("--overlay with an upper directory under a file: names the path and the fix (control: a real directory works)", async () => {
    const dir = scratchIn(made);
    mkdirSync(join(dir, "lower"));
    writeFileSync(join(dir, "file"), "");
    const bad = await nsbox(["--no-cwd", "--overlay", `${dir}/lower:${dir}/file/up`, "--", "true"], { cwd: dir });
    expect(bad.exitCode).toBe(125);
    expect(oneLine(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toStartWith(`nsbox: --overlay ${dir}/lower:${dir}/file/up: `);
    expect(bad.stderr).toContain(`${dir}/file is a file, not a directory (ENOTDIR): name a directory there`);
    const good = await nsbox(["--no-cwd", "--overlay", `${dir}/lower:${dir}/changes`, "--", "sh", "-c", "echo x > " + `${dir}/lower/new`], { cwd: dir });
    expect(good).toMatchObject({ exitCode: 0, stderr: "" });
  });

  it("--rlimit nofile above the hard limit: names --rlimit and says to give a lower one (control: a lower one applies)", async () => {
    const bad = await nsbox(["--no-cwd", "--rlimit", "nofile=2000000000", "--", "true"]);
    expect(bad.exitCode).toBe(125);
    expect(oneLine(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toContain("--rlimit");
    expect(bad.stderr).toContain("nofile");
    const good = await nsbox(["--no-cwd", "--rlimit", "nofile=64", "--", "sh", "-c", "ulimit -n"]);
    expect(good).toMatchObject({ exitCode: 0, stdout: "64\n" });
  });
});

describe("nsbox inside nsbox", () => {
  it("says nesting is not supported, whatever the outer sandbox's options (not a chase through --uid or --allow-nested)", async () => {
    for (const outer of [[], ["--allow-nested"], ["--allow-nested", "--uid", "1000", "--gid", "1000"]]) {
      const r = await nsbox([...outer, "--ro", ROOT, "--", NSBOX, "--", "true"]);
      expect(r.exitCode).toBe(125);
      // (Bun inside may look up its registry first: the --net none note about it may follow.)
      expect(r.stderr).toContain("; nsbox is running inside an nsbox sandbox, and nesting nsbox in nsbox is not supported yet: run it outside, on the host\n");
      expect(r.stderr.trim().split("\n").filter((l) => !l.startsWith("nsbox: the network is off"))).toHaveLength(1);
    }
  });
});

describe("--rlimit nofile, small", () => {
  it("is applied after Landlock, which needs descriptors: nofile=4 runs with Landlock on and prints 4", async () => {
    const r = await nsbox(["--no-cwd", "--landlock", "on", "--rlimit", "nofile=4", "--", "sh", "-c", "ulimit -n"]);
    expect(r).toMatchObject({ exitCode: 0, stdout: "4\n", stderr: "" });
  });

  it("nofile=3 leaves no command a descriptor to load its libraries: refused before the start, naming --rlimit, not Landlock", async () => {
    const r = await nsbox(["--no-cwd", "--rlimit", "nofile=3", "--", "sh", "-c", "ulimit -n"]);
    expect(r.exitCode).toBe(125);
    expect(oneLine(r.stderr)).toEqual(["nsbox: --rlimit nofile=3: too few for any command to start (stdin, stdout, stderr and one more to load its libraries): give 4 or more"]);
    expect(r.stderr).not.toContain("andlock");
  });
});

describe("nsbox under a small ulimit -n", () => {
  const under = (n: number) => collect(["prlimit", `--nofile=${n}`, process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--no-cwd", "--", "sh", "-c", "ulimit -n"]);

  it(`runs with ${FDS_NEEDED} and ${FDS_NEEDED + 8} (the payload gets that limit)`, async () => {
    expect(await under(FDS_NEEDED + 8)).toMatchObject({ exitCode: 0, stdout: `${FDS_NEEDED + 8}\n`, stderr: "" });
    expect(await under(FDS_NEEDED)).toMatchObject({ exitCode: 0, stdout: `${FDS_NEEDED}\n`, stderr: "" });
  });

  it("below that: exit 125 and one line with the limit, what nsbox needs and the fix, never a bare 125", async () => {
    // Not lower: below about 9, Bun itself runs out while it loads (how many depends on the checkout's depth).
    for (const n of [FDS_NEEDED - 1, 12, 10]) {
      const r = await under(n);
      expect(r.exitCode).toBe(125);
      expect(oneLine(r.stderr)).toEqual([`nsbox: too few file descriptors: ulimit -n is ${n}, nsbox needs at least ${FDS_NEEDED} (EMFILE): raise the limit (ulimit -n 1024) and run again`]);
    }
  });

  it("the library: a typed NsboxError with the same words (control: with enough it runs)", async () => {
    const script = `import { run } from ${JSON.stringify(join(ROOT, "src/index.ts"))};
      try { const r = await run(["true"], { noCwd: true }); console.log(JSON.stringify({ exitCode: r.exitCode })); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const lib = (n: number) => collect(["prlimit", `--nofile=${n}`, process.execPath, "--no-env-file", "--config=/dev/null", "-e", script]);
    expect(JSON.parse((await lib(10)).stdout)).toEqual({
      name: "NsboxError", code: "KERNEL_REFUSED",
      message: `too few file descriptors: ulimit -n is 10, nsbox needs at least ${FDS_NEEDED} (EMFILE): raise the limit (ulimit -n 1024) and run again`,
    });
    expect(JSON.parse((await lib(64)).stdout)).toEqual({ exitCode: 0 });
  });
});
