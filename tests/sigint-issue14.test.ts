// Ctrl-C reaches a payload blocked in a call nsbox holds (issue 14, transparent mode). The
// notify filter waits killable only once nsbox has the notification, so a caught SIGINT
// (Python's handler) waited for nsbox's answer: a connect to a host server whose accept queue
// is full could not be stopped until TCP gave up (about two minutes). Each case sends SIGINT
// to nsbox's own pid (as a terminal's Ctrl-C reaches nsbox's foreground process group; nsbox
// forwards it) while the payload waits, and expects the payload's handler to run: "interrupted",
// exit 130, long before any TCP timeout. Control: the same program on the host.
// scripts/test runs this file as root and as uid 1000.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { background, type Background, cleanedUp, NSBOX, ROOT, scratchIn } from "./helpers.ts";

const PYTHON = "/usr/bin/python3"; // Debian's, visible inside (/usr is shared)
const FIXTURES = join(ROOT, "tests", "fixtures");
const made = cleanedUp();
/** Far below TCP's connect timeout (about 127 s): a run still going then was not interrupted. */
const BOUND = 30_000;

let server: Background;
let port = "";
let dir = "";

beforeAll(async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: apt-get install -y python3`);
  dir = scratchIn(made);
  copyFileSync(join(FIXTURES, "sigint-connect.py"), join(dir, "client.py"));
  server = background([PYTHON, join(FIXTURES, "full-backlog-server.py")]);
  const line = /^(\d+)\n/;
  await server.waitFor("\n");
  port = line.exec(server.out)?.[1] ?? "";
  expect(port).toMatch(/^\d+$/);
});

afterAll(() => {
  server?.proc.kill("SIGKILL");
});

/** Start `argv`, SIGINT its own pid once the client says it waits, and collect the end (killed at BOUND). */
async function interrupt(argv: string[]) {
  const run = background(argv, { cwd: dir });
  expect(await run.waitFor("waiting")).toBe(true);
  // The call is made after the line: give it time to be trapped and held.
  await Bun.sleep(1500);
  process.kill(run.proc.pid, "SIGINT");
  const killer = setTimeout(() => run.proc.kill("SIGKILL"), BOUND);
  const ended = await run.finish();
  clearTimeout(killer);
  return ended;
}

const inNsbox = (...args: string[]) => [process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, `--net`, `allow=127.0.0.1:${port}`, "--", PYTHON, "client.py", ...args];

/** Run `argv` to its end, killed at BOUND (no signal sent by the test). */
async function untilEnd(argv: string[]) {
  const run = background(argv, { cwd: dir });
  const killer = setTimeout(() => run.proc.kill("SIGKILL"), BOUND);
  const ended = await run.finish();
  clearTimeout(killer);
  return ended;
}

describe("SIGINT while nsbox holds a trapped call", () => {
  test("control: on the host, the connect to the full backlog is interrupted at once", async () => {
    const ended = await interrupt([PYTHON, "client.py", port]);
    expect(ended.stdout).toContain("interrupted");
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("a connect to a host server with a full backlog, under --net allow: the payload's handler runs", async () => {
    const ended = await interrupt(inNsbox(port));
    expect(ended.stdout).not.toContain("connected");
    expect(ended.stdout).toContain("interrupted");
    expect(ended.signalCode).toBeNull(); // not our SIGKILL at BOUND
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("control: on the host, a connect to a full backlog in the same network is interrupted", async () => {
    const ended = await interrupt([PYTHON, "client.py", "inside"]);
    expect(ended.stdout).toContain("interrupted");
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("a connect of the payload's own socket inside the sandbox (full backlog there)", async () => {
    const ended = await interrupt(inNsbox("inside"));
    expect(ended.stdout).toContain("interrupted");
    expect(ended.signalCode).toBeNull();
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("control: on the host, a sendmsg waiting for room is interrupted", async () => {
    const ended = await interrupt([PYTHON, "client.py", "send"]);
    expect(ended.stdout).toContain("interrupted");
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("a sendmsg nsbox executes, waiting for room in the socket", async () => {
    const ended = await interrupt(inNsbox("send"));
    expect(ended.stdout).not.toContain("sent");
    expect(ended.stdout).toContain("interrupted");
    expect(ended.signalCode).toBeNull();
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("control: on the host, a connect to a Unix socket with a full backlog is interrupted", async () => {
    const ended = await interrupt([PYTHON, "client.py", "unix"]);
    expect(ended.stdout).toContain("interrupted");
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("a connect to a Unix socket made inside, its backlog full: nsbox connects it on a thread, and the handler runs", async () => {
    const ended = await interrupt(inNsbox("unix"));
    expect(ended.stdout).not.toContain("connected");
    expect(ended.stdout).toContain("interrupted");
    expect(ended.signalCode).toBeNull();
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("control: on the host, the payload's own caught alarm interrupts the connect", async () => {
    const ended = await untilEnd([PYTHON, "client.py", port, "alarm"]);
    expect(ended.stdout).toContain("interrupted");
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);

  test("a signal nsbox did not forward (the payload's own alarm) is seen too", async () => {
    const ended = await untilEnd(inNsbox(port, "alarm"));
    expect(ended.stdout).not.toContain("connected");
    expect(ended.stdout).toContain("interrupted");
    expect(ended.signalCode).toBeNull();
    expect(ended.exitCode).toBe(130);
  }, BOUND + 10_000);
});
