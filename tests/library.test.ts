// The library as a Bun program uses it: spawn() and run() on real sandboxes, every stdio mode, signals, timeouts, typed errors, no leaks.
import { afterAll, describe, expect, it } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NsboxError, run, spawn } from "../src/index.ts";
import { nsbox, ROOT, scratchDir, eventually } from "./helpers.ts";

/** Every sandbox here shares this directory (not the checkout) as its current directory. */
const cwd = scratchDir();
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

/** All that is left in a stream, as text (a stream partly read already is fine). */
async function text(stream: ReadableStream<Uint8Array> | undefined): Promise<string> {
  let all = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream ?? []) all += decoder.decode(chunk, { stream: true });
  return all + decoder.decode();
}

/** Read `stream` until what came so far contains `wanted`; the reader is released after. */
async function readUntil(stream: ReadableStream<Uint8Array>, wanted: string): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  try {
    while (!seen.includes(wanted)) {
      const r = await reader.read();
      if (r.done) break;
      seen += decoder.decode(r.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return seen;
}

/** The NsboxError a promise rejects with, or a function throws. */
async function caught(f: () => unknown): Promise<NsboxError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(NsboxError);
    return e as NsboxError;
  }
  throw new Error("expected an NsboxError, nothing was thrown");
}

/** Host processes that are zombies of this one: sandboxes started and never reaped. */
function zombieChildren(): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" && Number(ppid) === process.pid) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Live host processes whose argv is exactly `argv`. */
function liveWithArgv(argv: string[]): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (readFileSync(`/proc/${name}/cmdline`, "utf8") === argv.join("\0") + "\0") found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const openFds = () => readdirSync("/proc/self/fd").length;

/**
 * Whether this process is back to at most `baseline` open descriptors. Bun reads a pipe through
 * a duplicate of the descriptor it is given and closes that duplicate a moment after the last
 * read, so the count is polled (a leak never comes back down).
 */
async function backTo(baseline: number): Promise<boolean> {
  return eventually(() => {
    Bun.gc(true);
    return openFds() <= baseline;
  });
}

// First, before this file starts any process with Bun.spawn: Bun closes the pipes of its own
// children when it collects them, at moments of its choosing, which would blur the counts.
describe("nothing leaks", () => {
  it("1,000 in a row leak nothing: same open descriptors, no zombies, bounded memory", async () => {
    for (let i = 0; i < 20; i++) await run(["true"], { cwd }); // warm up: the executor compiled, Bun's pools filled
    Bun.gc(true);
    const fds = openFds();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) {
      const r = await run(["true"], { cwd });
      if (r.exitCode !== 0) expect(r).toMatchObject({ exitCode: 0 });
    }
    expect(await backTo(fds)).toBe(true);
    expect(zombieChildren()).toEqual([]);
    expect(process.memoryUsage().rss - rss).toBeLessThan(50 * 1024 * 1024);
  }, 180_000);

  it("output nobody reads is closed when the sandbox ends, and can still be read after", async () => {
    const unread = () => spawn(["echo", "unread"], { cwd, stderr: "pipe" }).exited;
    for (let i = 0; i < 5; i++) await unread(); // warm up: Bun opens its own descriptors lazily, once
    const fds = openFds();
    for (let i = 0; i < 20; i++) await unread();
    expect(await backTo(fds)).toBe(true);
    const proc = spawn(["sh", "-c", "echo late; echo late-err >&2"], { cwd, stderr: "pipe" });
    expect(await proc.exited).toBe(0);
    expect(await backTo(fds)).toBe(true);
    expect(await Promise.all([text(proc.stdout), text(proc.stderr)])).toEqual(["late\n", "late-err\n"]);
  });


  it("output read half-way and dropped, without cancel(), is closed after the sandbox ends", async () => {
    const once = async () => {
      const proc = spawn(["sh", "-c", "echo ready; head -c 200000 /dev/zero; exec sleep 100"], { cwd });
      expect(await readUntil(proc.stdout, "ready\n")).toStartWith("ready\n");
      proc.kill("SIGKILL");
      await proc.exited;
    };
    await once(); // warm up
    const fds = openFds();
    for (let i = 0; i < 10; i++) await once();
    expect(await backTo(fds)).toBe(true);
  });
});

describe("run()", () => {
  it("returns the exit code, stdout and stderr: success and failure have the same shape", async () => {
    expect(await run(["sh", "-c", "echo out; echo err >&2; exit 3"], { cwd })).toEqual({
      exitCode: 3, signal: null, stdout: "out\n", stderr: "err\n", timedOut: false, aborted: false,
    });
    expect(await run(["echo", "fine"], { cwd })).toEqual({
      exitCode: 0, signal: null, stdout: "fine\n", stderr: "", timedOut: false, aborted: false,
    });
  });

  it("with encoding 'buffer', returns the output as bytes, unchanged", async () => {
    const r = await run(["printf", "\\000\\377abc"], { cwd, encoding: "buffer" });
    expect(r.stdout).toBeInstanceOf(Uint8Array);
    expect([...r.stdout]).toEqual([0, 255, 97, 98, 99]);
    expect(r.stderr).toEqual(new Uint8Array(0));
  });

  it("reports a payload that dies of a signal as 128+N and the signal's name, without throwing", async () => {
    expect(await run(["sh", "-c", "kill -USR1 $$"], { cwd })).toMatchObject({ exitCode: 138, signal: "SIGUSR1" });
  });

  it("shares cwd read-write and starts there, with the variables given", async () => {
    const r = await run(["sh", "-c", 'echo "$GREETING"; pwd; echo made > made-inside'], { cwd, env: { GREETING: "hello" } });
    expect(r).toMatchObject({ exitCode: 0, stdout: `hello\n${cwd}\n`, stderr: "" });
    expect(readFileSync(join(cwd, "made-inside"), "utf8")).toBe("made\n");
  });

  it("takes the sandbox options: hostname, uid, and a profile with options on top", async () => {
    expect((await run(["sh", "-c", "hostname; id -u"], { cwd, hostname: "lib", uid: 1234 })).stdout).toBe("lib\n1234\n");
    expect(await run(["hostname"], { cwd, profile: "test", hostname: "over" })).toMatchObject({ exitCode: 0, stdout: "over\n" });
  });
});

describe("stdio", () => {
  describe("stdout and stderr", () => {
    it("spawn() pipes stdout and inherits stderr by default, as Bun.spawn does", async () => {
      const proc = spawn(["echo", "piped"], { cwd });
      expect(proc.stdout).toBeInstanceOf(ReadableStream);
      expect(proc.stderr).toBeUndefined();
      expect(proc.stdin).toBeUndefined();
      expect(await text(proc.stdout)).toBe("piped\n");
      expect(await proc.exited).toBe(0);
    });

    it("'pipe' for stderr gives a stream of its own", async () => {
      const proc = spawn(["sh", "-c", "echo out; echo err >&2"], { cwd, stderr: "pipe" });
      expect(await Promise.all([text(proc.stdout), text(proc.stderr), proc.exited])).toEqual(["out\n", "err\n", 0]);
    });

    it("'ignore' is /dev/null", async () => {
      // (the substitution runs before the redirection: it sees the shell's own stdout)
      const r = await run(["sh", "-c", 'echo "$(readlink /proc/$$/fd/1)" >&2; echo lost'], { cwd, stdout: "ignore" });
      expect(r).toMatchObject({ exitCode: 0, stdout: "", stderr: "/dev/null\n" });
      const proc = spawn(["true"], { cwd, stdout: "ignore", stderr: "ignore" });
      expect([proc.stdout, proc.stderr]).toEqual([undefined, undefined]);
      expect(await proc.exited).toBe(0);
    });

    it("a file descriptor is used as it is, and stays the caller's", async () => {
      const path = join(cwd, "by-fd.txt");
      const fd = openSync(path, "w");
      try {
        expect(await run(["sh", "-c", "echo to-fd; echo also >&2"], { cwd, stdout: fd, stderr: fd })).toMatchObject({ exitCode: 0, stdout: "", stderr: "" });
        expect(readFileSync(path, "utf8")).toBe("to-fd\nalso\n");
      } finally {
        closeSync(fd); // still open: nsbox did not close it
      }
    });

    it("Bun.file(path) is created or truncated and written", async () => {
      const out = join(cwd, "out.txt");
      const err = join(cwd, "err.txt");
      writeFileSync(out, "old content that is longer\n");
      const r = await run(["sh", "-c", "echo to-file; echo to-err >&2"], { cwd, stdout: Bun.file(out), stderr: Bun.file(err) });
      expect(r).toMatchObject({ exitCode: 0, stdout: "", stderr: "" });
      expect(readFileSync(out, "utf8")).toBe("to-file\n");
      expect(readFileSync(err, "utf8")).toBe("to-err\n");
    });

    it("'inherit' passes this process's own stdin, stdout and stderr", async () => {
      const script = join(cwd, "inherit.ts");
      writeFileSync(
        script,
        `import { spawn } from ${JSON.stringify(join(ROOT, "src/index.ts"))};\n` +
          `const proc = spawn(["sh", "-c", "cat; echo to-stderr >&2"], { stdin: "inherit", stdout: "inherit", stderr: "inherit" });\n` +
          `process.exit(await proc.exited);\n`,
      );
      const proc = Bun.spawn([process.execPath, script], {
        cwd, stdin: new TextEncoder().encode("from the parent\n"), stdout: "pipe", stderr: "pipe",
      });
      expect(await Promise.all([text(proc.stdout), text(proc.stderr), proc.exited])).toEqual(["from the parent\n", "to-stderr\n", 0]);
    });
  });

  describe("stdin", () => {
    it("is /dev/null by default: the payload reads end-of-file at once", async () => {
      expect(await run(["sh", "-c", "cat; readlink /proc/$$/fd/0"], { cwd })).toMatchObject({ exitCode: 0, stdout: "/dev/null\n" });
    });

    const abc = () => new TextEncoder().encode("abc");
    const sources: [string, () => unknown][] = [
      ["a string", () => "abc"],
      ["a Uint8Array", abc],
      ["an ArrayBuffer", () => abc().buffer],
      ["a Blob", () => new Blob(["a", "bc"])],
      ["a ReadableStream", () => new ReadableStream({ start: (c) => (c.enqueue(abc().subarray(0, 1)), c.enqueue(abc().subarray(1)), c.close()) })],
      ["Bun.file(path)", () => (writeFileSync(join(cwd, "in.txt"), "abc"), Bun.file(join(cwd, "in.txt")))],
    ];
    it.each(sources)("can be %s, written in full then closed", async (_, source) => {
      expect(await run(["cat"], { cwd, stdin: source() as string })).toMatchObject({ exitCode: 0, stdout: "abc" });
    });

    it("can be a file descriptor, which stays the caller's", async () => {
      writeFileSync(join(cwd, "in-fd.txt"), "from a descriptor");
      const fd = openSync(join(cwd, "in-fd.txt"), "r");
      try {
        expect((await run(["cat"], { cwd, stdin: fd })).stdout).toBe("from a descriptor");
      } finally {
        closeSync(fd);
      }
    });

    it("'pipe' streams what is written, chunk by chunk, and end() gives the payload end-of-file", async () => {
      const proc = spawn(["wc", "-c"], { cwd, stdin: "pipe" });
      const chunk = new Uint8Array(64 * 1024).fill(120);
      for (let i = 0; i < 160; i++) await proc.stdin.write(chunk); // 10 MiB, far beyond a pipe's buffer
      await proc.stdin.end();
      expect((await text(proc.stdout)).trim()).toBe(String(160 * 64 * 1024));
      expect(await proc.exited).toBe(0);
    });

    it("'pipe' input left open is closed when the sandbox ends", async () => {
      const proc = spawn(["head", "-c", "3"], { cwd, stdin: "pipe" });
      await proc.stdin.write("abcdef");
      expect(await text(proc.stdout)).toBe("abc");
      expect(await proc.exited).toBe(0);
      await expect(async () => proc.stdin.write("more")).toThrow("after end()");
    });

    it("input the payload does not read is dropped without an error", async () => {
      expect(await run(["true"], { cwd, stdin: new Uint8Array(8 * 1024 * 1024) })).toMatchObject({ exitCode: 0 });
    });
  });
});

describe("large output", () => {
  it("100 MB through a pipe, counted as it streams", async () => {
    const proc = spawn(["head", "-c", "104857600", "/dev/zero"], { cwd });
    let bytes = 0;
    let largest = 0;
    for await (const chunk of proc.stdout) {
      bytes += chunk.length;
      largest = Math.max(largest, chunk.length);
    }
    expect(bytes).toBe(104857600);
    expect(largest).toBeLessThan(16 * 1024 * 1024); // streamed in pieces, never gathered whole
    expect(await proc.exited).toBe(0);
  });
});

describe("kill()", () => {
  it("sends SIGTERM by default; PID 1 passes it to the payload, which may trap it", async () => {
    const proc = spawn(["sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"], { cwd });
    expect(await readUntil(proc.stdout, "ready\n")).toBe("ready\n");
    proc.kill();
    expect(proc.killed).toBe(true);
    expect(await text(proc.stdout)).toBe("got TERM\n");
    expect(await proc.exited).toBe(7);
    expect([proc.exitCode, proc.signalCode]).toEqual([7, null]);
  });

  it("SIGKILL kills PID 1 and with it every process in the sandbox", async () => {
    const marker = `${1000 + Math.floor(Math.random() * 9000)}.${Math.floor(Math.random() * 1e6)}`;
    const proc = spawn(["sh", "-c", `trap '' TERM INT HUP; sleep ${marker} & echo ready; wait`], { cwd });
    expect(await readUntil(proc.stdout, "ready\n")).toBe("ready\n");
    proc.kill("SIGKILL");
    expect(await proc.exited).toBe(137);
    expect(proc.signalCode).toBe("SIGKILL");
    // The kernel ends a PID namespace before its init can be reaped: nothing is left.
    expect(liveWithArgv(["sleep", marker])).toEqual([]);
  });

  it("refuses a signal PID 1 would drop, and sends nothing once the sandbox has ended", async () => {
    const proc = spawn(["true"], { cwd });
    const e = await caught(() => proc.kill("SIGALRM"));
    expect(e.code).toBe("BAD_OPTION");
    expect(e.message).toContain("SIGTERM");
    expect(await proc.exited).toBe(0);
    proc.kill("SIGKILL"); // its pid may be another process's by now
    expect(proc.killed).toBe(false);
  });

  it("`await using` kills a sandbox still running at the end of the scope and reaps it", async () => {
    let proc: ReturnType<typeof spawn> | undefined;
    {
      await using p = spawn(["sleep", "100"], { cwd });
      proc = p;
    }
    expect([proc.exitCode, proc.signalCode]).toEqual([137, "SIGKILL"]);
  });
});

describe("timeout and AbortSignal", () => {
  it("timeout kills the sandbox: exit code 124 (as timeout(1)) and timedOut", async () => {
    expect(await run(["sleep", "100"], { cwd, timeout: 300 })).toEqual({
      exitCode: 124, signal: "SIGKILL", stdout: "", stderr: "", timedOut: true, aborted: false,
    });
    const proc = spawn(["sleep", "100"], { cwd, timeout: 300 });
    expect(await proc.exited).toBe(124);
    expect(proc.timedOut).toBe(true);
  });

  it("a timeout not reached changes nothing", async () => {
    expect(await run(["echo", "quick"], { cwd, timeout: 60_000 })).toMatchObject({ exitCode: 0, stdout: "quick\n", timedOut: false });
  });

  it("aborting the signal kills the sandbox (a sleep 100)", async () => {
    const controller = new AbortController();
    const proc = spawn(["sh", "-c", "echo ready; exec sleep 100"], { cwd, signal: controller.signal });
    expect(await readUntil(proc.stdout, "ready\n")).toBe("ready\n");
    controller.abort();
    expect(await proc.exited).toBe(137);
    expect([proc.aborted, proc.timedOut, proc.signalCode]).toEqual([true, false, "SIGKILL"]);
  });

  it("run() reports an abort in its result", async () => {
    const controller = new AbortController();
    const running = run(["sleep", "100"], { cwd, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    expect(await running).toMatchObject({ exitCode: 137, signal: "SIGKILL", aborted: true, timedOut: false });
  });

  it("an already aborted signal starts nothing and throws its reason", async () => {
    const reason = new Error("stop before starting");
    expect(() => spawn(["true"], { cwd, signal: AbortSignal.abort(reason) })).toThrow(reason);
    await expect(run(["true"], { cwd, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it("a bad timeout is a BAD_OPTION", async () => {
    expect((await caught(() => run(["true"], { cwd, timeout: -1 }))).code).toBe("BAD_OPTION");
  });
});

describe("nsbox's own failures are NsboxErrors; the payload's are exit codes", () => {
  it("BAD_OPTION: spawn() throws at once, run() rejects, and nothing starts", async () => {
    const e = await caught(() => spawn(["true"], { cwd, uid: -1 }));
    expect([e.code, e.option, e.exitCode]).toEqual(["BAD_OPTION", "uid", 125]);
    expect((await caught(() => run(["true"], { cwd, uid: -1 }))).code).toBe("BAD_OPTION");
    expect((await caught(() => run([], { cwd }))).code).toBe("BAD_OPTION");
  });

  it("PATH_NOT_FOUND: a cwd that does not exist", async () => {
    const e = await caught(() => run(["true"], { cwd: join(cwd, "missing") }));
    expect([e.code, e.path]).toEqual(["PATH_NOT_FOUND", join(cwd, "missing")]);
  });

  it("NOT_FOUND: run() rejects, with the message the CLI prints", async () => {
    const e = await caught(() => run(["no-such-command-xyz"], { cwd }));
    expect([e.code, e.exitCode]).toEqual(["NOT_FOUND", 127]);
    const cli = await nsbox(["--", "no-such-command-xyz"], { cwd });
    expect(cli.stderr).toBe(`nsbox: ${e.message}\n`);
  });

  it("NOT_FOUND: spawn()'s exited rejects, and a caller who only reads stdout gets no unhandled rejection", async () => {
    const proc = spawn(["no-such-command-xyz"], { cwd });
    expect(await text(proc.stdout)).toBe("");
    await Bun.sleep(10);
    const e = await caught(() => proc.exited);
    expect(e.code).toBe("NOT_FOUND");
    expect(proc.exitCode).toBe(127);
  });

  it("USERNS_DISABLED: spawn() throws at once, with the CLI's message and the sysctl fix", async () => {
    // user.max_user_namespaces is per user namespace: lowered inside `unshare -Ur` for what nests there.
    const script = join(cwd, "userns.ts");
    writeFileSync(
      script,
      `import { NsboxError, spawn } from ${JSON.stringify(join(ROOT, "src/index.ts"))};\n` +
        `try { spawn(["true"]); console.log("started"); } catch (e) {\n` +
        `  console.log(JSON.stringify(e instanceof NsboxError ? { code: e.code, message: e.message, hint: e.hint } : String(e)));\n}\n`,
    );
    const proc = Bun.spawn(["unshare", "-Ur", "sh", "-c", `echo 0 > /proc/sys/user/max_user_namespaces && exec "$BUN" "$SCRIPT"`], {
      cwd, env: { ...process.env, BUN: process.execPath, SCRIPT: script }, stdin: "ignore", stdout: "pipe", stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([text(proc.stdout), text(proc.stderr), proc.exited]);
    expect({ stderr, exitCode }).toEqual({ stderr: "", exitCode: 0 });
    const e = JSON.parse(stdout);
    expect(e.code).toBe("USERNS_DISABLED");
    expect(e.message).toContain("max_user_namespaces = 0");
    expect(e.hint).toContain("sysctl -w user.max_user_namespaces=");
  });

  it("NOT_EXECUTABLE: a directory", async () => {
    const e = await caught(() => run(["/usr"], { cwd }));
    expect([e.code, e.exitCode, e.message]).toEqual(["NOT_EXECUTABLE", 126, "/usr: is a directory"]);
  });
});

describe("sandboxes side by side", () => {
  it("leave the host process's own signal handlers alone", async () => {
    const before = ["SIGINT", "SIGTERM", "SIGHUP"].map((s) => process.listenerCount(s));
    const proc = spawn(["sh", "-c", "echo ready; exec sleep 100"], { cwd });
    expect(await readUntil(proc.stdout, "ready\n")).toBe("ready\n");
    expect(["SIGINT", "SIGTERM", "SIGHUP"].map((s) => process.listenerCount(s))).toEqual(before);
    proc.kill("SIGKILL");
    await proc.exited;
  });

  it("a named one is listed by nsbox ps while it runs, and nsbox stop reaches it", async () => {
    const name = `lib-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    const proc = spawn(["sh", "-c", "trap 'echo stopped; exit 0' TERM; echo ready; while :; do sleep 0.05; done"], { cwd, name });
    expect(await readUntil(proc.stdout, "ready\n")).toBe("ready\n");
    const listed = JSON.parse((await nsbox(["ps", "--json"], { cwd })).stdout) as { name: string; pid: number }[];
    expect(listed.find((s) => s.name === name)).toMatchObject({ pid: proc.pid });
    expect(await nsbox(["stop", name], { cwd })).toMatchObject({ exitCode: 0 });
    expect(await text(proc.stdout)).toBe("stopped\n");
    expect(await proc.exited).toBe(0);
    const after = JSON.parse((await nsbox(["ps", "--json"], { cwd })).stdout) as { name: string }[];
    expect(after.map((s) => s.name)).not.toContain(name);
    // The name is taken while it runs: a second sandbox of that name is refused before it starts.
    const again = spawn(["sleep", "100"], { cwd, name });
    expect((await caught(() => spawn(["true"], { cwd, name }))).code).toBe("NAME_IN_USE");
    again.kill("SIGKILL");
    await again.exited;
  });

  it("50 at once all succeed, each with its own output", async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => run(["sh", "-c", `echo out-${i}; echo err-${i} >&2; exit ${i % 5}`], { cwd })),
    );
    results.forEach((r, i) => expect(r).toMatchObject({ exitCode: i % 5, stdout: `out-${i}\n`, stderr: `err-${i}\n` }));
  });
});
