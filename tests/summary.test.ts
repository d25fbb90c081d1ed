// src/options/summary.ts: a sandbox's options in command-line words, from the option definitions.
import { describe, expect, test } from "bun:test";
import { OPTION_DEFS } from "../src/options/defs.ts";
import { normalizeCommandLine } from "../src/options/sources.ts";
import { summarize } from "../src/options/summary.ts";

const words = (...args: [string, string | boolean][]) =>
  summarize(normalizeCommandLine(args.map(([name, value]) => ({ name, value, flag: `--${name}` })), undefined, "/", () => {}));

describe("summarize", () => {
  test("no options: defaults", () => {
    expect(summarize({})).toBe("defaults");
  });

  test("each option in command-line words, mounts as written, in the definitions' order", () => {
    expect(words(["net", "allow=example.com:443"], ["hostname", "web1"], ["rw", "./out"], ["cap-add", "CAP_NET_RAW"], ["timeout", "90s"], ["no-cwd", true]))
      .toBe("--hostname web1 --no-cwd --rw ./out --cap-add CAP_NET_RAW --timeout 90s --net allow=example.com:443");
  });

  test("env values are left out (they may be secrets); the name and -v are not options of the sandbox", () => {
    expect(words(["env", "TOKEN=hunter2"], ["name", "web"], ["verbose", true])).toBe("--env TOKEN=…");
  });

  test("a library object's mounts, written without an origin of the command line, are still shown", () => {
    expect(summarize({ mounts: [{ kind: "ro", source: "/data", target: "/data", origin: "The `mounts` option", option: "mounts" }] as never })).toBe("--ro /data:/data");
  });

  test("every option the definitions have is shown when set (a new one needs no line in summary.ts)", () => {
    const seen = new Set<string>();
    for (const [flag, def] of OPTION_DEFS) {
      if (def.key === "name" || def.key === "verbose" || def.key === "mounts" || seen.has(def.key)) continue;
      seen.add(def.key);
      const value = def.type === "boolean" ? true : def.key === "env" ? { A: "1" } : def.key === "timeout" ? 5000 : def.repeatable ? ["x"] : "x";
      expect(summarize({ [def.key]: value } as never)).toStartWith(`--${flag}`);
    }
  });
});
