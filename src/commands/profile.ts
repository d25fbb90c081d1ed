// nsbox profile show NAME [--json]: a profile's definition and the options it resolves to.
import { loadProjectConfig } from "../config.ts";
import { BUILTIN_PROFILES, resolveProfile } from "../profiles.ts";
import { HELP, type CommandDef } from "../cli-args.ts";

function show({ args }: { args: Record<string, unknown> }): number {
  const json = args.json === true;
  const name = args.profile as string;
  const config = loadProjectConfig(process.cwd(), true, (m) => void process.stderr.write(`nsbox: ${m}\n`));
  const def = config && Object.hasOwn(config.profiles, name) ? config.profiles[name] : BUILTIN_PROFILES[name];
  const options = resolveProfile(name, config?.profiles, config?.file, config?.root, "nsbox profile show");
  if (json) process.stdout.write(JSON.stringify({ name, definition: def, options }, null, 2) + "\n");
  else {
    const where = config && Object.hasOwn(config.profiles, name) ? config.file : "built in";
    const lines = [`${name} (${where})`, def?.description ? `  ${def.description}` : ""];
    for (const [key, value] of Object.entries(def ?? {})) {
      if (key === "description") continue;
      for (const v of [value].flat()) lines.push(key === "extends" ? `  extends ${v}` : `  --${key}${v === true ? "" : ` ${v}`}`);
    }
    // The project's text (description, values) with control characters escaped: no terminal escapes from a file.
    const shown = lines.filter(Boolean).map((l) => l.replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
    process.stdout.write(shown.join("\n") + "\n");
  }
  return 0;
}


const showCommand = {
  meta: { name: "show", description: "Print a profile's definition and the options it resolves to" },
  args: {
    profile: { type: "positional", valueHint: "NAME", required: true, description: "A built-in profile (default, test, install, shell) or one in nsbox.json / package.json#nsbox" },
    json: { type: "boolean", description: "Print JSON" },
    help: HELP,
  },
  run: show,
} satisfies CommandDef;

export default {
  meta: { name: "profile", description: "Print a profile's options" },
  args: { json: { type: "boolean", description: "Print JSON" }, help: HELP },
  subCommands: { show: async () => showCommand },
} satisfies CommandDef;
