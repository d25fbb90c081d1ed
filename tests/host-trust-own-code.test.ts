// Host trust: nsbox's own code (its sources, bin, Bun configuration and the packages it imports)
// is read-only inside a sandbox whose writable share holds it, e.g. `nsbox -- bash` started in
// nsbox's checkout as the README's first command does. The next nsbox start would run it.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT, cleanedUp, collect, nsbox, readableCheckout, scratchIn } from "./helpers.ts";

setDefaultTimeout(60_000);
const made = cleanedUp();

/** A fresh project with nsbox added from `bun pm pack`'s tarball (`add` flags: e.g. --linker isolated). Fetches consola and dns-packet into a private cache. */
async function installedIn(flags: string[]): Promise<{ project: string; env: Record<string, string | undefined> }> {
  const work = scratchIn(made);
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`, BUN_INSTALL_CACHE_DIR: join(work, "cache") };
  const dest = join(work, "pack");
  mkdirSync(dest);
  expect(await collect([process.execPath, "pm", "pack", "--destination", dest, "--quiet"], { cwd: ROOT, env })).toMatchObject({ exitCode: 0 });
  const project = join(work, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-nsbox", private: true }));
  const tarball = join(dest, readdirSync(dest).find((f) => f.endsWith(".tgz"))!);
  expect(await collect([process.execPath, "add", ...flags, tarball], { cwd: project, env })).toMatchObject({ exitCode: 0 });
  return { project, env };
}

describe("nsbox's own code in a writable share", () => {
  it("cannot be changed from inside; another file of the same share can (the control)", async () => {
    const probe = `.own-code-probe-${process.pid}`;
    try {
      const r = await nsbox(["--", "sh", "-c", [
        // dist/: the build bin/nsbox loads (scripts/test makes it before the suite).
        // scripts/build.ts: package.json's `prepare` runs it at the next `bun install`.
        // node/: what Node loads for import "nsbox"; bun.lock: what `bun install` installs.
        "for f in src/cli.ts bin/nsbox package.json tsconfig.json bunfig.toml node_modules/consola/package.json dist/nsbox.js dist/nsbox.js.jsc scripts/build.ts node/index.mjs bun.lock; do",
        // access(W_OK) answers EROFS for a read-only mount, without changing the file.
        "  if test -w \"$f\"; then echo \"writable $f\"; fi",
        "done",
        "touch src/new-file 2>/dev/null && rm src/new-file && echo 'created src/new-file'",
        "touch dist/new-file 2>/dev/null && rm dist/new-file && echo 'created dist/new-file'",
        `touch ${probe} && echo control-ok`,
      ].join("\n")], { cwd: ROOT });
      expect(r.stdout).toBe("control-ok\n");
      expect(r.exitCode).toBe(0);
      expect(existsSync(join(ROOT, probe))).toBe(true);
      expect(existsSync(join(ROOT, "src", "new-file"))).toBe(false);
      expect(existsSync(join(ROOT, "dist", "nsbox.js"))).toBe(true);
    } finally {
      rmSync(join(ROOT, probe), { force: true });
    }
  });

  it("a .env made in nsbox's checkout is moved aside after the run: `bun install` and `bun run` there read it (LD_PRELOAD=) (control: another new file stays)", async () => {
    const copy = readableCheckout(made);
    const r = await collect([process.execPath, "--no-env-file", "--config=/dev/null", join(copy, "bin", "nsbox"), "--", "sh", "-c", "echo LD_PRELOAD=/x.so > .env && echo mine > notes && echo wrote"], { cwd: copy });
    expect(r).toMatchObject({ stdout: "wrote\n", exitCode: 0 });
    expect(r.stderr).toContain(`${copy}/.env was created inside the sandbox`);
    expect(existsSync(join(copy, ".env"))).toBe(false);
    expect(readFileSync(join(copy, "notes"), "utf8")).toBe("mine\n");
  });

  it("started inside nsbox's own code (its src/, dist/, bin/), the whole share is read-only (control: started in the checkout, a file of its own is written)", async () => {
    const copy = readableCheckout(made);
    const write = "touch probe 2>/dev/null && echo written || echo refused";
    for (const dir of ["src", "bin", "src/net"]) {
      const r = await collect([process.execPath, "--no-env-file", "--config=/dev/null", join(copy, "bin", "nsbox"), "--", "sh", "-c", write], { cwd: join(copy, dir) });
      expect(r, `${dir}: ${r.stderr}`).toMatchObject({ stdout: "refused\n", exitCode: 0 });
      expect(existsSync(join(copy, dir, "probe"))).toBe(false);
    }
    const control = await collect([process.execPath, "--no-env-file", "--config=/dev/null", join(copy, "bin", "nsbox"), "--", "sh", "-c", write], { cwd: copy });
    expect(control).toMatchObject({ stdout: "written\n", exitCode: 0 });
  });

  it("in a checkout without a build, dist/ is made empty before the sandbox starts and is read-only inside: nothing can be planted for bin/nsbox to load (control: another new directory is made)", async () => {
    const copy = readableCheckout(made);
    expect(existsSync(join(copy, "dist"))).toBe(false);
    const planted = "mkdir -p dist distx; (echo 'require(\"node:fs\").writeFileSync(\"pwned\", \"\")' > dist/nsbox.js) 2>/dev/null && echo planted || echo refused";
    const r = await collect([process.execPath, "--no-env-file", "--config=/dev/null", join(copy, "bin", "nsbox"), "--", "sh", "-c", planted], { cwd: copy });
    expect(r).toMatchObject({ stdout: "refused\n", exitCode: 0 });
    expect(readdirSync(join(copy, "dist"))).toEqual([]);
    expect(readdirSync(copy)).toContain("distx");
    made.push(join(copy, "pwned"));
  });

  it("in a project-local install, its build and the packages it loads (hoisted beside it) are read-only too (control: the project's own file)", async () => {
    const { project, env } = await installedIn([]);
    const own = ["node_modules/nsbox/dist/nsbox.js", "node_modules/nsbox/src/cli.ts", "node_modules/consola/package.json", "node_modules/dns-packet/package.json", "node_modules/@leichtgewicht/ip-codec/package.json"];
    for (const f of own) expect(existsSync(join(project, f))).toBe(true);
    const r = await collect(["./node_modules/.bin/nsbox", "--", "sh", "-c", [
      `for f in ${own.join(" ")}; do if test -w "$f"; then echo "writable $f"; fi; done`,
      "touch node_modules/nsbox/dist/new-file 2>/dev/null && echo 'created dist/new-file'",
      "touch package.json && echo control-ok",
    ].join("\n")], { cwd: project, env });
    expect(r).toMatchObject({ stdout: "control-ok\n", exitCode: 0 });
  });

  it("in the isolated layout (bun install --linker isolated), the project's node_modules/nsbox and .bin/nsbox links replaced inside are moved aside (control: the project's own file stays)", async () => {
    // nsbox really is in node_modules/.bun/nsbox@VER/node_modules/nsbox; node_modules/nsbox links
    // to it and node_modules/.bin/nsbox to ../nsbox/bin/nsbox: what the next start runs.
    const { project, env } = await installedIn(["--linker", "isolated"]);
    expect(lstatSync(join(project, "node_modules/nsbox")).isSymbolicLink()).toBe(true);
    expect(realpathSync(join(project, "node_modules/nsbox"))).toContain("/node_modules/.bun/nsbox@");
    const fake = "printf '#!/bin/sh\\necho PWNED\\n'";
    // dns-packet finds ip-codec through a link in its store entry, by name, while a sandbox runs:
    // the whole entry is read-only (control below: the project's own file is written).
    const codec = readdirSync(join(project, "node_modules/.bun")).find((e) => e.startsWith("dns-packet@"));
    expect(codec).toBeDefined();
    const link = `node_modules/.bun/${codec}/node_modules/@leichtgewicht/ip-codec`;
    expect(lstatSync(join(project, link)).isSymbolicLink()).toBe(true);
    const store = await collect(["./node_modules/.bin/nsbox", "--", "sh", "-c", `(rm ${link} && mkdir ${link}) 2>/dev/null && echo replaced || echo refused`], { cwd: project, env });
    expect(store).toMatchObject({ stdout: "refused\n", exitCode: 0 });
    expect(lstatSync(join(project, link)).isSymbolicLink()).toBe(true);
    // So are the links in nsbox's own store entry, by which it loads consola and dns-packet.
    const entry = readdirSync(join(project, "node_modules/.bun")).find((e) => e.startsWith("nsbox@"));
    const own = `node_modules/.bun/${entry}/node_modules/consola`;
    expect(lstatSync(join(project, own)).isSymbolicLink()).toBe(true);
    const mine = await collect(["./node_modules/.bin/nsbox", "--", "sh", "-c", `(rm ${own} && mkdir ${own}) 2>/dev/null && echo replaced || echo refused`], { cwd: project, env });
    expect(mine).toMatchObject({ stdout: "refused\n", exitCode: 0 });
    expect(lstatSync(join(project, own)).isSymbolicLink()).toBe(true);
    const r = await collect(["./node_modules/.bin/nsbox", "--", "sh", "-c", [
      `for f in node_modules/.bin/nsbox node_modules/nsbox; do rm -f $f && ${fake} > $f && chmod +x $f && echo "replaced $f"; done`,
      "echo mine > own-file",
    ].join("\n")], { cwd: project, env });
    // The payload could replace them (their directories are the project's, writable)...
    expect(r).toMatchObject({ stdout: "replaced node_modules/.bin/nsbox\nreplaced node_modules/nsbox\n", exitCode: 0 });
    // ...and nsbox moved both aside after the run, and said so.
    expect(r.stderr).toContain(`${project}/node_modules/nsbox was replaced inside the sandbox and the host would run it; moved it to nsbox.nsbox-blocked-`);
    expect(r.stderr).toContain(`${project}/node_modules/.bin/nsbox was replaced inside the sandbox and the host would run it; moved it to nsbox.nsbox-blocked-`);
    expect(existsSync(join(project, "node_modules/.bin/nsbox"))).toBe(false);
    expect(existsSync(join(project, "node_modules/nsbox"))).toBe(false);
    // The control: the project's own file, written the same way, stays.
    expect(readFileSync(join(project, "own-file"), "utf8")).toBe("mine\n");
  });
});
