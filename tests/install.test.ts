// The published path, before it exists: a real npm registry on this machine (Verdaccio, from the
// npm registry) serves the packed package, and the README's Install section runs as written
// against it: `bunx nsbox`, `bun add -g nsbox` then `nsbox`, `npx nsbox`, from a checkout, from
// the tarball. Then, with Node and no Bun, `npx nsbox` and `import "nsbox"` / `require("nsbox")`
// say in one line that nsbox needs Bun (125). scripts/test runs this as root and as uid 1000.
// Packages other than nsbox (consola, bun itself for the checkout's `npx --yes bun`) come
// through the registry from registry.npmjs.org, as Verdaccio's default configuration does; nsbox
// itself is never looked up there.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cleanedUp, collect, homeIn, readableCheckout, ROOT, scratchIn } from "./helpers.ts";
import { NOT_RUN, readmeBlocks, withoutComment } from "./readme-commands.ts";

const VERDACCIO = "6.8.0";
const SLOW = 600_000;
const made = cleanedUp();
const work = scratchIn(made);
const uid = process.getuid!();

/**
 * Verdaccio installed with npm once per machine and user: a cache in the temporary directory,
 * used only when it belongs to this user or to root and nobody else may write it (a directory
 * another user made there first is not run); root's serves the uid-1000 pass too. Returns the
 * directory holding node_modules/verdaccio.
 */
async function verdaccio(): Promise<string> {
  const cacheOf = (owner: number) => join(tmpdir(), `nsbox-test-verdaccio-${VERDACCIO}-uid${owner}`);
  const usable = (dir: string, owner: number) => {
    try {
      return [dir, join(dir, "node_modules"), join(dir, "node_modules/verdaccio")].every((p) => {
        const st = lstatSync(p);
        return st.isDirectory() && st.uid === owner && (st.mode & 0o022) === 0;
      }) && existsSync(join(dir, ".complete"));
    } catch {
      return false;
    }
  };
  for (const owner of new Set([0, uid])) if (usable(cacheOf(owner), owner)) return cacheOf(owner);
  const dir = mkdtempSync(join(tmpdir(), "nsbox-verdaccio-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ private: true, dependencies: { verdaccio: VERDACCIO }, overrides: { "node-fetch": "2.7.0" } }));
  const npmHome = homeIn(made);
  const r = await collect(["npm", "install", "--no-audit", "--no-fund", "--registry", "https://registry.npmjs.org/"], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: npmHome, npm_config_cache: join(npmHome, ".npm") },
  });
  if (r.exitCode !== 0) throw new Error(`npm install verdaccio@${VERDACCIO} failed: ${r.stderr}`);
  writeFileSync(join(dir, ".complete"), "");
  Bun.spawnSync(["chmod", "-R", "go-w,a+rX", dir]);
  try {
    renameSync(dir, cacheOf(uid)); // fails when someone made that name first: then it stays ours alone
    return cacheOf(uid);
  } catch {
    made.push(dir);
    return dir;
  }
}

/**
 * The certificates this machine's npm trusts, for Verdaccio's requests to its uplink (Node):
 * NODE_EXTRA_CA_CERTS as given, else npm's `cafile` setting (a machine behind a TLS-inspecting
 * proxy has one; scripts/test's uid-1000 pass starts from a clean environment).
 */
function caCerts(): Record<string, string> {
  if (process.env.NODE_EXTRA_CA_CERTS) return { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS };
  const cafile = Bun.spawnSync(["npm", "config", "get", "cafile"], { env: { PATH: process.env.PATH, HOME: home } }).stdout.toString().trim();
  return cafile && cafile !== "null" && cafile !== "undefined" ? { NODE_EXTRA_CA_CERTS: cafile } : {};
}

/** A TCP port nothing listens on right now. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

const home = homeIn(made);
const project = scratchIn(made);
let registry = "";
let server: ReturnType<typeof Bun.spawn> | undefined;
/** The developer's environment: Bun on PATH, and ~/.bun/bin where `bun add -g` links commands. */
const env = () => ({
  PATH: `${home}/.bun/bin:${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  HOME: home,
  LANG: "C.UTF-8",
  TERM: "dumb",
});

beforeAll(async () => {
  const code = await verdaccio();
  const port = freePort();
  registry = `http://127.0.0.1:${port}/`;
  const dir = scratchIn(made);
  writeFileSync(join(dir, "config.yaml"), [
    `storage: ${join(dir, "storage")}`,
    "auth:", "  htpasswd:", `    file: ${join(dir, "htpasswd")}`, "    max_users: 10",
    "uplinks:", "  npmjs:", "    url: https://registry.npmjs.org/",
    "packages:",
    // nsbox only from here: never someone else's package of that name from the uplink.
    "  'nsbox':", "    access: $all", "    publish: $authenticated",
    "  '**':", "    access: $all", "    publish: $authenticated", "    proxy: npmjs",
    "web:", "  enable: false",
    "log: { type: stdout, format: pretty, level: error }",
  ].join("\n") + "\n");
  server = Bun.spawn(["node", join(code, "node_modules/verdaccio/bin/verdaccio"), "--config", join(dir, "config.yaml"), "--listen", `127.0.0.1:${port}`], {
    cwd: dir, env: { PATH: process.env.PATH, HOME: dir, ...caCerts() }, stdin: "ignore", stdout: "ignore", stderr: "ignore",
  });
  for (let i = 0; ; i++) {
    const up = await fetch(`${registry}-/ping`).then((r) => r.ok, () => false);
    if (up) break;
    if (i > 300) throw new Error(`verdaccio did not answer on ${registry}`);
    await Bun.sleep(100);
  }
  const user = await fetch(`${registry}-/user/org.couchdb.user:nsbox-test`, {
    method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "nsbox-test", password: "nsbox-test-password" }),
  });
  const { token } = (await user.json()) as { token: string };
  expect(token).toBeTruthy();
  // The developer's npm (and Bun, which reads ~/.npmrc) use the local registry.
  writeFileSync(join(home, ".npmrc"), `registry=${registry}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  const pack = scratchIn(made);
  expect(await collect([process.execPath, "pm", "pack", "--destination", pack, "--quiet"], { cwd: ROOT })).toMatchObject({ exitCode: 0 });
  const tarball = join(pack, readdirSync(pack).find((f) => f.endsWith(".tgz"))!);
  const published = await collect(["npm", "publish", tarball], { cwd: pack, env: env() });
  expect(published).toMatchObject({ exitCode: 0 });
  // Served from here: the registry's own record of the version just published.
  const doc = (await (await fetch(`${registry}nsbox`)).json()) as { "dist-tags": { latest: string } };
  expect(doc["dist-tags"].latest).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
}, SLOW);

afterAll(() => {
  server?.kill("SIGKILL");
});

const readme = readmeBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
const install = readme.commands.filter((c) => c.section === "Install" && !Object.hasOwn(NOT_RUN, withoutComment(c.text)));

describe("README's Install section, as written, against the local registry", () => {
  test("has the commands this file proves", () => {
    const texts = install.map((c) => withoutComment(c.text));
    for (const want of ["bunx nsbox -- bash", "bun add -g nsbox", "nsbox -- bash", "npx nsbox -- bash", "bun pm pack"]) expect(texts).toContain(want);
  });

  // A block that builds from the source (./bin/nsbox, a pack) runs in a checkout; the others in a project.
  const checkouts = new Map<number, string>();
  for (const c of install) {
    const inCheckout = install.some((d) => d.block === c.block && /\.\/bin\/|\bpack\b/.test(d.text));
    test(`line ${c.line}: ${c.text}`, async () => {
      let cwd = project;
      if (inCheckout) {
        if (!checkouts.has(c.block)) {
          const copy = readableCheckout(made);
          Bun.spawnSync(["cp", "-a", "node", "schema", "bun.lock", "bunfig.toml", "README.md", "LICENSE", copy], { cwd: ROOT });
          rmSync(join(copy, "node_modules"), { recursive: true, force: true });
          checkouts.set(c.block, copy);
        }
        cwd = checkouts.get(c.block)!;
      }
      const proc = Bun.spawn(["bash", "-c", c.text], { cwd, env: env(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => proc.kill("SIGKILL"), 240_000);
      const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      clearTimeout(timer);
      expect({ command: c.text, exitCode, stdout, stderr }).toMatchObject({ exitCode: c.exit });
    }, 300_000);
  }
});

describe("each way of running the published package starts a sandbox", () => {
  const hostname = async (argv: string[]) => {
    const r = await collect(["bash", "-c", `${argv.join(" ")} -- hostname`], { cwd: project, env: env() });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.exitCode ? r.stderr : "" };
  };

  test("bunx nsbox: from the registry's package in Bun's cache", async () => {
    expect(await hostname(["bunx", "nsbox"])).toMatchObject({ exitCode: 0, stdout: "nsbox\n" });
    const cached = readdirSync(join(home, ".bun/install/cache")).filter((f) => f.startsWith("nsbox@"));
    expect(cached.some((f) => f.includes("127.0.0.1"))).toBe(true);
  }, SLOW);

  test("npx nsbox: from npm's exec cache", async () => {
    expect(await hostname(["npx", "nsbox"])).toMatchObject({ exitCode: 0, stdout: "nsbox\n" });
    const npx = join(home, ".npm/_npx");
    expect(readdirSync(npx).some((d) => existsSync(join(npx, d, "node_modules/nsbox/node/needs-bun.cjs")))).toBe(true);
  }, SLOW);

  test("nsbox after bun add -g: the global install on ~/.bun/bin", async () => {
    expect(await hostname(["nsbox"])).toMatchObject({ exitCode: 0, stdout: "nsbox\n" });
    expect(lstatSync(join(home, ".bun/bin/nsbox")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(home, ".bun/install/global/node_modules/nsbox/LICENSE"))).toBe(true);
  }, SLOW);
});

describe("with Node and no Bun", () => {
  /** A PATH with node, npm and npx, a shell and env: what a machine without Bun has. */
  const nodeOnly = () => {
    const bin = scratchIn(made);
    for (const tool of ["node", "npm", "npx", "sh", "bash", "env"]) {
      const found = Bun.which(tool);
      if (found) symlinkSync(found, join(bin, tool));
    }
    return { ...env(), PATH: bin };
  };
  /** stderr without npm's own notices and warnings. */
  const nsboxLines = (stderr: string) => stderr.split("\n").filter((l) => l && !/^npm (notice|warn|WARN)/.test(l));

  test("npx nsbox says in one line that nsbox needs Bun and how to get it (125)", async () => {
    const r = await collect(["npx", "nsbox", "--", "true"], { cwd: project, env: nodeOnly() });
    expect(r.exitCode).toBe(125);
    expect(nsboxLines(r.stderr)).toEqual([expect.stringMatching(/^nsbox: needs Bun.*npm install -g bun.*https:\/\/bun\.sh\/install/)]);
  }, SLOW);

  test("import and require of the installed package say the same in one line (125); under Bun it loads", async () => {
    const app = scratchIn(made);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    const env = nodeOnly();
    expect(await collect(["npm", "install", "--no-audit", "--no-fund", "nsbox"], { cwd: app, env })).toMatchObject({ exitCode: 0 });
    writeFileSync(join(app, "esm.mjs"), `import { run, spawn, NsboxError } from "nsbox";\nconsole.log("loaded", typeof run);\n`);
    writeFileSync(join(app, "cjs.cjs"), `const { run } = require("nsbox");\nconsole.log("loaded", typeof run);\n`);
    for (const file of ["esm.mjs", "cjs.cjs"]) {
      const r = await collect(["node", file], { cwd: app, env });
      expect({ file, ...r }).toMatchObject({ exitCode: 125, stdout: "" });
      expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^nsbox: needs Bun, and this is Node v\d.*npm install -g bun/)]);
    }
    // The control: Bun takes the "bun" condition and gets the library itself.
    for (const file of ["esm.mjs", "cjs.cjs"]) {
      expect(await collect([process.execPath, file], { cwd: app, env: { ...env, PATH: process.env.PATH } })).toMatchObject({ exitCode: 0, stdout: "loaded function\n" });
    }
  }, SLOW);

  test("node/index.mjs exports every name src/index.ts does (so an import links, and the one line shows)", async () => {
    const lib = await import("../src/index.ts");
    const stub = [...readFileSync(join(ROOT, "node/index.mjs"), "utf8").matchAll(/^export const (\w+)/gm)].map((m) => m[1]);
    expect(stub.sort()).toEqual(Object.keys(lib).sort());
  });
});
