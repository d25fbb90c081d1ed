// What every `nsbox -- cmd` loads before it starts the sandbox: the static imports reachable from
// src/main.ts, the CLI's entry (bin/nsbox runs its bundle, dist/nsbox.js, where a static import is
// loaded at start and an import() when it runs, or the TypeScript when there is no build). A builtin such as node:tty costs more than the sandbox itself (26 ms of start-up
// for one isatty(); node:util 5 ms), so the start path keeps to the cheap ones, and everything
// else is loaded where it is used (import() or require()).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "./helpers.ts";

/** The builtins the start path may load: cheap in Bun, and needed by every run. */
const CHEAP = ["bun:ffi", "node:fs", "node:os", "node:path"];

/** Every file reached from `entry` by static import statements, and the non-relative specifiers they name. */
function staticGraph(entry: string): { files: string[]; external: Map<string, string> } {
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const seen = new Set<string>();
  const external = new Map<string, string>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (file.endsWith(".json")) continue;
    // src/cli.ts starts with a #! the transpiler does not take from a string.
    for (const imp of transpiler.scanImports(readFileSync(file, "utf8").replace(/^#!.*\n/, "\n"))) {
      // The CLI imports what a run needs when a run starts (runModules; --version and --help go
      // without): those edges count too. Its other import()s are the subcommands, help and the
      // dry run, loaded only for those.
      const run = file.endsWith("/src/cli.ts") && !/^\.\/(commands\/|help\.ts|dry-run\.ts)/.test(imp.path);
      if (imp.kind !== "import-statement" && !(imp.kind === "dynamic-import" && run)) continue;
      if (imp.path.startsWith(".")) stack.push(resolve(dirname(file), imp.path));
      else if (!external.has(imp.path)) external.set(imp.path, relative(ROOT, file));
    }
  }
  return { files: [...seen], external };
}

test("the start path imports only cheap builtins statically (control: the walk sees what src/ imports)", () => {
  const { files, external } = staticGraph(join(ROOT, "src", "main.ts"));
  const heavy = [...external].filter(([name]) => !CHEAP.includes(name)).map(([name, from]) => `${name} (from ${from})`);
  expect(heavy).toEqual([]);
  // The walk reaches the plan and the executor, so a heavy import there would show.
  expect(files.map((f) => relative(ROOT, f))).toEqual(expect.arrayContaining(["src/cli.ts", "src/plan/index.ts", "src/executor.ts", "src/plan/pass-fds.ts"]));
  // Control: the commands loaded on demand do import others (node:net for the proxy), which the same walk finds.
  expect([...staticGraph(join(ROOT, "src", "net", "proxy.ts")).external.keys()]).toContain("node:net");
});

test("bin/nsbox loads only node:fs and the CLI's entry (its bundle, or src/main.ts without one)", () => {
  // Its shell lines start with a #!, as src/cli.ts does.
  const source = readFileSync(join(ROOT, "bin", "nsbox"), "utf8").replace(/^#!.*\n/, "\n");
  const named = new Bun.Transpiler({ loader: "ts" }).scanImports(source).map((imp) => imp.path).sort();
  expect(named).toEqual(["../src/main.ts", "node:fs"]);
  expect(source).toContain('"/dist/nsbox.js"');
});
