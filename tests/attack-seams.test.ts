// Attacks on the seams between the parts of host-side trust (issue 11): trust x protected files,
// trust x files a profile names, the current-directory rule x $HOME's links, and the like.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { background, homeIn, marker, NSBOX, nsbox, scratchIn, type Background } from "./helpers.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
afterAll(() => {
  for (const p of made) rmSync(p, { recursive: true, force: true });
});

/**
 * A home whose ~/.config links into a plain (not hidden) ~/dotfiles, as GNU stow and most
 * dotfiles managers set it up, and a hostile project whose profile writes the real home.
 */
function dotfilesHome() {
  const home = homeIn(made);
  const dotfiles = join(home, "dotfiles");
  mkdirSync(join(dotfiles, "config"), { recursive: true });
  symlinkSync("dotfiles/config", join(home, ".config"));
  const evil = scratchIn(made);
  const config = { profiles: { x: { rw: ["~"] } } };
  writeFileSync(join(evil, "nsbox.json"), JSON.stringify(config));
  const env: Record<string, string | undefined> = { ...process.env, HOME: home };
  delete env.XDG_CONFIG_HOME;
  // What `nsbox trust` would record for the hostile file: a payload knows the format.
  const forged = {
    files: {
      [join(evil, "nsbox.json")]: {
        sha256: new Bun.CryptoHasher("sha256").update(JSON.stringify(config)).digest("hex"),
        trusted: new Date().toISOString(),
        loosens: [`profiles.x.rw "~": writes ${home}, outside the project`],
      },
    },
  };
  writeFileSync(join(dotfiles, "forged.json"), JSON.stringify(forged));
  return { home, dotfiles, evil, env };
}

describe("the trust store reached through a share: ~/.config -> dotfiles/config, nsbox run in ~/dotfiles", () => {
  const plant = "mkdir -p config/nsbox && cp forged.json config/nsbox/trusted.json";
  const loose = ["-p", "x", "--", "sh", "-c", "echo pwned > ~/pwned"];

  it("the run in ~/dotfiles is refused: ~/.config leads into it (the rule for ~/.config itself)", async () => {
    const d = dotfilesHome();
    const r = await nsbox(["--", "sh", "-c", plant], { cwd: d.dotfiles, env: d.env });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain(`not sharing the current directory ${d.dotfiles}: ${d.home}/.config leads into it`);
    expect(r.stderr).toContain(`--rw ${d.dotfiles}`);
    expect(existsSync(join(d.dotfiles, "config/nsbox"))).toBe(false);
    const next = await nsbox(loose, { cwd: d.evil, env: d.env });
    expect(next.exitCode).toBe(125);
    expect(next.stderr).toContain("is not trusted");
    expect(existsSync(join(d.home, "pwned"))).toBe(false);
  });

  it("with --rw ~/dotfiles, a new store the payload makes is moved aside after the run", async () => {
    const d = dotfilesHome();
    const r = await nsbox(["--rw", d.dotfiles, "--", "sh", "-c", `cd ${d.dotfiles} && ${plant} && echo ok > config/other`], { cwd: d.dotfiles, env: d.env });
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(d.dotfiles, "config/nsbox/trusted.json"))).toBe(false);
    expect(readFileSync(join(d.dotfiles, "config/other"), "utf8")).toBe("ok\n");
    expect((await nsbox(loose, { cwd: d.evil, env: d.env })).exitCode).toBe(125);
    expect(existsSync(join(d.home, "pwned"))).toBe(false);
  });

  it("with --rw ~/dotfiles, a store that exists is read-only inside; the rest of ~/dotfiles stays writable", async () => {
    const d = dotfilesHome();
    mkdirSync(join(d.dotfiles, "config/nsbox"), { mode: 0o700 });
    writeFileSync(join(d.dotfiles, "config/nsbox/trusted.json"), '{"files":{}}', { mode: 0o600 });
    const r = await nsbox(["--rw", d.dotfiles, "--", "sh", "-c", `cd ${d.dotfiles}; cp forged.json config/nsbox/trusted.json; echo ok > config/other`], { cwd: d.dotfiles, env: d.env });
    expect(r.stderr).toContain("Read-only file system");
    expect(readFileSync(join(d.dotfiles, "config/nsbox/trusted.json"), "utf8")).toBe('{"files":{}}');
    expect(readFileSync(join(d.dotfiles, "config/other"), "utf8")).toBe("ok\n");
    expect((await nsbox(loose, { cwd: d.evil, env: d.env })).exitCode).toBe(125);
  });

  it("stow folding into an existing ~/.config (~/.config/git -> ../dotfiles/git), and ~/.local/bin/tool: refused too (control: no link, it runs)", async () => {
    const home = homeIn(made);
    const dotfiles = join(home, "dotfiles");
    mkdirSync(join(dotfiles, "git"), { recursive: true });
    mkdirSync(join(home, ".config"));
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: undefined };
    expect(await nsbox(["--", "true"], { cwd: dotfiles, env })).toMatchObject({ exitCode: 0 });
    symlinkSync("../dotfiles/git", join(home, ".config/git"));
    const r = await nsbox(["--", "sh", "-c", "echo '[core] fsmonitor = touch /tmp/x' > git/config"], { cwd: dotfiles, env });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain(`${home}/.config/git leads into it`);
    expect(existsSync(join(dotfiles, "git/config"))).toBe(false);
    const tool = scratchIn(made);
    mkdirSync(join(home, ".local/bin"), { recursive: true });
    expect(await nsbox(["--", "true"], { cwd: tool, env })).toMatchObject({ exitCode: 0 });
    writeFileSync(join(tool, "tool"), "#!/bin/sh\n");
    symlinkSync(join(tool, "tool"), join(home, ".local/bin/tool"));
    const t = await nsbox(["--", "true"], { cwd: tool, env });
    expect(t.exitCode).toBe(125);
    expect(t.stderr).toContain(`${home}/.local/bin/tool leads into it`);
  });

  it("control: the store written on the host (as `nsbox trust` does) is obeyed, so the forged one would be", async () => {
    const d = dotfilesHome();
    mkdirSync(join(d.dotfiles, "config/nsbox"), { mode: 0o700 });
    writeFileSync(join(d.dotfiles, "config/nsbox/trusted.json"), readFileSync(join(d.dotfiles, "forged.json")), { mode: 0o600 });
    const r = await nsbox(loose, { cwd: d.evil, env: d.env });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(readFileSync(join(d.home, "pwned"), "utf8")).toBe("pwned\n");
  });
});

describe("a trusted profile's seccomp file swapped between the trust check and the plan's read", () => {
  // Classic BPF. GOOD: uname(2) (63 on x86_64) fails with EPERM, the rest is allowed. EVIL: allow all.
  const insn = (code: number, jt: number, jf: number, k: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(code, 0);
    b.writeUInt8(jt, 2);
    b.writeUInt8(jf, 3);
    b.writeUInt32LE(k >>> 0, 4);
    return b;
  };
  const GOOD = Buffer.concat([insn(0x20, 0, 0, 0), insn(0x15, 0, 1, 63), insn(0x06, 0, 0, 0x00050001), insn(0x06, 0, 0, 0x7fff0000)]);
  const EVIL = insn(0x06, 0, 0, 0x7fff0000);
  const project = (filter: Buffer) => {
    const cwd = scratchIn(made);
    const home = homeIn(made);
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { seccomp: "./filter.bpf" } } }));
    writeFileSync(join(cwd, "filter.bpf"), filter);
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config") };
    return { cwd, env };
  };
  const uname = (p: { cwd: string; env: Record<string, string | undefined> }) => nsbox(["-p", "p", "--", "uname", "-s"], { cwd: p.cwd, env: p.env });

  it("control: the trusted filter is the one installed (uname fails), an allow-all one trusted lets it through", async () => {
    const good = project(GOOD);
    expect(await nsbox(["trust"], { cwd: good.cwd, env: good.env })).toMatchObject({ exitCode: 0 });
    const r = await uname(good);
    expect(r.exitCode).not.toBe(0);
    expect(r.exitCode).not.toBe(125);
    expect(r.stderr).toContain("Operation not permitted");
    const evil = project(EVIL);
    expect(await nsbox(["trust"], { cwd: evil.cwd, env: evil.env })).toMatchObject({ exitCode: 0 });
    expect(await uname(evil)).toMatchObject({ exitCode: 0, stdout: "Linux\n" });
  });

  it("a payload (a named sandbox on the same project) swapping in an allow-all filter never gets it installed", async () => {
    const p = project(GOOD);
    expect(await nsbox(["trust"], { cwd: p.cwd, env: p.env })).toMatchObject({ exitCode: 0 });
    // The swapper stands for a payload with the project read-write: rename(2) is atomic, so each
    // read sees one whole filter, GOOD or EVIL.
    const swapper = Bun.spawn([process.execPath, "-e", `
      const { renameSync, writeFileSync } = require("node:fs");
      const good = Buffer.from(${JSON.stringify([...GOOD])}), evil = Buffer.from(${JSON.stringify([...EVIL])});
      const end = Date.now() + 120000;
      for (let i = 0; Date.now() < end; i++) {
        writeFileSync("t", i % 2 ? good : evil);
        renameSync("t", "filter.bpf");
      }`], { cwd: p.cwd, stdout: "ignore", stderr: "ignore" });
    let installed = 0;
    let refused = 0;
    try {
      for (let i = 0; i < 60; i++) {
        const r = await uname(p);
        if (r.exitCode === 0) installed++;
        else if (r.exitCode === 125) refused++;
      }
    } finally {
      swapper.kill();
      await swapper.exited;
    }
    // Refusals show the swap was seen (the trust check read EVIL, or the plan did).
    expect(refused).toBeGreaterThan(0);
    expect(installed).toBe(0);
  });
});

describe("nsbox exec into a sandbox whose seccomp file the payload rewrote", () => {
  // As above: GOOD makes uname(2) fail with EPERM, EVIL allows everything.
  const insn = (code: number, jt: number, jf: number, k: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(code, 0);
    b.writeUInt8(jt, 2);
    b.writeUInt8(jf, 3);
    b.writeUInt32LE(k >>> 0, 4);
    return b;
  };
  const GOOD = Buffer.concat([insn(0x20, 0, 0, 0), insn(0x15, 0, 1, 63), insn(0x06, 0, 0, 0x00050001), insn(0x06, 0, 0, 0x7fff0000)]);
  const EVIL = insn(0x06, 0, 0, 0x7fff0000);
  const setup = () => {
    const cwd = scratchIn(made);
    const home = homeIn(made);
    const runtime = homeIn(made);
    writeFileSync(join(cwd, "filter.bpf"), GOOD);
    writeFileSync(join(cwd, "evil.bpf"), EVIL);
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_RUNTIME_DIR: runtime };
    return { cwd, env, name: `seam-${process.pid}-${Math.floor(Math.random() * 1e6)}` };
  };
  const started: Background[] = [];
  afterAll(() => {
    for (const b of started) b.proc.kill(9);
  });
  /** A named sandbox whose payload says "ready" and waits; `rewrite` runs in it first. */
  const sandbox = async (s: ReturnType<typeof setup>, args: string[], rewrite: string) => {
    const b = background([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--name", s.name, ...args, "--", "sh", "-c", `${rewrite}; echo ready; sleep ${marker()}`], { cwd: s.cwd, env: s.env });
    started.push(b);
    if (!(await b.waitFor("ready"))) throw new Error(`sandbox did not start: ${(await b.finish()).stderr}`);
    return b;
  };
  const exec = (s: ReturnType<typeof setup>, cwd = s.cwd) => nsbox(["exec", s.name, "--", "uname", "-s"], { cwd, env: s.env });

  it("a trusted profile's filter: exec installs what the sandbox got, not the payload's new file", async () => {
    const s = setup();
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { seccomp: "./filter.bpf" } } }));
    expect(await nsbox(["trust"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    const b = await sandbox(s, ["-p", "p"], "uname -s 2>/dev/null || echo own-uname-refused; cp evil.bpf f2 && mv f2 filter.bpf");
    expect(b.out).toContain("own-uname-refused");
    const r = await exec(s);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Operation not permitted");
    b.proc.kill("SIGTERM");
  });

  it("--seccomp ./filter.bpf: exec run from another directory installs the sandbox's filter, not that directory's", async () => {
    const s = setup();
    const elsewhere = scratchIn(made);
    writeFileSync(join(elsewhere, "filter.bpf"), EVIL);
    const b = await sandbox(s, ["--seccomp", "./filter.bpf"], "true");
    const r = await exec(s, elsewhere);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Operation not permitted");
    b.proc.kill("SIGTERM");
  });

  it("control: a sandbox given the allow-all filter lets exec's uname through", async () => {
    const s = setup();
    const b = await sandbox(s, ["--seccomp", join(s.cwd, "evil.bpf")], "true");
    expect(await exec(s)).toMatchObject({ exitCode: 0, stdout: "Linux\n" });
    b.proc.kill("SIGTERM");
  });
});

describe("a project profile named like a built-in drops the built-in's protection (package.json is not protected)", () => {
  // -p test promises: no file of node_modules (hard-linked from Bun's global store) changed on
  // the host. A payload cannot write nsbox.json, but it can write package.json#nsbox.
  const setup = (nsbox: unknown) => {
    const cwd = scratchIn(made);
    const home = homeIn(made);
    mkdirSync(join(cwd, "node_modules/dep"), { recursive: true });
    writeFileSync(join(cwd, "node_modules/dep/index.js"), "orig\n");
    writeFileSync(join(cwd, "package.json"), JSON.stringify({ name: "p", nsbox }));
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config") };
    return { cwd, env };
  };
  const write = (s: ReturnType<typeof setup>) => nsbox(["-p", "test", "--", "sh", "-c", "echo pwned > node_modules/dep/index.js; echo pwned > /mnt/node_modules/dep/index.js"], { cwd: s.cwd, env: s.env });
  const cases: [string, unknown][] = [
    ["test redefined without extends", { profiles: { test: {} } }],
    ["test extending test, then rw ./node_modules", { profiles: { test: { extends: "test", rw: ["./node_modules"] } } }],
    ["test extending test, then the project bound again at /mnt", { profiles: { test: { extends: "test", bind: [".:/mnt"] } } }],
    ["test extending shell", { profiles: { test: { extends: "shell" } } }],
  ];
  for (const [what, config] of cases) {
    it(`${what}: refused as a loosening until trusted, node_modules unchanged`, async () => {
      const s = setup(config);
      const r = await write(s);
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toContain("is not trusted");
      expect(r.stderr).toContain("node_modules");
      expect(readFileSync(join(s.cwd, "node_modules/dep/index.js"), "utf8")).toBe("orig\n");
      // Trusted, it is the user's choice (the control: the write lands).
      expect(await nsbox(["trust", "package.json"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
      await write(s);
      expect(readFileSync(join(s.cwd, "node_modules/dep/index.js"), "utf8")).toBe("pwned\n");
    });
  }

  it("control: a test that extends test and tightens needs no trust, and keeps node_modules", async () => {
    const s = setup({ profiles: { test: { extends: "test", "hide-try": ["./secret"], env: ["CI=1"] } } });
    const r = await nsbox(["-p", "test", "--", "sh", "-c", "echo pwned > node_modules/dep/other.js && echo wrote"], { cwd: s.cwd, env: s.env });
    expect(r.stdout).toContain("wrote");
    expect(existsSync(join(s.cwd, "node_modules/dep/other.js"))).toBe(false);
  });
});

describe("a project file that made nsbox fail with an internal error", () => {
  it("an nsbox.json nested 100,000 deep is one error naming the file, for every run with -p, a warning without (control: a shallow mistake names its key)", async () => {
    const cwd = scratchIn(made);
    const deep = 100_000;
    writeFileSync(join(cwd, "nsbox.json"), `{"profiles":{"x":{"env":${"[".repeat(deep)}${"]".repeat(deep)}}}}`);
    const r = await nsbox(["-p", "x", "--", "true"], { cwd });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain(`${cwd}/nsbox.json: values nested deeper than 64 levels`);
    expect(r.stderr).not.toContain("internal error");
    // A run without -p uses no profile: it runs, and says what is wrong with the file.
    const plain = await nsbox(["--", "true"], { cwd });
    expect(plain.exitCode).toBe(0);
    expect(plain.stderr).toContain(`${cwd}/nsbox.json: values nested deeper than 64 levels`);
    writeFileSync(join(cwd, "nsbox.json"), `{"profiles":{"x":{"env":[[[]]]}}}`);
    const shallow = await nsbox(["-p", "x", "--", "true"], { cwd });
    expect(shallow.exitCode).toBe(125);
    expect(shallow.stderr).toContain("profiles.x.env: must be a string");
  });
});

describe("host memory through many tmpfs mounts, each under the cap, from an untrusted project profile", () => {
  const dry = async (tmpfs: string[]) => {
    const cwd = scratchIn(made);
    const home = homeIn(made);
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { x: { tmpfs } } }));
    return nsbox(["--dry-run", "-p", "x", "--", "true"], { cwd, env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config") } });
  };
  it("200 default-sized tmpfs (200 times the cap) need trust", async () => {
    const r = await dry(Array.from({ length: 200 }, (_, i) => `/t${i}`));
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("is not trusted");
    expect(r.stderr).toContain("200 tmpfs mounts together");
  });
  it("1,000 small tmpfs with the default inode count (files cost kernel memory that size= does not count) need trust", async () => {
    const r = await dry(Array.from({ length: 1000 }, (_, i) => `/t${i}:size=1m`));
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("1000 tmpfs mounts together");
  });
  it("one tmpfs with nr_inodes=100m needs trust", async () => {
    const r = await dry(["/x:size=1m,nr_inodes=100m"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("nr_inodes");
  });
  it("control: two tmpfs at the defaults, and one with fewer files, need no trust", async () => {
    expect(await dry(["/var/tmp", "/run/x:size=64m,nr_inodes=1k"])).toMatchObject({ exitCode: 0 });
  });
});

describe("host memory through many --file contents, each under 16 MiB, from an untrusted project profile", () => {
  // Each content is read into nsbox's memory and written to a tmpfs (host memory) inside.
  const project = (n: number, size: number) => {
    const cwd = scratchIn(made);
    const home = homeIn(made);
    const big = join(cwd, "big");
    writeFileSync(big, "");
    truncateSync(big, size); // sparse: no disk, but read as zeros
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { x: { file: Array.from({ length: n }, (_, i) => `/f${i}:./big`) } } }));
    return { cwd, env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config") } };
  };
  it("contents together above 64 MiB are refused before they are read", async () => {
    const p = project(100, 16 << 20);
    const r = await nsbox(["--dry-run", "-p", "x", "--", "true"], p);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("makes the --file contents together more than 64 MiB");
    expect(r.stderr).not.toContain("internal error");
  });
  it("control: four contents of 16 MiB are placed", async () => {
    const p = project(4, 16 << 20);
    const r = await nsbox(["--dry-run", "-p", "x", "--", "true"], p);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("/f3");
  });
});

describe("a trust store edited by hand", () => {
  it("an entry that is null or a number is no trust, not an internal error (control: a real entry is listed)", async () => {
    const home = homeIn(made);
    const config = join(home, "config");
    mkdirSync(join(config, "nsbox"), { recursive: true, mode: 0o700 });
    writeFileSync(join(config, "nsbox/trusted.json"), JSON.stringify({ files: { "/x/nsbox.json": null, "/y/nsbox.json": 5, "/z/nsbox.json": { sha256: "ab", trusted: "2026-01-01T00:00:00Z" } } }), { mode: 0o600 });
    const r = await nsbox(["trust", "--list"], { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: config } });
    expect(r.stderr).not.toContain("internal error");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("/z/nsbox.json");
    expect(r.stdout).not.toContain("/x/nsbox.json");
  });
});

describe("the registry in a $XDG_RUNTIME_DIR inside the project (an .envrc that sets it to ./run)", () => {
  it("another sandbox in the project cannot list or reach a named sandbox's socket and state (control: a sibling directory is visible)", async () => {
    const cwd = scratchIn(made);
    const runtime = join(cwd, "run");
    mkdirSync(runtime, { mode: 0o700 });
    mkdirSync(join(cwd, "run-other"));
    writeFileSync(join(cwd, "run-other/visible"), "");
    const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
    const name = `seam-rt-${process.pid}`;
    const victim = background([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--name", name, "--env", "API_TOKEN=s3cret", "--", "sh", "-c", `echo ready; sleep ${marker()}`], { cwd, env });
    try {
      expect(await victim.waitFor("ready")).toBe(true);
      expect(existsSync(join(runtime, `nsbox/${name}.sock`))).toBe(true);
      const r = await nsbox(["--", "sh", "-c", `ls run/nsbox; cat run/nsbox/${name}.json; ls run-other`], { cwd, env });
      expect(r.stdout).toBe("visible\n");
      expect(r.stdout + r.stderr).not.toContain("s3cret");
      expect(r.stdout + r.stderr).not.toContain(`${name}.sock`);
    } finally {
      victim.proc.kill("SIGTERM");
      await victim.proc.exited;
    }
  });
});
