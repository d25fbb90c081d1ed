// The JSON Schema of nsbox.json (and package.json#nsbox), derived from the option table so that
// editors complete exactly the options the command line takes. schema/nsbox.schema.json is
// this function's output; tests/config-schema.test.ts keeps the two equal.
import { SANDBOX_OPTIONS } from "./options/defs.ts";

export function configSchema(): object {
  const option = (name: string) => {
    const def = SANDBOX_OPTIONS[name]!;
    const description = `--${name}${def.valueHint ? ` ${def.valueHint}` : ""}: ${def.description}`;
    if (def.type === "boolean") return { type: "boolean", description };
    const one = def.numeric ? { type: ["string", "number"] } : { type: "string" };
    return def.repeatable ? { description, oneOf: [one, { type: "array", items: one }] } : { ...one, description };
  };
  const profile = {
    type: "object",
    additionalProperties: false,
    properties: {
      description: { type: "string", description: "What the profile is for (shown by nsbox profile show)" },
      extends: { type: "string", description: "A profile whose options come first: default, test, install, shell, or one of this file's" },
      ...Object.fromEntries(Object.keys(SANDBOX_OPTIONS).map((name) => [name, option(name)])),
    },
  };
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "nsbox project config",
    description: "nsbox.json, or the nsbox key of package.json: named profiles with the same option names as the command line (nsbox -p NAME)",
    type: "object",
    additionalProperties: false,
    properties: {
      $schema: { type: "string" },
      profiles: { type: "object", additionalProperties: profile },
    },
  };
}

if (import.meta.main) process.stdout.write(JSON.stringify(configSchema(), null, 2) + "\n");
