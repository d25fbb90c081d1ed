// src/profiles.ts: extends chains checked once each (linear in the file), loops and depth named.
import { describe, expect, it } from "bun:test";
import { checkProfiles, resolveProfile, type ProfileDef } from "../src/profiles.ts";

const chain = (n: number, at = (i: number) => `p${i + 1}`): Record<string, ProfileDef> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i < n - 1 ? { extends: at(i) } : { hostname: "deep" }]));

describe("given a project's profiles", () => {
  it("32 deep is resolved (control); 33 deep is refused naming the chain", () => {
    expect(() => checkProfiles(chain(32), "f")).not.toThrow();
    expect(resolveProfile("p0", chain(32), "f").hostname).toBe("deep");
    expect(() => checkProfiles(chain(33), "f")).toThrow("f: profiles.p31.extends: profiles extend each other more than 32 deep: p0 → p1 → p2 → … → p32");
  });

  it("a loop is named, profile by profile", () => {
    expect(() => checkProfiles({ a: { extends: "b" }, b: { extends: "c" }, c: { extends: "a" } }, "f")).toThrow("profiles extend each other in a loop: a → b → c → a");
  });

  it("an unknown name is named with the key that gives it", () => {
    expect(() => checkProfiles({ a: { extends: "nope" } }, "f")).toThrow("f: profiles.a.extends: no profile named 'nope'");
  });

  it("20,000 profiles in chains of 30 are checked in one pass (the old check resolved every chain from each of its members)", () => {
    // p0 → p1 → … → p29, p30 → … : every profile extends the next unless it ends a group of 30.
    const defs = chain(20_000, (i) => ((i + 1) % 30 === 0 ? "test" : `p${i + 1}`));
    expect(() => checkProfiles(defs, "f")).not.toThrow();
  });

  it("a profile may extend the built-in of its own name; profile names like Object's members are names", () => {
    const project = Object.assign(Object.create(null), JSON.parse('{"test":{"extends":"test","hostname":"t"},"__proto__":{"hostname":"p"},"valueOf":{"hostname":"v"}}'));
    expect(() => checkProfiles(project, "f")).not.toThrow();
    expect(resolveProfile("__proto__", project, "f").hostname).toBe("p");
    expect(resolveProfile("valueOf", project, "f").hostname).toBe("v");
    expect(() => resolveProfile("toString", {}, "f")).toThrow("no profile named 'toString'");
  });
});
