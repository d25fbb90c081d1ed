// src/net/session.ts: a network session's callbacks that throw (the live report) are said once;
// the proxy keeps serving and nsbox does not crash.
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { join } from "node:path";
import { unixListen } from "../src/executor.ts";
import { parseRule } from "../src/net/rules.ts";
import { netSession } from "../src/net/session.ts";
import { cleanedUp, scratchIn } from "./helpers.ts";

const made = cleanedUp();

/** Ask the proxy on `path` to CONNECT to `target`; its status code. */
function ask(path: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    s.on("data", (d) => (resolve(String(d).split(" ")[1]!), s.destroy()));
    s.on("error", reject);
  });
}

describe("given a live report that throws", () => {
  test("each blocked connection is still refused, and the failure is said once (control: a live report that works sees every one)", async () => {
    const path = join(scratchIn(made), "proxy.sock");
    const warned: string[] = [];
    const session = netSession([parseRule("example.com")], {
      live: () => {
        throw new Error("the terminal is gone");
      },
      warn: (line) => void warned.push(line),
    });
    session.onListen(unixListen(path));
    expect([await ask(path, "blocked.invalid:80"), await ask(path, "other.invalid:80")]).toEqual(["403", "403"]);
    session.finish();
    expect(warned).toEqual(["reporting a network event failed (the terminal is gone); the proxy goes on"]);

    const control = join(scratchIn(made), "proxy.sock");
    const seen: string[] = [];
    const ok = netSession([parseRule("example.com")], { live: (l) => void seen.push(l), warn: (l) => void warned.push(l) });
    ok.onListen(unixListen(control));
    await ask(control, "blocked.invalid:80");
    await ask(control, "other.invalid:80");
    ok.finish();
    expect(seen.length).toBe(2);
    expect(warned.length).toBe(1);
  });
});
