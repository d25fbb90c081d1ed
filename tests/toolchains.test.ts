// Toolchains installed in $HOME (plan/toolchains.ts): what the PATH names below $HOME, and the Bun
// nsbox runs on, work inside, read-only, without the credentials files beside them; links into
// secrets and PATH entries planted to / or $HOME open nothing; --home-tools off hides them again.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { NSBOX, cleanedUp, collect, homeIn, nsbox, scratchIn } from "./helpers.ts";

setDefaultTimeout(120_000);

const made = cleanedUp();

/** Write `content` at `home/rel` (directories made), executable with `exec`. */
function put(home: string, rel: string, content: string, exec = false): string {
  const path = join(home, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  if (exec) chmodSync(path, 0o755);
  return path;
}

/** A tool that prints what its install keeps beside it (so the version directory must be visible, not only the PATH entry). */
const reads = (file: string) => `#!/bin/sh\ncat "$(dirname "$(readlink -f "$0")")/${file}"\n`;

/**
 * A home as developers have it: nvm, Bun's installer, rustup, pyenv, fnm, volta, mise, asdf, Go,
 * ~/.local/bin with a link into ~/.local/share, each with a tool that reads its own data; the
 * credentials files beside them (each holding "SECRET"); and the PATH naming the tools' directories.
 */
function toolHome() {
  const home = homeIn(made);
  const cwd = scratchIn(made);
  const h = (rel: string) => join(home, rel);
  put(home, ".nvm/versions/node/v20.0.0/bin/node", reads("../lib/node-version"), true);
  put(home, ".nvm/versions/node/v20.0.0/lib/node-version", "node v20.0.0\n");
  put(home, ".nvm/versions/node/v20.0.0/etc/npmrc", "//registry.npmjs.org/:_authToken=SECRET\n");
  put(home, ".bun/bin/bun", "#!/bin/sh\necho bun 1.4.5\n", true);
  put(home, ".bun/install/cache/pkg/index.js", "cache\n");
  put(home, ".bun/install/global/node_modules/gtool/cli.sh", "#!/bin/sh\necho global bun tool\n", true);
  symlinkSync("../install/global/node_modules/gtool/cli.sh", h(".bun/bin/gtool"));
  // rustup: ~/.cargo/bin/cargo is a proxy that runs the toolchain in ~/.rustup.
  put(home, ".cargo/bin/cargo", `#!/bin/sh\ncat "$(dirname "$0")/../../.rustup/toolchains/stable/version"\n`, true);
  put(home, ".rustup/toolchains/stable/version", "cargo 1.80.0\n");
  put(home, ".cargo/credentials.toml", "[registry]\ntoken = \"SECRET\"\n");
  put(home, ".cargo/credentials", "SECRET\n");
  // pyenv: a shim that runs the chosen version.
  put(home, ".pyenv/shims/python", `#!/bin/sh\nexec "$(dirname "$0")/../versions/3.12.0/bin/python" "$@"\n`, true);
  put(home, ".pyenv/versions/3.12.0/bin/python", reads("../lib/python-version"), true);
  put(home, ".pyenv/versions/3.12.0/lib/python-version", "Python 3.12.0\n");
  put(home, ".pyenv/.git-credentials", "https://me:SECRET@github.com\n");
  // ~/.local/bin/tool -> ~/.local/share/tool/bin/tool (pipx, uv tools, installers).
  put(home, ".local/share/tool/bin/tool", reads("../data"), true);
  put(home, ".local/share/tool/data", "tool data\n");
  mkdirSync(h(".local/bin"), { recursive: true });
  symlinkSync(h(".local/share/tool/bin/tool"), h(".local/bin/tool"));
  put(home, ".local/share/keyrings/login.keyring", "SECRET\n");
  // fnm: the PATH names a per-shell link into ~/.local/share/fnm.
  put(home, ".local/share/fnm/node-versions/v22.0.0/installation/bin/fnm-node", reads("../lib/v"), true);
  put(home, ".local/share/fnm/node-versions/v22.0.0/installation/lib/v", "fnm node v22.0.0\n");
  mkdirSync(h(".local/state/fnm_multishells"), { recursive: true });
  symlinkSync(h(".local/share/fnm/node-versions/v22.0.0/installation"), h(".local/state/fnm_multishells/4242_1700000000"));
  // volta: shims read ~/.volta/tools.
  put(home, ".volta/bin/volta-node", `#!/bin/sh\ncat "$(dirname "$0")/../tools/image/node/18/version"\n`, true);
  put(home, ".volta/tools/image/node/18/version", "volta node 18\n");
  // mise: shims read ~/.config/mise and run ~/.local/share/mise/installs.
  put(home, ".local/share/mise/shims/mise-tool", `#!/bin/sh\ncat "$HOME/.config/mise/config.toml" "$(dirname "$0")/../installs/tool/1.0/version"\n`, true);
  put(home, ".local/share/mise/installs/tool/1.0/version", "mise tool 1.0\n");
  put(home, ".config/mise/config.toml", "[tools]\ntool = \"1.0\"\n");
  put(home, ".config/gh/hosts.yml", "oauth_token: SECRET\n");
  // asdf: shims read ~/.tool-versions and ~/.asdf/installs.
  put(home, ".asdf/shims/asdf-tool", `#!/bin/sh\ncat "$HOME/.tool-versions" "$(dirname "$0")/../installs/tool/2.0/version"\n`, true);
  put(home, ".asdf/installs/tool/2.0/version", "asdf tool 2.0\n");
  put(home, ".tool-versions", "tool 2.0\n");
  // Go: the toolchain in ~/.local/go (GOROOT), installed tools in ~/go/bin.
  put(home, ".local/go/bin/go", reads("../VERSION"), true);
  put(home, ".local/go/VERSION", "go1.23.0\n");
  put(home, "go/bin/gotool", "#!/bin/sh\necho go tool\n", true);
  put(home, "go/pkg/mod/cache/x", "module cache\n");
  // Credentials in $HOME itself, never shared.
  put(home, ".npmrc", "//registry.npmjs.org/:_authToken=SECRET\n");
  put(home, ".netrc", "machine x login me password SECRET\n");
  put(home, ".ssh/id_rsa", "SECRET\n");
  chmodSync(h(".ssh/id_rsa"), 0o600);
  const dirs = [
    ".nvm/versions/node/v20.0.0/bin", ".bun/bin", ".cargo/bin", ".pyenv/shims", ".local/bin", ".local/state/fnm_multishells/4242_1700000000/bin",
    ".volta/bin", ".local/share/mise/shims", ".asdf/shims", ".local/go/bin", "go/bin",
  ].map(h);
  // Without the variables that move these directories: another test file may have set one in this process (bun test runs files in one).
  const env: Record<string, string | undefined> = { ...process.env, HOME: home, PATH: [...dirs, "/usr/bin", "/bin"].join(":") };
  for (const name of ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "BUN_INSTALL", "CARGO_HOME", "RUSTUP_HOME", "GOPATH", "MISE_DATA_DIR", "MISE_CONFIG_DIR", "ASDF_DATA_DIR", "PYENV_ROOT", "NVM_DIR", "VOLTA_HOME"]) delete env[name];
  return { home, cwd, env, h };
}

const TOOLS = ["node", "bun", "gtool", "cargo", "python", "tool", "fnm-node", "volta-node", "mise-tool", "asdf-tool", "go", "gotool"];
const EXPECTED = [
  "node v20.0.0", "bun 1.4.5", "global bun tool", "cargo 1.80.0", "Python 3.12.0", "tool data", "fnm node v22.0.0", "volta node 18",
  '[tools]\ntool = "1.0"\nmise tool 1.0', "tool 2.0\nasdf tool 2.0", "go1.23.0", "go tool",
].join("\n") + "\n";

describe("given toolchains installed in a home that the sandbox hides", () => {
  it("each tool the PATH names runs inside with its version directory and shim data (control: --home-tools off finds none)", async () => {
    const { cwd, env } = toolHome();
    const script = TOOLS.join(" && ");
    const r = await nsbox(["--", "sh", "-c", script], { cwd, env });
    expect(r).toMatchObject({ stdout: EXPECTED, exitCode: 0 });
    // None found in the home (this machine may have a node of its own in /usr/bin).
    const found = (t: string) => `case "$(command -v ${t})" in "$HOME"/*) echo found-${t};; *) echo no-${t};; esac`;
    const off = await nsbox(["--home-tools", "off", "--", "sh", "-c", TOOLS.map(found).join("; ")], { cwd, env });
    expect(off).toMatchObject({ stdout: TOOLS.map((t) => `no-${t}\n`).join(""), exitCode: 0 });
    // The command itself not found: 127, as without nsbox.
    expect((await nsbox(["--home-tools", "off", "--", "fnm-node"], { cwd, env })).exitCode).toBe(127);
    expect(await nsbox(["--", "node"], { cwd, env })).toMatchObject({ stdout: "node v20.0.0\n", exitCode: 0 });
  });

  it("the library's homeTools: \"off\" hides them too (control: the default shows them)", async () => {
    const { cwd, env } = toolHome();
    const lib = join(dirname(NSBOX), "..", "src", "index.ts");
    const code = `import { run } from ${JSON.stringify(lib)};
      const a = await run(["sh", "-c", "node"], { cwd: ${JSON.stringify(cwd)}, stdout: "pipe", stderr: "pipe" });
      const b = await run(["sh", "-c", "fnm-node || echo none"], { cwd: ${JSON.stringify(cwd)}, homeTools: "off", stdout: "pipe", stderr: "pipe" });
      console.log(JSON.stringify([String(a.stdout), String(b.stdout)]));`;
    const r = await collect([process.execPath, "--no-env-file", "--config=/dev/null", "-e", code], { cwd, env });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(["node v20.0.0\n", "none\n"]);
  });

  it("a project profile's \"home-tools\": \"off\" needs no trust (it tightens) and hides them; --hide of one hides it (controls: without them it runs)", async () => {
    const { cwd, env } = toolHome();
    writeFileSync(join(cwd, "nsbox.json"), JSON.stringify({ profiles: { bare: { "home-tools": "off" } } }));
    const script = "fnm-node || echo none";
    expect(await nsbox(["-p", "bare", "--", "sh", "-c", script], { cwd, env })).toMatchObject({ stdout: "none\n", exitCode: 0 });
    expect(await nsbox(["--hide", "~/.local/share/fnm", "--", "sh", "-c", `${script} 2>/dev/null`], { cwd, env })).toMatchObject({ stdout: "none\n", exitCode: 0 });
    expect(await nsbox(["--", "sh", "-c", script], { cwd, env })).toMatchObject({ stdout: "fnm node v22.0.0\n", exitCode: 0 });
  });

  it("they are read-only inside (control: the home around them is writable, and --rw of one makes it writable, as the user asked)", async () => {
    const { cwd, env, h } = toolHome();
    const targets = [".nvm/versions/node/v20.0.0/bin/node", ".bun/bin/new", ".rustup/toolchains/stable/version", ".pyenv/versions/3.12.0/bin/python", ".local/share/tool/data", ".local/bin/new", ".config/mise/config.toml", ".tool-versions", ".local/go/VERSION"];
    const script = targets.map((t) => `(echo x >> ~/${t}) 2>/dev/null && echo wrote ${t} || echo refused ${t}`).join("; ") + "; echo x > ~/scratch && echo wrote scratch";
    const r = await nsbox(["--", "sh", "-c", script], { cwd, env });
    expect(r).toMatchObject({ stdout: targets.map((t) => `refused ${t}\n`).join("") + "wrote scratch\n", exitCode: 0 });
    expect(readFileSync(h(".local/share/tool/data"), "utf8")).toBe("tool data\n");
    const rw = await nsbox(["--rw", h(".local/share/tool"), "--", "sh", "-c", "echo more >> ~/.local/share/tool/data && tool"], { cwd, env });
    expect(rw).toMatchObject({ stdout: "tool data\nmore\n", exitCode: 0 });
  });

  it("only the bin of a prefix holding a download cache is shared: the cache stays private and writable (control: the bin runs)", async () => {
    const { cwd, env } = toolHome();
    const r = await nsbox(["--", "sh", "-c", "gotool; gtool; cat ~/go/pkg/mod/cache/x ~/.bun/install/cache/pkg/index.js 2>&1 | grep -c 'No such file'; mkdir -p ~/.bun/install/cache/new && echo cache writable"], { cwd, env });
    expect(r).toMatchObject({ stdout: "go tool\nglobal bun tool\n2\ncache writable\n", exitCode: 0 });
  });
});

describe("given credentials beside the tools", () => {
  const SECRETS = [".cargo/credentials.toml", ".cargo/credentials", ".nvm/versions/node/v20.0.0/etc/npmrc", ".pyenv/.git-credentials", ".npmrc", ".netrc", ".ssh/id_rsa", ".config/gh/hosts.yml", ".local/share/keyrings/login.keyring"];

  it("none is readable inside, while the tools beside them run (control: each reads SECRET outside)", async () => {
    const { cwd, env, h } = toolHome();
    for (const s of SECRETS) expect(readFileSync(h(s), "utf8")).toContain("SECRET");
    const script = SECRETS.map((s) => `cat ~/${s} 2>/dev/null | grep -q SECRET && echo LEAK ${s}`).join("; ") + "; cargo; python";
    const r = await nsbox(["--", "sh", "-c", script], { cwd, env });
    expect(r).toMatchObject({ stdout: "cargo 1.80.0\nPython 3.12.0\n", exitCode: 0 });
  });

  it("the hiding is nsbox's: the user's own --ro of the directory shows its credentials file (control for the test above)", async () => {
    const { cwd, env, h } = toolHome();
    const r = await nsbox(["--ro", h(".nvm/versions/node/v20.0.0"), "--ro", h(".pyenv"), "--", "sh", "-c", "cat ~/.nvm/versions/node/v20.0.0/etc/npmrc ~/.pyenv/.git-credentials"], { cwd, env });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(r.stdout.match(/SECRET/g)).toHaveLength(2);
  });

  it("a link in a PATH directory to a key, or into ~/.config, is not followed into a share (control: the links lead to SECRET outside)", async () => {
    const { cwd, env, h } = toolHome();
    // Even marked executable, a key in ~/.ssh is not a tool.
    put(h(""), ".ssh/id_ed25519", "SECRET\n", true);
    symlinkSync(h(".ssh/id_rsa"), h(".local/bin/key"));
    symlinkSync(h(".ssh/id_ed25519"), h(".local/bin/key2"));
    symlinkSync(h(".config/gh/hosts.yml"), h(".local/bin/gh-hosts"));
    chmodSync(h(".config/gh/hosts.yml"), 0o755);
    symlinkSync(h(".local/share/keyrings/login.keyring"), h(".local/bin/keyring"));
    chmodSync(h(".local/share/keyrings/login.keyring"), 0o755);
    const links = ["key", "key2", "gh-hosts", "keyring"];
    for (const l of links) expect(readFileSync(h(`.local/bin/${l}`), "utf8")).toContain("SECRET");
    const script = links.map((l) => `cat ~/.local/bin/${l} 2>/dev/null | grep -q SECRET && echo LEAK ${l}`).join("; ") + "; tool";
    const r = await nsbox(["--", "sh", "-c", script], { cwd, env });
    expect(r).toMatchObject({ stdout: "tool data\n", exitCode: 0 });
  });

  it("links in a checkout's node_modules/.bin on PATH (its packages wrote them) share nothing they lead to (control: the same link in ~/.local/bin is followed)", async () => {
    const { cwd, env, h } = toolHome();
    put(h(""), ".someapp/bin/exe", "#!/bin/sh\necho exe\n", true);
    put(h(""), ".someapp/data.db", "SECRET\n");
    mkdirSync(h("src/app/node_modules/.bin"), { recursive: true });
    symlinkSync(h(".someapp/bin/exe"), h("src/app/node_modules/.bin/exe"));
    const script = "cat ~/.someapp/data.db 2>/dev/null || echo hidden";
    const fromCheckout = { ...env, PATH: `${h("src/app/node_modules/.bin")}:${env.PATH}` };
    expect(await nsbox(["--", "sh", "-c", script], { cwd, env: fromCheckout })).toMatchObject({ stdout: "hidden\n", exitCode: 0 });
    symlinkSync(h(".someapp/bin/exe"), h(".local/bin/exe"));
    expect(await nsbox(["--", "sh", "-c", `${script}; exe`], { cwd, env })).toMatchObject({ stdout: "SECRET\nexe\n", exitCode: 0 });
  });

  it("PATH entries below $HOME planted as links to /, to $HOME or to ~/.ssh share nothing of them (control: outside they lead to SECRET)", async () => {
    const { cwd, env, h, home } = toolHome();
    symlinkSync("/", h("root-link"));
    symlinkSync(home, h("home-link"));
    symlinkSync(h(".ssh"), h("ssh-link"));
    mkdirSync(h("sub"));
    symlinkSync("..", h("sub/up"));
    const planted = [h("root-link"), h("home-link"), h("ssh-link"), h("sub/up"), home, h(".local"), h(".config")];
    expect(readFileSync(h("home-link/.ssh/id_rsa"), "utf8")).toBe("SECRET\n");
    expect(readFileSync(h("sub/up/.netrc"), "utf8")).toContain("SECRET");
    const planEnv = { ...env, PATH: `${planted.join(":")}:${env.PATH}` };
    const dry = await nsbox(["--dry-run", "--json", "--", "true"], { cwd, env: planEnv });
    expect(dry.exitCode).toBe(0);
    const binds = (JSON.parse(dry.stdout).steps as { op: string; detail: string }[]).filter((s) => s.op === "bind").map((s) => s.detail);
    // No bind of $HOME, of a broad directory, of ~/.ssh, or of anything through the planted links.
    for (const p of [home, h(".local"), h(".config"), h(".ssh"), h("root-link"), h("home-link"), h("ssh-link"), h("sub")]) {
      expect(binds.filter((d) => d.startsWith(`bind /oldroot${p} `))).toEqual([]);
    }
    const script = ["home-link/.ssh/id_rsa", "ssh-link/id_rsa", "sub/up/.netrc", ".ssh/id_rsa", ".netrc"].map((p) => `cat ~/${p} 2>/dev/null | grep -q SECRET && echo LEAK ${p}`).join("; ") + "; node";
    expect(await nsbox(["--", "sh", "-c", script], { cwd, env: planEnv })).toMatchObject({ stdout: "node v20.0.0\n", exitCode: 0 });
  });
});

describe("given the shares in the plan", () => {
  it("--dry-run names each with its reason and the option that turns it off", async () => {
    const { cwd, env, h } = toolHome();
    const r = await nsbox(["--dry-run", "--json", "--", "true"], { cwd, env });
    const steps = JSON.parse(r.stdout).steps as { op: string; what: string; option?: string }[];
    const shares = steps.filter((s) => s.option === "--home-tools" && s.op === "bind").map((s) => s.what);
    expect(shares).toContain("share ~/.nvm/versions/node/v20.0.0 read-only: ~/.nvm/versions/node/v20.0.0/bin is on your PATH");
    expect(shares).toContain("share ~/.rustup read-only: rustup's toolchains, which cargo's proxies run");
    expect(shares).toContain("share ~/.local/share/tool read-only: ~/.local/bin/tool leads into it (~/.local/bin is on your PATH)");
    expect(shares.some((s) => s.startsWith("share ~/.local/share/fnm/node-versions/v22.0.0/installation read-only"))).toBe(true);
    expect((await nsbox(["--dry-run", "--", "true"], { cwd, env })).stdout).toContain(`→ /newroot${h(".rustup")} (with submounts; rdonly,nosuid,nodev)   [--home-tools]`);
  });

  it("a project below an install prefix stays writable: only the PATH directory is shared then (control: the tool runs)", async () => {
    const home = homeIn(made);
    put(home, "code/bin/mytool", "#!/bin/sh\necho mytool\n", true);
    mkdirSync(join(home, "code/proj"));
    const env = { ...process.env, HOME: home, PATH: `${join(home, "code/bin")}:/usr/bin:/bin` };
    const r = await nsbox(["--", "sh", "-c", "mytool && echo x > written && cat written"], { cwd: join(home, "code/proj"), env });
    expect(r).toMatchObject({ stdout: "mytool\nx\n", exitCode: 0 });
  });
});

describe("given nsbox run by a Bun installed in $HOME", () => {
  /** A copy of the Bun running these tests at `rel` in a new home (its own file: a hard link may be refused across owners). */
  function bunIn(rel: string) {
    const home = homeIn(made);
    const cwd = scratchIn(made);
    const bun = join(home, rel);
    mkdirSync(dirname(bun), { recursive: true });
    copyFileSync(process.execPath, bun);
    chmodSync(bun, 0o755);
    return { home, cwd, bun };
  }
  const inside = "command -v bun && bun -e 'console.log(6 * 7)'";

  it("~/.bun/bin/bun (Bun's installer) is on PATH inside, and runs, though the caller's PATH lacks it (control: --home-tools off has no bun)", async () => {
    const { home, cwd, bun } = bunIn(".bun/bin/bun");
    const env = { ...process.env, HOME: home, PATH: "/nonexistent" };
    const run = (extra: string[]) => collect([bun, "--no-env-file", "--config=/dev/null", NSBOX, ...extra, "--", "/bin/sh", "-c", `${inside} || echo no bun`], { cwd, env });
    expect(await run([])).toMatchObject({ stdout: `${bun}\n42\n`, exitCode: 0 });
    expect(await run(["--home-tools", "off"])).toMatchObject({ stdout: "no bun\n", exitCode: 0 });
  });

  it("~/.npm/_npx/…/node_modules/bun/bin/bun.exe (npx nsbox) is reached through node_modules/.bin/bun", async () => {
    const { home, cwd, bun } = bunIn(".npm/_npx/0123abcd/node_modules/bun/bin/bun.exe");
    const bin = join(home, ".npm/_npx/0123abcd/node_modules/.bin");
    mkdirSync(bin);
    symlinkSync("../bun/bin/bun.exe", join(bin, "bun"));
    const env = { ...process.env, HOME: home, PATH: "/nonexistent" };
    const r = await collect([bun, "--no-env-file", "--config=/dev/null", NSBOX, "--", "/bin/sh", "-c", inside], { cwd, env });
    expect(r).toMatchObject({ stdout: `${join(bin, "bun")}\n42\n`, exitCode: 0 });
  });
});
