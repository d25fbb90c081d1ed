// The wire format: op codes agree with the C executor's header, and plans encode as C reads them.
import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodePlan, OpCode, PLAN_MAGIC, PLAN_VERSION, type Op } from "../src/ops.ts";
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
    { op: "MKDIR", s1: "/a", a: 0o755, why },
    { op: "EXEC", lists: { s1: ["/bin/true"], s2: ["true", "x"], s3: [] }, why },
    { op: "WRITE_FILE", s1: "/f", data: new Uint8Array([0, 1, 2]), a: 3, why },
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

  it("keeps binary file content intact", () => {
    const at = u32(96 + 20);
    expect([...buf.subarray(at, at + 3)]).toEqual([0, 1, 2]);
  });
});

describe("the parent's calls into the executor", () => {
  it("are numbered in executor.ts as host.c's nsbox_call dispatches them", async () => {
    const { CALL } = await import("../src/executor.ts");
    const host = readFileSync(join(ROOT, "src/executor/host.c"), "utf8");
    const cases = Object.fromEntries([...host.matchAll(/case (\d+): return nsbox_(\w+)\(/g)].map(([, n, f]) => [f, Number(n)]));
    const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const named = Object.fromEntries(Object.entries(CALL).map(([k, v]) => [snake(k), v]));
    expect(named).toEqual(cases);
  });
});
