// Attacks on the writable-share guards (plan/protected.ts) as the payload and as a hostile
// project that knows the source: each tries to get the host's git to run its code later, and
// each has a control (the same action with the user's opt-in) that shows the test can fail.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanedUp, collect, homeIn, scratchIn, sh } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();

/** git on the host, with no system or user config of the machine's. */
function git(cwd: string, ...args: string[]) {
  return collect(["git", "-c", "user.email=t@example.test", "-c", "user.name=t", ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: homeIn(made), GIT_CONFIG_NOSYSTEM: "1", GIT_PAGER: "cat" },
  });
}

/** A repository with one commit and an executable script at `script` (relative), the sandbox's current directory. */
async function repo(script?: string): Promise<string> {
  const dir = scratchIn(made);
  expect((await git(dir, "init", "-q", ".")).exitCode).toBe(0);
  writeFileSync(join(dir, "README"), "hello\n");
  if (script) {
    mkdirSync(join(dir, script, ".."), { recursive: true });
    writeFileSync(join(dir, script), "#!/bin/sh\nexit 0\n");
    chmodSync(join(dir, script), 0o755);
  }
  expect((await git(dir, "add", ".")).exitCode).toBe(0);
  expect((await git(dir, "commit", "-q", "-m", "init")).exitCode).toBe(0);
  return dir;
}

describe("git runs a file of the project that a guarded file names", () => {
  it("a hook installed as a symlink into the project (.git/hooks/pre-commit -> ../../scripts/pre-commit): the script is read-only; --rw scripts/pre-commit opens it", async () => {
    const cwd = await repo("scripts/pre-commit");
    symlinkSync("../../scripts/pre-commit", join(cwd, ".git/hooks/pre-commit"));
    const attack = "printf '#!/bin/sh\\necho HOOK-RAN\\n' > scripts/pre-commit && echo wrote";
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    const c = await git(cwd, "commit", "-q", "--allow-empty", "-m", "x");
    expect(c.stdout + c.stderr).not.toContain("HOOK-RAN");
    // Control: opened by the user, the same write reaches the host's next commit.
    expect((await sh(attack, { cwd }, ["--rw", "scripts/pre-commit"])).stdout).toBe("wrote\n");
    const d = await git(cwd, "commit", "-q", "--allow-empty", "-m", "y");
    expect(d.stdout + d.stderr).toContain("HOOK-RAN");
  });

  it("a hook symlink that dangles (the project ships the link, not the script): a script made inside is moved aside; --rw-try opens it", async () => {
    const cwd = await repo();
    symlinkSync("../../tools/hooks/post-commit", join(cwd, ".git/hooks/post-commit"));
    const attack = "mkdir -p tools/hooks && printf '#!/bin/sh\\necho HOOK-RAN\\n' > tools/hooks/post-commit && chmod +x tools/hooks/post-commit";
    const r = await sh(attack, { cwd });
    expect(r.stderr).toContain("moved it to");
    const c = await git(cwd, "commit", "-q", "--allow-empty", "-m", "x");
    expect(c.stdout + c.stderr).not.toContain("HOOK-RAN");
    // Control: with the user's opt-in the script stays, and the host's commit runs it.
    expect((await sh(attack, { cwd }, ["--rw-try", "tools"])).exitCode).toBe(0);
    const d = await git(cwd, "commit", "-q", "--allow-empty", "-m", "y");
    expect(d.stdout + d.stderr).toContain("HOOK-RAN");
  });

  it("diff.external naming a script of the project: the script is read-only; --rw opens it", async () => {
    const cwd = await repo("tools/diff.sh");
    expect((await git(cwd, "config", "diff.external", "./tools/diff.sh")).exitCode).toBe(0);
    writeFileSync(join(cwd, "README"), "changed\n");
    const attack = "printf '#!/bin/sh\\necho DIFF-RAN\\n' > tools/diff.sh && echo wrote";
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    expect((await git(cwd, "diff")).stdout).not.toContain("DIFF-RAN");
    expect((await sh(attack, { cwd }, ["--rw", "tools/diff.sh"])).stdout).toBe("wrote\n");
    expect((await git(cwd, "diff")).stdout).toContain("DIFF-RAN");
  });

  it("include.path naming a file in a directory that does not exist yet: a file made there is moved aside; --rw-try opens it", async () => {
    const cwd = await repo();
    expect((await git(cwd, "config", "include.path", "../config/git/extra")).exitCode).toBe(0);
    const mark = join(cwd, "..", `include-${Date.now()}`);
    made.push(mark);
    const attack = `mkdir -p config/git && printf '[alias]\\n\\tst = !touch ${mark}\\n' > config/git/extra`;
    expect((await sh(attack, { cwd })).stderr).toContain("moved it to");
    await git(cwd, "st");
    expect(existsSync(mark)).toBe(false);
    expect((await sh(attack, { cwd }, ["--rw-try", "config"])).exitCode).toBe(0);
    await git(cwd, "st");
    expect(existsSync(mark)).toBe(true);
  });
});

describe("a project's .gitconfig that the repository includes (include.path = ../.gitconfig)", () => {
  /** The usual set-up: the project ships .gitconfig naming its hooks directory, the user includes it. */
  async function included(): Promise<string> {
    const cwd = await repo(".githooks/pre-commit");
    writeFileSync(join(cwd, ".gitconfig"), "[core]\n\thooksPath = .githooks\n[diff \"lock\"]\n\ttextconv = ./tools/textconv.sh\n");
    expect((await git(cwd, "config", "include.path", "../.gitconfig")).exitCode).toBe(0);
    return cwd;
  }

  it("the hooks directory it names is read-only; --rw .githooks opens it", async () => {
    const cwd = await included();
    const attack = "printf '#!/bin/sh\\necho HOOK-RAN\\n' > .githooks/pre-commit && echo wrote";
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    const c = await git(cwd, "commit", "-q", "--allow-empty", "-m", "x");
    expect(c.stdout + c.stderr).not.toContain("HOOK-RAN");
    expect((await sh(attack, { cwd }, ["--rw", ".githooks"])).stdout).toBe("wrote\n");
    const d = await git(cwd, "commit", "-q", "--allow-empty", "-m", "y");
    expect(d.stdout + d.stderr).toContain("HOOK-RAN");
  });

  it("a driver program it names, not there yet, is moved aside when made inside; --rw-try opens it", async () => {
    const cwd = await included();
    writeFileSync(join(cwd, ".gitattributes"), "*.lock diff=lock\n");
    writeFileSync(join(cwd, "a.lock"), "one\n");
    await git(cwd, "add", ".");
    await git(cwd, "commit", "-q", "-m", "lock");
    writeFileSync(join(cwd, "a.lock"), "two\n");
    const mark = join(cwd, "..", `textconv-${Date.now()}`);
    made.push(mark);
    const attack = `mkdir -p tools && printf '#!/bin/sh\\ntouch ${mark}\\ncat "$1"\\n' > tools/textconv.sh && chmod +x tools/textconv.sh`;
    expect((await sh(attack, { cwd })).stderr).toContain("moved it to");
    await git(cwd, "diff");
    expect(existsSync(mark)).toBe(false);
    expect((await sh(attack, { cwd }, ["--rw-try", "tools"])).exitCode).toBe(0);
    await git(cwd, "diff");
    expect(existsSync(mark)).toBe(true);
  });
});

describe("the current directory inside a hidden directory of $HOME is not a project", () => {
  it("~/.config/nvim (init.lua runs at nvim's next start) is refused; --rw shares it when meant; ~/src/proj is shared", async () => {
    const home = homeIn(made);
    const nvim = join(home, ".config/nvim");
    mkdirSync(nvim, { recursive: true });
    const env = { ...process.env, HOME: home };
    const attack = "echo 'vim.fn.system(\"id\")' > init.lua && echo wrote";
    const r = await sh(attack, { cwd: nvim, env });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain(`not sharing the current directory ${nvim}: it is inside ${join(home, ".config")}`);
    expect(existsSync(join(nvim, "init.lua"))).toBe(false);
    // Controls: named explicitly it is shared; a project under $HOME is shared by default.
    expect((await sh(attack, { cwd: nvim, env }, ["--rw", nvim])).stdout).toBe("wrote\n");
    const proj = join(home, "src/proj");
    mkdirSync(proj, { recursive: true });
    expect((await sh(attack, { cwd: proj, env })).stdout).toBe("wrote\n");
  });

  for (const dir of [".ssh", ".local/share/applications", ".dotfiles"]) {
    it(`refuses ~/${dir}`, async () => {
      const home = homeIn(made);
      const cwd = join(home, dir);
      mkdirSync(cwd, { recursive: true, mode: 0o700 });
      const r = await sh("echo x > f", { cwd, env: { ...process.env, HOME: home } });
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toContain("--no-cwd");
      expect(existsSync(join(cwd, "f"))).toBe(false);
    });
  }
});

describe("files .envrc has direnv read into your shell (direnv trusts .envrc's content only)", () => {
  /** What direnv does on the host when you cd there: source .envrc with its stdlib's dotenv and source_env. */
  const direnv = (cwd: string) =>
    collect(["bash", "-c", "dotenv() { set -a; . \"./${1:-.env}\"; set +a; }; dotenv_if_exists() { [ -f \"${1:-.env}\" ] && dotenv \"$@\"; true; }; source_env_if_exists() { [ -f \"$1\" ] && . \"./$1\"; true; }; . ./.envrc; echo \"EVIL=$EVIL\""], { cwd, env: { PATH: process.env.PATH } });

  async function project(): Promise<string> {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, ".envrc"), "dotenv\nsource_env_if_exists .envrc.local # your own settings\n");
    writeFileSync(join(cwd, ".env"), "PORT=3000\n");
    return cwd;
  }

  it("dotenv's .env is read-only (LD_PRELOAD=, PATH= there reach your shell); --rw .env opens it", async () => {
    const cwd = await project();
    const attack = "echo 'EVIL=from-env' >> .env && echo wrote";
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    expect((await direnv(cwd)).stdout).toBe("EVIL=\n");
    expect((await sh(attack, { cwd }, ["--rw", ".env"])).stdout).toBe("wrote\n");
    expect((await direnv(cwd)).stdout).toBe("EVIL=from-env\n");
  });

  it("a new .envrc.local that source_env_if_exists names is moved aside; --rw-try opens it", async () => {
    const cwd = await project();
    const attack = "echo 'EVIL=from-local' > .envrc.local";
    expect((await sh(attack, { cwd })).stderr).toContain("moved it to");
    expect((await direnv(cwd)).stdout).toBe("EVIL=\n");
    expect((await sh(attack, { cwd }, ["--rw-try", ".envrc.local"])).exitCode).toBe(0);
    expect((await direnv(cwd)).stdout).toBe("EVIL=from-local\n");
  });

  it("a file named through $PWD (dotenv_if_exists \"$PWD/.env.local\") is guarded as the plain name is; one named by another expansion guards every .env file (control: --rw opens it)", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, ".envrc"), 'dotenv_if_exists "$PWD/.env.local"\n');
    writeFileSync(join(cwd, ".env.local"), "PORT=3000\n");
    const attack = "echo 'BUN_OPTIONS=--preload=./x.js' >> .env.local && echo wrote";
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    expect((await sh(attack, { cwd }, ["--rw", ".env.local"])).stdout).toBe("wrote\n");
    const other = scratchIn(made);
    writeFileSync(join(other, ".envrc"), 'dotenv "$ENV_FILE"\n');
    writeFileSync(join(other, ".env.staging"), "PORT=3000\n");
    expect((await sh("echo 'EVIL=1' >> .env.staging && echo wrote", { cwd: other })).stdout).not.toContain("wrote");
    expect((await sh("echo x > notes.txt && echo wrote", { cwd: other })).stdout).toBe("wrote\n");
  });

  it("use nix / use flake: the Nix files direnv evaluates (their shellHook runs in your shell) are read-only (control: without the line, writable)", async () => {
    for (const [envrc, file] of [["use nix", "shell.nix"], ["use flake", "flake.nix"]] as const) {
      const cwd = scratchIn(made);
      writeFileSync(join(cwd, file), "{}\n");
      writeFileSync(join(cwd, ".envrc"), `${envrc}\n`);
      const attack = `echo '# shellHook' >> ${file} && echo wrote`;
      expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
      writeFileSync(join(cwd, ".envrc"), "export FOO=1\n");
      expect((await sh(attack, { cwd })).stdout).toBe("wrote\n");
    }
  });

  it("a project .env without a .envrc that names it stays writable (the project's own data)", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, ".env"), "PORT=3000\n");
    expect((await sh("echo 'PORT=4000' > .env && echo wrote", { cwd })).stdout).toBe("wrote\n");
  });
});

describe("mise: the files its config reads, and the config files it finds", () => {
  it("env._.source's script is read-only (mise runs it at every prompt); --rw opens it", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "mise.toml"), "[env]\n_.source = \"./scripts/env.sh\"\n_.file = { path = \".env.mise\" }\n");
    mkdirSync(join(cwd, "scripts"));
    writeFileSync(join(cwd, "scripts/env.sh"), "export PORT=3000\n");
    const attack = "echo 'touch pwned' >> scripts/env.sh && echo wrote";
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    expect((await sh("echo x > .env.mise", { cwd })).stderr).toContain("moved it to");
    expect(existsSync(join(cwd, ".env.mise"))).toBe(false);
    expect((await sh(attack, { cwd }, ["--rw", "scripts/env.sh"])).stdout).toBe("wrote\n");
  });

  it("a new .config/mise.toml (auto-trusted under trusted_config_paths) is moved aside; --rw-try opens it", async () => {
    const cwd = scratchIn(made);
    const attack = "mkdir -p .config && printf '[hooks]\\nenter = \"touch pwned\"\\n' > .config/mise.toml";
    expect((await sh(attack, { cwd })).stderr).toContain("moved it to");
    expect(existsSync(join(cwd, ".config/mise.toml"))).toBe(false);
    expect((await sh(attack, { cwd }, ["--rw-try", ".config"])).exitCode).toBe(0);
    expect(existsSync(join(cwd, ".config/mise.toml"))).toBe(true);
  });
});

describe("a new repository one level down (VS Code opens those by itself and runs git there)", () => {
  it("git init sub (or lib, already there) with core.fsmonitor: moved aside; a symlink to another repository is never followed; --rw-try sub keeps it", async () => {
    const cwd = await repo();
    mkdirSync(join(cwd, "lib"));
    const other = await repo();
    const mark = join(cwd, "..", `nested-${Date.now()}`);
    made.push(mark);
    const plant = (d: string) => `mkdir -p ${d} && git init -q ${d} && git -C ${d} config core.fsmonitor 'touch ${mark} #'`;
    const r = await sh(`${plant("sub")} && ${plant("lib")} && ln -s ${other} elsewhere`, { cwd });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`${join(cwd, "sub/.git")} was created`);
    expect(r.stderr).toContain(`${join(cwd, "lib/.git")} was created`);
    await git(join(cwd, "sub"), "status");
    await git(join(cwd, "lib"), "status");
    expect(existsSync(mark)).toBe(false);
    expect(existsSync(join(other, ".git/config"))).toBe(true);
    // Control: opened by the user, the new repository stays and the host's git obeys it.
    expect((await sh(plant("sub"), { cwd }, ["--rw-try", "sub"])).exitCode).toBe(0);
    await git(join(cwd, "sub"), "status");
    expect(existsSync(mark)).toBe(true);
  });

  it("hidden among 12,000 new directories, the new repository is still found and moved aside", async () => {
    const cwd = await repo();
    const r = await sh("seq 12000 | xargs mkdir && git init -q 11999 && echo planted", { cwd });
    expect(r.stdout).toBe("planted\n");
    expect(r.stderr).toContain(`${join(cwd, "11999/.git")} was created`);
    expect(existsSync(join(cwd, "11999/.git"))).toBe(false);
  });
});

describe("editors", () => {
  it("an existing *.code-workspace (settings and folderOpen tasks, like .vscode) is read-only; --rw opens it", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "app.code-workspace"), '{ "folders": [{ "path": "." }] }\n');
    const attack = `echo '{ "folders": [{ "path": "." }], "tasks": { "version": "2.0.0", "tasks": [{ "label": "x", "command": "id", "runOptions": { "runOn": "folderOpen" } }] } }' > app.code-workspace && echo wrote`;
    expect((await sh(attack, { cwd })).stdout).not.toContain("wrote");
    expect((await sh(attack, { cwd }, ["--rw", "app.code-workspace"])).stdout).toBe("wrote\n");
  });
});

describe("-p test: dependency directories that are not there yet", () => {
  it("a .venv or node_modules made inside is moved aside (uv, poetry and VS Code run .venv/bin/python by themselves); without -p test it stays", async () => {
    const cwd = scratchIn(made);
    writeFileSync(join(cwd, "package.json"), "{}\n");
    const attack = "mkdir -p .venv/bin node_modules/.bin && printf '#!/bin/sh\\necho PWN\\n' > .venv/bin/python && echo 'home = /usr/bin' > .venv/pyvenv.cfg && echo planted";
    const r = await sh(attack, { cwd }, ["-p", "test"]);
    expect(r.stdout).toBe("planted\n");
    expect(r.stderr).toContain(`${join(cwd, ".venv")} was created`);
    expect(existsSync(join(cwd, ".venv"))).toBe(false);
    expect(existsSync(join(cwd, "node_modules"))).toBe(false);
    // Control: the default profile shares the project read-write, dependency directories included.
    expect((await sh(attack, { cwd })).stdout).toBe("planted\n");
    expect(existsSync(join(cwd, ".venv/bin/python"))).toBe(true);
  });
});

describe("your own git config naming a file of the project", () => {
  it("alias.t = !./scripts/test.sh in ~/.gitconfig: the script is read-only; --rw opens it", async () => {
    const cwd = await repo("scripts/test.sh");
    const home = homeIn(made);
    writeFileSync(join(home, ".gitconfig"), "[alias]\n\tt = !./scripts/test.sh\n");
    const mark = join(cwd, "..", `alias-${Date.now()}`);
    made.push(mark);
    const env = { ...process.env, HOME: home };
    const attack = `printf '#!/bin/sh\\ntouch ${mark}\\n' > scripts/test.sh && echo wrote`;
    const hostGit = () => collect(["git", "t"], { cwd, env: { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: "1" } });
    expect((await sh(attack, { cwd, env })).stdout).not.toContain("wrote");
    await hostGit();
    expect(existsSync(mark)).toBe(false);
    expect((await sh(attack, { cwd, env }, ["--rw", "scripts/test.sh"])).stdout).toBe("wrote\n");
    await hostGit();
    expect(existsSync(mark)).toBe(true);
  });
});
