#!/usr/bin/env bun
// Transparent egress next to direct downloads, in one run: a local HTTP server streams a 1 GiB
// body (generated chunk by chunk, never held whole) and curl fetches it
//   - on the host, directly;
//   - inside `nsbox --net host` (the host's network, no egress): what the sandbox itself costs;
//   - inside `nsbox --net allow=127.0.0.1:PORT` with every proxy variable unset: transparent
//     egress (the socket nsbox connected on the host, installed in curl's place);
//   - inside the same sandbox through the proxy (HTTP_PROXY as nsbox sets it), for comparison.
// Runs are interleaved. Each throughput figure is curl's own %{speed_download}: nsbox's start-up
// is not in it (`nsbox --net allow=… -- true` is timed in the same run and shown for scale).
// Connect time, two ways, each against the same thing on the host, none hidden:
//   - curl's %{time_connect} of each download: the one connect of a program in a fresh sandbox
//     (nsbox's first trapped call: its cold path counts), as a user meets it;
//   - a python3 loop of N connect()s timed by python itself (start-up excluded): the median
//     per connect, warm. (Not its first connect: python's own first call costs up to 2 ms on
//     the host too, which would hide nsbox's cold path in a ratio.)
// Goals (issue 14): throughput >= 0.9x direct, connect <= 2x direct.
//
// Take the figures as an unprivileged user (rootless is the point), from a checkout it owns:
//   setpriv --reuid=1000 --regid=1000 --clear-groups env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp/home bun scripts/bench-net.ts
// Options (environment): SIZE_MB=1024 REPS=5 CONNECTS=500.
import { cpus, loadavg } from "node:os";
import { join } from "node:path";

const NSBOX = join(import.meta.dir, "..", "bin", "nsbox");
const MiB = 1024 * 1024;
const SIZE = Number(process.env.SIZE_MB ?? 1024) * MiB;
const REPS = Number(process.env.REPS ?? 5);
const CONNECTS = Number(process.env.CONNECTS ?? 500);
const CURL = Bun.which("curl");
const PYTHON = "/usr/bin/python3";
if (!CURL) {
  console.error("bench-net: curl not found; apt-get install curl");
  process.exit(1);
}

// The body: one 256 KiB chunk written again and again, each write awaited (backpressure).
const CHUNK = new Uint8Array(256 * 1024).fill(0x78);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    let left = Number(new URL(req.url).searchParams.get("bytes") ?? SIZE);
    const source: Bun.DirectUnderlyingSource = {
      type: "direct",
      async pull(c) {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          await c.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
        }
        c.close();
      },
    };
    return new Response(new ReadableStream(source), { headers: { "content-type": "application/octet-stream" } });
  },
});
// For the connect loop: a server that accepts and lets the client close.
const acceptor = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {}, error() {} } });
const url = (bytes: number) => `http://127.0.0.1:${server.port}/big?bytes=${bytes}`;

/** The caller's environment without proxy variables: each mode sets its own. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k)));
const sandbox = [process.execPath, NSBOX, "--net", `allow=127.0.0.1:${server.port},127.0.0.1:${acceptor.port}`, "--"];
/** Inside: every proxy variable nsbox set, unset. */
const unproxied = ["env", ...["http_proxy", "https_proxy", "all_proxy", "no_proxy"].flatMap((v) => ["-u", v, "-u", v.toUpperCase()])];

interface Mode {
  name: string;
  argv: (bytes: number) => string[];
}
const curl = (bytes: number) => [CURL, "-s", "-S", "-o", "/dev/null", "-w", "%{speed_download} %{size_download} %{http_code} %{time_connect}", url(bytes)];
const MODES: Mode[] = [
  { name: "host curl (direct)", argv: (b) => curl(b) },
  // The sandbox without egress (seccomp, namespaces): what the sandbox itself costs curl.
  { name: "nsbox --net host", argv: (b) => [process.execPath, NSBOX, "--net", "host", "--", ...curl(b)] },
  { name: "nsbox transparent", argv: (b) => [...sandbox, ...unproxied, ...curl(b)] },
  { name: "nsbox proxy (HTTP)", argv: (b) => [...sandbox, ...curl(b)] },
];

interface Sample {
  speed: number;
  connect: number;
}
const failures: string[] = [];

async function run(mode: Mode, bytes: number): Promise<Sample> {
  const proc = Bun.spawn(mode.argv(bytes), { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const [speed, size, status, connect] = out.trim().split(" ").map(Number);
  // A short or failed download is kept (its speed is still curl's) and reported, not hidden.
  if (code !== 0 || size !== bytes || status !== 200) failures.push(`${mode.name}: curl exit ${code}, ${size} of ${bytes} bytes, HTTP ${status}: ${err.trim().split("\n").at(-1)}`);
  return { speed: speed!, connect: connect! };
}

// N connects timed one by one by python (its start-up and the sandbox's are outside the loop): median seconds.
const LOOP = String.raw`
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
ts = []
for i in range(n):
    s = socket.socket(); t = time.perf_counter(); s.connect(("127.0.0.1", port)); ts.append(time.perf_counter() - t); s.close()
ts.sort(); print(ts[len(ts) // 2], sum(ts) / len(ts))
`;
async function connectLoop(inside: boolean): Promise<{ median: number; mean: number }> {
  const argv = [...(inside ? [...sandbox, ...unproxied] : []), PYTHON, "-c", LOOP, String(acceptor.port), String(CONNECTS)];
  const proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const [median, mean] = out.trim().split(" ").map(Number);
  if (code !== 0 || !median) failures.push(`connect loop ${inside ? "inside" : "on the host"}: exit ${code}: ${err.trim().split("\n").at(-1)}`);
  return { median: median!, mean: mean! };
}

/**
 * Where the floor is: scripts/notify-floor.c (a C supervisor doing the same mechanism with no
 * policy and no JavaScript), when a C compiler is at hand; its medians of REPS runs.
 */
async function floor(): Promise<void> {
  const cc = Bun.which("cc") ?? Bun.which("gcc");
  if (!cc) return console.log("floor: no C compiler (cc) to build scripts/notify-floor.c; skipped");
  const dir = (await Bun.$`mktemp -d`.text()).trim();
  try {
    const built = Bun.spawnSync([cc, "-O2", "-o", `${dir}/floor`, join(import.meta.dir, "notify-floor.c"), "-lpthread"], { stderr: "pipe" });
    if (built.exitCode !== 0) return console.log(`floor: scripts/notify-floor.c did not build: ${built.stderr.toString().trim().split("\n").at(-1)}`);
    const runs: Record<string, number[]> = {};
    for (let i = 0; i < REPS; i++) {
      const out = Bun.spawnSync([`${dir}/floor`, String(CONNECTS)], { stderr: "pipe" }).stdout.toString();
      for (const m of out.matchAll(/^(\S.*?)\s+median ([\d.]+) µs/gm)) (runs[m[1]!] ??= []).push(Number(m[2]));
    }
    const direct = median(runs["direct (no filter)"] ?? []), full = median(runs["notify + C supervisor (ADDFD, SEND)"] ?? []);
    console.log(`floor, scripts/notify-floor.c (C supervisor, same mechanism, no policy): ${(full / direct).toFixed(2)}x   (${full.toFixed(0)} µs vs ${direct.toFixed(0)} µs direct; the notification answered at once: ${median(runs["notify, answered ECONNREFUSED at once"] ?? []).toFixed(0)} µs; medians of ${REPS} loops of ${CONNECTS})`);
  } finally {
    await Bun.$`rm -rf ${dir}`.quiet();
  }
}

async function startup(): Promise<number> {
  const t = performance.now();
  await Bun.spawn([...sandbox, "true"], { env, stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exited;
  return (performance.now() - t) / 1000;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number, width = 7) => n.toFixed(0).padStart(width);
const us = (seconds: number) => `${(seconds * 1e6).toFixed(0)} µs`;

try {
  console.log(`nsbox network bench: ${SIZE / MiB} MiB per download, ${REPS} runs per mode, interleaved; ${CONNECTS} connects per loop`);
  console.log(`as uid ${process.getuid!()}, ${cpus().length} CPUs (load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}), bun ${Bun.version}, ${(await Bun.$`${CURL} --version`.text()).split("\n")[0]!.split(" ").slice(0, 2).join(" ")}`);
  console.log();

  // Warm up every path once (the executor's compile, page cache, TCP), untimed.
  for (const mode of MODES) await run(mode, 16 * MiB);

  const results = new Map<string, Sample[]>(MODES.map((m) => [m.name, []]));
  type Loop = { median: number; mean: number };
  const loops = { host: [] as Loop[], inside: [] as Loop[] };
  const starts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    for (const mode of MODES) results.get(mode.name)!.push(await run(mode, SIZE));
    loops.host.push(await connectLoop(false));
    loops.inside.push(await connectLoop(true));
    starts.push(await startup());
  }

  const w = Math.max(...MODES.map((m) => m.name.length));
  console.log(`${"mode".padEnd(w)}   ${"runs, MB/s (10^6 bytes/s)".padEnd(REPS * 7)}   median   curl time_connect (median)`);
  for (const mode of MODES) {
    const xs = results.get(mode.name)!;
    const speeds = xs.map((s) => s.speed / 1e6);
    console.log(`${mode.name.padEnd(w)}   ${speeds.map((s) => fmt(s, 6)).join(" ").padEnd(REPS * 7)}   ${fmt(median(speeds))}   ${us(median(xs.map((s) => s.connect)))}`);
  }
  console.log(`nsbox --net allow=… -- true (start-up, not in the figures above): median ${median(starts).toFixed(3)} s`);
  console.log();
  const med = (name: string) => median(results.get(name)!.map((s) => s.speed));
  const direct = med("host curl (direct)");
  const t = med("nsbox transparent") / direct, p = med("nsbox proxy (HTTP)") / direct;
  console.log(`throughput transparent / direct: ${t.toFixed(2)}x   (goal >= 0.90x: ${t >= 0.9 ? "met" : "NOT met"})`);
  console.log(`throughput proxy / direct:       ${p.toFixed(2)}x   (for comparison)`);
  console.log(`throughput transparent / --net host: ${(med("nsbox transparent") / med("nsbox --net host")).toFixed(2)}x   (egress's own share: the same sandbox, its network unmediated)`);
  // Time to connect: each measure against the host's, each with its verdict (goal <= 2x).
  const verdict = (x: number) => `goal <= 2x: ${x <= 2 ? "met" : "NOT met"}`;
  const connectOf = (name: string) => median(results.get(name)!.map((s) => s.connect));
  const curlIn = connectOf("nsbox transparent"), curlHost = connectOf("host curl (direct)");
  const cc = curlIn / curlHost;
  console.log(`connect, curl %{time_connect} (one connect in a fresh sandbox, cold path included): ${cc.toFixed(2)}x   (${us(curlIn)} vs ${us(curlHost)}, medians of ${REPS}; --net host ${us(connectOf("nsbox --net host"))}; ${verdict(cc)})`);
  const host = median(loops.host.map((l) => l.median)), inside = median(loops.inside.map((l) => l.median));
  const c = inside / host;
  console.log(`connect(), python loop (median per connect, warm):                  ${c.toFixed(2)}x   (${us(inside)} vs ${us(host)}, medians of ${REPS} loops of ${CONNECTS}; means ${us(median(loops.inside.map((l) => l.mean)))} vs ${us(median(loops.host.map((l) => l.mean)))}; ${verdict(c)})`);
  await floor();
  console.log();
  console.log(failures.length ? `${failures.length} run(s) incomplete:\n  ${failures.join("\n  ")}` : "every download complete (size and HTTP status checked), every connect loop complete");
} finally {
  server.stop(true);
  acceptor.stop(true);
}
process.exitCode = failures.length ? 1 : 0;
