// A host that forbids (or has used up) user namespaces gets a one-line reason and the exact sysctl fix, not a stack trace.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { NSBOX, collect } from "./helpers.ts";

/**
 * user.max_user_namespaces is per user namespace: inside `unshare -Ur` we are root of a fresh
 * one and may lower it for everything below, which is where nsbox creates its own.
 */
function underLimit(script: string) {
  return collect(["unshare", "-Ur", "sh", "-c", script], { env: { ...process.env, BUN: process.execPath, NSBOX } });
}

/** The one line `nsbox: CAUSE; FIX`, returned as [cause, fix]. */
function expectNsboxError(stderr: string): [string, string] {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith("nsbox: ")).toBe(true);
  expect(stderr).not.toMatch(/^\s*at /m);
  expect(stderr).not.toContain("internal error");
  const parts = lines[0]!.split("; ");
  expect(parts).toHaveLength(2);
  return parts as [string, string];
}

test("max_user_namespaces = 0: 125, says so, and gives the sysctl that fixes it", async () => {
  const r = await underLimit(`echo 0 > /proc/sys/user/max_user_namespaces && exec "$BUN" "$NSBOX" -- sh -c 'echo ran'`);
  expect(r.exitCode).toBe(125);
  expect(r.stdout).toBe("");
  const [cause, fix] = expectNsboxError(r.stderr);
  expect(cause).toContain("user namespace");
  expect(cause).toContain("max_user_namespaces = 0");
  expect(fix).toContain("sysctl -w user.max_user_namespaces=");
});

test("max_user_namespaces = 1 is enough: nsbox needs exactly one user namespace", async () => {
  const r = await underLimit(`echo 1 > /proc/sys/user/max_user_namespaces && exec "$BUN" "$NSBOX" -- sh -c 'echo ran'`);
  expect(r).toEqual({ stdout: "ran\n", stderr: "", exitCode: 0 });
});

test("the limit already used up by another process: 125, 'limit is reached', and the sysctl fix", async () => {
  const marker = `${1000 + Math.floor(Math.random() * 9000)}.${Math.floor(Math.random() * 1e6)}`;
  // The holder takes the one allowed user namespace and says so through a FIFO before nsbox starts.
  const script = `
    echo 1 > /proc/sys/user/max_user_namespaces || exit 99
    mkfifo held
    unshare -U sh -c 'echo held; exec sleep ${marker}' > held &
    holder=$!
    read line < held
    [ "$line" = held ] || exit 98
    "$BUN" "$NSBOX" -- sh -c 'echo ran'
    status=$?
    kill $holder
    exit $status
  `;
  try {
    const r = await underLimit(script);
    expect(r.exitCode).toBe(125);
    expect(r.stdout).toBe("");
    const [cause, fix] = expectNsboxError(r.stderr);
    expect(cause).toContain("limit is reached");
    expect(cause).toContain("max_user_namespaces = 1");
    expect(fix).toContain("sysctl -w user.max_user_namespaces=");
  } finally {
    // Should the script have failed before its kill, don't leave the holder behind.
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readFileSync(`/proc/${name}/cmdline`, "utf8") === `sleep\0${marker}\0`) process.kill(Number(name), "SIGKILL");
      } catch {}
    }
  }
});
