// Property tests of the plan builder (fast-check): random filesystem options never yield a target outside the new root or through a symlink.
import { afterAll, beforeAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import fc from "fast-check";
import { lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { NsboxError } from "../src/errors.ts";
import { readHost } from "../src/host.ts";
import type { Op } from "../src/ops.ts";
import { shellWord } from "../src/options/problem.ts";
import { buildPlan, type Plan } from "../src/plan/index.ts";
import { expandPath } from "../src/plan/mounts.ts";
import { MOUNT_KINDS, TRY_KINDS, parseMount, type MountSpec } from "../src/plan/mount-spec.ts";
import { MS } from "../src/plan/builder.ts";
import { nsbox } from "./helpers.ts";

// Real sandboxes, several per test: room for slow shared machines (bunfig's timeout is not applied here).
setDefaultTimeout(30_000);

/** The fixture, at one fixed path rebuilt before every case (plans read the host; overlays create their upper). */
let ROOT = "";
const proj = () => join(ROOT, "proj");
const home = () => join(ROOT, "home");

/** Recreate the fixture; after a real run, an overlay's work directory may hold a mode-000 directory. */
function rebuild(afterRun = false): void {
  for (const dir of ["proj", "home", "up"]) {
    const path = join(ROOT, dir);
    if (afterRun) Bun.spawnSync(["chmod", "-R", "u+rwx", path], { stderr: "ignore" });
    rmSync(path, { recursive: true, force: true });
  }
  for (const dir of ["proj/d/e", "proj/empty", "home/.ssh", "home/.bun/install/cache", "home/notes", "up"]) mkdirSync(join(ROOT, dir), { recursive: true });
  writeFileSync(join(ROOT, "proj/f"), "f\n");
  writeFileSync(join(ROOT, "proj/content"), "content\n");
  writeFileSync(join(ROOT, "home/.ssh/id_rsa"), "NSBOX-TEST-SECRET\n");
  writeFileSync(join(ROOT, "home/.bun/install/cache/pkg"), "pkg\n");
  symlinkSync("/", join(ROOT, "proj/link-root"));
  symlinkSync(home(), join(ROOT, "proj/link-home"));
  symlinkSync(join(home(), ".ssh"), join(ROOT, "proj/link-ssh"));
  symlinkSync("f", join(ROOT, "proj/link-f"));
  symlinkSync("missing", join(ROOT, "proj/dangling"));
}

beforeAll(() => {
  ROOT = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-prop-")));
  rebuild();
});
afterAll(() => {
  Bun.spawnSync(["chmod", "-R", "u+rwx", ROOT], { stderr: "ignore" });
  rmSync(ROOT, { recursive: true, force: true });
});

/** NSBOX_PROPERTY_RUNS raises the number of cases for a longer hunt. */
const RUNS = Number(process.env.NSBOX_PROPERTY_RUNS ?? 300);
const env = () => ({ PATH: process.env.PATH, HOME: home(), BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" });

// Paths: a prefix and up to three components, from a small alphabet with '..', '.', '~', symlinks and missing names.
const prefix = fc.constantFrom("", "./", "/", "~/", "../", "../../", "/tmp/", "/usr/", "/x/", "/dev/", "/proc/", "/etc/", "<root>/", "<root>/proj/");
const component = fc.constantFrom("d", "e", "f", "..", ".", "link-root", "link-home", "link-ssh", "link-f", "dangling", "missing", ".ssh", "x", "content", "proj", "home", "null", "bin", "pts");
const path = fc.oneof(
  fc.tuple(prefix, fc.array(component, { maxLength: 3 })).map(([p, parts]) => (p + parts.join("/")).replaceAll("<root>", ROOT)),
  fc.constantFrom("~", ".", "..", "/", "~/.ssh", "./link-home/.ssh", "/dev/null", "./f"),
);
// Overlay upper directories are created on the host by the plan: only ever inside the fixture.
const upper = fc.constantFrom("<root>/up/u1", "<root>/up/u2", "~/upx", "./upy", "<root>/proj/d/upz").map((u) => u.replaceAll("<root>", ROOT));
const linkTarget = fc.oneof(fc.constantFrom("/", "/etc", "..", "~/.ssh", "relative/x", "/proc/self/root"), path);

const value: Record<(typeof MOUNT_KINDS)[number], fc.Arbitrary<string>> = {
  ro: path, rw: path, hide: path,
  bind: fc.tuple(path, path).map(([s, d]) => `${s}:${d}`),
  "ro-bind": fc.tuple(path, path).map(([s, d]) => `${s}:${d}`),
  "dev-bind": fc.oneof(path, fc.tuple(fc.oneof(fc.constantFrom("/dev/null", "/dev/zero"), path), path).map(([s, d]) => `${s}:${d}`)),
  tmpfs: fc.tuple(path, fc.constantFrom("", ":size=1m", ":mode=700", ":size=64k,mode=1777", ":bogus")).map(([p, o]) => p + o),
  dir: fc.tuple(path, fc.constantFrom("", ":700", ":1777", ":9")).map(([p, m]) => p + m),
  file: fc.tuple(path, fc.oneof(fc.constantFrom("content", "./content", "./f", "/etc/hostname", "./d"), path)).map(([p, c]) => `${p}:${c}`),
  symlink: fc.tuple(linkTarget, path).map(([t, p]) => `${t}:${p}`),
  overlay: fc.oneof(path, fc.tuple(path, upper).map(([p, u]) => `${p}:${u}`)),
};
const name = fc.constantFrom(...MOUNT_KINDS).chain((kind) =>
  TRY_KINDS.includes(kind) ? fc.constantFrom(kind, `${kind}-try`) : fc.constant(kind as string));
/** One option as the command line has it: [name, value]. */
const option = name.chain((n) => value[n.replace(/-try$/, "") as (typeof MOUNT_KINDS)[number]].map((v) => [n, v] as [string, string]));
const options = fc.array(option, { minLength: 1, maxLength: 6 });

type Outcome = { plan: Plan; specs: MountSpec[] } | { error: unknown };

/** Build the plan in-process exactly as the CLI does for `nsbox <options> -- true`. */
function build(opts: [string, string][]): Outcome {
  rebuild();
  try {
    const specs = opts.map(([n, v]) => parseMount(n, v));
    const plan = buildPlan(["true"], { mounts: specs }, readHost(proj(), env()), { terminal: null });
    return { plan, specs };
  } catch (error) {
    return { error };
  }
}

const STAGING = /^\/nsbox-[a-z]+-\d+(\/(upper|work))?$/;
const inNewRoot = (p: string) => p === "/newroot" || p.startsWith("/newroot/");
const clean = (p: string) => !p.split("/").slice(1).some((c) => c === "" || c === "." || c === "..");
const below = (a: string, b: string) => b.startsWith(a === "/" ? "/" : `${a}/`) && a !== b;
const ancestorOrSelf = (a: string, b: string) => a === b || below(a, b);
const targetOf = (op: Op): string | undefined =>
  op.op === "MOUNT" || op.op === "BIND" ? op.target : op.op === "SYMLINK" ? op.linkpath
  : op.op === "MKDIR" || op.op === "MKFILE" || op.op === "SETATTR" ? op.path : undefined;
const sourceOf = (op: Op): string | undefined => (op.op === "MOUNT" || op.op === "BIND" ? op.source : undefined);
/** A host bind: a BIND op (a host tree held by descriptor), or a MOUNT of a staged file. */
const isBind = (op: Op) => op.op === "BIND" || (op.op === "MOUNT" && (op.flags & MS.BIND) !== 0);

/**
 * Check a plan against an independent model of the new root: which mounts cover which paths
 * (host-backed or not) and where symlinks were made. Returns the problems found.
 */
function problems(plan: Plan, specs: MountSpec[]): string[] {
  const found: string[] = [];
  const origins = new Set(specs.map((s) => s.origin));
  // The one place nsbox writes on the host: the upper directory an --overlay PATH:UPPER names,
  // its work directory beside it, and their missing parents, created when the sandbox starts.
  const overlayDirs = specs.filter((s) => s.kind === "overlay" && s.upper).flatMap((s) => {
    const upper = expandPath(s.upper!, readHost(proj(), env()));
    return [upper, join(dirname(upper), `.${basename(upper)}.nsbox-work`)];
  });
  const hostCreation = (op: Op, target: string) =>
    op.op === "MKDIR" && target.startsWith("/oldroot/") && overlayDirs.some((d) => ancestorOrSelf(target.slice("/oldroot".length), d));
  // Overlay layers are held by descriptor (HOLD into a slot) and named /oldroot/proc/self/fd/SLOT.
  const held = new Map<string, string>();
  const staged = new Set<string>();
  let mounts: { at: string; host?: string }[] = [{ at: "/" }];
  const links = new Set<string>();
  const cover = (p: string) => mounts.reduce((best, m) => (ancestorOrSelf(m.at, p) && m.at.length >= best.at.length ? m : best), mounts[0]!);
  /** Inside path p (of the new root): a symlink the plan made, or one on the host under a bind. */
  const isLink = (p: string) => {
    if (links.has(p)) return true;
    const c = cover(p);
    if (c.host === undefined || c.at === p) return false;
    try {
      return lstatSync(c.host + p.slice(c.at === "/" ? 0 : c.at.length)).isSymbolicLink();
    } catch {
      return false;
    }
  };
  let pivoted = false;
  for (const op of plan.ops) {
    if (op.op === "UMOUNT" && op.path === "/oldroot") pivoted = true;
    if (pivoted) break;
    if (op.op === "WRITE_FILE" && STAGING.test(op.path)) staged.add(op.path);
    if (op.op === "HOLD" && op.path) held.set(`/oldroot/proc/self/fd/${op.slot}`, op.path);
    const target = targetOf(op);
    const mine = op.why.origin !== undefined && origins.has(op.why.origin);
    if (!["MOUNT", "BIND", "MKDIR", "MKFILE", "SYMLINK", "SETATTR"].includes(op.op) || target === undefined) continue;
    if (mine) {
      if (!(inNewRoot(target) || STAGING.test(target) || hostCreation(op, target))) found.push(`${op.why.what}: ${op.op} target ${target} is outside /newroot`);
      if (!clean(target)) found.push(`${op.why.what}: ${op.op} target ${target} has a '.', '..' or empty component`);
      if (isBind(op)) {
        const src = sourceOf(op) ?? "";
        if (!(src.startsWith("/oldroot/") || staged.has(src))) found.push(`${op.why.what}: bind source ${src} is neither under /oldroot/ nor a staged file`);
        if (src !== "/oldroot/" && !clean(src)) found.push(`${op.why.what}: bind source ${src} has a '.', '..' or empty component`);
        if (src.startsWith("/oldroot/")) {
          const hostSrc = src === "/oldroot/" ? "/" : src.slice("/oldroot".length);
          let real = "";
          try {
            real = realpathSync(hostSrc);
          } catch {}
          if (real !== hostSrc) found.push(`${op.why.what}: bind source ${hostSrc} is not a resolved host path (${real})`);
        }
      }
      if (op.op === "MOUNT" && op.fstype === "overlay") {
        const data = Object.fromEntries((op.data ?? "").split(",").map((kv) => kv.split("=")).map(([k, v]) => [k, held.get(v!) ?? v]));
        if (!data.lowerdir?.startsWith("/oldroot/")) found.push(`${op.why.what}: overlay lowerdir ${data.lowerdir} is not under /oldroot/`);
        for (const k of ["upperdir", "workdir"]) {
          if (!(data[k]?.startsWith("/oldroot/") || STAGING.test(data[k] ?? ""))) found.push(`${op.why.what}: overlay ${k} ${data[k]} is neither under /oldroot/ nor staged`);
        }
      }
    }
    if (!inNewRoot(target)) continue;
    const inside = target === "/newroot" ? "/" : target.slice("/newroot".length);
    // Every component must resolve without a symlink: all of them, but the one a SYMLINK creates.
    if (mine) {
      const parts = inside.split("/").filter(Boolean);
      const upto = op.op === "SYMLINK" ? parts.length - 1 : parts.length;
      for (let i = 1; i <= upto; i++) {
        const at = "/" + parts.slice(0, i).join("/");
        if (isLink(at)) found.push(`${op.why.what}: ${op.op} ${inside} passes through the symlink ${at}`);
      }
    }
    if (op.op === "SYMLINK") links.add(inside);
    if (op.op === "MOUNT" || op.op === "BIND") {
      const lowerdir = op.op === "MOUNT" ? /lowerdir=([^,]*)/.exec(op.data ?? "")?.[1] : undefined;
      const src = sourceOf(op);
      const host = isBind(op) && src?.startsWith("/oldroot/") ? src.slice("/oldroot".length)
        : op.op === "MOUNT" && op.fstype === "overlay" && lowerdir ? (held.get(lowerdir) ?? lowerdir).slice("/oldroot".length) : undefined;
      // A mount hides everything below it.
      mounts = mounts.filter((m) => !below(inside, m.at));
      for (const l of [...links]) if (below(inside, l)) links.delete(l);
      mounts.push({ at: inside, host: host === "" ? "/" : host });
    }
  }
  return found;
}

describe("the plan builder, given random filesystem options", () => {
  it("either refuses with an NsboxError, or keeps every target in /newroot, clean, and off symlinks, with sources from /oldroot", () => {
    let built = 0;
    let refused = 0;
    fc.assert(
      fc.property(options, (opts) => {
        const outcome = build(opts);
        if ("error" in outcome) {
          if (!(outcome.error instanceof NsboxError)) throw new Error(`${JSON.stringify(opts)} threw ${String(outcome.error)}`);
          refused++;
          return;
        }
        built++;
        const found = problems(outcome.plan, outcome.specs);
        if (found.length) throw new Error(`${JSON.stringify(opts)}:\n${found.join("\n")}`);
      }),
      { numRuns: RUNS },
    );
    // Both outcomes must have been exercised for the property to mean something.
    expect(built).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  }, 120_000);

  it("refusals name the option they come from", () => {
    fc.assert(
      fc.property(options, (opts) => {
        const outcome = build(opts);
        if (!("error" in outcome) || !(outcome.error instanceof NsboxError)) return;
        const message = outcome.error.message;
        // The message starts with one of the options as written, quoted as a shell would need it
        // (or its flag, for a malformed value).
        const ok = opts.some(([n, v]) => message.startsWith(`--${n} ${v}:`) || message.startsWith(`--${n} ${shellWord(v)}:`) || message.startsWith(`--${n}:`) || message.startsWith(`can't --${n} ${v}`))
          || message.startsWith("--chdir ");
        if (!ok) throw new Error(`${JSON.stringify(opts)}: ${message}`);
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  }, 120_000);

  it("the plans it builds also start for real (20 of them, through the CLI)", async () => {
    // Deterministic: the same 20 every run. Kept to cases whose plan writes nothing outside the
    // fixture even if a bind were writable (no writable bind of a host directory outside it).
    const candidates = fc.sample(fc.array(option, { minLength: 2, maxLength: 6 }), { numRuns: 600, seed: 4242 });
    const host = () => readHost(proj(), env());
    const writesOnlyFixture = (specs: MountSpec[]) => specs.every((s) => {
      if (!["rw", "bind", "dev-bind"].includes(s.kind) || s.source === undefined) return true;
      try {
        const real = realpathSync(expandPath(s.source, host()));
        return real.startsWith(`${ROOT}/`) || !lstatSync(real).isDirectory();
      } catch {
        return true;
      }
    });
    const chosen: [string, string][][] = [];
    for (const opts of candidates) {
      if (chosen.length === 20) break;
      const outcome = build(opts);
      if ("plan" in outcome && writesOnlyFixture(outcome.specs)) chosen.push(opts);
    }
    expect(chosen.length).toBe(20);
    const failures: string[] = [];
    for (const opts of chosen) {
      rebuild(true);
      const args = opts.flatMap(([n, v]) => [`--${n}`, v]);
      const r = await nsbox([...args, "--", "true"], { cwd: proj(), env: env() });
      if (r.exitCode !== 0) failures.push(`${JSON.stringify(args)} → ${r.exitCode}: ${r.stderr.trim()}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
