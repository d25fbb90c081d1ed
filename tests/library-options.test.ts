// The library's options object: an unknown key is an error naming it (a key ignored would fail
// open: `ro: ["."]` left the project writable), and `net` may be one string as on the command line.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { NsboxError, run, spawn } from "../src/index.ts";
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
    // The number of filters: the default one, and (transparent network mode) nsbox's notify filter, which --seccomp none keeps.
    const probe = ["sh", "-c", "grep '^Seccomp_filters:' /proc/self/status"];
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
    const off = await run(probe, { cwd, seccomp: "none" });
    const count = (out: string) => Number(/Seccomp_filters:\s*(\d+)/.exec(out)?.[1]);
    expect(count(polluted.stdout)).toBe(count(off.stdout) + 1);
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

  it("null options are no options, as for spawn() (control: a string is refused)", async () => {
    expect(await run(["true"], null as never)).toMatchObject({ exitCode: 0 });
    expect(await run(["true"], "x" as never).catch((x) => x)).toMatchObject({ code: "BAD_OPTION", option: "options" });
  });

  it("a signal that is not an AbortSignal is a BAD_OPTION naming it, from run() and spawn() (control: a real one runs)", async () => {
    const cwd = scratchIn(made);
    for (const signal of ["x", {}, 5]) {
      const e = await run(["true"], { cwd, signal } as never).catch((x) => x);
      expect(e).toBeInstanceOf(NsboxError);
      expect(e).toMatchObject({ code: "BAD_OPTION", option: "signal" });
      expect(e.message).toContain("AbortSignal");
      let thrown: unknown;
      try {
        spawn(["true"], { cwd, signal } as never);
      } catch (x) {
        thrown = x;
      }
      expect(thrown).toMatchObject({ code: "BAD_OPTION", option: "signal" });
    }
    expect(await run(["true"], { cwd, signal: new AbortController().signal })).toMatchObject({ exitCode: 0 });
  });

  it("stdin of the wrong shape, or a descriptor that is not open, is a BAD_OPTION before anything starts (control: a string is data)", async () => {
    const cwd = scratchIn(made);
    const shape = await run(["cat"], { cwd, stdin: { a: 1 } } as never).catch((x) => x);
    expect(shape).toMatchObject({ code: "BAD_OPTION", option: "stdin" });
    expect(shape.message).toContain("got an object");
    const closed = await run(["cat"], { cwd, stdin: 987 }).catch((x) => x);
    expect(closed).toMatchObject({ code: "BAD_OPTION", option: "stdin" });
    expect(closed.message).toContain("descriptor 987 is not open");
    expect(await run(["cat"], { cwd, stdin: "data in" })).toMatchObject({ exitCode: 0, stdout: "data in" });
  });

  it("a wrong encoding is worded as the other options are", async () => {
    const e = await run(["true"], { cwd: scratchIn(made), encoding: "latin1" } as never).catch((x) => x);
    expect(e).toMatchObject({ code: "BAD_OPTION", option: "encoding" });
    expect(e.message).toBe('The `encoding` option must be "utf8" or "buffer", got "latin1"');
  });

  it("a missing mount source's hint is the library's own form, optional: true (control: with it the run goes on)", async () => {
    const cwd = scratchIn(made);
    const missing = join(cwd, "missing");
    const e = await run(["true"], { cwd, mounts: [{ kind: "ro", source: missing, target: "/data" }] }).catch((x) => x);
    expect(e).toMatchObject({ code: "PATH_NOT_FOUND", hint: "create it first, or set optional: true in mounts[0] to skip it when it is missing" });
    expect(await run(["true"], { cwd, mounts: [{ kind: "ro", source: missing, target: "/data", optional: true }] })).toMatchObject({ exitCode: 0 });
  });

  it("an empty command is named in the library's terms, not the command line's usage", async () => {
    for (const command of [[], [""]]) {
      const e = await run(command, { cwd: scratchIn(made) }).catch((x) => x);
      expect(e).toMatchObject({ code: "BAD_OPTION", option: "command" });
      expect(e.message).toStartWith('command: expected a program and its arguments, e.g. ["ls", "-l"]');
    }
  });

  it("a netLog that is not a regular file is named as the library's key, with a fix that is not to remove /dev/zero", async () => {
    const e = await run(["true"], { cwd: scratchIn(made), net: "allow=example.com", netLog: "/dev/zero" }).catch((x) => x);
    expect(e).toBeInstanceOf(NsboxError);
    expect(e.option).toBe("netLog");
    expect(e.message).toBe('The `netLog` option "/dev/zero": it is a character device, not a regular file');
    expect(e.hint).toBe("give the path of a regular file (it is created when missing)");
  });

  it("a Bun.file that is missing or a directory is worded as other paths are, not as Node's ENOENT/EISDIR (control: a file is read)", async () => {
    const cwd = scratchIn(made);
    const missing = await run(["cat"], { cwd, stdin: Bun.file(join(cwd, "nope.txt")) }).catch((x) => x);
    expect(missing).toMatchObject({ code: "PATH_NOT_FOUND", option: "stdin" });
    expect(missing.message).toBe(`stdin ${join(cwd, "nope.txt")}: no such file or directory`);
    const dir = await run(["echo"], { cwd, stdout: Bun.file(cwd) }).catch((x) => x);
    expect(dir).toMatchObject({ code: "BAD_OPTION", option: "stdout", hint: `name a file in it, e.g. Bun.file(${JSON.stringify(join(cwd, "stdout.log"))})` });
    expect(dir.message).toBe(`stdout ${cwd}: it is a directory`);
    await Bun.write(join(cwd, "in.txt"), "from file");
    expect(await run(["cat"], { cwd, stdin: Bun.file(join(cwd, "in.txt")) })).toMatchObject({ exitCode: 0, stdout: "from file" });
  });

  it("a mount kind in the command line's -try form says to write optional: true", async () => {
    const e = await run(["true"], { cwd: scratchIn(made), mounts: [{ kind: "ro-try", source: "./x" }] } as never).catch((x) => x);
    expect(e).toMatchObject({ code: "BAD_OPTION", option: "mounts" });
    expect(e.message).toContain('mounts[0].kind "ro-try": write kind: "ro" with optional: true');
  });
});
