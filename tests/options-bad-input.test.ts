// Bad input to the options, through the real CLI (bun bin/nsbox) and the library: each refused
// with one line naming where it was written, each with its control that runs.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NsboxError, run } from "../src/index.ts";
import { cleanedUp, nsbox, scratchIn, type Ran } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();

/** Refused by nsbox (125) with one line holding every part (the fix, when there is one, after "; "), and no stack trace. */
function refused(r: Ran, ...parts: string[]): void {
  expect(r.exitCode).toBe(125);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  for (const p of parts) expect(r.stderr.split("\n")[0]).toContain(p);
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

/** The NsboxError a library call rejects with. */
async function libraryRefusal(f: () => Promise<unknown>): Promise<NsboxError> {
  const e = await f().then(() => undefined, (x) => x);
  expect(e).toBeInstanceOf(NsboxError);
  expect(e.code).toBe("BAD_OPTION");
  return e;
}

const project = (files: Record<string, string> = {}) => {
  const cwd = scratchIn(made);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text);
  return cwd;
};

describe("durations", () => {
  it("--timeout 597h (past setTimeout's 2^31-1 ms, which fired at once) is refused with the range (control: 596h runs)", async () => {
    const cwd = project();
    refused(await nsbox(["--timeout", "597h", "--", "true"], { cwd }), "--timeout 597h: ", "2147483647ms");
    expect(await nsbox(["--timeout", "596h", "--", "echo", "ran"], { cwd })).toMatchObject({ exitCode: 0, stdout: "ran\n", stderr: "" });
  });

  it("--timeout 0.4ms (silently no timeout) is refused (control: 1ms kills a sleep, 124)", async () => {
    const cwd = project();
    refused(await nsbox(["--timeout", "0.4ms", "--", "true"], { cwd }), "--timeout 0.4ms: is shorter than 1ms");
    expect((await nsbox(["--timeout", "1ms", "--", "sleep", "30"], { cwd })).exitCode).toBe(124);
  });

  it("library timeout: 2**31 is refused, in milliseconds (control: 2**31-1 runs and does not time out)", async () => {
    const cwd = project();
    const e = await libraryRefusal(() => run(["true"], { cwd, timeout: 2 ** 31 }));
    expect(e.message).toContain("The `timeout` option 2147483648 (number)");
    expect(e.option).toBe("timeout");
    expect(await run(["true"], { cwd, timeout: 2 ** 31 - 1 })).toMatchObject({ exitCode: 0, timedOut: false });
  });
});

describe("a value is checked before the host is asked", () => {
  it("--memory lots and --pids 0 name the value, not the missing cgroup (control: --memory 1g is refused for the cgroup, or runs)", async () => {
    const cwd = project();
    refused(await nsbox(["--memory", "lots", "--", "true"], { cwd }), "--memory lots: must be a size like 512m");
    refused(await nsbox(["--pids", "0", "--", "true"], { cwd }), "--pids 0: must be a whole number of processes above 0");
    const e = await libraryRefusal(() => run(["true"], { cwd, memory: "lots" }));
    expect(e.option).toBe("memory");
    expect(e.message).toContain("must be a size like 512m");
    const control = await nsbox(["--memory", "1g", "--", "true"], { cwd });
    if (control.exitCode !== 0) expect(control.stderr).toContain("--memory 1g: needs a delegated cgroup v2");
    // The library's refusal names its own key and its own limits (rlimits), not the flags.
    const lib = await run(["true"], { cwd, memory: "1g" }).then(() => undefined, (x) => x);
    if (lib !== undefined) {
      expect(lib).toMatchObject({ code: "BAD_OPTION", option: "memory" });
      expect(lib.message).toStartWith('The `memory` option "1g": needs a delegated cgroup v2');
      expect(lib.hint).toContain('rlimits: ["as=…"]');
    }
  });

  it("a tmpfs size it cannot read is named as the size (control: bogus is an unknown setting)", async () => {
    const cwd = project();
    refused(await nsbox(["--tmpfs", "/var/tmp:size=1t", "--", "true"], { cwd }), "--tmpfs '/var/tmp:size=1t': size must be N[k|m|g|%] above 0");
    refused(await nsbox(["--tmpfs", "/var/tmp:bogus", "--", "true"], { cwd }), "unknown tmpfs setting 'bogus'");
  });

  it("a missing SRC split at a ':' of the path says how to write one (control: written \\: it runs; one ':' gets no such hint)", async () => {
    const cwd = project();
    mkdirSync(join(cwd, "data:2024"));
    writeFileSync(join(cwd, "data:2024", "x"), "d");
    const r = await nsbox(["--ro-bind", "data:2024:/data", "--", "true"], { cwd });
    refused(r, "--ro-bind data:2024:/data", "a ':' inside a path is written \\: (--ro-bind 'data\\:2024:/data')");
    expect(await nsbox(["--ro-bind", "data\\:2024:/data", "--", "cat", "/data/x"], { cwd })).toMatchObject({ exitCode: 0, stdout: "d" });
    expect((await nsbox(["--ro-bind", "nope:/data", "--", "true"], { cwd })).stderr).not.toContain("inside a path");
  });

  it("--hide of a missing path says --hide-try, as --ro says --ro-try (control: --hide-try runs)", async () => {
    const cwd = project();
    refused(await nsbox(["--hide", "./nosuch", "--", "true"], { cwd }), "--hide ./nosuch: ", "no such file or directory; create it first, or use --hide-try");
    expect(await nsbox(["--hide-try", "./nosuch", "--", "true"], { cwd })).toMatchObject({ exitCode: 0 });
  });

  it("a missing ~name/… says that only ~ and ~/… mean the home (control: ~/… is the home)", async () => {
    const cwd = project();
    refused(await nsbox(["--ro", "~nosuchuser/x", "--", "true"], { cwd }), `--ro ~nosuchuser/x: ${cwd}/~nosuchuser/x: no such file`, "only ~ and ~/… mean your home: ~nosuchuser is a name in the current directory");
    expect((await nsbox(["--ro", "~/nsbox-nope", "--", "true"], { cwd })).stderr).not.toContain("only ~");
  });

  it("--chdir names the directory as typed, and where that led (control: an absolute one is named once)", async () => {
    const cwd = project();
    refused(await nsbox(["--chdir", "sub", "--", "true"], { cwd }), `--chdir sub: ${join(cwd, "sub")} is not a directory inside the sandbox`);
    refused(await nsbox(["--chdir", "/nonexistent-nsbox", "--", "true"], { cwd }), "--chdir /nonexistent-nsbox: not a directory inside the sandbox");
  });
});

describe("host names", () => {
  it("64 characters (HOST_NAME_MAX) run; 65 are refused saying at most 64", async () => {
    const cwd = project();
    expect(await nsbox(["--hostname", "a".repeat(64), "--", "hostname"], { cwd })).toMatchObject({ exitCode: 0, stdout: `${"a".repeat(64)}\n` });
    refused(await nsbox(["--hostname", "a".repeat(65), "--", "true"], { cwd }), "--hostname", "from 1 to 64 characters");
  });
});

describe("values accepted silently before", () => {
  it("--chdir '' is refused (control: --chdir / runs there)", async () => {
    const cwd = project();
    refused(await nsbox(["--chdir", "", "--", "true"], { cwd }), "--chdir '': needs a directory");
    expect(await nsbox(["--chdir", "/", "--", "pwd"], { cwd })).toMatchObject({ exitCode: 0, stdout: "/\n" });
  });

  it("--tmpfs :size=1m (a tmpfs over the project) is refused (control: --tmpfs /x:size=1m)", async () => {
    const cwd = project({ kept: "k" });
    refused(await nsbox(["--tmpfs", ":size=1m", "--", "ls"], { cwd }), "--tmpfs ':size=1m': needs a path before ':'");
    expect(await nsbox(["--tmpfs", "/x:size=1m", "--", "cat", "kept"], { cwd })).toMatchObject({ exitCode: 0, stdout: "k" });
  });

  it("--hide . (the directory the command starts in) is refused, saying how (control: with --chdir / it runs)", async () => {
    const cwd = project({ kept: "k" });
    refused(await nsbox(["--hide", ".", "--", "ls"], { cwd }), `--hide .: hides ${cwd}, where the command starts`, "--chdir");
    expect(await nsbox(["--hide", ".", "--chdir", "/", "--", "sh", "-c", `ls ${cwd} 2>/dev/null || echo hidden`], { cwd })).toMatchObject({ exitCode: 0, stdout: "hidden\n" });
  });

  it("--net-log without --net allow= is refused naming both, and writes nothing (control: with allow= it is taken)", async () => {
    const cwd = project();
    const log = join(cwd, "net.log");
    refused(await nsbox(["--net", "host", "--net-log", log, "--", "true"], { cwd }), `--net-log ${log}: nothing would be logged without --net allow=`, "from --net host");
    refused(await nsbox(["--net-log", log, "--", "true"], { cwd }), "the network is none");
    expect(existsSync(log)).toBe(false);
    expect((await nsbox(["--dry-run", "--net", "allow=example.com", "--net-log", log, "--", "true"], { cwd })).exitCode).toBe(0);
  });

  it("--net with a host but not allow= (example.com, allow:example.com) says the form meant; an @ name other than @registries says the one there is (control: --net off, no host, keeps the plain form)", async () => {
    const cwd = project();
    refused(await nsbox(["--net", "example.com", "--", "true"], { cwd }), "--net example.com: must be none, host, or allow=RULE[,RULE…]: write allow=example.com");
    refused(await nsbox(["--net", "allow:example.com:443", "--", "true"], { cwd }), "write allow=example.com:443");
    refused(await nsbox(["--net", "allow=@npm", "--", "true"], { cwd }), "'@npm' is not a rule: the one @ name is @registries");
    refused(await nsbox(["--net", "allow=example.com,@npm", "--", "true"], { cwd }), "rule '@npm': '@npm' is not a rule");
    const off = await nsbox(["--net", "off", "--", "true"], { cwd });
    refused(off, "--net off: must be none, host, or allow=RULE[,RULE…]");
    expect(off.stderr).not.toContain("write allow=");
    expect((await nsbox(["--dry-run", "--net", "allow=example.com,@registries", "--", "true"], { cwd })).exitCode).toBe(0);
  });

  it("a NUL in an argument or a variable (cut short before) is refused (control: without it)", async () => {
    const cwd = project();
    expect((await libraryRefusal(() => run(["echo", "a\0b"], { cwd }))).message).toContain("command[1]");
    expect((await libraryRefusal(() => run(["true"], { cwd, env: { A: "x\0y" } }))).message).toContain('The `env` option: "A": contains a NUL byte');
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { env: "A=x\0y" } } }));
    refused(await nsbox(["-p", "p", "--", "true"], { cwd }), `${cwd}/nsbox.json: profiles.p.env`, "NUL");
    expect(await run(["sh", "-c", 'echo "$A"'], { cwd, env: { A: "xy" } })).toMatchObject({ exitCode: 0, stdout: "xy\n" });
  });
});

describe("a host path holding ':'", () => {
  it("--ro-bind 'a\\:b:/mnt' shares a:b (control: unescaped, the ':' splits and a is missing)", async () => {
    const cwd = project();
    mkdirSync(join(cwd, "a:b"));
    writeFileSync(join(cwd, "a:b", "f"), "colon\n");
    expect(await nsbox(["--ro-bind", "a\\:b:/mnt", "--", "cat", "/mnt/f"], { cwd })).toMatchObject({ exitCode: 0, stdout: "colon\n" });
    refused(await nsbox(["--ro-bind", "a:b:/mnt", "--", "cat", "/mnt/f"], { cwd }), "a: no such file");
  });

  it("in nsbox.json too, and --help says how", async () => {
    const cwd = project({ "nsbox.json": JSON.stringify({ profiles: { p: { "ro-bind": "./a\\:b:/mnt" } } }) });
    mkdirSync(join(cwd, "a:b"));
    writeFileSync(join(cwd, "a:b", "f"), "colon\n");
    expect(await nsbox(["-p", "p", "--", "cat", "/mnt/f"], { cwd })).toMatchObject({ exitCode: 0, stdout: "colon\n" });
    expect((await nsbox(["--help"], { cwd })).stdout).toContain("a ':' in a path is written \\:");
  });
});

describe("config files", () => {
  it("a bad --net rule names the file, the key and the value", async () => {
    const cwd = project({ "nsbox.json": JSON.stringify({ profiles: { ci: { net: "allow=example.com:99999" } } }) });
    refused(await nsbox(["-p", "ci", "--", "true"], { cwd }), `${cwd}/nsbox.json: profiles.ci.net "allow=example.com:99999": port 99999 is out of range (1-65535)`);
  });

  it('"tmpfs": 5 is refused (a number only where the option takes one; control: "uid": 5 runs)', async () => {
    const cwd = project({ "nsbox.json": JSON.stringify({ profiles: { ci: { tmpfs: 5 }, ok: { uid: 5 } } }) });
    refused(await nsbox(["-p", "ok", "--", "id", "-u"], { cwd }), `${cwd}/nsbox.json: profiles.ci.tmpfs: must be a string or a list of strings, got 5`);
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { ok: { uid: 5 } } }));
    expect(await nsbox(["-p", "ok", "--", "id", "-u"], { cwd })).toMatchObject({ exitCode: 0, stdout: "5\n" });
  });

  it("a UTF-8 byte order mark is accepted (control: the same file without it)", async () => {
    const body = JSON.stringify({ profiles: { p: { hostname: "bom" } } });
    for (const text of [`\uFEFF${body}`, body]) {
      const cwd = project({ "nsbox.json": text });
      expect(await nsbox(["-p", "p", "--", "hostname"], { cwd })).toMatchObject({ exitCode: 0, stdout: "bom\n" });
    }
  });

  it("package.json holding null is npm's business: runs go on; an nsbox.json holding null is refused by name with -p", async () => {
    const cwd = project({ "package.json": "null" });
    expect(await nsbox(["-p", "test", "--", "true"], { cwd })).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["--", "true"], { cwd })).toMatchObject({ exitCode: 0 });
    const other = project({ "nsbox.json": "null" });
    refused(await nsbox(["-p", "test", "--", "true"], { cwd: other }), `${other}/nsbox.json: expected an object`);
  });

  it("profiles named __proto__, valueOf, constructor, toString are profiles; without a project they are unknown names", async () => {
    const cwd = project({ "nsbox.json": '{"profiles":{"__proto__":{"hostname":"p"},"valueOf":{"hostname":"v"},"toString":{"hostname":"t"},"constructor":{"hostname":"c"}}}' });
    for (const [name, host] of [["valueOf", "v"], ["toString", "t"], ["constructor", "c"], ["__proto__", "p"]]) {
      expect(await nsbox(["-p", name!, "--", "hostname"], { cwd })).toMatchObject({ exitCode: 0, stdout: `${host}\n` });
    }
    const bare = project();
    for (const name of ["valueOf", "__proto__", "constructor", "toString"]) refused(await nsbox(["-p", name, "--", "true"], { cwd: bare }), `no profile named '${name}'`);
  });

  it("an extends chain of 3,200 profiles is refused by depth when used; a plain run does not resolve it", async () => {
    const profiles = Object.fromEntries(Array.from({ length: 3200 }, (_, i) => [`p${i}`, i < 3199 ? { extends: `p${i + 1}` } : { hostname: "deep" }]));
    const cwd = project({ "nsbox.json": JSON.stringify({ profiles }) });
    refused(await nsbox(["-p", "p0", "--", "true"], { cwd }), "profiles extend each other more than 32 deep");
    expect(await nsbox(["--", "echo", "plain"], { cwd })).toMatchObject({ exitCode: 0, stdout: "plain\n", stderr: "" });
  });
});

describe("the library's options object", () => {
  it("security switches never fail open: landlock \"yes\", allowNested \"false\" (control: \"on\" and false run)", async () => {
    const cwd = project();
    expect((await libraryRefusal(() => run(["true"], { cwd, landlock: "yes" as never }))).message).toBe('The `landlock` option must be "on" or "off", got "yes"');
    expect((await libraryRefusal(() => run(["true"], { cwd, allowNested: "false" as never }))).message).toBe('The `allowNested` option must be true or false, got "false"');
    expect(await run(["true"], { cwd, landlock: "on", allowNested: false })).toMatchObject({ exitCode: 0 });
  });

  it("a typo (timeOut) and wrong shapes (mounts [{kind, path}], env as a list) are NsboxErrors, not TypeErrors", async () => {
    const cwd = project();
    expect((await libraryRefusal(() => run(["true"], { cwd, timeOut: 5 } as never))).message).toStartWith("Unknown option `timeOut`: did you mean `timeout`?");
    expect((await libraryRefusal(() => run(["true"], { cwd, mounts: [{ kind: "ro", path: "/etc" }] } as never))).message).toContain("mounts[0] has an unknown field `path`");
    expect((await libraryRefusal(() => run(["true"], { cwd, env: ["A=1"] } as never))).message).toBe("The `env` option must be an object of NAME: value strings, got a list");
    expect((await libraryRefusal(() => run(["true"], { cwd, net: "allow=example.com:99999" }))).message).toBe('The `net` option "allow=example.com:99999": port 99999 is out of range (1-65535)');
    expect((await libraryRefusal(() => run(["true"], { cwd, profile: 5 as never }))).message).toBe("The `profile` option must be a profile name (a string), got 5 (number)");
    expect((await libraryRefusal(() => run(["true"], { cwd, profile: "nope" }))).message).toStartWith("The `profile` option: no profile named 'nope'");
    expect(await run(["sh", "-c", 'echo "$A"'], { cwd, profile: "default", env: { A: "1" }, mounts: [{ kind: "ro", source: "/etc", target: "/etc" } as never] })).toMatchObject({ exitCode: 0, stdout: "1\n" });
  });
});
