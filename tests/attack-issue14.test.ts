// Attacks on transparent egress (issue 14) that nsbox holds, each with its control. The ones
// that still work are in tests/attack-issue14-open.test.ts. Real sandboxes, real host servers on
// 127.0.0.1; scripts/test runs this file as root and as uid 1000.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { cleanedUp, collect, nsbox, ROOT, scratchIn } from "./helpers.ts";

const PYTHON = "/usr/bin/python3";
const FIXTURES = join(ROOT, "tests", "fixtures");
const made = cleanedUp();
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0])),
);
const NO_PROXY_VARS = ["env", ...["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"].flatMap((n) => ["-u", n, "-u", n.toLowerCase()])];

/** Host servers on 127.0.0.1: one echoes, one resets every connection, one (never allowed) counts what it accepted. */
const servers: Server[] = [];
let echo = 0, resetting = 0, blocked = 0;
let blockedAccepted = 0;
async function listen(onConnection: Parameters<typeof createServer>[0]): Promise<number> {
  const s = createServer(onConnection);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}
beforeAll(async () => {
  echo = await listen((c) => c.pipe(c).on("error", () => {}));
  resetting = await listen((c) => c.resetAndDestroy());
  blocked = await listen((c) => {
    blockedAccepted++;
    c.end("blocked-server");
  });
});
afterAll(() => servers.forEach((s) => s.close()));

function project(): string {
  const dir = scratchIn(made);
  copyFileSync(join(FIXTURES, "reaim-host-socket.py"), join(dir, "reaim.py"));
  return dir;
}
const lastJson = (stdout: string, stderr: string) => {
  const line = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as Record<string, number>;
  } catch {
    throw new Error(`no result: ${stdout}\n${stderr}`);
  }
};

describe("an installed host TCP socket can't be re-aimed past nsbox", () => {
  const ENOSYS = -38, EOPNOTSUPP = -95;

  test("control: on the host, the same tries re-aim the socket (AF_UNSPEC then connect reaches the blocked server)", async () => {
    const dir = project();
    const before = blockedAccepted;
    const ran = await collect([PYTHON, join(dir, "reaim.py"), String(echo), String(resetting), String(blocked)], { cwd: dir, env });
    const r = lastJson(ran.stdout, ran.stderr);
    expect(r["AF_UNSPEC"]).toBe(0);
    expect(r["connect after AF_UNSPEC"]).toBe(0);
    await Bun.sleep(100);
    expect(blockedAccepted).toBeGreaterThan(before);
  });

  test("inside: connect, x32 connect, MSG_FASTOPEN, AF_UNSPEC, TCP_FASTOPEN_CONNECT, before and after the peer's reset: the blocked server accepts nothing", async () => {
    const dir = project();
    const before = blockedAccepted;
    const ran = await nsbox(["--net", `allow=127.0.0.1:${echo},127.0.0.1:${resetting}`, "--", ...NO_PROXY_VARS, PYTHON, "reaim.py", String(echo), String(resetting), String(blocked)], { cwd: dir, env });
    const r = lastJson(ran.stdout, ran.stderr);
    for (const key of ["connect again", "connect after AF_UNSPEC", "reset: connect", "reset: fastopen_connect"]) expect({ key, r: r[key]! < 0 }).toEqual({ key, r: true });
    expect(r["x32 connect"]).toBe(ENOSYS);
    expect(r["reset: x32 connect"]).toBe(ENOSYS);
    expect(r["fastopen"]).toBe(EOPNOTSUPP);
    expect(r["reset: fastopen"]).toBe(EOPNOTSUPP);
    expect(r["AF_UNSPEC"]).toBe(EOPNOTSUPP);
    // Privileged options of the host's namespace stay the kernel's refusal (the payload's credentials).
    for (const key of ["IP_TRANSPARENT", "TCP_REPAIR", "SO_MARK"]) expect({ key, r: r[key] }).toEqual({ key, r: -1 });
    await Bun.sleep(100);
    expect(blockedAccepted).toBe(before);
  });
});
