// nsbox as a library: re-exports only. (run() and spawn() arrive with the library issue.)
export { NsboxError, type ErrorCode } from "./errors.ts";
export type { SandboxOptions } from "./options.ts";
export { buildPlan, type Plan } from "./plan/index.ts";
export { supervise, type Outcome } from "./supervise.ts";
export { readHost, type Host } from "./host.ts";
export { SECRET_PATTERNS } from "./plan/env.ts";
