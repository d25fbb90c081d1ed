// Host trust: the packages nsbox loads while a sandbox runs (dns-packet at the first DNS query,
// consola at the first message) are loaded by the absolute path found before the sandbox
// started (src/packages.ts), never by name. By name, Bun looks first in node_modules
// directories nearer to nsbox's code, e.g. `<project>/node_modules/nsbox/node_modules/NAME` in
// a project-local install, which a payload sharing the project can create during the run.
import { beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT, cleanedUp, collect, scratchIn } from "./helpers.ts";
import { ownPackages } from "../src/packages.ts";

setDefaultTimeout(120_000);
const made = cleanedUp();
let work = "";
let project = "";
let env: Record<string, string | undefined> = {};

beforeAll(async () => {
  // A project-local install of this checkout, as tests/host-trust-own-code.test.ts makes one.
  work = scratchIn(made);
  env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`, BUN_INSTALL_CACHE_DIR: join(work, "cache") };
  const dest = join(work, "pack");
  mkdirSync(dest);
  expect(await collect([process.execPath, "pm", "pack", "--destination", dest, "--quiet"], { cwd: ROOT, env })).toMatchObject({ exitCode: 0 });
  project = join(work, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-nsbox", private: true }));
  const tarball = join(dest, readdirSync(dest).find((f) => f.endsWith(".tgz"))!);
  expect(await collect([process.execPath, "add", tarball], { cwd: project, env })).toMatchObject({ exitCode: 0 });
});

/** Shell that plants package `name` at node_modules/nsbox/node_modules/NAME; loaded, it writes `marker` (outside the sandbox's reach). */
function plant(name: string, marker: string, esm: boolean): string {
  const dir = `node_modules/nsbox/node_modules/${name}`;
  const body = esm
    ? `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "planted"); module.exports = { createConsola: () => ({ warn() {}, error() {}, debug() {} }) };`
    : `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "planted"); module.exports = {};`;
  return [
    `mkdir -p ${dir}`,
    `printf '%s' ${shq(JSON.stringify({ name, version: "9.9.9", main: "index.js" }))} > ${dir}/package.json`,
    `printf '%s' ${shq(body)} > ${dir}/index.js`,
  ].join(" && ");
}
const shq = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

describe("packages nsbox loads while a sandbox runs", () => {
  it("dns-packet planted beside a project-local nsbox during the run does not run in the host at the first DNS query (control: the plant loads by name)", async () => {
    const marker = join(work, "pwned-dns");
    // nsbox made node_modules/nsbox/node_modules, missing, empty and read-only before the run
    // (src/plan/protected.ts makeOwnDirs): the plant is refused there; the load by the entry
    // found before the run (the ownPackages tests below) is the second wall.
    const r = await collect(["./node_modules/.bin/nsbox", "--", "sh", "-c", `(${plant("dns-packet", marker, false)}) 2>/dev/null && echo planted || echo refused; exec getent hosts example.com`], { cwd: project, env });
    expect(r.stdout).toStartWith("refused\n");
    // The lookup reached nsbox's resolver, which read it with dns-packet (the real one): said when the command fails.
    expect(r.stderr).toContain("the command looked up: example.com");
    expect(existsSync(marker)).toBe(false);
    // The control: the same plant, loaded by name from nsbox's directory, runs.
    rmSync(join(project, "node_modules/nsbox/node_modules"), { recursive: true, force: true });
    expect(await collect(["sh", "-c", plant("dns-packet", marker, false)], { cwd: project, env })).toMatchObject({ exitCode: 0 });
    expect(await collect([process.execPath, "--no-env-file", "--config=/dev/null", "-e", 'require("dns-packet")'], { cwd: join(project, "node_modules/nsbox/dist"), env })).toMatchObject({ exitCode: 0 });
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    rmSync(join(project, "node_modules/nsbox/node_modules"), { recursive: true, force: true });
  });

  it("consola planted during the run does not run in the host at a warning after the plant (control: the plant loads by name)", async () => {
    const marker = join(work, "pwned-consola");
    // A connection --net none refuses: nsbox says so (a warning, consola's first load) while the sandbox runs.
    const connect = "bun -e 'try { await fetch(\"http://1.1.1.1/\", { signal: AbortSignal.timeout(2000) }) } catch {}'";
    const r = await collect(["./node_modules/.bin/nsbox", "--", "sh", "-c", `(${plant("consola", marker, true)}) 2>/dev/null && echo planted || echo refused; ${connect}; sleep 1; true`], { cwd: project, env });
    expect(r.stdout).toStartWith("refused\n");
    // Said through consola, the real one (the planted one says nothing).
    expect(r.stderr).toContain("blocked connect to 1.1.1.1:80");
    expect(existsSync(marker)).toBe(false);
    rmSync(join(project, "node_modules/nsbox/node_modules"), { recursive: true, force: true });
    expect(await collect(["sh", "-c", plant("consola", marker, true)], { cwd: project, env })).toMatchObject({ exitCode: 0 });
    expect(await collect([process.execPath, "--no-env-file", "--config=/dev/null", "-e", 'await import("consola")'], { cwd: join(project, "node_modules/nsbox/dist"), env })).toMatchObject({ exitCode: 0 });
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    rmSync(join(project, "node_modules/nsbox/node_modules"), { recursive: true, force: true });
  });
});

describe("ownPackages", () => {
  it("finds the entry files Bun's resolver finds for consola (import) and dns-packet (require)", () => {
    const own = ownPackages();
    expect(own.consola?.entry).toBe(Bun.resolveSync("consola", ROOT));
    expect(own.dnsPacket?.entry).toBe(require.resolve("dns-packet", { paths: [ROOT] }));
    expect(own.ipCodec).toBeDefined();
  });

  it("keeps the entries found first: a copy planted nearer to nsbox's code later changes nothing (control: a fresh process planted first finds it)", async () => {
    // In a copy of the install above: found, then planted, then asked again.
    const pkg = join(project, "node_modules", "nsbox");
    const script = [
      "const plant = () => { for (const n of ['consola', 'dns-packet']) { const d = process.argv[1] + '/node_modules/' + n; require('node:fs').mkdirSync(d, { recursive: true }); require('node:fs').writeFileSync(d + '/package.json', JSON.stringify({ name: n, main: 'index.js' })); require('node:fs').writeFileSync(d + '/index.js', ''); } };",
      "if (process.argv[2] === 'first') plant();",
      `const { ownPackages, ownEntry } = await import(${JSON.stringify(join(pkg, "src", "packages.ts"))});`,
      "ownPackages();",
      "plant();",
      "console.log(ownEntry('consola') + '\\n' + ownEntry('dns-packet'));",
    ].join("\n");
    for (const when of ["later", "first"]) {
      const r = await collect([process.execPath, "--no-env-file", "--config=/dev/null", "-e", script, pkg, when], { cwd: project, env });
      rmSync(join(pkg, "node_modules"), { recursive: true, force: true });
      expect(r.exitCode).toBe(0);
      const planted = r.stdout.split("\n").filter((l) => l.startsWith(`${realpathSync(pkg)}/node_modules/`));
      expect(planted.length).toBe(when === "first" ? 2 : 0);
    }
  });

  it("the library finds them at buildPlan, also with no writable share (no OWN_CODE asked): a plant after it changes nothing (control: planted first, it is found)", async () => {
    const pkg = join(project, "node_modules", "nsbox");
    const script = [
      "const plant = () => { for (const n of ['consola', 'dns-packet']) { const d = process.argv[1] + '/node_modules/' + n; require('node:fs').mkdirSync(d, { recursive: true }); require('node:fs').writeFileSync(d + '/package.json', JSON.stringify({ name: n, main: 'index.js' })); require('node:fs').writeFileSync(d + '/index.js', ''); } };",
      "if (process.argv[2] === 'first') plant();",
      "const { buildPlan, readHost } = await import('nsbox');",
      "buildPlan(['true'], { noCwd: true }, readHost(), { terminal: null, library: true });",
      "plant();",
      `const { ownEntry } = await import(${JSON.stringify(join(realpathSync(pkg), "src", "packages.ts"))});`,
      "console.log(ownEntry('consola') + '\\n' + ownEntry('dns-packet'));",
    ].join("\n");
    for (const when of ["later", "first"]) {
      // An own node_modules that exists (empty) before the start: Bun has not listed it, so a
      // lookup by name after the plant would find the planted copy.
      mkdirSync(join(pkg, "node_modules"));
      const r = await collect([process.execPath, "--no-env-file", "--config=/dev/null", "-e", script, realpathSync(pkg), when], { cwd: project, env });
      rmSync(join(pkg, "node_modules"), { recursive: true, force: true });
      expect(r).toMatchObject({ exitCode: 0 });
      const planted = r.stdout.split("\n").filter((l) => l.startsWith(`${realpathSync(pkg)}/node_modules/`));
      expect(planted.length).toBe(when === "first" ? 2 : 0);
    }
  });

  it("nsbox's code never loads consola or dns-packet by name (by the entry found before the sandbox)", () => {
    const byName = /(?<!typeof )(?:\bimport|\brequire)\(\s*["'](?:consola|dns-packet)["']\s*\)/;
    const files = [...new Bun.Glob("src/**/*.ts").scanSync(ROOT)];
    expect(files.filter((f) => byName.test(readFileSync(join(ROOT, f), "utf8")))).toEqual([]);
    // The bundle bin/nsbox loads (scripts/test builds it).
    const bundle = join(ROOT, "dist", "nsbox.js");
    if (existsSync(bundle)) expect(byName.test(readFileSync(bundle, "utf8"))).toBe(false);
  });
});
