// The network a sandbox gets: none (its own namespace with lo), the host's, or allowed hosts through nsbox's proxy.
import type { Host } from "../host.ts";
import { findRule, parseRule, type Rule } from "../net/rules.ts";
import type { NetSpec } from "../options/net.ts";

/** The port of the proxy on the sandbox's own loopback (its network namespace is fresh: it is free). */
export const PROXY_PORT = 3128;

/** `notes`: what @registries ignored (registries named only by project files), to be shown as warnings. */
export type NetChoice = { mode: "none" } | { mode: "host" } | { mode: "allow"; rules: Rule[]; notes?: string[] };

/**
 * The network of the resolved --net values (src/options/net.ts): @registries expanded from the
 * host's package-manager configuration, the only part that depends on the host.
 */
export function netChoice(spec: NetSpec, host: Host): NetChoice {
  if (spec.mode !== "allow") return spec;
  const notes: string[] = [];
  // @registries' rules are marked: they never open an internal or private address (src/net/address-policy.ts).
  const rules = spec.entries.flatMap((e): Rule[] => {
    if (e !== "@registries") return [e];
    // Read only here: most runs name no @registries.
    const { configuredRegistries } = require("../net/registries.ts") as typeof import("../net/registries.ts");
    const found = configuredRegistries(host.home, host.cwd, host.env, host.uid);
    notes.push(...found.notes);
    return found.registries.flatMap((r) => {
      try {
        return [{ ...parseRule(r), origin: "registry" as const }];
      } catch {
        notes.push(`@registries: ignored the registry ${r}: not a host name nsbox can allow`);
        return [];
      }
    });
  });
  return { mode: "allow", rules, ...(notes.length ? { notes } : {}) };
}

/**
 * Variables that point clients (npm, Bun, pip, curl, git) at the proxy. Loopback names stay
 * direct (the sandbox's own lo) unless a rule allows the host's loopback: then they go through
 * the proxy, which is the only way there.
 */
export function proxyEnv(rules: Rule[]): Record<string, string> {
  const http = `http://127.0.0.1:${PROXY_PORT}`;
  // Only a rule that opens the host's loopback under the address policy (127.0.0.0/8:80, not
  // 0.0.0.0/0): an address range or `localhost`, the only rules that can (the policy, with its
  // ranges, is read only when there is one).
  const candidates = rules.filter((r) => r.kind === "cidr" || (r.kind === "host" && r.host === "localhost"));
  const refusal = candidates.length ? (require("../net/address-policy.ts") as typeof import("../net/address-policy.ts")).refusal : undefined;
  const hostLoopback = ["127.0.0.1", "::1"].some((a) => candidates.some((r) => refusal!(a, r.port ?? 1, [r], []) === undefined && (r.kind === "host" || findRule([r], a, r.port ?? 1))));
  const vars: Record<string, string> = {
    HTTP_PROXY: http, HTTPS_PROXY: http, ALL_PROXY: `socks5h://127.0.0.1:${PROXY_PORT}`,
    NO_PROXY: hostLoopback ? "" : "localhost,127.0.0.1,::1",
  };
  for (const [k, v] of Object.entries({ ...vars })) vars[k.toLowerCase()] = v;
  return vars;
}
