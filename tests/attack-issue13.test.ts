// Attacks on issue 13's features (toolchains in $HOME, git identity, passed descriptors, /sys,
// id maps), each with its control: the same action where nsbox's protection does not apply.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NSBOX, cleanedUp, collect, homeIn, nsbox, scratchIn } from "./helpers.ts";

setDefaultTimeout(120_000);

const made = cleanedUp();

describe("given a project whose bin on PATH is a link into the user's private data", () => {
  /** A home with a browser profile (not a tool) and a project in ~/src/proj whose `bin` links to it. */
  function plantedHome() {
    const home = homeIn(made);
    const h = (rel: string) => join(home, rel);
    mkdirSync(h(".config/chromium/Default"), { recursive: true });
    writeFileSync(h(".config/chromium/Default/Cookies"), "SECRET\n");
    mkdirSync(h("src/proj"), { recursive: true });
    symlinkSync(h(".config/chromium"), h("src/proj/bin"));
    return { home, h };
  }
  const script = "cat ~/.config/chromium/Default/Cookies 2>/dev/null || echo hidden";

  it("the link is not followed, run in the project or elsewhere (controls: it leads to SECRET outside; the same link in a tool's dot-directory is followed)", async () => {
    const { h } = plantedHome();
    expect(readFileSync(h("src/proj/bin/Default/Cookies"), "utf8")).toBe("SECRET\n");
    const env = { ...process.env, HOME: h(""), PATH: `${h("src/proj/bin")}:/usr/bin:/bin` };
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("src/proj"), env })).toMatchObject({ stdout: "hidden\n", exitCode: 0 });
    mkdirSync(h("elsewhere"));
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("elsewhere"), env })).toMatchObject({ stdout: "hidden\n", exitCode: 0 });
    // Control: the same link where the user's tools put theirs is followed (so the test sees a share when there is one).
    mkdirSync(h(".tools"));
    symlinkSync(h(".config/chromium"), h(".tools/current"));
    const tools = { ...env, PATH: `${h(".tools/current")}:/usr/bin:/bin` };
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("elsewhere"), env: tools })).toMatchObject({ stdout: "SECRET\n", exitCode: 0 });
  });
});

describe("given tokens in a tool's own directory under names that don't give them away", () => {
  it("flyctl's ~/.fly/config.yml, wasmer's ~/.wasmer/wasmer.toml, cabal's ~/.cabal/config and a prefix's .env with a password URL are hidden while the tools run (controls: each holds SECRET outside; --ro of the directory shows it)", async () => {
    const home = homeIn(made);
    const h = (rel: string) => join(home, rel);
    const files: Record<string, string> = {
      ".fly/config.yml": "access_token: FlyV1 SECRET\n",
      ".wasmer/wasmer.toml": "[registry]\ntoken = \"SECRET\"\n",
      ".cabal/config": "hackage\n  username: me\n  password: SECRET\n",
      // A prefix outside the dot-directories (~/miniconda3/bin, or a checkout's bin) with a .env beside it.
      "apptool/.env": "DATABASE_URL=postgres://app:SECRET@db/app\n",
    };
    for (const [rel, text] of Object.entries(files)) {
      const top = rel.split("/")[0]!;
      mkdirSync(h(`${top}/bin`), { recursive: true });
      writeFileSync(h(`${top}/bin/${top.replace(".", "")}-tool`), "#!/bin/sh\necho ran\n");
      chmodSync(h(`${top}/bin/${top.replace(".", "")}-tool`), 0o755);
      writeFileSync(h(rel), text);
      expect(readFileSync(h(rel), "utf8")).toContain("SECRET");
    }
    // A file beside them with no credential stays visible (the content rule is not a blanket hide).
    writeFileSync(h(".fly/state.yml"), "last_update: 2026\n");
    mkdirSync(h("proj"));
    const env = { ...process.env, HOME: home, PATH: `${h(".fly/bin")}:${h(".wasmer/bin")}:${h(".cabal/bin")}:${h("apptool/bin")}:/usr/bin:/bin` };
    const script = Object.keys(files).map((rel) => `cat ~/${rel} 2>/dev/null | grep -q SECRET && echo LEAK ${rel}`).join("; ") + "; fly-tool; wasmer-tool; cabal-tool; apptool-tool; cat ~/.fly/state.yml";
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("proj"), env })).toMatchObject({ stdout: "ran\nran\nran\nran\nlast_update: 2026\n", exitCode: 0 });
    // Control: the user's own --ro of the directory shows the file (the hiding is nsbox's, and the test can see a leak).
    expect(await nsbox(["--ro", h(".fly"), "--", "cat", h(".fly/config.yml")], { cwd: h("proj"), env })).toMatchObject({ stdout: "access_token: FlyV1 SECRET\n", exitCode: 0 });
  });
});

describe("given a Unix socket in a tool's directory (Rancher Desktop's ~/.rd/docker.sock beside ~/.rd/bin)", () => {
  it("the sandbox can't connect to it, at the top or one directory down, nor open a FIFO there, while the tool runs (control: --ro ~/.rd connects)", async () => {
    const home = homeIn(made);
    const h = (rel: string) => join(home, rel);
    mkdirSync(h(".rd/bin"), { recursive: true });
    mkdirSync(h(".rd/run"));
    mkdirSync(h("proj"));
    writeFileSync(h(".rd/bin/docker"), "#!/bin/sh\necho docker\n");
    chmodSync(h(".rd/bin/docker"), 0o755);
    Bun.spawnSync(["mkfifo", h(".rd/run/cmd.fifo")]);
    const servers = [h(".rd/docker.sock"), h(".rd/run/agent.sock")].map((unix) =>
      Bun.listen({ unix, socket: { open: (s) => void s.end("HOST SERVER\n"), data: () => {} } }),
    );
    try {
      const env = { ...process.env, HOME: home, PATH: `${h(".rd/bin")}:/usr/bin:/bin` };
      const probe = (path: string) =>
        `import socket\ntry:\n s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(path)}); print("REACHED", s.recv(64).decode().strip())\nexcept OSError as e:\n print("refused")`;
      const script = `docker; python3 -c '${probe(h(".rd/docker.sock"))}'; python3 -c '${probe(h(".rd/run/agent.sock"))}'; [ -p ~/.rd/run/cmd.fifo ] && echo FIFO || echo no-fifo`;
      expect(await nsbox(["--", "sh", "-c", script], { cwd: h("proj"), env })).toMatchObject({ stdout: "docker\nrefused\nrefused\nno-fifo\n", exitCode: 0 });
      // Control: shared by the user's own options (and, since issue 14, the sockets named), the same probe reaches the host's server.
      expect(await nsbox(["--ro", h(".rd"), "--allow-socket", h(".rd/docker.sock"), "--allow-socket", h(".rd/run/agent.sock"), "--", "sh", "-c", script], { cwd: h("proj"), env })).toMatchObject({ stdout: "docker\nREACHED HOST SERVER\nREACHED HOST SERVER\nFIFO\n", exitCode: 0 });
    } finally {
      for (const s of servers) s.stop(true);
    }
  });
});

describe("given a writable share, the payload making a file that runs as the user for whoever reaches it (setuid, setgid)", () => {
  // chmod, chmod via fchmodat(2), open(O_CREAT) and mknod with the bits; one plain chmod that must still work.
  const script = `cp /bin/true ./t && chmod 755 t && echo plain; for m in 4755 2755 6755; do cp t s$m; chmod $m s$m 2>/dev/null && echo chmod-$m; done
python3 - <<'PY'
import os
for name, mode in (("o1", 0o4755), ("o2", 0o2755)):
    try:
        os.close(os.open(name, os.O_CREAT | os.O_WRONLY, mode)); print("open", oct(mode))
    except OSError: pass
try:
    os.mknod("n1", 0o104755); print("mknod")
except OSError: pass
try:
    os.chmod("t", 0o4755, follow_symlinks=True); print("fchmodat")
except OSError: pass
try:
    fd = os.open("t", os.O_RDONLY); os.fchmod(fd, 0o4755); print("fchmod")
except OSError: pass
PY`;
  const setid = (dir: string) => readdirSync(dir).filter((f) => statSync(join(dir, f)).mode & 0o6000);

  it("no setuid or setgid file appears in the share, and a plain chmod works (control: --seccomp none lets the same script make them)", async () => {
    const cwd = scratchIn(made);
    expect(await nsbox(["--", "sh", "-c", script], { cwd })).toMatchObject({ stdout: "plain\n", exitCode: 0 });
    expect(setid(cwd)).toEqual([]);
    const control = scratchIn(made);
    const r = await nsbox(["--seccomp", "none", "--", "sh", "-c", script], { cwd: control });
    expect(r.stdout).toContain("chmod-4755");
    expect(setid(control)).toEqual(expect.arrayContaining(["n1", "o1", "s2755", "s4755", "s6755", "t"]));
  });
});

describe("given a file passed read-only to a sandbox without Landlock", () => {
  /** bash with `nsbox` defined as this checkout's (descriptors are opened by bash's redirections). */
  const bash = (script: string, cwd: string) =>
    collect(["bash", "-c", `nsbox() { "$NSBOX_BUN" --no-env-file --config=/dev/null "$NSBOX_CLI" "$@"; }; ${script}`], {
      cwd,
      env: { ...process.env, NSBOX_BUN: process.execPath, NSBOX_CLI: NSBOX },
    });
  // The descriptor reopened by its magic link for writing: the host's file by its host path, past the view.
  const widen = `sh -c 'exec 2>/dev/null; echo PWNED >> /proc/self/fd/5'`;

  it("--pass-fd and /dev/fd/N refuse it, so the command can't reopen it for writing (controls: read-write and with Landlock it passes; without the check the file is written)", async () => {
    const dir = scratchIn(made);
    const cwd = scratchIn(made);
    const rc = join(dir, "bashrc");
    writeFileSync(rc, "original\n");
    const explicit = await bash(`nsbox --landlock off --pass-fd 5 -- ${widen} 5<"${rc}"`, cwd);
    expect(explicit.exitCode).toBe(125);
    expect(explicit.stderr).toContain("--pass-fd 5: descriptor 5 is a file opened read-only, and without Landlock");
    const named = await bash(`nsbox --landlock off -- sh -c 'test -e /proc/self/fd/5 && echo PWNED >> /proc/self/fd/5; echo done' /dev/fd/5 5<"${rc}"`, cwd);
    expect(named.stdout).toBe("done\n");
    expect(named.stderr).toContain("/dev/fd/5 in the command: not passed");
    const nested = await bash(`nsbox --allow-nested --pass-fd 5 -- ${widen} 5<"${rc}"`, cwd);
    expect(nested.exitCode).toBe(125);
    expect(readFileSync(rc, "utf8")).toBe("original\n");
    // Controls: with Landlock the read-only descriptor passes and its reopen is refused; read-write passes (it gives nothing more).
    expect(await bash(`nsbox --pass-fd 5 -- sh -c 'exec 2>/dev/null; cat <&5; echo PWNED >> /proc/self/fd/5 || echo refused' 5<"${rc}"`, cwd)).toMatchObject({ stdout: "original\nrefused\n", exitCode: 0 });
    expect(readFileSync(rc, "utf8")).toBe("original\n");
    expect(await bash(`nsbox --landlock off --pass-fd 5 -- ${widen} 5<>"${rc}"`, cwd)).toMatchObject({ exitCode: 0 });
    // ...and that reopen is what would have widened a read-only one: the file is written.
    expect(readFileSync(rc, "utf8")).toBe("original\nPWNED\n");
  });

  it("standard input from a file is refused the same way (controls: piped in, or with Landlock, it is read)", async () => {
    const dir = scratchIn(made);
    const cwd = scratchIn(made);
    const rc = join(dir, "bashrc");
    writeFileSync(rc, "original\n");
    const r = await bash(`nsbox --landlock off -- sh -c 'exec 2>/dev/null; echo PWNED >> /proc/self/fd/0' < "${rc}"`, cwd);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("standard input: descriptor 0 is a file opened read-only, and without Landlock");
    expect(readFileSync(rc, "utf8")).toBe("original\n");
    expect(await bash(`cat "${rc}" | nsbox --landlock off -- cat`, cwd)).toMatchObject({ stdout: "original\n", exitCode: 0 });
    expect(await bash(`nsbox -- sh -c 'exec 2>/dev/null; cat; echo PWNED >> /proc/self/fd/0 || echo refused' < "${rc}"`, cwd)).toMatchObject({ stdout: "original\nrefused\n", exitCode: 0 });
    expect(readFileSync(rc, "utf8")).toBe("original\n");
  });
});
