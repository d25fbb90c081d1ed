// Where an option value was written, and how a mistake in it is worded for that place.
import { NsboxError } from "../errors.ts";

/**
 * A mistake in one value, worded without saying where the value was written: the option
 * definitions throw it, and normalize.ts adds the origin (attribute) once.
 * `expected`: what the value must be ("\"on\" or \"off\""), for the "must be …, got …" form.
 */
export class Problem extends Error {
  constructor(message: string, readonly expected?: string) {
    super(message);
  }
}

/** `must be ${expected}`: a value of the wrong kind or outside its set. */
export const expected = (what: string) => new Problem(`must be ${what}`, what);
/** Any other mistake in a value, as a phrase ("port 99999 is out of range (1-65535)"). */
export const problem = (message: string) => new Problem(message);

/**
 * Where a value came from: a command-line option as typed, a key of a config file, or a key of
 * the library's options object.
 */
export type Origin =
  | { from: "cli"; flag: string; text: string }
  | { from: "config"; where: string; value: unknown }
  | { from: "library"; key: string; value: unknown };

/** A word a shell would keep as one (no quotes needed to paste it back). */
const PLAIN = /^[\w./~+@%-]+$/;

/** The command-line text as a shell would take it: `./data`, `'allow=example.com:99999'`, `''`. */
export function shellWord(text: string): string {
  return PLAIN.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A library value for a message: strings quoted, other kinds named (execa's wording). */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return `${String(value)} (${typeof value})`;
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "function") return "a function";
  return "an object";
}

/** A config file's value as written there (JSON). */
function asJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return shown(value);
  }
}

/** How the origin is named at the start of a message: `--net 'allow=x'`, `/p/nsbox.json: profiles.ci.net "allow=x"`, `` The `net` option ``. */
export function originText(origin: Origin): string {
  switch (origin.from) {
    case "cli":
      return `${origin.flag} ${shellWord(origin.text)}`;
    case "config":
      return `${origin.where} ${asJson(origin.value)}`;
    case "library":
      return `The \`${origin.key}\` option`;
  }
}

/** The option the error is about, for NsboxError.option: the flag as typed, or the library key. */
export function optionOf(origin: Origin): string | undefined {
  return origin.from === "cli" ? origin.flag : origin.from === "library" ? origin.key : undefined;
}

/** One line naming the origin, the value and the mistake. */
export function attribute(origin: Origin, p: Problem, hint?: string): NsboxError {
  let message: string;
  if (p.expected !== undefined && origin.from === "library") message = `The \`${origin.key}\` option must be ${p.expected}, got ${shown(origin.value)}`;
  else if (p.expected !== undefined && origin.from === "config") message = `${origin.where}: must be ${p.expected}, got ${asJson(origin.value)}`;
  else if (origin.from === "library") {
    const v = origin.value;
    message = `The \`${origin.key}\` option${typeof v === "object" && v !== null ? "" : ` ${shown(v)}`}: ${p.message}`;
  }
  else message = `${originText(origin)}: ${p.message}`;
  return new NsboxError("BAD_OPTION", message, { option: optionOf(origin), hint, cause: p });
}
