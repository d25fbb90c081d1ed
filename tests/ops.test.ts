// The wire format: op codes agree with the C executor's header, and plans encode as C reads them.
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readdirSync } from "node:fs";
import { encodePlan, OpCode, PLAN_MAGIC, PLAN_VERSION, type Op } from "../src/ops.ts";
import { OPF, SIGNAL } from "../src/kernel.ts";
import { ROOT } from "./helpers.ts";

const header = readFileSync(join(ROOT, "src/executor/nsbox.h"), "utf8");
const define = (name: string) => Number(header.match(new RegExp(`#define ${name} (0x[0-9a-fA-F]+|\\d+)`))?.[1]);

describe("the op codes", () => {
  it("match executor/nsbox.h one for one", () => {
    const inC = [...header.matchAll(/#define OP_(\w+) (\d+)/g)].map(([, n, v]) => [n, Number(v)]);
    expect(Object.fromEntries(inC)).toEqual({ ...OpCode });
    expect([define("PLAN_MAGIC"), define("PLAN_VERSION")]).toEqual([PLAN_MAGIC, PLAN_VERSION]);
  });
});

describe("encodePlan", () => {
  const why = { what: "test" };
  const ops: Op[] = [
    { op: "MKDIR", path: "/a", mode: 0o755, why },
    { op: "EXEC", candidates: ["/bin/true"], argv: ["true", "x"], envp: [], why },
    { op: "WRITE_FILE", path: "/f", content: new Uint8Array([0, 1, 2]), why },
  ];
  const buf = encodePlan(ops, 0x10000000, true);
  const view = new DataView(buf.buffer);
  const u32 = (at: number) => view.getUint32(at, true);
  const cstr = (at: number) => new TextDecoder().decode(buf.subarray(at, buf.indexOf(0, at)));

  it("writes the header the executor checks", () => {
    expect([u32(0), u32(4), u32(8), u32(12), u32(16)]).toEqual([PLAN_MAGIC, PLAN_VERSION, 3, 1, 0x10000000]);
  });

  it("points each op's strings at NUL-terminated text", () => {
    expect(u32(32)).toBe(OpCode.MKDIR);
    expect(cstr(u32(32 + 16))).toBe("/a");
    expect(u32(32 + 8)).toBe(0o755);
  });

  it("lays lists out as 8-aligned, zero-terminated offset arrays", () => {
    const argv = u32(64 + 20);
    expect(argv % 8).toBe(0);
    const items = [0, 1, 2].map((i) => Number(view.getBigUint64(argv + 8 * i, true)));
    expect(items[2]).toBe(0);
    expect(items.slice(0, 2).map(cstr)).toEqual(["true", "x"]);
    expect(Number(view.getBigUint64(u32(64 + 24), true))).toBe(0); // empty envp
  });

  it("keeps binary file content intact, its length in a", () => {
    const at = u32(96 + 20);
    expect([...buf.subarray(at, at + 3)]).toEqual([0, 1, 2]);
    expect(u32(96 + 8)).toBe(3);
  });
});

describe("named fields, wire slots", () => {
  const why = { what: "test" };
  /** One op's eight words {type, flags, a, b, s1..s4}, its strings read back. */
  const words = (op: Op) => {
    const buf = encodePlan([op], 0, false);
    const view = new DataView(buf.buffer);
    const w = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => view.getInt32(32 + 4 * i, true));
    const text = (at: number) => (at ? new TextDecoder().decode(buf.subarray(at, buf.indexOf(0, at))) : undefined);
    return { type: w[0], flags: w[1], a: w[2], b: w[3], s1: text(w[4]!), s2: text(w[5]!), s3: text(w[6]!), s4: text(w[7]!) };
  };

  it("MOUNT: source, target, fstype, data in s1-s4, the mount flags in a, noSymlinks as OPF_NO_SYMLINKS", () => {
    expect(words({ op: "MOUNT", source: "tmpfs", target: "/newroot/x", fstype: "tmpfs", data: "size=1m", flags: 6, noSymlinks: true, why }))
      .toEqual({ type: OpCode.MOUNT, flags: OPF.NO_SYMLINKS, a: 6, b: 0, s1: "tmpfs", s2: "/newroot/x", s3: "tmpfs", s4: "size=1m" });
  });

  it("WRITE_FILE: create is OPF_CREATE, a bit of its own (not SETATTR's OPF_RECURSIVE); the length is the content's in bytes", () => {
    const w = words({ op: "WRITE_FILE", path: "/f", content: "é\n", mode: 0o644, create: true, why });
    expect(w).toEqual({ type: OpCode.WRITE_FILE, flags: OPF.CREATE, a: 3, b: 0o644, s1: "/f", s2: "é\n", s3: undefined, s4: undefined });
    expect(words({ op: "SETATTR", path: "/", set: 1, recursive: true, why }).flags).toBe(OPF.RECURSIVE);
    expect(OPF.CREATE & OPF.RECURSIVE).toBe(0);
  });

  it("BIND, MKDIR, SYMLINK, HOLD: each boolean its own flag", () => {
    expect(words({ op: "BIND", source: "/oldroot/a", target: "/newroot/a", identity: "16384:0:1:2", attrs: 3, tree: true, noSymlinks: true, why }))
      .toMatchObject({ flags: OPF.TREE | OPF.NO_SYMLINKS, a: 3, s1: "/oldroot/a", s2: "/newroot/a", s3: "16384:0:1:2" });
    expect(words({ op: "MKDIR", path: "/oldroot/u", mode: 0o700, noSymlinks: true, mustBeNew: true, why })).toMatchObject({ flags: OPF.NO_SYMLINKS | OPF.NEW, a: 0o700 });
    expect(words({ op: "SYMLINK", target: "../t", linkpath: "/newroot/l", noSymlinks: true, why })).toMatchObject({ s1: "../t", s2: "/newroot/l" });
    expect(words({ op: "HOLD", slot: 6, why })).toMatchObject({ a: 6, s1: undefined, s3: undefined });
  });

  it("SPAWN: the forwarded signals become PID 1's mask; DROP_CAPS: the kept set's two halves", () => {
    expect(words({ op: "SPAWN", forward: [SIGNAL.INT, SIGNAL.TERM], why }).a).toBe((1 << 2) | (1 << 15));
    expect(words({ op: "DROP_CAPS", keep: { low: 1 << 21, high: 1 }, why })).toMatchObject({ a: 1 << 21, b: 1 });
  });
});

describe("the wire slots", () => {
  it("are named only in src/ops.ts: plan modules, dry-run and explain use the ops' own fields", () => {
    const files = [
      ...readdirSync(join(ROOT, "src/plan")).map((f) => `src/plan/${f}`),
      "src/dry-run.ts", "src/explain.ts", "src/registry.ts", "src/commands/doctor.ts",
    ];
    const slotted = files.filter((f) => /[{,]\s*(s[1-4]|lists)\s*:|\bo(p)?\??\.(s[1-4]|lists)\b/.test(readFileSync(join(ROOT, f), "utf8")));
    expect(slotted).toEqual([]);
  });
});

describe("the parent's calls into the executor", () => {
  it("go through host.c's nsbox_call switch by the CALL_* names kernel.ts numbers", async () => {
    const { CALL } = await import("../src/executor.ts");
    const host = readFileSync(join(ROOT, "src/executor/host.c"), "utf8");
    const cases = Object.fromEntries([...host.matchAll(/case CALL_(\w+): (?:return |\{ int \w+ = )nsbox_(\w+)\(/g)].map(([, n, f]) => [f, n]));
    const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    expect(cases).toEqual(Object.fromEntries(Object.keys(CALL).map((k) => [snake(k), snake(k).toUpperCase()])));
  });
});
