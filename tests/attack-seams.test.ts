// Attacks on the seams between the parts of host-side trust (issue 11): trust x protected files,
// trust x files a profile names, the current-directory rule x $HOME's links, and the like.
import { afterAll, describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { homeIn, nsbox, scratchIn } from "./helpers.ts";

setDefaultTimeout(60_000);
const made: string[] = [];
afterAll(() => {
  for (const p of made) rmSync(p, { recursive: true, force: true });
});

/**
 * A home whose ~/.config links into a plain (not hidden) ~/dotfiles, as GNU stow and most
 * dotfiles managers set it up, and a hostile project whose profile writes the real home.
 */
function dotfilesHome() {
  const home = homeIn(made);
  const dotfiles = join(home, "dotfiles");
  mkdirSync(join(dotfiles, "config"), { recursive: true });
  symlinkSync("dotfiles/config", join(home, ".config"));
  const evil = scratchIn(made);
  const config = { profiles: { x: { rw: ["~"] } } };
  writeFileSync(join(evil, "nsbox.json"), JSON.stringify(config));
  const env: Record<string, string | undefined> = { ...process.env, HOME: home };
  delete env.XDG_CONFIG_HOME;
  // What `nsbox trust` would record for the hostile file: a payload knows the format.
  const forged = {
    files: {
      [join(evil, "nsbox.json")]: {
        sha256: new Bun.CryptoHasher("sha256").update(JSON.stringify(config)).digest("hex"),
        trusted: new Date().toISOString(),
        loosens: [`profiles.x.rw "~": writes ${home}, outside the project`],
      },
    },
  };
  writeFileSync(join(dotfiles, "forged.json"), JSON.stringify(forged));
  return { home, dotfiles, evil, env };
}

describe("the trust store reached through a share: ~/.config -> dotfiles/config, nsbox run in ~/dotfiles", () => {
  const plant = "mkdir -p config/nsbox && cp forged.json config/nsbox/trusted.json";
  const loose = ["-p", "x", "--", "sh", "-c", "echo pwned > ~/pwned"];

  it("the run in ~/dotfiles is refused: ~/.config leads into it (the rule for ~/.config itself)", async () => {
    const d = dotfilesHome();
    const r = await nsbox(["--", "sh", "-c", plant], { cwd: d.dotfiles, env: d.env });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain(`not sharing the current directory ${d.dotfiles}: ${d.home}/.config leads into it`);
    expect(r.stderr).toContain(`--rw ${d.dotfiles}`);
    expect(existsSync(join(d.dotfiles, "config/nsbox"))).toBe(false);
    const next = await nsbox(loose, { cwd: d.evil, env: d.env });
    expect(next.exitCode).toBe(125);
    expect(next.stderr).toContain("is not trusted");
    expect(existsSync(join(d.home, "pwned"))).toBe(false);
  });

  it("with --rw ~/dotfiles, a new store the payload makes is moved aside after the run", async () => {
    const d = dotfilesHome();
    const r = await nsbox(["--rw", d.dotfiles, "--", "sh", "-c", `cd ${d.dotfiles} && ${plant} && echo ok > config/other`], { cwd: d.dotfiles, env: d.env });
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(d.dotfiles, "config/nsbox/trusted.json"))).toBe(false);
    expect(readFileSync(join(d.dotfiles, "config/other"), "utf8")).toBe("ok\n");
    expect((await nsbox(loose, { cwd: d.evil, env: d.env })).exitCode).toBe(125);
    expect(existsSync(join(d.home, "pwned"))).toBe(false);
  });

  it("with --rw ~/dotfiles, a store that exists is read-only inside; the rest of ~/dotfiles stays writable", async () => {
    const d = dotfilesHome();
    mkdirSync(join(d.dotfiles, "config/nsbox"), { mode: 0o700 });
    writeFileSync(join(d.dotfiles, "config/nsbox/trusted.json"), '{"files":{}}', { mode: 0o600 });
    const r = await nsbox(["--rw", d.dotfiles, "--", "sh", "-c", `cd ${d.dotfiles}; cp forged.json config/nsbox/trusted.json; echo ok > config/other`], { cwd: d.dotfiles, env: d.env });
    expect(r.stderr).toContain("Read-only file system");
    expect(readFileSync(join(d.dotfiles, "config/nsbox/trusted.json"), "utf8")).toBe('{"files":{}}');
    expect(readFileSync(join(d.dotfiles, "config/other"), "utf8")).toBe("ok\n");
    expect((await nsbox(loose, { cwd: d.evil, env: d.env })).exitCode).toBe(125);
  });

  it("control: the store written on the host (as `nsbox trust` does) is obeyed, so the forged one would be", async () => {
    const d = dotfilesHome();
    mkdirSync(join(d.dotfiles, "config/nsbox"), { mode: 0o700 });
    writeFileSync(join(d.dotfiles, "config/nsbox/trusted.json"), readFileSync(join(d.dotfiles, "forged.json")), { mode: 0o600 });
    const r = await nsbox(loose, { cwd: d.evil, env: d.env });
    expect(r).toMatchObject({ exitCode: 0 });
    expect(readFileSync(join(d.home, "pwned"), "utf8")).toBe("pwned\n");
  });
});
