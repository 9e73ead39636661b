// A core written by the kernel itself, as the reference for what gdb can and cannot read
// from a core on this machine (e.g. gdb 13 loses k0-k7 from the XSAVE note on CPUs whose
// AVX-512 layout differs from Intel's), and for what a core says of a process we snapshot
// first. Sets core_pattern for one crash and restores it, under the machine-wide lock of
// corepattern.ts.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { withCorePattern, withCorePatternSync } from "./corepattern.ts";
import { buildFixture } from "./fixtures.ts";
import { gdbCoreThreads } from "./gdb.ts";

/** Crash `exe` with core_pattern pointing into `dir`; returns the core's path. */
export function kernelCore(exe: string, dir: string): string {
  withCorePatternSync(join(dir, "kcore.%p"), undefined, () => Bun.spawnSync(["sh", "-c", `ulimit -c unlimited; exec ${exe}`]));
  const name = readdirSync(dir).find((f) => f.startsWith("kcore."));
  if (!name) throw new Error(`the kernel wrote no core for ${exe} into ${dir}`);
  return join(dir, name);
}

/**
 * Kill the running process `pid` with `signal` (one whose default action dumps core) while
 * core_pattern points into `dir`, and wait until it is gone (`exited`); returns the core's path.
 * The process must have raised its own RLIMIT_CORE.
 */
export async function crashIntoCore(pid: number, exited: Promise<unknown>, dir: string, signal: NodeJS.Signals = "SIGABRT"): Promise<string> {
  await withCorePattern(join(dir, "kcore.%p"), undefined, async () => {
    process.kill(pid, signal);
    await exited;
  });
  const name = `kcore.${pid}`;
  if (!readdirSync(dir).includes(name)) throw new Error(`the kernel wrote no core for pid ${pid} into ${dir}`);
  return join(dir, name);
}

/** Registers gdb reports as <unavailable> in a kernel core of a 64-bit process here. */
export function kernelCoreUnavailableRegs(dir: string): Set<string> {
  const exe = buildFixture("crash");
  const core = kernelCore(exe, dir);
  const t = [...gdbCoreThreads(exe, core).threads.values()][0];
  return new Set(t?.unavailable ?? []);
}
