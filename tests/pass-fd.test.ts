// Descriptors handed over on purpose: --pass-fd N and the library's passFds, the /dev/fd/N
// arguments of the command, make's jobserver (pipe and FIFO), socket activation; everything else
// stays closed, and no passed number disturbs the executor's own descriptors.
import { describe, expect, test } from "bun:test";
import { chownSync, closeSync, constants, mkdirSync, openSync, readFileSync, readSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NsboxError, readHost, run } from "../src/index.ts";
import { passFdPlan } from "../src/plan/pass-fds.ts";
import { collect, NSBOX, nsbox, type Ran, scratchDir } from "./helpers.ts";

/** bash with `nsbox` defined as this checkout's, started as bin/nsbox's first line starts it. */
function bash(script: string, opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<Ran> {
  const define = `nsbox() { "$NSBOX_BUN" --no-env-file --config=/dev/null "$NSBOX_CLI" "$@"; }; `;
  return collect(["bash", "-c", define + script], {
    cwd: opts.cwd,
    env: { ...process.env, NSBOX_BUN: process.execPath, NSBOX_CLI: NSBOX, ...opts.env },
  });
}

/** nsbox's own failure in one line: "nsbox: …", no stack, the status given. */
function oneLineError(r: Ran, code: number, ...mentions: string[]): void {
  expect(r.exitCode).toBe(code);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).toStartWith("nsbox: ");
  for (const m of mentions) expect(r.stderr).toContain(m);
}

/** A directory holding files f3, f4, … whose content is their own name. */
function files(...numbers: number[]): string {
  const dir = scratchDir();
  for (const n of numbers) writeFileSync(join(dir, `f${n}`), `f${n}\n`);
  return dir;
}

describe("given descriptors the command line names", () => {
  test("nsbox -- cat <(echo hi) prints hi: the /dev/fd/63 of the argument is passed", async () => {
    const r = await bash("nsbox -- cat <(echo hi)");
    expect(r).toMatchObject({ stdout: "hi\n", stderr: "", exitCode: 0 });
  });

  test("/proc/self/fd/N and NAME=/dev/fd/N arguments are passed too", async () => {
    const r = await bash(`nsbox -- sh -c 'cat "$1"; cat "\${2#*=}"' _ /proc/self/fd/5 --in=/dev/fd/6 5<<<five 6<<<six`);
    expect(r).toMatchObject({ stdout: "five\nsix\n", stderr: "", exitCode: 0 });
  });

  test("control: an open descriptor the command does not name stays closed; --pass-fd 5 passes it", async () => {
    const dir = files(5);
    const probe = `sh -c 'test -e /proc/self/fd/5 && cat <&5 || echo closed'`;
    expect((await bash(`nsbox -- ${probe} 5<f5`, { cwd: dir })).stdout).toBe("closed\n");
    const r = await bash(`nsbox --pass-fd 5 -- ${probe} 5<f5`, { cwd: dir });
    expect(r).toMatchObject({ stdout: "f5\n", stderr: "", exitCode: 0 });
  });

  test("--dry-run shows the descriptors passed and why", async () => {
    const r = await bash(`nsbox --dry-run --pass-fd 5 -- cat /dev/fd/6 5</dev/null 6</dev/null`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("descriptors: 0 1 2 5 6 (5: --pass-fd 5; 6: /dev/fd/6 in the command)");
    expect(r.stdout).toMatch(/pass_fds|pass descriptors 5, 6 at the same numbers/);
    const none = await bash(`nsbox --dry-run -- true 5</dev/null`);
    expect(none.stdout).toContain("descriptors: 0 1 2 (everything else is closed)");
  });
});

describe("given the executor's own descriptors (3 to 8, and its copies above)", () => {
  const numbers = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20];

  test("passed descriptors land at their own numbers, whatever the executor keeps there", async () => {
    const dir = files(...numbers);
    const flags = numbers.map((n) => `--pass-fd ${n}`).join(" ");
    const redirects = numbers.map((n) => `${n}<f${n}`).join(" ");
    const check = `for n in ${numbers.join(" ")}; do cat /proc/self/fd/$n; done; for n in 14 15 16 17 18 19 21; do test -e /proc/self/fd/$n && echo "$n open"; done; true`;
    const r = await bash(`nsbox ${flags} -- sh -c '${check}' ${redirects}`, { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(numbers.map((n) => `f${n}\n`).join(""));
    expect(r.exitCode).toBe(0);
  });

  test("a passed 63 lands under --rlimit nofile=16 (placed before the limits are set)", async () => {
    const r = await bash("nsbox --rlimit nofile=16 -- sh -c 'ulimit -n; cat \"$0\"' <(echo hi)");
    expect(r).toMatchObject({ stdout: "16\nhi\n", stderr: "", exitCode: 0 });
  });

  test("the report pipe moves out of a passed 3: a failed exec is reported to nsbox, nothing is written to the caller's file", async () => {
    const dir = scratchDir();
    const r = await bash(`nsbox -v --pass-fd 3 -- no-such-command-here 3>out`, { cwd: dir });
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain("nsbox: no-such-command-here: command not found");
    expect(r.stderr).toContain("pass descriptor 3 to the command (--pass-fd 3)");
    expect(readFileSync(join(dir, "out"), "utf8")).toBe("");
  });
});

describe("given a bad --pass-fd", () => {
  test.each([
    [["--pass-fd", "7"], "--pass-fd 7: descriptor 7 is not open"],
    [["--pass-fd=-1"], "--pass-fd -1: must be a descriptor number from 3 to 1048575"],
    [["--pass-fd", "99999999"], "--pass-fd 99999999: must be a descriptor number"],
    [["--pass-fd", "x5"], "--pass-fd x5: must be a descriptor number"],
    [["--pass-fd", "0"], "--pass-fd 0: standard input, output and error are always passed"],
    [["--pass-fd", "2"], "--pass-fd 2: standard input, output and error are always passed"],
  ])("%p: one line naming the option and value, exit 125, nothing started", async (args, message) => {
    oneLineError(await nsbox([...args, "--", "true"]), 125, message);
  });

  test("a descriptor of nsbox's own runtime (not given by the caller) is refused, not handed over", async () => {
    // Started with only 0-2 open, Bun's event loop takes 3 and 4.
    const r = await nsbox(["--pass-fd", "3", "--", "true"]);
    oneLineError(r, 125, "--pass-fd 3: descriptor 3");
    expect(r.stderr).toContain("not one you gave nsbox");
  });

  test("a terminal is refused (the command never gets the user's terminal); control: a pipe at the same number passes", async () => {
    // Descriptor 5 is a pty's slave (`s`; its master kept open, else it would be hung up, no
    // longer a terminal) or a pipe's read end (`r`) holding "piped".
    const withFd5 = (from: "s" | "r", args: string[]) =>
      collect(["python3", "-c", `import os, pty, sys\nm, s = pty.openpty()\nos.set_inheritable(m, True)\nr, w = os.pipe()\nos.write(w, b"piped\\n")\nos.dup2(${from}, 5)\nos.set_inheritable(5, True)\nos.execvp(sys.argv[1], sys.argv[1:])`, process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, ...args]);
    oneLineError(await withFd5("s", ["--pass-fd", "5", "--", "true"]), 125, "--pass-fd 5: descriptor 5 is a terminal");
    // Named by the command: not passed, and said.
    const named = await withFd5("s", ["--", "sh", "-c", "test -e /proc/self/fd/5 || echo closed", "/dev/fd/5"]);
    expect(named.stdout).toBe("closed\n");
    expect(named.stderr).toContain("/dev/fd/5 in the command is a terminal: not passed");
    const control = await withFd5("r", ["--pass-fd", "5", "--", "sh", "-c", "read x <&5; echo $x"]);
    expect(control).toMatchObject({ stdout: "piped\n", stderr: "", exitCode: 0 });
  });
});

describe("given a directory's descriptor", () => {
  // Through a directory's descriptor openat(2) reaches every file below it, whatever the view:
  // here a secret in a directory the sandbox does not show.
  test("--pass-fd of a directory is refused, and one named by an argument is not passed; control: a file's descriptor from it passes", async () => {
    const dir = scratchDir();
    mkdirSync(join(dir, "hidden"));
    writeFileSync(join(dir, "hidden", "secret"), "secret\n");
    const cwd = scratchDir();
    const read = `python3 -c 'import os; print(open(os.open("secret", os.O_RDONLY, dir_fd=5)).read(), end="")'`;
    const r = await bash(`nsbox --landlock off --pass-fd 5 -- ${read} 5<"${join(dir, "hidden")}"`, { cwd });
    oneLineError(r, 125, "--pass-fd 5: descriptor 5 is a directory");
    const named = await bash(`nsbox -- sh -c 'test -e /proc/self/fd/5 || echo closed' /dev/fd/5 5<"${join(dir, "hidden")}"`, { cwd });
    expect(named.stdout).toBe("closed\n");
    expect(named.stderr).toContain("/dev/fd/5 in the command is a directory: not passed");
    const control = await bash(`nsbox --pass-fd 5 -- sh -c 'cat <&5' 5<"${join(dir, "hidden", "secret")}"`, { cwd });
    expect(control).toMatchObject({ stdout: "secret\n", stderr: "", exitCode: 0 });
  });
});

describe("given make's jobserver", () => {
  /** A make whose sub-make runs in nsbox: two jobs that each wait for the other, so they finish only when run together. */
  function project(recipe: string): string {
    const dir = scratchDir();
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "Makefile"), `all:\n\t${recipe}\n`);
    const wait = (me: string, other: string) =>
      `\t@touch ${me}.started; for i in $$(seq 150); do [ -e ${other}.started ] && exit 0; sleep 0.1; done; echo "${me} ran alone"; exit 1\n`;
    writeFileSync(join(dir, "sub", "Makefile"), `all: a b\na:\n${wait("a", "b")}b:\n${wait("b", "a")}`);
    return dir;
  }
  const NSBOX_CMD = `"$$NSBOX_BUN" --no-env-file --config=/dev/null "$$NSBOX_CLI"`;
  const env = { NSBOX_BUN: process.execPath, NSBOX_CLI: NSBOX, MAKEFLAGS: undefined, MAKELEVEL: undefined };

  test("make -j4 with `+nsbox -- $(MAKE) -C sub`: the sub-make inside gets the jobserver and runs two jobs at once", async () => {
    const r = await collect(["make", "-j4"], { cwd: project(`+${NSBOX_CMD} -- $(MAKE) -C sub`), env: { ...process.env, ...env } });
    expect(r.stderr).not.toContain("jobserver unavailable");
    expect(r.stdout).not.toContain("ran alone");
    expect(r.exitCode).toBe(0);
  });

  test("control: a recipe make does not treat as recursive gets no jobserver (make closes it), and nsbox passes nothing in its place", async () => {
    const r = await collect(["make", "-j4"], { cwd: project(`${NSBOX_CMD} -- make -C sub`), env: { ...process.env, ...env } });
    expect(r.stderr).toContain("jobserver unavailable");
    expect(r.stdout).toContain("ran alone");
    expect(r.exitCode).not.toBe(0);
  });

  test("make 4.4's --jobserver-auth=fifo:PATH: the caller's FIFO is shown at its path, and tokens pass through it", async () => {
    const dir = scratchDir();
    const fifo = join(dir, "GMfifo");
    expect((await collect(["mkfifo", "-m", "600", fifo])).exitCode).toBe(0);
    // Held open read-write outside (never blocks): what the sandbox writes waits in it.
    const held = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      const r = await nsbox(["--", "sh", "-c", `test -p "$0" && printf + > "$0"`, fifo], { env: { ...process.env, MAKEFLAGS: ` -j2 --jobserver-auth=fifo:${fifo}` } });
      expect(r).toMatchObject({ stderr: "", exitCode: 0 });
      const b = Buffer.alloc(8);
      expect(b.toString("utf8", 0, readSync(held, b))).toBe("+");
    } finally {
      closeSync(held);
    }
    // Control: without MAKEFLAGS naming it, the FIFO is not there.
    expect((await nsbox(["--", "sh", "-c", `test -p "$0" || echo absent`, fifo])).stdout).toBe("absent\n");
  });

  test("a FIFO reached through a symlink is not followed: not shown, and said", async () => {
    const dir = scratchDir();
    const fifo = join(dir, "real");
    expect((await collect(["mkfifo", "-m", "600", fifo])).exitCode).toBe(0);
    symlinkSync(fifo, join(dir, "GMfifo"));
    const r = await nsbox(["--", "sh", "-c", `test -e "$0" || echo absent`, join(dir, "GMfifo")], { env: { ...process.env, MAKEFLAGS: ` -j2 --jobserver-auth=fifo:${join(dir, "GMfifo")}` } });
    expect(r.stdout).toBe("absent\n");
    expect(r.stderr).toContain(`the jobserver FIFO ${join(dir, "GMfifo")} that MAKEFLAGS names goes through the symlink`);
    expect(r.exitCode).toBe(0);
  });

  test("a FIFO that is not the caller's is not shown (another user could have placed it)", async () => {
    const dir = scratchDir();
    const fifo = join(dir, "GMfifo");
    expect((await collect(["mkfifo", "-m", "666", fifo])).exitCode).toBe(0);
    const makeflags = ` -j2 --jobserver-auth=fifo:${fifo}`;
    // The check itself, for a caller it does not belong to (any uid can run this part).
    const other = passFdPlan(["true"], {}, { ...readHost(), uid: process.getuid!() + 1 }, { args: true, makeflags, fifo: true });
    expect(other.fifo).toBeUndefined();
    expect(other.notes.join("\n")).toContain(`belongs to uid ${process.getuid!()}, not to you`);
    expect(passFdPlan(["true"], {}, readHost(), { args: true, makeflags, fifo: true }).fifo?.path).toBe(fifo); // control
    if (process.getuid!() === 0) {
      // And in a real run: root's nsbox is shown no FIFO of uid 1000 (only root can make one for another user).
      chownSync(fifo, 1000, 1000);
      const r = await nsbox(["--", "sh", "-c", `test -e "$0" || echo absent`, fifo], { env: { ...process.env, MAKEFLAGS: makeflags } });
      expect(r.stdout).toBe("absent\n");
      expect(r.stderr).toContain("belongs to uid 1000, not to you");
    }
  });
});

describe("given socket activation (LISTEN_FDS)", () => {
  const ACTIVATE = `import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"; os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(sys.argv[2], sys.argv[2:])
`;
  // What sd_listen_fds(3) checks: LISTEN_PID is this process, and fd 3 is the listening socket.
  const SERVER = `import os, socket
print("LISTEN_PID", os.environ.get("LISTEN_PID"), "pid", os.getpid(), flush=True)
if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS") == "1":
    c, _ = socket.socket(fileno=3).accept(); c.sendall(b"activated"); c.close(); print("served")
`;
  const CLIENT = `import os, socket, sys, time
for _ in range(600):
    if os.path.exists(sys.argv[1]): break
    time.sleep(0.05)
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); print(c.recv(100).decode())
`;

  function setup(): { dir: string; sock: string } {
    const dir = scratchDir();
    writeFileSync(join(dir, "activate.py"), ACTIVATE);
    writeFileSync(join(dir, "server.py"), SERVER);
    // Not in the shared directory: nsbox does not share one that holds a socket.
    return { dir, sock: join(scratchDir(), "sock") };
  }
  const cli = [process.execPath, "--no-env-file", "--config=/dev/null", NSBOX];

  test("--pass-fd 3 with LISTEN_FDS=1: LISTEN_PID is the server's own pid inside, and it serves on the passed socket", async () => {
    const { dir, sock } = setup();
    const [server, client] = await Promise.all([
      collect(["python3", "activate.py", sock, ...cli, "--pass-fd", "3", "--", "python3", "server.py"], { cwd: dir }),
      collect(["python3", "-c", CLIENT, sock]),
    ]);
    expect(server.stderr).toBe("");
    expect(server.stdout).toMatch(/^LISTEN_PID (\d+) pid \1\nserved\n$/);
    expect(server.exitCode).toBe(0);
    expect(client.stdout).toBe("activated\n");
  });

  test("control: without --pass-fd 3, LISTEN_PID is removed, so the server takes no closed descriptor for a socket", async () => {
    const { dir, sock } = setup();
    const server = await collect(["python3", "activate.py", sock, ...cli, "--", "python3", "server.py"], { cwd: dir });
    expect(server.stdout).toMatch(/^LISTEN_PID None pid \d+\n$/);
    expect(server.exitCode).toBe(0);
  });
});

describe("given the library", () => {
  test("passFds: [fd] passes the program's own descriptor; control: without it, /dev/fd/N is not passed (the library takes nothing from arguments)", async () => {
    // A file outside the sandbox's view: read through the descriptor (reopening it by its
    // /dev/fd path would be a path outside the view, which Landlock refuses).
    const dir = files(5);
    const fd = openSync(join(dir, "f5"), "r");
    try {
      const r = await run(["bash", "-c", `cat <&${fd}`, `/dev/fd/${fd}`], { passFds: [fd] });
      expect(r).toMatchObject({ stdout: "f5\n", stderr: "", exitCode: 0 });
      const control = await run(["sh", "-c", `test -e /proc/self/fd/${fd} || echo closed`, `/dev/fd/${fd}`]);
      expect(control).toMatchObject({ stdout: "closed\n", exitCode: 0 });
    } finally {
      closeSync(fd);
    }
  });

  test.each([
    [[1], "The `passFds` option: 1: standard input, output and error are always passed"],
    [[-1], "The `passFds` option: -1: must be a descriptor number from 3 to 1048575"],
    [[2 ** 31], "must be a descriptor number from 3 to 1048575"],
    [["5"], "The `passFds` option must be a list of descriptor numbers from 3 to 1048575"],
    [5, "The `passFds` option must be a list of descriptor numbers"],
  ])("passFds %p: a BAD_OPTION naming the option and value, before anything starts", async (passFds, message) => {
    const e = await run(["true"], { passFds: passFds as number[] }).catch((x) => x);
    expect(e).toBeInstanceOf(NsboxError);
    expect(e.code).toBe("BAD_OPTION");
    expect(e.message).toContain(message);
    expect(e.message).not.toContain("\n");
  });

  test("passFds of a closed descriptor: a BAD_OPTION saying so", async () => {
    const fd = openSync("/dev/null", "r");
    closeSync(fd);
    const e = await run(["true"], { passFds: [fd] }).catch((x) => x);
    expect(e).toBeInstanceOf(NsboxError);
    expect(e.message).toBe(`The \`passFds\` option ${fd}: descriptor ${fd} is not open in this process; pass one your program has open (fs.openSync, a socket's fd)`);
  });
});

describe("given nsbox exec", () => {
  test("the command's /dev/fd/N and --pass-fd N are passed into a running sandbox as into a new one", async () => {
    const runtime = scratchDir();
    const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
    const name = `pfd-${process.pid}`;
    const box = Bun.spawn([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--name", name, "--", "sh", "-c", "echo ready; exec sleep 1000"], { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    try {
      const reader = box.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("ready\n");
      const viaArg = await bash(`nsbox exec ${name} -- cat <(echo hi)`, { env });
      expect(viaArg).toMatchObject({ stdout: "hi\n", stderr: "", exitCode: 0 });
      const dir = files(5);
      const probe = `sh -c 'test -e /proc/self/fd/5 && cat <&5 || echo closed'`;
      expect((await bash(`nsbox exec ${name} -- ${probe} 5<f5`, { cwd: dir, env })).stdout).toBe("closed\n");
      expect((await bash(`nsbox exec ${name} --pass-fd 5 -- ${probe} 5<f5`, { cwd: dir, env })).stdout).toBe("f5\n");
    } finally {
      box.kill("SIGKILL");
      await box.exited;
    }
  });
});
