// `import … from "nsbox"` under Node: node/needs-bun.cjs says nsbox needs Bun and exits. The
// names below are src/index.ts's, so that an import of them links and that message is what the
// user sees, not "does not provide an export named 'run'" (tests/install.test.ts compares them).
import "./needs-bun.cjs";

export const NsboxError = undefined;
export const SECRET_PATTERNS = undefined;
export const buildPlan = undefined;
export const readHost = undefined;
export const run = undefined;
export const spawn = undefined;
export const supervise = undefined;
