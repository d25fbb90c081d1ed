// The commands of README.md, found the one way tests/readme.test.ts and tests/install.test.ts
// both use. The convention, for whoever adds an example:
//   - a fenced block tagged `sh` (or `bash`, `shell`): every line is a command, run as written
//     by bash (a `# comment` after it is bash's comment; a line ending in `\` continues); when
//     some lines start with `$ `, only those are commands (the `$ ` dropped) and the others
//     are what they print;
//   - a command must exit 0, unless its comment says `(exit N)`: an example of a refusal;
//   - an indented block (four spaces): every line must start with `nsbox `, and is a command;
//   - a fenced block tagged `text`, `json`, `ts`, `js`, `toml` or `yaml`: not commands (a usage
//     synopsis, a diagram, a config file, library code);
//   - anything else (an untagged fence, another tag, an indented line that is not `nsbox …`)
//     cannot be classified, and tests/readme.test.ts fails naming its line.
// Inline `code` in prose is not a command.

/** README commands no test runs, each with the reason (tests check each is still in the README). */
export const NOT_RUN: Record<string, string> = {
  "bun run test": "the whole suite, of which the README's tests are a part",
};

/** The command without its trailing `# comment`, for comparing with NOT_RUN. */
export const withoutComment = (text: string) => text.replace(/\s+#.*$/, "");

/** A command as the README writes it: the text bash runs, where it is, and its block. */
export interface ReadmeCommand {
  /** The command line as written (continuation lines joined with their `\`-newline kept). */
  text: string;
  /** 1-based line number in README.md. */
  line: number;
  /** The `## ` section it is under ("Install", "Using it"), "" before the first. */
  section: string;
  /** Index of its code block in the README: commands of one block share it. */
  block: number;
  /** The exit status it must end with: 0, or N when its comment says `(exit N)`. */
  exit: number;
}

/** What the README holds: its commands, and the lines whose block could not be classified. */
export interface ReadmeBlocks {
  commands: ReadmeCommand[];
  /** "line N: why", one per unclassifiable block. */
  unclassified: string[];
  /** The fenced blocks by tag, their text (`json` for nsbox.json examples). */
  fenced: { lang: string; text: string; line: number; section: string }[];
}

const SHELL = new Set(["sh", "bash", "shell"]);
const NOT_COMMANDS = new Set(["text", "json", "jsonc", "ts", "typescript", "js", "javascript", "toml", "yaml"]);

/** 0, or N when the command's comment says `(exit N)`. */
const exitOf = (text: string) => Number(/\s#.*\(exit (\d+)\)/.exec(text)?.[1] ?? 0);

/** Split `markdown` (README.md's text) into commands per the convention above. */
export function readmeBlocks(markdown: string): ReadmeBlocks {
  const lines = markdown.split("\n");
  const out: ReadmeBlocks = { commands: [], unclassified: [], fenced: [] };
  let section = "";
  let block = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```(.*)$/.exec(line);
    if (fence) {
      const lang = fence[1]!.trim().split(/\s+/)[0] ?? "";
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
      if (i >= lines.length) out.unclassified.push(`line ${start + 1}: a fence that is never closed`);
      block++;
      out.fenced.push({ lang, text: body.join("\n"), line: start + 1, section });
      if (SHELL.has(lang)) {
        const prompted = body.some((b) => b.startsWith("$ "));
        let text = "";
        body.forEach((b, k) => {
          if (!text && prompted) {
            if (!b.startsWith("$ ")) return;
            b = b.slice(2);
          }
          if (!text && (b.trim() === "" || b.trim().startsWith("#"))) return;
          const first = text === "" ? start + 2 + k : 0;
          text = text ? `${text}\n${b}` : b;
          if (first) out.commands.push({ text: "", line: first, section, block, exit: 0 });
          if (!b.endsWith("\\")) {
            const c = out.commands[out.commands.length - 1]!;
            c.text = text;
            c.exit = exitOf(text);
            text = "";
          }
        });
      } else if (!NOT_COMMANDS.has(lang)) {
        out.unclassified.push(`line ${start + 1}: a fenced block tagged '${lang}': tag it sh (commands) or text (not commands)`);
      }
      continue;
    }
    const heading = /^## (.*)$/.exec(line);
    if (heading) section = heading[1]!.trim();
    // An indented code block starts after a blank line (it cannot interrupt a paragraph).
    if (/^( {4}|\t)/.test(line) && (i === 0 || lines[i - 1]!.trim() === "")) {
      block++;
      for (; i < lines.length && (/^( {4}|\t)/.test(lines[i]!) || lines[i]!.trim() === ""); i++) {
        const l = lines[i]!;
        if (l.trim() === "") continue;
        if (/^ {4}nsbox( |$)/.test(l)) out.commands.push({ text: l.trim(), line: i + 1, section, block, exit: exitOf(l) });
        else out.unclassified.push(`line ${i + 1}: an indented line that is not \`nsbox …\`: put commands in a sh block, other text in a text block`);
      }
      i--;
    }
  }
  return out;
}
