// The CLI's entry: what bin/nsbox runs once it knows Bun runs it. scripts/build.ts bundles it,
// with everything it imports, into dist/nsbox.js and its bytecode, which bin/nsbox loads when
// present (and this file when not): no start transpiles TypeScript.
import { realArgv } from "./cli-args.ts";
import { runCli } from "./cli.ts";
import { setPackageRoot } from "./package-root.ts";

declare const NSBOX_BUILT: { sources: string; executor: string } | undefined;

/** In the bundle, the hashes of what it was built from (scripts/build.ts); undefined from src/. */
export const BUILT = typeof NSBOX_BUILT === "undefined" ? undefined : NSBOX_BUILT;

/** Run the CLI of the package at `root` (bin/nsbox's parent) with this process's arguments. */
export function main(root: string): void {
  setPackageRoot(root);
  runCli(realArgv());
}
