// The sandbox options as command-line flags, by flag name: the view the argument parser, the help
// and the JSON Schema read. The options themselves are defined in src/options/defs.ts.
import { OPTION_DEFS } from "./options/defs.ts";

export { applyConfigValue } from "./options/normalize.ts";

/** What the parser and the help need of one option. */
export interface OptionFlag {
  type: "string" | "boolean";
  description: string;
  valueHint?: string;
  alias?: string;
  /** May be given more than once; each value is applied in turn. */
  repeatable?: boolean;
  /** A config file may give it as a JSON number. */
  numeric?: boolean;
}

/**
 * Every sandbox option by its command-line name (without `--`), in help order. A null-prototype
 * object: `SANDBOX_OPTIONS["constructor"]` is undefined, not Object's.
 */
export const SANDBOX_OPTIONS: Readonly<Record<string, OptionFlag>> = Object.assign(
  Object.create(null) as Record<string, OptionFlag>,
  Object.fromEntries(
    [...OPTION_DEFS].map(([name, d]) => [name, { type: d.type, description: d.description, valueHint: d.valueHint, alias: d.alias, repeatable: d.repeatable, numeric: d.numeric }]),
  ),
);
