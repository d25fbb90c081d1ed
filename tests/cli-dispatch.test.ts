// The one parser through bin/nsbox: options before a subcommand count or are refused, exec's --env is the sandbox option's,
// --json needs --dry-run, a misspelt subcommand gets a hint, and help is generated for every command and fits 80 columns.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, realpathSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { background, cleanedUp, collect, NSBOX, nsbox, type Ran } from "./helpers.ts";

const made = cleanedUp();
/** A private runtime directory: this file's sandboxes are not listed by other files' ps. */
const RUNTIME = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-run-")));
made.push(RUNTIME);
chmodSync(RUNTIME, 0o700);
const ENV = { ...process.env, XDG_RUNTIME_DIR: RUNTIME };
const run = (args: string[]) => nsbox(args, { env: ENV });

/** nsbox's own failure: exactly one "nsbox: …" line, the given status, nothing on stdout. */
function expectOneLineError(r: Ran, code: number, ...mentions: string[]): void {
  expect(r.exitCode).toBe(code);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]!).toStartWith("nsbox: ");
  expect(r.stderr).not.toContain("internal error");
  for (const m of mentions) expect(r.stderr).toContain(m);
  expect(r.stdout).toBe("");
}

const started: Array<{ kill(sig?: number): void }> = [];
afterAll(() => {
  for (const p of started) {
    try {
      p.kill(9);
    } catch {}
  }
});

/** A named sandbox that waits until the file's tests end. */
async function sandbox(name: string) {
  const b = background([process.execPath, NSBOX, "--name", name, "--", "sh", "-c", "echo ready; exec sleep 1000"], { env: ENV });
  started.push(b.proc);
  if (!(await b.waitFor("ready"))) throw new Error(`sandbox ${name} did not start: ${(await b.finish()).stderr}`);
}

describe("options given before a subcommand", () => {
  const name = `dispatch-${process.pid}`;

  test("nsbox --env A=1 --env B=2 exec NAME -- env: both reach the command (control: the same at the top level)", async () => {
    await sandbox(name);
    const r = await run(["--env", "A=1", "--env", "B=2", "exec", name, "--", "env"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("A=1\n");
    expect(r.stdout).toContain("B=2\n");
    const top = await run(["--env", "A=1", "--env", "B=2", "--", "env"]);
    expect(top.stdout).toContain("A=1\n");
    expect(top.stdout).toContain("B=2\n");
  });

  test("before and after the subcommand's name, in order: the later value wins", async () => {
    const r = await run(["--env", "A=1", "exec", "--env", "A=2", name, "--", "sh", "-c", "echo $A"]);
    expect(r).toEqual({ stdout: "2\n", stderr: "", exitCode: 0 });
  });

  test("exec's --env is checked as the sandbox option --env is: the same message for a bad name", async () => {
    const bad = await run(["exec", "--env", "1X=y", name, "--", "true"]);
    expectOneLineError(bad, 125, "--env", "'1X' is not a valid variable name");
    const top = await run(["--env", "1X=y", "--", "true"]);
    expect(top.stderr).toBe(bad.stderr);
    expectOneLineError(await run(["exec", "--env", "NOEQUALS", name, "--", "true"]), 125, "--env", "NOEQUALS");
    // Control: a good name reaches the command.
    expect(await run(["exec", "--env", "X_1=y", name, "--", "sh", "-c", "echo $X_1"])).toEqual({ stdout: "y\n", stderr: "", exitCode: 0 });
  });

  test("nsbox stop --time abc names the option and value, and nothing is stopped (control: the sandbox is still listed)", async () => {
    expectOneLineError(await run(["stop", "--time", "abc", name]), 125, "--time abc: must be the seconds to wait before SIGKILL");
    expect(JSON.parse((await run(["ps", "--json"])).stdout).map((s: { name: string }) => s.name)).toContain(name);
  });

  test("nsbox --ro /etc ps: --ro does not apply to nsbox ps (control: --json does)", async () => {
    expectOneLineError(await run(["--ro", "/etc", "ps"]), 125, "--ro does not apply to nsbox ps");
    expectOneLineError(await run(["-p", "test", "ps"]), 125, "-p does not apply to nsbox ps");
    expectOneLineError(await run(["--dry-run", "stop", name]), 125, "--dry-run does not apply to nsbox stop");
    const r = await run(["--json", "ps"]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).map((s: { name: string }) => s.name)).toContain(name);
  });
});

describe("--json without --dry-run", () => {
  test("on a plain run: one line naming --json and --dry-run, nothing runs (control: with --dry-run, the plan as JSON)", async () => {
    expectOneLineError(await run(["--json", "--", "true"]), 125, "--json", "--dry-run");
    const r = await run(["--dry-run", "--json", "--", "true"]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toBeObject();
  });
});

describe("a misspelt subcommand", () => {
  test("nsbox pss: not found (127), did you mean nsbox ps?", async () => {
    expectOneLineError(await run(["pss"]), 127, "pss: command not found", "did you mean nsbox ps?");
    expectOneLineError(await run(["exce", "x"]), 127, "did you mean nsbox exec?");
  });

  test("nsbox run bash (docker's verb): not found (127), and the form that runs it", async () => {
    expectOneLineError(await run(["run", "bash", "-l"]), 127, "run: command not found (nsbox has no run verb: nsbox -- bash -l)");
    expectOneLineError(await run(["run", "--", "bash"]), 127, "(nsbox has no run verb: nsbox -- bash)");
    expectOneLineError(await run(["run"]), 127, "(nsbox has no run verb: nsbox -- COMMAND)");
  });

  test("nsbox ps aux: the subcommand refuses the argument and says how to run the program ps (control: nsbox profile show a b, not a program, gets no such hint)", async () => {
    expectOneLineError(await run(["ps", "aux"]), 125, "nsbox ps: unexpected argument 'aux'", "; to run the program ps in a sandbox: nsbox -- ps aux");
    const nested = await run(["profile", "show", "a", "b"]);
    expectOneLineError(nested, 125, "nsbox profile show: unexpected argument 'b'");
    expect(nested.stderr).not.toContain("to run the program");
  });

  test("control: a name far from every subcommand, or after --, gets no hint", async () => {
    const far = await run(["no-such-cmd-xyz"]);
    expectOneLineError(far, 127, "no-such-cmd-xyz");
    expect(far.stderr).not.toContain("did you mean");
    const explicit = await run(["--", "pss"]);
    expectOneLineError(explicit, 127, "pss");
    expect(explicit.stderr).not.toContain("did you mean");
  });
});

describe("-- and the first non-option", () => {
  test("nsbox -- --version runs a program named --version (control: nsbox --version prints the version)", async () => {
    expectOneLineError(await run(["--", "--version"]), 127, "--version: command not found");
    expect(await run(["--version"])).toEqual({ stdout: `${pkg.version}\n`, stderr: "", exitCode: 0 });
  });

  test("through a link, as bun add -g installs it (~/.bun/bin/nsbox -> …/bin/nsbox): nsbox -- ps runs ps, not the subcommand", async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-link-")));
    made.push(dir);
    symlinkSync(NSBOX, join(dir, "nsbox"));
    const env = { ...ENV, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}` };
    const viaLink = (args: string[]) => collect([join(dir, "nsbox"), ...args], { env, cwd: dir });
    expectOneLineError(await viaLink(["--", "--version"]), 127, "--version: command not found");
    const ps = await viaLink(["--no-cwd", "--", "ps", "-o", "comm="]);
    expect(ps).toMatchObject({ exitCode: 0 });
    expect(ps.stdout).toContain("nsbox-init");
    expect(await viaLink(["--version"])).toEqual({ stdout: `${pkg.version}\n`, stderr: "", exitCode: 0 });
  });
});

describe("help, generated from the definitions", () => {
  const SUBS = ["profile show", "doctor", "ps", "inspect", "stop", "exec", "trust", "untrust"];

  test("nsbox --help lists every subcommand and fits 80 columns", async () => {
    const r = await run(["--help"]);
    expect(r).toMatchObject({ exitCode: 0, stderr: "" });
    expect(r.stdout).toStartWith("usage: nsbox [options] -- command [args…]\n");
    for (const sub of SUBS) expect(r.stdout).toMatch(new RegExp(`^  ${sub}\\b`, "m"));
    for (const line of r.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
  });

  test.each(SUBS)("nsbox %s --help, nsbox help %s and nsbox --help %s: the same text, under 80 columns", async (sub) => {
    const words = sub.split(" ");
    const a = await run([...words, "--help"]);
    expect(a).toMatchObject({ exitCode: 0, stderr: "" });
    expect(a.stdout).toStartWith(`usage: nsbox ${sub}`);
    expect(a.stdout).toContain("-h, --help");
    for (const line of a.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
    expect(await run(["help", ...words])).toEqual(a);
    expect(await run(["--help", ...words])).toEqual(a);
  });

  test("exec's help shows the sandbox options' own --env and --chdir", async () => {
    const r = await run(["exec", "--help"]);
    expect(r.stdout).toContain("usage: nsbox exec [--chdir DIR] [--env NAME=VALUE]… [-v|--verbose] [--pass-fd");
    expect(r.stdout).toMatch(/--env NAME=VALUE +Set a variable inside/);
  });

  test("nsbox help nope: one line naming it", async () => {
    expectOneLineError(await run(["help", "nope"]), 125, "no command 'nope'");
  });
});
