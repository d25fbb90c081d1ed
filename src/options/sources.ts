// The two ways options arrive, each normalised in one call: the command line (with -p) and the
// library's options object (with `profile`). Both end in normalize.ts finish().
import { checkProjectConfig, projectProfile } from "../config.ts";
import { attribute, expected } from "./problem.ts";
import { applyCommandLine, checkLibraryOptions, finish, mergeOptions, type CommandLineOption, type NormalOptions, type Warn } from "./normalize.ts";

/**
 * The command line's sandbox options, normalised: profile `profile` first (built-in, or the
 * project's at `cwd`, trust checked), then each option in the order given.
 *
 * Without -p no profile is resolved: the project's nsbox.json is only looked at, and what is
 * wrong with it (not valid JSON, ignored as untrusted) is a warning, as the run does not use it.
 *
 * @example
 *   normalizeCommandLine([{ name: "ro", value: "./data", flag: "--ro" }], undefined, process.cwd(), console.warn)
 */
export function normalizeCommandLine(given: readonly CommandLineOption[], profile: string | undefined, cwd: string, warn: Warn, asked = "--profile"): NormalOptions {
  if (profile === undefined) checkProjectConfig(cwd, warn);
  const options = profile === undefined ? {} : projectProfile(profile, cwd, warn, asked);
  applyCommandLine(options, given);
  return finish(options);
}

/**
 * The library's options object, normalised: every key checked (an unknown one refused), then
 * the profile's options (if `profile` is set) with the caller's on top: lists appended, env
 * merged, the rest replaced. `timeout` is in milliseconds, as Bun.spawn's.
 */
export function normalizeLibrary(options: unknown, cwd: string, warn: Warn): NormalOptions {
  const own = checkLibraryOptions(options);
  const profile = (options as { profile?: unknown } | undefined)?.profile;
  if (profile === undefined) return finish(own);
  if (typeof profile !== "string" || profile === "") {
    throw attribute({ from: "library", key: "profile", value: profile }, expected("a profile name (a string)"));
  }
  // The project at cwd is untrusted input: a profile there that loosens needs `nsbox trust`.
  return finish(mergeOptions(projectProfile(profile, cwd, warn, "profile"), own));
}
