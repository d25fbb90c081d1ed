// nsbox as a library: re-exports only. run() and spawn() are the API; the rest is for tools built on the pipeline.
/** Start sandboxes: spawn() returns a Bun.spawn-shaped handle, run() waits and returns the output. */
export {
  run,
  spawn,
  type OutputOption,
  type RunOptions,
  type RunResult,
  type SandboxProcess,
  type SandboxProcessFor,
  type SpawnOptions,
  type StdinOption,
  type StdinSink,
} from "./library.ts";
/** Every failure of nsbox itself, with a code (BAD_OPTION, NOT_FOUND, …), the option and path, and a hint. */
export { NsboxError, type ErrorCode } from "./errors.ts";
/** The options every sandbox takes, from the CLI, a profile or the library. */
export type { SandboxOptions } from "./options.ts";
/** The pipeline underneath: plan a sandbox, then run the plan. */
export { buildPlan, type Plan } from "./plan/index.ts";
export { supervise, type Outcome } from "./supervise.ts";
/** Facts about the caller a plan is built from. */
export { readHost, type Host } from "./host.ts";
/** The names scrubbed from the environment as secrets. */
export { SECRET_PATTERNS } from "./plan/env.ts";
