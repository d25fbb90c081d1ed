// Host trust: nsbox's own code (its sources, bin, Bun configuration and the packages it imports)
// is read-only inside a sandbox whose writable share holds it, e.g. `nsbox -- bash` started in
// nsbox's checkout as the README's first command does. The next nsbox start would run it.
import { describe, expect, it, setDefaultTimeout } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, nsbox } from "./helpers.ts";

setDefaultTimeout(60_000);

describe("nsbox's own code in a writable share", () => {
  it("cannot be changed from inside; another file of the same share can (the control)", async () => {
    const probe = `.own-code-probe-${process.pid}`;
    try {
      const r = await nsbox(["--", "sh", "-c", [
        "for f in src/cli.ts bin/nsbox package.json tsconfig.json bunfig.toml node_modules/consola/package.json; do",
        // access(W_OK) answers EROFS for a read-only mount, without changing the file.
        "  if test -w \"$f\"; then echo \"writable $f\"; fi",
        "done",
        "touch src/new-file 2>/dev/null && rm src/new-file && echo 'created src/new-file'",
        `touch ${probe} && echo control-ok`,
      ].join("\n")], { cwd: ROOT });
      expect(r.stdout).toBe("control-ok\n");
      expect(r.exitCode).toBe(0);
      expect(existsSync(join(ROOT, probe))).toBe(true);
      expect(existsSync(join(ROOT, "src", "new-file"))).toBe(false);
    } finally {
      rmSync(join(ROOT, probe), { force: true });
    }
  });
});
