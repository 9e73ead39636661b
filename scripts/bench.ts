// bun run bench [MiB]: snapshot time and peak RSS of `ecfs snapshot` next to gcore, on the
// same parked process with N MiB (default 1024) of touched heap. Ratios, measured in one
// run, best of several (first-touch of fresh memory is slow on these VMs: warm up first).

import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { buildFixture, startFixture } from "../test/helpers/fixtures.ts";

const mib = Number(process.argv[2] ?? 1024);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const bun = process.execPath;
const main = join(import.meta.dir, "..", "src", "main.ts");
const outDir = tmpdir();

interface Sample {
  seconds: number;
  maxRssMiB: number;
  fileMiB: number;
  diskMiB: number;
}

async function measure(cmd: string[], outFile: string): Promise<Sample> {
  rmSync(outFile, { force: true });
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  const code = await p.exited;
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${await new Response(p.stderr).text()}`);
  const st = statSync(outFile);
  const usage = p.resourceUsage();
  const sample = { seconds, maxRssMiB: (usage?.maxRSS ?? 0) / 1048576, fileMiB: st.size / 1048576, diskMiB: (st.blocks * 512) / 1048576 };
  rmSync(outFile, { force: true });
  return sample;
}

function best(samples: Sample[]): Sample {
  return samples.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

const exe = buildFixture("patterns");
const fx = await startFixture(exe, ["--heap-mib", String(mib)], {}, { timeoutMs: 120_000 });
try {
  const ecfsOut = join(outDir, `bench-${fx.pid}.ecfs`);
  const gcoreBase = join(outDir, `bench-gcore`);
  const tools: Record<string, { cmd: string[]; out: string }> = {
    ecfs: { cmd: [bun, main, "snapshot", "-p", String(fx.pid), "-o", ecfsOut], out: ecfsOut },
    gcore: { cmd: ["gcore", "-o", gcoreBase, String(fx.pid)], out: `${gcoreBase}.${fx.pid}` },
  };
  const results: Record<string, Sample> = {};
  for (const [name, t] of Object.entries(tools)) {
    await measure(t.cmd, t.out); // warm-up
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await measure(t.cmd, t.out));
    results[name] = best(samples);
  }
  const e = results.ecfs!;
  const g = results.gcore!;
  console.log(`target: patterns with ${mib} MiB of touched heap (pid ${fx.pid}); best of ${runs} after a warm-up`);
  console.log("tool    seconds  peak RSS MiB  file MiB  on disk MiB");
  for (const [name, s] of Object.entries(results))
    console.log(`${name.padEnd(7)} ${s.seconds.toFixed(3).padStart(7)}  ${s.maxRssMiB.toFixed(1).padStart(12)}  ${s.fileMiB.toFixed(1).padStart(8)}  ${s.diskMiB.toFixed(1).padStart(11)}`);
  console.log(`ratio ecfs/gcore: time ${(e.seconds / g.seconds).toFixed(2)}x, peak RSS ${(e.maxRssMiB / g.maxRssMiB).toFixed(2)}x`);
} finally {
  await fx.kill();
}
