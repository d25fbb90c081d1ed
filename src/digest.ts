// sha256 as hex: what trust binds a config file's content to, and what a trusted seccomp file must still hash to.
export const sha256 = (data: string | Buffer): string => new Bun.CryptoHasher("sha256").update(data).digest("hex");
