// nsbox profile show NAME [--json]: a profile's definition and the options it resolves to.
import { loadProjectConfig } from "../config.ts";
import { NsboxError } from "../errors.ts";
import { BUILTIN_PROFILES, resolveProfile } from "../profiles.ts";
import { parseSubArgs } from "./args.ts";

const USAGE = "nsbox profile show NAME [--json]";

export function run(args: string[], outer: Map<string, string | boolean>): number {
  const { flags, positional } = parseSubArgs(args, { json: { type: "boolean" } }, USAGE, outer);
  const json = flags.get("json") === true;
  const [verb, name] = positional;
  if (verb !== "show" || !name) throw new NsboxError("BAD_OPTION", `usage: ${USAGE}`);
  const config = loadProjectConfig(process.cwd(), true, (m) => void process.stderr.write(`nsbox: ${m}\n`));
  const def = config && Object.hasOwn(config.profiles, name) ? config.profiles[name] : BUILTIN_PROFILES[name];
  const options = resolveProfile(name, config?.profiles, config?.file, config?.root);
  if (json) process.stdout.write(JSON.stringify({ name, definition: def, options }, null, 2) + "\n");
  else {
    const where = config && Object.hasOwn(config.profiles, name) ? config.file : "built in";
    const lines = [`${name} (${where})`, def?.description ? `  ${def.description}` : ""];
    for (const [key, value] of Object.entries(def ?? {})) {
      if (key === "description") continue;
      for (const v of [value].flat()) lines.push(key === "extends" ? `  extends ${v}` : `  --${key}${v === true ? "" : ` ${v}`}`);
    }
    // The project's text (description, values) with control characters escaped: no terminal escapes from a file.
    const shown = lines.filter(Boolean).map((l) => l.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
    process.stdout.write(shown.join("\n") + "\n");
  }
  return 0;
}

