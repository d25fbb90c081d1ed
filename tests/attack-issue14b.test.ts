// Attacks on issue 14's transparent mode, second round. Real sandboxes, real host servers, uid 1000.
import { afterAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chownSync, mkdtempSync, readFileSync, realpathSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collect, eventually, readableCheckout } from "./helpers.ts";
import { netMode } from "../src/net/mode.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
const mounts: string[] = [];
const servers: Bun.Subprocess[] = [];
afterAll(() => {
  for (const s of servers) s.kill();
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  for (const p of made) Bun.spawnSync(["rm", "-rf", p]);
});

const PY = "/usr/bin/python3";
const AS_ROOT = process.getuid?.() === 0;
const AS_USER = AS_ROOT ? ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"] : [];
const transparent = netMode().mode === "transparent";

/** A host stream server on argv[1] answering HOST; prints ready, then accepted for each client. */
const SERVER = `import socket,sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print("ready", flush=True)
while True:
    c,_ = s.accept(); print("accepted", flush=True); c.send(b"HOST\\n"); c.close()
`;
/** Binds and listens on argv[1], then connects to argv[2]: prints the two inode numbers, then reply:WORD or error:ERRNO. */
const PAYLOAD = `import socket,os,sys,errno
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen()
print("bound", os.stat(sys.argv[1]).st_ino, "target", os.stat(sys.argv[2]).st_ino, flush=True)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[2]); print("reply:" + s.recv(100).decode().strip())
except OSError as e: print("error:" + errno.errorcode.get(e.errno, str(e.errno)))
`;

/**
 * A btrfs file system (a loop image) with a project subvolume owned by uid 1000 and, in it, a
 * subvolume the host made where a host server listens on host.sock (inode 257, a subvolume's
 * first file). Root only (mount); undefined when it can't be made.
 */
function btrfsProject(): { proj: string; server: Bun.Subprocess; log: string[] } | undefined {
  if (!AS_ROOT || !Bun.which("mkfs.btrfs") || !readFileSync("/proc/filesystems", "utf8").includes("btrfs")) return undefined;
  const base = realpathSync(mkdtempSync(join(tmpdir(), "nsbox-btrfs-")));
  made.push(base);
  const img = join(base, "img"), mnt = join(base, "mnt");
  const ok = (argv: string[]) => Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe" }).exitCode === 0;
  if (!ok(["truncate", "-s", "300M", img]) || !ok(["mkfs.btrfs", "-q", "-f", img]) || !ok(["mkdir", mnt]) || !ok(["mount", "-o", "loop", img, mnt])) return undefined;
  mounts.push(mnt);
  const proj = join(mnt, "proj");
  if (!ok(["btrfs", "subvolume", "create", proj])) return undefined;
  for (const d of [base, mnt, proj]) chownSync(d, 1000, 1000);
  if (!ok([...AS_USER, "btrfs", "subvolume", "create", join(proj, "hostsub")])) return undefined;
  writeFileSync(join(proj, "pay.py"), PAYLOAD);
  writeFileSync(join(base, "server.py"), SERVER);
  chownSync(join(proj, "pay.py"), 1000, 1000);
  const server = Bun.spawn([...AS_USER, PY, join(base, "server.py"), join(proj, "hostsub/host.sock")], { stdout: "pipe", stderr: "inherit" });
  servers.push(server);
  const log: string[] = [];
  (async () => {
    const reader = server.stdout.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      log.push(...dec.decode(value).split("\n").filter(Boolean));
    }
  })();
  return { proj, server, log };
}

// On btrfs inode numbers are per subvolume, and sock_diag names a bound file by the superblock's
// device (every subvolume's) and that number. Any user may make a subvolume: the payload makes
// one inside, binds its first socket (inode 257) and connects to a host socket numbered 257 in
// another subvolume. Before the fix nsbox matched the superblock's device (from mountinfo) and
// let the connect through: the host server answered under --net none.
describe.skipIf(!transparent || !AS_ROOT)("a socket made inside on btrfs doesn't vouch for a host socket of the same number in another subvolume", () => {
  const fx = btrfsProject();
  const code = AS_ROOT ? readableCheckout(made) : "";
  const nsbox = (cmd: string) => collect([...AS_USER, join(code, "bin/nsbox"), "--net", "none", "--", "sh", "-c", cmd], { cwd: fx!.proj, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: fx ? join(fx.proj, "..") : "/" } });

  test.skipIf(!fx)("control: on the host, the same connect reaches the host server (a subvolume's socket numbered as the target)", async () => {
    expect(await eventually(() => fx!.log.includes("ready"))).toBe(true);
    const r = await collect([...AS_USER, "sh", "-c", `btrfs subvolume create ctl >/dev/null && ${PY} pay.py ctl/s.sock hostsub/host.sock`], { cwd: fx!.proj });
    expect(r.stdout).toContain("bound 257 target 257");
    expect(r.stdout).toContain("reply:HOST");
  });

  test.skipIf(!fx)("inside: the payload's own subvolume and socket numbered 257 don't open the host's (refused, the server accepts nothing more)", async () => {
    expect(await eventually(() => fx!.log.includes("ready"))).toBe(true);
    const before = fx!.log.filter((l) => l === "accepted").length;
    const r = await nsbox(`btrfs subvolume create fresh >/dev/null && ${PY} pay.py fresh/s.sock hostsub/host.sock`);
    expect(r.stdout).toContain("bound 257 target 257");
    expect(r.stdout).toContain("error:ECONNREFUSED");
    expect(r.stdout).not.toContain("reply:HOST");
    await Bun.sleep(200);
    expect(fx!.log.filter((l) => l === "accepted").length).toBe(before);
  });
});
