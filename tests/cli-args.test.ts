// The command-line parser (src/cli-args.ts) and the help generated from definitions (src/help.ts), without running anything.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseArgs } from "node:util";
import { argsOf, editDistance, HELP, parseArgv, tokenize, usageLine, type CommandDef } from "../src/cli-args.ts";
import { NsboxError } from "../src/errors.ts";
import { renderHelp, wrap } from "../src/help.ts";

/** A top level like nsbox's: the first non-option starts the command. */
const TOP: CommandDef = {
  meta: { name: "nsbox", description: "top" },
  args: {
    ro: { type: "string", valueHint: "PATH", repeatable: true, description: "read-only" },
    tmpfs: { type: "string", valueHint: "PATH", repeatable: true, description: "a tmpfs" },
    uid: { type: "string", valueHint: "N", description: "uid" },
    verbose: { type: "boolean", alias: "v", description: "steps" },
    profile: { type: "string", alias: "p", valueHint: "NAME", description: "profile" },
    help: HELP,
  },
  command: { valueHint: "command [args…]", description: "the command" },
};

/** A subcommand like exec: options, one positional, then the command. */
const EXEC: CommandDef = {
  meta: { name: "exec", description: "join" },
  args: {
    sandbox: { type: "positional", valueHint: "NAME", required: true, description: "which" },
    env: { type: "string", valueHint: "NAME=VALUE", repeatable: true, description: "env" },
    verbose: { type: "boolean", alias: "v", description: "steps" },
    help: HELP,
  },
  command: { valueHint: "command [args…]", description: "the command" },
};

/** A subcommand like stop: options anywhere, the rest are names. */
const STOP: CommandDef = {
  meta: { name: "stop", description: "stop them" },
  args: {
    names: { type: "positional", valueHint: "NAME", required: true, repeatable: true, description: "names" },
    time: { type: "string", alias: "t", valueHint: "SECONDS", description: "grace" },
    help: HELP,
  },
};

/** The NsboxError `fn` throws (the test fails when it throws nothing or something else). */
function thrown(fn: () => unknown): NsboxError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NsboxError);
    return e as NsboxError;
  }
  throw new Error("nothing thrown");
}

describe("tokenize splits words as node:util parseArgs does", () => {
  const OPTIONS = { uid: { type: "string" }, ro: { type: "string" }, profile: { type: "string", short: "p" }, verbose: { type: "boolean", short: "v" }, json: { type: "boolean" } } as const;
  const nodeTokens = (args: string[]) => parseArgs({ args, options: OPTIONS, strict: false, allowPositionals: true, tokens: true }).tokens;
  const WORDS = ["--==", "--=x=", "---=", "--a=", "-", "-v", "-p", "-vp", "-pv", "-pci", "-vpci", "-p=x", "-vx", "-xv", "--uid", "--uid=1", "--uid=", "--ro", "--json", "--json=1", "--nope", "--nope=2", "-x", "x", "---y", "--=z", "-=", "", "--verbose", "bash", "-c"];

  test("on every pair and triple of tricky words", () => {
    for (const a of WORDS) for (const b of WORDS) for (const c of ["x", "--", "-v"]) expect(tokenize([a, b, c], OPTIONS)).toEqual(nodeTokens([a, b, c]));
  });

  test("on generated command lines", () => {
    const word = fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 6 }), fc.string({ maxLength: 5 }).map((s) => `-${s}`), fc.string({ maxLength: 5 }).map((s) => `--${s}`));
    fc.assert(fc.property(fc.array(word, { maxLength: 8 }), (args) => void expect(tokenize(args, OPTIONS)).toEqual(nodeTokens(args))), { numRuns: 2000 });
  });
});

describe("parseArgv at the top level", () => {
  test("keeps the order across option names, with the flag as typed", () => {
    const p = parseArgv(["--ro", "a", "--tmpfs=b", "-v", "--ro", "c", "--", "true"], TOP, "nsbox");
    expect(p.given).toEqual([
      { name: "ro", value: "a", flag: "--ro" },
      { name: "tmpfs", value: "b", flag: "--tmpfs" },
      { name: "verbose", value: true, flag: "-v" },
      { name: "ro", value: "c", flag: "--ro" },
    ]);
    expect(p).toMatchObject({ command: ["true"], terminated: true });
  });

  test("the first non-option starts the command; what follows is the command's", () => {
    const p = parseArgv(["-v", "sh", "-c", "--uid", "--", "x"], TOP, "nsbox");
    expect(p).toEqual({ given: [{ name: "verbose", value: true, flag: "-v" }], positionals: [], command: ["sh", "-c", "--uid", "--", "x"], terminated: false });
  });

  test("`--` ends the options: `-- --version` is a command named --version", () => {
    expect(parseArgv(["--", "--version"], TOP, "nsbox")).toMatchObject({ given: [], command: ["--version"], terminated: true });
  });

  test("short options group: -vp NAME", () => {
    expect(parseArgv(["-vp", "ci", "true"], TOP, "nsbox").given).toEqual([
      { name: "verbose", value: true, flag: "-v" },
      { name: "profile", value: "ci", flag: "-p" },
    ]);
  });

  test("a value may start with a dash; an empty --name= value is a value", () => {
    expect(parseArgv(["--uid", "-1", "--ro=", "true"], TOP, "nsbox").given.map((g) => g.value)).toEqual(["-1", ""]);
  });

  test.each([
    [["--nope", "--", "true"], "unknown option --nope (see nsbox --help)"],
    [["--verbsoe", "--", "true"], "unknown option --verbsoe (did you mean --verbose? see nsbox --help)"],
    [["--Profile", "ci", "--", "true"], "unknown option --Profile (did you mean --profile? see nsbox --help)"],
    [["--tmpfsdir", "/x", "--", "true"], "unknown option --tmpfsdir (did you mean --tmpfs? see nsbox --help)"],
    [["-x", "true"], "unknown option -x"],
    [["-help"], "unknown option -help (did you mean --help? see nsbox --help)"],
    [["-profile", "test", "--", "true"], "unknown option -profile (did you mean --profile? see nsbox --help)"],
    [["-uid=0", "--", "true"], "unknown option -uid (did you mean --uid? see nsbox --help)"],
    [["--constructor"], "unknown option --constructor"],
    [["--__proto__", "x"], "unknown option --__proto__"],
    [["--uid"], "--uid: needs a value (N)"],
    [["--uid", "--", "true"], "--uid: needs a value (N)"],
    [["--verbose=1", "true"], "--verbose: takes no value"],
    [["--uid", "1", "--uid", "2", "true"], "--uid: given more than once"],
  ])("%j is refused: %s", (argv, message) => {
    const e = thrown(() => parseArgv(argv, TOP, "nsbox"));
    expect(e.code).toBe("BAD_OPTION");
    expect(e.message).toContain(message);
    expect(e.message).not.toContain("\n");
  });

  test("a switch given twice (-vv, -v -v) is the switch once: it says the same thing (control: a value given twice is refused, above)", () => {
    expect(parseArgv(["-vv", "true"], TOP, "nsbox").given).toEqual([{ name: "verbose", value: true, flag: "-v" }]);
    expect(parseArgv(["-v", "-v", "true"], TOP, "nsbox").given).toEqual([{ name: "verbose", value: true, flag: "-v" }]);
  });

  test("control: a repeatable option given twice, a single one once", () => {
    expect(parseArgv(["--ro", "a", "--ro", "b", "--uid", "1", "true"], TOP, "nsbox").given).toHaveLength(3);
  });

  test("--help is an option like any other: parsed, not acted on (no exit)", () => {
    expect(parseArgv(["--help", "--", "true"], TOP, "nsbox").given).toEqual([{ name: "help", value: true, flag: "--help" }]);
  });
});

describe("parseArgv for subcommands", () => {
  test("options given before the subcommand come first, then its own, in order", () => {
    const outer = [{ name: "env", value: "A=1", flag: "--env" }, { name: "env", value: "B=2", flag: "--env" }];
    const p = parseArgv(["--env", "C=3", "web", "--", "env"], EXEC, "nsbox exec", outer);
    expect(p.given.map((g) => g.value)).toEqual(["A=1", "B=2", "C=3"]);
    expect(argsOf(EXEC, "nsbox exec", p)).toEqual({ env: ["A=1", "B=2", "C=3"], sandbox: "web" });
    expect(p.command).toEqual(["env"]);
  });

  test("exec: the first argument after NAME starts the command, even without --", () => {
    const p = parseArgv(["web", "ls", "-v"], EXEC, "nsbox exec");
    expect(p).toMatchObject({ given: [], positionals: ["web"], command: ["ls", "-v"], terminated: false });
  });

  test("exec without NAME: missing NAME, with the generated usage", () => {
    const e = thrown(() => argsOf(EXEC, "nsbox exec", parseArgv([], EXEC, "nsbox exec")));
    expect(e.message).toBe("nsbox exec: missing NAME (usage: nsbox exec [--env NAME=VALUE]… [-v|--verbose] NAME [--] command [args…])");
  });

  test("stop: options anywhere among the names; after -- a name may start with a dash", () => {
    const p = parseArgv(["a", "-t", "0", "b", "--", "-c"], STOP, "nsbox stop");
    expect(argsOf(STOP, "nsbox stop", p)).toEqual({ time: "0", names: ["a", "b", "-c"] });
  });

  test("an unknown option names the subcommand's usage", () => {
    expect(thrown(() => parseArgv(["--nope"], STOP, "nsbox stop")).message).toBe("unknown option --nope (usage: nsbox stop NAME… [-t|--time SECONDS])");
  });

  test("an argument too many is refused; control: the right number passes", () => {
    const inspect: CommandDef = { meta: { name: "inspect", description: "" }, args: { sandbox: { type: "positional", required: true, description: "" } } };
    expect(thrown(() => argsOf(inspect, "nsbox inspect", parseArgv(["a", "b"], inspect, "nsbox inspect"))).message).toContain("unexpected argument 'b'");
    expect(argsOf(inspect, "nsbox inspect", parseArgv(["a"], inspect, "nsbox inspect"))).toEqual({ sandbox: "a" });
  });
});

describe("usage and help come from the definitions", () => {
  test("usage lines", () => {
    expect(usageLine(EXEC, "nsbox exec")).toBe("nsbox exec [--env NAME=VALUE]… [-v|--verbose] NAME [--] command [args…]");
    expect(usageLine(STOP, "nsbox stop")).toBe("nsbox stop NAME… [-t|--time SECONDS]");
    expect(usageLine(TOP, "nsbox")).toBe("nsbox [options] [--] command [args…]");
  });

  test("help: usage first, every option and argument, no line over 80 columns", () => {
    const long: CommandDef = {
      ...TOP,
      args: { ...TOP.args, net: { type: "string", valueHint: "none|host|allow=RULES", description: "Network: none, the host's, or allow=host[:port],*.domain,IP/CIDR[:port],@registries through nsbox's proxy (repeatable)" } },
    };
    const text = renderHelp(long, "nsbox", { subs: { exec: EXEC, stop: STOP } });
    expect(text).toStartWith("usage: nsbox [options] -- command [args…]\n");
    for (const word of ["--ro PATH", "-v, --verbose", "-h, --help", "--net none|host|allow=RULES", "exec NAME -- command [args…]", "stop NAME…"]) expect(text).toContain(word);
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
  });

  test("wrap: at spaces, a word longer than the line after its commas", () => {
    expect(wrap("aaa bbb ccc", 7, 2)).toBe("aaa bbb\n  ccc");
    expect(wrap("x a,b,c,d", 4)).toBe("x a,\nb,c,\nd");
  });
});

test("editDistance", () => {
  expect([editDistance("pss", "ps"), editDistance("sp", "ps"), editDistance("exce", "exec"), editDistance("doctor", "doctor"), editDistance("", "ps")]).toEqual([1, 2, 2, 0, 2]);
});
