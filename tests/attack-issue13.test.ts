// Attacks on issue 13's features (toolchains in $HOME, git identity, passed descriptors, /sys,
// id maps), each with its control: the same action where nsbox's protection does not apply.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanedUp, homeIn, nsbox } from "./helpers.ts";

setDefaultTimeout(120_000);

const made = cleanedUp();

describe("given a project whose bin on PATH is a link into the user's private data", () => {
  /** A home with a browser profile (not a tool) and a project in ~/src/proj whose `bin` links to it. */
  function plantedHome() {
    const home = homeIn(made);
    const h = (rel: string) => join(home, rel);
    mkdirSync(h(".config/chromium/Default"), { recursive: true });
    writeFileSync(h(".config/chromium/Default/Cookies"), "SECRET\n");
    mkdirSync(h("src/proj"), { recursive: true });
    symlinkSync(h(".config/chromium"), h("src/proj/bin"));
    return { home, h };
  }
  const script = "cat ~/.config/chromium/Default/Cookies 2>/dev/null || echo hidden";

  it("the link is not followed, run in the project or elsewhere (controls: it leads to SECRET outside; the same link in a tool's dot-directory is followed)", async () => {
    const { h } = plantedHome();
    expect(readFileSync(h("src/proj/bin/Default/Cookies"), "utf8")).toBe("SECRET\n");
    const env = { ...process.env, HOME: h(""), PATH: `${h("src/proj/bin")}:/usr/bin:/bin` };
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("src/proj"), env })).toMatchObject({ stdout: "hidden\n", exitCode: 0 });
    mkdirSync(h("elsewhere"));
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("elsewhere"), env })).toMatchObject({ stdout: "hidden\n", exitCode: 0 });
    // Control: the same link where the user's tools put theirs is followed (so the test sees a share when there is one).
    mkdirSync(h(".tools"));
    symlinkSync(h(".config/chromium"), h(".tools/current"));
    const tools = { ...env, PATH: `${h(".tools/current")}:/usr/bin:/bin` };
    expect(await nsbox(["--", "sh", "-c", script], { cwd: h("elsewhere"), env: tools })).toMatchObject({ stdout: "SECRET\n", exitCode: 0 });
  });
});
