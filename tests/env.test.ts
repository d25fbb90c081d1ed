// The payload's environment: secrets scrubbed, --keep-env, --env, --clear-env, HOME and PWD.
import { describe, expect, it } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { nsbox, cleanedUp, scratchIn, homeIn } from "./helpers.ts";

const made = cleanedUp();
const scratch = () => scratchIn(made);
/** A stand-in $HOME, not containing any scratch directory. */
function fakeHome(): string {
  const home = homeIn(made);
  return home;
}

const SECRETS: Record<string, string> = {
  GITHUB_TOKEN: "ghp_nsboxtestgithubtoken",
  AWS_SECRET_ACCESS_KEY: "nsbox-test-aws-secret",
  NPM_CONFIG__AUTH: "nsbox-test-npm-auth",
  MY_PASSWORD: "nsbox-test-password",
  SSH_AUTH_SOCK: "/tmp/nsbox-test-agent.sock",
  SOME_API_KEY: "nsbox-test-api-key",
};

/** The caller's environment plus the secrets, a harmless FOO, and the given HOME. */
function callerEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { ...process.env, ...SECRETS, FOO: "bar", HOME: home, ...extra };
}

/** Run `env -0` inside and return the environment it saw. */
async function envInside(args: string[], opts: { cwd: string; env: Record<string, string | undefined> }) {
  const r = await nsbox([...args, "--", "env", "-0"], opts);
  expect(r.exitCode).toBe(0);
  const env: Record<string, string> = {};
  for (const entry of r.stdout.split("\0").filter(Boolean)) {
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { env, raw: r.stdout, stderr: r.stderr };
}

describe("given secrets in the caller's environment", () => {
  it("drops every one of them and keeps the harmless FOO", async () => {
    const cwd = scratch();
    const { env, raw } = await envInside([], { cwd, env: callerEnv(fakeHome()) });
    expect(env.FOO).toBe("bar");
    for (const name of Object.keys(SECRETS)) expect(env).not.toHaveProperty(name);
    // Not under another name either.
    for (const value of Object.values(SECRETS)) expect(raw).not.toContain(value);
  });

  it("keeps the harmless rest of the caller's environment", async () => {
    const cwd = scratch();
    const { env } = await envInside([], { cwd, env: callerEnv(fakeHome(), { LANG: "C.UTF-8", EDITOR: "vi" }) });
    expect(env).toMatchObject({ LANG: "C.UTF-8", EDITOR: "vi", FOO: "bar", PATH: process.env.PATH! });
  });

  it("keeps only what --keep-env names", async () => {
    const cwd = scratch();
    const { env } = await envInside(["--keep-env", "GITHUB_TOKEN", "--keep-env", "SSH_AUTH_SOCK"], { cwd, env: callerEnv(fakeHome()) });
    expect(env).toMatchObject({ GITHUB_TOKEN: SECRETS.GITHUB_TOKEN, SSH_AUTH_SOCK: SECRETS.SSH_AUTH_SOCK, FOO: "bar" });
    for (const name of ["AWS_SECRET_ACCESS_KEY", "NPM_CONFIG__AUTH", "MY_PASSWORD", "SOME_API_KEY"]) {
      expect(env).not.toHaveProperty(name);
    }
  });

  it("names what it dropped with --verbose, never their values", async () => {
    const r = await nsbox(["--verbose", "--", "true"], { cwd: scratch(), env: callerEnv(fakeHome()) });
    expect(r.exitCode).toBe(0);
    const line = r.stderr.split("\n").find((l) => l.includes("dropped from the environment"));
    expect(line).toBeDefined();
    for (const name of Object.keys(SECRETS)) expect(line).toContain(name);
    expect(line).not.toContain("FOO");
    for (const value of Object.values(SECRETS)) expect(r.stderr).not.toContain(value);
  });

  it("cannot read them back through the sandbox's PID 1", async () => {
    const r = await nsbox(["--", "sh", "-c", "cat /proc/1/environ; cat /proc/1/cmdline; true"], { cwd: scratch(), env: callerEnv(fakeHome()) });
    expect(r.exitCode).toBe(0);
    for (const value of Object.values(SECRETS)) expect(r.stdout).not.toContain(value);
  });
});

describe("when --env is given", () => {
  it("sets the variables, the value taken whole after the first =", async () => {
    const { env } = await envInside(["--env", "A=b", "--env", "URL=x=y&z", "--env", "EMPTY="], { cwd: scratch(), env: callerEnv(fakeHome()) });
    expect(env).toMatchObject({ A: "b", URL: "x=y&z", EMPTY: "", FOO: "bar" });
  });

  it("overrides the caller's value, and sets even a name that looks like a secret", async () => {
    const { env } = await envInside(["--env", "FOO=baz", "--env", "GITHUB_TOKEN=given-on-purpose"], { cwd: scratch(), env: callerEnv(fakeHome()) });
    expect(env).toMatchObject({ FOO: "baz", GITHUB_TOKEN: "given-on-purpose" });
  });

  it("refuses a malformed assignment", async () => {
    const r = await nsbox(["--env", "NOEQUALS", "--", "true"], { cwd: scratch(), env: callerEnv(fakeHome()) });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/--env/);
  });
});

describe("when --clear-env is given", () => {
  it("leaves only PATH, HOME, PWD and TERM", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const { env } = await envInside(["--clear-env"], { cwd, env: callerEnv(home, { TERM: "xterm-nsbox" }) });
    expect(env).toEqual({ PATH: process.env.PATH!, HOME: home, PWD: cwd, TERM: "xterm-nsbox" });
  });

  it("leaves no TERM when the caller has none", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const { env } = await envInside(["--clear-env"], { cwd, env: callerEnv(home, { TERM: undefined }) });
    expect(Object.keys(env).sort()).toEqual(["HOME", "PATH", "PWD"]);
  });

  it("adds the --env ones", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const { env } = await envInside(["--clear-env", "--env", "A=b"], { cwd, env: callerEnv(home, { TERM: "xterm-nsbox" }) });
    expect(env).toEqual({ PATH: process.env.PATH!, HOME: home, PWD: cwd, TERM: "xterm-nsbox", A: "b" });
  });
});

describe("HOME and PWD", () => {
  it("are the inside home and the start directory, which the payload really is in", async () => {
    const cwd = scratch();
    const home = fakeHome();
    const r = await nsbox(["--", "sh", "-c", 'echo "$HOME"; echo "$PWD"; pwd -P; cd && pwd -P'], { cwd, env: callerEnv(home, { OLDPWD: "/somewhere/else" }) });
    expect(r).toMatchObject({ stdout: `${home}\n${cwd}\n${cwd}\n${home}\n`, exitCode: 0 });
  });

  it("drop a stale OLDPWD and replace the caller's PWD", async () => {
    const { env } = await envInside([], { cwd: scratch(), env: callerEnv(fakeHome(), { OLDPWD: "/somewhere/else", PWD: "/not/here" }) });
    expect(env).not.toHaveProperty("OLDPWD");
    expect(env.PWD).not.toBe("/not/here");
  });

  it("are both the home when the sandbox starts in it, because the current directory was not shared", async () => {
    const cwd = scratch();
    const home = join(cwd, "home");
    mkdirSync(home);
    const r = await nsbox(["--", "sh", "-c", 'echo "$HOME"; echo "$PWD"; pwd -P'], { cwd, env: callerEnv(home) });
    expect(r).toMatchObject({ stdout: `${home}\n${home}\n${home}\n`, exitCode: 0 });
    expect(r.stderr).toMatch(/not sharing/);
  });
});
