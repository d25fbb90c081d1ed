// Root inside that can own files (issue 13, item 5). With one id mapped, a call naming another id
// completes as it would for an unprivileged user outside (the owner stays, setuid is EPERM);
// with --id-map auto and a subordinate range, the ids are real (newuidmap, as rootless podman).
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NSBOX, background, cleanedUp, collect, homeIn, nsbox, readableCheckout, scratchIn } from "./helpers.ts";

setDefaultTimeout(60_000);

const made = cleanedUp();
const AS_ROOT = process.getuid!() === 0;
const me = { uid: process.getuid!(), gid: process.getgid!() };

/** A project holding t.tar: a/ and a/x, owned by 1234:1234 in the archive. */
function projectWithArchive(): string {
  const cwd = scratchIn(made);
  mkdirSync(join(cwd, "a"));
  writeFileSync(join(cwd, "a/x"), "hi\n");
  const tar = Bun.spawnSync(["tar", "--owner=1234", "--group=1234", "-cf", "t.tar", "a"], { cwd, stderr: "pipe" });
  expect(tar.exitCode).toBe(0);
  Bun.spawnSync(["rm", "-rf", join(cwd, "a")]);
  return cwd;
}

/** The same script in a plain one-id user namespace (unshare -Ur): the control. */
const plainUserns = (script: string, cwd: string) => collect(["unshare", "-Ur", "sh", "-c", script], { cwd });

describe("given one id mapped (no subordinate range, or --id-map single)", () => {
  it("tar xf of an archive owned by 1234:1234 succeeds: the files are root's inside and yours outside (control: unshare -Ur fails with EINVAL)", async () => {
    const cwd = projectWithArchive();
    expect(await nsbox(["--", "sh", "-c", "tar xf t.tar && stat -c %u:%g a a/x"], { cwd })).toMatchObject({ stdout: "0:0\n0:0\n", stderr: "", exitCode: 0 });
    expect(statSync(join(cwd, "a/x"))).toMatchObject(me);
    const control = await plainUserns("rm -rf a; tar xf t.tar", cwd);
    expect(control.exitCode).toBe(2);
    expect(control.stderr).toContain("Cannot change ownership to uid 1234, gid 1234: Invalid argument");
    // The filter is what completes it: without it, nsbox's own sandbox fails the same way.
    const unfiltered = await nsbox(["--seccomp", "none", "--", "sh", "-c", "rm -rf a; tar xf t.tar"], { cwd });
    expect(unfiltered.exitCode).toBe(2);
    expect(unfiltered.stderr).toContain("Invalid argument");
  });

  it("cp -a of a file owned by an unmapped id and chown 5 succeed, nothing changes owner (control: unshare -Ur fails with EINVAL)", async () => {
    const cwd = scratchIn(made);
    // A file whose owner the sandbox does not map: root's files for a user, another id's for root.
    let source = "/usr/bin/env";
    if (AS_ROOT) {
      source = join(cwd, "theirs");
      writeFileSync(source, "x\n");
      chownSync(source, 1234, 1234);
    }
    const script = `cp -a ${source} copy && touch f && chown 5 f && chown 5:6 copy && chgrp 7 f && stat -c %u:%g f copy`;
    expect(await nsbox(["--", "sh", "-c", script], { cwd })).toMatchObject({ stdout: "0:0\n0:0\n", stderr: "", exitCode: 0 });
    expect(statSync(join(cwd, "f"))).toMatchObject(me);
    expect(statSync(join(cwd, "copy"))).toMatchObject(me);
    const control = await plainUserns(`rm -f copy f; cp -a ${source} copy; echo cp=$?; touch f; chown 5 f; echo chown=$?`, cwd);
    expect(control.stdout).toBe("cp=1\nchown=1\n");
    expect(control.stderr).toContain("Invalid argument");
  });

  it("chown to the mapped id and to -1 still reach the kernel: chown 0 of a read-only file fails (EROFS), chown 5 of it completes unchanged", async () => {
    const py = [
      "import os",
      "os.chown('f', -1, -1); os.chown('f', 0, -1); os.chown('f', -1, 0); os.lchown('f', 0, 0)",
      "for uid in (0, 5):",
      "  try: os.chown('/usr/bin/env', uid, -1); print(uid, 'ok')",
      "  except OSError as e: print(uid, e.strerror)",
    ].join("\n");
    const r = await nsbox(["--", "sh", "-c", `touch f && python3 -c "${py}"`], { cwd: scratchIn(made) });
    expect(r).toMatchObject({ stdout: "0 Read-only file system\n5 ok\n", exitCode: 0 });
  });

  it("setuid, setgid, setresuid, setresgid, setreuid, setregid and setgroups to an unmapped id: EPERM, as for an unprivileged user; the ids stay (control: unshare -Ur gives EINVAL)", async () => {
    const py = [
      "import os",
      "calls = [('setuid', lambda: os.setuid(5)), ('setgid', lambda: os.setgid(5)), ('setresuid', lambda: os.setresuid(5, 5, 5)),",
      "  ('setresgid', lambda: os.setresgid(-1, 5, -1)), ('setreuid', lambda: os.setreuid(-1, 5)), ('setregid', lambda: os.setregid(5, -1)),",
      "  ('setgroups', lambda: os.setgroups([5]))]",
      "for name, call in calls:",
      "  try: call(); print(name, 'ok')",
      "  except OSError as e: print(name, e.errno)",
      "os.setuid(0); os.setresgid(0, 0, 0)",
      "print(os.getresuid(), os.getresgid())",
    ].join("\n");
    const r = await nsbox(["--", "python3", "-c", py], { cwd: scratchIn(made) });
    expect(r).toMatchObject({ stderr: "", exitCode: 0 });
    expect(r.stdout).toBe(["setuid 1", "setgid 1", "setresuid 1", "setresgid 1", "setreuid 1", "setregid 1", "setgroups 1", "(0, 0, 0) (0, 0, 0)", ""].join("\n"));
    const control = await collect(["unshare", "-Ur", "python3", "-c", "import os\ntry: os.setuid(5)\nexcept OSError as e: print(e.errno)"], { cwd: scratchIn(made) });
    expect(control.stdout).toBe("22\n");
  });

  it("with --uid 1000 --gid 1000 the mapped id is 1000: chown 1000 reaches the kernel, chown 0 completes unchanged", async () => {
    const r = await nsbox(["--uid", "1000", "--gid", "1000", "--", "sh", "-c", "touch f && chown 0:0 f && chown 1000:1000 f && stat -c %u:%g f && chown 1000 /usr/bin/env"], { cwd: scratchIn(made) });
    expect(r.stdout).toBe("1000:1000\n");
    expect(r.stderr).toContain("Read-only file system");
    expect(r.exitCode).toBe(1);
  });

  it("nsbox exec gets the sandbox's own map: with --uid 1000, chown 1000 reaches the kernel and chown 0 completes unchanged", async () => {
    const runtime = scratchIn(made);
    chmodSync(runtime, 0o700);
    const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
    const name = `idmap-${process.pid}`;
    const s = background([process.execPath, "--no-env-file", "--config=/dev/null", NSBOX, "--name", name, "--uid", "1000", "--gid", "1000", "--", "sh", "-c", "echo ready; exec sleep 1000"], { env, cwd: scratchIn(made) });
    try {
      expect(await s.waitFor("ready")).toBe(true);
      const r = await nsbox(["exec", name, "--", "sh", "-c", "touch /tmp/f && chown 0:0 /tmp/f && chown 1000:1000 /tmp/f && stat -c %u:%g /tmp/f && chown 1000 /usr/bin/env"], { env });
      expect(r.stdout).toBe("1000:1000\n");
      expect(r.stderr).toContain("Read-only file system");
    } finally {
      s.proc.kill("SIGTERM");
      await s.finish();
    }
  });

  it("--id-map single runs as the default does; another value is refused naming the two", async () => {
    const single = await nsbox(["--id-map", "single", "--", "cat", "/proc/self/uid_map"], { cwd: scratchIn(made) });
    expect(single).toMatchObject({ stderr: "", exitCode: 0 });
    expect(single.stdout.trim().split(/\s+/).join(" ")).toBe(`0 ${me.uid} 1`);
    expect((await nsbox(["--", "cat", "/proc/self/uid_map"], { cwd: scratchIn(made) })).stdout).toBe(single.stdout);
    const bad = await nsbox(["--id-map", "many", "--", "true"], { cwd: scratchIn(made) });
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr).toContain("--id-map");
    expect(bad.stderr).toContain('"single" or "auto"');
  });
});

/**
 * Root only: a private mount namespace in which /etc/passwd has a test user (uid 4243) and
 * /etc/subuid and /etc/subgid say what `subuid` and `subgid` say; in it, nsbox runs as that
 * user. Nothing outside that namespace sees the files, so other runs on the machine are not affected.
 */
const TEST_UID = 4243;
async function asUserWithRange(subuid: string, subgid: string, args: string[], opts: { passwd?: boolean; script?: string; path?: string; helper?: string } = {}) {
  const dir = scratchIn(made);
  chmodSync(dir, 0o755);
  const passwd = readFileSync("/etc/passwd", "utf8").split("\n").filter((l) => l && l.split(":")[2] !== String(TEST_UID));
  if (opts.passwd !== false) passwd.push(`nsboxids:x:${TEST_UID}:${TEST_UID}::/nonexistent:/bin/sh`);
  writeFileSync(join(dir, "passwd"), passwd.join("\n") + "\n");
  writeFileSync(join(dir, "subuid"), subuid);
  writeFileSync(join(dir, "subgid"), subgid);
  const code = readableCheckout(made);
  const home = homeIn(made);
  const cwd = scratchIn(made);
  chownSync(home, TEST_UID, TEST_UID);
  chownSync(cwd, TEST_UID, TEST_UID);
  const runtime = scratchIn(made);
  chmodSync(runtime, 0o700);
  chownSync(runtime, TEST_UID, TEST_UID);
  const command = [process.execPath, "--no-env-file", "--config=/dev/null", join(code, "bin/nsbox")];
  // With `script`: a shell runs it, with $NSBOX the command (for nsbox exec into a sandbox it started).
  const run = opts.script === undefined ? [...command, ...args] : ["sh", "-c", opts.script];
  let binds = ["passwd", "subuid", "subgid"].map((f) => `mount --bind ${dir}/${f} /etc/${f}`).join(" && ");
  if (opts.helper) binds += ` && mount --bind ${opts.helper} /usr/bin/newuidmap`;
  const ran = await collect(["unshare", "-m", "--propagation", "private", "sh", "-c", `${binds} && exec "$@"`, "sh",
    "setpriv", `--reuid=${TEST_UID}`, `--regid=${TEST_UID}`, "--clear-groups", "env", "-i", `PATH=${opts.path ?? process.env.PATH}`, `HOME=${home}`,
    `XDG_RUNTIME_DIR=${runtime}`, `NSBOX=${command.join(" ")}`, ...run], { cwd });
  return { ...ran, cwd };
}

const RANGE = "nsboxids:200000:65536\n";

// Root only: it gives a test user a range in a private mount namespace. And newuidmap must be installed (Debian's uidmap).
const HELPERS = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
describe.skipIf(!AS_ROOT || !HELPERS)("given a subordinate range and --id-map auto (root only: it gives a test user a range in a private mount namespace)", () => {
  it("chown 5 f: 5 inside, the subordinate id 200004 outside; /proc/self/uid_map shows the map (control: without --id-map auto, the default, one id even with a range)", async () => {
    const script = "cat /proc/self/uid_map /proc/self/gid_map; touch f; chown 5:7 f; stat -c %u:%g f";
    const r = await asUserWithRange(RANGE, RANGE, ["--id-map", "auto", "--", "sh", "-c", script]);
    expect(r).toMatchObject({ stderr: "", exitCode: 0 });
    const lines = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
    expect(lines).toEqual([`0 ${TEST_UID} 1`, "1 200000 65535", `0 ${TEST_UID} 1`, "1 200000 65535", "5:7"]);
    expect(statSync(join(r.cwd, "f"))).toMatchObject({ uid: 200004, gid: 200006 });
    const single = await asUserWithRange(RANGE, RANGE, ["--", "sh", "-c", "cat /proc/self/uid_map; touch g; chown 5 g; stat -c %u g"]);
    expect(single.stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" "))).toEqual([`0 ${TEST_UID} 1`, "0", ""]);
    expect(statSync(join(single.cwd, "g")).uid).toBe(TEST_UID);
  });

  it("tar xf keeps the archive's owners, a tool drops privileges to a system account, an id past the map still completes as for a user", async () => {
    const script = [
      "mkdir a && echo hi > a/x && tar --owner=1234 --group=1234 -cf t.tar a && rm -r a && tar xf t.tar && stat -c %u:%g a/x",
      "setpriv --reuid=1 --regid=1 --clear-groups id -u",
      "grep -c '^daemon:x:1:' /etc/passwd",
      "touch g && chown 70000 g && stat -c %u g",
      "setpriv --reuid=70000 true 2>&1 | grep -c 'Operation not permitted'",
    ].join(" && ");
    const r = await asUserWithRange(RANGE, RANGE, ["--id-map", "auto", "--", "sh", "-c", script]);
    expect(r).toMatchObject({ stdout: "1234:1234\n1\n1\n0\n1\n", exitCode: 0 });
    expect(statSync(join(r.cwd, "a/x"))).toMatchObject({ uid: 201233, gid: 201233 });
  });

  it("nsbox exec into that sandbox gets the same map and root's capabilities over it: chown 5 works there too", async () => {
    const script = [
      "$NSBOX --id-map auto --name idmap-multi -- sh -c 'touch /tmp/f; echo ready > /tmp/ready; exec sleep 1000' &",
      "for i in $(seq 100); do $NSBOX exec idmap-multi -- test -e /tmp/ready 2>/dev/null && break; sleep 0.2; done",
      "$NSBOX exec idmap-multi -- sh -c 'chown 5:7 /tmp/f && stat -c %u:%g /tmp/f && chown 70000 /tmp/f && stat -c %u /tmp/f'",
      "$NSBOX stop idmap-multi >/dev/null; wait",
    ].join("\n");
    const r = await asUserWithRange(RANGE, RANGE, [], { script });
    expect(r.stdout).toBe("5:7\n5\n");
  });

  it("odd /etc/subuid lines are not used: id 0, the user's own id, past the last id, negative, empty, overlapping another user's; one id is mapped and a note says why", async () => {
    const odd: [string, string][] = [
      ["nsboxids:0:65536", "includes id 0, the host's root"],
      [`nsboxids:${TEST_UID - 10}:100`, `includes your own id ${TEST_UID}`],
      ["nsboxids:4294900000:4294967295", "runs past the last id"],
      ["nsboxids:-5:10", "is not NAME:START:COUNT in plain decimal numbers"],
      ["nsboxids:200000:0", "has no ids"],
      ["someone:200000:65536\nnsboxids:250000:65536", "overlaps another user's range"],
    ];
    for (const [line, why] of odd) {
      const r = await asUserWithRange(line + "\n", RANGE, ["--id-map", "auto", "--", "cat", "/proc/self/uid_map"]);
      expect(r.stdout.trim().split(/\s+/).join(" ")).toBe(`0 ${TEST_UID} 1`);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toContain("--id-map auto: one id mapped, as with --id-map single: /etc/subuid line");
      expect(r.stderr).toContain(why);
    }
    // A later good line of the same user is used.
    const later = await asUserWithRange(`nsboxids:-1:5\nnsboxids:200000:65536\n`, RANGE, ["--id-map", "auto", "--", "cat", "/proc/self/uid_map"]);
    expect(later).toMatchObject({ stderr: "", exitCode: 0 });
    expect(later.stdout).toContain("200000");
  });

  it("a newuidmap planted on PATH is never run, and one that is not setuid root is not used (control: the planted one runs when looked up by name)", async () => {
    const bin = scratchIn(made);
    chmodSync(bin, 0o755);
    const marker = join(bin, "ran");
    writeFileSync(join(bin, "newuidmap"), `#!/bin/sh\ntouch ${marker}\nexit 1\n`);
    chmodSync(join(bin, "newuidmap"), 0o755);
    const path = `${bin}:${process.env.PATH}`;
    chmodSync(bin, 0o777); // the planted helper may leave its mark
    const r = await asUserWithRange(RANGE, RANGE, ["--id-map", "auto", "--", "cat", "/proc/self/uid_map"], { path });
    expect(r).toMatchObject({ stderr: "", exitCode: 0 });
    expect(r.stdout).toContain("200000");
    expect(await Bun.file(marker).exists()).toBe(false);
    const control = await asUserWithRange(RANGE, RANGE, [], { path, script: "newuidmap 1 0 0 1; true" });
    expect(control.exitCode).toBe(0);
    expect(await Bun.file(marker).exists()).toBe(true);

    // A copy without the setuid bit over /usr/bin/newuidmap: nsbox notes it and maps one id.
    const copy = join(bin, "not-setuid");
    Bun.spawnSync(["cp", "/usr/bin/newuidmap", copy]);
    chmodSync(copy, 0o755);
    const plain = await asUserWithRange(RANGE, RANGE, ["--id-map", "auto", "--", "cat", "/proc/self/uid_map"], { helper: copy });
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout.trim().split(/\s+/).join(" ")).toBe(`0 ${TEST_UID} 1`);
    expect(plain.stderr).toContain("--id-map auto: one id mapped, as with --id-map single: /usr/bin/newuidmap is not setuid root");
  });

  it("nsbox doctor says what --id-map auto would map (control: without the range it says why not)", async () => {
    const subuid = (r: { stdout: string }) => (JSON.parse(r.stdout).checks as { id: string; detail: string }[]).find((c) => c.id === "subuid")!.detail;
    expect(subuid(await asUserWithRange(RANGE, RANGE, ["doctor", "--json"]))).toContain(`maps uids 0-65535 (host ${TEST_UID}, 200000-265534)`);
    expect(subuid(await asUserWithRange("", RANGE, ["doctor", "--json"]))).toContain("/etc/subuid has no range for nsboxids");
  });

  it("newuidmap's refusal is one line naming --id-map and the fix, exit 125 (here: the user is unknown to /etc/passwd)", async () => {
    const byUid = `${TEST_UID}:200000:65536\n`;
    const r = await asUserWithRange(byUid, byUid, ["--id-map", "auto", "--", "true"], { passwd: false });
    expect(r.exitCode).toBe(125);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("nsbox: --id-map auto: can't map uids 0-65535");
    expect(lines[0]).toContain("/usr/bin/newuidmap");
    expect(lines[0]).toEndWith("or run with --id-map single");
  });
});
