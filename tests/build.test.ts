// dist/, built by scripts/build.ts, is what nsbox loads at start: the CLI as one bundle with its
// bytecode, and the executor as a shared object. A stale build must be impossible to test or
// ship: this file fails when the sources changed since the build (scripts/test builds first),
// and the executor's object is loaded only when it is of the C sources the JavaScript goes with.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildInputs, executorObject, recordedBuild, sourcesHash, staleBuild } from "../scripts/build.ts";
import { executorHash } from "../src/source-hash.ts";
import { collect, ROOT, scratchDir } from "./helpers.ts";

setDefaultTimeout(120_000);

const BUN = [process.execPath, "--no-env-file", "--config=/dev/null"];
const OBJECT = join("dist", executorObject());
const hasObject = existsSync(join(ROOT, OBJECT));

/** A copy of `parts` of the checkout in a fresh scratch directory: its root. */
function copyOf(parts: string[]): string {
  const copy = scratchDir();
  for (const p of parts) cpSync(join(ROOT, p), join(copy, p), { recursive: true });
  return copy;
}

describe("dist/", () => {
  it("is the build of the sources as they are now (control: one changed byte in a copy is reported stale)", () => {
    expect(staleBuild(ROOT)).toBeUndefined();
    expect(recordedBuild(ROOT)?.executor).toBe(executorHash(ROOT));
    const copy = copyOf(["src", "package.json", "scripts", "dist"]);
    expect(staleBuild(copy)).toBeUndefined();
    appendFileSync(join(copy, "src", "errors.ts"), " ");
    expect(staleBuild(copy)).toMatch(/built from other sources.*: run `bun run build`$/);
    // A source file added counts as much as one changed.
    const other = copyOf(["src", "package.json", "scripts", "dist"]);
    writeFileSync(join(other, "src", "new.ts"), "");
    expect(sourcesHash(other)).not.toBe(sourcesHash(ROOT));
    rmSync(join(other, "dist"), { recursive: true });
    expect(staleBuild(other)).toMatch(/no dist\/nsbox\.js.*: run `bun run build`$/);
  });

  it("records every file the build reads, and no path of the machine it was built on", () => {
    const inputs = buildInputs(ROOT).map((f) => f.slice(ROOT.length + 1));
    expect(inputs).toEqual(expect.arrayContaining(["src/main.ts", "src/cli.ts", "src/executor/executor.c", "src/executor/nsbox.h", "package.json", "scripts/build.ts"]));
    expect(readFileSync(join(ROOT, "dist", "nsbox.js"), "utf8")).not.toContain(ROOT);
  });
});

describe("bin/nsbox", () => {
  it("runs the bundle, not the TypeScript: a copy without src/ runs (control: without dist/ it cannot)", async () => {
    // With the executor's object, a whole sandbox runs from bin/ and dist/ alone: neither the
    // CLI's TypeScript nor the C sources (for cc()) are there to be loaded.
    const copy = copyOf(["bin", "dist", "package.json"]);
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    expect(await collect([...BUN, join(copy, "bin", "nsbox"), "--version"])).toMatchObject({ exitCode: 0, stdout: `${version}\n` });
    if (hasObject) expect(await collect([...BUN, join(copy, "bin", "nsbox"), "--", "sh", "-c", "echo ran"])).toMatchObject({ exitCode: 0, stdout: "ran\n" });
    rmSync(join(copy, "dist"), { recursive: true });
    const without = await collect([...BUN, join(copy, "bin", "nsbox"), "--version"]);
    expect(without.exitCode).not.toBe(0);
    expect(without.stderr).toContain("src/main.ts");
  });

  it("in a checkout (a .git beside it), runs the sources when one changed since the build, and says so (control: copied with new times, same bytes: the bundle; no .git: the bundle)", async () => {
    // cpSync gives every file a new modification time: the bytes decide.
    const copy = copyOf(["bin", "src", "dist", "package.json", "tsconfig.json", "scripts"]);
    mkdirSync(join(copy, ".git"));
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    const env = { ...process.env, NSBOX_BUILD_TEST: "1" };
    const same = await collect([...BUN, join(copy, "bin", "nsbox"), "--version"], { env });
    expect(same).toMatchObject({ exitCode: 0, stdout: `${version}\n`, stderr: "" });
    appendFileSync(join(copy, "src", "main.ts"), '\nif (process.env.NSBOX_BUILD_TEST) console.log("from the sources");\n');
    const edited = await collect([...BUN, join(copy, "bin", "nsbox"), "--version"], { env });
    expect(edited).toMatchObject({ exitCode: 0, stdout: `from the sources\n${version}\n` });
    expect(edited.stderr).toBe("nsbox: src/main.ts changed since dist/ was built: running the sources (a slower start); `bun run build` rebuilds dist/\n");
    // An installed package (no .git) is never rebuilt in place: its bundle runs, unchecked.
    rmSync(join(copy, ".git"), { recursive: true });
    expect(await collect([...BUN, join(copy, "bin", "nsbox"), "--version"], { env })).toMatchObject({ exitCode: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("never starts a bun from a node_modules/.bin or a relative PATH entry, where bunx, npx and bun run put the project's (control: the shell's own lookup runs the planted one)", async () => {
    const project = scratchDir();
    const marker = join(project, "planted-bun-ran");
    mkdirSync(join(project, "node_modules", ".bin"), { recursive: true });
    for (const dir of [join(project, "node_modules", ".bin"), join(project, "rel")]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "bun"), `#!/bin/sh\necho ran >> ${marker}\nexec ${process.execPath} "$@"\n`, { mode: 0o755 });
    }
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    const path = `${join(project, "node_modules", ".bin")}:rel:${process.env.PATH}`;
    expect(await collect([join(ROOT, "bin", "nsbox"), "--version"], { cwd: project, env: { ...process.env, PATH: path } })).toMatchObject({ exitCode: 0, stdout: `${version}\n` });
    expect(existsSync(marker)).toBe(false);
    // Only planted ones on PATH: said, not run.
    const only = await collect([join(ROOT, "bin", "nsbox"), "--version"], { cwd: project, env: { ...process.env, PATH: `${join(project, "node_modules", ".bin")}:rel:/usr/bin:/bin` } });
    if (!["/usr/bin/bun", "/bin/bun"].some((b) => existsSync(b))) {
      expect(only.exitCode).toBe(125);
      expect(only.stderr).toContain("nsbox: needs Bun, which is not on PATH (a bun in a relative directory or a node_modules/.bin is not used");
    }
    expect(existsSync(marker)).toBe(false);
    // Control: the shell's own lookup finds and runs the planted one.
    expect(await collect(["sh", "-c", "bun --version"], { cwd: project, env: { ...process.env, PATH: path } })).toMatchObject({ exitCode: 0 });
    expect(existsSync(marker)).toBe(true);
  });

  it("runs the TypeScript when there is no build", async () => {
    const copy = copyOf(["bin", "src", "package.json", "tsconfig.json"]);
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    expect(await collect([...BUN, join(copy, "bin", "nsbox"), "--version"])).toMatchObject({ exitCode: 0, stdout: `${version}\n` });
  });
});

/** Which executor src/executor.ts of the tree at `root` loads, and whether it then works. */
async function executorOf(root: string): Promise<string> {
  const script = `const e = await import(${JSON.stringify(join(root, "src", "executor.ts"))}); e.prepareExecutor(); const [r, w] = e.pipe(); e.closeFd(r); e.closeFd(w); console.log(e.executorOrigin);`;
  const r = await collect([...BUN, "-e", script], { cwd: root });
  expect(r).toMatchObject({ exitCode: 0, stderr: "" });
  const origin = r.stdout.trim();
  return origin.startsWith("prebuilt: ") ? "prebuilt" : origin.startsWith("compiled by bun:ffi ") ? "cc()" : origin;
}

describe.if(hasObject)("the executor's shared object", () => {
  it("is loaded when its hash is of these C sources; stale, foreign or broken ones are not, and cc() is used", async () => {
    const copy = copyOf(["src", "dist"]);
    const object = join(copy, OBJECT);
    // Control: the object as built is loaded.
    expect(await executorOf(copy)).toBe("prebuilt");
    // A C source changed since the build: the object is stale.
    const host = join(copy, "src", "executor", "host.c");
    const source = readFileSync(host);
    appendFileSync(host, "\n");
    expect(await executorOf(copy)).toBe("cc()");
    writeFileSync(host, source);
    expect(await executorOf(copy)).toBe("prebuilt");
    // An object carrying another hash (built from other sources).
    const built = readFileSync(object);
    const hash = Buffer.from(executorHash(copy));
    expect(built.indexOf(hash)).toBeGreaterThan(0);
    const other = Buffer.from(built);
    other.fill("0", other.indexOf(hash), other.indexOf(hash) + hash.length);
    writeFileSync(object, other);
    expect(await executorOf(copy)).toBe("cc()");
    // One for another architecture (its ELF header's e_machine: aarch64 here, x86-64 on aarch64).
    const foreign = Buffer.from(built);
    foreign.writeUInt16LE(foreign.readUInt16LE(18) === 62 ? 183 : 62, 18);
    writeFileSync(object, foreign);
    expect(await executorOf(copy)).toBe("cc()");
    // Not a shared object at all.
    writeFileSync(object, "not an ELF file\n");
    expect(await executorOf(copy)).toBe("cc()");
    // Under another architecture's name only: this one's is looked for.
    writeFileSync(object, built);
    renameSync(object, join(copy, "dist", executorObject(process.arch === "x64" ? "arm64" : "x64")));
    expect(await executorOf(copy)).toBe("cc()");
  });
});

describe.if(hasObject)("the executor's shared object, from the bundle", () => {
  it("is checked by its bytes before it is loaded: one with a constructor and the right embedded hash is not loaded (control: the object as built is)", async () => {
    const copy = copyOf(["bin", "src", "dist", "package.json"]);
    const run = () => collect([...BUN, join(copy, "bin", "nsbox"), "doctor"], { cwd: scratchDir(), env: { ...process.env, NSBOX_CTOR_MARK: join(copy, "ran") } });
    expect((await run()).stdout).toContain("prebuilt: dist/executor-");
    // Same source hash, plus a constructor: a dlopen before the check would run it.
    const src = join(copy, "evil.c");
    writeFileSync(src, `extern int getpid(void); extern char *getenv(const char *); extern int creat(const char *, int);\n__attribute__((constructor)) static void run(void) { char *m = getenv("NSBOX_CTOR_MARK"); if (m) creat(m, 0600); }\nconst char *nsbox_source_hash(void) { return "${recordedBuild(ROOT)!.executor}"; }\nint nsbox_call(int f, void *p, int a, int b, int c, int d, int e, int g) { return -38; }\n`);
    expect(await collect(["gcc", "-shared", "-fPIC", "-o", join(copy, OBJECT), src])).toMatchObject({ exitCode: 0 });
    const planted = await run();
    expect(existsSync(join(copy, "ran"))).toBe(false);
    expect(planted.stdout).toContain("compiled by bun:ffi");
    // Control: loaded, the planted object's constructor runs.
    const loaded = await collect([...BUN, "-e", `try { require("bun:ffi").dlopen(${JSON.stringify(join(copy, OBJECT))}, { nsbox_call: { args: [], returns: "int" } }) } catch {}`], { env: { ...process.env, NSBOX_CTOR_MARK: join(copy, "ran") } });
    expect(loaded.exitCode).toBe(0);
    expect(existsSync(join(copy, "ran"))).toBe(true);
  });
});

describe("dist/ inside a sandbox started in nsbox's checkout", () => {
  const checkout = () => {
    const copy = copyOf(["bin", "src", "package.json", "tsconfig.json"]);
    cpSync(join(ROOT, "node_modules"), join(copy, "node_modules"), { recursive: true, dereference: true });
    return copy;
  };
  const write = "mkdir -p dist 2>/dev/null; (echo planted > dist/nsbox.js) 2>/dev/null && echo written || echo refused";

  it("when missing, is made empty before the sandbox starts and is read-only inside: a bundle planted there can't run in another nsbox (control: the same shell without nsbox writes it)", async () => {
    const copy = checkout();
    const inside = await collect([...BUN, join(copy, "bin", "nsbox"), "--", "sh", "-c", write], { cwd: copy });
    expect(inside, inside.stderr).toMatchObject({ exitCode: 0, stdout: "refused\n" });
    expect(readdirSync(join(copy, "dist"))).toEqual([]);
    rmSync(join(copy, "dist"), { recursive: true });
    expect(await collect(["sh", "-c", write], { cwd: copy })).toMatchObject({ stdout: "written\n" });
    expect(readFileSync(join(copy, "dist", "nsbox.js"), "utf8")).toBe("planted\n");
  });

  it("a build's directory, made after the sandbox started, is read-only inside: the build works in dist/ (control: a directory beside dist/, where it used to work, is writable)", async () => {
    const copy = checkout();
    // The payload waits for the host's directory to appear, then writes into it.
    const payload = (dir: string) => `for i in $(seq 100); do [ -d ${dir} ] && break; sleep 0.05; done; (echo planted > ${dir}/nsbox.js) 2>/dev/null && echo written || echo refused`;
    for (const [dir, rc] of [["dist/.build-1", "refused"], ["dist.tmp-1", "written"]] as const) {
      const ran = collect([...BUN, join(copy, "bin", "nsbox"), "--", "sh", "-c", payload(dir)], { cwd: copy });
      await Bun.sleep(1500);
      mkdirSync(join(copy, dir), { recursive: true });
      const r = await ran;
      expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: `${rc}\n` });
    }
  });
});

describe("bun pm pack", () => {
  it("packs a fresh dist/: the bundle, its bytecode and the executor's object, built from the sources it ships", async () => {
    const dest = scratchDir();
    const packed = await collect([process.execPath, "pm", "pack", "--destination", dest, "--quiet"], { cwd: ROOT });
    expect(packed.exitCode).toBe(0);
    const tarball = join(dest, readdirSync(dest).find((f) => f.endsWith(".tgz"))!);
    const unpacked = scratchDir();
    expect(await collect(["tar", "-xzf", tarball, "-C", unpacked])).toMatchObject({ exitCode: 0 });
    const pkg = join(unpacked, "package");
    const dist = readdirSync(join(pkg, "dist")).sort();
    expect(dist).toEqual(["inputs.json", "nsbox.js", "nsbox.js.jsc", ...(hasObject ? [executorObject()] : [])].sort());
    // The bundle records the hash of the sources the tarball holds (with the build script,
    // which it does not ship), and of its C.
    mkdirSync(join(pkg, "scripts"));
    cpSync(join(ROOT, "scripts", "build.ts"), join(pkg, "scripts", "build.ts"));
    const object = hasObject ? { object: new Bun.CryptoHasher("sha256").update(readFileSync(join(pkg, OBJECT))).digest("hex") } : {};
    expect(recordedBuild(pkg)).toEqual({ sources: sourcesHash(pkg), executor: executorHash(pkg), ...object });
    expect(sourcesHash(pkg)).toBe(sourcesHash(ROOT));
    expect(staleBuild(ROOT)).toBeUndefined();
  });
});
