// The library's options object: an unknown key is an error naming it (a key ignored would fail
// open: `ro: ["."]` left the project writable), and `net` may be one string as on the command line.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { NsboxError, run } from "../src/index.ts";
import { cleanedUp, scratchIn } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();

describe("library options", () => {
  it("a command-line-shaped key (ro) is refused, naming the mounts form; nothing runs (control: mounts makes it read-only)", async () => {
    const cwd = scratchIn(made);
    const write = ["sh", "-c", "echo x > written"];
    const e = await run(write, { cwd, ro: ["."] } as never).catch((x) => x);
    expect(e).toBeInstanceOf(NsboxError);
    expect(e).toMatchObject({ code: "BAD_OPTION", option: "ro" });
    expect(e.message).toContain('mounts: [{ kind: "ro", source, target }]');
    expect(existsSync(join(cwd, "written"))).toBe(false);
    const r = await run(write, { cwd, mounts: [{ kind: "ro", source: cwd, target: cwd, origin: "ro", option: "--ro" }] } as never);
    expect(r.exitCode).not.toBe(0);
    expect(existsSync(join(cwd, "written"))).toBe(false);
  });

  it("a misspelt key (timeOut) is refused with the known ones", async () => {
    const e = await run(["true"], { cwd: scratchIn(made), timeOut: 5 } as never).catch((x) => x);
    expect(e).toMatchObject({ code: "BAD_OPTION", option: "timeOut" });
    expect(e.message).toContain("timeout");
  });

  it("net as one string is one value (control: the same as a list)", async () => {
    const cwd = scratchIn(made);
    const probe = ["sh", "-c", "ls /sys/class/net 2>/dev/null | wc -l; cat /proc/net/dev | wc -l"];
    const one = await run(probe, { cwd, net: "none" as never });
    const list = await run(probe, { cwd, net: ["none"] });
    expect(one).toMatchObject({ exitCode: 0 });
    expect(one.stdout).toBe(list.stdout);
  });

  it("a polluted Object.prototype does not turn seccomp or Landlock off (control: the same values given as options do)", async () => {
    const cwd = scratchIn(made);
    const probe = ["sh", "-c", "grep '^Seccomp:' /proc/self/status"];
    const proto = Object.prototype as Record<string, unknown>;
    let polluted: Awaited<ReturnType<typeof run>>;
    try {
      proto.seccomp = "none";
      proto.landlock = "off";
      proto.allowNested = true;
      polluted = await run(probe, { cwd });
    } finally {
      delete proto.seccomp;
      delete proto.landlock;
      delete proto.allowNested;
    }
    expect(polluted.stdout).toMatch(/Seccomp:\s*2/);
    const off = await run(probe, { cwd, seccomp: "none" });
    expect(off.stdout).toMatch(/Seccomp:\s*0/);
  });

  it("a hole in a list is a wrong value, named (control: the list without the hole runs)", async () => {
    const cwd = scratchIn(made);
    for (const [key, value] of [["rlimits", [, "nofile=64"]], ["net", [, "none"]], ["mounts", [,]], ["capAdd", [,]], ["keepEnv", [,]]] as const) {
      const e = await run(["true"], { cwd, [key]: value } as never).catch((x) => x);
      expect(e).toBeInstanceOf(NsboxError);
      expect(e).toMatchObject({ code: "BAD_OPTION", option: key });
    }
    expect(await run(["true"], { cwd, rlimits: ["nofile=64"], net: ["none"], mounts: [], capAdd: [], keepEnv: [] })).toMatchObject({ exitCode: 0 });
  });
});

describe("library signal", () => {
  it("a signal that is not an AbortSignal is refused by name, not a TypeError (control: an AbortSignal aborts)", async () => {
    const cwd = scratchIn(made);
    for (const signal of [{}, /x/, false, null]) {
      const e = await run(["true"], { cwd, signal: signal as never }).catch((x) => x);
      expect(e).toBeInstanceOf(NsboxError);
      expect(e).toMatchObject({ code: "BAD_OPTION", option: "signal" });
    }
    const ac = new AbortController();
    const r = run(["sleep", "30"], { cwd, signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    expect(await r).toMatchObject({ aborted: true });
  });
});
