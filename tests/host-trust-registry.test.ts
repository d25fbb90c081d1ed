// Host trust, named sandboxes (issue 11, item 5): stop, exec and inspect act only on a sandbox its own nsbox proves (socket + pidfd), never on a pid read from a registry entry; no sandbox sees the registry.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NSBOX, type Ran, background as startBackground, cleanedUp, collect, eventually, marker } from "./helpers.ts";

const made = cleanedUp();
function tempDir(prefix: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  made.push(dir);
  return dir;
}
const RUNTIME = tempDir("nsbox-run-");
chmodSync(RUNTIME, 0o700);
const STATE = join(RUNTIME, "nsbox");
const ENV = { ...process.env, XDG_RUNTIME_DIR: RUNTIME };

const started: Array<{ kill(sig?: number): void }> = [];
afterAll(() => {
  for (const p of started) {
    try {
      p.kill(9);
    } catch {}
  }
});

let counter = 0;
const uniqueName = (what: string) => `${what}-${process.pid}-${counter++}`;

const run = (args: string[], cwd = tempDir("nsbox-t-")): Promise<Ran> => collect([process.execPath, NSBOX, ...args], { cwd, env: ENV });

/** A named sandbox that prints `ready`, then sleeps until stopped. */
async function sandbox(name: string, extra: string[] = [], script = "") {
  const b = startBackground([process.execPath, NSBOX, "--name", name, ...extra, "--", "sh", "-c", `${script}${script ? "; " : ""}echo ready; exec sleep ${marker()}`], { cwd: tempDir("nsbox-t-"), env: ENV });
  started.push(b.proc);
  if (!(await b.waitFor("ready"))) {
    b.proc.kill("SIGKILL");
    const r = await b.finish();
    throw new Error(`sandbox ${name} did not start: ${r.stdout} ${r.stderr}`);
  }
  return b;
}

/** An unrelated process of the user: what a forged entry points at. */
function victim() {
  const p = Bun.spawn(["sleep", marker()], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  started.push(p);
  return p;
}
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!);
  } catch {
    return false;
  }
};
const startTime = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
};

/** An entry rewritten to point at `pid` with its exact start time: everything the old check believed. */
function forge(name: string, pid: number, base?: Record<string, unknown>) {
  const entry = base ?? {
    version: 1, name, pid, pidStart: 0, supervisor: { pid: process.pid, start: startTime(process.pid) }, uid: process.getuid!(),
    command: ["sleep", "1000"], startedAt: new Date().toISOString(), cwd: "/", home: "/", startDir: "/", hostname: "nsbox", summary: "defaults", options: {}, writable: [],
  };
  mkdirSync(STATE, { recursive: true, mode: 0o700 });
  writeFileSync(join(STATE, `${name}.json`), JSON.stringify({ ...entry, pid, pidStart: startTime(pid) }));
}

function expectNsboxError(r: Ran, ...mentions: string[]): void {
  expect(r.exitCode).toBe(125);
  for (const line of r.stderr.trimEnd().split("\n")) expect(line.startsWith("nsbox: ")).toBe(true);
  for (const m of mentions) expect(r.stderr).toContain(m);
}

describe("a registry entry is not a proof", () => {
  test("an entry rewritten to point at an unrelated process: stop ends the real sandbox, the process survives", async () => {
    const name = uniqueName("rewritten");
    const s = await sandbox(name);
    const sleep = victim();
    const real = JSON.parse(readFileSync(join(STATE, `${name}.json`), "utf8"));
    forge(name, sleep.pid, real);
    // ps, inspect and exec show the real sandbox, not the entry's pid.
    const ps = JSON.parse((await run(["ps", "--json"])).stdout) as Array<{ name: string; pid: number }>;
    expect(ps.find((e) => e.name === name)?.pid).toBe(real.pid);
    expect((await run(["inspect", "--json", name])).stdout).toContain(`"pid": ${real.pid}`);
    expect((await run(["exec", name, "--", "sh", "-c", "echo $$"])).stdout).not.toBe("1\n");
    const r = await run(["stop", "--time", "5", name]);
    expect(r).toMatchObject({ exitCode: 0, stdout: `${name}\n` });
    expect((await s.finish()).exitCode).toBe(143); // the control: the same command stopped the real one
    expect(alive(sleep.pid)).toBe(true);
    sleep.kill(9);
  });

  test("a forged entry for a name that is not running: stop, exec and inspect refuse; the process survives", async () => {
    const name = uniqueName("forged");
    const sleep = victim();
    forge(name, sleep.pid);
    for (const args of [["stop", "--time", "0", name], ["exec", name, "--", "true"], ["inspect", name]]) {
      const r = await run(args);
      expectNsboxError(r, `no sandbox named ${name} is running`);
      expect(r.stdout).toBe("");
    }
    expect(alive(sleep.pid)).toBe(true);
    expect(existsSync(join(STATE, `${name}.json`))).toBe(false); // cleaned as stale
    // Control: a real sandbox of another name is stopped by the same command.
    const control = uniqueName("control");
    const s = await sandbox(control);
    expect((await run(["stop", "--time", "0", control])).exitCode).toBe(0);
    expect((await s.finish()).exitCode).toBe(137);
    sleep.kill(9);
  });

  test("a stale entry (its nsbox killed) whose pid now looks reused by a process of the user: refused, the process survives", async () => {
    const name = uniqueName("stale");
    const s = await sandbox(name);
    const real = JSON.parse(readFileSync(join(STATE, `${name}.json`), "utf8"));
    s.proc.kill("SIGKILL");
    await s.proc.exited;
    expect(await eventually(() => !alive(real.pid))).toBe(true);
    expect(existsSync(join(STATE, `${name}.sock`))).toBe(true); // left behind, nobody listens
    const sleep = victim();
    forge(name, sleep.pid, real);
    const r = await run(["stop", "--time", "0", name]);
    expectNsboxError(r, `no sandbox named ${name} is running`);
    expect(alive(sleep.pid)).toBe(true);
    expect(existsSync(join(STATE, `${name}.sock`))).toBe(false);
    expect(existsSync(join(STATE, `${name}.json`))).toBe(false);
    sleep.kill(9);
  });

  test("a socket that is not a socket, or not the user's, proves nothing", async () => {
    const name = uniqueName("notsock");
    const sleep = victim();
    forge(name, sleep.pid);
    writeFileSync(join(STATE, `${name}.sock`), "");
    expectNsboxError(await run(["stop", "--time", "0", name]), `sandbox ${name}`, "is not a socket");
    expect(alive(sleep.pid)).toBe(true);
    unlinkSync(join(STATE, `${name}.sock`));
    sleep.kill(9);
  });
});

describe("no sandbox reaches the registry", () => {
  test("by default the runtime directory is not there inside", async () => {
    const name = uniqueName("look");
    const s = await sandbox(name);
    const r = await collect([process.execPath, NSBOX, "--", "sh", "-c", `ls -A ${STATE} 2>&1; echo status=$?`], { cwd: tempDir("nsbox-t-"), env: ENV });
    expect(r.stdout).toContain("status=2");
    expect(r.stdout).not.toContain(`${name}.sock`);
    expect((await run(["stop", name])).exitCode).toBe(0);
    await s.finish();
  });

  test("a share that contains it (--rw of its parent) shows it empty and closed; the rest of the share is there (control)", async () => {
    const name = uniqueName("parent");
    const s = await sandbox(name);
    writeFileSync(join(RUNTIME, "sibling"), "visible\n");
    const r = await run(["--rw", RUNTIME, "--", "sh", "-c", `cat ${RUNTIME}/sibling; ls -A ${STATE} 2>&1; echo status=$?; touch ${STATE}/x 2>&1; echo touch=$?`]);
    expect(r.stdout).toContain("visible\n");
    expect(r.stdout).not.toContain(`${name}.sock`);
    expect(r.stdout).toMatch(/touch=[1-9]/);
    expect(existsSync(join(STATE, "x"))).toBe(false);
    expect(existsSync(join(STATE, `${name}.sock`))).toBe(true); // the real one is untouched
    expect((await run(["stop", name])).exitCode).toBe(0);
    await s.finish();
  });

  test("the current directory inside the runtime directory is refused", async () => {
    const inside = join(STATE, "project");
    mkdirSync(inside, { recursive: true });
    const r = await run(["--", "true"], inside);
    // Under $XDG_RUNTIME_DIR the shared-directory rule (item 4) refuses it first, in its own words.
    expectNsboxError(r, `the current directory ${inside}`, "--no-cwd");
    expect((await run(["--no-cwd", "--", "echo", "ran"], inside)).stdout).toBe("ran\n"); // control
  });

  test("given explicitly (--rw of it), a payload that replaces an entry with its own socket still cannot steer stop; its own queries get nothing", async () => {
    const name = uniqueName("target");
    const s = await sandbox(name);
    const real = JSON.parse(readFileSync(join(STATE, `${name}.json`), "utf8"));
    const sleep = victim();
    const entry = JSON.stringify({ ...real, pid: sleep.pid, pidStart: startTime(sleep.pid), supervisor: { pid: sleep.pid, start: startTime(sleep.pid) } });
    // Inside: ask the real socket (it must answer nothing), then put a socket of its own, and the forged entry, in its place.
    const script = `
      const dir = ${JSON.stringify(STATE)}, name = ${JSON.stringify(name)};
      let got = "";
      await new Promise((done) => Bun.connect({ unix: dir + "/" + name + ".sock", socket: { data(_, d) { got += d; }, close: done, error: done } }).catch(done));
      console.log("real socket said: [" + got + "]");
      const fs = require("node:fs");
      fs.renameSync(dir + "/" + name + ".sock", dir + "/moved");
      Bun.listen({ unix: dir + "/" + name + ".sock", socket: { open(s) { s.write(${JSON.stringify(entry)}); s.end(); }, data() {} } });
      fs.writeFileSync(dir + "/" + name + ".json", ${JSON.stringify(entry)});
      console.log("planted");
      await Bun.sleep(60000);
    `;
    const payload = startBackground([process.execPath, NSBOX, "--rw", STATE, "--", process.execPath, "-e", script], { cwd: tempDir("nsbox-t-"), env: ENV });
    started.push(payload.proc);
    expect(await payload.waitFor("planted")).toBe(true);
    expect(payload.out).toContain("real socket said: []");
    const r = await run(["stop", "--time", "0", name]);
    expectNsboxError(r, `sandbox ${name}`, "another PID or user namespace");
    expect(alive(sleep.pid)).toBe(true);
    if (!alive(real.pid)) throw new Error(`real sandbox gone: ${JSON.stringify(await s.finish())} payload: ${payload.out}`);
    // Control: with its socket back, the same command stops the real sandbox.
    renameSync(join(STATE, "moved"), join(STATE, `${name}.sock`));
    expect((await run(["stop", "--time", "0", name])).exitCode).toBe(0);
    expect((await s.finish()).exitCode).toBe(137);
    expect(alive(sleep.pid)).toBe(true);
    payload.proc.kill("SIGTERM");
    await payload.finish();
    sleep.kill(9);
  }, 180_000); // ten nsbox and bun starts: slow on a loaded machine
});

describe("the host side writes the registry without following what was planted there", () => {
  test("a symlink planted at the entry's temporary name is not followed (control: a plain write through it would be)", async () => {
    const dir = tempDir("nsbox-reg-");
    chmodSync(dir, 0o700);
    const target = join(tempDir("nsbox-t-"), "bashrc");
    writeFileSync(target, "original\n");
    const name = uniqueName("planted");
    const script = `
      const { symlinkSync, writeFileSync, readFileSync } = require("node:fs");
      const { claimName } = await import(${JSON.stringify(join(import.meta.dir, "..", "src", "registry.ts"))});
      // The names nsbox would use in this process: NAME.json.tmp.PID.N.
      for (let n = 0; n < 8; n++) symlinkSync(${JSON.stringify(target)}, ${JSON.stringify(dir)} + "/${name}.json.tmp." + process.pid + "." + n);
      let r;
      try { r = claimName(${JSON.stringify(name)}, { command: ["x"], cwd: "/", home: "/", startDir: "/", hostname: "h", options: {}, writable: [] }, ${JSON.stringify(dir)}); } catch (e) { console.log("claim failed: " + e.message); }
      console.log("after claim: " + JSON.stringify(readFileSync(${JSON.stringify(target)}, "utf8")));
      r?.release();
      writeFileSync(${JSON.stringify(dir)} + "/${name}.json.tmp." + process.pid + ".7", "through the link\\n");
      console.log("after plain write: " + JSON.stringify(readFileSync(${JSON.stringify(target)}, "utf8")));
      process.exit(0);
    `;
    const r = await collect([process.execPath, "-e", script], { cwd: tempDir("nsbox-t-"), env: ENV });
    expect(r.stdout).toContain('after claim: "original\\n"');
    expect(r.stdout).toContain('after plain write: "through the link\\n"'); // the control
  });
});
