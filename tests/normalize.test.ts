// src/options/normalize.ts: the one pass every option goes through: command line, config values,
// the library's object; merging layers; checks across options; the resolved values.
import { describe, expect, it } from "bun:test";
import { NsboxError } from "../src/errors.ts";
import { LIBRARY_CHECKS } from "../src/options/library.ts";
import { applyCommandLine, applyConfigValue, checkCommand, checkLibraryOptions, finish, mergeOptions, RESOLVED, resolved } from "../src/options/normalize.ts";
import type { SandboxOptions } from "../src/options.ts";

/** The NsboxError `f` throws (fails the test if it throws nothing or something else). */
function refusal(f: () => unknown): NsboxError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NsboxError);
    return e as NsboxError;
  }
  throw new Error("expected a refusal, got none");
}

const cli = (...pairs: [string, string | boolean][]) => {
  const o: SandboxOptions = {};
  applyCommandLine(o, pairs.map(([name, value]) => ({ name, value, flag: `--${name}` })));
  return finish(o);
};

describe("given the command line", () => {
  it("values are parsed into typed ones, in order (control for every refusal below)", () => {
    const o = cli(["uid", "1000"], ["timeout", "1.5s"], ["net", "allow=example.com:443"], ["net-log", "n.log"], ["rlimit", "nofile=64"], ["cap-add", "CAP_NET_RAW"], ["hostname", "a".repeat(64)]);
    expect(o).toMatchObject({ uid: 1000, timeout: 1500, net: ["allow=example.com:443"], netLog: "n.log", hostname: "a".repeat(64) });
    const r = o[RESOLVED];
    expect(r.net).toMatchObject({ mode: "allow", entries: [{ kind: "host", host: "example.com", port: 443 }] });
    expect(r.rlimits).toEqual([{ name: "nofile", resource: 7, soft: "64", hard: "64" }]);
    expect(r.caps.names).toEqual(["cap_net_raw"]);
    expect(r.seccomp).toEqual({ kind: "default" });
  });

  const cases: [string, string, string][] = [
    ["net", "allow=example.com:99999", "--net 'allow=example.com:99999': port 99999 is out of range (1-65535)"],
    ["net", "allow=a.com,b.com:0", "--net 'allow=a.com,b.com:0': rule 'b.com:0': port 0 is out of range (1-65535)"],
    ["timeout", "597h", "--timeout 597h: is longer than the longest timeout nsbox can set (the range is 1ms to 2147483647ms, about 24.8 days)"],
    ["timeout", "0.4ms", "--timeout 0.4ms: is shorter than 1ms"],
    ["hostname", "a".repeat(65), `--hostname ${"a".repeat(65)}: must be a host name of letters, digits, '-' and '.', from 1 to 64 characters`],
    ["chdir", "", "--chdir '': needs a directory"],
    ["tmpfs", ":size=1m", "--tmpfs ':size=1m': needs a path before ':'"],
    ["landlock", "yes", '--landlock yes: must be "on" or "off"'],
    ["rlimit", "constructor=1", "--rlimit 'constructor=1': must be NAME=VALUE"],
    ["cap-add", "CAP_NOPE", "--cap-add CAP_NOPE: unknown capability 'CAP_NOPE'"],
    ["uid", "4294967295", "--uid 4294967295: must be a whole number from 0 to 4294967294"],
    ["bind", "nocolon", "--bind nocolon: must be SRC:DST (a ':' in a path is written \\:)"],
  ];
  for (const [name, value, message] of cases) {
    it(`--${name} ${JSON.stringify(value)}: one line naming the option and the value as typed`, () => {
      const e = refusal(() => cli([name, value]));
      expect(e.message).toStartWith(message);
      expect(e).toMatchObject({ code: "BAD_OPTION", option: `--${name}` });
    });
  }

  it("--net-log without --net allow= is refused naming both (control: with allow= it is taken)", () => {
    expect(refusal(() => cli(["net", "host"], ["net-log", "/tmp/n"])).message).toBe(
      "--net-log /tmp/n: nothing would be logged without --net allow=… (the network is host, from --net host): with the host's network nsbox decides nothing",
    );
    expect(refusal(() => cli(["net-log", "/tmp/n"])).message).toContain("(the network is none, the default)");
    expect(cli(["net", "allow=example.com"], ["net-log", "/tmp/n"]).netLog).toBe("/tmp/n");
  });

  it("names that are not sandbox options (the CLI's own flags) are skipped", () => {
    expect(JSON.stringify(cli(["dry-run", true], ["profile", "x"], ["constructor", "x"]))).toBe("{}");
  });
});

describe("given a config file's value", () => {
  const where = "/p/nsbox.json: profiles.ci.net";
  it("a bad rule names the file, the key and the value", () => {
    const e = refusal(() => applyConfigValue({}, "net", "allow=example.com:99999", where));
    expect(e.message).toBe('/p/nsbox.json: profiles.ci.net "allow=example.com:99999": port 99999 is out of range (1-65535)');
  });

  it("a number only where the option takes one: tmpfs 5 refused, uid 5 and timeout 5 (seconds) taken", () => {
    expect(refusal(() => applyConfigValue({}, "tmpfs", 5, "/p/nsbox.json: profiles.ci.tmpfs")).message).toBe("/p/nsbox.json: profiles.ci.tmpfs: must be a string or a list of strings, got 5");
    const o: SandboxOptions = {};
    applyConfigValue(o, "uid", 5, "f: uid");
    applyConfigValue(o, "timeout", 5, "f: timeout");
    expect(o).toMatchObject({ uid: 5, timeout: 5000 });
  });

  it("a switch given a boolean is told its words (control: a free string option says a string)", () => {
    expect(refusal(() => applyConfigValue({}, "landlock", false, "f: profiles.p.landlock")).message).toBe('f: profiles.p.landlock: must be "on" or "off", got false');
    expect(refusal(() => applyConfigValue({}, "propagation", true, "f: profiles.p.propagation")).message).toBe('f: profiles.p.propagation: must be "private" or "slave", got true');
    expect(refusal(() => applyConfigValue({}, "hostname", 42, "f: profiles.p.hostname")).message).toBe("f: profiles.p.hostname: must be a string, got 42");
  });

  it("a misspelt key names the option it was probably meant to be", () => {
    expect(refusal(() => applyConfigValue({}, "network", true, "f: profiles.p.network")).message).toBe('f: profiles.p.network: unknown option (did you mean "net"?)');
    expect(refusal(() => applyConfigValue({}, "timeOut", "5s", "f: profiles.p.timeOut")).message).toBe('f: profiles.p.timeOut: unknown option (did you mean "timeout"?)');
    expect(refusal(() => applyConfigValue({}, "keep_env", "A", "f: profiles.p.keep_env")).message).toBe('f: profiles.p.keep_env: unknown option (did you mean "keep-env"?)');
    expect(refusal(() => applyConfigValue({}, "bogus", 1, "f: profiles.p.bogus")).message).toBe("f: profiles.p.bogus: unknown option");
  });

  it("keys named like Object's members are unknown options (control: hostname is taken)", () => {
    for (const key of ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty"]) {
      expect(refusal(() => applyConfigValue({}, key, "x", `f: profiles.p.${key}`)).message).toBe(`f: profiles.p.${key}: unknown option`);
    }
    const o: SandboxOptions = {};
    applyConfigValue(o, "hostname", "ok", "f: profiles.p.hostname");
    expect(o.hostname).toBe("ok");
  });

  it("a NUL inside a value is refused, not cut short", () => {
    expect(refusal(() => applyConfigValue({}, "env", "A=x\0y", "f: env")).message).toContain("contains a NUL byte");
    expect(refusal(() => applyConfigValue({}, "ro", "./a\0b", "f: ro")).message).toContain("contains a NUL byte");
  });

  it("relative paths are relative to the file's directory", () => {
    const o: SandboxOptions = {};
    applyConfigValue(o, "ro", "./data", "f: ro", "/p");
    applyConfigValue(o, "net-log", "n.log", "f: net-log", "/p");
    expect(o.mounts![0]).toMatchObject({ source: "/p/data", target: "/p/data", origin: 'f: ro "./data"' });
    expect(o.netLog).toBe("/p/n.log");
  });
});

describe("given the library's options object", () => {
  it("every SandboxOptions key has a check", () => {
    expect([...LIBRARY_CHECKS.keys()].sort()).toEqual([
      "allowNested", "allowSockets", "capAdd", "capDrop", "chdir", "clearEnv", "cwd", "env", "gid", "homeTools", "hostname", "idMap", "keepEnv", "landlock", "memory",
      "mounts", "name", "net", "netLog", "noCwd", "passFds", "pids", "propagation", "rlimits", "seccomp", "timeout", "uid", "verbose",
    ]);
  });

  const cases: [Record<string, unknown>, string][] = [
    [{ landlock: "yes" }, 'The `landlock` option must be "on" or "off", got "yes"'],
    [{ idMap: "many" }, 'The `idMap` option must be "single" or "auto", got "many"'],
    [{ allowNested: "false" }, 'The `allowNested` option must be true or false, got "false"'],
    [{ clearEnv: 1 }, "The `clearEnv` option must be true or false, got 1 (number)"],
    [{ timeout: 2 ** 31 }, "The `timeout` option 2147483648 (number): is longer than the longest timeout nsbox can set"],
    [{ timeout: 0.4 }, "The `timeout` option 0.4 (number): is shorter than 1ms"],
    [{ timeout: "5s" }, 'The `timeout` option must be a number of milliseconds from 1 to 2147483647, got "5s"'],
    [{ mounts: [{ kind: "ro", path: "/etc" }] }, "The `mounts` option: mounts[0] has an unknown field `path`"],
    [{ mounts: "x" }, "The `mounts` option must be a list of { kind, source?, target } objects"],
    [{ env: ["A=1"] }, "The `env` option must be an object of NAME: value strings, got a list"],
    [{ env: { A: "a\0b" } }, 'The `env` option: "A": contains a NUL byte'],
    [{ net: "allow=example.com:99999" }, 'The `net` option "allow=example.com:99999": port 99999 is out of range (1-65535)'],
    [{ net: ["host", "allow=x:0"] }, 'The `net` option: "allow=x:0": port 0 is out of range (1-65535)'],
    [{ uid: "0" }, 'The `uid` option must be a whole number from 0 to 4294967294, got "0"'],
    [{ capAdd: "CAP_NET_RAW" }, 'The `capAdd` option must be a list of capability names, got "CAP_NET_RAW"'],
    [{ timeOut: 5 }, "Unknown option `timeOut`: did you mean `timeout`?"],
    [{ constructor: 5 }, "Unknown option `constructor`"],
    [{ "cap-add": [] }, "Unknown option `cap-add`: did you mean `capAdd`?"],
  ];
  for (const [options, message] of cases) {
    it(`${JSON.stringify(options).replace(/\\u0000/g, "\\0")}: refused, naming the key, what was expected and what came`, () => {
      const e = refusal(() => checkLibraryOptions(options));
      expect(e.message).toStartWith(message);
      expect(e.code).toBe("BAD_OPTION");
    });
  }

  it("control: the same keys with good values are taken, typed", () => {
    const o = checkLibraryOptions({ landlock: "on", allowNested: false, timeout: 2 ** 31 - 1, env: { A: "1" }, net: "host", uid: 0, capAdd: ["CAP_NET_RAW"], mounts: [{ kind: "ro", source: "/etc", target: "/etc" }], stdout: "pipe", chdir: undefined } as never);
    expect(o).toMatchObject({ landlock: "on", allowNested: false, timeout: 2 ** 31 - 1, env: { A: "1" }, net: ["host"], uid: 0 });
    expect(o.mounts).toEqual([{ kind: "ro", source: "/etc", target: "/etc", origin: "mounts[0] ro /etc", option: "--ro" }]);
  });
});

describe("given layers", () => {
  it("mergeOptions appends lists, merges env, replaces the rest", () => {
    const m = mergeOptions({ net: ["allow=a.com"], env: { A: "1", B: "1" }, hostname: "a" }, { net: ["allow=b.com"], env: { B: "2" }, hostname: "b" });
    expect(JSON.parse(JSON.stringify(m))).toEqual({ net: ["allow=a.com", "allow=b.com"], env: { A: "1", B: "2" }, hostname: "b" });
    expect(finish(m)[RESOLVED].net).toMatchObject({ mode: "allow", entries: [{ host: "a.com" }, { host: "b.com" }] });
  });

  it("none and host replace what came before; allow= rules accumulate after them", () => {
    expect(resolved({ net: ["allow=a.com", "host"] }).net).toEqual({ mode: "host" });
    expect(resolved({ net: ["host", "allow=a.com", "allow=@registries"] }).net).toMatchObject({ mode: "allow", entries: [{ host: "a.com" }, "@registries"] });
  });

  it("resolved values are not JSON (the registry's state and profile show carry the options only)", () => {
    expect(JSON.parse(JSON.stringify(cli(["net", "allow=a.com"])))).toEqual({ net: ["allow=a.com"] });
  });
});

describe("given a command", () => {
  it("a NUL in an argument is refused (control: without it, taken)", () => {
    expect(refusal(() => checkCommand(["echo", "a\0b"])).message).toBe('command[1] "a\\u0000b": contains a NUL byte, which would cut the argument short');
    checkCommand(["echo", "ab"]);
  });
});
