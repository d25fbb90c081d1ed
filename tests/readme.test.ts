// Every command in README.md runs as written (tests/readme-commands.ts says which blocks are
// commands, and a block it cannot classify fails here). They run in README order, with bash, as
// a developer would type them: `nsbox` on PATH is this checkout's bin/nsbox, the current
// directory a small Bun/npm project, $HOME and $XDG_RUNTIME_DIR fresh directories of this test.
// The Install section's commands need a registry serving nsbox: tests/install.test.ts runs them.
// The commands that install from registry.npmjs.org (npm install under --net allow= or -p
// install) run where a stand-in serves that name (tests/registry-stand-in.ts): the real nsbox
// resolves, checks and connects to it as to the real registry, and the project's dependency
// exists only there.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { cleanedUp, collect, eventually, homeIn, NSBOX, ROOT, scratchIn } from "./helpers.ts";
import { NOT_RUN, readmeBlocks, withoutComment, type ReadmeCommand } from "./readme-commands.ts";
import { DEMO_PACKAGE, registryStandIn } from "./registry-stand-in.ts";

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const { commands, unclassified, fenced } = readmeBlocks(README);

const runsElsewhere = (c: ReadmeCommand) => c.section === "Install";
const made = cleanedUp();

describe("README.md's code blocks", () => {
  test("are each classified: commands (sh, or indented nsbox lines) or not (text, json, ts)", () => {
    expect(unclassified).toEqual([]);
    expect(commands.length).toBeGreaterThan(15);
  });

  test("the classifier refuses what it cannot tell (the control)", () => {
    const odd = readmeBlocks("# x\n\n```\nmake\n```\n\ntext\n\n    make install\n\n```console\n$ nsbox -- true\n```\n");
    expect(odd.unclassified).toHaveLength(3);
    const ok = readmeBlocks("## A\n\n```sh\nbun x \\\n  nsbox -- true   # c\n# a comment\n```\n\n    nsbox -- id\n    nsbox --ro /nope -- true   # refused (exit 125)\n\n```sh\n$ nsbox -- hostname\nnsbox\n```\n");
    expect(ok.unclassified).toEqual([]);
    expect(ok.commands.map((c) => [c.text, c.line, c.section, c.exit])).toEqual([
      ["bun x \\\n  nsbox -- true   # c", 4, "A", 0],
      ["nsbox -- id", 9, "A", 0],
      ["nsbox --ro /nope -- true   # refused (exit 125)", 10, "A", 125],
      ["nsbox -- hostname", 13, "A", 0],
    ]);
  });

  test("every command not run here is named in NOT_RUN or run by tests/install.test.ts", () => {
    for (const text of Object.keys(NOT_RUN)) expect(commands.map((c) => withoutComment(c.text))).toContain(text);
    expect(commands.filter(runsElsewhere).length).toBeGreaterThan(3);
  });
});

// The developer's machine: a project, a home, the runtime directory, nsbox on PATH.
const home = homeIn(made);
const project = scratchIn(made);
const runtime = scratchIn(made);
chmodSync(runtime, 0o700);
const bin = scratchIn(made);
symlinkSync(NSBOX, join(bin, "nsbox"));
const env = {
  PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  HOME: home,
  XDG_RUNTIME_DIR: runtime,
  LANG: "C.UTF-8",
  TERM: "dumb",
};

// A small project: a dependency from the registry, a test, a dev server, data, a Makefile, and
// the README's own nsbox.json.
writeFileSync(join(project, "package.json"), JSON.stringify({
  name: "demo", version: "1.0.0", private: true,
  scripts: { test: "bun test", dev: "bun server.ts" },
  dependencies: { [DEMO_PACKAGE]: "^1.0.0" },
}, null, 2));
writeFileSync(join(project, "demo.test.ts"), `import { expect, test } from "bun:test";\ntest("adds", () => expect(1 + 1).toBe(2));\n`);
writeFileSync(join(project, "server.ts"), `Bun.serve({ port: 3000, fetch: () => new Response("hi\\n") });\nconsole.log("listening on 3000");\n`);
writeFileSync(join(project, "Makefile"), "all:\n\techo built\n");
for (const dir of ["data", "fixtures"]) mkdirSync(join(project, dir));
const nsboxJson = fenced.find((f) => f.lang === "json" && f.text.includes('"profiles"'));
if (nsboxJson) writeFileSync(join(project, "nsbox.json"), nsboxJson.text + "\n");

const standIn = registryStandIn(scratchIn(made));
/** A command that installs packages: it runs where the stand-in is registry.npmjs.org. */
const installs = (text: string) => /\b(npm|bun) (install|ci|add)\b/.test(text);

/** Run one README command with bash in the project (stdin /dev/null), as `env` describes. */
function start(text: string, opts: { cwd?: string; standIn?: boolean } = {}) {
  const argv = opts.standIn ?? installs(text) ? standIn.argv(text) : ["bash", "-c", text];
  return Bun.spawn(argv, { cwd: opts.cwd ?? project, env: { ...env, NSBOX_TEST_BUN: process.execPath }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
}

async function finish(proc: ReturnType<typeof start>, ms: number) {
  const timer = setTimeout(() => proc.kill("SIGKILL"), ms);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

describe("README.md's commands run as written", () => {
  /** Sandboxes started with --name and stopped later in the same block: they run in the background meanwhile. */
  const background = new Map<string, ReturnType<typeof start>>();
  for (const c of commands) {
    if (runsElsewhere(c) || Object.hasOwn(NOT_RUN, withoutComment(c.text))) continue;
    const name = /^nsbox (?:.* )?--name (\S+) /.exec(c.text)?.[1];
    const stoppedLater = name !== undefined && commands.some((d) => d.block === c.block && d.line > c.line && d.text.startsWith(`nsbox stop ${name}`));
    test(`line ${c.line}: ${c.text}`, async () => {
      if (stoppedLater) {
        const proc = start(c.text);
        background.set(name!, proc);
        const listed = await eventually(async () => (await collect(["nsbox", "ps"], { cwd: project, env })).stdout.includes(name!), 30_000);
        expect(listed).toBe(true);
        return;
      }
      const r = await finish(start(c.text), 150_000);
      expect({ command: c.text, ...r }).toMatchObject({ exitCode: c.exit });
      const stopped = /^nsbox stop (\S+)/.exec(c.text)?.[1];
      const proc = stopped ? background.get(stopped) : undefined;
      if (proc) {
        // The stopped sandbox's command ended by SIGTERM: its status is 128+15.
        expect(await finish(proc, 30_000)).toMatchObject({ exitCode: 143 });
        background.delete(stopped!);
      }
    }, 180_000);
  }
  test("the installs got the package from the stand-in, through nsbox's proxy", () => {
    expect(commands.some((c) => installs(c.text) && !runsElsewhere(c))).toBe(true);
    expect(standIn.requests()).toContain(`GET /${DEMO_PACKAGE}/-/${DEMO_PACKAGE}-1.0.0.tgz`);
  });

  test("nothing started in the background is left running", () => {
    for (const proc of background.values()) proc.kill("SIGKILL");
    expect([...background.keys()]).toEqual([]);
  });
});

describe("the stand-in registry", () => {
  test("an install without the network (the README's old `nsbox --overlay . -- npm install`) fails: the examples need --net (the control)", async () => {
    // A fresh copy of the project: nothing installed yet.
    const fresh = scratchIn(made);
    writeFileSync(join(fresh, "package.json"), readFileSync(join(project, "package.json")));
    const r = await finish(start("npm_config_fetch_retries=0 nsbox --overlay . -- npm install", { cwd: fresh }), 150_000);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(DEMO_PACKAGE);
  }, 180_000);

  test("npm outside nsbox reaches it directly: the stand-in serves the package (the real registry has none)", async () => {
    const r = await finish(start(`npm view ${DEMO_PACKAGE} version`, { standIn: true }), 60_000);
    expect(r).toMatchObject({ exitCode: 0, stdout: "1.0.0\n" });
  }, 90_000);
});
