// What this machine can do, probed once per test run (bun test runs every file in one
// process, so module state is per run). Machines of this project's kind differ: some kernels
// exec i386 programs, others (paravirtualized guests without 32-bit user mode) refuse them
// with ENOEXEC although CONFIG_IA32_EMULATION is set; some map the shared zero page on a
// read fault, others populate a real page. Tests that need a capability skip with the
// runner's own skip (so the counts stay honest) and the reason is printed once, on a line
// starting with SKIP_PREFIX that .ci/run repeats under its closing count.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SKIP_PREFIX = "ecfs-ts: skipping:";

export interface Capability {
  ok: boolean;
  /** Why not, in plain words; undefined when ok. */
  reason?: string;
}

/**
 * Can this kernel execute an i386 program? Compiling is not the question: a machine without
 * gcc-multilib is a broken setup (scripts/setup.sh installs it), so a failed compile counts
 * as "can run" and the i386 tests then fail loudly on the compiler, as they should.
 */
function probeI386(): Capability {
  const dir = mkdtempSync(join(tmpdir(), "ecfs-probe-"));
  try {
    const exe = join(dir, "probe32");
    const cc = spawnSync("cc", ["-m32", "-x", "c", "-o", exe, "-"], { input: "int main(void){return 7;}", encoding: "utf8" });
    if (cc.status !== 0) return { ok: true };
    const run = spawnSync(exe, [], { encoding: "utf8" });
    if (run.status === 7) return { ok: true };
    const why = run.error ? (run.error as NodeJS.ErrnoException).code ?? run.error.message : `exit ${run.status} signal ${run.signal}`;
    return { ok: false, reason: `this kernel cannot execute i386 programs (exec of a cc -m32 program: ${why}); tests that start i386 processes are skipped` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function announce(c: Capability): Capability {
  if (!c.ok) console.error(`${SKIP_PREFIX} ${c.reason}`);
  return c;
}

/** i386 processes can be started here. */
export const I386 = announce(probeI386());
/** For test.skipIf / describe.skipIf: true where i386 processes cannot run. */
export const NO_I386 = !I386.ok;
