// The CLI as a user meets it: exit codes, one-line errors for bad input, help/version/verbose, stdio passthrough.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { NSBOX, nsbox, scratchDir, sh, type Ran } from "./helpers.ts";

const ANSI = /\x1b\[[0-9;]*m/g;

/** nsbox's own failure: exactly one "nsbox: …" line on stderr, nothing that looks like a stack trace. */
function expectOneLineError(r: Ran, code: number, ...mentions: string[]): void {
  expect(r.exitCode).toBe(code);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith("nsbox: ")).toBe(true);
  expect(r.stderr).not.toMatch(/^\s*at /m);
  expect(r.stderr).not.toContain("internal error");
  for (const m of mentions) expect(r.stderr).toContain(m);
  expect(r.stdout).toBe("");
}

describe("bad input is refused before anything runs (125)", () => {
  test("an unknown option is named", async () => {
    expectOneLineError(await nsbox(["--nope", "--", "true"]), 125, "--nope");
  });

  test("a misspelt option names the one it was probably meant to be", async () => {
    expectOneLineError(await nsbox(["--hostnmae", "x", "--", "true"]), 125, "unknown option --hostnmae (did you mean --hostname?");
    expectOneLineError(await nsbox(["--network", "host", "--", "true"]), 125, "unknown option --network (did you mean --net?");
  });

  test("an unknown short option is named", async () => {
    expectOneLineError(await nsbox(["-x", "--", "true"]), 125, "-x");
  });

  test("no command after --", async () => {
    expectOneLineError(await nsbox(["--"]), 125, "no command");
  });

  // `nsbox` alone prints the short usage instead (tests/cli-help.test.ts); with options only, one line.
  test("options and no command", async () => {
    expectOneLineError(await nsbox(["--uid", "1000"]), 125, "no command");
  });

  test("an empty command name", async () => {
    expectOneLineError(await nsbox(["--", ""]), 125, "no command");
  });

  test("--uid that is not a number", async () => {
    expectOneLineError(await nsbox(["--uid", "abc", "--", "true"]), 125, "--uid", "abc");
  });

  test("--uid out of range", async () => {
    expectOneLineError(await nsbox(["--uid", "99999999999", "--", "true"]), 125, "--uid");
  });

  test("--gid=VALUE form is checked too", async () => {
    expectOneLineError(await nsbox(["--gid=-1", "--", "true"]), 125, "--gid");
  });

  test("an option missing its value", async () => {
    expectOneLineError(await nsbox(["--uid"]), 125, "--uid");
    expectOneLineError(await nsbox(["--uid", "--", "true"]), 125, "--uid");
  });

  test("a host name with a space", async () => {
    expectOneLineError(await nsbox(["--hostname", "bad name", "--", "true"]), 125, "--hostname", "bad name");
  });

  test("--env without '='", async () => {
    expectOneLineError(await nsbox(["--env", "NOEQUALS", "--", "true"]), 125, "--env", "NOEQUALS");
  });

  test("--env with an invalid variable name", async () => {
    expectOneLineError(await nsbox(["--env", "1X=y", "--", "true"]), 125, "--env");
  });

  test("--propagation outside its choices", async () => {
    expectOneLineError(await nsbox(["--propagation", "shared", "--", "true"]), 125, "--propagation", "shared");
  });

  test("a flag given a value", async () => {
    expectOneLineError(await nsbox(["--clear-env=1", "--", "true"]), 125, "--clear-env");
  });

  test("a single-valued option given twice", async () => {
    expectOneLineError(await nsbox(["--hostname", "a", "--hostname", "b", "--", "true"]), 125, "--hostname");
  });
});

describe("the command can't be run (127, 126)", () => {
  test("a name not on PATH: 127, command not found", async () => {
    expectOneLineError(await nsbox(["--", "no-such-cmd-xyz"]), 127, "no-such-cmd-xyz", "command not found");
  });

  test("a path that does not exist: 127", async () => {
    expectOneLineError(await nsbox(["--", "./missing"]), 127, "./missing", "no such file");
  });

  test("a host script the sandbox does not share: 127 naming the directory to share, not a bad /bin/sh (control: --ro runs it)", async () => {
    const dir = scratchDir();
    const cwd = scratchDir();
    writeFileSync(join(dir, "tool.sh"), "#!/bin/sh\necho tool-ran\n", { mode: 0o755 });
    const r = await nsbox(["--", join(dir, "tool.sh")], { cwd });
    expectOneLineError(r, 127, `${join(dir, "tool.sh")}: no such file or directory in the sandbox, which does not share ${dir}; share it with --ro ${dir}`);
    expect(r.stderr).not.toContain("interpreter");
    expect((await nsbox(["--ro", dir, "--", join(dir, "tool.sh")], { cwd })).stdout).toBe("tool-ran\n");
  });

  test("a directory, relative to the shared cwd: 126, is a directory", async () => {
    const cwd = scratchDir();
    mkdirSync(join(cwd, "subdir"));
    expectOneLineError(await nsbox(["--", "./subdir"], { cwd }), 126, "./subdir", "is a directory");
  });

  test("a system directory by absolute path: 126, is a directory", async () => {
    expectOneLineError(await nsbox(["--", "/usr"]), 126, "/usr", "is a directory");
  });

  test("a file without execute permission in the cwd: 126", async () => {
    const cwd = scratchDir();
    writeFileSync(join(cwd, "notexec"), "#!/bin/sh\necho should-not-run\n", { mode: 0o644 });
    chmodSync(join(cwd, "notexec"), 0o644);
    expectOneLineError(await nsbox(["--", "./notexec"], { cwd }), 126, "./notexec", "permission denied");
  });

  test("a file without execute permission: the message says so and gives the fix (control: no shebang, only chmod)", async () => {
    const cwd = scratchDir();
    writeFileSync(join(cwd, "notexec"), "#!/bin/sh\necho should-not-run\n", { mode: 0o644 });
    chmodSync(join(cwd, "notexec"), 0o644);
    expectOneLineError(await nsbox(["--", "./notexec"], { cwd }), 126, "./notexec: permission denied: it is not executable; chmod +x ./notexec, or run it with /bin/sh ./notexec");
    writeFileSync(join(cwd, "plain"), "echo should-not-run\n", { mode: 0o644 });
    chmodSync(join(cwd, "plain"), 0o644);
    const plain = await nsbox(["--", "./plain"], { cwd });
    expectOneLineError(plain, 126, "./plain: permission denied: it is not executable; chmod +x ./plain");
    expect(plain.stderr).not.toContain("run it with");
    writeFileSync(join(cwd, "tool.py"), "#!/usr/bin/env python3\nprint(1)\n", { mode: 0o644 });
    chmodSync(join(cwd, "tool.py"), 0o644);
    expectOneLineError(await nsbox(["--", "./tool.py"], { cwd }), 126, "chmod +x ./tool.py, or run it with python3 ./tool.py");
  });

  test("an executable file the kernel can't run: 126", async () => {
    const cwd = scratchDir();
    writeFileSync(join(cwd, "garbage"), Buffer.from([0x00, 0x01, 0x02, 0x03, 0xff, 0xfe]), { mode: 0o755 });
    chmodSync(join(cwd, "garbage"), 0o755);
    expectOneLineError(await nsbox(["--", "./garbage"], { cwd }), 126, "./garbage");
  });

  test("an executable script in the cwd does run", async () => {
    const cwd = scratchDir();
    writeFileSync(join(cwd, "script"), "#!/bin/sh\necho ran \"$@\"\n");
    chmodSync(join(cwd, "script"), 0o755);
    const r = await nsbox(["--", "./script", "a", "b c"], { cwd });
    expect(r).toEqual({ stdout: "ran a b c\n", stderr: "", exitCode: 0 });
  });
});

describe("the payload's status is nsbox's status", () => {
  test.each([0, 1, 42, 255])("exit %d passes through", async (code) => {
    const r = await sh(`exit ${code}`);
    expect(r.exitCode).toBe(code);
    expect(r.stderr).toBe("");
  });

  test("the first non-option starts the command (no -- needed)", async () => {
    const r = await nsbox(["sh", "-c", "echo $0 $1; exit 3", "zero", "one"]);
    expect(r).toEqual({ stdout: "zero one\n", stderr: "", exitCode: 3 });
  });

  test("options after the command belong to the command", async () => {
    const r = await nsbox(["--", "sh", "-c", 'echo "$@"', "sh", "--nope", "--uid", "abc"]);
    expect(r).toEqual({ stdout: "--nope --uid abc\n", stderr: "", exitCode: 0 });
  });

  test.each([
    ["TERM", 143],
    ["KILL", 137],
    ["HUP", 129],
    ["USR1", 138],
  ])("death by SIG%s is 128+N (%d)", async (sig, code) => {
    const r = await sh(`kill -${sig} $$; sleep 5`);
    expect(r.exitCode).toBe(code);
    expect(r.stderr).toBe("");
  });
});

describe("help, version, verbose", () => {
  test("--help prints the usage with every option and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await nsbox([flag]);
      expect(r.exitCode).toBe(0);
      const usage = r.stdout.replace(ANSI, "");
      for (const opt of ["--uid", "--gid", "--hostname", "--propagation", "--env", "--keep-env", "--clear-env", "--verbose", "--version", "--help"]) {
        expect(usage).toContain(opt);
      }
      expect(usage).toContain("nsbox");
      expect(r.stderr).toBe("");
    }
  });

  test("--help wins over a command and runs nothing", async () => {
    const cwd = scratchDir();
    const r = await nsbox(["--help", "--", "sh", "-c", "touch ran"], { cwd });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.replace(ANSI, "")).toContain("--hostname");
    expect(await Bun.file(join(cwd, "ran")).exists()).toBe(false);
  });

  test("--version and -V print the package version", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await nsbox([flag]);
      expect(r).toEqual({ stdout: `${pkg.version}\n`, stderr: "", exitCode: 0 });
    }
  });

  // A plain environment (nothing secret to drop, so nothing else is logged before the steps).
  const plainEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8" });

  test.each(["--verbose", "-v"])("%s prints every setup step, in order, on stderr and still runs the command", async (flag) => {
    const r = await nsbox([flag, "--", "sh", "-c", "echo ran; exit 4"], { env: plainEnv() });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe("ran\n");
    expect(r.stderr).not.toMatch(/^\s*at /m);
    const steps = r.stderr.split("\n").filter((l) => l.startsWith("nsbox: ["));
    expect(steps.length).toBeGreaterThan(5);
    const numbers = steps.map((l) => Number(/^nsbox: \[(\d+)\]/.exec(l)?.[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i));
    expect(steps.at(-1)).toMatch(/exec.*sh/);
  });

  test("--verbose also reports the variables it dropped, before the steps", async () => {
    const r = await nsbox(["-v", "--", "true"], { env: { ...plainEnv(), MY_SECRET_TOKEN: "x" } });
    expect(r.exitCode).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toContain("MY_SECRET_TOKEN");
    // Then the network's mode (transparent or proxy, src/net/mode.ts), then the steps.
    expect(lines[1]).toMatch(/^nsbox: network: (transparent|proxy \()/);
    expect(lines.slice(2).every((l) => l.startsWith("nsbox: ["))).toBe(true);
    expect(lines.length).toBeGreaterThan(6);
  });

  test("without --verbose, a successful run prints nothing of nsbox's own", async () => {
    const r = await sh("echo out; echo err >&2");
    expect(r).toEqual({ stdout: "out\n", stderr: "err\n", exitCode: 0 });
  });
});

describe("stdin and stdout pass through without a terminal", () => {
  test("cat returns its input exactly", async () => {
    const input = "hello\nworld\n\ttabs and ünïcödé\n\nno newline at the end";
    const r = await nsbox(["--", "cat"], { stdin: input });
    expect(r).toEqual({ stdout: input, stderr: "", exitCode: 0 });
  });

  test("stdin, stdout and stderr are not terminals inside", async () => {
    const r = await sh("for fd in 0 1 2; do [ -t $fd ] && echo tty || echo notty; done");
    expect(r.stdout).toBe("notty\nnotty\nnotty\n");
    expect(r.exitCode).toBe(0);
  });

  test("closed stdin reads as end-of-file", async () => {
    const r = await nsbox(["--", "cat"]);
    expect(r).toEqual({ stdout: "", stderr: "", exitCode: 0 });
  });

  test("20 MB of binary data stream through cat unchanged", async () => {
    const SIZE = 20 * 1024 * 1024;
    const data = new Uint8Array(SIZE);
    let x = 0x9e3779b9;
    for (let i = 0; i < SIZE; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      data[i] = x & 0xff;
    }
    const want = new Bun.CryptoHasher("sha256").update(data).digest("hex");

    const proc = Bun.spawn([process.execPath, NSBOX, "--", "cat"], {
      cwd: scratchDir(),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    // Write while reading: the data is far bigger than any pipe buffer, so nothing may hold it all.
    const writing = (async () => {
      const CHUNK = 256 * 1024;
      for (let at = 0; at < SIZE; at += CHUNK) {
        proc.stdin.write(data.subarray(at, Math.min(at + CHUNK, SIZE)));
        await proc.stdin.flush();
      }
      await proc.stdin.end();
    })();
    const hasher = new Bun.CryptoHasher("sha256");
    let length = 0;
    const reading = (async () => {
      for await (const chunk of proc.stdout) {
        hasher.update(chunk);
        length += chunk.length;
      }
    })();
    const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited, writing, reading]);
    expect(stderr).toBe("");
    expect(exitCode).toBe(0);
    expect(length).toBe(SIZE);
    expect(hasher.digest("hex")).toBe(want);
  }, 120_000);
});
