// Attacks on transparent egress (issue 14) that nsbox holds, each with its control. The ones
// that still work are in tests/attack-issue14-open.test.ts. Real sandboxes, real host servers on
// 127.0.0.1; scripts/test runs this file as root and as uid 1000.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
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

describe("names the payload looks up are shown as they are, never as something else", () => {
  // A DNS query for NAME to 127.0.0.53, raw (getaddrinfo would refuse such a name before asking).
  const QUERY = String.raw`
import socket, struct, sys
name = sys.argv[1].encode("utf-8")
body = b"".join(bytes([len(l)]) + l for l in name.split(b".")) + b"\0" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + body, ("127.0.0.53", 53))
print("rcode", s.recv(512)[3] & 15); sys.exit(1)
`;
  const name = "a\u202eb";
  const run = (net: string) => {
    const dir = scratchIn(made);
    writeFileSync(join(dir, "q.py"), QUERY);
    return nsbox(["--net", net, "--", PYTHON, "q.py", name], { cwd: dir, env });
  };

  test("control: the lookup reaches the resolver, whose blocked-lookup line escapes U+202E whole", async () => {
    const r = await run("allow=example.com");
    expect(r.stdout).toContain("rcode 3");
    expect(r.stderr).toContain("a\\u{202e}b");
  });

  test("--net none's note names U+202E whole, never as its low byte (\\x2e, a dot)", async () => {
    const r = await run("none");
    expect(r.stdout).toContain("rcode 3");
    expect(r.stderr).toContain("the network is off");
    expect(r.stderr).not.toContain("\u202e");
    expect(r.stderr).not.toContain("a\\x2eb");
    expect(r.stderr).toContain("a\\u{202e}b");
  });
});
