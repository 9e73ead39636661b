// bun run bench [MiB]: snapshot time, target pause and peak RSS of `ecfs snapshot` (with and
// without --low-pause) next to gcore, on the same parked process with N MiB (default 1024) of
// touched heap. Ratios, measured in one run, best of several (first-touch of fresh memory is
// slow on these VMs: warm up first). gcore keeps the target stopped for its whole run.

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
  /** How long the target was stopped, as ecfs reports it; gcore's whole run. */
  pauseMs: number;
  maxRssMiB: number;
  fileMiB: number;
  diskMiB: number;
}

async function measure(cmd: string[], outFile: string): Promise<Sample> {
  rmSync(outFile, { force: true });
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const code = await p.exited;
  const seconds = (performance.now() - t0) / 1000;
  const paused = /target paused (\d+) ms/.exec(await new Response(p.stdout).text());
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${await new Response(p.stderr).text()}`);
  const st = statSync(outFile);
  const usage = p.resourceUsage();
  const sample = { seconds, pauseMs: paused ? Number(paused[1]) : seconds * 1000, maxRssMiB: (usage?.maxRSS ?? 0) / 1048576, fileMiB: st.size / 1048576, diskMiB: (st.blocks * 512) / 1048576 };
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
    "ecfs -L": { cmd: [bun, main, "snapshot", "-p", String(fx.pid), "-o", ecfsOut, "--low-pause"], out: ecfsOut },
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
  const l = results["ecfs -L"]!;
  const g = results.gcore!;
  console.log(`target: patterns with ${mib} MiB of touched heap (pid ${fx.pid}); best of ${runs} after a warm-up`);
  console.log("tool      seconds  pause ms  peak RSS MiB  file MiB  on disk MiB   (ecfs -L: --low-pause)");
  for (const [name, s] of Object.entries(results))
    console.log(`${name.padEnd(9)} ${s.seconds.toFixed(3).padStart(7)}  ${s.pauseMs.toFixed(0).padStart(8)}  ${s.maxRssMiB.toFixed(1).padStart(12)}  ${s.fileMiB.toFixed(1).padStart(8)}  ${s.diskMiB.toFixed(1).padStart(11)}`);
  console.log(`ratio ecfs/gcore: time ${(e.seconds / g.seconds).toFixed(2)}x, pause ${(e.pauseMs / g.pauseMs).toFixed(2)}x, peak RSS ${(e.maxRssMiB / g.maxRssMiB).toFixed(2)}x`);
  console.log(`ratio ecfs --low-pause/gcore: time ${(l.seconds / g.seconds).toFixed(2)}x, pause ${(l.pauseMs / g.pauseMs).toFixed(3)}x, peak RSS ${(l.maxRssMiB / g.maxRssMiB).toFixed(2)}x`);
} finally {
  await fx.kill();
}
