// The default filesystem view: what the payload sees and may write, and that it cannot undo it.
import { describe, expect, it } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nsbox, sh, cleanedUp, scratchIn, homeIn } from "./helpers.ts";

const made = cleanedUp();
const scratch = () => scratchIn(made);
/** A host path the payload must never manage to create (removed afterwards should it have). */
const ESCAPE = `/usr/nsbox-escape-${process.pid}-${Date.now()}`;
made.push(ESCAPE);

/** A stand-in $HOME holding the kind of secrets a real one does; not inside any scratch dir. */
function fakeHome(): string {
  const home = homeIn(made);
  for (const [file, content] of [
    [".ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY----- not really\n"],
    [".aws/credentials", "[default]\naws_secret_access_key = not-really\n"],
    [".npmrc", "//registry.npmjs.org/:_authToken=not-really\n"],
  ] as const) {
    mkdirSync(join(home, file, ".."), { recursive: true });
    writeFileSync(join(home, file), content);
  }
  return home;
}

const SECRETS = [".ssh/id_rsa", ".aws/credentials", ".npmrc"];
/** Shell lines printing "found <file>" for each secret visible under `dir` inside. */
const findSecrets = (dir: string) => SECRETS.map((f) => `test -e '${dir}/${f}' && echo 'found ${f}'`).join("; ");
const envWithHome = (home: string) => ({ ...process.env, HOME: home });

/** The entry directly under /tmp that leads to `path`, if `path` is below /tmp. */
const tmpEntry = (path: string) => (path.startsWith("/tmp/") ? path.split("/")[2] : undefined);

describe("given the default view", () => {
  it("refuses writes to /usr, /etc, /bin and the root, and none reach the host", async () => {
    const name = `nsbox-view-${process.pid}-${Date.now()}`;
    const paths = [`/usr/${name}`, `/etc/${name}`, `/bin/${name}`, `/${name}`];
    made.push(...paths, `/${name}-dir`);
    const r = await sh(`for p in ${paths.join(" ")}; do touch "$p" && echo "wrote $p"; done; mkdir /${name}-dir && echo "made a directory"; true`, { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "", exitCode: 0 });
    expect(r.stderr.match(/Read-only file system/g)).toHaveLength(paths.length + 1);
    for (const p of [...paths, `/${name}-dir`]) expect(existsSync(p)).toBe(false);
  });

  it("shares the current directory read-write, both ways", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "from-host"), "host says hi\n");
    const r = await sh("pwd; cat from-host; echo 'sandbox says hi' > from-inside && mkdir sub && echo x > sub/file", { cwd });
    expect(r).toMatchObject({ stdout: `${cwd}\nhost says hi\n`, exitCode: 0 });
    expect(readFileSync(join(cwd, "from-inside"), "utf8")).toBe("sandbox says hi\n");
    expect(readFileSync(join(cwd, "sub/file"), "utf8")).toBe("x\n");
  });

  it("gives an empty private /tmp: host files there are invisible, and the sandbox's stay inside", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const marker = mkdtempSync("/tmp/nsbox-marker-");
    made.push(marker);
    writeFileSync(join(marker, "host-file"), "host\n");
    const inside = `/tmp/nsbox-inside-${process.pid}-${Date.now()}`;
    try {
      const r = await sh(`ls -A /tmp; test -e '${marker}/host-file' && echo 'saw host file'; echo x > '${inside}' && cat '${inside}'`, { cwd, env: envWithHome(home) });
      // Only the mount points leading to the shared directory and the home appear in /tmp.
      const expected = [...new Set([tmpEntry(cwd), tmpEntry(home)].filter(Boolean))].sort();
      expect(r.exitCode).toBe(0);
      const lines = r.stdout.split("\n").filter(Boolean);
      expect(lines.slice(0, -1).sort()).toEqual(expected);
      expect(lines.at(-1)).toBe("x");
      expect(existsSync(inside)).toBe(false);
    } finally {
      rmSync(inside, { force: true });
    }
  });

  it("gives an empty private /dev/shm", async () => {
    let hostShm: string | undefined;
    try {
      hostShm = mkdtempSync("/dev/shm/nsbox-marker-");
      made.push(hostShm);
    } catch {
      // No writable /dev/shm on this host: the inside is still checked below.
    }
    const inside = `/dev/shm/nsbox-inside-${process.pid}-${Date.now()}`;
    const r = await sh(`ls -A /dev/shm; echo x > '${inside}' && echo wrote`, { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "wrote\n", exitCode: 0 });
    expect(existsSync(inside)).toBe(false);
    if (hostShm) expect(existsSync(hostShm)).toBe(true);
  });

  it("has only the minimal /dev, and its devices work", async () => {
    const r = await sh(
      "ls -A /dev | tr '\\n' ' '; echo; ls -A /dev/pts; echo gone > /dev/null && wc -c < /dev/null; head -c 4 /dev/zero | od -An -tx1; head -c 8 /dev/urandom | wc -c; echo x > /dev/full || echo full-refused",
      { cwd: scratch() },
    );
    expect(r).toMatchObject({
      stdout: "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \nptmx\n0\n 00 00 00 00\n8\nfull-refused\n",
      exitCode: 0,
    });
  });

  it("cannot add devices or files to /dev", async () => {
    const r = await sh("mknod /dev/sdz b 8 0 && echo made-node; echo x > /dev/newfile && echo made-file; true", { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "", exitCode: 0 });
    expect(r.stderr).not.toBe("");
  });
});

describe("given a $HOME full of secrets", () => {
  it("shows an empty, writable, private home at the same path, without the secrets", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const r = await sh(`echo "$HOME"; ls -A "$HOME" | wc -l; ${findSecrets(home)}; echo hi > "$HOME/made-inside" && cat "$HOME/made-inside"`, { cwd, env: envWithHome(home) });
    expect(r).toMatchObject({ stdout: `${home}\n0\nhi\n`, exitCode: 0 });
    expect(r.stderr).toBe("");
    expect(existsSync(join(home, "made-inside"))).toBe(false);
    // The secrets are still there on the host, untouched.
    expect(readFileSync(join(home, ".npmrc"), "utf8")).toContain("_authToken");
  });

  it("shares a project below home, but nothing else of the home", async () => {
    const home = fakeHome();
    const project = join(home, "project");
    mkdirSync(project);
    const r = await sh(`pwd; ls -A "$HOME"; ${findSecrets(home)}; echo built > out`, { cwd: project, env: envWithHome(home) });
    expect(r).toMatchObject({ stdout: `${project}\nproject\n`, stderr: "", exitCode: 0 });
    expect(readFileSync(join(project, "out"), "utf8")).toBe("built\n");
  });

  it("does not share the home when run from it: warns, and starts in the empty home", async () => {
    const home = fakeHome();
    const r = await sh(`pwd; ls -A | wc -l; ${findSecrets(home)}; echo x > made-inside && echo wrote`, { cwd: home, env: envWithHome(home) });
    expect(r).toMatchObject({ stdout: `${home}\n0\nwrote\n`, exitCode: 0 });
    expect(r.stderr).toMatch(/not sharing .*home directory/);
    expect(existsSync(join(home, "made-inside"))).toBe(false);
  });

  it("does not share a directory above the home: warns, and starts in the empty home", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "beside-home"), "x\n");
    const home = join(cwd, "home");
    mkdirSync(join(home, ".ssh"), { recursive: true });
    writeFileSync(join(home, ".ssh/id_rsa"), "not really\n");
    const r = await sh(`pwd; ls -A | wc -l; test -e '${cwd}/beside-home' && echo 'saw beside-home'; ${findSecrets(home)}; true`, { cwd, env: envWithHome(home) });
    expect(r).toMatchObject({ stdout: `${home}\n0\n`, exitCode: 0 });
    expect(r.stderr).toMatch(/not sharing .*above your home/);
  });

  // A home reached through a symlink (Fedora Silverblue's /home -> var/home) is compared
  // resolved, as process.cwd() is.
  it("does not share the home when $HOME is a symlink to the current directory", async () => {
    const home = fakeHome();
    const link = `${home}-link`;
    symlinkSync(home, link);
    made.push(link);
    const r = await sh(`pwd; ${findSecrets(home)}; true`, { cwd: home, env: envWithHome(link) });
    expect(r.stdout).not.toContain("found");
    expect(r.stderr).toMatch(/not sharing/);
  });
});

describe("given a payload that is root inside and tries to undo the sandbox", () => {
  it("cannot remount read-only mounts read-write", async () => {
    const r = await sh(`mount -o remount,rw /usr && echo remounted-usr; mount -o remount,bind,rw /usr && echo rebound-usr; mount -o remount,rw / && echo remounted-root; touch ${ESCAPE} && echo wrote; true`, { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "", exitCode: 0 });
    expect(existsSync(ESCAPE)).toBe(false);
  });

  it("cannot unmount what hides the host", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const r = await sh(`umount /tmp && echo unmounted-tmp; umount "$HOME" && echo unmounted-home; umount -l "$HOME" && echo detached-home; umount /proc && echo unmounted-proc; umount '${cwd}' && echo unmounted-cwd; ls -A "$HOME" | wc -l; ${findSecrets(home)}; true`, { cwd, env: envWithHome(home) });
    expect(r).toMatchObject({ stdout: "0\n", exitCode: 0 });
    expect(r.stderr.match(/umount: /g)).toHaveLength(5);
  });

  it("cannot mount over /proc/sys or write kernel settings", async () => {
    const r = await sh("mount -t tmpfs none /proc/sys && echo mounted; mount -t tmpfs none /tmp && echo mounted-tmp; echo evil > /proc/sys/kernel/hostname && echo wrote-hostname; echo 1 > /proc/sys/kernel/ns_last_pid && echo wrote-ns_last_pid; echo h > /proc/sysrq-trigger && echo wrote-sysrq; hostname", { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "nsbox\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it("cannot regain the power to remount or unmount from a nested user namespace", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const attempts = [
      "echo nested",
      "mount -o remount,bind,rw /usr && echo rebound-usr",
      "mount -o remount,bind,rw / && echo rebound-root",
      "umount -l \"$HOME\" && echo detached-home",
      "umount -l /tmp && echo detached-tmp",
      `touch ${ESCAPE} && echo wrote-usr`,
      "ls -A \"$HOME\" | wc -l",
    ].join("; ");
    // The default filter refuses nested user namespaces outright:
    const refused = await sh("unshare -Um true && echo nested", { cwd, env: envWithHome(home) });
    expect(refused.stdout).toBe("");
    // With --allow-nested, the kernel's mount locking still holds. As root inside, no uid can be
    // mapped in a nested namespace (that needs CAP_SETFCAP), but its capabilities come all the
    // same; as uid 1000 inside, root can be mapped again.
    const asRoot = await sh(`unshare -Um sh -c '${attempts}'`, { cwd, env: envWithHome(home) }, ["--allow-nested"]);
    expect(asRoot).toMatchObject({ stdout: "nested\n0\n", exitCode: 0 });
    const asUser = await sh(`unshare -Urm sh -c 'id -u; ${attempts}'`, { cwd, env: envWithHome(home) }, ["--allow-nested", "--uid", "1000", "--gid", "1000"]);
    expect(asUser).toMatchObject({ stdout: "0\nnested\n0\n", exitCode: 0 });
    expect(existsSync(ESCAPE)).toBe(false);
  });
});

describe("when --propagation is given", () => {
  it("runs with slave propagation and the same view", async () => {
    const cwd = scratch();
    const r = await sh(`touch ${ESCAPE} && echo wrote-usr; echo ok > here && cat here`, { cwd }, ["--propagation", "slave"]);
    expect(r).toMatchObject({ stdout: "ok\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(existsSync(ESCAPE)).toBe(false);
    expect(readFileSync(join(cwd, "here"), "utf8")).toBe("ok\n");
  });

  it("rejects a value that is neither private nor slave", async () => {
    const r = await nsbox(["--propagation", "shared", "--", "true"], { cwd: scratch() });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/--propagation/);
  });
});
