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

/** Fold the values in order: `none` and `host` replace what came before, `allow=` rules accumulate. */
export function foldNet(values: NetValue[]): NetSpec {
  let spec: NetSpec = { mode: "none" };
  for (const v of values) {
    spec = v.mode !== "allow" ? v : { mode: "allow", entries: [...(spec.mode === "allow" ? spec.entries : []), ...v.entries] };
  }
  return spec;
}
