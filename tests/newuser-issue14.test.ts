// A new user's first day with transparent egress (issue 14): the mistakes they make with --net,
// --allow-socket and --net-log get one line that says what to write, a name answered with a
// loopback address says which rule reaches it, and the README says what nsbox really prints.
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readHost } from "../src/host.ts";
import { NsboxError, run } from "../src/index.ts";
import { netMode } from "../src/net/mode.ts";
import { NameBook } from "../src/net/names.ts";
import { startResolver, type ResolverEvent } from "../src/net/resolver.ts";
import { parseRule } from "../src/net/rules.ts";
import type { SandboxOptions } from "../src/options.ts";
import { buildPlan } from "../src/plan/index.ts";
import { start } from "../src/supervise.ts";
import { cleanedUp, nsbox, ROOT, scratchIn, type Ran } from "./helpers.ts";

const made = cleanedUp();
const transparent = netMode(process.env.NSBOX_NET_MODE).mode === "transparent";

/** Refused by nsbox (125) with one line holding every part, and no stack trace. */
function refused(r: Ran, ...parts: string[]): void {
  expect(r.exitCode).toBe(125);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  for (const p of parts) expect(r.stderr).toContain(p);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe("a mistyped --net value says what to write", () => {
  const cases: [string, string][] = [
    ["alow=127.0.0.1:8000", "write allow=127.0.0.1:8000"],
    ["Allow=example.com", "write allow=example.com"],
    ["allwo=example.com,127.0.0.1:8000", "write allow=example.com,127.0.0.1:8000"],
    ["NONE", "write none"],
    ["nonee", "write none"],
    ["hots", "write host"],
    ["allow", "name the hosts after allow="],
  ];
  for (const [value, fix] of cases) {
    test(`--net ${value}`, async () => {
      refused(await nsbox(["--net", value, "--", "true"], { cwd: scratchIn(made) }), `--net ${value.includes("=") ? `'${value}'` : value}: must be none, host, or allow=`, fix);
    });
  }
  test("control: the values as written run, and a word far from any still gets the plain list", async () => {
    const cwd = scratchIn(made);
    expect((await nsbox(["--net", "allow=127.0.0.1:8000", "--net", "none", "--", "true"], { cwd })).exitCode).toBe(0);
    const r = await nsbox(["--net", "xyz", "--", "true"], { cwd });
    refused(r, "--net xyz: must be none, host, or allow=RULE[,RULE…]");
    expect(r.stderr).not.toContain("write");
  });
});

describe("a rule that is nearly right says how to write it", () => {
  const cases: [string, string][] = [
    [".example.com", "write *.example.com for its subdomains, or example.com for the host itself"],
    ["example.com.:443", "write example.com:443, without the final dot"],
    ["*example.com", "write *.example.com for its subdomains"],
    ["*", "'*' is not a rule: 0.0.0.0/0,::/0 allows every public address"],
  ];
  for (const [rule, fix] of cases) {
    test(`allow=${rule}`, async () => {
      refused(await nsbox(["--net", `allow=${rule}`, "--", "true"], { cwd: scratchIn(made) }), `--net 'allow=${rule}': ${fix}`);
    });
  }
  test("control: the rules as suggested run", async () => {
    expect((await nsbox(["--net", "allow=*.example.com,example.com:443,0.0.0.0/0,::/0", "--", "true"], { cwd: scratchIn(made) })).exitCode).toBe(0);
  });
});

describe("--allow-socket mistakes", () => {
  test("\"$SSH_AUTH_SOCK\" with no agent running (empty) says to start one; a missing path and a regular file say what to name", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "notes.txt"), "x");
    refused(await nsbox(["--allow-socket", "", "--", "true"], { cwd }), "--allow-socket '': needs the path of a Unix socket", 'eval "$(ssh-agent)"');
    refused(await nsbox(["--allow-socket", "./run/db.sock", "--", "true"], { cwd }), `--allow-socket ./run/db.sock: ${cwd}/run/db.sock: no such file or directory; start the program that listens there first`);
    refused(await nsbox(["--allow-socket", "notes.txt", "--", "true"], { cwd }), `${cwd}/notes.txt is a regular file, not a socket; name the Unix socket a program listens on`);
  });

  test("a socket at the project's top refuses the project, saying where to put it and how to allow it", async () => {
    const cwd = scratchIn(made);
    const server = Bun.listen({ unix: join(cwd, "db.sock"), socket: { data() {} } });
    try {
      refused(await nsbox(["--allow-socket", "db.sock", "--", "true"], { cwd }), "it holds the Unix socket db.sock", "have it listen elsewhere, as ./run/db.sock, and name that with --allow-socket");
    } finally {
      server.stop(true);
    }
  });

  test("control: a socket a host program listens on is allowed, and only with the option", async () => {
    const cwd = scratchIn(made);
    mkdirSync(join(cwd, "run"));
    const path = join(cwd, "run", "s.sock");
    const server = Bun.listen({ unix: path, socket: { open: (s) => void s.end("hi\n"), data() {} } });
    try {
      writeFileSync(join(cwd, "c.py"), "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n  s.connect('run/s.sock'); print(s.recv(10).decode().strip())\nexcept OSError as e: print('refused', e.errno)\n");
      const allowed = await nsbox(["--allow-socket", "run/s.sock", "--", "python3", "c.py"], { cwd });
      expect(allowed.stderr).toBe("");
      expect(allowed.stdout).toBe("hi\n");
      if (transparent) expect((await nsbox(["--", "python3", "c.py"], { cwd })).stdout).toBe("refused 111\n");
    } finally {
      server.stop(true);
    }
  });
});

describe("another tool's name for a network option says nsbox's", () => {
  const cases: [string[], string][] = [
    [["--allow-net=example.com"], "did you mean --net allow=example.com?"], // Deno
    [["--allow-net", "example.com"], "did you mean --net allow=example.com?"],
    [["--net-allow=127.0.0.1:8000"], "did you mean --net allow=127.0.0.1:8000?"],
    [["--no-net"], "did you mean --net none (the default)?"],
    [["--share-net"], "did you mean --net host?"], // bubblewrap
    [["--unix-socket", "./run/db.sock"], "did you mean --allow-socket ./run/db.sock?"],
    [["--allow-sockets=./a.sock"], "did you mean --allow-socket ./a.sock?"],
  ];
  for (const [args, hint] of cases) {
    test(args.join(" "), async () => {
      refused(await nsbox([...args, "--", "true"], { cwd: scratchIn(made) }), `unknown option ${args[0]!.split("=")[0]}`, hint);
    });
  }
  test("control: a typo of nsbox's own option still names it, and nsbox exec (no --net) suggests none", async () => {
    refused(await nsbox(["--nett", "none", "--", "true"], { cwd: scratchIn(made) }), "did you mean --net?");
    const r = await nsbox(["exec", "--allow-net", "x", "y"], { cwd: scratchIn(made) });
    refused(r, "unknown option --allow-net");
    expect(r.stderr).not.toContain("did you mean");
  });
});

describe("--net-log where nothing would be logged says why, for each way it is given", () => {
  test("--net none (the default) and --net host (control: with allow= the log is written)", async () => {
    const cwd = scratchIn(made);
    const log = join(cwd, "n.jsonl");
    const none = await nsbox(["--net-log", log, "--", "true"], { cwd });
    refused(none, "the network is none, the default", "with none, what was blocked is said at exit instead");
    expect(none.stderr).not.toContain("only nsbox's proxy");
    refused(await nsbox(["--net", "host", "--net-log", log, "--", "true"], { cwd }), "with the host's network nsbox decides nothing");
    expect((await nsbox(["--net", "allow=127.0.0.1:9", "--net-log", log, "--", "true"], { cwd })).exitCode).toBe(0);
    expect(readFileSync(log, "utf8")).toBe("");
  });

  test("the library names its own keys", async () => {
    const e = await run(["true"], { cwd: scratchIn(made), netLog: "/tmp/x.jsonl" }).then(() => undefined, (x) => x);
    expect(e).toBeInstanceOf(NsboxError);
    expect(e.message).toContain('nothing would be logged without `net: "allow=…"`');
    expect(e.message).toContain("with none, what was blocked is said at exit instead");
  });
});

describe("a name that resolves into the machine says which rule reaches it", () => {
  /** A real sandbox whose resolver nsbox serves, with the host's resolver replaced by `answers`. */
  async function lookup(name: string, net: string, answers: Record<string, string[]>) {
    const cwd = scratchIn(made);
    const plan = buildPlan(["getent", "ahosts", name], { net: [net] } as SandboxOptions, readHost(cwd), { terminal: null });
    const events: ResolverEvent[] = [];
    const rules = net.slice(6).split(",").map(parseRule);
    let close = () => {};
    const file = join(cwd, ".out");
    writeFileSync(file, "");
    const out = openSync(file, "w");
    const running = start(plan, {
      forwardSignals: false,
      stdio: { stdin: -1, stdout: out, stderr: out },
      onListen: (fd, which) => {
        if (which !== "resolver") return void closeSync(fd);
        const resolve = async (n: string) => answers[n] ?? Promise.reject(new Error(`ENOTFOUND ${n}`));
        close = startResolver(fd, { mode: "allow", rules, names: new NameBook(), onEvent: (e) => void events.push(e), resolve, ownAddresses: () => [] }).close;
      },
    });
    const outcome = await running.outcome;
    close();
    closeSync(out);
    return { exitCode: outcome.exitCode, stdout: readFileSync(file, "utf8"), reasons: events.filter((e) => e.action === "block").map((e) => e.reason) };
  }
  const answers = { "db.nsbox.test": ["127.0.0.1"], "v6.nsbox.test": ["::1"] };

  test("with the port of the name's rule (control: with that rule added, the name is answered)", async () => {
    const r = await lookup("db.nsbox.test", "allow=db.nsbox.test:8000", answers);
    expect(r.exitCode).toBe(2);
    expect(r.reasons[0]).toBe("db.nsbox.test resolves to the loopback address 127.0.0.1; --net allow=127.0.0.1:8000 reaches it");
    const control = await lookup("db.nsbox.test", "allow=db.nsbox.test:8000,127.0.0.1:8000", answers);
    expect(control).toMatchObject({ exitCode: 0, reasons: [] });
    expect(control.stdout).toContain("127.0.0.1");
  });

  test("*.domain for the domain itself says it matches subdomains only (control: a subdomain is answered)", async () => {
    const apex = await lookup("nsbox.test", "allow=*.nsbox.test", { "nsbox.test": ["192.0.2.9"], "www.nsbox.test": ["192.0.2.9"] });
    expect(apex.exitCode).toBe(2);
    expect(apex.reasons[0]).toBe("not in --net allow; *.nsbox.test matches its subdomains only: add nsbox.test");
    const control = await lookup("www.nsbox.test", "allow=*.nsbox.test", { "www.nsbox.test": ["192.0.2.9"] });
    expect(control).toMatchObject({ exitCode: 0, reasons: [] });
  });

  test("an IPv6 address in brackets with a port, bare without one", async () => {
    const withPort = await lookup("v6.nsbox.test", "allow=v6.nsbox.test:5432", answers);
    expect(withPort.reasons.find((r) => r?.includes("::1"))).toBe("v6.nsbox.test resolves to the loopback address ::1; --net allow=[::1]:5432 reaches it");
    const any = await lookup("db.nsbox.test", "allow=*.nsbox.test", answers);
    expect(any.reasons[0]).toEndWith("; --net allow=127.0.0.1 reaches it");
  });
});

describe.skipIf(!transparent)("the end-of-run report of a program that tries ::1 before 127.0.0.1", () => {
  const CLIENT = "import socket, sys\nfamily = {'4': socket.AF_INET, '6': socket.AF_INET6, 'any': None}[sys.argv[1]]\n" +
    "try:\n  s = socket.create_connection((sys.argv[2], int(sys.argv[3]))) if family is None else socket.socket(family)\n  family is None or s.connect((sys.argv[2], int(sys.argv[3])))\n  print('connected', s.getpeername()[0])\nexcept OSError as e: print('refused', e.errno)\n";
  const blocked = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("nsbox: blocked"));

  test("got through on IPv4: no 'nothing listens' line for ::1 (control: ::1 alone is reported, in brackets)", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
    try {
      const cwd = scratchIn(made);
      writeFileSync(join(cwd, "c.py"), CLIENT);
      const allow = ["--net", `allow=127.0.0.1:${server.port}`];
      const both = await nsbox([...allow, "--", "python3", "c.py", "any", "localhost", String(server.port)], { cwd });
      expect(both.stdout).toBe("connected 127.0.0.1\n");
      expect(blocked(both.stderr)).toEqual([]);
      const v6 = await nsbox([...allow, "--", "python3", "c.py", "6", "::1", String(server.port)], { cwd });
      expect(v6.stdout).toBe("refused 111\n");
      expect(blocked(v6.stderr)).toEqual([`nsbox: blocked connect to [::1]:${server.port} (not in --net allow; nothing listens on the sandbox's own loopback at port ${server.port})`]);
    } finally {
      server.stop(true);
    }
  });
});

describe("the README's Network section says what nsbox prints", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8").replace(/\s+/g, " ");

  test.skipIf(!transparent)("blocked connect, lookup and UDP with --net allow=, and --net none's connect and note", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "tcp.py"), "import socket\ntry: socket.create_connection(('10.1.2.3', 80))\nexcept OSError as e: print(e)\n");
    writeFileSync(join(cwd, "udp.py"), "import socket\ntry: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.0.0.1', 53))\nexcept OSError as e: print(e)\n");
    const script = [
      "getent hosts evil.example",
      "python3 tcp.py",
      "python3 udp.py",
    ].join("; ");
    const allow = await nsbox(["--net", "allow=example.com,127.0.0.1:8000", "--", "sh", "-c", script], { cwd });
    const lines = allow.stderr.trim().split("\n").map((l) => l.replace(/^nsbox: /, ""));
    expect(lines.sort()).toEqual([
      "blocked UDP to 10.0.0.1:53 (UDP goes only to the sandbox's own loopback and its resolver)",
      "blocked connect to 10.1.2.3:80 (not in --net allow)",
      "blocked lookup of evil.example (not in --net allow)",
    ]);
    for (const l of lines) expect(readme).toContain(l);

    const none = await nsbox(["--", "sh", "-c", "getent hosts example.com; python3 tcp.py; exit 1"], { cwd });
    const noneLines = none.stderr.trim().split("\n").map((l) => l.replace(/^nsbox: /, ""));
    expect(noneLines).toEqual(["blocked connect to 10.1.2.3:80 (the network is off (--net none))", "the network is off (--net none); the command looked up: example.com; to allow it: --net allow=example.com"]);
    for (const l of noneLines) expect(readme).toContain(l);
    // The mode as doctor and --verbose say it.
    expect(readme).toContain("`✓ network: transparent`");
    expect((await nsbox(["doctor"], { cwd })).stdout).toContain("✓ network: transparent: with --net none and --net allow=, nsbox decides every program's connections and lookups");
    expect((await nsbox(["--verbose", "--", "true"], { cwd })).stderr).toContain("nsbox: network: transparent");
  });

  test("--help says allow= is for every program, not only through the proxy", async () => {
    const r = await nsbox(["--help"], { cwd: scratchIn(made), env: { ...process.env, COLUMNS: "200" } });
    expect(r.stdout.replace(/\s+/g, " ")).toContain("@registries: only those, for every program");
    expect(r.stdout).not.toContain("through nsbox's proxy");
  });
});
