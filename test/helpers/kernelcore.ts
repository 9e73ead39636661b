// A core written by the kernel itself, as the reference for what gdb can and cannot read
// from a core on this machine (e.g. gdb 13 loses k0-k7 from the XSAVE note on CPUs whose
// AVX-512 layout differs from Intel's). Sets core_pattern for one crash and restores it,
// under the machine-wide lock of corepattern.ts.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { withCorePatternSync } from "./corepattern.ts";
import { buildFixture } from "./fixtures.ts";
import { gdbCoreThreads } from "./gdb.ts";

/** Crash `exe` with core_pattern pointing into `dir`; returns the core's path. */
export function kernelCore(exe: string, dir: string): string {
  withCorePatternSync(join(dir, "kcore.%p"), undefined, () => Bun.spawnSync(["sh", "-c", `ulimit -c unlimited; exec ${exe}`]));
  const name = readdirSync(dir).find((f) => f.startsWith("kcore."));
  if (!name) throw new Error(`the kernel wrote no core for ${exe} into ${dir}`);
  return join(dir, name);
}

/** Registers gdb reports as <unavailable> in a kernel core of a 64-bit process here. */
export function kernelCoreUnavailableRegs(dir: string): Set<string> {
  const exe = buildFixture("crash");
  const core = kernelCore(exe, dir);
  const t = [...gdbCoreThreads(exe, core).threads.values()][0];
  return new Set(t?.unavailable ?? []);
}
