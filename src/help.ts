// Help text generated from a command's definition, wrapped to the terminal's width (80 columns
// when neither stdout nor stderr is a terminal). Loaded only for --help.
import { usageLine, type ArgDef, type CommandDef } from "./cli-args.ts";

/** Labels longer than this get a line of their own, the description below. */
const LABEL = 26;
/** Narrower than this, a description goes below its label instead of beside it. */
const MIN_TEXT = 30;

/**
 * The columns help is wrapped to: the terminal's (`columns`, from process.stdout.columns when
 * stdout is one, else stderr's: `nsbox --help | less` is read on that terminal), at most 100
 * (longer lines read badly) and at least 40; 80 otherwise (no terminal at all).
 */
export function helpWidth(columns: number | undefined): number {
  return columns && columns > 0 ? Math.max(40, Math.min(100, columns)) : 80;
}

/** The usage as typed: the command always after `--` (`nsbox [options] -- command [args…]`). */
const usageOf = (cmd: CommandDef, path: string) => usageLine(cmd, path).replace(" [--] ", " -- ");

/**
 * `text` wrapped at spaces to lines of at most `width` characters, joined by a newline and
 * `indent` spaces. A word too long for a line breaks after its commas (allow=host,*.domain,…).
 */
export function wrap(text: string, width: number, indent = 0): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const pieces = word.length > width ? word.split(/(?<=,)/) : [word];
    pieces.forEach((piece, i) => {
      const sep = line && i === 0 ? " " : "";
      if (line && line.length + sep.length + piece.length > width) {
        lines.push(line);
        line = piece;
      } else line += sep + piece;
    });
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

/** Two columns: a label, and its description wrapped beside it (or below a long label). */
function tableOf(rows: [string, string][], width: number): string[] {
  const wide = Math.min(LABEL, Math.max(...rows.map(([l]) => l.length))) + 4;
  const col = width - wide >= MIN_TEXT ? wide : 8;
  return rows.map(([label, text]) => {
    const body = wrap(text, width - col, col);
    return `  ${label}`.length + 2 <= col ? `  ${label}`.padEnd(col) + body : `  ${label.length + 2 > width ? wrap(label, width - 2, 6) : label}\n${" ".repeat(col)}${body}`;
  });
}

const withoutOptions = (cmd: CommandDef): CommandDef => ({ ...cmd, args: Object.fromEntries(Object.entries(cmd.args).filter(([, d]) => d.type === "positional")) });

const optionLabel = (name: string, d: ArgDef) => `${d.alias ? `-${d.alias}, ` : "    "}--${name}${d.type === "string" ? ` ${d.valueHint ?? "VALUE"}` : ""}`;

/**
 * `usage: …`, the description, then arguments, options (grouped: `groups` maps an option to its
 * heading) and subcommands, no line longer than `width` columns (but a single word that is).
 * `subs` are the loaded subcommands by their words after `path` ("profile show"), for the list.
 */
export function renderHelp(cmd: CommandDef, path: string, opts: { groups?: Record<string, string>; subs?: Record<string, CommandDef>; width?: number } = {}): string {
  const width = opts.width ?? 80;
  const table = (rows: [string, string][]) => tableOf(rows, width);
  const out = [`usage: ${wrap(usageOf(cmd, path), width - 7, 7)}`];
  if (opts.subs && cmd.command) out.push(`       ${path} COMMAND [options] [args…]`);
  out.push("", wrap(cmd.meta.description, width));
  const args = Object.entries(cmd.args);
  const positional: [string, string][] = args.filter(([, d]) => d.type === "positional").map(([name, d]) => [d.valueHint ?? name.toUpperCase(), d.description]);
  if (cmd.command) positional.push([cmd.command.valueHint, cmd.command.description]);
  if (positional.length) out.push("", "Arguments:", ...table(positional));
  const sections = new Map<string, [string, string][]>();
  for (const [name, d] of args) {
    if (d.type === "positional") continue;
    const heading = opts.groups?.[name] ?? "Options";
    sections.set(heading, [...(sections.get(heading) ?? []), [optionLabel(name, d), d.description]]);
  }
  for (const [heading, rows] of sections) out.push("", `${heading}:`, ...table(rows));
  if (opts.subs) {
    out.push("", "Commands:", ...table(Object.entries(opts.subs).map(([name, sub]) => [usageOf(withoutOptions(sub), name), sub.meta.description])));
    const alsoAs = path.includes(" ") ? "" : ` (or ${path} help COMMAND)`;
    out.push("", wrap(`${path} COMMAND --help${alsoAs} describes a command and its options.`, width));
  }
  return out.join("\n") + "\n";
}

/**
 * What `nsbox` alone prints (on stderr, exit 125): the usage, a few first commands, and where the
 * rest is. `width` as for renderHelp.
 */
export function shortUsage(cmd: CommandDef, path: string, width = 80): string {
  const examples: [string, string][] = [
    [`${path} -- bash`, "a shell: the current directory writable, nothing else; no network"],
    [`${path} --overlay . -- npm test`, "the project writable inside, unchanged outside"],
    [`${path} --net allow=registry.npmjs.org -- npm install`, "the network to one host only"],
  ];
  return [
    `usage: ${wrap(usageOf(cmd, path), width - 7, 7)}`,
    `       ${path} COMMAND [options] [args…]`,
    "",
    ...tableOf(examples, width),
    "",
    wrap(`${path} --help lists the options and commands; ${path} help COMMAND describes one.`, width),
  ].join("\n") + "\n";
}
