// Attacks on the project config as a hostile project would make them (issue 11, item 1): each
// with a control where the same file or action is allowed (trusted, or well-formed), so it can fail.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { collect, homeIn, nsbox, projectWithSecret, scratchIn, type Ran } from "./helpers.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
afterAll(() => {
  for (const p of made) rmSync(p, { recursive: true, force: true });
});

/** A project with ./data, a home with a secret, a config dir of its own, and the env naming both. */
const setup = (files: Record<string, unknown> = {}) => projectWithSecret(made, files);
type Setup = ReturnType<typeof setup>;
const run = (s: Setup, args: string[]) => nsbox(args, { cwd: s.cwd, env: s.env });
const trust = (s: Setup) => run(s, ["trust"]);

/** nsbox's own failure: exit 125, one message naming `parts`, never an internal error or a stack. */
function refused(r: Ran, ...parts: string[]) {
  expect(r.exitCode).toBe(125);
  expect(r.stdout).toBe("");
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toMatch(/^\s+at .*\.ts:\d+/m);
  for (const p of parts) expect(r.stderr).toContain(p);
}

describe("keys that name Object's own properties are not options", () => {
  // Found: SANDBOX_OPTIONS[key] found Object.prototype's members, so these crashed nsbox with an
  // internal error, and `"constructor": []` was accepted as an option (Object.apply with no arguments).
  for (const [key, value] of [["__proto__", { net: "host" }], ["constructor", "x"], ["constructor", []], ["toString", 1], ["hasOwnProperty", true]] as const) {
    it(`profiles.p.${key} ${JSON.stringify(value)}: an unknown option (control: hostname runs)`, async () => {
      const s = setup();
      // Written as text: JSON.stringify would drop or rename a __proto__ own key.
      writeFileSync(join(s.cwd, "nsbox.json"), `{"profiles":{"p":{"hostname":"ctl","${key}":${JSON.stringify(value)}}}}`);
      refused(await run(s, ["-p", "p", "--", "hostname"]), `profiles.p.${key}: unknown option`);
      writeFileSync(join(s.cwd, "nsbox.json"), `{"profiles":{"p":{"hostname":"ctl"}}}`);
      expect(await run(s, ["-p", "p", "--", "hostname"])).toMatchObject({ exitCode: 0, stdout: "ctl\n" });
    });
  }

  it("a profile named __proto__ or constructor is a profile like any other (loosening it still needs trust)", async () => {
    const s = setup();
    writeFileSync(join(s.cwd, "nsbox.json"), `{"profiles":{"__proto__":{"net":"host"},"constructor":{"hostname":"c"}}}`);
    refused(await run(s, ["--dry-run", "-p", "__proto__", "--", "true"]), 'profiles.__proto__.net "host"');
    expect(await run(s, ["-p", "constructor", "--", "hostname"])).toMatchObject({ exitCode: 0, stdout: "c\n" });
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await run(s, ["--dry-run", "-p", "__proto__", "--", "true"])).toMatchObject({ exitCode: 0 });
  });

  it("extends and description that are not strings are refused by name (control: strings run)", async () => {
    for (const [key, value] of [["extends", { toString: "x" }], ["extends", ["test"]], ["description", { a: 1 }]] as const) {
      const s = setup({ "nsbox.json": { profiles: { p: { hostname: "ctl", [key]: value } } } });
      refused(await run(s, ["-p", "p", "--", "hostname"]), `profiles.p.${key}: expected a string, got ${JSON.stringify(value)}`);
    }
    const s = setup({ "nsbox.json": { profiles: { p: { hostname: "ctl", extends: "default", description: "d" } } } });
    expect(await run(s, ["-p", "p", "--", "hostname"])).toMatchObject({ exitCode: 0, stdout: "ctl\n" });
  });
});

describe("extends chains", () => {
  const chain = (n: number) => ({ profiles: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i < n - 1 ? { extends: `p${i + 1}` } : { hostname: "deep" }])) });

  it("20,000 profiles each extending the next: refused by name, not a stack overflow (control: 32 deep runs)", async () => {
    // Found: "internal error: Maximum call stack size exceeded".
    const s = setup({ "nsbox.json": chain(20_000) });
    refused(await run(s, ["-p", "p0", "--", "hostname"]), "profiles extend each other more than 32 deep");
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify(chain(32)));
    expect(await run(s, ["-p", "p0", "--", "hostname"])).toMatchObject({ exitCode: 0, stdout: "deep\n" });
  });

  it("a loop, and a profile named like a built-in extending itself through another (refused, or the built-in)", async () => {
    const s = setup({ "nsbox.json": { profiles: { a: { extends: "b" }, b: { extends: "a" } } } });
    refused(await run(s, ["-p", "a", "--", "true"]), "profiles extend each other in a loop: a → b → a");
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { test: { extends: "x" }, x: { extends: "test" } } }));
    refused(await run(s, ["-p", "test", "--", "true"]), "in a loop");
  });
});

describe("a huge config file is not read into nsbox's memory", () => {
  // Found: a sparse 3 GiB nsbox.json (no disk used) made nsbox hold 3 GB for 15 s before failing.
  it("nsbox.json and package.json larger than 4 MiB are ignored with a warning (control: the same file small runs)", async () => {
    for (const name of ["nsbox.json", "package.json"]) {
      const s = setup();
      const body = name === "nsbox.json" ? { profiles: { p: { hostname: "ctl" } } } : { name: "x", nsbox: { profiles: { p: { hostname: "ctl" } } } };
      const file = join(s.cwd, name);
      writeFileSync(file, JSON.stringify(body));
      expect(await run(s, ["-p", "p", "--", "hostname"])).toMatchObject({ exitCode: 0, stdout: "ctl\n" });
      // Bun itself reads all of ./package.json when it starts (before nsbox's first line: not
      // nsbox's to bound), so that one is made just over the cap.
      truncateSync(file, name === "nsbox.json" ? 3 * 2 ** 30 : 5 * 2 ** 20);
      const r = await run(s, ["-p", "p", "--", "hostname"]);
      refused(r, `${file} is ignored: ${file} is larger than 4 MiB`, "no profile named 'p'");
      refused(await run(s, ["trust", name]), "is larger than 4 MiB");
    }
  });
});

describe("trust covers the content of a file the config names as policy", () => {
  // ALLOW-everything classic BPF: `ret SECCOMP_RET_ALLOW`, as one and as two instructions.
  const allow = Buffer.from([6, 0, 0, 0, 0, 0, 0xff, 0x7f]);
  it("a seccomp filter rewritten after `nsbox trust` is untrusted again (control: unchanged, it runs)", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { seccomp: "./filter.bpf" } } } });
    writeFileSync(join(s.cwd, "filter.bpf"), allow);
    refused(await run(s, ["-p", "p", "--", "true"]), `profiles.p.seccomp "./filter.bpf": replaces the syscall filter with ${s.cwd}/filter.bpf (sha256 `);
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await run(s, ["-p", "p", "--", "true"])).toMatchObject({ exitCode: 0 });
    // The payload (the project is read-write inside) writes another filter.
    expect(await run(s, ["--", "sh", "-c", "cat filter.bpf filter.bpf > f2 && mv f2 filter.bpf"])).toMatchObject({ exitCode: 0 });
    refused(await run(s, ["-p", "p", "--", "true"]), "loosens more than when you trusted it", "(sha256 ");
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await run(s, ["-p", "p", "--", "true"])).toMatchObject({ exitCode: 0 });
  });
});

describe("spellings of a path out of the project all need trust", () => {
  it("a sibling that shares the project's name as a prefix, .. segments, ~/, doubled slashes", async () => {
    const s = setup();
    const sibling = `${s.cwd}-evil`;
    mkdirSync(sibling);
    made.push(sibling);
    writeFileSync(join(sibling, "f"), "OUT\n");
    for (const p of [sibling, `./data/../../${sibling.split("/").pop()}`, "data//..//..//", "~/", "~/./.ssh/../.ssh"]) {
      writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { ro: p } } }));
      refused(await run(s, ["--dry-run", "-p", "p", "--", "true"]), `profiles.p.ro ${JSON.stringify(p)}: reads `, "outside the project");
    }
    // Control: trusted, the sibling's file is read inside.
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { ro: sibling } } }));
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await run(s, ["-p", "p", "--", "cat", join(sibling, "f")])).toMatchObject({ exitCode: 0, stdout: "OUT\n" });
  });

  it("~user is a relative name in the project, not another user's home", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { ro: "~root" } } } });
    mkdirSync(join(s.cwd, "~root"));
    writeFileSync(join(s.cwd, "~root/f"), "IN\n");
    const r = await run(s, ["-p", "p", "--", "cat", join(s.cwd, "~root/f")]);
    expect(r).toMatchObject({ exitCode: 0, stdout: "IN\n" });
  });

  it("~name in a config found from a subdirectory: relative to the file, not to the current directory", async () => {
    // Found: the check resolved "~x" from the config's directory (missing there: inside), the plan
    // from the current directory, where sub/~x -> ~/.ssh was bound at /mnt/k without trust.
    const s = setup({ "nsbox.json": { profiles: { p: { "ro-bind": "~x:/mnt/k" } } } });
    mkdirSync(join(s.cwd, "sub"));
    symlinkSync(join(s.home, ".ssh"), join(s.cwd, "sub/~x"));
    const r = await nsbox(["-p", "p", "--", "cat", "/mnt/k/id_rsa"], { cwd: join(s.cwd, "sub"), env: s.env });
    expect(r.stdout).not.toContain("SECRET");
    refused(r, `${s.cwd}/~x: no such file or directory`);
    // Control: the same link where the file says (next to it) is a read outside: trusted, it reads.
    symlinkSync(join(s.home, ".ssh"), join(s.cwd, "~x"));
    refused(await nsbox(["-p", "p", "--", "true"], { cwd: join(s.cwd, "sub"), env: s.env }), `reads ${s.home}/.ssh, outside the project`);
    // Trusted, the read is allowed by the file, and the host-path rule still refuses to mount
    // through the user's own symlink (it could have been planted): the real path must be named.
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    const trusted = await nsbox(["-p", "p", "--", "cat", "/mnt/k/id_rsa"], { cwd: join(s.cwd, "sub"), env: s.env });
    expect(trusted.stdout).not.toContain("SECRET");
    refused(trusted, `${s.cwd}/~x is a symlink to ${s.home}/.ssh`);
  });

  it("a duplicate key: the last one (JSON.parse's) is the one checked", async () => {
    const s = setup({ "nsbox.json": '{"profiles":{"p":{"net":"none","net":"host"}}}' });
    refused(await run(s, ["--dry-run", "-p", "p", "--", "true"]), 'profiles.p.net "host"');
    writeFileSync(join(s.cwd, "nsbox.json"), '{"profiles":{"p":{"net":"host","net":"none"}}}');
    expect(await run(s, ["--dry-run", "-p", "p", "--", "true"])).toMatchObject({ exitCode: 0 });
  });

  it("package.json with two nsbox keys: trust binds the one in effect; a swap of which comes last is a change", async () => {
    const loose = '{"profiles":{"p":{"net":"host"}}}';
    const tight = '{"profiles":{"p":{"hostname":"t"}}}';
    const s = setup({ "package.json": `{"name":"x","nsbox":${loose},"nsbox":${tight}}` });
    expect(await run(s, ["-p", "p", "--", "hostname"])).toMatchObject({ exitCode: 0, stdout: "t\n" });
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    writeFileSync(join(s.cwd, "package.json"), `{"name":"x","nsbox":${tight},"nsbox":${loose}}`);
    refused(await run(s, ["--dry-run", "-p", "p", "--", "true"]), "package.json#nsbox has changed since you trusted it", 'profiles.p.net "host"');
  });
});

describe("the trust store is out of the project's reach", () => {
  it("a trusted.json shipped in the project under XDG_CONFIG_HOME there trusts nothing (control: the same store outside works)", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { net: "host" } } } });
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    const store = readFileSync(join(s.config, "nsbox/trusted.json"));
    expect(await run(s, ["--dry-run", "-p", "p", "--", "true"])).toMatchObject({ exitCode: 0 });
    mkdirSync(join(s.cwd, "data/cfg/nsbox"), { recursive: true, mode: 0o700 });
    writeFileSync(join(s.cwd, "data/cfg/nsbox/trusted.json"), store, { mode: 0o600 });
    const r = await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: join(s.cwd, "data"), env: { ...s.env, XDG_CONFIG_HOME: join(s.cwd, "data/cfg") } });
    refused(r, "which the sandbox can write: it is not used", "is not trusted");
    expect(existsSync(join(s.cwd, "data/cfg/nsbox/trusted.json"))).toBe(true);
  });
});

describe("options whose effect reaches the host through their value", () => {
  it("a tmpfs sized past the default cap is host memory: it needs trust (control: 64m runs untrusted; trusted, 100% runs)", async () => {
    for (const size of ["100%", "26%", "2g", "1025m"]) {
      const s = setup({ "nsbox.json": { profiles: { p: { tmpfs: `/big:size=${size}` } } } });
      refused(await run(s, ["--dry-run", "-p", "p", "--", "true"]), `profiles.p.tmpfs "/big:size=${size}": lets a tmpfs hold up to ${size} of the host's memory`);
    }
    // Each at or under the cap runs untrusted; together they are bounded too (attack-seams).
    for (const tmpfs of ["/a:size=64m", "/c:size=1g", "/d:size=1%"]) {
      const s = setup({ "nsbox.json": { profiles: { p: { tmpfs } } } });
      expect(await run(s, ["--dry-run", "-p", "p", "--", "true"])).toMatchObject({ exitCode: 0 });
    }
    const s = setup({ "nsbox.json": { profiles: { p: { tmpfs: "/a:size=64m" } } } });
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { tmpfs: "/big:size=100%" } } }));
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await run(s, ["-p", "p", "--", "true"])).toMatchObject({ exitCode: 0 });
  });

  it("net-log in a config is relative to the file: trusted as ./n.log at the root, a run from a subdirectory writes there", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { "net-log": "n.log", net: "allow=example.invalid" } } } });
    refused(await run(s, ["--dry-run", "-p", "p", "--", "true"]), `makes nsbox write ${s.cwd}/n.log on the host`);
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    mkdirSync(join(s.cwd, "sub"));
    const r = await nsbox(["-p", "p", "--", "true"], { cwd: join(s.cwd, "sub"), env: s.env });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(existsSync(join(s.cwd, "sub/n.log"))).toBe(false);
    expect(existsSync(join(s.cwd, "n.log"))).toBe(true);
  });
});

describe("Bun's own reading of the project's package.json", () => {
  // Bun opens ./package.json when it starts (`bun NAME` may name a script). A script named like
  // the path the shebang passes must not run in place of nsbox.
  it("scripts named like the bin's path, `nsbox`, or its relative path do not run (control: `bun run` runs them)", async () => {
    const s = setup();
    const mark = join(s.cwd, "ran");
    const bin = join(import.meta.dir, "..", "bin", "nsbox");
    const scripts = Object.fromEntries([bin, "nsbox", "bin/nsbox", "./bin/nsbox"].map((n) => [n, `touch ${mark}`]));
    writeFileSync(join(s.cwd, "package.json"), JSON.stringify({ name: "x", scripts }));
    const r = await collect([bin, "--", "true"], { cwd: s.cwd, env: s.env });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(existsSync(mark)).toBe(false);
    expect(await collect([process.execPath, "run", "nsbox"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    expect(existsSync(mark)).toBe(true);
  });
});

describe("rlimit", () => {
  it("core above 0 (nsbox's default is 0) needs trust; trusted, crashes may dump core (control: core=0 and nofile run untrusted)", async () => {
    for (const v of ["core=unlimited", "CORE=1:0", "core=0:unlimited"]) {
      const s = setup({ "nsbox.json": { profiles: { p: { rlimit: v } } } });
      refused(await run(s, ["-p", "p", "--", "true"]), `profiles.p.rlimit ${JSON.stringify(v)}: lets crashes dump core`);
    }
    const s = setup({ "nsbox.json": { profiles: { p: { rlimit: ["core=0", "nofile=256"] } } } });
    expect(await run(s, ["-p", "p", "--", "sh", "-c", "ulimit -c"])).toMatchObject({ exitCode: 0, stdout: "0\n" });
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { rlimit: "core=unlimited" } } }));
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await run(s, ["-p", "p", "--", "sh", "-c", "ulimit -c"])).toMatchObject({ exitCode: 0, stdout: "unlimited\n" });
  });

  it("a limit named like Object's members (constructor, __proto__) is not a limit", async () => {
    // Found: RLIMITS[name] found Object's members, so "constructor=1" was accepted and reached the executor.
    for (const v of ["constructor=1", "__proto__=1"]) {
      const s = setup({ "nsbox.json": { profiles: { p: { rlimit: v } } } });
      refused(await run(s, ["-p", "p", "--", "true"]), `got "${v}"`, "NAME=VALUE");
      refused(await nsbox(["--rlimit", v, "--", "true"], { cwd: s.cwd, env: s.env }), `--rlimit '${v}': must be NAME=VALUE`);
    }
  });
});

describe("the project's text in what nsbox prints", () => {
  // Found: a profile name with ESC[2K, CR and ESC[8m erased and concealed the loosening it was
  // listed with, in the refusal and in `nsbox trust`'s list of what the user now allows.
  const name = "x\u001b[2K\r  profiles.ci.hostname \"ok\": nothing\u001b[8m";
  it("control characters in a profile name are shown escaped, in the refusal and in nsbox trust (control: the same loosening is listed)", async () => {
    const s = setup({ "nsbox.json": { profiles: { ci: { extends: name }, [name]: { rw: "~" } } } });
    const r = await run(s, ["-p", "ci", "--", "true"]);
    refused(r, `profiles.x\\u001b[2K\\u000d  profiles.ci.hostname "ok": nothing\\u001b[8m.rw "~": writes ${s.home}, outside the project`);
    expect(r.stderr).not.toMatch(/[\u001b\r]/);
    const t = await trust(s);
    expect(t).toMatchObject({ exitCode: 0 });
    expect(t.stdout).toContain(`\\u001b[8m.rw "~": writes ${s.home}`);
    expect(t.stdout).not.toMatch(/[\u001b\r]/);
    expect(await run(s, ["-p", "ci", "--", "true"])).toMatchObject({ exitCode: 0 });
  });

  it("bidirectional overrides and line separators in a profile name are shown escaped (control: the loosening is listed)", async () => {
    const odd = "x\u202e\u2066\u2028y";
    const s = setup({ "nsbox.json": { profiles: { ci: { extends: odd }, [odd]: { rw: "~" } } } });
    const r = await run(s, ["-p", "ci", "--", "true"]);
    refused(r, `profiles.x\\u202e\\u2066\\u2028y.rw "~": writes ${s.home}, outside the project`);
    expect(r.stderr).not.toMatch(/[\u202e\u2066\u2028]/);
    const t = await trust(s);
    expect(t).toMatchObject({ exitCode: 0 });
    expect(t.stdout).not.toMatch(/[\u202e\u2066\u2028]/);
  });

  it("nsbox profile show escapes a description's control characters (control: the text is shown)", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { description: "safe\u001b]52;c;ZWNobyBwd25lZA==\u0007", hostname: "h" } } } });
    const r = await run(s, ["profile", "show", "p"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("safe\\u001b]52;c;ZWNobyBwd25lZA==\\u0007");
    expect(r.stdout).not.toMatch(/[\u001b\u0007]/);
  });
});

describe("a project profile that opens what the host runs later needs trust", () => {
  // Found: a writable share inside the project is no loosening, but one rooted at a guarded path
  // (`rw: ".git/hooks"`, `rw-try: ".envrc"`), or an overlay whose upper directory is one, is not
  // guarded again by its own root: the payload wrote .git/hooks/pre-commit on the host, and the
  // next `git commit` ran it. Control: the same profile trusted writes it; `rw: "."` stays guarded.
  const hook = ["sh", "-c", 'mkdir -p lower; printf "#!/bin/sh\\n" > .git/hooks/pre-commit 2>/dev/null; printf "#!/bin/sh\\n" > lower/pre-commit 2>/dev/null; echo x > .envrc 2>/dev/null; true'];
  const gitProject = (profile: Record<string, unknown>) => {
    const s = setup({ "nsbox.json": { profiles: { x: profile } } });
    mkdirSync(join(s.cwd, ".git/hooks"), { recursive: true });
    writeFileSync(join(s.cwd, ".git/config"), "[core]\n\trepositoryformatversion = 0\n");
    mkdirSync(join(s.cwd, "lower"));
    return s;
  };
  for (const [profile, shows, written] of [
    [{ rw: ".git/hooks" }, 'profiles.x.rw ".git/hooks": makes', ".git/hooks/pre-commit"],
    [{ rw: ".git" }, 'profiles.x.rw ".git": makes', ".git/hooks/pre-commit"],
    [{ bind: ".git/hooks:/h" }, 'profiles.x.bind ".git/hooks:/h": makes', ".git/hooks/pre-commit"],
    [{ "rw-try": ".envrc" }, 'profiles.x.rw-try ".envrc": makes', ".envrc"],
    [{ overlay: "./lower:.git/hooks" }, 'profiles.x.overlay "./lower:.git/hooks": makes', ".git/hooks/pre-commit"],
  ] as const) {
    it(`${JSON.stringify(profile)}: refused untrusted, nothing written (control: trusted, it is)`, async () => {
      const s = gitProject(profile);
      refused(await run(s, ["-p", "x", "--", ...hook]), shows, "would loosen the sandbox");
      expect(existsSync(join(s.cwd, written))).toBe(false);
      expect(await trust(s)).toMatchObject({ exitCode: 0 });
      expect(await run(s, ["-p", "x", "--", ...hook])).toMatchObject({ exitCode: 0 });
      expect(existsSync(join(s.cwd, written))).toBe(true);
    });
  }

  it('rw "." and rw of a plain directory need no trust, and the guarded files stay guarded', async () => {
    for (const profile of [{ rw: "." }, { rw: "./data" }, { overlay: "./lower:./changes" }]) {
      const s = gitProject(profile);
      expect(await run(s, ["-p", "x", "--", ...hook])).toMatchObject({ exitCode: 0 });
      expect(existsSync(join(s.cwd, ".git/hooks/pre-commit"))).toBe(false);
    }
  });
});

describe("a project test profile run from a package of a monorepo", () => {
  // Found: the check compared the built-in test's overlay of ./node_modules, resolved from the
  // project root, with the project's; the plan resolves the built-in's from the current
  // directory. A project "test" overlaying only the root's ./node_modules, run from packages/a,
  // left packages/a/node_modules writable in place, untrusted. Control: "extends": "test" keeps
  // the overlay and needs no trust; from the root, the project's own overlay is the built-in's.
  const write = ["sh", "-c", "echo changed > node_modules/x"];
  const monorepo = (test: Record<string, unknown>) => {
    const s = setup({ "nsbox.json": { profiles: { test } } });
    const pkg = join(s.cwd, "packages/a");
    mkdirSync(join(pkg, "node_modules"), { recursive: true });
    mkdirSync(join(s.cwd, "node_modules"));
    writeFileSync(join(pkg, "node_modules/x"), "orig\n");
    writeFileSync(join(s.cwd, "node_modules/x"), "orig\n");
    return { ...s, pkg };
  };

  it("a test profile that overlays only the root's node_modules is refused from the package, which stays unchanged", async () => {
    const s = monorepo({ "overlay-try": ["./node_modules", "./.venv", "./vendor"] });
    refused(await nsbox(["-p", "test", "--", ...write], { cwd: s.pkg, env: s.env }), `leaves out the built-in test's overlay of ${s.pkg}/node_modules`);
    expect(readFileSync(join(s.pkg, "node_modules/x"), "utf8")).toBe("orig\n");
    // From the root the same profile is the built-in's overlay: no trust needed, nothing changed.
    expect(await nsbox(["-p", "test", "--", ...write], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    expect(readFileSync(join(s.cwd, "node_modules/x"), "utf8")).toBe("orig\n");
  });

  it('control: "extends": "test" runs from the package without trust, node_modules unchanged on the host', async () => {
    const s = monorepo({ extends: "test" });
    expect(await nsbox(["-p", "test", "--", ...write], { cwd: s.pkg, env: s.env })).toMatchObject({ exitCode: 0 });
    expect(readFileSync(join(s.pkg, "node_modules/x"), "utf8")).toBe("orig\n");
  });
});
