// The git config file format, read as git reads it, for the few identity keys nsbox passes into a sandbox.

/** Thrown where git itself would stop with "bad config line N". */
export class GitConfigError extends Error {
  constructor(readonly line: number, problem: string) {
    super(`line ${line}: ${problem}`);
  }
}

/**
 * Every `section.key = value` of a git config file, in order, as `[name, value, line]`: `name`
 * is `section.key` lowercased (`section.subsection.key` with the subsection as written); a key
 * with no `=` has the value `null` (git's boolean true). Follows git's config.c: `#` and `;`
 * comments outside quotes, `"` quoting, the escapes `\\ \" \n \t \b`, a backslash at the end of
 * a line continuing it, leading and trailing blanks trimmed, `\r\n` line ends, a UTF-8 BOM,
 * `[section "sub"]` with `\"` and `\\` in the subsection, `[section.sub]` (lowercased), and a
 * key on the header's line. `[include]` and `[includeIf]` are entries like any other: nothing
 * here opens another file. Throws GitConfigError where git would refuse the file.
 */
export function parseGitConfig(text: string): Array<[string, string | null, number]> {
  const out: Array<[string, string | null, number]> = [];
  let i = text.startsWith("\uFEFF") ? 1 : 0;
  let line = 1;
  // The name so far: "section." (or "" before any header, as git keeps it).
  let base = "";
  // git's get_next_char: "\r\n" reads as "\n", and the end of the text as a last "\n".
  const next = (): string => {
    if (i >= text.length) {
      i++;
      return "\n";
    }
    const crlf = text[i] === "\r" && text[i + 1] === "\n";
    const c = crlf ? "\n" : text[i]!;
    i += crlf ? 2 : 1;
    if (c === "\n") line++;
    return c;
  };
  const eof = () => i > text.length;
  const space = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\v" || c === "\f" || c === "\r";
  const keyChar = (c: string) => /^[A-Za-z0-9-]$/.test(c);
  const bad = (problem: string): never => {
    throw new GitConfigError(line, problem);
  };

  let comment = false;
  for (;;) {
    const c = next();
    if (c === "\n") {
      if (eof()) return out;
      comment = false;
      continue;
    }
    if (comment || space(c)) continue;
    if (c === "#" || c === ";") {
      comment = true;
      continue;
    }
    if (c === "[") {
      base = header() + ".";
      continue;
    }
    if (!/^[A-Za-z]$/.test(c)) bad(`unexpected ${JSON.stringify(c)}`);
    const at = line;
    let key = c.toLowerCase();
    let d = next();
    while (!eof() && keyChar(d)) {
      key += d.toLowerCase();
      d = next();
    }
    while (d === " " || d === "\t") d = next();
    if (d === "\n") {
      out.push([base + key, null, at]);
      // The "\n" that ended the key also ends the line: nothing more to skip.
      if (eof()) return out;
      continue;
    }
    if (d !== "=") bad(`expected '=' after ${key}`);
    out.push([base + key, value(), at]);
    if (eof()) return out;
  }

  /** After '[': `name]`, `name.sub]` (lowercased whole) or `name "sub"]` (the subsection as written). */
  function header(): string {
    let name = "";
    for (;;) {
      const c = next();
      if (eof()) bad("an unterminated [section]");
      if (c === "]") return name || bad("an empty [section]");
      if (space(c)) return subsection(name, c);
      if (!keyChar(c) && c !== ".") bad(`bad character ${JSON.stringify(c)} in a section name`);
      name += c.toLowerCase();
    }
  }

  function subsection(name: string, c: string): string {
    do {
      if (c === "\n") bad("an unterminated [section]");
      c = next();
    } while (space(c));
    if (c !== '"') bad('expected "subsection" after the section name');
    let sub = "";
    for (;;) {
      let d = next();
      if (d === "\n") bad("an unterminated subsection");
      if (d === '"') break;
      if (d === "\\") {
        d = next();
        if (d === "\n") bad("an unterminated subsection");
      }
      sub += d;
    }
    if (next() !== "]") bad("expected ']' after the subsection");
    return `${name}.${sub}`;
  }

  /** After '=': the value up to the end of the line, as git's parse_value reads it. */
  function value(): string {
    let v = "";
    let quoted = false;
    let inComment = false;
    // Where the value ends if only blanks follow (git's trim_len; -1: no blanks pending).
    let trim = -1;
    for (;;) {
      const c = next();
      if (c === "\n") {
        if (quoted) {
          line--;
          bad("an unterminated quote");
        }
        return trim >= 0 ? v.slice(0, trim) : v;
      }
      if (inComment) continue;
      if (space(c) && !quoted) {
        if (trim < 0) trim = v.length;
        if (v.length > 0) v += c;
        continue;
      }
      if (!quoted && (c === "#" || c === ";")) {
        inComment = true;
        continue;
      }
      trim = -1;
      if (c === "\\") {
        const e = next();
        if (e === "\n") continue;
        const escaped = ({ t: "\t", b: "\b", n: "\n", "\\": "\\", '"': '"' } as Record<string, string>)[e];
        if (escaped === undefined) bad(`bad escape \\${e}`);
        v += escaped;
      } else if (c === '"') {
        quoted = !quoted;
      } else {
        v += c;
      }
    }
  }
}
