// Named bundles of options: the built-in profiles, and resolving a name (project profiles first).
import { NsboxError } from "./errors.ts";
import { applyConfigValue } from "./options/normalize.ts";
import type { SandboxOptions } from "./options.ts";

/** A profile as written in nsbox.json or here: option names as on the command line. */
export interface ProfileDef {
  description?: string;
  /** Another profile whose options come first. */
  extends?: string;
  [option: string]: unknown;
}

/** The built-in profiles; `nsbox profile show NAME` prints them. */
export const BUILTIN_PROFILES: Record<string, ProfileDef> = {
  default: {
    description: "The core's view: the current directory read-write, the system read-only, $HOME and /tmp private and empty, no network",
  },
  // The dependency directories are overlays: Bun hard-links node_modules into its global cache,
  // so a write in place would change every project that shares the file. Test runners' caches
  // inside them (node_modules/.cache, .vite) are written to the overlay and dropped at exit.
  test: {
    description: "For bun test, npm test, vitest: the project read-write, its node_modules, .venv and vendor writable but never changed on the host; Bun's and npm's caches and ~/.bun/bin read-only when present; private $HOME and /tmp; no network",
    "ro-try": ["~/.bun/bin", "~/.bun/install/cache", "~/.npm", "~/.cache/node"],
    "overlay-try": ["./node_modules", "./.venv", "./vendor"],
  },
  // The package caches are overlays: installs inside read them and add to them, but what the
  // payload writes there is dropped at exit, so the next install on the host never trusts a
  // package the sandbox rewrote. The cost: packages fetched inside are not kept.
  install: {
    description: "For npm install, bun install, pip install: the project read-write; the package caches readable and writable, with the changes dropped at exit; network only to the registries npm, Bun and pip are configured to use",
    "overlay-try": ["~/.bun/install/cache", "~/.npm", "~/.cache/pip", "~/.cache/yarn"],
    "ro-try": ["~/.bun/bin"],
    net: "allow=@registries",
  },
  shell: {
    description: "An interactive shell: the current directory read-write, everything else as default",
  },
};

/** How many profiles one `extends` chain may hold. */
const MAX_CHAIN = 32;

/** One profile of a chain: its definition, whether the project wrote it, and the profile that extended it. */
export interface ChainStep {
  name: string;
  def: ProfileDef;
  inProject: boolean;
  /** The profile whose `extends` named this one (undefined for the one asked for). */
  via?: string;
  /** Where it is written, for messages: "nsbox.json: profiles.ci" or "built-in profile test". */
  where: string;
}

/**
 * The profiles `name` is made of, the ones it extends first: project profiles (from `project`,
 * keyed by name) before the built-ins. `origin` names the file for messages; `asked`, how the
 * name was given ("--profile", or the library's "profile").
 */
export function profileChain(name: string, project: Record<string, ProfileDef> = {}, origin = "nsbox.json", asked = "--profile"): ChainStep[] {
  const chain: ChainStep[] = [];
  const seen: string[] = [];
  const visit = (n: string, from: string, builtinOnly: boolean, via?: string) => {
    const inProject = !builtinOnly && Object.hasOwn(project, n);
    const def = inProject ? project[n]! : Object.hasOwn(BUILTIN_PROFILES, n) ? BUILTIN_PROFILES[n] : undefined;
    if (!def) {
      const known = [...Object.keys(BUILTIN_PROFILES), ...Object.keys(project)].join(", ");
      throw new NsboxError("BAD_OPTION", `${from}: no profile named '${n}' (known: ${known})`, { option: asked });
    }
    const id = inProject ? n : `built-in ${n}`;
    // A bound on the chain: a planted file of 20,000 profiles each extending the next overflowed the stack.
    if (seen.length >= MAX_CHAIN) throw new NsboxError("BAD_OPTION", `${from}: profiles extend each other more than ${MAX_CHAIN} deep: ${[...seen.slice(0, 3), "…", id].join(" → ")}`);
    if (seen.includes(id)) throw new NsboxError("BAD_OPTION", `${from}: profiles extend each other in a loop: ${[...seen, id].join(" → ")}`);
    seen.push(id);
    const where = inProject ? `${origin}: profiles.${n}` : `built-in profile ${n}`;
    // A project profile may extend the built-in of its own name ("test": {"extends": "test"}).
    if (def.extends !== undefined) visit(String(def.extends), `${where}.extends`, inProject && def.extends === n, n);
    chain.push({ name: n, def, inProject, via, where });
  };
  visit(name, asked === "profile" ? "The `profile` option" : asked, false);
  return chain;
}

/**
 * Check every profile of a project once, in time linear in the file: each profile's own values
 * (applied alone, so a bad value is named by its profile and key), and each `extends` chain
 * (unknown names, loops, more than MAX_CHAIN deep) with the chain length of every profile
 * remembered, so that a chain is walked once and not again from each of its members. A file of
 * 3,200 profiles each extending the next took 10 s when every chain was resolved in full.
 */
export function checkProfiles(project: Record<string, ProfileDef>, origin: string, base?: string): void {
  for (const [name, def] of Object.entries(project)) {
    const scratch: SandboxOptions = {};
    for (const [key, value] of Object.entries(def)) {
      if (key === "description" || key === "extends") continue;
      applyConfigValue(scratch, key, value, `${origin}: profiles.${name}.${key}`, base);
    }
  }
  const depth = new Map<string, number>();
  for (const start of Object.keys(project)) {
    const path: string[] = [];
    let below = 0;
    for (let n = start; ; ) {
      const known = depth.get(n);
      if (known !== undefined) {
        below = known;
        break;
      }
      // A loop, or deeper than allowed: profileChain walks it (at most MAX_CHAIN + 1 steps) and says which.
      if (path.includes(n) || path.length > MAX_CHAIN) profileChain(start, project, origin);
      path.push(n);
      const ext = project[n]!.extends;
      if (ext === undefined) break;
      // Another project profile, else a built-in (a profile may extend the built-in of its own name).
      if (ext !== n && Object.hasOwn(project, ext)) {
        n = ext;
        continue;
      }
      if (!Object.hasOwn(BUILTIN_PROFILES, ext)) profileChain(start, project, origin);
      below = 1;
      break;
    }
    path.forEach((n, i) => depth.set(n, below + path.length - i));
    if (below + path.length > MAX_CHAIN) profileChain(start, project, origin);
  }
}

/**
 * The options of profile `name` (see profileChain), each profile's after those of the profile it
 * extends. `base` is the project root that relative paths in project profiles start from.
 */
export function resolveProfile(name: string, project: Record<string, ProfileDef> = {}, origin = "nsbox.json", base?: string, asked = "--profile"): SandboxOptions {
  const options: SandboxOptions = {};
  for (const { def, inProject, where } of profileChain(name, project, origin, asked)) {
    for (const [key, value] of Object.entries(def)) {
      if (key === "description" || key === "extends") continue;
      applyConfigValue(options, key, value, `${where}.${key}`, inProject ? base : undefined);
    }
  }
  return options;
}
