// Filesystem options in real sandboxes: what each makes visible, writable or absent, in order, and what it refuses.
import { afterAll, describe, expect, it, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync,
  symlinkSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nsbox, scratchDir, sh } from "./helpers.ts";

// Real sandboxes, several per test: room for slow shared machines (bunfig's timeout is not applied here).
setDefaultTimeout(30_000);

const made: string[] = [];
/** Remove a tree even where an overlay's work directory left a mode-000 directory behind. */
function removeTree(path: string): void {
  if (!existsSync(path)) return;
  Bun.spawnSync(["chmod", "-R", "u+rwx", path], { stderr: "ignore" });
  rmSync(path, { recursive: true, force: true });
}
afterAll(() => {
  for (const path of made) removeTree(path);
});
/** A scratch directory (used as the sandbox's cwd or as a host path), removed after the file's tests. */
function scratch(): string {
  const dir = scratchDir();
  made.push(dir);
  return dir;
}
/** A stand-in $HOME with a secret in ~/.ssh, outside every scratch directory. */
function fakeHome(): string {
  const home = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-home-")));
  made.push(home);
  mkdirSync(join(home, ".ssh"));
  writeFileSync(join(home, ".ssh/id_rsa"), "NSBOX-TEST-SECRET-KEY\n");
  return home;
}
const withHome = (home: string) => ({ ...process.env, HOME: home });
/** Write `files` (relative path → content) under `dir`. */
function populate(dir: string, files: Record<string, string>): string {
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), content);
  }
  return dir;
}
/** Every entry under `dir` with its type, mode and a hash of its content (or link target), sorted. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(dir, rel, name);
      const st = lstatSync(path);
      const what = st.isSymbolicLink() ? `link ${readlinkSync(path)}`
        : st.isDirectory() ? "dir"
        : st.isFile() ? `file ${createHash("sha256").update(readFileSync(path)).digest("hex")}`
        : `other ${st.rdev}`;
      out.push(`${join(rel, name)} ${(st.mode & 0o7777).toString(8)} ${what}`);
      if (st.isDirectory()) walk(join(rel, name));
    }
  };
  walk("");
  return out;
}
/** Names and kinds of everything under `dir` ("b chardev 0:0" for an overlay whiteout). */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(dir, rel, name);
      const st = lstatSync(path);
      const kind = st.isDirectory() ? "dir" : st.isFile() ? `file ${JSON.stringify(readFileSync(path, "utf8"))}`
        : st.isCharacterDevice() ? `chardev ${Math.floor(st.rdev / 256)}:${st.rdev % 256}` : st.isSymbolicLink() ? "symlink" : "other";
      out.push(`${join(rel, name)} ${kind}`);
      if (st.isDirectory()) walk(join(rel, name));
    }
  };
  walk("");
  return out;
}
/** Expect nsbox itself to have refused, naming `option` (and `also`, when given). */
function expectRefused(r: { exitCode: number; stderr: string; stdout: string }, option: string, also?: string | RegExp) {
  expect(r.exitCode).toBe(125);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain(option);
  if (also !== undefined) expect(r.stderr).toMatch(also);
}

describe("--ro and --rw", () => {
  it("shares a path read-only with --ro: readable, writes refused, the host unchanged", async () => {
    const cwd = scratch();
    populate(cwd, { "data/a": "alpha\n" });
    const before = snapshot(cwd);
    const r = await sh("cat data/a; echo x > data/a && echo wrote-a; touch data/new && echo made-new; echo ok > here && cat here", { cwd }, ["--ro", "./data"]);
    expect(r).toMatchObject({ stdout: "alpha\nok\n", exitCode: 0 });
    expect(r.stderr.match(/Read-only file system/g)).toHaveLength(2);
    expect(snapshot(join(cwd, "data"))).toEqual(before.filter((l) => l.startsWith("data/")).map((l) => l.slice(5)));
  });

  it("shares a path outside the project only when asked, and --rw writes reach the host", async () => {
    const cwd = scratch();
    const other = populate(scratch(), { "f": "outside\n" });
    const without = await sh(`test -e '${other}' && echo visible; true`, { cwd });
    expect(without).toMatchObject({ stdout: "", exitCode: 0 });
    const r = await sh(`cat '${other}/f'; echo more >> '${other}/f' && echo inside > '${other}/g' && echo wrote`, { cwd }, ["--rw", other]);
    expect(r).toMatchObject({ stdout: "outside\nwrote\n", stderr: "", exitCode: 0 });
    expect(readFileSync(join(other, "f"), "utf8")).toBe("outside\nmore\n");
    expect(readFileSync(join(other, "g"), "utf8")).toBe("inside\n");
  });

  it("shares a single file read-only", async () => {
    const cwd = scratch();
    const other = populate(scratch(), { "only": "one\n", "beside": "two\n" });
    const r = await sh(`cat '${other}/only'; test -e '${other}/beside' && echo saw-beside; echo x > '${other}/only' && echo wrote; true`, { cwd }, ["--ro", join(other, "only")]);
    expect(r).toMatchObject({ stdout: "one\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(readFileSync(join(other, "only"), "utf8")).toBe("one\n");
  });

  it("applies options in order: the later of --ro and --rw on the same path wins", async () => {
    const cwd = scratch();
    populate(cwd, { "data/a": "a\n" });
    const writable = await sh("echo 1 > data/w1 && echo wrote", { cwd }, ["--ro", "./data", "--rw", "./data"]);
    expect(writable).toMatchObject({ stdout: "wrote\n", exitCode: 0 });
    const readOnly = await sh("echo 2 > data/w2 && echo wrote; true", { cwd }, ["--rw", "./data", "--ro", "./data"]);
    expect(readOnly).toMatchObject({ stdout: "", exitCode: 0 });
    expect(readdirSync(join(cwd, "data")).sort()).toEqual(["a", "w1"]);
  });
});

describe("--bind and --ro-bind", () => {
  it("show SRC at DST, writable or read-only, and nothing else under the parent", async () => {
    const cwd = scratch();
    const src = populate(scratch(), { "w/f": "w\n", "r/f": "r\n" });
    const r = await sh(
      `ls -A /mnt | tr '\\n' ' '; echo; cat /mnt/w/f /mnt/r/f; echo new > /mnt/w/new && echo wrote-w; echo new > /mnt/r/new && echo wrote-r; test -e '${src}' && echo saw-source; true`,
      { cwd }, ["--bind", `${src}/w:/mnt/w`, "--ro-bind", `${src}/r:/mnt/r`],
    );
    expect(r).toMatchObject({ stdout: "r w \nw\nr\nwrote-w\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(readFileSync(join(src, "w/new"), "utf8")).toBe("new\n");
    expect(existsSync(join(src, "r/new"))).toBe(false);
  });

  it("a read-only bind of the caller's own directory cannot be remounted read-write or written, even from a nested namespace", async () => {
    const cwd = scratch();
    const mine = scratch();
    const attempts = "mount -o remount,rw /mnt/m && echo remounted; mount -o remount,bind,rw /mnt/m && echo rebound; touch /mnt/m/x && echo wrote";
    const asRoot = await sh(`${attempts}; true`, { cwd }, ["--ro-bind", `${mine}:/mnt/m`]);
    expect(asRoot).toMatchObject({ stdout: "", exitCode: 0 });
    expect(asRoot.stderr).toMatch(/Read-only file system/);
    // As uid 1000 inside, a nested user namespace can map root again and gets every capability in it.
    const nested = await sh(`unshare -Urm sh -c '${attempts}; touch /mnt/m/y && echo nested-wrote'; true`, { cwd }, ["--uid", "1000", "--gid", "1000", "--ro-bind", `${mine}:/mnt/m`]);
    expect(nested.stdout).toBe("");
    expect(readdirSync(mine)).toEqual([]);
  });

  it("need SRC:DST, naming the option", async () => {
    const cwd = scratch();
    for (const [option, value] of [["--bind", "nocolon"], ["--ro-bind", "/usr"], ["--bind", ":/x"], ["--bind", "/usr:"], ["--bind-try", "x"]]) {
      expectRefused(await nsbox([option!, value!, "--", "true"], { cwd }), `${option}`, /SRC:DST/);
    }
  });
});

describe("--dev-bind", () => {
  it("binds a device that works, where a plain --bind of it does not", async () => {
    const cwd = scratch();
    const r = await sh(
      "stat -c '%F %t:%T' /dev/null2; echo gone > /dev/null2 && echo wrote-null2; head -c 3 /dev/zero2 | od -An -tx1; head -c 3 /mnt/zero > /dev/null && echo read-plain-bind; true",
      { cwd }, ["--dev-bind", "/dev/null:/dev/null2", "--dev-bind", "/dev/zero:/dev/zero2", "--bind", "/dev/zero:/mnt/zero"],
    );
    expect(r).toMatchObject({ stdout: "character special file 1:3\nwrote-null2\n 00 00 00\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("takes SRC alone as SRC:SRC", async () => {
    const r = await sh("head -c 1 /dev/zero > /dev/full; echo status=$?", { cwd: scratch() }, ["--dev-bind", "/dev/full"]);
    expect(r).toMatchObject({ stdout: "status=1\n", exitCode: 0 });
    expect(r.stderr).toMatch(/No space left on device/);
  });
});

describe("--hide", () => {
  it("covers a directory with an empty, unreadable, read-only one; the host's stays", async () => {
    const cwd = scratch();
    populate(cwd, { "secrets/key": "NSBOX-TEST-SECRET\n" });
    const r = await sh("stat -c '%a %F' secrets; ls secrets; cat secrets/key; touch secrets/x && echo wrote; echo visible-rest > rest && cat rest", { cwd }, ["--hide", "./secrets"]);
    expect(r).toMatchObject({ stdout: "0 directory\nvisible-rest\n", exitCode: 0 });
    expect(r.stdout).not.toContain("NSBOX-TEST-SECRET");
    expect(r.stderr).toMatch(/Permission denied/);
    expect(readdirSync(join(cwd, "secrets"))).toEqual(["key"]);
  });

  it("covers a file with an empty, unreadable, read-only one; the host's stays", async () => {
    const cwd = scratch();
    populate(cwd, { ".env": "TOKEN=NSBOX-TEST-SECRET\n" });
    const r = await sh("stat -c '%a %s' .env; cat .env; echo x > .env && echo wrote; true", { cwd }, ["--hide", "./.env"]);
    expect(r).toMatchObject({ stdout: "0 0\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Permission denied|Read-only file system/);
    expect(readFileSync(join(cwd, ".env"), "utf8")).toBe("TOKEN=NSBOX-TEST-SECRET\n");
  });

  it("hides a path below one shared with --ro", async () => {
    const cwd = scratch();
    const other = populate(scratch(), { "pub": "public\n", "priv/key": "NSBOX-TEST-SECRET\n" });
    const r = await sh(`cat '${other}/pub'; ls '${other}/priv'; true`, { cwd }, ["--ro", other, "--hide", `${other}/priv`]);
    expect(r).toMatchObject({ stdout: "public\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Permission denied/);
  });

  // Bug: --hide checks the host for the path, not the sandbox: a directory made inside by an
  // earlier option is "no such file or directory".
  test("hides a directory an earlier option made inside the sandbox", async () => {
    const r = await sh("ls /x/y; echo status=$?", { cwd: scratch() }, ["--tmpfs", "/x", "--dir", "/x/y", "--hide", "/x/y"]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });
});

describe("--tmpfs", () => {
  it("applies mode= and size=: a write past the size fails with ENOSPC", async () => {
    const cwd = scratch();
    const r = await sh("stat -c %a /x; head -c 500000 /dev/zero > /x/small && echo small-ok; head -c 2000000 /dev/zero > /x/f && echo big-ok; true", { cwd }, ["--tmpfs", "/x:size=1m,mode=700"]);
    expect(r).toMatchObject({ stdout: "700\nsmall-ok\n", exitCode: 0 });
    expect(r.stderr).toMatch(/No space left on device/);
  });

  it("takes a sticky mode, and defaults to 755", async () => {
    const r = await nsbox(["--tmpfs", "/a:mode=1777", "--tmpfs", "/b", "--", "stat", "-c", "%n %a", "/a", "/b"], { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "/a 1777\n/b 755\n", exitCode: 0 });
  });

  it("over a shared directory: the host's content is hidden and writes stay inside", async () => {
    const cwd = scratch();
    populate(cwd, { "build/old": "old\n" });
    const r = await sh("ls -A build | wc -l; echo new > build/new && cat build/new", { cwd }, ["--tmpfs", "./build"]);
    expect(r).toMatchObject({ stdout: "0\nnew\n", exitCode: 0 });
    expect(readdirSync(join(cwd, "build"))).toEqual(["old"]);
  });

  it("rejects an unknown setting, a bad mode or size, naming the option", async () => {
    const cwd = scratch();
    for (const value of ["/x:foo=1", "/x:mode=99", "/x:mode=abc", "/x:size=1x", "/x:size=", "/x:"]) {
      expectRefused(await nsbox(["--tmpfs", value, "--", "true"], { cwd }), "--tmpfs");
    }
  });

  it("refuses to cover what nsbox manages, and the root", async () => {
    const cwd = scratch();
    expectRefused(await nsbox(["--tmpfs", "/proc", "--", "true"], { cwd }), "--tmpfs /proc", /managed by nsbox/);
    expectRefused(await nsbox(["--tmpfs", "/dev/pts", "--", "true"], { cwd }), "--tmpfs /dev/pts", /managed by nsbox/);
    expectRefused(await nsbox(["--tmpfs", "/", "--", "true"], { cwd }), "--tmpfs /", /root/);
  });
});

describe("--dir", () => {
  it("creates an empty directory with the mode given (default 755)", async () => {
    const r = await nsbox(["--dir", "/x", "--dir", "/y:700", "--", "sh", "-c", "stat -c '%n %a' /x /y; ls -A /x /y"], { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "/x 755\n/y 700\n/x:\n\n/y:\n", exitCode: 0 });
  });

  // Bug: the mode passes through the umask (022): --dir /x:777 gives 755 and /y:1777 gives 1755.
  test("creates it with exactly the mode given, umask notwithstanding", async () => {
    const r = await nsbox(["--dir", "/x:777", "--dir", "/y:1777", "--", "stat", "-c", "%n %a", "/x", "/y"], { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "/x 777\n/y 1777\n", exitCode: 0 });
  });

  it("refuses to create on the host, inside a read-only mount, or over what exists", async () => {
    const cwd = scratch();
    populate(cwd, { "data/a": "a\n" });
    expectRefused(await nsbox(["--dir", "./newdir", "--", "true"], { cwd }), "--dir ./newdir", /creates nothing on the host/);
    expect(existsSync(join(cwd, "newdir"))).toBe(false);
    expectRefused(await nsbox(["--ro", "./data", "--dir", "./data/sub", "--", "true"], { cwd }), "--dir ./data/sub", /read-only/);
    expectRefused(await nsbox(["--dir", "/usr/nsbox-test-dir", "--", "true"], { cwd }), "--dir /usr/nsbox-test-dir", /read-only/);
    expectRefused(await nsbox(["--dir", "./data", "--", "true"], { cwd }), "--dir ./data", /already exists/);
    expect(readdirSync(join(cwd, "data"))).toEqual(["a"]);
  });

  it("rejects a mode that is not octal, naming the option", async () => {
    for (const value of ["/x:999", "/x:rwx", "/x:75"]) expectRefused(await nsbox(["--dir", value, "--", "true"], { cwd: scratch() }), "--dir", /mode/);
  });

  // Bug: the plan does not remember files it created (--file at a new path), so a later --dir at
  // the same path passes the plan and the executor silently keeps the file.
  test("refuses a directory where an earlier --file put a file", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "content"), "c\n");
    expectRefused(await nsbox(["--file", "/x/f:content", "--dir", "/x/f", "--", "true"], { cwd }), "--dir /x/f", /already exists/);
  });
});

describe("order of operations", () => {
  it("--tmpfs /x then --dir /x/y: the directory is in the tmpfs, writable", async () => {
    const r = await sh("ls -A /x; touch /x/y/f && echo wrote", { cwd: scratch() }, ["--tmpfs", "/x", "--dir", "/x/y"]);
    expect(r).toMatchObject({ stdout: "y\nwrote\n", exitCode: 0 });
  });

  it("--dir /x/y then --tmpfs /x: the later tmpfs hides the directory", async () => {
    const r = await sh("ls -A /x | wc -l; test -e /x/y && echo saw-y; true", { cwd: scratch() }, ["--dir", "/x/y", "--tmpfs", "/x"]);
    expect(r).toMatchObject({ stdout: "0\n", exitCode: 0 });
  });

  it("--ro ./data then --tmpfs ./data: empty and writable; the other way round: the data, read-only", async () => {
    const cwd = scratch();
    populate(cwd, { "data/a": "a\n" });
    const first = await sh("ls -A data | wc -l; touch data/t && echo wrote", { cwd }, ["--ro", "./data", "--tmpfs", "./data"]);
    expect(first).toMatchObject({ stdout: "0\nwrote\n", exitCode: 0 });
    const second = await sh("cat data/a; touch data/t && echo wrote; true", { cwd }, ["--tmpfs", "./data", "--ro", "./data"]);
    expect(second).toMatchObject({ stdout: "a\n", exitCode: 0 });
    expect(readdirSync(join(cwd, "data"))).toEqual(["a"]);
  });

  it("a bind inside an earlier tmpfs, and a tmpfs inside an earlier read-only bind", async () => {
    const cwd = scratch();
    const src = populate(scratch(), { "f": "from-src\n", "sub/g": "g\n" });
    const r = await sh(`cat /x/in/f; ls -A '${src}/sub' | wc -l; touch '${src}/sub/t' && echo wrote-sub; touch '${src}/t' && echo wrote-src; true`, { cwd },
      ["--tmpfs", "/x", "--dir", "/x/in", "--ro-bind", `${src}:/x/in`, "--ro", src, "--tmpfs", `${src}/sub`]);
    expect(r).toMatchObject({ stdout: "from-src\n0\nwrote-sub\n", exitCode: 0 });
    expect(readdirSync(src).sort()).toEqual(["f", "sub"]);
    expect(readdirSync(join(src, "sub"))).toEqual(["g"]);
  });
});

describe("--file", () => {
  it("places a read-only file with the content file's bytes", async () => {
    const cwd = scratch();
    const content = Buffer.from([0, 1, 2, 255, 10, 0x41]);
    writeFileSync(join(cwd, "content.bin"), content);
    const r = await sh("stat -c '%a %s' /etc/nsbox-test.bin; od -An -tx1 /etc/nsbox-test.bin; echo x > /etc/nsbox-test.bin && echo wrote; true", { cwd }, ["--tmpfs", "/etc", "--file", "/etc/nsbox-test.bin:./content.bin"]);
    expect(r).toMatchObject({ stdout: "644 6\n 00 01 02 ff 0a 41\n", exitCode: 0 });
    expect(r.stderr).toMatch(/Read-only file system/);
  });

  it("covers an existing file; the host's stays as it was", async () => {
    const cwd = scratch();
    populate(cwd, { "config.json": "{\"real\":true}\n", "fake.json": "{\"real\":false}\n" });
    const r = await sh("cat config.json", { cwd }, ["--file", "./config.json:./fake.json"]);
    expect(r).toMatchObject({ stdout: "{\"real\":false}\n", exitCode: 0 });
    expect(readFileSync(join(cwd, "config.json"), "utf8")).toBe("{\"real\":true}\n");
  });

  it("refuses a missing content file, a directory, a new file on the host, and PATH alone", async () => {
    const cwd = scratch();
    populate(cwd, { "c": "c\n", "d/x": "x\n" });
    expectRefused(await nsbox(["--file", "/x:./missing", "--", "true"], { cwd }), "--file /x:./missing", /missing: no such file/);
    expectRefused(await nsbox(["--file", "/x:./d", "--", "true"], { cwd }), "--file /x:./d", /not a regular file/);
    expectRefused(await nsbox(["--file", "./new:./c", "--", "true"], { cwd }), "--file ./new:./c", /creates nothing on the host/);
    expectRefused(await nsbox(["--file", "/x", "--", "true"], { cwd }), "--file", /PATH:CONTENT_FILE/);
    expect(existsSync(join(cwd, "new"))).toBe(false);
  });

  // Bug: an unreadable content file escapes as "internal error: EIO: i/o error, read (please report it)".
  test("words a content file that cannot be read as an error naming the option", async () => {
    const r = await nsbox(["--file", "/x:/proc/self/mem", "--", "true"], { cwd: scratch() });
    expectRefused(r, "--file /x:/proc/self/mem");
    expect(r.stderr).not.toContain("internal error");
  });
});

describe("--symlink", () => {
  it("creates a symlink inside the sandbox", async () => {
    const r = await sh("readlink /x/h; cat /x/h", { cwd: scratch() }, ["--tmpfs", "/x", "--symlink", "/etc/hostname:/x/h"]);
    expect(r).toMatchObject({ stdout: "/etc/hostname\nnsbox\n", exitCode: 0 });
  });

  it("needs TARGET:PATH, refuses an existing path and a read-only place", async () => {
    const cwd = scratch();
    expectRefused(await nsbox(["--symlink", "nocolon", "--", "true"], { cwd }), "--symlink", /TARGET:PATH/);
    expectRefused(await nsbox(["--symlink", "/etc:/usr", "--", "true"], { cwd }), "--symlink /etc:/usr", /already exists/);
    const ro = await nsbox(["--symlink", "/etc:/usr/nsbox-test-link", "--", "true"], { cwd });
    expect(ro.exitCode).toBe(125);
    expect(ro.stderr).toContain("--symlink /etc:/usr/nsbox-test-link");
    expect(existsSync("/usr/nsbox-test-link")).toBe(false);
  });

  // Bug: --symlink into the shared current directory creates the link on the host, and it
  // stays there after the sandbox exits ("nsbox creates nothing on the host").
  test("creates nothing on the host: a symlink in the shared directory is refused", async () => {
    const cwd = scratch();
    const r = await nsbox(["--symlink", "/etc/hostname:./newlink", "--", "true"], { cwd });
    const leftOver = existsSync(join(cwd, "newlink")) || readdirSync(cwd).includes("newlink");
    expect(leftOver).toBe(false);
    expectRefused(r, "--symlink /etc/hostname:./newlink", /creates nothing on the host/);
  });

  // Bug: the plan does not remember a file made by --file, so a symlink at the same path passes
  // the plan (and --dry-run) and fails only in the executor ("File already exists").
  test("refuses, before running anything, a symlink where an earlier --file put a file", async () => {
    const cwd = scratch();
    writeFileSync(join(cwd, "content"), "c\n");
    expectRefused(await nsbox(["--dry-run", "--file", "/x/f:content", "--symlink", "/etc:/x/f", "--", "true"], { cwd }), "--symlink /etc:/x/f", /already exists/);
  });
});

describe("given a project that contains link -> ~/.ssh", () => {
  function project(): { cwd: string; home: string } {
    const home = fakeHome();
    const cwd = scratch();
    symlinkSync(join(home, ".ssh"), join(cwd, "link"));
    writeFileSync(join(cwd, "content"), "c\n");
    mkdirSync(join(cwd, "data"));
    return { cwd, home };
  }

  for (const args of [
    ["--rw", "./link"], ["--ro", "./link"], ["--rw", "./link/id_rsa"], ["--bind", "./data:./link"], ["--bind", "./data:./link/evil"],
    ["--tmpfs", "./link"], ["--dir", "./link/x"], ["--file", "./link/id_rsa:./content"], ["--hide", "./link"], ["--overlay", "./link"],
    ["--symlink", "/etc:./link/evil"],
  ]) {
    it(`refuses ${args.join(" ")} with an error naming it, and no secret is seen or touched`, async () => {
      const { cwd, home } = project();
      const r = await nsbox([...args, "--", "sh", "-c", `cat '${home}/.ssh/id_rsa' link/id_rsa 2>/dev/null; ls -A link 2>/dev/null; true`], { cwd, env: withHome(home) });
      expectRefused(r, args.join(" "), /symlink/);
      expect(r.stderr).not.toContain("NSBOX-TEST-SECRET");
      expect(readdirSync(join(home, ".ssh"))).toEqual(["id_rsa"]);
      expect(readFileSync(join(home, ".ssh/id_rsa"), "utf8")).toBe("NSBOX-TEST-SECRET-KEY\n");
    });
  }

  it("refuses a target through a symlink nsbox itself placed, or through the host's /bin -> usr/bin", async () => {
    const { cwd, home } = project();
    expectRefused(await nsbox(["--tmpfs", "/x", "--symlink", `${home}/.ssh:/x/l`, "--bind", `${home}/.ssh:/x/l/k`, "--", "true"], { cwd, env: withHome(home) }), "--bind", /\/x\/l is a symlink/);
    expectRefused(await nsbox(["--tmpfs", "/x", "--symlink", `${home}/.ssh:/x/l`, "--tmpfs", "/x/l", "--", "true"], { cwd, env: withHome(home) }), "--tmpfs /x/l", /symlink/);
    if (lstatSync("/bin").isSymbolicLink()) expectRefused(await nsbox(["--tmpfs", "/bin/x", "--", "true"], { cwd }), "--tmpfs /bin/x", /symlink/);
  });
});

describe("--chdir and --no-cwd", () => {
  it("starts in DIR: absolute, relative to the current directory, or ~", async () => {
    const cwd = scratch();
    const home = fakeHome();
    mkdirSync(join(cwd, "sub"));
    for (const [dir, expected] of [["/usr", "/usr"], ["./sub", join(cwd, "sub")], ["sub", join(cwd, "sub")], ["~", home]]) {
      const r = await sh('pwd; echo "$PWD"', { cwd, env: withHome(home) }, ["--chdir", dir!]);
      expect(r).toMatchObject({ stdout: `${expected}\n${expected}\n`, exitCode: 0 });
    }
  });

  it("starts in a directory an earlier option made", async () => {
    const r = await nsbox(["--tmpfs", "/work", "--dir", "/work/w", "--chdir", "/work/w", "--", "pwd"], { cwd: scratch() });
    expect(r).toMatchObject({ stdout: "/work/w\n", exitCode: 0 });
  });

  it("refuses a DIR that is missing or a file inside, naming --chdir", async () => {
    const cwd = scratch();
    populate(cwd, { "file": "f\n" });
    expectRefused(await nsbox(["--chdir", "/nonexistent-nsbox", "--", "true"], { cwd }), "--chdir /nonexistent-nsbox", /not a directory/);
    expectRefused(await nsbox(["--chdir", "./file", "--", "true"], { cwd }), "--chdir ./file:", /file is not a directory/);
    // Present on the host but not placed inside the sandbox.
    expectRefused(await nsbox(["--chdir", "/var", "--", "true"], { cwd }), "--chdir /var", /not a directory/);
  });

  it("--no-cwd: the current directory is not there, and the command starts in the empty $HOME", async () => {
    const cwd = scratch();
    const home = fakeHome();
    populate(cwd, { "project-file": "x\n" });
    const r = await sh(`pwd; echo "$PWD"; test -e '${cwd}' && echo saw-cwd; ls -A | wc -l; true`, { cwd, env: withHome(home) }, ["--no-cwd"]);
    expect(r).toMatchObject({ stdout: `${home}\n${home}\n0\n`, stderr: "", exitCode: 0 });
  });

  it("--no-cwd with --ro of one part of the project", async () => {
    const cwd = scratch();
    const home = fakeHome();
    populate(cwd, { "data/a": "a\n", "src/b": "b\n" });
    const r = await sh(`cat '${cwd}/data/a'; test -e '${cwd}/src' && echo saw-src; true`, { cwd, env: withHome(home) }, ["--no-cwd", "--ro", "./data"]);
    expect(r).toMatchObject({ stdout: "a\n", exitCode: 0 });
  });

  // Bug: hiding the current directory (here with --tmpfs over its parent) is reported as
  // "--chdir <cwd>: not a directory inside the sandbox" although no --chdir was given.
  test("a mount that hides the current directory is reported against that option, not --chdir", async () => {
    const parent = scratch();
    const cwd = join(parent, "proj");
    mkdirSync(cwd);
    const r = await nsbox(["--tmpfs", parent, "--", "true"], { cwd });
    expectRefused(r, "--tmpfs");
    expect(r.stderr).not.toMatch(/^nsbox: --chdir/);
  });
});

describe("~ in paths", () => {
  it("is the real home ($HOME), for sources and destinations", async () => {
    const cwd = scratch();
    const home = fakeHome();
    populate(home, { ".bun/install/cache/pkg": "cached\n", "notes/n": "note\n" });
    const r = await sh(
      `cat ~/.bun/install/cache/pkg; touch ~/.bun/x && echo wrote-bun; cat /mnt/notes/n; ls -A ~ | tr '\\n' ' '; echo; touch ~/made/f && echo wrote-made; cat ~/.ssh/id_rsa 2>/dev/null; true`,
      { cwd, env: withHome(home) }, ["--ro", "~/.bun", "--ro-bind", "~/notes:/mnt/notes", "--dir", "~/made"],
    );
    expect(r).toMatchObject({ stdout: "cached\nnote\n.bun made \nwrote-made\n", exitCode: 0 });
    expect(existsSync(join(home, "made"))).toBe(false);
    expect(existsSync(join(home, ".bun/x"))).toBe(false);
  });

  it("names the expanded path when it is missing", async () => {
    const home = fakeHome();
    expectRefused(await nsbox(["--ro", "~/nope", "--", "true"], { cwd: scratch(), env: withHome(home) }), "--ro ~/nope", `${home}/nope: no such file`);
  });
});

describe("-try forms", () => {
  const cases: [string, string][] = [
    ["ro", "MISSING"], ["rw", "MISSING"], ["bind", "MISSING:/mnt/x"], ["ro-bind", "MISSING:/mnt/x"], ["dev-bind", "MISSING:/dev/x"], ["hide", "MISSING"],
    ["overlay", "MISSING"],
  ];
  for (const [kind, pattern] of cases) {
    it(`--${kind} names a missing source (125); --${kind}-try skips it`, async () => {
      const cwd = scratch();
      const missing = join(cwd, "not-there");
      const value = pattern.replace("MISSING", missing);
      expectRefused(await nsbox([`--${kind}`, value, "--", "true"], { cwd }), `--${kind} ${value}`, `${missing}: no such file or directory`);
      const r = await sh(`test -e '${missing}' && echo exists; test -e /mnt/x && echo mnt; echo ran`, { cwd }, [`--${kind}-try`, value]);
      expect(r).toMatchObject({ stdout: "ran\n", stderr: "", exitCode: 0 });
      expect(existsSync(missing)).toBe(false);
    });
  }

  it("--ro-try with a present source shares it as --ro would", async () => {
    const cwd = scratch();
    populate(cwd, { "data/a": "a\n" });
    const r = await sh("cat data/a; touch data/b && echo wrote; true", { cwd }, ["--ro-try", "./data"]);
    expect(r).toMatchObject({ stdout: "a\n", exitCode: 0 });
  });

  it("has no -try form for options without a host source", async () => {
    for (const kind of ["tmpfs", "dir", "file", "symlink"]) {
      const r = await nsbox([`--${kind}-try`, "/x", "--", "true"], { cwd: scratch() });
      expectRefused(r, `--${kind}-try`, /unknown option/);
    }
  });
});

describe("--overlay", () => {
  /** A project holding a tree to overlay. */
  function tree(): { cwd: string; lower: string } {
    const cwd = scratch();
    const lower = join(cwd, "tree");
    populate(lower, { "a": "a\n", "b": "b\n", "sub/c": "c\n" });
    symlinkSync("a", join(lower, "to-a"));
    return { cwd, lower };
  }
  const changes = "echo new > tree/new && echo more >> tree/a && rm tree/b && mkdir tree/d && rm -r tree/sub && echo changed";

  it("makes PATH writable inside; the writes vanish at exit and the host is byte-for-byte unchanged", async () => {
    const { cwd, lower } = tree();
    const before = snapshot(lower);
    const r = await sh(`${changes}; ls -A tree | tr '\\n' ' '; echo; cat tree/a`, { cwd }, ["--overlay", "./tree"]);
    expect(r).toMatchObject({ stdout: "changed\na d new to-a \na\nmore\n", stderr: "", exitCode: 0 });
    expect(snapshot(lower)).toEqual(before);
    expect(readdirSync(cwd)).toEqual(["tree"]);
  });

  it("--overlay . leaves the whole project unchanged", async () => {
    const { cwd } = tree();
    const before = snapshot(cwd);
    const r = await sh(`${changes}; echo x > top && echo wrote-top`, { cwd }, ["--overlay", "."]);
    expect(r).toMatchObject({ stdout: "changed\nwrote-top\n", exitCode: 0 });
    expect(snapshot(cwd)).toEqual(before);
  });

  it("with :UPPER keeps exactly the changes there (a deletion as a whiteout), and a second run sees them", async () => {
    const { cwd, lower } = tree();
    const before = snapshot(lower);
    const keep = scratch();
    const upper = join(keep, "changes");
    const r = await sh("echo new > tree/new && echo more >> tree/a && rm tree/b && echo changed", { cwd }, ["--overlay", `./tree:${upper}`]);
    expect(r).toMatchObject({ stdout: "changed\n", stderr: "", exitCode: 0 });
    expect(snapshot(lower)).toEqual(before);
    expect(listing(upper)).toEqual(["a file \"a\\nmore\\n\"", "b chardev 0:0", "new file \"new\\n\""]);
    // Beside UPPER nothing else: the work directory is removed once the sandbox has ended.
    expect(readdirSync(keep).sort()).toEqual(["changes"]);
    const again = await sh("ls -A tree | tr '\\n' ' '; echo; cat tree/new", { cwd }, ["--overlay", `./tree:${upper}`]);
    expect(again).toMatchObject({ stdout: "a new sub to-a \nnew\n", exitCode: 0 });
  });

  it("refuses an UPPER inside PATH, a PATH that is a file, and a missing PATH", async () => {
    const { cwd } = tree();
    expectRefused(await nsbox(["--overlay", `./tree:${cwd}/tree/up`, "--", "true"], { cwd }), "--overlay", /may not be inside/);
    expectRefused(await nsbox(["--overlay", "./tree/a", "--", "true"], { cwd }), "--overlay ./tree/a", /not a directory/);
    expectRefused(await nsbox(["--overlay", "./nope", "--", "true"], { cwd }), "--overlay ./nope", /no such file/);
    expect(existsSync(join(cwd, "tree/up"))).toBe(false);
  });
});

describe("bad values", () => {
  it("every malformed option is refused before anything runs, naming the option", async () => {
    const cwd = scratch();
    const cases: [string, string, RegExp?][] = [
      ["--bind", "nocolon", /SRC:DST/], ["--ro-bind", "a", /SRC:DST/], ["--symlink", "x", /TARGET:PATH/], ["--file", "/x", /PATH:CONTENT_FILE/],
      ["--tmpfs", "/x:bogus", /unknown tmpfs setting/], ["--dir", "/x:8", /mode/], ["--ro", "", /needs a path/], ["--ro", "/", /root/],
      ["--tmpfs", "/proc/sys", /managed/], ["--overlay", "/x:", /PATH\[:UPPERDIR\]/],
    ];
    for (const [option, value, message] of cases) {
      const marker = join(cwd, "ran");
      const r = await nsbox([option, value, "--", "touch", marker], { cwd });
      expectRefused(r, option, message);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it("an option without its value", async () => {
    const r = await nsbox(["--ro"], { cwd: scratch() });
    expectRefused(r, "--ro", /needs a value/);
  });
});
