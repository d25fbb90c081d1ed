// A sandbox's network session on the CLI side: the proxy's lifetime, the live or final report
// of blocked connections, and --net-log.
import { appendFileSync, writeFileSync } from "node:fs";
import { NsboxError } from "../errors.ts";
import type { Rule } from "./rules.ts";
import { startProxy, type NetEvent, type Proxy } from "./proxy.ts";

export interface NetSession {
  /** For supervise: serve the proxy on the socket the sandbox made. */
  onListen(fd: number): void;
  /** Stop the proxy; the lines to print about what was blocked (empty when live). */
  finish(): string[];
}

export function netSession(rules: Rule[], opts: { logFile?: string; live?: (line: string) => void }): NetSession {
  if (opts.logFile) {
    try {
      writeFileSync(opts.logFile, "");
    } catch (e) {
      throw new NsboxError("PATH_NOT_FOUND", `--net-log ${opts.logFile}: can't write it: ${(e as Error).message}`, { option: "--net-log", path: opts.logFile });
    }
  }
  const blocked = new Map<string, string>();
  let proxy: Proxy | undefined;
  const onEvent = (e: NetEvent) => {
    if (opts.logFile) appendFileSync(opts.logFile, JSON.stringify(e) + "\n");
    if (e.action !== "block") return;
    const line = `blocked connect to ${e.host}:${e.port} (${e.reason})`;
    if (opts.live) opts.live(line);
    else blocked.set(`${e.host}:${e.port}`, line);
  };
  return {
    onListen: (fd) => void (proxy = startProxy(fd, rules, onEvent)),
    finish() {
      proxy?.close();
      return [...blocked.values()];
    },
  };
}
