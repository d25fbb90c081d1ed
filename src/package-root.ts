// Where this copy of nsbox is: its package directory (the checkout, or node_modules/nsbox).
// From the TypeScript, the directory above this module's src/. In the bundle (dist/nsbox.js),
// Bun would bake in the directory the build ran in, so scripts/build.ts defines import.meta.dir
// away and bin/nsbox, which knows where it is, gives the root before anything asks for it.
import { join } from "node:path";

let root: string | undefined;

/** The package directory, as Bun reports the running file's directory (links resolved). */
export const packageRoot = (): string => (root ??= join(import.meta.dir, ".."));

/** bin/nsbox, before it runs the bundle: the directory above its own bin/. */
export const setPackageRoot = (dir: string): void => void (root = dir);
