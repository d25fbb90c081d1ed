// First mistakes get help: --help fitted to the terminal (80 columns when not one) and showing
// `-- command`, `nsbox help`, `nsbox` alone, the nearest option for a typo, the -try form for a
// missing path (only where there is one), the right form of --net allow=, and no Bun at all.
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { collect, NSBOX, nsbox, scratchDir, type Ran } from "./helpers.ts";

/** The longest line, in characters (`…` is one). */
const widest = (text: string) => Math.max(...text.split("\n").map((l) => [...l].length));

/** nsbox --help run on a terminal `cols` wide (script(1) gives it a pty; stty sets the width). */
async function helpOnTerminal(cols: number, pipe = ""): Promise<string> {
  const path = `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`;
  const run = pipe ? `${NSBOX} --help ${pipe}` : `exec ${NSBOX} --help`;
  const r = await collect(["script", "-qec", `stty cols ${cols} rows 40; ${run}`, "/dev/null"], { env: { ...process.env, PATH: path, TERM: "xterm" } });
  expect(r.exitCode).toBe(0);
  return r.stdout.replace(/\r/g, "");
}

/** One line on stderr, starting "nsbox: ", naming each of `mentions`; exit 125. */
function oneLine(r: Ran, ...mentions: string[]): void {
  expect(r.exitCode).toBe(125);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr.startsWith("nsbox: ")).toBe(true);
  for (const m of mentions) expect(r.stderr).toContain(m);
}

describe("--help", () => {
  test("not on a terminal: 80 columns, and the command after `--`", async () => {
    const r = await nsbox(["--help"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("usage: nsbox [options] -- command [args…]");
    expect(widest(r.stdout)).toBeLessThanOrEqual(80);
    // The control: the text is long enough that 80 columns is a real constraint.
    expect(widest(r.stdout)).toBeGreaterThan(70);
  });

  test("on a terminal: its width (50 and 60 columns), at most 100 on a wide one", async () => {
    for (const cols of [50, 60]) {
      const text = await helpOnTerminal(cols);
      expect(text).toContain("--overlay");
      expect(widest(text)).toBeLessThanOrEqual(cols);
      expect(widest(text)).toBeGreaterThan(cols - 10);
    }
    const wide = await helpOnTerminal(200);
    expect(widest(wide)).toBeLessThanOrEqual(100);
    expect(widest(wide)).toBeGreaterThan(80);
  });

  test("piped to a pager on a terminal (`nsbox --help | less`): the terminal's width, not 80", async () => {
    const text = await helpOnTerminal(50, "| cat");
    expect(text).toContain("--overlay");
    expect(widest(text)).toBeLessThanOrEqual(50);
  });

  test("`nsbox help` is --help, and `nsbox help exec` is exec's", async () => {
    const [a, b] = await Promise.all([nsbox(["help"]), nsbox(["--help"])]);
    expect(a).toEqual(b);
    const exec = await nsbox(["help", "exec"]);
    expect(exec.exitCode).toBe(0);
    expect(exec.stdout).toContain("usage: nsbox exec");
    expect(exec.stdout).toMatch(/ --\s+command \[args…\]/);
  });
});

test("`nsbox` alone prints the short usage and where the rest is, on stderr, exit 125", async () => {
  const r = await nsbox([]);
  expect(r.exitCode).toBe(125);
  expect(r.stdout).toBe("");
  expect(r.stderr.split("\n")[0]).toBe("usage: nsbox [options] -- command [args…]");
  expect(r.stderr).toContain("nsbox -- bash");
  expect(r.stderr).toContain("nsbox --help");
  expect(widest(r.stderr)).toBeLessThanOrEqual(80);
});

test("an unknown option names the nearest one", async () => {
  oneLine(await nsbox(["--overaly", ".", "--", "true"]), "unknown option --overaly", "did you mean --overlay?");
  oneLine(await nsbox(["--ro-tyr", ".", "--", "true"]), "did you mean --ro-try?");
});

describe("a missing path", () => {
  const cwd = scratchDir();
  const missing = join(cwd, "missing");
  // Each option with a -try form suggests it, and that form then runs (the control: the hint works).
  for (const [option, value] of [["--ro", missing], ["--rw", missing], ["--bind", `${missing}:/mnt`], ["--ro-bind", `${missing}:/mnt`], ["--hide", missing], ["--overlay", missing]] as const) {
    test(`${option}: suggests ${option}-try, which runs`, async () => {
      oneLine(await nsbox([option, value, "--", "true"], { cwd }), `${missing}: no such file or directory`, `use ${option}-try`);
      expect((await nsbox([`${option}-try`, value, "--", "true"], { cwd })).exitCode).toBe(0);
    });
  }

  test("--file has no -try form, so none is suggested", async () => {
    const r = await nsbox(["--file", `/etc/x.conf:${missing}`, "--", "true"], { cwd });
    oneLine(r, `${missing}: no such file or directory`, "create it first");
    expect(r.stderr).not.toContain("-try");
    oneLine(await nsbox(["--file-try", `/etc/x.conf:${missing}`, "--", "true"], { cwd }), "unknown option --file-try");
  });
});

test("--net allow= with a URL shows the rule to write instead", async () => {
  oneLine(await nsbox(["--net", "allow=http://registry.npmjs.org", "--", "true"]), "write allow=registry.npmjs.org");
  oneLine(await nsbox(["--net", "allow=https://registry.npmjs.org/", "--", "true"]), "allow=registry.npmjs.org");
});

test("without Bun on PATH, bin/nsbox says in one line how to get it (125)", async () => {
  // A PATH with what a Node-only machine has (sh, env, node), and no bun.
  const bin = join(scratchDir(), "bin");
  mkdirSync(bin);
  for (const tool of ["sh", "env", "node"]) {
    const found = Bun.which(tool);
    if (found) symlinkSync(found, join(bin, tool));
  }
  const r = await collect([NSBOX, "--", "true"], { env: { PATH: bin, HOME: "/nonexistent" } });
  oneLine(r, "needs Bun", "npm install -g bun", "https://bun.sh/install");
  expect(r.stdout).toBe("");
  // The control: the same start with bun on PATH runs the sandbox.
  const withBun = await collect([NSBOX, "--", "true"], { env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` } });
  expect(withBun).toMatchObject({ exitCode: 0, stderr: "" });
});

test("`node ./bin/nsbox` says in one line that it runs on Bun (125), not Node's stack trace", async () => {
  const node = Bun.which("node");
  if (!node) return; // no Node on this machine: nothing to start it with
  const r = await collect([node, NSBOX, "--", "true"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent" } });
  oneLine(r, "runs on Bun, not Node", "./bin/nsbox");
  expect(r.stdout).toBe("");
});
