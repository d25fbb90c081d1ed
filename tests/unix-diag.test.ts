// The Unix-socket decision's kernel question (src/net/unix-diag.ts), asked of a real
// NETLINK_SOCK_DIAG socket in this test's own network namespace about a real socket of its own.
// scripts/test runs this file as root and as uid 1000.
import { afterAll, describe, expect, it } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import * as sys from "../src/net/sys.ts";
import { sandboxSocketBoundTo } from "../src/net/unix-diag.ts";
import { cleanedUp, scratchIn } from "./helpers.ts";

const made = cleanedUp();
const AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000, NETLINK_SOCK_DIAG = 4;

describe("sandboxSocketBoundTo", () => {
  const path = join(scratchIn(made), "s.sock");
  const server = Bun.listen({ unix: path, socket: { data() {} } });
  const diag = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  afterAll(() => {
    server.stop(true);
    if (diag >= 0) sys.close(diag);
  });
  const st = statSync(path, { bigint: true });

  it("finds a socket of its namespace bound to the file (control for the next)", () => {
    expect(diag).toBeGreaterThanOrEqual(0);
    expect(sandboxSocketBoundTo(diag, { devs: [st.dev], ino: st.ino })).toEqual({ bound: true });
  });

  it("never vouches for an inode number the dump can't carry whole (32 bits): one that matches only in its low 32 bits is not bound", () => {
    expect(sandboxSocketBoundTo(diag, { devs: [st.dev], ino: st.ino + (1n << 32n) })).toEqual({ bound: false });
  });
});
