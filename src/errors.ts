// NsboxError: every failure of nsbox itself, with what the user needs to act on it.

/** Why nsbox (not the payload) failed. */
export type ErrorCode =
  | "BAD_OPTION"
  | "PATH_NOT_FOUND"
  | "USERNS_DISABLED"
  | "KERNEL_REFUSED"
  | "NOT_FOUND"
  | "NOT_EXECUTABLE"
  | "INTERNAL"
  // Operations on running sandboxes (nsbox ps/exec/stop, --name): all exit 125.
  | "NOT_RUNNING"
  | "NAME_IN_USE"
  | "NOT_OWNER"
  | "STATE_DIR"
  // A project profile that loosens the sandbox, from a config file the user has not trusted (125).
  | "UNTRUSTED_CONFIG";

/**
 * A failure of nsbox itself. `message` is the sentence the CLI prints after "nsbox: ";
 * `hint` is the fix, when there is one.
 *
 * @example
 *   throw new NsboxError("BAD_OPTION", "--uid: expected a number from 0 to 4294967294, got 'x'", { option: "--uid" });
 */
export class NsboxError extends Error {
  readonly code: ErrorCode;
  readonly option?: string;
  readonly path?: string;
  readonly hint?: string;
  readonly errno?: number;

  constructor(
    code: ErrorCode,
    message: string,
    extra: { option?: string; path?: string; hint?: string; errno?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "NsboxError";
    this.code = code;
    this.option = extra.option;
    this.path = extra.path;
    this.hint = extra.hint;
    this.errno = extra.errno;
  }

  /** The exit status the CLI uses for this error (podman/docker convention). */
  get exitCode(): number {
    return this.code === "NOT_FOUND" ? 127 : this.code === "NOT_EXECUTABLE" ? 126 : 125;
  }
}

/** A user's mistake in an option, found before anything runs. */
export function badOption(option: string, message: string, hint?: string): NsboxError {
  return new NsboxError("BAD_OPTION", `${option}: ${message}`, { option, hint });
}
