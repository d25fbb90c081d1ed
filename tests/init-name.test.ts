// Inside, `ps` shows the sandbox's PID 1 as nsbox-init, without the Bun command line or Bun's address space it was cloned from; nsbox ps and exec still find it.
import { afterAll, describe, expect, it } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NSBOX, ROOT, background, cleanedUp, collect, marker, nsbox, scratchIn, sh } from "./helpers.ts";

const made = cleanedUp();
const scratch = () => scratchIn(made);
const GiB_KB = 1024 * 1024;

/** VmSize of a process of the host, in KiB. */
const vmSize = (pid: number | "self") => Number(/^VmSize:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

describe("given a sandbox", () => {
  it("ps shows PID 1 as nsbox-init, its name and its command line", async () => {
    const r = await nsbox(["--", "ps", "-o", "pid=,comm=,args=", "-p", "1"], { cwd: scratch() });
    expect(r).toMatchObject({ stdout: expect.stringMatching(/^\s*1 nsbox-init\s+nsbox-init\n$/), exitCode: 0 });
    // The control: the nsbox process it was cloned from is Bun, running bin/nsbox.
    expect(readFileSync("/proc/self/cmdline", "utf8")).toContain("bun");
  });

  it("/proc/1/cmdline is nsbox-init alone, and /proc/1/comm nsbox-init", async () => {
    const r = await sh("od -An -c /proc/1/cmdline | tr -s ' '; cat /proc/1/comm", { cwd: scratch() });
    expect(r).toMatchObject({ stdout: " n s b o x - i n i t \\0\nnsbox-init\n", exitCode: 0 });
  });

  it("PID 1's address space is small once the command has started; the Bun process it was cloned from has gigabytes (control)", async () => {
    expect(vmSize("self")).toBeGreaterThan(GiB_KB);
    // Polled: PID 1 unmaps right after the command's exec, which may run first.
    const r = await sh(`for i in $(seq 400); do v=$(ps -o vsz= -p 1); [ "$v" -lt ${GiB_KB} ] && break; sleep 0.05; done; echo $v`, { cwd: scratch() });
    expect(r.exitCode).toBe(0);
    expect(Number(r.stdout)).toBeGreaterThan(0);
    expect(Number(r.stdout)).toBeLessThan(GiB_KB);
  });

  it("PID 1 still forwards signals and exits with the command's status", async () => {
    expect(await sh("exit 7", { cwd: scratch() })).toMatchObject({ exitCode: 7 });
    const b = background([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--", "sh", "-c", `echo ready; exec sleep ${marker()}`], { cwd: scratch() });
    expect(await b.waitFor("ready", 60_000)).toBe(true);
    b.proc.kill("SIGTERM"); // nsbox forwards it to PID 1, whose handler forwards it to the command
    expect((await b.finish()).exitCode).toBe(143);
  });
});

describe("given the library started from a script with a short command line", () => {
  it("the name still shows whole, written on past the arguments (bun x.ts: 9 bytes)", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "x.ts"), `import { run } from ${JSON.stringify(join(ROOT, "src/index.ts"))};
const r = await run(["cat", "/proc/1/cmdline", "/proc/1/comm"], { noCwd: true });
process.stdout.write(JSON.stringify(r.stdout));`);
    const bun = realpathSync(process.execPath);
    // argv[0] "bun" and a relative script: the argument strings are "bun\\0x.ts\\0".
    const r = await collect(["bash", "-c", `exec -a bun "$0" x.ts`, bun], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toBe("nsbox-init\0nsbox-init\n");
  });
});

describe("given a named sandbox", () => {
  const runtime = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-run-")));
  made.push(runtime);
  chmodSync(runtime, 0o700);
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
  const started: Array<{ kill(sig?: number): void }> = [];
  afterAll(() => started.forEach((p) => p.kill(9)));

  it("nsbox ps lists it, nsbox exec joins it and sees nsbox-init, nsbox stop stops it", async () => {
    const name = `init-${process.pid}`;
    const b = background([process.execPath, NSBOX, "--name", name, "--", "sh", "-c", `echo ready; exec sleep ${marker()}`], { cwd: scratch(), env });
    started.push(b.proc);
    expect(await b.waitFor("ready", 60_000)).toBe(true);
    const cli = (...args: string[]) => collect([process.execPath, NSBOX, ...args], { cwd: scratch(), env });
    const ps = await cli("ps", "--json");
    expect(ps.exitCode).toBe(0);
    expect((JSON.parse(ps.stdout) as Array<{ name: string }>).map((s) => s.name)).toEqual([name]);
    const exec = await cli("exec", name, "--", "ps", "-o", "comm=", "-p", "1");
    expect(exec).toMatchObject({ stdout: "nsbox-init\n", exitCode: 0 });
    expect((await cli("stop", "--time", "0", name)).exitCode).toBe(0);
    expect((await b.finish()).exitCode).toBe(137);
  });
});
