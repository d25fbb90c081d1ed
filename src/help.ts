// Help text generated from a command's definition, wrapped to fit 80 columns. Loaded only for --help.
import { usageLine, type ArgDef, type CommandDef } from "./cli-args.ts";

const WIDTH = 80;
/** Labels longer than this get a line of their own, the description below. */
const LABEL = 26;

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
function table(rows: [string, string][]): string[] {
  const col = Math.min(LABEL, Math.max(...rows.map(([l]) => l.length))) + 4;
  return rows.map(([label, text]) => {
    const body = wrap(text, WIDTH - col, col);
    return `  ${label}`.length + 2 <= col ? `  ${label}`.padEnd(col) + body : `  ${label}\n${" ".repeat(col)}${body}`;
  });
}

const withoutOptions = (cmd: CommandDef): CommandDef => ({ ...cmd, args: Object.fromEntries(Object.entries(cmd.args).filter(([, d]) => d.type === "positional")) });

const optionLabel = (name: string, d: ArgDef) => `${d.alias ? `-${d.alias}, ` : "    "}--${name}${d.type === "string" ? ` ${d.valueHint ?? "VALUE"}` : ""}`;

/**
 * `usage: …`, the description, then arguments, options (grouped: `groups` maps an option to its
 * heading) and subcommands. `subs` are the
 * loaded subcommands by their words after `path` ("profile show"), for the list.
 */
export function renderHelp(cmd: CommandDef, path: string, opts: { groups?: Record<string, string>; subs?: Record<string, CommandDef> } = {}): string {
  const out = [`usage: ${wrap(usageLine(cmd, path), WIDTH - 7, 7)}`];
  if (opts.subs && cmd.command) out.push(`       ${path} COMMAND [options] [args…]`);
  out.push("", wrap(cmd.meta.description, WIDTH));
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
    out.push("", "Commands:", ...table(Object.entries(opts.subs).map(([name, sub]) => [usageLine(withoutOptions(sub), name).replace(" [--] ", " -- "), sub.meta.description])));
    const alsoAs = path.includes(" ") ? "" : ` (or ${path} help COMMAND)`;
    out.push("", wrap(`${path} COMMAND --help${alsoAs} describes a command and its options.`, WIDTH));
  }
  return out.join("\n") + "\n";
}
