// Junk through every door (issue 12): generated wrong types, unknown keys, odd strings and odd
// paths through the command line, nsbox.json and the library. nsbox either accepts (and the
// sandbox stays as closed as the default one) or refuses with ONE line naming the origin; never a
// stack trace, an internal error, a hang, a fail-open, or anything new on the host.
//
// Every case of a channel is run and judged; the failures are collected by class and reported
// together with the seed, so that one run shows every kind of break, not only the first.
//   NSBOX_JUNK_SEED=N   another seed (the default is fixed: CI sees the same cases every time)
//   NSBOX_JUNK_RUNS=K   K times the generated cases, for a longer hunt
//   NSBOX_JUNK_SHRINK=1 stop at the first failure and let fast-check shrink it
//   NSBOX_JUNK_TRACE=1  print every case as it is judged, with its time
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import fc from "fast-check";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { NsboxError, run } from "../src/index.ts";
import { NSBOX, ROOT as CHECKOUT } from "./helpers.ts";

setDefaultTimeout(120_000);

const SEED = Number(process.env.NSBOX_JUNK_SEED ?? 12012);
const SCALE = Number(process.env.NSBOX_JUNK_RUNS ?? 1);
const SHRINK = process.env.NSBOX_JUNK_SHRINK === "1";
/** A case still running after this is a hang (generous: two shared cores, a real sandbox start). */
const HANG_MS = 8_000;

// ---------------------------------------------------------------------------------------------
// The fixture: a project with odd things in it, a home and XDG directories of its own.

let BASE = "";
const P = () => join(BASE, "proj");
const HOME = () => join(BASE, "home");
const XDG = () => ({
  XDG_CONFIG_HOME: join(BASE, "xdg/config"),
  XDG_STATE_HOME: join(BASE, "xdg/state"),
  XDG_CACHE_HOME: join(BASE, "xdg/cache"),
  XDG_DATA_HOME: join(BASE, "xdg/data"),
  XDG_RUNTIME_DIR: join(BASE, "xdg/runtime"),
});
const ENV = () => ({ PATH: process.env.PATH, LANG: "C.UTF-8", HOME: HOME(), ...XDG(), BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" });

beforeAll(() => {
  BASE = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-junk-")));
  MARKS = mkdtempSync(join(tmpdir(), "nsbox-junk-marks-"));
  for (const d of ["proj/d/e", "home/.ssh", "xdg/config", "xdg/state", "xdg/cache", "xdg/data", "xdg/runtime"]) mkdirSync(join(BASE, d), { recursive: true });
  chmodSync(join(BASE, "xdg/runtime"), 0o700);
  writeFileSync(join(P(), "f"), "f\n");
  writeFileSync(join(HOME(), ".ssh/id_rsa"), "NSBOX-JUNK-SECRET\n");
  Bun.spawnSync(["mkfifo", join(P(), "fifo")]);
  symlinkSync("f", join(P(), "link-f"));
  symlinkSync("d", join(P(), "link-d"));
  symlinkSync("/", join(P(), "link-root"));
  symlinkSync("missing", join(P(), "dangling"));
});
afterAll(() => {
  Bun.spawnSync(["chmod", "-R", "u+rwx", BASE], { stderr: "ignore" });
  rmSync(BASE, { recursive: true, force: true });
  rmSync(MARKS, { recursive: true, force: true });
});

/** Every path below the places nsbox must leave alone (links not followed), with its type. */
function snapshot(): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      let type = "?";
      try {
        const st = lstatSync(path);
        type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFIFO() ? "p" : st.isFile() ? "f" : "o";
      } catch {}
      seen.set(path, type);
      if (type === "d" && depth < 6) walk(path, depth + 1);
    }
  };
  walk(BASE, 0);
  return seen;
}

/** What appeared (or changed type) between two snapshots, less what the case asked for by name. */
function appeared(before: Map<string, string>, after: Map<string, string>, allowed: string[]): string[] {
  const ok = (p: string) => allowed.some((a) => a === p || a.startsWith(`${p}/`)) || p === join(XDG().XDG_RUNTIME_DIR, "nsbox");
  return [...after].filter(([p, t]) => before.get(p) !== t && !ok(p)).map(([p, t]) => `${t} ${p.slice(BASE.length + 1)}`);
}

/**
 * A FIFO blocks its reader until a writer comes. Before a case that names it, a writer is started
 * that opens it after a pause and says so: if it could open it while the case ran, nsbox was
 * reading the FIFO (the payload never does), which without the writer is a hang forever.
 */
function fifoWatch(fifo: string | undefined): { stop(): Promise<boolean> } {
  if (!fifo) return { stop: async () => false };
  // The writer leaves a mark once it could open the FIFO; its output is never waited for (a
  // sleep it started may outlive it by two seconds, holding any pipe).
  const mark = join(MARKS, `opened-${++marks}`);
  const proc = Bun.spawn(["sh", "-c", `sleep 2 </dev/null >/dev/null 2>&1; exec 3>'${fifo}'; : > '${mark}'`], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  return {
    async stop() {
      proc.kill(9);
      await proc.exited;
      return existsSync(mark);
    },
  };
}
let MARKS = "";
let marks = 0;

// ---------------------------------------------------------------------------------------------
// What the sandbox is like inside: the facts a fail-open would change.

// Shell builtins and absolute paths only: a junk PATH must not look like a loosening.
const PROBE = [
  'while read -r l; do case "$l" in CapEff*|NoNewPrivs*|Seccomp:*) echo "$l";; esac; done < /proc/self/status',
  "kill -0 1 2>/dev/null && echo landlock=off || echo landlock=on",
  'n=0; while read -r l; do n=$((n+1)); done < /proc/net/dev; echo "netdev=$n"',
  "/usr/bin/unshare -U /bin/true 2>/dev/null && echo nested=yes || echo nested=no",
].join("; ");
/** With a timeout in the case: long enough for a timer that fires at once (an overflow) to show. */
const SLOW_PROBE = `${PROBE}; /bin/sleep 0.3`;
let BASELINE = "";

// ---------------------------------------------------------------------------------------------
// Junk.

const FIFO = "./fifo";
const ODD = [
  "", " ", "  x ", ":", "=", ",", "::", "a:b:c", "a=b", "\n", "a\nb", "\t", "\x01\x1b[31mred", "\x7f", "\uFEFFx", "x".repeat(70),
  "é日本🙂", "\u202eevil", "..", ".", "./", "~", "~/", "~root", "~nosuchuser/x", "-", "-x", "--ro", "x".repeat(5000), "%s%n",
  "$HOME", "$(id)", "'", '"', "\\", "*", "/", "//", "/..", "0", "-1", "1e400", "NaN", "2147483648", "99999999999999999999",
];
const PATHS = [
  FIFO, "/dev/zero", "/dev/urandom", "/dev/null", "/dev/full", "./link-f", "./link-d", "./link-root", "./dangling", "./d", "./f",
  "./missing", ".", "..", "./", "~", "~root", "~nosuchuser", "/", "/proc/self/root", "/nonexistent/x", "d/../..", "d/e/../../..",
];
/** Infinite or blocking files: in the library they are tried from a child process (a synchronous read would freeze this one). */
const ENDLESS = new Set(["/dev/zero", "/dev/urandom"]);

const oneOf = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const oddString = oneOf(ODD);
const path = fc.oneof({ weight: 3, arbitrary: oneOf(PATHS) }, { weight: 1, arbitrary: oddString });
const pair = fc.oneof(fc.tuple(path, path).map(([a, b]) => `${a}:${b}`), oddString);

/** Values for one option, by what it takes; valid loosenings (net host, landlock off, …) are never generated. */
const byKind = {
  id: oneOf(["-1", "1e3", "0x10", "4294967295", "4294967296", "2147483648", "99999999999999999999", "1.5", "+1", " 1", "", "NaN", "Infinity"]),
  hostname: fc.oneof(oddString, oneOf(["x".repeat(64), "x".repeat(63), "a..b", "-a", "a-", "a_b", `${"a".repeat(63)}.${"b".repeat(63)}`])),
  propagation: oneOf(["shared", "rslave", "Private", "", "private ", "slave\n"]),
  env: oneOf(["=x", "A", "1A=x", "A B=x", "A=\n", "A=x\x01", "PATH=", `A=${"x".repeat(5000)}`, "é=1", "A-B=1", "=", "", "__proto__=1", "constructor=x"]),
  envName: oneOf(["", "1A", "A B", "A=B", "é", "*", "__proto__"]),
  path,
  pair,
  tmpfs: fc.oneof(
    path.map((p) => `${p}:size=1m`),
    oneOf([":size=1m", "/x:size=0", "/x:size=-1", "/x:size=1e400", "/x:mode=9999", "/x:mode=", "/x:nr_inodes=0", "/x:bogus", "/x:size=1m,,", "/x:size=99999999999999999999", "/x:size=100%%"]),
    path,
  ),
  dir: fc.oneof(path, path.map((p) => `${p}:999`), oneOf(["/x:", "/x:7777", "/x:-1", "/x:0x1ff"])),
  file: fc.oneof(path.map((p) => `/x:${p}`), pair),
  cap: oneOf(["CAP_BOGUS", "", "CAP_", "ALL ", "CAP_NET_RAW,CAP_SYS_ADMIN", " CAP_NET_RAW", "CAP_NET_RAW\n", "all-the-caps"]),
  seccomp: fc.oneof(path, oneOf(["", "yes", "off", "None", "Default", "default ", "0"])),
  landlock: oneOf(["yes", "no", "true", "false", "1", "0", "ON", "Off", "", " on", "on ", "onn"]),
  rlimit: oneOf(["nofile=3", "nofile=-1", "nofile=1e400", "bogus=1", "nofile=1:0", "nofile=99999999999999999999", "nofile", "=1", "nofile=", "nofile=10:5", "nofile=1k", "__proto__=1"]),
  duration: oneOf(["597h", "0.4ms", "0.5ms", "1e400", "-1", "0", "0s", "1.5.5s", "2147483648ms", "2147483647ms", "25d", "1h30m", "5 s", "5S", "Infinity", "ms", "1e3s", "9007199254740993"]),
  net: oneOf([
    "allow=example.com:99999", "allow=[1:::2]", "allow=[1:::2]:80", "allow=", "allow=,", "allow=@nope", "allow=10.0.0.0/33", "allow=example.com:0",
    "allow=example.com:-1", "allow=https://example.com/", "allow=a..b", `allow=${"a".repeat(300)}.com`, "host ", "Host", "none,host", "allow", "deny=x",
    "allow=example.com:80:90", "", "none\n",
  ]),
  netLog: fc.oneof(path, oneOf(["./new-log"])),
  size: oneOf(["512m", "-1", "0", "1e400", "abc", "1.5g", "99999999999999999999", "512 m"]),
  name: oneOf(["", "a/b", "..", ".", "-x", "x".repeat(70), "UPPER", "a b", "é", "a\nb"]),
  profile: oneOf(["", "nope", "__proto__", "constructor", "toString", "../x", "default ", "TEST", "hasOwnProperty"]),
};
type Kind = keyof typeof byKind;

/** Every sandbox option by its command-line name (the public interface), with what it takes. */
const CLI_OPTIONS: Record<string, Kind | "bool"> = {
  uid: "id", gid: "id", hostname: "hostname", propagation: "propagation", env: "env", "keep-env": "envName", "clear-env": "bool", chdir: "path",
  "no-cwd": "bool", ro: "path", "ro-try": "path", rw: "path", "rw-try": "path", bind: "pair", "bind-try": "pair", "ro-bind": "pair", "ro-bind-try": "pair",
  "dev-bind": "pair", "dev-bind-try": "pair", hide: "path", "hide-try": "path", tmpfs: "tmpfs", dir: "dir", file: "file", symlink: "pair", overlay: "path",
  "overlay-try": "path", "cap-add": "cap", "cap-drop": "cap", seccomp: "seccomp", "allow-nested": "bool", landlock: "landlock", "home-tools": "landlock", rlimit: "rlimit",
  timeout: "duration", net: "net", "net-log": "netLog", memory: "size", pids: "size", name: "name", verbose: "bool", profile: "profile",
};
/** Not options, but near them: misspellings, Object's own members, negations a parser might invent. */
const NEAR_MISS_FLAGS = [
  "--timeOut", "--Ro", "--ro_try", "--read-only", "--__proto__", "--constructor", "--toString", "--valueOf", "--hasOwnProperty", "---ro",
  "--no-landlock", "--no-seccomp", "--no-allow-nested", "--no-no-cwd", "--no-net", "--allow_nested", "--net-host", "-x", "-r", "--ro-bind-try-try",
  "--env-file", "-vv", "-pv", "--dryrun",
];
const BOOL_VALUES = ["false", "0", "no", "yes", "true", "", "off"];

/** One command-line option as typed: its tokens, and the name the refusal must mention. */
type Flag = { tokens: string[]; names: string[] };
const SHORT: Record<string, string> = { p: "--profile", v: "--verbose", V: "--version", h: "--help" };
const cliFlag: fc.Arbitrary<Flag> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Object.keys(CLI_OPTIONS)).chain((name) => {
    const kind = CLI_OPTIONS[name]!;
    const names = name === "profile" ? ["--profile", "-p"] : [`--${name}`];
    if (kind === "bool") {
      // A bare flag is a valid choice (but --allow-nested loosens: never bare); a value is junk.
      return fc.oneof(oneOf(BOOL_VALUES).map((v): Flag => ({ tokens: [`--${name}=${v}`], names })),
        fc.constant<Flag>(name === "allow-nested" ? { tokens: [`--${name}=false`], names } : { tokens: [`--${name}`], names }));
    }
    return fc.tuple(byKind[kind] as fc.Arbitrary<string>, fc.boolean()).map(([v, eq]): Flag => ({ tokens: eq ? [`--${name}=${v}`] : [`--${name}`, v], names }));
  }) },
  // A cluster of short options (-pv is -p v) is named by its option as typed (-p) or its long name.
  { weight: 1, arbitrary: fc.tuple(oneOf(NEAR_MISS_FLAGS), fc.option(oddString, { nil: undefined })).map(([f, v]) => ({ tokens: v === undefined ? [f] : [f, v], names: [f, ...(SHORT[f[1]!] && f[0] === "-" && f[1] !== "-" ? [SHORT[f[1]!]!, f.slice(0, 2)] : [])] })) },
);
const cliCase = fc.array(cliFlag, { minLength: 1, maxLength: 3 });

// ---------------------------------------------------------------------------------------------
// Judging.

type Failure = { cls: string; detail: string; repro: string };
const STACK = /^\s+at .*(\.ts|\.js|native|<anonymous>)/m;

/** Failures of one run of the CLI; `origins` are the names one of which a refusal must mention. */
function judgeCli(r: { exitCode: number | null; stdout: string; stderr: string; hung: boolean; fifoRead: boolean }, origins: string[], o: {
  dryRun: boolean; mustRefuse?: string; file?: string; created: string[]; input: string;
}): { cls: string; detail: string }[] {
  const out: { cls: string; detail: string }[] = [];
  const said = r.stderr.trimEnd();
  // A newline or an escape sequence from the input, printed as it is, forges lines and colours of nsbox's own.
  const raw = [...new Set(o.input.match(/[\n\r\x1b\x01\x7f\u202e\u0085]/g) ?? [])].filter((c) => said.includes(c));
  if (raw.length) out.push({ cls: "a control character from the input printed raw", detail: `${raw.map((c) => JSON.stringify(c)).join(" ")} in ${JSON.stringify(said.slice(0, 200))}` });
  if (r.hung) out.push({ cls: "hang", detail: `no exit after ${HANG_MS / 1000}s` });
  else if (r.fifoRead) out.push({ cls: "hang", detail: "read a FIFO (blocks until a writer comes; here a writer was provided after 2s)" });
  if (STACK.test(r.stderr)) out.push({ cls: "stack trace", detail: said.split("\n").slice(0, 3).join(" | ") });
  if (/internal error/i.test(r.stderr)) out.push({ cls: "internal error", detail: said.split("\n")[0]! });
  if (/\(node:\d+\)|Warning: /.test(r.stderr)) out.push({ cls: "a runtime warning on stderr", detail: said.split("\n").find((l) => /Warning/.test(l))! });
  for (const c of o.created) out.push({ cls: "created on the host", detail: c });
  if (r.hung) return out;
  if (r.exitCode === 125) {
    // Warnings before the refusal (a config file ignored, say) are lines of their own.
    const lines = said.split("\n").filter((l, i, all) => i === all.length - 1 || !/ is ignored: |warning/i.test(l));
    const untrusted = lines[0]!.includes("is not trusted");
    if (!lines[0]!.startsWith("nsbox: ")) out.push({ cls: "refusal not worded 'nsbox: …'", detail: JSON.stringify(said.slice(0, 200)) });
    // The message and the fix (NsboxError's hint) on one line: nothing more.
    else if (lines.length > 1 && !untrusted && !raw.length) out.push({ cls: "refusal on more than one line", detail: JSON.stringify(said.slice(0, 300)) });
    if (lines[0] === "nsbox:" || said === "") out.push({ cls: "refusal without a message", detail: JSON.stringify(said) });
    else if (o.file && !said.includes(o.file)) out.push({ cls: "refusal does not name the file", detail: lines[0]! });
    else if (!origins.some((n) => said.includes(n))) out.push({ cls: "refusal does not name the origin", detail: `${lines[0]}  (expected one of ${origins.join(" ")})` });
    if (r.stdout !== "") out.push({ cls: "output on stdout with a refusal", detail: r.stdout.slice(0, 100) });
  } else if (r.exitCode === 0) {
    if (o.mustRefuse) out.push({ cls: "accepted silently", detail: o.mustRefuse });
    if (o.dryRun) {
      let plan: { namespaces?: string[]; steps?: { op: string; what?: string }[] } | undefined;
      try {
        plan = JSON.parse(r.stdout);
      } catch {
        out.push({ cls: "--dry-run --json not JSON", detail: r.stdout.slice(0, 100) });
      }
      const ops = (plan?.steps ?? []).map((s) => s.op.toLowerCase());
      const open = [
        !plan?.namespaces?.includes("net") && "no network namespace",
        !ops.includes("landlock") && "no landlock",
        !ops.includes("seccomp") && "no seccomp",
        !ops.includes("no_new_privs") && "no no_new_privs",
        !(plan?.steps ?? []).some((s) => s.op.toLowerCase() === "drop_caps" && s.what === "drop every capability") && "capabilities kept",
      ].filter(Boolean);
      if (plan && open.length) out.push({ cls: "fail-open", detail: open.join(", ") });
    } else if (r.stdout !== BASELINE) {
      out.push({ cls: r.stdout === "" ? "accepted, but the payload did not run" : "fail-open", detail: `inside: ${JSON.stringify(r.stdout)} (default: ${JSON.stringify(BASELINE)}); ${said.split("\n")[0]}` });
    }
  } else if ((r.exitCode === 126 || r.exitCode === 127) && /^nsbox: .*(not found|executable)/.test(said.split("\n").at(-1)!)) {
    // The payload not found or not executable (a --tmpfs or --hide over /bin, or junk after a switch
    // taken as the command): a user's choice, reported as such in its last line (-v prints steps before).
  } else {
    out.push({ cls: `exit ${r.exitCode} (neither 0 nor 125)`, detail: said.split("\n").slice(0, 2).join(" | ").slice(0, 300) });
  }
  return out;
}

/** Failures by class: the shortest reproduction of each, and how many cases hit it. */
class Findings {
  readonly byClass = new Map<string, { count: number; shortest: Failure[] }>();
  cases = 0;
  private last = Date.now();
  constructor(readonly channel: string) {}
  add(found: { cls: string; detail: string }[], repro: string): void {
    this.cases++;
    if (process.env.NSBOX_JUNK_TRACE) console.error(`${found.length ? "FAIL" : "ok  "} ${Date.now() - this.last}ms ${repro.slice(0, 150)}`);
    this.last = Date.now();
    for (const f of found) {
      const seen = this.byClass.get(f.cls) ?? { count: 0, shortest: [] };
      this.byClass.set(f.cls, seen);
      seen.count++;
      // The three shortest reproductions of each class.
      seen.shortest = [...seen.shortest, { ...f, repro }].sort((a, b) => a.repro.length - b.repro.length).slice(0, 3);
    }
    if (SHRINK && found.length) throw new Error(`${found.map((f) => `${f.cls}: ${f.detail}`).join("; ")}\n  ${repro}`);
  }
  report(): string {
    const lines = [...this.byClass].map(([cls, { count, shortest }]) => `  [${cls}] ×${count}${shortest.map((f) => `\n    ${f.repro}\n      → ${f.detail}`).join("")}`);
    return `${this.channel}: ${this.byClass.size} failure classes in ${this.cases} cases (seed ${SEED}; NSBOX_JUNK_SEED=${SEED} to replay)\n${lines.join("\n")}`;
  }
  check(): void {
    if (this.byClass.size) console.error(this.report());
    expect(this.byClass.size === 0 ? "" : this.report()).toBe("");
  }
}

/** Run a property over the fixed `examples` and `runs` generated cases (fast-check counts the examples in numRuns), every case judged. */
async function property<T>(arb: fc.Arbitrary<T>, runs: number, examples: T[], each: (c: T) => Promise<void>): Promise<void> {
  await fc.assert(fc.asyncProperty(arb, async (c) => {
    await each(c);
    return true;
  }), { seed: SEED, numRuns: examples.length + Math.max(1, Math.round(runs * SCALE)), examples: examples.map((e) => [e] as [T]), endOnFailure: true, verbose: true });
}

const shq = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `$'${[...s].map((c) => (c === "'" ? "\\'" : c === "\\" ? "\\\\" : c >= " " && c !== "\x7f" ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)).join("")}'`);
const shown = (tokens: string[]) => tokens.map((t) => (t.length > 80 ? shq(t.slice(0, 20)) + `…(${t.length} chars)` : shq(t))).join(" ");

/** Run `nsbox args` in the project with the fixture's environment, killed after HANG_MS. */
async function nsboxIn(args: string[], fifo = args.some((a) => a.includes("fifo")) ? join(P(), "fifo") : undefined) {
  const watch = fifoWatch(fifo);
  const proc = Bun.spawn([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, ...args], { cwd: P(), env: ENV(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill(9);
  }, HANG_MS);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { stdout, stderr, exitCode, hung, fifoRead: await watch.stop() };
}

/** Paths a case asks nsbox to create: --net-log's file, an overlay's upper and work directories. */
function askedFor(tokens: string[]): string[] {
  const asked: string[] = [];
  tokens.forEach((t, i) => {
    const [flag, inline] = t.startsWith("--") && t.includes("=") ? [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)] : [t, tokens[i + 1] ?? ""];
    if (flag === "--net-log") asked.push(resolve(P(), inline));
    if (flag.startsWith("--overlay") && inline.includes(":")) {
      const upper = resolve(P(), inline.slice(inline.indexOf(":") + 1));
      asked.push(upper, join(resolve(upper, ".."), `.${upper.split("/").pop()}.nsbox-work`));
    }
  });
  return asked;
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  const r = await nsboxIn(["--", "/bin/sh", "-c", PROBE]);
  BASELINE = r.stdout;
});

describe("the probe (the control every fail-open check leans on)", () => {
  it("sees the default sandbox closed, and sees each loosening", async () => {
    expect(BASELINE).toContain("Seccomp:\t2");
    expect(BASELINE).toContain("nested=no");
    for (const loosen of [["--seccomp", "none"], ["--cap-add", "CAP_NET_RAW"], ["--net", "host"], ["--allow-nested"]]) {
      const r = await nsboxIn([...loosen, "--", "/bin/sh", "-c", PROBE]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).not.toBe(BASELINE);
    }
    // Landlock's signal scoping shows only on kernels that have it: then --landlock off must show too.
    if (BASELINE.includes("landlock=on")) expect((await nsboxIn(["--landlock", "off", "--", "/bin/sh", "-c", PROBE])).stdout).toContain("landlock=off");
  });

  it("the FIFO watch sees a reader of the FIFO (cat), and no reader when none came", async () => {
    const fifo = join(P(), "fifo");
    const read = fifoWatch(fifo);
    expect(Bun.spawnSync(["cat", fifo]).exitCode).toBe(0);
    expect(await read.stop()).toBe(true);
    const none = fifoWatch(fifo);
    expect(await none.stop()).toBe(false);
  });
});

describe("junk on the command line", () => {
  /** Examples from the issue, each a must-refuse or a must-not-break. */
  const examples: Flag[][] = [
    [{ tokens: ["--timeout", "597h"], names: ["--timeout"] }],
    [{ tokens: ["--timeout", "0.4ms"], names: ["--timeout"] }],
    [{ tokens: ["--chdir", ""], names: ["--chdir"] }],
    [{ tokens: ["--tmpfs", ":size=1m"], names: ["--tmpfs"] }],
    [{ tokens: ["--hide", "."], names: ["--hide"] }],
    [{ tokens: ["--rlimit", "nofile=3"], names: ["--rlimit"] }],
    [{ tokens: ["--net", "allow=example.com:99999"], names: ["--net"] }],
    [{ tokens: ["--net-log", "./new-log"], names: ["--net-log"] }],
    [{ tokens: ["--net-log", "/dev/full"], names: ["--net-log"] }, { tokens: ["--net", "allow=example.com"], names: ["--net"] }],
    [{ tokens: ["--seccomp", FIFO], names: ["--seccomp"] }],
    [{ tokens: ["--hostname", "x".repeat(64)], names: ["--hostname"] }],
    [{ tokens: ["--ro", "/dev/stdin"], names: ["--ro"] }],
    [{ tokens: ["--profile", "__proto__"], names: ["--profile", "-p"] }],
    [{ tokens: ["--allow-nested=false"], names: ["--allow-nested"] }],
    // Found by this test: a newline in the value printed raw.
    [{ tokens: ["--propagation", "slave\n"], names: ["--propagation"] }],
    [{ tokens: ["--ro-bind", "\n"], names: ["--ro-bind"] }],
  ];
  /** Accepting these is a failure by itself (the issue's "accepted silently"). */
  const MUST_REFUSE: [RegExp, string][] = [
    [/^--chdir(=| )$/, "--chdir ''"], [/^--tmpfs(=| ):/, "an empty tmpfs path"], [/^--hide(=| )\.\/?$/, "--hide ."],
    [/^--timeout(=| )0\.[0-4]\d*ms$/, "a timeout that rounds to 0"], [/^--net-log/, "--net-log without allow="],
  ];
  const mustRefuse = (flags: Flag[], dryRun: boolean) => {
    const typed = flags.map((f) => (f.tokens.length === 2 ? `${f.tokens[0]} ${f.tokens[1]}` : f.tokens[0]!));
    for (const [re, why] of MUST_REFUSE) {
      if (re.source.includes("net-log") && flags.some((f) => f.tokens.join("=").includes("allow="))) continue;
      if (typed.some((t) => re.test(t))) return why;
    }
    return undefined;
  };

  it("--dry-run --json: refused in one line naming the option, or a plan as closed as the default", async () => {
    const found = new Findings("CLI --dry-run");
    await property(cliCase, 30, examples, async (flags) => {
      const tokens = flags.flatMap((f) => f.tokens);
      const before = snapshot();
      const r = await nsboxIn(["--dry-run", "--json", ...tokens, "--", "true"]);
      const created = appeared(before, snapshot(), []);
      found.add(judgeCli(r, flags.flatMap((f) => f.names), { dryRun: true, mustRefuse: mustRefuse(flags, true), created, input: tokens.join(" ") }), `nsbox --dry-run --json ${shown(tokens)} -- true`);
    });
    found.check();
  });

  it("real starts: refused in one line, or the payload runs in a sandbox as closed as the default and nothing appears on the host", async () => {
    const found = new Findings("CLI real start");
    const real = fc.array(cliFlag, { minLength: 1, maxLength: 2 });
    const more: Flag[][] = [...examples, [{ tokens: ["--json"], names: ["--json"] }]];
    await property(real, 10, more, async (flags) => {
      const tokens = flags.flatMap((f) => f.tokens);
      const before = snapshot();
      const r = await nsboxIn([...tokens, "--", "/bin/sh", "-c", tokens.some((t) => t.startsWith("--timeout")) ? SLOW_PROBE : PROBE]);
      const created = appeared(before, snapshot(), askedFor(tokens));
      const refuse = flags.some((f) => f.tokens[0] === "--json") ? "--json without --dry-run" : mustRefuse(flags, false);
      found.add(judgeCli(r, flags.flatMap((f) => f.names), { dryRun: false, mustRefuse: refuse, created, input: tokens.join(" ") }), `nsbox ${shown(tokens)} -- sh -c "$PROBE"`);
    });
    found.check();
  });
});

// ---------------------------------------------------------------------------------------------

describe("junk in nsbox.json", () => {
  /** A JSON value as text: wrong types, numbers JSON.stringify cannot write, odd strings. */
  const wrongType = oneOf(["1e400", "-1e400", "-0", "-1", "2147483648", "4294967296", "0.5", "true", "false", "null", "[]", "{}", "[null]", "[1,2]", '{"a":1}', '[["x"]]', '{"toString":"x"}', '"\\u0000"', '"a\\u0000b"', '"\\ufeff"']);
  const configKeys = Object.keys(CLI_OPTIONS).filter((k) => k !== "profile");
  const KEYS_NEAR = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "timeOut", "noCwd", "allowNested", "Landlock", "", " ", "ro ", "extends", "description", "profile", "$schema"];
  type Entry = { key: string; value: string };
  const entry: fc.Arbitrary<Entry> = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...configKeys).chain((key) => {
      const kind = CLI_OPTIONS[key]!;
      const typed = kind === "bool" ? oneOf(BOOL_VALUES).map((v) => JSON.stringify(v)) : byKind[kind].map((v) => JSON.stringify(v));
      return fc.oneof(typed, wrongType, typed.map((v) => `[${v}]`)).map((value) => ({ key, value }));
    }) },
    { weight: 1, arbitrary: fc.tuple(oneOf(KEYS_NEAR), fc.oneof(wrongType, oddString.map((v) => JSON.stringify(v)))).map(([key, value]) => ({ key, value })) },
  );
  const profile = fc.uniqueArray(entry, { minLength: 1, maxLength: 3, selector: (e) => e.key });
  /** The keys and string values of a profile as nsbox reads them (escapes decoded). */
  const decoded = (entries: Entry[]) => entries.map((e) => {
    const v: unknown = JSON.parse(e.value);
    return `${e.key} ${typeof v === "string" ? v : Array.isArray(v) ? v.filter((x) => typeof x === "string").join(" ") : ""}`;
  }).join(" ");
  const text = (entries: Entry[]) => `{"profiles":{"p":{${entries.map((e) => `${JSON.stringify(e.key)}:${e.value}`).join(",")}}}}`;
  /** Whole files that are junk: written as they are, each run with -p p. */
  const FILES: [string, string | ((file: string) => void)][] = [
    ["a BOM", '\uFEFF{"profiles":{"p":{}}}'],
    ["empty", ""],
    ["null", "null"],
    ["a list", "[]"],
    ["profiles a list", '{"profiles":[]}'],
    ["a trailing comma", '{"profiles":{"p":{},}}'],
    ["a NUL", '{"profiles":{"p":{}}}\u0000'],
    ["extends itself", '{"profiles":{"p":{"extends":"p"}}}'],
    ["extends an unknown profile", '{"profiles":{"p":{"extends":"nope"}}}'],
    ["a directory", (f) => mkdirSync(f)],
    ["a FIFO", (f) => void Bun.spawnSync(["mkfifo", f])],
    ["a link to /dev/zero", (f) => symlinkSync("/dev/zero", f)],
    ["a dangling link", (f) => symlinkSync("missing.json", f)],
    ["deep", `{"profiles":{"p":{"env":${"[".repeat(5000)}${"]".repeat(5000)}}}}`],
    // No nsbox.json: the project's package.json is read for -p instead.
    ["package.json null", (f) => writeFileSync(join(f, "../package.json"), "null")],
    ["package.json nsbox 5", (f) => writeFileSync(join(f, "../package.json"), '{"nsbox":5}')],
    ["package.json nsbox.profiles.p.timeOut", (f) => writeFileSync(join(f, "../package.json"), '{"nsbox":{"profiles":{"p":{"timeOut":"5s"}}}}')],
  ];

  it("a junk profile under -p: refused in one line naming the file and the key, or a plan as closed as the default", async () => {
    const found = new Findings("nsbox.json");
    const file = () => join(P(), "nsbox.json");
    const examples: Entry[][] = [
      [{ key: "net", value: '"allow=example.com:99999"' }], [{ key: "tmpfs", value: "5" }], [{ key: "__proto__", value: "{}" }], [{ key: "valueOf", value: "1" }],
      [{ key: "landlock", value: '"yes"' }], [{ key: "allow-nested", value: '"false"' }], [{ key: "timeout", value: '"597h"' }], [{ key: "uid", value: "1e400" }],
      [{ key: "hostname", value: '"a\\u0000b"' }], [{ key: "seccomp", value: '"./fifo"' }],
      // Found by this test: refused at plan time without the file.
      [{ key: "chdir", value: "4294967296" }], [{ key: "cap-drop", value: '"\\ufeff"' }],
    ];
    await property(profile, 12, examples, async (entries) => {
      writeFileSync(file(), text(entries));
      const before = snapshot();
      const r = await nsboxIn(["-p", "p", "--dry-run", "--json", "--", "true"], text(entries).includes("fifo") ? join(P(), "fifo") : undefined);
      const created = appeared(before, snapshot(), []);
      rmSync(file(), { force: true });
      found.add(judgeCli(r, entries.map((e) => `profiles.p${e.key === "" ? "" : `.${e.key}`}`), { dryRun: true, file: file(), created, input: decoded(entries) }), `echo ${shq(text(entries))} > nsbox.json; nsbox -p p --dry-run --json -- true`);
    });
    for (const [what, content] of FILES) {
      rmSync(file(), { recursive: true, force: true });
      rmSync(join(P(), "package.json"), { force: true });
      if (typeof content === "string") writeFileSync(file(), content);
      else content(file());
      const before = snapshot();
      const r = await nsboxIn(["-p", "p", "--dry-run", "--json", "--", "true"], what === "a FIFO" ? file() : undefined);
      const created = appeared(before, snapshot(), []);
      // A profile the file does not hold may be refused as unknown (naming -p); nothing else is right for these files.
      const judged = judgeCli(r, ["nsbox.json", "package.json", "--profile", "-p"], { dryRun: true, file: typeof content === "string" ? file() : undefined, created, input: "", mustRefuse: what.startsWith("extends") ? `nsbox.json ${what}` : undefined });
      found.add(judged, `${what.startsWith("package.json") ? "" : "nsbox.json: "}${what}; nsbox -p p --dry-run --json -- true`);
      rmSync(file(), { recursive: true, force: true });
      rmSync(join(P(), "package.json"), { force: true });
    }
    found.check();
  });
});

// ---------------------------------------------------------------------------------------------

describe("junk through the library", () => {
  const PROBE_COMMAND = ["/bin/sh", "-c", PROBE];
  const SLOW_PROBE_COMMAND = ["/bin/sh", "-c", SLOW_PROBE];
  /** What each key of the options object takes; a value of another type must be refused by name. */
  const TYPES: Record<string, "number" | "string" | "boolean" | "strings" | "env" | "mounts" | "net" | "stdin" | "output" | "signal" | "encoding"> = {
    uid: "number", gid: "number", hostname: "string", propagation: "string", env: "env", keepEnv: "strings", clearEnv: "boolean", cwd: "string",
    verbose: "boolean", mounts: "mounts", chdir: "string", noCwd: "boolean", capAdd: "strings", capDrop: "strings", seccomp: "string",
    allowNested: "boolean", landlock: "string", rlimits: "strings", timeout: "number", memory: "string", pids: "string", net: "net", netLog: "string",
    name: "string", profile: "string", stdin: "stdin", stdout: "output", stderr: "output", signal: "signal", encoding: "encoding",
  };
  /** The kind of junk string each string key gets (valid loosenings never). */
  const STRING_KIND: Record<string, Kind> = {
    hostname: "hostname", propagation: "propagation", cwd: "path", chdir: "path", seccomp: "seccomp", landlock: "landlock", memory: "size",
    pids: "size", netLog: "netLog", name: "name", profile: "profile", keepEnv: "envName", capAdd: "cap", capDrop: "cap", rlimits: "rlimit", net: "net",
  };
  const WRONG: unknown[] = [
    0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53 + 2, Number.MAX_VALUE, -0, 10n, true, false, null, "", "5", "true", [], [1], [null], ["x", 2], {}, { a: 1 },
    { toString: () => "x" }, Object.create(null), () => "x", Symbol("junk"), new Date(0), /x/, new Uint8Array(2), new Map(), Promise.resolve(1),
  ];
  const ofType = (t: string, v: unknown): boolean =>
    t === "number" ? typeof v === "number" : t === "string" ? typeof v === "string" : t === "boolean" ? typeof v === "boolean"
      : t === "strings" ? Array.isArray(v) && v.every((x) => typeof x === "string")
        : t === "net" ? typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"))
          : t === "env" ? typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string")
            : t === "signal" ? v instanceof AbortSignal
              : t === "encoding" ? v === "utf8" || v === "buffer"
                : t === "output" || t === "stdin" ? v === null || v === "inherit" || v === "pipe" || v === "ignore" || (Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 31 && !Object.is(v, -0))
                  || (t === "stdin" && (typeof v === "string" || v instanceof Blob || ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof ReadableStream))
                  : true; // mounts: judged by nsbox
  type Entry = { key: string; value: unknown; strict: boolean };
  const mountJunk = oneOf<unknown>([
    [{ kind: "ro" }], [{ kind: "ro", source: 5, target: "/x" }], [{ kind: "nope", source: ".", target: "/x" }], ["."], [null], {}, [{ kind: "tmpfs", target: "" }],
    [{ kind: "ro", source: FIFO, target: "/x" }], [{ kind: "file", source: FIFO, target: "/x" }], [{ kind: "file", source: "./d", target: "/x" }],
    [{ kind: "ro", source: "./f", target: "/x", __proto__: { optional: true } }], [{ kind: "tmpfs", target: "/x", size: "1e400" }], [{ kind: "tmpfs", target: "/x", mode: -1 }],
    [{ kind: "dir", target: "/x", mode: 0o7777777 }], [{ kind: "overlay", source: ".", target: ".", upper: 5 }], [{ kind: "hide", source: ".", target: "." }],
  ]);
  const entry: fc.Arbitrary<Entry> = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...Object.keys(TYPES)), oneOf(WRONG)).map(([key, value]) => ({ key, value, strict: !ofType(TYPES[key]!, value) })) },
    { weight: 3, arbitrary: fc.constantFrom(...Object.keys(STRING_KIND)).chain((key) => (byKind[STRING_KIND[key]!] as fc.Arbitrary<string>).map((v): Entry => {
      const list = TYPES[key] === "strings";
      // landlock/seccomp/propagation/name…: a value outside its set is junk; a path or a size may be fine.
      return { key, value: list ? [v] : v, strict: ["landlock", "propagation"].includes(key) || /\0/.test(v) };
    })) },
    { weight: 1, arbitrary: fc.constantFrom("env", "env", "mounts", "timeout").chain((key): fc.Arbitrary<Entry> => key === "mounts" ? mountJunk.map((value) => ({ key, value, strict: true }))
      : key === "env" ? oneOf<unknown>([{ "A B": "x" }, { A: "x\0y" }, { A: 1 }, { "": "x" }, { A: null }, JSON.parse('{"__proto__":{"A":"x"}}'), ["A=1"]]).map((value) => ({ key, value, strict: true }))
        : oneOf([2 ** 31, 0.4, 597 * 3600 * 1000, 1e-9, 2 ** 31 - 1]).map((value) => ({ key, value, strict: false }))) },
    { weight: 1, arbitrary: fc.tuple(oneOf(["timeOut", "ro", "rw", "tmpfs", "clear-env", "allow_nested", "Landlock", "noCWD", "__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "", " ", "0", "then"]), oneOf<unknown>([true, false, ".", ["."], 5, null, {}]))
      .map(([key, value]) => ({ key, value, strict: true })) },
  );
  const options = fc.uniqueArray(entry, { minLength: 1, maxLength: 3, selector: (e) => e.key });
  const COMMANDS: unknown[] = [[], [""], ["tr\0ue"], [5], "true", [null], ["sh", "-c", "exit 0", "a\0b"], ["./fifo"], ["."], ["./d"], ["/dev/zero"]];

  /** The options object: own keys (`__proto__` too), and cwd the project unless the case sets it. */
  function build(entries: Entry[], signal: AbortSignal): Record<string, unknown> {
    const o: Record<string, unknown> = { cwd: P() };
    for (const e of entries) Object.defineProperty(o, e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
    if (!entries.some((e) => e.key === "signal")) o.signal = signal;
    return o;
  }
  const describeValue = (v: unknown): string => {
    try {
      return describeValueOf(v);
    } catch {
      return Object.prototype.toString.call(v);
    }
  };
  const describeValueOf = (v: unknown): string => {
    if (v === PROBE_COMMAND || v === SLOW_PROBE_COMMAND) return '["/bin/sh", "-c", PROBE]';
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "symbol" || typeof v === "function") return String(v);
    if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
    if (v instanceof Promise) return "Promise.resolve(1)";
    if (v instanceof Map) return "new Map()";
    if (v instanceof Uint8Array) return "new Uint8Array(2)";
    if (v instanceof Date) return "new Date(0)";
    if (v instanceof RegExp) return String(v);
    if (v && typeof v === "object" && Object.getPrototypeOf(v) === null) return "Object.create(null)";
    if (v && typeof v === "object" && typeof (v as { toString?: unknown }).toString === "function" && Object.hasOwn(v, "toString")) return '{ toString: () => "x" }';
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 40)}…(${s.length} chars)` : s;
  };
  const callOf = (command: unknown, entries: Entry[]) => `run(${describeValue(command)}, { ${entries.map((e) => `${JSON.stringify(e.key)}: ${describeValue(e.value)}`).join(", ")} })`;

  /** Run one library call here, raced with a timer; judge what came back. */
  async function libraryCase(command: unknown, entries: Entry[], found: Findings, strictCommand: boolean): Promise<void> {
    const before = snapshot();
    const watch = fifoWatch(entries.some((e) => describeValue(e.value).includes("fifo")) || describeValue(command).includes("fifo") ? join(P(), "fifo") : undefined);
    const abort = new AbortController();
    let timer: Timer | undefined;
    const out: { cls: string; detail: string }[] = [];
    const strict = strictCommand || entries.some((e) => e.strict);
    const keys = [...entries.map((e) => e.key), ...(strictCommand ? ["command"] : [])];
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    const slow = entries.some((e) => e.key === "timeout");
    if (slow && command === PROBE_COMMAND) command = SLOW_PROBE_COMMAND;
    let settled: { ok: true; value: { exitCode: number; stdout: unknown; stderr: unknown } } | { ok: false; error: unknown } | "hung";
    try {
      settled = await Promise.race([
        Promise.resolve().then(() => run(command as string[], build(entries, abort.signal) as never)).then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error })),
        new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), HANG_MS))),
      ]);
    } finally {
      clearTimeout(timer);
      await Bun.sleep(0);
      process.off("warning", onWarning);
    }
    for (const w of warnings) out.push({ cls: "a runtime warning", detail: w.split("\n")[0]! });
    if (settled === "hung") {
      abort.abort();
      out.push({ cls: "hang", detail: `not settled after ${HANG_MS / 1000}s` });
    } else if (settled.ok) {
      const { exitCode, stdout, stderr } = settled.value;
      if (strict) out.push({ cls: "accepted junk (wrong type, unknown key or NUL)", detail: `exit ${exitCode}` });
      const stdio = entries.some((e) => ["stdout", "stderr", "encoding", "stdin"].includes(e.key));
      if (!stdio && (command === PROBE_COMMAND || command === SLOW_PROBE_COMMAND) && (stdout !== BASELINE || exitCode !== 0)) {
        out.push({ cls: stdout === "" || exitCode !== 0 ? "accepted, but the payload did not run to its end" : "fail-open", detail: `inside: ${JSON.stringify(stdout)}; exit ${exitCode}; ${String(stderr).split("\n")[0]}` });
      }
    } else {
      const e = settled.error as Error;
      if (!(e instanceof NsboxError)) out.push({ cls: `rejected with ${e?.constructor?.name ?? typeof e}, not NsboxError`, detail: String(e?.message ?? e).split("\n")[0]!.slice(0, 200) });
      else {
        if (!keys.some((k) => e.message.includes(k)) && !["NOT_FOUND", "NOT_EXECUTABLE", "UNTRUSTED_CONFIG"].includes(e.code)) {
          out.push({ cls: "NsboxError does not name the key", detail: `${e.code}: ${e.message.slice(0, 200)} (expected one of ${keys.map((k) => JSON.stringify(k)).join(" ")})` });
        }
        if (/internal error/i.test(e.message) || e.code === "INTERNAL") out.push({ cls: "internal error", detail: e.message.slice(0, 200) });
        if (/\n/.test(e.message.trimEnd())) out.push({ cls: "error message on more than one line", detail: JSON.stringify(e.message.slice(0, 200)) });
      }
    }
    if (await watch.stop()) out.push({ cls: "hang", detail: "read a FIFO (blocks until a writer comes; here a writer was provided after 2s)" });
    const asked = entries.filter((e) => e.key === "netLog" && typeof e.value === "string").map((e) => resolve(P(), e.value as string));
    for (const c of appeared(before, snapshot(), asked)) out.push({ cls: "created on the host", detail: c });
    found.add(out, callOf(command, entries));
  }

  const saved: Record<string, string | undefined> = {};
  let savedCwd = "";
  beforeAll(() => {
    // Relative paths in the options are the fixture's ("./fifo"), as they would be a program's.
    savedCwd = process.cwd();
    process.chdir(P());
    // The library reads this process's environment: the fixture's home and XDG directories, restored after.
    for (const [k, v] of Object.entries(ENV())) {
      if (k === "PATH") continue;
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    process.chdir(savedCwd);
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  });

  it("an options object of junk: an NsboxError naming the key, or a run in a sandbox as closed as the default", async () => {
    const found = new Findings("library");
    const examples: Entry[][] = [
      [{ key: "landlock", value: "yes", strict: true }], [{ key: "allowNested", value: "false", strict: true }], [{ key: "timeOut", value: 5, strict: true }],
      [{ key: "timeout", value: 2 ** 31, strict: false }], [{ key: "timeout", value: 0.4, strict: false }], [{ key: "ro", value: ["."], strict: true }],
      [{ key: "env", value: { A: "x\0y" }, strict: true }], [{ key: "uid", value: 10n, strict: true }], [{ key: "hostname", value: Symbol("junk"), strict: true }],
      [{ key: "seccomp", value: FIFO, strict: false }], [{ key: "profile", value: "__proto__", strict: false }], [{ key: "net", value: ["allow=example.com:99999"], strict: false }],
      // Found by this test: a name that is not a string leaves its registry entry behind; a newline
      // in a message; lists given as one value; a signal that is not an AbortSignal.
      [{ key: "name", value: 1.5, strict: true }], [{ key: "propagation", value: "slave\n", strict: true }], [{ key: "noCwd", value: "", strict: true }],
      [{ key: "capAdd", value: "CAP_NET_RAW", strict: true }], [{ key: "signal", value: {}, strict: true }], [{ key: "chdir", value: 0, strict: true }],
      [{ key: "seccomp", value: [1], strict: true }], [{ key: "env", value: { A: 1 }, strict: true }], [{ key: "landlock", value: 0, strict: true }],
    ];
    const endless = (e: Entry) => (typeof e.value === "string" && ENDLESS.has(e.value)) || (Array.isArray(e.value) && e.value.some((x) => typeof x === "string" && ENDLESS.has(x)));
    await property(options.filter((es) => !es.some(endless)), 70, examples, (entries) => libraryCase(PROBE_COMMAND, entries, found, false));
    for (const command of COMMANDS) {
      if (command === COMMANDS.at(-1)) continue; // /dev/zero as a command: exec'd in the sandbox, not read
      await libraryCase(command, [], found, true);
    }
    found.check();
  });

  it("endless files named in the options (/dev/zero, /dev/urandom): refused from a child process, never read forever", async () => {
    // In a child: a synchronous read of an endless file would freeze this test process.
    const found = new Findings("library, endless files");
    for (const [key, value] of [["seccomp", "/dev/urandom"], ["seccomp", "/dev/zero"], ["netLog", "/dev/zero"], ["mounts", [{ kind: "file", source: "/dev/urandom", target: "/x" }]]] as const) {
      const script = `import { run, NsboxError } from ${JSON.stringify(join(CHECKOUT, "src/index.ts"))};
        run(["true"], { cwd: ${JSON.stringify(P())}, ${key}: ${JSON.stringify(value)}, ${key === "netLog" ? 'net: ["allow=example.com"]' : ""} })
          .then((r) => console.log("resolved", r.exitCode), (e) => console.log(e instanceof NsboxError ? "NsboxError" : "other", JSON.stringify(e.message)));`;
      const proc = Bun.spawn([process.execPath, "-e", script], { cwd: P(), env: ENV(), stdout: "pipe", stderr: "pipe" });
      let hung = false;
      const timer = setTimeout(() => ((hung = true), proc.kill(9)), HANG_MS);
      const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      clearTimeout(timer);
      const out: { cls: string; detail: string }[] = [];
      if (hung) out.push({ cls: "hang", detail: "the child did not finish" });
      else if (!stdout.startsWith("NsboxError") && !(key === "netLog" && stdout.startsWith("resolved 0"))) out.push({ cls: "endless file not refused by an NsboxError", detail: `${stdout.trim()} ${stderr.trim().split("\n")[0]}`.slice(0, 200) });
      else if (stdout.startsWith("NsboxError") && !stdout.includes(key)) out.push({ cls: "NsboxError does not name the key", detail: stdout.trim().slice(0, 200) });
      found.add(out, `run(["true"], { ${key}: ${JSON.stringify(value)} })`);
    }
    found.check();
  });
});
