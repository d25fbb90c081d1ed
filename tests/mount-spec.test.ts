// src/plan/mount-spec.ts: filesystem options as written, and the `\:` escape for a ':' in a path.
import { describe, expect, it } from "bun:test";
import { NsboxError } from "../src/errors.ts";
import { parseMount, parseMountSpec } from "../src/plan/mount-spec.ts";
import { Problem } from "../src/options/problem.ts";

describe("given a path holding ':'", () => {
  const cases: [string, string, { source?: string; target: string; upper?: string; mode?: number }][] = [
    ["bind", "a\\:b:/mnt", { source: "a:b", target: "/mnt" }],
    ["ro-bind", "/x\\:1:/y\\:2", { source: "/x:1", target: "/y:2" }],
    ["dev-bind", "/dev/x\\:y", { source: "/dev/x:y", target: "/dev/x:y" }],
    ["file", "/etc/a\\:b:./c\\:d", { source: "./c:d", target: "/etc/a:b" }],
    ["symlink", "/t\\:x:/l\\:y", { source: "/t:x", target: "/l:y" }],
    ["tmpfs", "/c\\:d:size=1m", { target: "/c:d" }],
    ["overlay", "./a\\:b:./up\\:per", { source: "./a:b", target: "./a:b", upper: "./up:per" }],
    ["dir", "/d\\:e:700", { target: "/d:e", mode: 0o700 }],
    ["bind", "a\\\\:/mnt", { source: "a\\", target: "/mnt" }],
  ];
  for (const [kind, value, want] of cases) {
    it(`--${kind} ${value}: the escaped ':' is part of the path`, () => {
      expect(parseMount(kind, value)).toMatchObject(want);
    });
  }

  it("control: without the escape, the first ':' splits", () => {
    expect(parseMount("bind", "a:b:/mnt")).toMatchObject({ source: "a", target: "b:/mnt" });
    expect(parseMount("ro", "a:b")).toMatchObject({ source: "a:b", target: "a:b" });
  });

  it("any other backslash is kept as it is", () => {
    expect(parseMount("bind", "a\\b:/mnt")).toMatchObject({ source: "a\\b", target: "/mnt" });
  });
});

describe("given a malformed value", () => {
  it("parseMountSpec throws a Problem worded without the option; parseMount names --NAME VALUE", () => {
    expect(() => parseMountSpec("tmpfs", ":size=1m", "x")).toThrow(Problem);
    try {
      parseMount("tmpfs", ":size=1m");
    } catch (e) {
      expect(e).toBeInstanceOf(NsboxError);
      expect((e as Error).message).toBe("--tmpfs ':size=1m': needs a path before ':' (PATH[:size=N,nr_inodes=N,mode=M])");
    }
    expect(() => parseMount("bind", "a\\:b")).toThrow("must be SRC:DST (a ':' in a path is written \\:)");
  });

  it("a tmpfs size or inode count it cannot read is named as that setting, not as an unknown one (control: bogus is unknown)", () => {
    expect(() => parseMount("tmpfs", "/var/tmp:size=1t")).toThrow("--tmpfs '/var/tmp:size=1t': size must be N[k|m|g|%] above 0 (size=64m, nr_inodes=10k), got 'size=1t'");
    expect(() => parseMount("tmpfs", "/var/tmp:nr_inodes=0")).toThrow("nr_inodes must be N[k|m|g] above 0");
    expect(() => parseMount("tmpfs", "/var/tmp:size=")).toThrow("size must be");
    expect(() => parseMount("tmpfs", "/var/tmp:bogus")).toThrow("unknown tmpfs setting 'bogus'");
    expect(parseMount("tmpfs", "/var/tmp:size=64m,nr_inodes=10k")).toMatchObject({ size: "64m", inodes: "10k" });
  });
});
