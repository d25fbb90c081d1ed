// nsbox ps [--json]: the caller's running sandboxes (stale entries of crashed ones are cleaned on the way).
import { HELP, type CommandDef } from "../cli-args.ts";
import { log } from "../log.ts";
import { listSandboxes, type SandboxState } from "../registry.ts";

/** "12s", "5m", "3h", "2d". */
export function age(startedAt: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(startedAt)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

/**
 * Text shown on the user's terminal with control characters escaped (\u001b): a sandbox's
 * paths (a directory above a mount point, renamed by the payload, shows in inspect's mounts)
 * and a project's option values must not carry terminal escapes (OSC 52 writes the clipboard).
 */
export const visible = (text: string): string => text.replace(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** A command line as a shell user would retype it. */
export function commandLine(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

export function publicState(s: SandboxState) {
  return {
    name: s.name, pid: s.pid, command: s.command, startedAt: s.startedAt, hostname: s.hostname,
    cwd: s.cwd, startDir: s.startDir, summary: s.summary, options: s.options,
  };
}

// Bun.write, awaited: process.stdout.write to a pipe is cut at 64 KiB when nsbox exits (a large ps --json).
async function run({ args }: { args: Record<string, unknown> }): Promise<number> {
  const stopped: string[] = [];
  const running = listSandboxes(undefined, stopped).filter((s) => s.pid !== null);
  // Not listed (a stopped nsbox cannot answer for its sandbox), but named: not gone.
  for (const line of stopped) await log.warn(line);
  if (args.json) {
    await Bun.write(Bun.stdout, JSON.stringify(running.map(publicState), null, 2) + "\n");
    return 0;
  }
  const rows = [["NAME", "PID", "UP", "COMMAND", "OPTIONS"], ...running.map((s) => [s.name, String(s.pid), age(s.startedAt), commandLine(s.command), s.summary])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const clip = (text: string, n: number) => (text.length > n ? text.slice(0, n - 1) + "…" : text);
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : clip(cell, 40).padEnd(Math.min(widths[i]!, 40)))).join("  ").trimEnd());
  await Bun.write(Bun.stdout, visible(lines.join("\n")) + "\n");
  return 0;
}

export default {
  meta: { name: "ps", description: "Your running sandboxes (name one with nsbox --name NAME)" },
  args: { json: { type: "boolean", description: "Print JSON" }, help: HELP },
  run,
} satisfies CommandDef;
