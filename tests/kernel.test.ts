// The numbers nsbox shares with the kernel and the C executor: src/kernel.ts, executor/nsbox.h and
// the kernel's own uapi headers agree, name for name.
import { describe, expect, it } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as K from "../src/kernel.ts";
import { ROOT } from "./helpers.ts";

type Defines = Map<string, number>;

/** A #define's value when it is a plain number or a small expression of numbers and earlier names. */
function evaluate(text: string, known: Defines): number | undefined {
  const expr = text
    .replace(/\/\*.*?\*\//g, "")
    .trim()
    .replace(/\b(0x[0-9a-fA-F]+|\d+)(?:[uU][lL]{0,2}|[lL]{1,2}[uU]?)\b/g, "$1")
    .replace(/\b0([0-7]+)\b/g, "0o$1")
    .replace(/\b[A-Za-z_]\w*\b/g, (name) => (known.has(name) ? String(known.get(name)) : name));
  if (expr === "" || !/^[\s\d()xXa-fA-Fo<|+~-]+$/.test(expr) || /[a-fA-F]/.test(expr.replace(/0x[0-9a-fA-F]+/g, ""))) return undefined;
  try {
    const v = Function(`return (${expr});`)();
    return typeof v === "number" && Number.isInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The #defines of C source `text`, taking the branch of `#if defined(__ARCH__)` blocks this machine takes. */
function defines(text: string, into: Defines = new Map()): Defines {
  const arch = process.arch === "arm64" ? "__aarch64__" : "__x86_64__";
  const active: boolean[] = [];
  const taken: boolean[] = [];
  for (const line of text.split("\n")) {
    const cond = /^#\s*(if|elif)\s+defined\((\w+)\)/.exec(line);
    if (cond) {
      if (cond[1] === "if") taken.push(false), active.push(false);
      const on = !taken.at(-1) && cond[2] === arch;
      active[active.length - 1] = on;
      if (on) taken[taken.length - 1] = true;
      continue;
    }
    if (/^#\s*if/.test(line)) { active.push(true); taken.push(true); continue; } // #ifndef guards
    if (/^#\s*else/.test(line)) { active[active.length - 1] = !taken.at(-1); continue; }
    if (/^#\s*endif/.test(line)) { active.pop(); taken.pop(); continue; }
    if (active.some((a) => !a)) continue;
    const d = /^#\s*define\s+(\w+)\s+(.+)$/.exec(line);
    if (!d) continue;
    const v = evaluate(d[2]!, into);
    if (v !== undefined && !into.has(d[1]!)) into.set(d[1]!, v);
  }
  return into;
}

const header = defines(readFileSync(join(ROOT, "src/executor/nsbox.h"), "utf8"));
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** Every constant of src/kernel.ts under the name nsbox.h (and the kernel) give it. */
const inTs: [string, number][] = [
  ...Object.entries(K.CLONE).map(([k, v]) => [`CLONE_${k}`, v] as [string, number]),
  ...Object.entries(K.MS).map(([k, v]) => [`MS_${k}`, v] as [string, number]),
  ...Object.entries(K.ATTR).map(([k, v]) => [`MOUNT_ATTR_${k}`, v] as [string, number]),
  ["MNT_DETACH", K.MNT_DETACH],
  ...Object.entries(K.SIGNAL).map(([k, v]) => [`SIG${k}`, v] as [string, number]),
  ...Object.entries(K.ERRNO),
  ["PLAN_MAGIC", K.PLAN_MAGIC], ["PLAN_VERSION", K.PLAN_VERSION], ["PLAN_VERBOSE", K.PLAN_VERBOSE],
  ...Object.entries(K.OP).map(([k, v]) => [`OP_${k}`, v] as [string, number]),
  ...Object.entries(K.OPF).map(([k, v]) => [`OPF_${k}`, v] as [string, number]),
  ...Object.entries(K.REPORT).map(([k, v]) => [`REPORT_${k}`, v] as [string, number]),
  ...Object.entries(K.FD).map(([k, v]) => [`${k}_FD`, v] as [string, number]),
  ["FDS_NEEDED", K.FDS_NEEDED],
  ...Object.entries(K.CALL).map(([k, v]) => [`CALL_${snake(k)}`, v] as [string, number]),
];

/** nsbox's own numbers: both sides must define every one of them. */
const OWN = /^(OP|OPF|REPORT|CALL|PLAN)_|_FD$|^FDS_NEEDED$/;

describe("src/kernel.ts and executor/nsbox.h", () => {
  it("give the same value to every name both define", () => {
    const both = inTs.filter(([name]) => header.has(name));
    expect(both.length).toBeGreaterThan(80);
    expect(Object.fromEntries(both.map(([name]) => [name, header.get(name)]))).toEqual(Object.fromEntries(both));
  });

  it("both define every op code, op flag, report record, fixed descriptor and call", () => {
    const ts = inTs.filter(([name]) => OWN.test(name)).map(([n]) => n).sort();
    const c = [...header.keys()].filter((name) => OWN.test(name)).sort();
    expect(ts).toEqual(c);
  });

  it("give each op flag a bit of its own (OPF_CREATE was once OPF_RECURSIVE's 1)", () => {
    const bits = Object.values(K.OPF);
    for (const b of bits) expect(b & (b - 1)).toBe(0);
    expect(new Set(bits).size).toBe(bits.length);
    expect(bits.reduce((a, b) => a | b, 0)).toBe(bits.reduce((a, b) => a + b, 0));
  });

  it("number op codes and calls without gaps or repeats", () => {
    for (const table of [K.OP, K.CALL]) {
      const values: number[] = Object.values(table as Record<string, number>).sort((a, b) => a - b);
      expect(values).toEqual(values.map((_, i) => i + 1));
    }
  });
});

// The kernel's own numbers, from its uapi headers as Debian's linux-libc-dev installs them.
const INCLUDE = "/usr/include";
const ARCH_INCLUDE = `${INCLUDE}/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`;
const UAPI = [
  `${ARCH_INCLUDE}/asm/fcntl.h`, // arch first: its O_DIRECTORY, O_NOFOLLOW win over asm-generic's
  `${INCLUDE}/asm-generic/fcntl.h`, `${INCLUDE}/linux/fcntl.h`, `${INCLUDE}/linux/sched.h`,
  `${INCLUDE}/linux/mount.h`, `${INCLUDE}/asm-generic/errno-base.h`, `${INCLUDE}/asm-generic/errno.h`,
  `${ARCH_INCLUDE}/asm/signal.h`, `${INCLUDE}/linux/prctl.h`, `${ARCH_INCLUDE}/asm/socket.h`,
  `${INCLUDE}/asm-generic/socket.h`, `${ARCH_INCLUDE}/asm/ioctls.h`, `${INCLUDE}/asm-generic/ioctls.h`,
  `${INCLUDE}/linux/landlock.h`, `${INCLUDE}/linux/seccomp.h`, `${INCLUDE}/linux/capability.h`,
];
const syscalls = `${ARCH_INCLUDE}/asm/unistd_64.h`;
// Skipped without the headers (package linux-libc-dev): the test above still holds the two sides together.
const haveHeaders = existsSync(`${INCLUDE}/linux/mount.h`) && existsSync(syscalls);

describe.skipIf(!haveHeaders)("the kernel's numbers (uapi headers in /usr/include)", () => {
  const kernel: Defines = new Map();
  if (haveHeaders) {
    for (const file of UAPI) if (existsSync(file)) defines(readFileSync(file, "utf8"), kernel);
    for (const [name, v] of defines(readFileSync(syscalls, "utf8"))) if (name.startsWith("__NR_")) kernel.set(`SYS_${name.slice(5)}`, v);
  }

  it("are src/kernel.ts's: clone, mount and attribute flags, signals, errno values", () => {
    const shared = inTs.filter(([name]) => kernel.has(name));
    expect(shared.length).toBeGreaterThan(35);
    expect(Object.fromEntries(shared.map(([name]) => [name, kernel.get(name)]))).toEqual(Object.fromEntries(shared));
  });

  it("are executor/nsbox.h's, for this machine's architecture (system calls, open flags, ioctls…)", () => {
    const shared = [...header].filter(([name]) => kernel.has(name) && !/^(OP|OPF|REPORT|CALL)_/.test(name));
    expect(shared.length).toBeGreaterThan(45);
    expect(Object.fromEntries(shared.map(([name]) => [name, kernel.get(name)]))).toEqual(Object.fromEntries(shared));
  });
});
