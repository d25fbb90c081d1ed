// Builds dist/ from the sources: what nsbox loads at start, so no start transpiles TypeScript or
// compiles C. `bun run build` (scripts/test, `bun install` and `bun pm pack` run it too).
//   dist/nsbox.js, nsbox.js.jsc   the CLI (src/main.ts and all it imports) as one CommonJS bundle
//                                 with Bun's bytecode; bin/nsbox loads it when present.
//   dist/executor-<arch>.so       src/executor/*.c by gcc (when there is one), with the hash of
//                                 those sources compiled in: src/executor.ts loads it only when
//                                 that hash is the one it expects, and compiles with cc() otherwise.
//   dist/inputs.json              each input's [path, size, mtime, hash] when it was built: in a checkout
//                                 (a .git beside it), bin/nsbox runs the sources instead of a
//                                 bundle older than them, and says so.
// Both record the hashes of what they were built from; tests/build.test.ts fails when the
// sources changed since (a stale build can be neither tested nor packed).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { executorHash, hashFiles } from "../src/source-hash.ts";

export const ROOT = join(import.meta.dir, "..");

/** Every file under `dir`, sorted. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

/** What the build is made from: src/**, package.json and this script. */
export const buildInputs = (root: string): string[] => [...walk(join(root, "src")), join(root, "package.json"), join(root, "scripts", "build.ts")];

/** The hash dist/ records: of every build input as it is now in `root`. */
export const sourcesHash = (root: string): string => hashFiles(root, buildInputs(root));

/** The name of the executor's shared object for this architecture, in dist/. */
export const executorObject = (arch = process.arch) => `executor-${arch}.so`;

/** The build a bundle records (its NSBOX_BUILT define; src/main.ts exports it as BUILT). */
export interface Built {
  sources: string;
  executor: string;
  /** SHA-256 of dist/executor-<arch>.so's bytes, checked before it is loaded (absent: no gcc, no object). */
  object?: string;
}

/** What `root`'s dist/nsbox.js records (its BUILT export), or undefined when there is none. */
export function recordedBuild(root: string): Built | undefined {
  const bundle = join(root, "dist", "nsbox.js");
  if (!existsSync(bundle)) return undefined;
  const read = "console.log(JSON.stringify(require(process.argv[1]).BUILT ?? null))";
  const r = Bun.spawnSync([process.execPath, "--no-env-file", "--config=/dev/null", "-e", read, bundle], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`dist/nsbox.js did not load: ${r.stderr.toString().trim()}`);
  return JSON.parse(r.stdout.toString()) ?? undefined;
}

/** Why `root`'s dist/ is not the build of its sources as they are now (with the fix), or undefined when it is. */
export function staleBuild(root: string): string | undefined {
  const built = recordedBuild(root);
  if (!built) return "there is no dist/nsbox.js (bin/nsbox runs the TypeScript): run `bun run build`";
  if (built.sources !== sourcesHash(root)) return "dist/ was built from other sources than src/, package.json and scripts/build.ts are now: run `bun run build`";
  return undefined;
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = join(dir || ".", name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  return undefined;
}

/**
 * Build `root`'s dist/: into a fresh directory inside dist/, whose files are then renamed into
 * place. Inside dist/ because a sandbox that shares nsbox's checkout sees dist/ read-only (nsbox
 * makes it, empty, when it is missing: src/plan/protected.ts), and with it everything made in it
 * later: a build directory beside it (dist.tmp-PID) was the payload's to rewrite between the
 * build and the rename, and every later start ran what it wrote there.
 */
export async function build(root = ROOT): Promise<{ built: Built; object: boolean }> {
  const dist = join(root, "dist");
  mkdirSync(dist, { recursive: true });
  const tmp = join(dist, `.build-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    // Each input's size and modification time, taken before it is read: bin/nsbox compares them
    // in a checkout (an edit made during the build shows as one made after it).
    const stamps = buildInputs(root).map((f) => {
      const st = statSync(f);
      return [relative(root, f), st.size, st.mtimeMs, Bun.hash(readFileSync(f)).toString(16)] as const;
    });
    const built: Built = { sources: sourcesHash(root), executor: executorHash(root) };
    // The executor first: the bundle records its object's hash.
    const object = compileExecutor(root, tmp, built.executor);
    if (object) built.object = new Bun.CryptoHasher("sha256").update(readFileSync(join(tmp, executorObject()))).digest("hex");
    const result = await Bun.build({
      throw: false,
      entrypoints: [join(root, "src", "main.ts")],
      outdir: tmp,
      naming: "nsbox.js",
      target: "bun",
      format: "cjs",
      bytecode: true,
      // The packages stay in node_modules, so a checkout builds (and packs) before any install:
      // consola's code would keep Bun from making bytecode of the bundle, and it is loaded only
      // to print a warning; dns-packet only for a sandbox's first lookup, and bundled it made no
      // start faster (--version 51 against 54 ms, -- true 106 against 107). Not minified either:
      // no faster (--version 55 against 57 ms), and a stack stays readable.
      external: ["consola", "dns-packet"],
      define: {
        // Bun would write the build's directory in place of import.meta.dir: src/package-root.ts
        // gets the root from bin/nsbox instead, and a use that did not would fail loudly.
        "import.meta.dir": "undefined",
        NSBOX_BUILT: JSON.stringify(built),
      },
    });
    if (!result.success) throw new Error(`bun build failed: ${result.logs.map(String).join("; ")}`);
    const bundle = await Bun.file(join(tmp, "nsbox.js")).text();
    if (!existsSync(join(tmp, "nsbox.js.jsc"))) throw new Error("bun build made no bytecode (dist/nsbox.js.jsc): a bundled package blocks it; make it external");
    if (bundle.includes(root)) throw new Error(`the bundle holds the path it was built in (${root}): some import.meta or __dirname was inlined`);
    writeFileSync(join(tmp, "inputs.json"), JSON.stringify(stamps));
    // Each file renamed over the old one (a start in between loads a mixed build at worst: Bun
    // ignores a .jsc of other sources, the executor an object of other C), then what the last
    // build made and this one did not is removed.
    const made = readdirSync(tmp);
    for (const f of made) renameSync(join(tmp, f), join(dist, f));
    for (const f of readdirSync(dist)) if (!made.includes(f) && !f.startsWith(".build-")) rmSync(join(dist, f), { recursive: true, force: true });
    return { built, object };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** gcc the executor into `out`, its hash compiled in (nsbox_source_hash()); false when there is no gcc. */
function compileExecutor(root: string, out: string, hash: string): boolean {
  const gcc = which("gcc");
  if (!gcc) return false;
  const hashFile = join(out, "source-hash.c");
  writeFileSync(hashFile, `const char *nsbox_source_hash(void) { return "${hash}"; }\n`);
  // The C is written for TinyCC, which does not optimise: no assumption that pointers of two
  // types never alias (control messages are read through int *) or that int arithmetic never
  // wraps may change what it does.
  const flags = ["-O2", "-fPIC", "-shared", "-fno-stack-protector", "-fno-strict-aliasing", "-fwrapv"];
  const r = Bun.spawnSync([gcc, ...flags, "-o", join(out, executorObject()), join(root, "src", "executor", "executor.c"), hashFile], { stderr: "pipe", stdout: "pipe" });
  rmSync(hashFile);
  if (r.exitCode !== 0) throw new Error(`gcc could not compile src/executor/executor.c:\n${r.stderr.toString()}`);
  return true;
}

if (import.meta.main) {
  const started = performance.now();
  try {
    const { built, object } = await build();
    const files = readdirSync(join(ROOT, "dist")).map((f) => `dist/${f}`).join(", ");
    console.log(`nsbox build: ${files} from sources ${built.sources.slice(0, 12)} in ${Math.round(performance.now() - started)} ms${object ? "" : " (no gcc: the executor is compiled by bun:ffi at start)"}`);
  } catch (e) {
    console.error(`nsbox build: ${(e as Error).message}`);
    process.exit(1);
  }
}
