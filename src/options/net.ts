// --net values parsed once: none, host, or allow= with its rules; folded in order.
import { parseRule, type Rule } from "../net/rules.ts";
import { expected, Problem, problem } from "./problem.ts";

/** One allow entry: a parsed rule, or @registries (expanded by the plan from the host's package-manager configuration). */
export type AllowEntry = Rule | "@registries";

/** One --net value as written. */
export type NetValue = { mode: "none" } | { mode: "host" } | { mode: "allow"; entries: AllowEntry[] };

/** The network the options ask for: the last none/host wins, allow= rules accumulate after it. */
export type NetSpec = { mode: "none" } | { mode: "host" } | { mode: "allow"; entries: AllowEntry[] };

/** Values parsed in this process: each is parsed once (checked when given, folded when resolved). */
const parsed = new Map<string, NetValue>();

/** Parse one value: `none`, `host`, or `allow=RULE[,RULE…]`. Throws a Problem. */
export function parseNetValue(text: string): NetValue {
  let v = parsed.get(text);
  if (v === undefined) parsed.set(text, (v = parse(text)));
  return v;
}

function parse(text: string): NetValue {
  if (text === "none" || text === "host") return { mode: text };
  if (!text.startsWith("allow=")) {
    // `--net example.com`, `--net allow:example.com`: say the form that was meant.
    // `alow=x`, `Allow=x`, `allows=x`, `NONE`, `hots`: a typo of a word.
    const eq = text.indexOf("=");
    if (eq > 0 && eq < text.length - 1 && typo(text.slice(0, eq), "allow")) throw problem(`must be none, host, or allow=RULE[,RULE…]: write allow=${text.slice(eq + 1)}`);
    if (typo(text, "allow")) throw problem("must be none, host, or allow=RULE[,RULE…]: name the hosts after allow=, as allow=example.com,127.0.0.1:8080");
    const word = ["none", "host"].find((w) => typo(text, w));
    if (word !== undefined) throw problem(`must be none, host, or allow=RULE[,RULE…]: write ${word}`);
    const meant = text.replace(/^allow[:\s]?/, "");
    if (/^[\w*.:\[\]\/@-]+$/.test(meant) && /[.:@]/.test(meant)) throw problem(`must be none, host, or allow=RULE[,RULE…]: write allow=${meant}`);
    throw expected("none, host, or allow=RULE[,RULE…]");
  }
  const texts = text.slice(6).split(",").filter(Boolean);
  if (texts.length === 0) throw problem("name at least one host after allow=");
  const entries = texts.map((t): AllowEntry => {
    if (t === "@registries") return t;
    if (t.startsWith("@")) throw problem(`${texts.length > 1 ? `rule '${t}': ` : ""}'${t}' is not a rule: the one @ name is @registries (the registries your npm, Bun and pip use)`);
    try {
      return parseRule(t);
    } catch (e) {
      // With several rules, say which one.
      if (e instanceof Problem && texts.length > 1) throw problem(`rule '${t}': ${e.message}`);
      throw e;
    }
  });
  return { mode: "allow", entries };
}

/** `text` is `word` mistyped: other case, or one letter added, dropped, changed or two swapped. */
function typo(text: string, word: string): boolean {
  const t = text.toLowerCase();
  if (t === word) return true;
  if (Math.abs(t.length - word.length) > 1) return false;
  for (let i = 0; i <= Math.max(t.length, word.length); i++) {
    const [a, b] = [t.slice(i), word.slice(i)];
    if (t.slice(0, i) !== word.slice(0, i)) break;
    if (a.slice(1) === b.slice(1) || a.slice(1) === b || a === b.slice(1) || (a.length > 1 && a[0] === b[1] && a[1] === b[0] && a.slice(2) === b.slice(2))) return true;
  }
  return false;
}

/** Fold the values in order: `none` and `host` replace what came before, `allow=` rules accumulate. */
export function foldNet(values: NetValue[]): NetSpec {
  let spec: NetSpec = { mode: "none" };
  for (const v of values) {
    spec = v.mode !== "allow" ? v : { mode: "allow", entries: [...(spec.mode === "allow" ? spec.entries : []), ...v.entries] };
  }
  return spec;
}
