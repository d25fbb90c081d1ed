// Host trust, launch: no way of starting nsbox lets Bun take bunfig.toml, .env* or tsconfig.json
// from the project it runs in. Each planted file is first shown working on plain `bun` (the control).
// Installing fetches consola from the npm registry into a private cache, as package.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { collect, NSBOX, ROOT, scratchDir } from "./helpers.ts";

const TIMEOUT = 120_000;
const work = scratchDir();
const BUN = process.execPath;
const env = {
  ...process.env,
  // The shebang is `#!/usr/bin/env -S bun …`: the bun running these tests must be found first.
  PATH: `${dirname(BUN)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  BUN_INSTALL_CACHE_DIR: join(work, "cache"),
};
const marks = join(work, "marks");
mkdirSync(marks);
let n = 0;

/**
 * Plant in `dir`: a bunfig.toml whose preload writes a fresh marker file, and .env files that set
 * PLANTED (one per name Bun loads: .env, .env.local, .env.production, .env.test, …). Returns the
 * marker's path.
 */
function plant(dir: string): string {
  const mark = join(marks, `preloaded-${++n}`);
  writeFileSync(join(dir, "evil.ts"), `require("node:fs").writeFileSync(${JSON.stringify(mark)}, "ran");\n`);
  writeFileSync(join(dir, "bunfig.toml"), `preload = ["./evil.ts"]\n`);
  for (const f of [".env", ".env.local", ".env.development", ".env.production", ".env.test"]) writeFileSync(join(dir, f), `PLANTED=from${f}\n`);
  return mark;
}

const run = (argv: string[], cwd: string, extra: Record<string, string> = {}) => collect(argv, { cwd, env: { ...env, ...extra } });
/** The payload prints what it got of PLANTED; nothing from .env may reach it. */
const PAYLOAD = ["--", "sh", "-c", 'echo "planted=[$PLANTED]"'];

/** The control: plain `bun script.ts` in `dir` runs the preload and reads the .env files. */
async function control(dir: string, mark: string, nodeEnv?: string) {
  const script = join(work, "show-env.ts");
  writeFileSync(script, `console.log("planted=[" + (process.env.PLANTED ?? "") + "]");\n`);
  const r = await run([BUN, script], dir, nodeEnv ? { NODE_ENV: nodeEnv } : {});
  expect(r.stdout).toMatch(/planted=\[from\.env/);
  expect(existsSync(mark)).toBe(true);
  rmSync(mark);
}

let tarball = "";
let bin = "";
let project = "";

beforeAll(async () => {
  const dest = join(work, "pack");
  mkdirSync(dest);
  expect(await run([BUN, "pm", "pack", "--destination", dest, "--quiet"], ROOT)).toMatchObject({ exitCode: 0 });
  tarball = join(dest, readdirSync(dest).find((f) => f.endsWith(".tgz"))!);
  const global = { BUN_INSTALL: join(work, "global") };
  expect(await run([BUN, "add", "-g", tarball], work, global)).toMatchObject({ exitCode: 0 });
  bin = join(work, "global", "bin", "nsbox");
  project = join(work, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-nsbox", private: true }));
  expect(await run([BUN, "add", tarball], project)).toMatchObject({ exitCode: 0 });
}, TIMEOUT);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a project's bunfig.toml preload and .env files never reach the nsbox process", () => {
  it("the bin on PATH from a global install (bun add -g), under every NODE_ENV", async () => {
    const dir = join(work, "planted-global");
    mkdirSync(dir);
    const mark = plant(dir);
    for (const nodeEnv of [undefined, "production", "test", "development"]) {
      await control(dir, mark, nodeEnv);
      const r = await run([bin, ...PAYLOAD], dir, nodeEnv ? { NODE_ENV: nodeEnv } : {});
      expect(r).toMatchObject({ exitCode: 0, stdout: "planted=[]\n" });
      expect(existsSync(mark)).toBe(false);
    }
  }, TIMEOUT);

  it("a project install: node_modules/.bin/nsbox, bun x nsbox and bunx nsbox", async () => {
    const mark = plant(project);
    await control(project, mark);
    const starts = [["./node_modules/.bin/nsbox"], [BUN, "x", "nsbox"], ...(existsSync(join(dirname(BUN), "bunx")) ? [[join(dirname(BUN), "bunx"), "nsbox"]] : [])];
    for (const start of starts) {
      const r = await run([...start, ...PAYLOAD], project);
      expect({ start, ...r }).toMatchObject({ start, exitCode: 0, stdout: "planted=[]\n" });
      expect(existsSync(mark)).toBe(false);
    }
  }, TIMEOUT);

  it("`bun ./bin/nsbox` where Bun read them: refused, the payload never runs; with the shebang's flags it runs clean", async () => {
    const dir = join(work, "planted-checkout");
    mkdirSync(dir);
    const mark = plant(dir);
    await control(dir, mark);
    const r = await run([BUN, NSBOX, ...PAYLOAD], dir);
    expect(r.exitCode).toBe(125);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Bun read ./.env, ./.env.development, ./.env.local, ./.env.production, ./.env.test, ./bunfig.toml from the current directory");
    expect(r.stderr).toContain(`bun --no-env-file --config=/dev/null ${NSBOX}`);
    // Bun ran the preload before nsbox's first line: that is why the README's command has the flags.
    expect(existsSync(mark)).toBe(true);
    rmSync(mark);
    const clean = await run([BUN, "--no-env-file", "--config=/dev/null", NSBOX, ...PAYLOAD], dir);
    expect(clean).toMatchObject({ exitCode: 0, stdout: "planted=[]\n" });
    expect(existsSync(mark)).toBe(false);
    // Only a .env (Bun read no bunfig.toml): refused too, naming it.
    rmSync(join(dir, "bunfig.toml"));
    const dotenv = await run([BUN, NSBOX, ...PAYLOAD], dir);
    expect(dotenv.exitCode).toBe(125);
    expect(dotenv.stderr).toContain("Bun read ./.env, ./.env.development");
  }, TIMEOUT);

  const npx = Bun.which("npx");
  it.if(npx !== null)("the README's first command, `npx --yes bun …/bin/nsbox`: refused without the flags, clean with them", async () => {
    const dir = join(work, "planted-npx");
    mkdirSync(dir);
    const mark = plant(dir);
    await control(dir, mark);
    const cache = { npm_config_cache: join(work, "npm-cache"), npm_config_update_notifier: "false" };
    const bare = await run([npx!, "--yes", "bun", NSBOX, ...PAYLOAD], dir, cache);
    expect(bare.exitCode).toBe(125);
    expect(bare.stderr).toContain("./bunfig.toml from the current directory");
    rmSync(mark, { force: true });
    const flagged = await run([npx!, "--yes", "bun", "--no-env-file", "--config=/dev/null", NSBOX, ...PAYLOAD], dir, cache);
    expect(flagged).toMatchObject({ exitCode: 0, stdout: "planted=[]\n" });
    expect(existsSync(mark)).toBe(false);
  }, TIMEOUT);

  it("`bun ./bin/nsbox` in a directory it cannot list (Bun opens the files by name): refused too", async () => {
    const dir = join(work, "planted-unlistable");
    mkdirSync(dir);
    const mark = plant(dir);
    // Bun resolves no module in a directory it cannot list: the attacker's preload is in ./lib.
    mkdirSync(join(dir, "lib"));
    cpSync(join(dir, "evil.ts"), join(dir, "lib/evil.ts"));
    writeFileSync(join(dir, "bunfig.toml"), `preload = ["./lib/evil.ts"]\n`);
    chmodSync(dir, 0o311);
    try {
      const r = await run([BUN, NSBOX, ...PAYLOAD], dir);
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toContain("./bunfig.toml from the current directory");
      expect(existsSync(mark)).toBe(true); // the control: Bun did read it
    } finally {
      chmodSync(dir, 0o755);
    }
  }, TIMEOUT);

  it("Bun reads neither from a parent directory: `bun ./bin/nsbox` in a subdirectory runs clean", async () => {
    const parent = join(work, "planted-parent");
    const sub = join(parent, "sub");
    mkdirSync(sub, { recursive: true });
    const mark = plant(parent);
    await control(parent, mark);
    const r = await run([BUN, NSBOX, ...PAYLOAD], sub);
    expect(r).toMatchObject({ exitCode: 0, stdout: "planted=[]\n" });
    expect(existsSync(mark)).toBe(false);
  }, TIMEOUT);

  it("a project's tsconfig.json does not redirect an installed nsbox's imports (the package ships its own)", async () => {
    const dir = join(work, "tsconfig-project");
    mkdirSync(dir);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "tsconfig-project", private: true }));
    expect(await run([BUN, "add", tarball], dir)).toMatchObject({ exitCode: 0 });
    const mark = join(marks, "tsconfig-paths");
    writeFileSync(join(dir, "evil.ts"), `require("node:fs").writeFileSync(${JSON.stringify(mark)}, "ran");\nexport const createConsola = () => ({ error() {}, warn() {}, debug() {} });\n`);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { paths: { consola: ["./evil.ts"] } } }));
    // Control: the same package without its tsconfig.json takes the project's; an error message imports consola.
    cpSync(join(dir, "node_modules/nsbox"), join(dir, "node_modules/nsbox-bare"), { recursive: true });
    rmSync(join(dir, "node_modules/nsbox-bare/tsconfig.json"));
    await run(["./node_modules/nsbox-bare/bin/nsbox", "--nope"], dir);
    expect(existsSync(mark)).toBe(true);
    rmSync(mark);
    const r = await run(["./node_modules/.bin/nsbox", "--nope"], dir);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("nsbox: unknown option --nope");
    expect(existsSync(mark)).toBe(false);
  }, TIMEOUT);
});
