// src/options/defs.ts: every option defined once; the flag view (SANDBOX_OPTIONS), the library's
// checks and the schema all come from it.
import { describe, expect, it } from "bun:test";
import { SANDBOX_OPTIONS } from "../src/options/defs.ts";
import { OPTION_DEFS, optionDef } from "../src/options/defs.ts";
import { LIBRARY_CHECKS } from "../src/options/library.ts";
import { configSchema } from "../src/config-schema.ts";

describe("given the option definitions", () => {
  it("the flag view has exactly the defined options, with what the parser reads", () => {
    expect(Object.keys(SANDBOX_OPTIONS)).toEqual([...OPTION_DEFS.keys()]);
    expect(SANDBOX_OPTIONS.verbose).toMatchObject({ type: "boolean", alias: "v" });
    expect(SANDBOX_OPTIONS.ro).toMatchObject({ type: "string", valueHint: "PATH", repeatable: true });
  });

  it("each fills a SandboxOptions key the library checks too", () => {
    for (const [name, def] of OPTION_DEFS) expect([name, LIBRARY_CHECKS.has(def.key)]).toEqual([name, true]);
  });

  it("no prototype lookups: Object's member names are not options", () => {
    for (const name of ["constructor", "__proto__", "toString", "valueOf", "hasOwnProperty"]) {
      expect(optionDef(name)).toBeUndefined();
      expect(SANDBOX_OPTIONS[name]).toBeUndefined();
    }
  });

  it("a number in a config file only where the option takes one; the schema says the same", () => {
    const numeric = [...OPTION_DEFS].filter(([, d]) => d.numeric).map(([n]) => n);
    expect(numeric).toEqual(["uid", "gid", "timeout", "memory", "pids"]);
    const props = (configSchema() as { properties: { profiles: { additionalProperties: { properties: Record<string, { type?: unknown; oneOf?: { type: unknown }[] }> } } } }).properties.profiles.additionalProperties.properties;
    expect(props.uid!.type).toEqual(["string", "number"]);
    expect(props.hostname!.type).toBe("string");
    expect(props.tmpfs!.oneOf![0]!.type).toBe("string");
  });
});
