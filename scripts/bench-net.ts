#!/usr/bin/env bun
// Throughput of nsbox's network proxy next to direct downloads, in one run: a local HTTP server
// streams a 200 MiB body (generated chunk by chunk, never held whole) and curl fetches it
//   - on the host, directly;
//   - inside `nsbox --net host` (the host's network, no proxy);
//   - inside `nsbox --net allow=127.0.0.1:PORT`, through the proxy: plain HTTP forwarding,
//     CONNECT (curl -p) and SOCKS5.
// Runs are interleaved; each figure is curl's own %{speed_download}. The ratio proxy/direct is
// the point (goal: at least 0.8x). While the proxied downloads run, the nsbox parent's memory
// (/proc/PID/status VmRSS, VmHWM) and CPU time are sampled: memory must stay flat whatever the
// body's size, which a 1 MiB download next to the 200 MiB one shows.
//
// Take the figures as an unprivileged user (rootless is the point), from a checkout it owns:
//   setpriv --reuid=1000 --regid=1000 --clear-groups env -i PATH=$PATH HOME=/tmp/home bun scripts/bench-net.ts
// Options (environment): SIZE_MB=200 REPS=9.
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";

const NSBOX = join(import.meta.dir, "..", "bin", "nsbox");
const MiB = 1024 * 1024;
const SIZE = Number(process.env.SIZE_MB ?? 200) * MiB;
const REPS = Number(process.env.REPS ?? 9);
const CURL = Bun.which("curl");
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
const url = (bytes: number) => `http://127.0.0.1:${server.port}/big?bytes=${bytes}`;

/** The caller's environment without proxy variables: each mode sets its own. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k)));
const allow = ["--net", `allow=127.0.0.1:${server.port}`];

interface Mode {
  name: string;
  argv: (bytes: number) => string[];
  /** Sample the nsbox parent's memory and CPU while it runs. */
  sampled?: boolean;
}
const curl = (bytes: number, ...extra: string[]) => [CURL, "-s", "-S", ...extra, "-o", "/dev/null", "-w", "%{speed_download} %{size_download} %{http_code}", url(bytes)];
const MODES: Mode[] = [
  { name: "host curl (direct)", argv: (b) => curl(b) },
  { name: "nsbox --net host", argv: (b) => [process.execPath, NSBOX, "--net", "host", "--", ...curl(b)] },
  { name: "nsbox proxy: HTTP", argv: (b) => [process.execPath, NSBOX, ...allow, "--", ...curl(b)], sampled: true },
  { name: "nsbox proxy: CONNECT", argv: (b) => [process.execPath, NSBOX, ...allow, "--", ...curl(b, "-p", "-x", "http://127.0.0.1:3128")], sampled: true },
  { name: "nsbox proxy: SOCKS5", argv: (b) => [process.execPath, NSBOX, ...allow, "--", ...curl(b, "-x", "socks5h://127.0.0.1:3128")], sampled: true },
];

interface Sample {
  /** Bytes per second, as curl measured. */
  speed: number;
  /** Peak VmRSS seen while sampling, VmHWM at the last sample, in KiB; CPU seconds (user+system). */
  rssKiB?: number;
  hwmKiB?: number;
  cpuSeconds?: number;
}

function procStatus(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
    return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
  } catch {
    return undefined;
  }
}
const TICKS = 100; // USER_HZ
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
  } catch {
    return undefined;
  }
}

const failures: string[] = [];

async function run(mode: Mode, bytes: number): Promise<Sample> {
  const proc = Bun.spawn(mode.argv(bytes), { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let rss = 0, hwm = 0, cpu: number | undefined;
  const sample = () => {
    const s = procStatus(proc.pid);
    if (s && !Number.isNaN(s.rss)) {
      rss = Math.max(rss, s.rss);
      hwm = Math.max(hwm, s.hwm);
      cpu = cpuSeconds(proc.pid) ?? cpu;
    }
  };
  const timer = mode.sampled ? setInterval(sample, 10) : undefined;
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearInterval(timer);
  const [speed, size, status] = out.trim().split(" ").map(Number);
  // A short or failed download is kept (its speed is still curl's) and reported, not hidden.
  const failure = code !== 0 || size !== bytes || status !== 200
    ? `${mode.name}: curl exit ${code}, ${size} of ${bytes} bytes, HTTP ${status}: ${err.trim().split("\n").at(-1)}`
    : undefined;
  if (failure) failures.push(failure);
  return mode.sampled ? { speed: speed!, rssKiB: rss, hwmKiB: hwm, cpuSeconds: cpu } : { speed: speed! };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mbps = (bytesPerSecond: number) => bytesPerSecond / 1e6;
const fmt = (n: number, width = 7) => n.toFixed(0).padStart(width);

try {
  console.log(`nsbox network bench: ${SIZE / MiB} MiB per download, ${REPS} runs per mode, interleaved`);
  console.log(`as uid ${process.getuid!()}, ${cpus().length} CPUs (load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}), bun ${Bun.version}, ${(await Bun.$`${CURL} --version`.text()).split("\n")[0]!.split(" ").slice(0, 2).join(" ")}`);
  console.log();

  // Warm up every path once (the executor's compile, page cache, TCP), untimed.
  for (const mode of MODES) await run(mode, 16 * MiB);

  const results = new Map<string, Sample[]>(MODES.map((m) => [m.name, []]));
  for (let i = 0; i < REPS; i++) for (const mode of MODES) results.get(mode.name)!.push(await run(mode, SIZE));
  // Memory for a small body through the same proxy: the baseline a flat proxy stays at.
  const small: Sample[] = [];
  for (let i = 0; i < 3; i++) small.push(await run(MODES[2]!, MiB));

  const w = Math.max(...MODES.map((m) => m.name.length));
  console.log(`${"mode".padEnd(w)}   ${"runs, MB/s (10^6 bytes/s)".padEnd(REPS * 7)}   median`);
  for (const mode of MODES) {
    const speeds = results.get(mode.name)!.map((s) => mbps(s.speed));
    console.log(`${mode.name.padEnd(w)}   ${speeds.map((s) => fmt(s, 6)).join(" ").padEnd(REPS * 7)}   ${fmt(median(speeds))}`);
  }
  console.log();
  const med = (name: string) => median(results.get(name)!.map((s) => s.speed));
  const direct = med("host curl (direct)"), netHost = med("nsbox --net host");
  for (const mode of MODES.filter((m) => m.sampled)) {
    const p = med(mode.name);
    console.log(`ratio ${mode.name.replace("nsbox proxy: ", "proxy (")}) / direct: ${(p / direct).toFixed(2)}x   / --net host: ${(p / netHost).toFixed(2)}x   (goal >= 0.80x)`);
  }
  console.log();
  console.log("nsbox parent (the proxy) during proxied downloads, peak over runs:");
  const peak = (xs: Sample[], k: "rssKiB" | "hwmKiB") => Math.max(...xs.map((s) => s[k] ?? 0)) / 1024;
  console.log(`  ${"1 MiB body (HTTP)".padEnd(22)} VmRSS ${peak(small, "rssKiB").toFixed(1)} MiB, VmHWM ${peak(small, "hwmKiB").toFixed(1)} MiB`);
  for (const mode of MODES.filter((m) => m.sampled)) {
    const xs = results.get(mode.name)!;
    const cpu = median(xs.map((s) => s.cpuSeconds ?? NaN));
    console.log(`  ${`${SIZE / MiB} MiB body (${mode.name.replace("nsbox proxy: ", "")})`.padEnd(22)} VmRSS ${peak(xs, "rssKiB").toFixed(1)} MiB, VmHWM ${peak(xs, "hwmKiB").toFixed(1)} MiB, CPU ${cpu.toFixed(2)} s (median, user+system)`);
  }
  console.log();
  console.log(failures.length ? `${failures.length} download(s) incomplete:\n  ${failures.join("\n  ")}` : "every download complete (size and HTTP status checked)");
} finally {
  server.stop(true);
}
process.exitCode = failures.length ? 1 : 0;
