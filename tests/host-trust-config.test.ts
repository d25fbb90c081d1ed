// Host trust, config: a project's nsbox.json / package.json#nsbox loosens the sandbox only when the
// user trusted the file as it is (`nsbox trust`); files someone else could write are ignored.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run as libraryRun, NsboxError } from "../src/index.ts";
import { LOOSENING } from "../src/loosening.ts";
import { SANDBOX_OPTIONS } from "../src/options/defs.ts";
import { homeIn, nsbox, projectWithSecret, scratchIn } from "./helpers.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
afterAll(() => {
  for (const p of made) if (existsSync(p)) Bun.spawnSync(["chmod", "-R", "u+rwx", p], { stderr: "ignore" });
});
afterAll(() => {
  for (const p of made) rmSync(p, { recursive: true, force: true });
});
const ROOT_USER = process.getuid!() === 0;

const setup = (files: Record<string, unknown> = {}) => projectWithSecret(made, files);
type Setup = ReturnType<typeof setup>;
const trust = async (s: Setup, args: string[] = [], cwd = s.cwd) => nsbox(["trust", ...args], { cwd, env: s.env });
const refusedUntrusted = (r: { exitCode: number; stderr: string; stdout: string }, ...parts: string[]) => {
  expect(r.exitCode).toBe(125);
  expect(r.stdout).toBe("");
  for (const p of parts) expect(r.stderr).toContain(p);
};

describe("the issue's example: a planted profile test with rw ~ and net host", () => {
  const planted = { profiles: { test: { rw: ["~"], net: "host" } } };

  it("is refused with one message: the file, the profile, each key and value, and the command that trusts it", async () => {
    const s = setup({ "nsbox.json": planted });
    const r = await nsbox(["-p", "test", "--", "sh", "-c", "echo pwned > ~/pwned"], { cwd: s.cwd, env: s.env });
    refusedUntrusted(r, `${s.cwd}/nsbox.json is not trusted, and its profile "test" would loosen the sandbox`, `profiles.test.rw "~": writes ${s.home}, outside the project`, 'profiles.test.net "host": shares the host\'s network', `nsbox trust ${s.cwd}/nsbox.json`);
    expect(existsSync(join(s.home, "pwned"))).toBe(false);
  });

  it("control: trusted, the same run writes the real home; a changed file is untrusted again", async () => {
    const s = setup({ "nsbox.json": planted });
    const t = await trust(s);
    expect(t).toMatchObject({ exitCode: 0 });
    expect(t.stdout).toContain(`profiles.test.rw "~": writes ${s.home}`);
    const r = await nsbox(["-p", "test", "--", "sh", "-c", "echo pwned > ~/pwned"], { cwd: s.cwd, env: s.env });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(readFileSync(join(s.home, "pwned"), "utf8")).toBe("pwned\n");
    // One byte more (a payload's edit): untrusted again.
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify(planted) + " ");
    refusedUntrusted(await nsbox(["-p", "test", "--", "true"], { cwd: s.cwd, env: s.env }), "has changed since you trusted it");
  });

  it("the same in package.json#nsbox; trust binds the nsbox key's content", async () => {
    const s = setup({ "package.json": { name: "p", nsbox: planted } });
    refusedUntrusted(await nsbox(["-p", "test", "--", "true"], { cwd: s.cwd, env: s.env }), `${s.cwd}/package.json#nsbox is not trusted`, `nsbox trust ${s.cwd}/package.json`);
    expect(await trust(s, ["package.json"])).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["-p", "test", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    writeFileSync(join(s.cwd, "package.json"), JSON.stringify({ name: "p", version: "2.0.0", nsbox: planted }));
    expect(await nsbox(["-p", "test", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    writeFileSync(join(s.cwd, "package.json"), JSON.stringify({ name: "p", nsbox: { profiles: { test: { rw: ["~"], net: "host", "cap-add": "ALL" } } } }));
    refusedUntrusted(await nsbox(["-p", "test", "--", "true"], { cwd: s.cwd, env: s.env }), "has changed since you trusted it", 'profiles.test.cap-add "ALL"');
  });

  it("the library's profile option (its cwd) follows the same rule", async () => {
    const s = setup({ "nsbox.json": planted });
    const saved = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };
    Object.assign(process.env, { HOME: s.home, XDG_CONFIG_HOME: s.config });
    try {
      const e = await libraryRun(["true"], { profile: "test", cwd: s.cwd }).catch((x) => x);
      expect(e).toBeInstanceOf(NsboxError);
      expect(e.code).toBe("UNTRUSTED_CONFIG");
      expect(e.message).toContain('profiles.test.rw "~"');
      expect(await trust(s)).toMatchObject({ exitCode: 0 });
      expect(await libraryRun(["true"], { profile: "test", cwd: s.cwd })).toMatchObject({ exitCode: 0 });
    } finally {
      for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    }
  });
});

describe("every option that loosens needs trust; the same file trusted runs", () => {
  // [key, value]: each in its own profile "p" (no built-in of that name: compared with the default view).
  const cases: [string, unknown][] = [
    ["ro", "~/.ssh"], ["ro-try", "~/.ssh"], ["rw", "~"], ["rw-try", "~/.ssh"], ["rw", "../"],
    ["bind", "~/.ssh:/mnt/keys"], ["bind-try", "~/.ssh:/mnt/keys"], ["ro-bind", "/etc:/mnt/etc"], ["ro-bind-try", "~/.ssh:/mnt/keys"],
    ["ro", "/usr/share"],
    ["dev-bind", "/dev/null:/mnt/null"], ["dev-bind-try", "/dev/zero:/mnt/zero"],
    ["file", "/mnt/key:~/.ssh/id_rsa"],
    ["overlay", "~/.ssh"], ["overlay", "./data:~/upper"],
    ["net", "host"], ["net", "allow=example.com"],
    ["net-log", "./net.log"],
    ["seccomp", "none"], ["landlock", "off"], ["cap-add", "CAP_NET_RAW"], ["allow-nested", true],
    ["keep-env", "GITHUB_TOKEN"], ["propagation", "slave"],
  ];
  for (const [key, value] of cases) {
    it(`${key} ${JSON.stringify(value)}`, async () => {
      // --net-log needs --net allow= (nothing else is logged).
      const s = setup({ "nsbox.json": { profiles: { p: { ...(key === "net-log" ? { net: "allow=example.com" } : {}), [key]: value } } } });
      const r = await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env });
      refusedUntrusted(r, `profiles.p.${key} ${JSON.stringify(value)}: `, `nsbox trust ${s.cwd}/nsbox.json`);
      expect(await trust(s)).toMatchObject({ exitCode: 0 });
      expect(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    });
  }

  it("seccomp FILE, even inside the project: the file is the filter", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { seccomp: "./filter.bpf" } } }, "filter.bpf": "" });
    refusedUntrusted(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env }), 'profiles.p.seccomp "./filter.bpf": replaces the syscall filter');
  });

  it("trusted, a path that later becomes a symlink out of the project loosens more: refused until trusted again", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { net: "host", ro: "./fixtures" } } } });
    mkdirSync(join(s.cwd, "fixtures"));
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    rmSync(join(s.cwd, "fixtures"), { recursive: true });
    symlinkSync(join(s.home, ".ssh"), join(s.cwd, "fixtures"));
    refusedUntrusted(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env }), "loosens more than when you trusted it", `profiles.p.ro "./fixtures": reads ${s.home}/.ssh`);
  });

  it("a relative path that is a symlink out of the project (./fixtures -> ~/.ssh) reads outside", async () => {
    const s = setup({ "nsbox.json": { profiles: { p: { ro: "./fixtures" } } } });
    symlinkSync(join(s.home, ".ssh"), join(s.cwd, "fixtures"));
    refusedUntrusted(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env }), `profiles.p.ro "./fixtures": reads ${s.home}/.ssh, outside the project`);
  });

  it("a project profile that extends a built-in which loosens, under another name (test extends install)", async () => {
    const s = setup({ "nsbox.json": { profiles: { test: { extends: "install" } } } });
    refusedUntrusted(
      await nsbox(["--dry-run", "-p", "test", "--", "true"], { cwd: s.cwd, env: s.env }),
      'profiles.test.extends "install" (built-in install: net) "allow=@registries": opens the network',
      'profiles.test.extends "install" (built-in install: overlay-try) "~/.npm": reads',
    );
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["--dry-run", "-p", "test", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
  });

  it("a loosening in a project profile the asked one extends is found too", async () => {
    const s = setup({ "nsbox.json": { profiles: { base: { net: "host" }, ci: { extends: "base", hostname: "ci" } } } });
    refusedUntrusted(await nsbox(["--dry-run", "-p", "ci", "--", "true"], { cwd: s.cwd, env: s.env }), 'profiles.base.net "host"', 'its profile "ci"');
  });

  it("every option has a row in the loosening table (a new option must be classified)", () => {
    expect(Object.keys(SANDBOX_OPTIONS).filter((k) => !Object.hasOwn(LOOSENING, k))).toEqual([]);
  });
});

describe("a file that only tightens, or repeats its built-in namesake, needs no trust", () => {
  it("tightening options and paths inside the project run untrusted", async () => {
    const tight = {
      ro: ["./data"], rw: ["./data"], bind: "./data:/mnt/d", "ro-bind": "./data:/mnt/r", hide: "./data", tmpfs: "/scratch:size=1m",
      dir: "/made", symlink: "/etc/hostname:/link", file: "/scratch/f:./data/f", overlay: "./data:./upper",
      env: "A=1", "clear-env": true, "cap-drop": "ALL", net: "none", seccomp: "default", landlock: "on", "allow-nested": false,
      propagation: "private", hostname: "tight", uid: 1000, gid: 1000, chdir: "/tmp", rlimit: "nofile=256", timeout: "30s", verbose: false,
    };
    const s = setup({ "nsbox.json": { profiles: { tight } } });
    mkdirSync(join(s.cwd, "upper"));
    const r = await nsbox(["-p", "tight", "--", "hostname"], { cwd: s.cwd, env: s.env });
    expect(r).toMatchObject({ exitCode: 0, stdout: "tight\n" });
  });

  it('"test" extending the built-in test (its caches) and "install" repeating install\'s network', async () => {
    const s = setup({
      "nsbox.json": { profiles: { test: { extends: "test", ro: "./data" }, install: { net: "allow=@registries", "overlay-try": "~/.npm" } } },
    });
    expect(await nsbox(["--dry-run", "-p", "test", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["--dry-run", "-p", "install", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    // Control: the same caches under another name are reads outside the project.
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { ci: { extends: "test" } } }));
    refusedUntrusted(await nsbox(["--dry-run", "-p", "ci", "--", "true"], { cwd: s.cwd, env: s.env }), 'built-in test: ro-try) "~/.bun/bin": reads');
  });
});

describe("config files someone else could have written are ignored, with a warning", () => {
  const loosening = { profiles: { p: { net: "host", hostname: "from-file" } } };
  const probe = ["-p", "p", "--dry-run", "--", "true"];

  it("in a directory writable by others (a /tmp-like sticky one, found from a subdirectory), and one only group-writable", async () => {
    for (const mode of [0o1777, 0o777, 0o775]) {
      const s = setup();
      const shared = join(s.cwd, "shared");
      mkdirSync(join(shared, "x"), { recursive: true });
      writeFileSync(join(shared, "nsbox.json"), JSON.stringify(loosening));
      chmodSync(shared, mode);
      if (mode === 0o775) {
        // Another group than the user's private one (the group named as the user, accepted).
        if (ROOT_USER) chownSync(shared, 0, 12345);
        else if (Bun.spawnSync(["id", "-gn"]).stdout.toString() === Bun.spawnSync(["id", "-un"]).stdout.toString()) continue;
      }
      const r = await nsbox(probe, { cwd: join(shared, "x"), env: s.env });
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toContain(`${shared}/nsbox.json is ignored: its directory ${shared} is writable by`);
      expect(r.stderr).toContain("no profile named 'p'");
      // Control: the same directory closed to others: the file is read (and, loosening, refused untrusted).
      chmodSync(shared, 0o755);
      refusedUntrusted(await nsbox(probe, { cwd: join(shared, "x"), env: s.env }), `${shared}/nsbox.json is not trusted`);
    }
  });

  it("a file writable by others", async () => {
    const s = setup({ "nsbox.json": loosening });
    chmodSync(join(s.cwd, "nsbox.json"), 0o666);
    const r = await nsbox(probe, { cwd: s.cwd, env: s.env });
    expect(r.stderr).toContain(`${s.cwd}/nsbox.json is ignored: ${s.cwd}/nsbox.json is writable by every user; if that is not meant, chmod go-w ${s.cwd}/nsbox.json`);
    expect(r.exitCode).toBe(125);
    // A plain run still works, with the warning.
    const plain = await nsbox(["--", "true"], { cwd: s.cwd, env: s.env });
    expect(plain.exitCode).toBe(0);
    expect(plain.stderr).toContain("is ignored");
  });

  it("a symlinked nsbox.json or package.json (nsbox reads config files only as regular files)", async () => {
    for (const name of ["nsbox.json", "package.json"]) {
      const s = setup();
      const elsewhere = join(scratchIn(made), name);
      writeFileSync(elsewhere, JSON.stringify(name === "nsbox.json" ? loosening : { name: "p", nsbox: loosening }));
      symlinkSync(elsewhere, join(s.cwd, name));
      const r = await nsbox(probe, { cwd: s.cwd, env: s.env });
      expect(r.stderr).toContain(`${s.cwd}/${name} is ignored: ${s.cwd}/${name} is a symbolic link`);
      expect(r.stderr).toContain("no profile named 'p'");
      // nsbox trust refuses it too.
      expect((await trust(s, [name])).exitCode).toBe(125);
    }
  });

  it.if(ROOT_USER)("a file or a directory owned by another user (as root: chown)", async () => {
    const s = setup({ "nsbox.json": loosening });
    chownSync(join(s.cwd, "nsbox.json"), 12345, 12345);
    const r = await nsbox(probe, { cwd: s.cwd, env: s.env });
    expect(r.stderr).toContain("is owned by another user (uid 12345)");
    chownSync(join(s.cwd, "nsbox.json"), 0, 0);
    chownSync(s.cwd, 12345, 12345);
    expect((await nsbox(probe, { cwd: s.cwd, env: s.env })).stderr).toContain(`its directory ${s.cwd} is owned by another user (uid 12345)`);
    chownSync(s.cwd, 0, 0);
    refusedUntrusted(await nsbox(probe, { cwd: s.cwd, env: s.env }), "is not trusted");
  });

  it("nsbox trust refuses to trust a file someone else could write", async () => {
    const s = setup({ "nsbox.json": loosening });
    chmodSync(join(s.cwd, "nsbox.json"), 0o646);
    const r = await trust(s, ["nsbox.json"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("cannot be trusted");
  });
});

describe("the trust store", () => {
  const loosening = { profiles: { p: { net: "host" } } };

  it("is made 0700 with a 0600 file; --list shows trusted and changed; untrust withdraws", async () => {
    const s = setup({ "nsbox.json": loosening });
    // Empty, --list says so rather than print nothing (control: --json stays a plain empty list).
    expect(await nsbox(["trust", "--list"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0, stdout: "nothing trusted (nsbox trust [FILE] trusts a project's nsbox.json as it is now)\n" });
    expect(await nsbox(["trust", "--list", "--json"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0, stdout: "[]\n" });
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(lstatSync(join(s.config, "nsbox")).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(s.config, "nsbox/trusted.json")).mode & 0o777).toBe(0o600);
    expect((await nsbox(["trust", "--list"], { cwd: s.cwd, env: s.env })).stdout).toContain(`${s.cwd}/nsbox.json  trusted`);
    writeFileSync(join(s.cwd, "nsbox.json"), JSON.stringify({ profiles: { p: { net: "host", hostname: "h" } } }));
    expect((await nsbox(["trust", "--list"], { cwd: s.cwd, env: s.env })).stdout).toContain(`${s.cwd}/nsbox.json  changed since (untrusted)`);
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    expect(await nsbox(["untrust", "nsbox.json"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    refusedUntrusted(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env }), "is not trusted");
  });

  it("one inside the project (XDG_CONFIG_HOME there: the payload could write it) is not used", async () => {
    const s = setup({ "nsbox.json": loosening });
    const env = { ...s.env, XDG_CONFIG_HOME: join(s.cwd, ".config") };
    expect(await nsbox(["trust"], { cwd: s.cwd, env })).toMatchObject({ exitCode: 0 });
    const r = await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env });
    refusedUntrusted(r, "which the sandbox can write: it is not used", "is not trusted");
  });

  it("one writable by others, or a symlink, is not used", async () => {
    const s = setup({ "nsbox.json": loosening });
    expect(await trust(s)).toMatchObject({ exitCode: 0 });
    chmodSync(join(s.config, "nsbox"), 0o777);
    refusedUntrusted(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env }), "the trust store is ignored", "is not trusted");
    chmodSync(join(s.config, "nsbox"), 0o700);
    expect(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env })).toMatchObject({ exitCode: 0 });
    const real = join(s.config, "real.json");
    writeFileSync(real, readFileSync(join(s.config, "nsbox/trusted.json")));
    rmSync(join(s.config, "nsbox/trusted.json"));
    symlinkSync(real, join(s.config, "nsbox/trusted.json"));
    refusedUntrusted(await nsbox(["--dry-run", "-p", "p", "--", "true"], { cwd: s.cwd, env: s.env }), "it is a symbolic link", "is not trusted");
  });

  for (const profile of ["default", "test", "shell", "install"]) {
    it(`is out of the sandbox's reach under -p ${profile}, and read-only under --rw ~/.config (control: --rw ~/.config/nsbox reaches it)`, async () => {
      const s = setup({ "nsbox.json": loosening });
      const env = { ...s.env, XDG_CONFIG_HOME: undefined };
      expect(await nsbox(["trust"], { cwd: s.cwd, env })).toMatchObject({ exitCode: 0 });
      const store = join(s.home, ".config/nsbox/trusted.json");
      const before = readFileSync(store, "utf8");
      const attack = `cat ${store} 2>/dev/null && echo READ; echo '{"files":{}}' > ${store} 2>/dev/null; true`;
      const r = await nsbox(["-p", profile, "--", "sh", "-c", attack], { cwd: s.cwd, env });
      expect(r).toMatchObject({ exitCode: 0, stdout: "" });
      expect(readFileSync(store, "utf8")).toBe(before);
      // ~/.config shared: the store is nsbox's own policy, guarded in every writable share (attack-seams).
      const shared = await nsbox(["-p", profile, "--rw", join(s.home, ".config"), "--", "sh", "-c", attack], { cwd: s.cwd, env });
      expect(shared.stdout).toContain("READ");
      expect(readFileSync(store, "utf8")).toBe(before);
      const control = await nsbox(["-p", profile, "--rw", join(s.home, ".config/nsbox"), "--", "sh", "-c", attack], { cwd: s.cwd, env });
      expect(control.stdout).toContain("READ");
      expect(readFileSync(store, "utf8")).toBe('{"files":{}}\n');
    });
  }
});
