// The sandbox's identity seen from inside: its host name resolves (/etc/hosts, /etc/hostname), and git knows who commits, and nothing else of the user's git configuration.
import { describe, expect, it } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostsFile } from "../src/plan/etc-files.ts";
import { parseGitConfig } from "../src/plan/git-config.ts";
import { cleanedUp, collect, homeIn, nsbox, scratchIn } from "./helpers.ts";

const made = cleanedUp();
const scratch = () => scratchIn(made);

/** Run `script` in a sandbox with `extra` options; `env` replaces variables of the caller's. */
const inside = (script: string, extra: string[] = [], env: Record<string, string | undefined> = {}, cwd = scratch()) =>
  nsbox([...extra, "--", "sh", "-c", script], { cwd, env: { ...process.env, ...env } });

const RESOLVE = `python3 -c 'import socket; n = socket.gethostname(); print(n, socket.gethostbyname(n), socket.getaddrinfo(n, None)[0][4][0], socket.getfqdn())'`;

describe("given the default sandbox", () => {
  describe("when a program resolves the host name", () => {
    it("finds it: Python's gethostbyname(gethostname()), hostname -f, getent", async () => {
      const r = await inside(`${RESOLVE}; hostname -f; getent hosts "$(hostname)"; cat /etc/hostname`);
      expect(r).toMatchObject({ stdout: "nsbox 127.0.1.1 127.0.1.1 nsbox\nnsbox\n127.0.1.1       nsbox\nnsbox\n", exitCode: 0 });
    });

    // Java's own resolver path (getaddrinfo with AI_CANONNAME); where no JDK is installed there is nothing to run.
    it.skipIf(!Bun.which("java"))("finds it for Java's InetAddress.getLocalHost(), with --hostname too (the control: a hosts file without the name)", async () => {
      const cwd = scratch();
      writeFileSync(join(cwd, "Local.java"), "public class Local { public static void main(String[] a) throws Exception { var h = java.net.InetAddress.getLocalHost(); System.out.println(h.getHostName() + \" \" + h.getHostAddress() + \" \" + h.getCanonicalHostName()); } }\n");
      const r = await inside("java Local.java", ["--hostname", "web1.example.test"], {}, cwd);
      expect(r).toMatchObject({ stdout: "web1.example.test 127.0.1.1 web1.example.test\n", exitCode: 0 });
      writeFileSync(join(cwd, "hosts"), "127.0.0.1 localhost\n");
      const control = await inside("java Local.java", ["--file", `/etc/hosts:${join(cwd, "hosts")}`], {}, cwd);
      expect(control.stderr).toContain("java.net.UnknownHostException: nsbox");
    });

    it("failed the same way before nsbox wrote /etc/hosts (the control: a hosts file without the name)", async () => {
      const hosts = join(scratch(), "hosts");
      writeFileSync(hosts, "127.0.0.1 localhost\n::1 localhost\n");
      const r = await inside(`${RESOLVE} 2>&1 | tail -n 1; hostname -f`, ["--file", `/etc/hosts:${hosts}`]);
      // The sandbox's resolver (src/net/resolver.ts) answers NXDOMAIN at once under --net none.
      expect(r.stdout).toContain("Name or service not known");
      expect(r.exitCode).not.toBe(0);
    });
  });

  it("shows its own /etc/hosts: localhost for IPv4 and IPv6 and the sandbox's name, none of the host's other names", async () => {
    const r = await inside("cat /etc/hosts");
    expect(r).toMatchObject({ stdout: hostsFile("nsbox"), exitCode: 0 });
    expect(r.stdout).toContain("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  });

  it("resolves localhost over IPv4 and IPv6", async () => {
    // getent ahosts (AF_UNSPEC): ahostsv4 and ahostsv6 add AI_ADDRCONFIG, which glibc answers with
    // nothing where only loopback addresses exist, whatever /etc/hosts says (as under docker --network none).
    const r = await inside("getent ahosts localhost | awk '$2 == \"STREAM\" { print $1 }' | LC_ALL=C sort");
    expect(r).toMatchObject({ stdout: "127.0.0.1\n::1\n", exitCode: 0 });
  });

  describe("when the host's name service asks other sources first", () => {
    // The modules the sandbox cannot reach (systemd-resolved, machined, avahi) answer "unavailable",
    // and dns finds no server: files still answers. Modules the host lacks are skipped the same way.
    for (const hosts of ["dns files", "mymachines resolve [!UNAVAIL=return] files myhostname dns", "mdns4_minimal [NOTFOUND=return] dns files", "files myhostname"]) {
      it(`still resolves it with hosts: ${hosts}`, async () => {
        const nsswitch = join(scratch(), "nsswitch.conf");
        writeFileSync(nsswitch, `passwd: files\ngroup: files\nhosts: ${hosts}\n`);
        const r = await inside(`${RESOLVE}; hostname -f; getent hosts "$(hostname)"`, ["--file", `/etc/nsswitch.conf:${nsswitch}`, "--hostname", "box"]);
        expect(r).toMatchObject({ stdout: "box 127.0.1.1 127.0.1.1 box\nbox\n127.0.1.1       box\n", exitCode: 0 });
      });
    }
  });
});

describe("given --hostname", () => {
  it("names the sandbox the same way in uname, /etc/hostname and /etc/hosts; a dotted name is the full name, its first label the short one", async () => {
    const r = await inside(`hostname; cat /etc/hostname; hostname -f; hostname -s; grep 127.0.1.1 /etc/hosts; ${RESOLVE}`, ["--hostname", "web1.example.test"]);
    expect(r).toMatchObject({
      stdout: "web1.example.test\nweb1.example.test\nweb1.example.test\nweb1\n127.0.1.1\tweb1.example.test web1\nweb1.example.test 127.0.1.1 127.0.1.1 web1.example.test\n",
      exitCode: 0,
    });
  });

  it("keeps the host's names with --net host, after the sandbox's own (the network is the host's, so they point where they do outside)", async () => {
    const host = readFileSync("/etc/hosts", "utf8");
    const r = await inside(`cat /etc/hosts; ${RESOLVE}`, ["--net", "host", "--hostname", "box"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.startsWith(hostsFile("box", host))).toBe(true);
    expect(r.stdout).toEndWith("box 127.0.1.1 127.0.1.1 box\n");
  });
});

/** A stand-in home with the git configuration a developer has: identity, and what must stay outside. */
function fakeHome(gitconfig: string, xdg?: string): string {
  const home = homeIn(made);
  writeFileSync(join(home, ".gitconfig"), gitconfig);
  writeFileSync(join(home, ".gitconfig.local"), "[credential]\n\thelper = store --file /secret/included-helper\n[user]\n\tsigningkey = INCLUDED-KEY\n");
  if (xdg !== undefined) {
    mkdirSync(join(home, ".config/git"), { recursive: true });
    writeFileSync(join(home, ".config/git/config"), xdg);
  }
  return home;
}

const DEVELOPER = [
  "# a developer's ~/.gitconfig",
  "[User]",
  '\tName = "Ada Lovelace"   ; the name',
  "[credential]",
  "\thelper = store --file /secret/git-credentials",
  '[url "https://x-access-token:ghp_SECRETTOKEN0123456789@github.com/"]',
  "\tinsteadOf = https://github.com/",
  "[include]",
  "\tpath = ~/.gitconfig.local",
  "[alias]",
  "\tpwn = !touch /tmp/pwned",
  "",
].join("\n");
const XDG = "[user]\n\tname = Overridden By ~/.gitconfig\n\temail = ada@example.test\n[core]\n\tpager = less-secret-pager\n";
const SECRETS = ["SECRETTOKEN", "/secret/", "INCLUDED-KEY", "gitconfig.local", "pwned", "less-secret-pager"];
/** The caller's own git settings out of the way: only the stand-in home speaks. */
const gitEnv = (home: string, more: Record<string, string | undefined> = {}) => ({ HOME: home, XDG_CONFIG_HOME: undefined, GIT_CONFIG_GLOBAL: undefined, GIT_CONFIG_NOSYSTEM: "1", ...more });
const COMMIT = "cd \"$(mktemp -d)\" && git init -q && git commit -q --allow-empty -m x && git log -1 --format='%an <%ae>|%cn <%ce>'";

describe("given the user's git configuration", () => {
  it("commits as the user: user.name from ~/.gitconfig, user.email from ~/.config/git/config (read first, so ~/.gitconfig wins)", async () => {
    const home = fakeHome(DEVELOPER, XDG);
    const r = await inside(COMMIT, [], gitEnv(home));
    expect(r).toMatchObject({ stdout: "Ada Lovelace <ada@example.test>|Ada Lovelace <ada@example.test>\n", exitCode: 0 });
  });

  it("passes no helper, token, include, alias or any other key (the control: outside, git lists them all)", async () => {
    const home = fakeHome(DEVELOPER, XDG);
    const list = "git config --list --show-origin; cat ~/.gitconfig";
    const outside = await collect(["sh", "-c", list], { cwd: scratch(), env: { ...process.env, ...gitEnv(home) } });
    for (const secret of SECRETS.filter((s) => s !== "INCLUDED-KEY" && s !== "/secret/")) expect(outside.stdout).toContain(secret);
    expect(outside.stdout).toContain("credential.helper=store --file /secret/git-credentials");
    const r = await inside(list, [], gitEnv(home));
    expect(r.exitCode).toBe(0);
    for (const secret of SECRETS) expect(r.stdout).not.toContain(secret);
    expect(r.stdout).toContain(`file:${home}/.gitconfig\tuser.name=Ada Lovelace\n`);
    expect(r.stdout).toContain(`file:${home}/.gitconfig\tuser.email=ada@example.test\n`);
    expect(r.stdout).not.toMatch(/credential|insteadof|include|alias/i);
  });

  it("reads $XDG_CONFIG_HOME/git/config when it is set, and never a relative one (it would be the project's)", async () => {
    const home = fakeHome("[user]\n\tname = Ada Lovelace\n");
    const xdg = join(home, "xdg");
    mkdirSync(join(xdg, "git"), { recursive: true });
    writeFileSync(join(xdg, "git/config"), "[user]\n\temail = xdg@example.test\n");
    expect(await inside(COMMIT, [], gitEnv(home, { XDG_CONFIG_HOME: xdg }))).toMatchObject({ stdout: "Ada Lovelace <xdg@example.test>|Ada Lovelace <xdg@example.test>\n", exitCode: 0 });
    const cwd = scratch();
    mkdirSync(join(cwd, "rel/git"), { recursive: true });
    writeFileSync(join(cwd, "rel/git/config"), "[user]\n\temail = planted@project.test\n");
    const r = await inside("git config --global user.email || echo none", [], gitEnv(home, { XDG_CONFIG_HOME: "rel" }), cwd);
    expect(r).toMatchObject({ stdout: "none\n", exitCode: 0 });
  });

  it("lets a repository's own user.email win, as at home", async () => {
    const home = fakeHome(DEVELOPER, XDG);
    const r = await inside(`${COMMIT.replace("git commit", "git config user.email local@repo.test && git commit")}`, [], gitEnv(home));
    expect(r).toMatchObject({ stdout: "Ada Lovelace <local@repo.test>|Ada Lovelace <local@repo.test>\n", exitCode: 0 });
  });

  it("reads $GIT_CONFIG_GLOBAL instead when the user set it, and points it at the sandbox's copy", async () => {
    const home = fakeHome("[user]\n\tname = Not Read\n");
    const global = join(home, "elsewhere.gitconfig");
    writeFileSync(global, "[user]\n\tname = Grace Hopper\n\temail = grace@example.test\n[credential]\n\thelper = /secret/helper\n");
    const r = await inside(`echo "$GIT_CONFIG_GLOBAL"; ${COMMIT}; git config --list | grep -c secret`, [], gitEnv(home, { GIT_CONFIG_GLOBAL: global }));
    expect(r.stdout).toBe(`${home}/.gitconfig\nGrace Hopper <grace@example.test>|Grace Hopper <grace@example.test>\n0\n`);
  });

  it("passes a name with quotes, backslashes, comment characters and UTF-8 exactly", async () => {
    const name = 'O"Brien \\ #1; ok — Zoë 漢字';
    const home = fakeHome(`[user]\n\tname = "O\\"Brien \\\\ #1; ok — Zoë 漢字"\n\temail = ob@example.test\n`);
    const outside = await collect(["git", "config", "--global", "user.name"], { cwd: scratch(), env: { ...process.env, ...gitEnv(home) } });
    expect(outside.stdout).toBe(`${name}\n`);
    const r = await inside("git config user.name", [], gitEnv(home));
    expect(r).toMatchObject({ stdout: `${name}\n`, exitCode: 0 });
  });

  it("cannot be made to inject a key: a name holding a newline and a [core] line is left out, with a note (the control: written as it reads, it would set core.fsmonitor)", async () => {
    const home = fakeHome('[user]\n\tname = "Eve\\n[core]\\n\\tfsmonitor = touch /tmp/pwned-by-name"\n\temail = eve@example.test\n');
    // The control: git reads the name as three lines, and a file that wrote it unescaped would run it.
    const env = { ...process.env, ...gitEnv(home) };
    const value = await collect(["git", "config", "--global", "user.name"], { cwd: scratch(), env });
    expect(value.stdout).toBe("Eve\n[core]\n\tfsmonitor = touch /tmp/pwned-by-name\n");
    const naive = join(scratch(), "naive");
    writeFileSync(naive, `[user]\n\tname = ${value.stdout}`);
    expect((await collect(["git", "config", "-f", naive, "core.fsmonitor"], { cwd: scratch(), env })).stdout).toBe("touch /tmp/pwned-by-name\n");

    const r = await inside("git config --list; cat ~/.gitconfig", [], gitEnv(home));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toContain("fsmonitor");
    expect(r.stdout).not.toContain("user.name");
    expect(r.stdout).toContain("user.email=eve@example.test\n");
    expect(r.stderr).toContain(`${home}/.gitconfig: user.name holds a control character`);
  });

  it("takes nothing from a file git would refuse, and says so", async () => {
    const home = fakeHome('[user]\n\tname = "unterminated\n');
    const r = await inside("test -e ~/.gitconfig && echo written || echo none", [], gitEnv(home));
    expect(r).toMatchObject({ stdout: "none\n", exitCode: 0 });
    expect(r.stderr).toContain(`${home}/.gitconfig line 2: an unterminated quote`);
  });

  it("writes no ~/.gitconfig when the user has no git identity", async () => {
    const home = homeIn(made);
    const r = await inside("test -e ~/.gitconfig && echo written || echo none", [], gitEnv(home));
    expect(r).toMatchObject({ stdout: "none\n", exitCode: 0 });
  });

  it("leaves ~/.gitconfig to an option that places one", async () => {
    const home = fakeHome(DEVELOPER);
    const mine = join(scratch(), "mine.gitconfig");
    writeFileSync(mine, "[user]\n\tname = Chosen\n");
    const r = await inside("git config --global user.name", ["--file", `~/.gitconfig:${mine}`], gitEnv(home));
    expect(r).toMatchObject({ stdout: "Chosen\n", exitCode: 0 });
  });

  it("works as --uid 1000: the copy is the payload's own, and git config --global writes to it", async () => {
    const home = fakeHome(DEVELOPER, XDG);
    const r = await inside(`${COMMIT}; stat -c %u ~/.gitconfig; git config --global user.name Changed && git config user.name`, ["--uid", "1000", "--gid", "1000"], gitEnv(home));
    expect(r).toMatchObject({ stdout: "Ada Lovelace <ada@example.test>|Ada Lovelace <ada@example.test>\n1000\nChanged\n", exitCode: 0 });
  });
});

describe("the git config reader", () => {
  // git itself is the oracle: each file is read by `git config -f`, and by parseGitConfig.
  const cases = [
    "[user]\n\tname = plain\n",
    "[user] name = on the header line\n",
    "[USER]\n\tNAME = Upper\n",
    '[user]\n\tname = "  kept  "  \n',
    "[user]\n\tname =   trimmed   # comment\n",
    "[user]\n\tname = a ; b\n",
    '[user]\n\tname = "a ; b"\n',
    "[user]\n\tname = one \\\n two\n",
    "[user]\n\tname = tab\\there\n",
    "\uFEFF[user]\r\n\tname = bom and crlf\r\n",
    "[user]\n\tname = first\n\tname = last wins\n",
    '[user "sub"]\n\tname = not user.name\n[user]\n\temail = e@x\n',
    "[user.sub]\n\tname = not user.name either\n",
    '[user]\n\tname = ""\n',
    '[user]\n\tname = "" x\n',
    "[user]\n\tname = x\\q\n",
    '[user]\n\tname = "open\n',
    "[user]\n\tname ; no value\n",
    "[user\n\tname = x\n",
    "[]\nname = x\n",
    "[user]\n\tname\n",
    "[user]\n\t1name = x\n",
    "[user]\n\tname = no newline at the end",
  ];
  for (const text of cases) {
    it(`reads ${JSON.stringify(text)} as git does`, async () => {
      const file = join(scratch(), "config");
      writeFileSync(file, text);
      const git = await collect(["git", "config", "-f", file, "--get", "user.name"], { cwd: scratch(), env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1" } });
      let ours: string | null | undefined;
      let refused = false;
      try {
        ours = parseGitConfig(text).filter(([k]) => k === "user.name").at(-1)?.[1];
      } catch {
        refused = true;
      }
      // git exits 1 for a missing key, 128 for a file it refuses; a key without '=' (null here) prints as "".
      if (git.exitCode === 128) expect(refused).toBe(true);
      else if (ours === null) expect(git).toMatchObject({ stdout: "\n", exitCode: 0 });
      else if (git.exitCode === 1) expect({ refused, ours }).toEqual({ refused: false, ours: undefined });
      else expect({ refused, ours }).toEqual({ refused: false, ours: git.stdout.slice(0, -1) });
    });
  }
});
