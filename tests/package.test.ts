// The package as users get it: `bun pm pack`'s tarball, installed globally and into a project.
// Installing fetches consola from the npm registry into a private cache.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT, scratchDir } from "./helpers.ts";

const TIMEOUT = 120_000;
const work = scratchDir();
const env = {
  ...process.env,
  // The shebang is `#!/usr/bin/env bun`: the bun running these tests must be found first.
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  BUN_INSTALL_CACHE_DIR: join(work, "cache"),
};

async function run(cmd: string[], cwd: string, extraEnv: Record<string, string> = {}) {
  const proc = Bun.spawn(cmd, { cwd, env: { ...env, ...extraEnv }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { cmd: cmd.join(" "), exitCode, stdout, stderr };
}

/** Every file under dir, as paths relative to it. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => statSync(join(dir, f)).isFile());

let tarball = "";
let unpacked = "";

beforeAll(async () => {
  const dest = join(work, "pack");
  mkdirSync(dest);
  expect(await run([process.execPath, "pm", "pack", "--destination", dest, "--quiet"], ROOT)).toMatchObject({ exitCode: 0 });
  tarball = join(dest, readdirSync(dest).find((f) => f.endsWith(".tgz"))!);
  unpacked = join(work, "unpacked");
  mkdirSync(unpacked);
  expect(await run(["tar", "-xzf", tarball, "-C", unpacked], work)).toMatchObject({ exitCode: 0 });
}, TIMEOUT);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the tarball", () => {
  it("holds the CLI, the sources and the executor's C, and no tests", () => {
    const files = filesUnder(join(unpacked, "package"));
    const executor = readdirSync(join(ROOT, "src/executor")).filter((f) => /\.[ch]$/.test(f));
    expect(executor.length).toBeGreaterThan(1);
    expect(files).toEqual(
      expect.arrayContaining(["package.json", "bin/nsbox", "src/cli.ts", "src/executor.ts", ...executor.map((f) => `src/executor/${f}`)]),
    );
    expect(files.filter((f) => /^(tests|node_modules|scripts|\.git)\//.test(f))).toEqual([]);
    expect(statSync(join(unpacked, "package/bin/nsbox")).mode & 0o111).toBe(0o111);
  });
});

describe("installed", () => {
  it("globally (bun add -g), its nsbox runs a sandbox", async () => {
    const global = { BUN_INSTALL: join(work, "global") };
    expect(await run([process.execPath, "add", "-g", tarball], work, global)).toMatchObject({ exitCode: 0 });
    const bin = (await run([process.execPath, "pm", "bin", "-g"], work, global)).stdout.trim();
    expect(bin).toBe(join(work, "global", "bin"));
    const r = await run([join(bin, "nsbox"), "--", "sh", "-c", "id -u; hostname"], work);
    expect(r).toMatchObject({ exitCode: 0, stdout: "0\nnsbox\n" });
  }, TIMEOUT);

  it("into a project (bun add), node_modules/.bin/nsbox and bunx nsbox run a sandbox", async () => {
    const project = join(work, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-nsbox", private: true }));
    expect(await run([process.execPath, "add", tarball], project)).toMatchObject({ exitCode: 0 });
    expect(await run(["./node_modules/.bin/nsbox", "--", "true"], project)).toMatchObject({ exitCode: 0, stderr: "" });
    expect(await run([process.execPath, "x", "nsbox", "--", "hostname"], project)).toMatchObject({ exitCode: 0, stdout: "nsbox\n" });
  }, TIMEOUT);

  it("into a project, a Bun program imports run, spawn and NsboxError from \"nsbox\" and runs sandboxes", async () => {
    const project = join(work, "library-project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-nsbox-library", private: true, type: "module" }));
    expect(await run([process.execPath, "add", tarball], project)).toMatchObject({ exitCode: 0 });
    writeFileSync(
      join(project, "index.ts"),
      [
        `import { NsboxError, run, spawn } from "nsbox";`,
        `const ran = await run(["sh", "-c", "hostname; id -u; echo oops >&2; exit 3"]);`,
        `const proc = spawn(["cat"], { stdin: "through spawn" });`,
        `const spawned = { stdout: await new Response(proc.stdout).text(), exitCode: await proc.exited };`,
        `const error = await run(["no-such-command-xyz"]).catch((e) => (e instanceof NsboxError ? e.code : String(e)));`,
        `console.log(JSON.stringify({ ran, spawned, error }));`,
      ].join("\n"),
    );
    const r = await run([process.execPath, "index.ts"], project);
    expect(r).toMatchObject({ exitCode: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toEqual({
      ran: { exitCode: 3, signal: null, stdout: "nsbox\n0\n", stderr: "oops\n", timedOut: false, aborted: false },
      spawned: { stdout: "through spawn", exitCode: 0 },
      error: "NOT_FOUND",
    });
  }, TIMEOUT);
});
