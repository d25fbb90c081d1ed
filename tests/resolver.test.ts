// The sandbox's resolver (src/net/resolver.ts): names the rules allow answer the host's addresses
// (those the address policy passes), others fail and are reported; --net none fails every lookup
// at once and names them once; no packet ends nsbox; what the payload asks is bounded in the report.
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readHost } from "../src/host.ts";
import { NameBook, normalAddress, offlineNote } from "../src/net/names.ts";
import { startResolver, type ResolverEvent } from "../src/net/resolver.ts";
import { parseRule } from "../src/net/rules.ts";
import type { SandboxOptions } from "../src/options.ts";
import { buildPlan } from "../src/plan/index.ts";
import { PlanBuilder } from "../src/plan/builder.ts";
import { resolvConfOps } from "../src/plan/etc-files.ts";
import { start } from "../src/supervise.ts";
import { cleanedUp, nsbox, scratchIn } from "./helpers.ts";

const made = cleanedUp();

/** The caller's environment without proxy variables. */
const env: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !/_proxy$/i.test(e[0])));

/**
 * A small DNS client for inside the sandbox (python3, no library): `lookup NAME...` prints each
 * name's getaddrinfo result or error; `ask TYPE NAME` sends one query to 127.0.0.53 and prints
 * the rcode and the answers; `junk` sends malformed packets, then one good query.
 */
const CLIENT = String.raw`
import socket, struct, sys, time
def query(name, qtype=1, qid=0x1234, raw=None):
    q = raw if raw is not None else b"".join(bytes([len(l)]) + l for l in name.encode().split(b".") if l) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", qtype, 1)
def exchange(packet, wait=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(wait)
    s.sendto(packet, ("127.0.0.53", 53))
    try: return s.recv(4096)
    except socket.timeout: return None
    finally: s.close()
def skip(reply, at):
    while reply[at]:
        if reply[at] & 0xc0 == 0xc0: return at + 2
        at += reply[at] + 1
    return at + 1
def show(reply):
    if reply is None: return "no reply"
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    at, answers = 12, []
    for _ in range(qd): at = skip(reply, at) + 4
    for _ in range(an):
        at = skip(reply, at)
        t, c, ttl, n = struct.unpack(">HHIH", reply[at:at + 10]); at += 10
        data = reply[at:at + n]; at += n
        answers.append(socket.inet_ntop(socket.AF_INET if t == 1 else socket.AF_INET6, data) + "/" + str(ttl))
    return "rcode=%d answers=%s size=%d" % (flags & 15, ",".join(answers), len(reply))
cmd = sys.argv[1]
if cmd == "lookup":
    for n in sys.argv[2:]:
        t = time.monotonic()
        try: print(n, "=", " ".join(sorted(set(a[4][0] for a in socket.getaddrinfo(n, 443, proto=socket.IPPROTO_TCP)))))
        except socket.gaierror as e: print(n, "error", e.args[0], "fast" if time.monotonic() - t < 4 else "slow")
elif cmd == "ask":
    print(show(exchange(query(sys.argv[3], {"A": 1, "AAAA": 28, "MX": 15, "TXT": 16}[sys.argv[2]]))))
elif cmd == "junk":
    for p in [b"", b"\x01", b"\0" * 11, b"\xff" * 12, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab",
              b"\x12\x34\x81\x80" + query("x.example")[4:],                                # a response: never answered
              query(None, raw=b"\x0dallowed.local\x00"),                                    # a label holding a dot
              query(None, raw=b"\xc0\x0c"),                                                 # a pointer to itself
              query("x" * 63 + "." + "y" * 63 + "." + "z" * 63 + "." + "w" * 61),          # 253 characters
              struct.pack(">HHHHHH", 7, 0x0100, 40, 0, 0, 0) + (b"\x01a\0\0\1\0\1" * 40),  # forty questions
              query("bad\x1b[31mname\x07.example"), query("caf\xe9.example"), query("127.0.0.1"), query("0x7f.1")]:
        r = exchange(p, 1.0)
        print("junk", len(p), "->", "no reply" if r is None else "rcode=%d" % (r[3] & 15))
    print("after", show(exchange(query("pub.nsbox.test"))))
elif cmd == "burst":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2.0)
    for i in range(int(sys.argv[2])): s.sendto(query(sys.argv[3], 1, i), ("127.0.0.53", 53))
    codes = []
    try:
        while len(codes) < int(sys.argv[2]): codes.append(s.recv(4096)[3] & 15)
    except socket.timeout: pass
    print("burst", " ".join(str(c) for c in sorted(codes)))
elif cmd == "many":
    for i in range(int(sys.argv[2])): exchange(query("n%d.flood.example" % i), 1.0)
    print("after", show(exchange(query("pub.nsbox.test"))))
`;

/** A project directory holding the client; returns the directory. */
function project(): string {
  const dir = scratchIn(made);
  writeFileSync(join(dir, "dns.py"), CLIENT);
  return dir;
}

const lines = (stderr: string, prefix: string) => stderr.split("\n").filter((l) => l.startsWith(prefix));

/** The stand-in for the host's resolver: names under nsbox.test answer what this says, others fail. */
const ANSWERS: Record<string, string[]> = {
  "pub.nsbox.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
  "loop.nsbox.test": ["127.0.0.1", "::1"],
  "mixed.nsbox.test": ["127.0.0.1", "::ffff:93.184.215.15", "169.254.169.254"],
  "wide.nsbox.test": Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`),
};
const standIn = async (name: string) => {
  if (name === "slow.nsbox.test") await Bun.sleep(300);
  const a = name === "slow.nsbox.test" ? ["192.0.2.7"] : ANSWERS[name];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  return a;
};

/**
 * A real sandbox whose resolver nsbox serves with the stand-in: the library's own plan and
 * supervisor, with `onListen` giving the resolver's socket to startResolver (the proxy's is closed).
 */
async function withStandIn(command: string[], net: string[], o: { mode?: "none" | "allow"; outstanding?: number } = {}) {
  const cwd = project();
  const options = { net } as SandboxOptions;
  const plan = buildPlan(command, options, readHost(cwd), { terminal: null });
  const events: ResolverEvent[] = [];
  const names = new NameBook();
  const rules = net.flatMap((n) => (n.startsWith("allow=") ? n.slice(6).split(",").map(parseRule) : []));
  let close = () => {};
  const file = join(cwd, ".out");
  writeFileSync(file, "");
  const out = openSync(file, "w");
  const running = start(plan, {
    forwardSignals: false,
    stdio: { stdin: -1, stdout: out, stderr: out },
    onListen: (fd, which) => {
      if (which !== "resolver") return void closeSync(fd);
      close = startResolver(fd, { mode: o.mode ?? "allow", rules, names, onEvent: (e) => void events.push(e), resolve: standIn, ownAddresses: () => [], outstanding: o.outstanding }).close;
    },
  });
  const outcome = await running.outcome;
  close();
  closeSync(out);
  const stdout = readFileSync(file, "utf8");
  return { exitCode: outcome.exitCode, stdout, events, names };
}

describe("NameBook", () => {
  test("addresses in one spelling: IPv4-mapped IPv6 as IPv4, IPv6 compressed and lower case; names lower case without the root dot", () => {
    const book = new NameBook();
    book.record("Example.COM.", ["93.184.215.14", "2606:2800:021F:CB07:6820:80DA:AF6B:8B2C"]);
    expect(book.namesOf("::ffff:93.184.215.14")).toEqual(["example.com"]);
    expect(book.namesOf("2606:2800:21f:cb07:6820:80da:af6b:8b2c")).toEqual(["example.com"]);
    expect(book.namesOf("93.184.215.15")).toEqual([]);
    expect(book.asked()).toEqual(["example.com"]);
    expect(["::ffff:7f00:1", "0:0:0:0:0:0:0:1", "fe80:0:0:0::1", "1:0:0:1:0:0:0:1"].map(normalAddress)).toEqual(["127.0.0.1", "::1", "fe80::1", "1:0:0:1::1"]);
  });

  test("bounded: a flood of names keeps at most 256 asked and 16 names an address", () => {
    const book = new NameBook();
    for (let i = 0; i < 1000; i++) book.record(`n${i}.example`, ["192.0.2.1"]);
    expect(book.asked().length).toBe(256);
    expect(book.namesOf("192.0.2.1").length).toBe(16);
    expect(book.namesOf("192.0.2.1").at(-1)).toBe("n999.example");
  });

  test("the none-mode note: the names, printable and bounded, and only real host names in the fix", () => {
    expect(offlineNote([])).toBeUndefined();
    expect(offlineNote(["a.example", "b.example"])).toBe("the network is off (--net none); the command looked up: a.example, b.example; to allow them: --net allow=a.example,b.example");
    const note = offlineNote(["bad\x1b[31m.example", ...Array.from({ length: 20 }, (_, i) => `n${i}.example`), "x".repeat(500)])!;
    expect(note).toContain("bad\\x1b[31m.example");
    expect(note).not.toContain("\x1b");
    expect(note).toContain("and 14 more");
    expect(note.length).toBeLessThan(1200);
    expect(note).toContain("--net allow=n0.example,");
  });
});

describe("/etc/resolv.conf in the plan", () => {
  const why = { what: "test" };
  /** A plan whose /etc is a scratch directory holding `resolv.conf` as `make` leaves it. */
  function planWith(make: (etc: string) => void) {
    const etc = scratchIn(made);
    make(etc);
    const b = new PlanBuilder();
    b.bind(etc, "/etc", { readOnly: true, isDir: true, why });
    resolvConfOps(b);
    return b.ops.filter((o) => o.why.what.includes("resolv.conf")).map((o) => `${o.op} ${"path" in o ? o.path : ""}${"target" in o ? o.target : ""}`);
  }

  test("a regular file is covered by the sandbox's own (nameserver 127.0.0.53)", () => {
    expect(planWith((etc) => writeFileSync(join(etc, "resolv.conf"), "nameserver 10.0.0.1\n"))).toEqual([
      "WRITE_FILE /nsbox-etc-resolv.conf", "MOUNT /newroot/etc/resolv.conf", "SETATTR /newroot/etc/resolv.conf",
    ]);
  });

  // systemd-resolved's layout: the file a root-owned symlink names is made in the sandbox's own /run and covered.
  test.skipIf(process.getuid!() !== 0)("root's symlink (../run/systemd/resolve/stub-resolv.conf) is followed to its target inside", () => {
    const ops = planWith((etc) => symlinkSync("../run/systemd/resolve/stub-resolv.conf", join(etc, "resolv.conf")));
    expect(ops).toContain("MKFILE /newroot/run/systemd/resolve/stub-resolv.conf");
    expect(ops).toContain("MOUNT /newroot/run/systemd/resolve/stub-resolv.conf");
  });

  test("a symlink someone else owns is not followed; a directory is left alone (control: the file above is covered)", () => {
    const uid = process.getuid!();
    if (uid !== 0) expect(planWith((etc) => symlinkSync("../run/stub.conf", join(etc, "resolv.conf")))).toEqual([]);
    expect(planWith((etc) => mkdirSync(join(etc, "resolv.conf")))).toEqual([]);
  });
});

describe("given --net none", () => {
  test("lookups fail at once (NXDOMAIN, not a timeout), and a failing command is told which names it looked up, once (control: a command that succeeds is told nothing)", async () => {
    const cwd = project();
    const r = await nsbox(["--net", "none", "--", "sh", "-c", "cat /etc/resolv.conf; python3 dns.py lookup a.example b.example a.example; getent hosts c.example; exit 3"], { cwd, env });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain("nameserver 127.0.0.53");
    expect(r.stdout).toContain(`a.example error ${-2} fast`);
    expect(r.stdout).toContain(`b.example error ${-2} fast`);
    expect(lines(r.stderr, "nsbox: the network is off")).toEqual([
      "nsbox: the network is off (--net none); the command looked up: a.example, b.example, c.example; to allow them: --net allow=a.example,b.example,c.example",
    ]);
    const ok = await nsbox(["--net", "none", "--", "sh", "-c", "python3 dns.py lookup a.example"], { cwd, env });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain("a.example error -2 fast");
    expect(ok.stderr).not.toContain("the network is off");
  });

  test("--net host keeps the host's /etc/resolv.conf (control for the file above)", async () => {
    const r = await nsbox(["--net", "host", "--", "cat", "/etc/resolv.conf"], { cwd: project(), env });
    expect(r.stdout).not.toContain("nameserver 127.0.0.53\n# written by nsbox");
    expect(r.stdout).not.toContain("written by nsbox");
  });
});

describe("given --net allow= (the CLI, the host's own resolver)", () => {
  test("a name not in the rules fails and is reported; localhost answers loopback only when a rule names localhost", async () => {
    const cwd = project();
    const r = await nsbox(["--net", "allow=localhost:8080", "--", "sh", "-c", "python3 dns.py lookup other.example; python3 dns.py ask A localhost; python3 dns.py ask MX localhost; python3 dns.py ask A other.example"], { cwd, env });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("other.example error -2 fast");
    expect(r.stdout).toContain("rcode=0 answers=127.0.0.1/5");
    expect(r.stdout).toContain("rcode=0 answers= "); // MX of an allowed name: no error, nothing
    expect(r.stdout).toContain("rcode=3 answers=");
    expect(lines(r.stderr, "nsbox: blocked lookup of ")).toEqual(["nsbox: blocked lookup of other.example (not in --net allow)"]);
  });
});

describe("given --net allow= and a stand-in for the host's resolver (a real sandbox, the library's supervisor)", () => {
  test("getaddrinfo of an allowed name answers the host's addresses; another fails and is reported; the name book remembers", async () => {
    const r = await withStandIn(["python3", "dns.py", "lookup", "pub.nsbox.test", "other.example"], ["allow=*.nsbox.test"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("pub.nsbox.test = 2606:2800:21f:cb07:6820:80da:af6b:8b2c 93.184.215.14");
    expect(r.stdout).toContain("other.example error -2 fast");
    // Asked twice (A and AAAA), reported each time: the session's report shows it once.
    expect(new Set(r.events.filter((e) => e.action === "block").map((e) => `${e.protocol} ${e.host} (${e.reason})`))).toEqual(new Set(["dns other.example (not in --net allow)"]));
    expect(r.names.namesOf("93.184.215.14")).toEqual(["pub.nsbox.test"]);
  });

  test("an allowed name answering loopback or the metadata address gets only the public addresses (control: a localhost rule opens loopback)", async () => {
    const script = ["python3", "dns.py", "lookup", "loop.nsbox.test", "mixed.nsbox.test"];
    const r = await withStandIn(script, ["allow=*.nsbox.test"]);
    expect(r.stdout).toContain("loop.nsbox.test error");
    expect(r.stdout).toContain("mixed.nsbox.test = 93.184.215.15");
    expect(r.events.find((e) => e.action === "block" && e.host === "loop.nsbox.test")?.reason).toBe("loop.nsbox.test resolves to the loopback address 127.0.0.1; --net allow=127.0.0.1 reaches it");
    expect(r.names.namesOf("127.0.0.1")).toEqual([]);
    const control = await withStandIn(script, ["allow=*.nsbox.test,localhost"]);
    expect(control.stdout).toContain("loop.nsbox.test = 127.0.0.1");
    expect(control.stdout).not.toContain("169.254.169.254");
  });

  test("an answer is at most 512 bytes (a name with 100 addresses answers the first that fit)", async () => {
    const r = await withStandIn(["python3", "dns.py", "ask", "A", "wide.nsbox.test"], ["allow=*.nsbox.test"]);
    const m = /rcode=0 answers=(\S*) size=(\d+)/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeLessThanOrEqual(512);
    expect(m![1]!.split(",").length).toBeGreaterThan(10);
    expect(m![1]!.split(",")[0]).toBe("198.51.100.1/5");
  });

  test("malformed packets get FORMERR or nothing, and the resolver goes on (control: the good query after them is answered)", async () => {
    const r = await withStandIn(["python3", "dns.py", "junk"], ["allow=*.nsbox.test,allowed.local"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("after rcode=0 answers=93.184.215.14/5");
    expect(r.stdout).toContain("junk 0 -> no reply");
    expect(r.stdout).toContain("junk 12 -> no reply"); // the QR bit set: a response is never answered
    expect(r.stdout).toContain("junk 15 -> rcode=1"); // a name cut short
    expect(r.events.filter((e) => e.reason === "not a host name").map((e) => e.host)).toEqual(expect.arrayContaining(["127.0.0.1", "0x7f.1", "caf\\xe9.example"]));
    expect(r.stdout).not.toMatch(/junk \d+ -> rcode=0/); // no junk is ever answered as a name
    // The payload's bytes come back printable in the report.
    const hosts = r.events.map((e) => e.host);
    expect(hosts).toContain("bad\\x1b[31mname\\x07.example");
    expect(hosts.join("")).not.toMatch(/[\x00-\x1f\x7f-\uffff]/);
    expect(r.events.filter((e) => e.host === "allowed.local")).toEqual([]);
  });

  test("at most N host lookups at once: the rest get SERVFAIL at once, reported once (control: with room for all, every one is answered)", async () => {
    const r = await withStandIn(["python3", "dns.py", "burst", "4", "slow.nsbox.test"], ["allow=*.nsbox.test"], { outstanding: 1 });
    expect(r.stdout).toContain("burst 0 2 2 2");
    expect(r.events.filter((e) => e.action === "error").map((e) => e.reason)).toEqual(["more than 1 lookups at once: those past it were answered SERVFAIL"]);
    const control = await withStandIn(["python3", "dns.py", "burst", "4", "slow.nsbox.test"], ["allow=*.nsbox.test"], { outstanding: 4 });
    expect(control.stdout).toContain("burst 0 0 0 0");
  });

  test("a flood of distinct names is answered and bounded in the name book (control: a good query after it)", async () => {
    const r = await withStandIn(["python3", "dns.py", "many", "400"], ["allow=*.nsbox.test"]);
    expect(r.stdout).toContain("after rcode=0 answers=93.184.215.14/5");
    expect(r.names.asked().length).toBeLessThanOrEqual(256);
  });
});
