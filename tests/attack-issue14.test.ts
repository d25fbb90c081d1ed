// Attacks on transparent egress (issue 14) that nsbox holds, each with its control. Real
// sandboxes, real host servers on 127.0.0.1; scripts/test runs this file as root and as uid 1000.
//
// Held here: an installed host TCP socket re-aimed (connect, x32, MSG_FASTOPEN, AF_UNSPEC); a
// host socket brought back to "unconnected" (a second connect after the peer's reset, or
// shutdown() while SYN_SENT) then bound and listening in the host's network; the payload's
// netlink requests executed with nsbox's capabilities; a refused host Unix socket connected by
// nsbox before the refusal; nsbox's main thread frozen in connect(2) by a payload thread that
// clears O_NONBLOCK on the socket they share.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { background, cleanedUp, collect, nsbox, ROOT, scratchIn } from "./helpers.ts";

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


/**
 * Host server on 127.0.0.1 that answers every connection with an RST (SO_LINGER 0 close), 50 ms
 * after it: the payload's first connect must succeed for the attack to be tried (an RST that
 * comes first makes that connect fail, as the kernel's own would).
 */
let resetPort = 0;
beforeAll(async () => {
  resetPort = await listen((c) => void setTimeout(() => c.resetAndDestroy(), 50));
});

/*
 * The payload: connect to the allowed server (nsbox installs a host socket), wait for the reset,
 * connect again (decided allowed, executed on the host socket: now unconnected), then bind
 * (unless "bare") and listen, print the port, and greet whoever connects.
 */
const PAYLOAD = String.raw`
import socket, sys, time
port, how = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
if how != "sandbox":
    s.connect(("127.0.0.1", port))
    try: s.recv(1)
    except OSError: pass
    time.sleep(0.1)
    try: s.connect(("127.0.0.1", port))
    except OSError as e: print("reconnect:", e, flush=True)
try:
    if how != "bare": s.bind(("127.0.0.1", 0))
    s.listen(4)
except OSError as e:
    print("REFUSED", e, "READY", flush=True); sys.exit(0)
print("LISTENING", s.getsockname()[1], s.getsockname()[0], "READY", flush=True)
s.settimeout(8)
try:
    c, _ = s.accept(); c.sendall(b"from-sandbox"); c.close()
except OSError: pass
`;

/** Connect from the host to 127.0.0.1:port: what it reads (empty when refused or silent). */
function hostReads(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const c = createConnection({ host: "127.0.0.1", port });
    const done = () => resolve(got);
    c.setTimeout(4000, () => c.destroy());
    c.on("data", (d) => (got += d.toString()));
    c.on("error", done);
    c.on("close", done);
  });
}

async function attack(how: "reset" | "bare" | "sandbox") {
  const dir = scratchIn(made);
  writeFileSync(join(dir, "payload.py"), PAYLOAD);
  const run = background([process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "..", "bin", "nsbox"), `--net`, `allow=127.0.0.1:${resetPort}`, "--", ...NO_PROXY_VARS, PYTHON, "payload.py", String(resetPort), how], { cwd: dir, env });
  const ready = await run.waitFor("READY");
  const m = /LISTENING (\d+)/.exec(run.out);
  const read = m ? await hostReads(Number(m[1])) : "";
  run.proc.kill();
  const end = await run.finish();
  return { ready, out: run.out, read, stderr: end.stderr };
}

describe("a host socket nsbox installed is never a listener in the host's network", () => {
  test("control: a listener on the sandbox's own socket is not reachable from the host, and the host probe does reach a host listener", async () => {
    const r = await attack("sandbox");
    expect(r.out).toContain("LISTENING ");
    expect(r.read).toBe("");
    const host = createServer((c) => c.end("from-host"));
    await new Promise<void>((ok) => host.listen(0, "127.0.0.1", ok));
    expect(await hostReads((host.address() as { port: number }).port)).toBe("from-host");
    host.close();
  });

  for (const how of ["reset", "bare"] as const) {
    test(`after the allowed peer resets it, connect again then ${how === "bare" ? "listen()" : "bind()+listen()"}: the host never reaches the sandbox`, async () => {
      const r = await attack(how);
      expect(r.ready).toBe(true);
      expect(r.read).not.toContain("from-sandbox");
      expect(r.out).toContain("REFUSED");
    });
  }
});

describe("nsbox never lends the payload its own capabilities over netlink", () => {
  const IP = "/usr/sbin/ip";
  const add = "ip addr add 10.9.9.9/32 dev lo; echo rc=$?; ip -4 addr show dev lo";

  test("control: without the notify filter (proxy mode) the kernel refuses the payload, and the probe sees lo's addresses", async () => {
    if (!(await Bun.file(IP).exists())) throw new Error(`${IP} is missing: apt-get install -y iproute2`);
    const r = await nsbox(["--net", "none", "--", "sh", "-c", add], { cwd: scratchIn(made), env: { ...env, NSBOX_NET_MODE: "proxy" } });
    expect(r.stdout).toContain("inet 127.0.0.1/8");
    expect(r.stdout).not.toContain("10.9.9.9");
  });

  test("a payload without CAP_NET_ADMIN can't add an address to its own lo through nsbox", async () => {
    const r = await nsbox(["--net", "none", "--", "sh", "-c", `grep CapEff /proc/self/status; ${add}`], { cwd: scratchIn(made), env });
    expect(r.stdout).toContain("CapEff:\t0000000000000000");
    expect(r.stdout).toContain("inet 127.0.0.1/8");
    expect(r.stdout).not.toContain("10.9.9.9");
  });

  test("a payload can't create a link in the host's network namespace through nsbox (as root: nsbox's own CAP_NET_ADMIN)", async () => {
    const name = `nsbx${process.pid % 100000}`;
    const run = background([process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "..", "bin", "nsbox"), "--net", "none", "--", "sh", "-c", `ip link add v0 type veth peer name ${name} netns 1; echo DONE; sleep 5`], { cwd: scratchIn(made), env });
    expect(await run.waitFor("DONE")).toBe(true);
    const host = await collect([IP, "link", "show", name]);
    run.proc.kill();
    await run.finish();
    expect(host.stdout).not.toContain(name);
  });
});

describe("a refused Unix socket of the host never sees a connection", () => {
  const SERVER = String.raw`
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16); n = 0
print("UP", flush=True)
while True:
    c, _ = s.accept(); n += 1; print("ACCEPTED", n, flush=True); c.close()
`;
  const CLIENT = String.raw`
import socket, sys
s = socket.socket(socket.AF_UNIX)
try: s.connect(sys.argv[1]); print("CONNECTED")
except OSError as e: print("REFUSED", e.errno)
`;
  async function withHostServer(client: string[], cwdOf: (dir: string) => string) {
    const dir = scratchIn(made);
    const sub = join(dir, "sub");
    mkdirSync(sub);
    writeFileSync(join(dir, "server.py"), SERVER);
    writeFileSync(join(dir, "client.py"), CLIENT);
    const path = join(sub, "host.sock");
    const server = background([PYTHON, join(dir, "server.py"), path], { cwd: dir });
    expect(await server.waitFor("UP")).toBe(true);
    const ran = await collect(client.map((a) => a.replace("@PATH", path).replace("@DIR", dir)), { cwd: cwdOf(dir), env });
    await Bun.sleep(300);
    server.proc.kill();
    const out = (await server.finish()).stdout;
    return { ran, accepted: out.includes("ACCEPTED") };
  }

  test("control: the server counts a host client's connection", async () => {
    const r = await withHostServer([PYTHON, "@DIR/client.py", "@PATH"], (d) => d);
    expect(r.ran.stdout).toContain("CONNECTED");
    expect(r.accepted).toBe(true);
  });

  test("the payload is refused, and the host server accepted nothing", async () => {
    const r = await withHostServer([process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "..", "bin", "nsbox"), "--net", "none", "--", PYTHON, "client.py", "@PATH"], (d) => d);
    expect(r.ran.stdout).toContain("REFUSED 111");
    expect(r.accepted).toBe(false);
  });
});

describe("nsbox's own thread never blocks on a socket the payload shares", () => {
  async function freeze(mode: "flip" | "noflip") {
    const dir = scratchIn(made);
    copyFileSync(join(import.meta.dir, "fixtures", "freeze-nsbox.c"), join(dir, "freeze.c"));
    const cc = await collect(["gcc", "-O2", "-pthread", "-o", join(dir, "freeze"), join(dir, "freeze.c")], { cwd: dir });
    if (cc.exitCode !== 0) throw new Error(`gcc failed (apt-get install -y gcc libc6-dev): ${cc.stderr}`);
    const run = background([process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "..", "bin", "nsbox"), "--net", "none", "--", "./freeze", mode, "3"], { cwd: dir, env });
    // The payload ends by itself after about 4 s; a generous deadline, then nsbox is stopped.
    const ended = await Promise.race([run.proc.exited.then(() => true), Bun.sleep(40_000).then(() => false)]);
    if (!ended) run.proc.kill("SIGKILL");
    const end = await run.finish();
    return { ended, out: end.stdout };
  }

  test("control: without the flipping thread the probes go through and the run ends", async () => {
    const r = await freeze("noflip");
    expect(r.ended).toBe(true);
    expect(r.out).toContain("PROBES 15");
    expect(r.out).toContain("PAYLOAD DONE");
  }, 60_000);

  test("a thread clearing O_NONBLOCK while nsbox connects its socket doesn't freeze nsbox", async () => {
    const r = await freeze("flip");
    expect(r.out).not.toContain("STALLED");
    expect(r.out).toContain("PAYLOAD DONE");
    expect(r.ended).toBe(true);
  }, 60_000);
});

describe("a host socket is installed only once it is established: shutdown() while SYN_SENT never frees it", () => {
  // A host listener whose accept queue is full (backlog 0, never accepting, filled by the test):
  // its SYNs are dropped, so a connect to it stays in SYN_SENT.
  const FULL = String.raw`
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
print("PORT", s.getsockname()[1], "UP", flush=True)
time.sleep(60)
`;
  // Non-blocking connect with SO_SNDTIMEO 1 s, then shutdown(), bind(), listen(): where does it listen?
  const PAYLOAD = String.raw`
import socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
s.setblocking(False)
print("connect", s.connect_ex(("127.0.0.1", int(sys.argv[1]))), flush=True)
try: s.shutdown(socket.SHUT_RDWR)
except OSError as e: print("shutdown", e.errno)
try: s.bind(("127.0.0.1", 0)); s.listen(4)
except OSError as e: print("REFUSED", e.errno, "READY", flush=True); sys.exit(0)
print("LISTENING", s.getsockname()[1], "READY", flush=True)
s.setblocking(True); s.settimeout(8)
try:
    c, _ = s.accept(); c.sendall(b"from-sandbox"); c.close()
except OSError: pass
`;
  async function run(inside: boolean) {
    const dir = scratchIn(made);
    writeFileSync(join(dir, "full.py"), FULL);
    writeFileSync(join(dir, "payload.py"), PAYLOAD);
    const full = background([PYTHON, join(dir, "full.py")], { cwd: dir });
    expect(await full.waitFor("UP")).toBe(true);
    const port = Number(/PORT (\d+)/.exec(full.out)![1]);
    // Fill its accept queue: these are never accepted.
    const fillers = [0, 1, 2].map(() => createConnection({ host: "127.0.0.1", port }).on("error", () => {}));
    await Bun.sleep(200);
    const argv = inside
      ? [process.execPath, "--no-env-file", "--config=/dev/null", join(import.meta.dir, "..", "bin", "nsbox"), "--net", `allow=127.0.0.1:${port}`, "--", ...NO_PROXY_VARS, PYTHON, "payload.py", String(port)]
      : [PYTHON, "payload.py", String(port)];
    const p = background(argv, { cwd: dir, env });
    await p.waitFor("READY");
    const m = /LISTENING (\d+)/.exec(p.out);
    const read = m ? await hostReads(Number(m[1])) : "";
    p.proc.kill();
    await p.finish();
    full.proc.kill();
    await full.finish();
    fillers.forEach((f) => f.destroy());
    return { out: p.out, read };
  }

  test("control: on the host, shutdown() of a socket in SYN_SENT makes it unconnected, and it listens where the host reaches it", async () => {
    const r = await run(false);
    expect(r.out).toContain("connect 115");
    expect(r.out).toContain("LISTENING ");
    expect(r.read).toBe("from-sandbox");
  });

  test("inside: the non-blocking connect waits for the handshake (SO_SNDTIMEO ends it: ETIMEDOUT), no host socket is installed, and the host never reaches the sandbox", async () => {
    const r = await run(true);
    expect(r.read).not.toContain("from-sandbox");
    expect(r.out).toContain("connect 110");
  });
});

describe("read-only netlink requests still work inside", () => {
  const SCRIPT = String.raw`
ip -4 addr show dev lo; ip link show lo
python3 -c '
import socket, subprocess
s = socket.socket(); s.bind(("127.0.0.1", 4567)); s.listen()
print(subprocess.run(["ss", "-tlnp"], capture_output=True, text=True).stdout)
try: print("GAI", sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG)}))
except OSError as e: print("GAI error", e)
'`;
  const run = (mode?: "proxy") => {
    const dir = scratchIn(made);
    writeFileSync(join(dir, "t.sh"), SCRIPT);
    return nsbox(["--net", "none", "--", "sh", "t.sh"], { cwd: dir, env: mode ? { ...env, NSBOX_NET_MODE: mode } : env });
  };
  test("ip addr, ip link, ss -tlnp and getaddrinfo with AI_ADDRCONFIG answer as they do without the notify filter (the control)", async () => {
    const [mine, control] = await Promise.all([run(), run("proxy")]);
    for (const r of [mine, control]) {
      expect(r.stdout).toContain("inet 127.0.0.1/8");
      expect(r.stdout).toContain("link/loopback");
      expect(r.stdout).toMatch(/LISTEN .*127\.0\.0\.1:4567 .*python3/);
      expect(r.stdout).toContain("GAI ['127.0.0.1'");
    }
    expect(mine.stdout.replace(/pid=\d+/g, "")).toBe(control.stdout.replace(/pid=\d+/g, ""));
  });
});
