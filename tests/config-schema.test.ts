// The shipped JSON Schema for nsbox.json is the one the option table produces, and the package ships it.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { configSchema } from "../src/config-schema.ts";
import { ROOT } from "./helpers.ts";

test("schema/nsbox.schema.json is current (regenerate: bun src/config-schema.ts > schema/nsbox.schema.json)", () => {
  const shipped = JSON.parse(readFileSync(join(ROOT, "schema/nsbox.schema.json"), "utf8"));
  expect(shipped).toEqual(configSchema());
});

test("the package ships the schema", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  expect(pkg.files).toContain("schema");
});

test("every sandbox option has a schema entry, with --ro as string or list", () => {
  const profile = (configSchema() as any).properties.profiles.additionalProperties.properties;
  expect(Object.keys(profile)).toEqual(expect.arrayContaining(["ro", "rw", "tmpfs", "overlay", "uid", "hostname", "env", "extends"]));
  expect(profile.ro.oneOf[1].type).toBe("array");
});
