// The payload's environment: the caller's, minus anything that looks like a credential.

/**
 * Names dropped by default, because they commonly carry credentials or a way back to the
 * host (an agent socket, the session bus). `--keep-env NAME` keeps one; `--env` sets one.
 * This is the one list; README.md documents it.
 */
export const SECRET_PATTERNS: readonly RegExp[] = [
  /TOKEN/i,
  /SECRET/i,
  /PASSWORD|PASSWD|PASSPHRASE/i,
  /CREDENTIAL/i,
  /_KEY$/i,
  /API_?KEY/i,
  /PRIVATE/i,
  /COOKIE/i,
  /_AUTH$/i,
  /^AWS_/,
  /^AZURE_/,
  /^GOOGLE_APPLICATION_CREDENTIALS$/,
  /^GITHUB_/,
  /^GH_/,
  /^GITLAB_/,
  /^NPM_CONFIG__?AUTH/i,
  /^SSH_AUTH_SOCK$/,
  /^SSH_AGENT_PID$/,
  /^GPG_AGENT_INFO$/,
  /^DBUS_SESSION_BUS_ADDRESS$/,
  /^XAUTHORITY$/,
  /^KRB5CCNAME$/,
  /^VAULT_/,
];

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function looksSecret(name: string): boolean {
  return SECRET_PATTERNS.some((p) => p.test(name));
}

export interface EnvChoices {
  base: Record<string, string | undefined>;
  clear: boolean;
  keep: string[];
  set: Record<string, string>;
  home: string;
  pwd: string;
}

/** The environment inside, and the names that were dropped (for --verbose). */
export function sandboxEnv(c: EnvChoices): { env: Record<string, string>; dropped: string[] } {
  const env: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(c.base)) {
    if (value === undefined) continue;
    if (c.keep.includes(name)) env[name] = value;
    else if (c.clear) continue;
    else if (looksSecret(name)) dropped.push(name);
    else env[name] = value;
  }
  if (c.clear) {
    env.PATH = c.base.PATH ?? DEFAULT_PATH;
    if (c.base.TERM) env.TERM = c.base.TERM;
  }
  env.HOME = c.home;
  env.PWD = c.pwd;
  delete env.OLDPWD;
  Object.assign(env, c.set);
  return { env, dropped: dropped.sort() };
}
