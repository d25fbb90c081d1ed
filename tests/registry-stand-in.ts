// A stand-in for registry.npmjs.org, for README commands that install from it as written
// (`nsbox --net allow=registry.npmjs.org -- npm install`, `nsbox -p install -- npm install`).
// nsbox's proxy lets no name reach this machine (loopback, its own addresses: by design, and
// no test hook opens that), so the stand-in is a real other host: the command runs in a user,
// network, mount and PID namespace of its own (unshare), where registry.npmjs.org is
// 198.18.0.2 in /etc/hosts, a second network namespace behind a veth pair serves it over TLS
// (a certificate from a CA made here), and that CA is the one the bundle npm reads holds.
// nsbox runs there unchanged, as root of that namespace, and resolves, checks and connects
// exactly as it would to the real registry. The stand-in serves one package, nsbox-readme-demo,
// which the real registry does not have, and logs every request.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The package the stand-in serves; a project depending on it can only install from the stand-in. */
export const DEMO_PACKAGE = "nsbox-readme-demo";

const SERVER = `// The stand-in registry (tests/registry-stand-in.ts): one package over TLS, each request logged.
const dir = import.meta.dir;
const tarball = await Bun.file(dir + "/demo.tgz").bytes();
const integrity = "sha512-" + new Bun.CryptoHasher("sha512").update(tarball).digest("base64");
const name = ${JSON.stringify(DEMO_PACKAGE)};
const file = "/" + name + "/-/" + name + "-1.0.0.tgz";
const packument = { name, "dist-tags": { latest: "1.0.0" }, versions: { "1.0.0": { name, version: "1.0.0", main: "index.js", dist: { tarball: "https://registry.npmjs.org" + file, integrity } } } };
Bun.serve({
  hostname: process.argv[2],
  port: 443,
  tls: { cert: Bun.file(dir + "/server.pem"), key: Bun.file(dir + "/server.key") },
  fetch(req) {
    const path = new URL(req.url).pathname;
    console.log(req.method, path);
    if (path === "/" + name) return Response.json(packument);
    if (path === file) return new Response(tarball);
    return new Response("not here\\n", { status: 404 });
  },
});
`;

const WRAP = `# Run "$2" where registry.npmjs.org is the stand-in in "$1" (see tests/registry-stand-in.ts).
set -euo pipefail
dir=$1
ip link set lo up
unshare --net sleep 3600 & peer=$!
trap 'kill $peer 2>/dev/null || true' EXIT
while [ "$(readlink /proc/$peer/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
ip link add v0 type veth peer name v1
ip link set v1 netns "$peer"
ip addr add 198.18.0.1/24 dev v0
ip link set v0 up
nsenter --net=/proc/$peer/ns/net sh -c 'ip link set lo up; ip addr add 198.18.0.2/24 dev v1; ip link set v1 up'
nsenter --net=/proc/$peer/ns/net "$NSBOX_TEST_BUN" "$dir/server.ts" 198.18.0.2 >> "$dir/requests.log" 2>&1 &
for i in $(seq 400); do (exec 3<>/dev/tcp/198.18.0.2/443) 2>/dev/null && break; sleep 0.05; done
mount --bind "$dir/hosts" /etc/hosts
mount --bind "$dir/ca.pem" /etc/ssl/certs/ca-certificates.crt
export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
unset NSBOX_TEST_BUN
bash -c "$2"
`;

function run(argv: string[], cwd: string): void {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
}

/**
 * Make the stand-in's files in `dir` (a fresh directory of this test): a CA and a certificate
 * for registry.npmjs.org (openssl), the package's tarball, the server and the wrapper. Returns
 * `argv(command)`, the argv that runs a command line there, and `requests()`, what was asked.
 */
export function registryStandIn(dir: string): { argv: (command: string) => string[]; requests: () => string[] } {
  mkdirSync(join(dir, "pkg/package"), { recursive: true });
  writeFileSync(join(dir, "pkg/package/package.json"), JSON.stringify({ name: DEMO_PACKAGE, version: "1.0.0", main: "index.js" }));
  writeFileSync(join(dir, "pkg/package/index.js"), "module.exports = 42;\n");
  run(["tar", "czf", "demo.tgz", "-C", "pkg", "package"], dir);
  run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=nsbox test CA"], dir);
  run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=registry.npmjs.org"], dir);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:registry.npmjs.org\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"], dir);
  writeFileSync(join(dir, "hosts"), "127.0.0.1 localhost\n::1 localhost\n198.18.0.2 registry.npmjs.org\n");
  writeFileSync(join(dir, "server.ts"), SERVER);
  writeFileSync(join(dir, "wrap.sh"), WRAP);
  writeFileSync(join(dir, "requests.log"), "");
  chmodSync(join(dir, "requests.log"), 0o600);
  return {
    argv: (command) => ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--mount-proc", "bash", join(dir, "wrap.sh"), dir, command],
    requests: () => readFileSync(join(dir, "requests.log"), "utf8").split("\n").filter(Boolean),
  };
}
