// The live front end of the pipeline: stop the process (capture/live), copy its memory into a
// temporary file, resume it, plan the rest of the ECFS file from the copy (ecfs/pipeline.ts),
// and name the file. A failure anywhere removes the temporary file and still resumes the target.

import { openExe } from "./capture/exe.ts";
import { preflight, withLiveProcess } from "./capture/live.ts";
import { AtomicFile } from "./ecfs/output.ts";
import { writeEcfs } from "./ecfs/pipeline.ts";
import type { Gap } from "./ecfs/write.ts";
import { ET_CORE, ET_NONE } from "./elf/consts.ts";
import { InterruptedError } from "./errors.ts";
import type { HeuristicsReport } from "./ecfs/heuristics/findings.ts";

export interface SnapshotOptions {
  pid: number;
  /** Output path; default ./<comm>.<pid> is chosen by the CLI. */
  out: (comm: string, pid: number) => string;
  /** Replace an existing regular file at the output path (never anything else: ecfs/outpath.ts). */
  force?: boolean;
  /** Write ET_CORE (gdb-ready) instead of ECFS's ET_NONE. */
  core: boolean;
  heuristics?: boolean;
  /** Copy a fork of the stopped target, resuming the target at once (capture/fork.ts). */
  lowPause?: boolean;
}

export interface SnapshotResult {
  path: string;
  pid: number;
  threads: number;
  mappings: number;
  bytes: number;
  bytesOfMemory: number;
  gaps: Gap[];
  /** Milliseconds the target was stopped. */
  pausedMs: number;
  warnings: string[];
  /** What the heuristics found (with `heuristics`). */
  heuristics?: HeuristicsReport;
}

/** Signals that end a snapshot early: the target is resumed and no file is left. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export async function snapshot(opts: SnapshotOptions): Promise<SnapshotResult> {
  let interrupted: string | undefined;
  const onSignal = (sig: string) => {
    interrupted = sig;
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  let lastYield = performance.now();
  // Signal handlers run on the event loop: give it a turn now and then during the copy.
  const checkpoint = async () => {
    if (performance.now() - lastYield > 50) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
    if (interrupted) throw new InterruptedError(interrupted);
  };
  // Target checks first, then the output file, and only then stop the target: a bad
  // output path must never cost the target a pause.
  const target = preflight(opts.pid);
  const path = opts.out(target.stat.comm, target.pid);
  const file = AtomicFile.create(path, 0o600, { force: opts.force ?? false });
  // Its section headers are read only after the copy, but the file is opened now: no work for the pause.
  const exe = openExe(`/proc/${target.pid}/exe`);
  try {
    let stoppedAt: number | undefined;
    let resumedAt: number | undefined;
    const late: string[] = [];
    const capture = {
      lowPause: opts.lowPause ?? false, late,
      onStop: () => void (stoppedAt ??= performance.now()),
      onResume: () => void (resumedAt ??= performance.now()),
    };
    const written = await withLiveProcess(target, async (image, copied) => {
      // The target resumes as soon as its memory is in the file; the rest is planned from the copy.
      const w = await writeEcfs(image, file, { eType: opts.core ? ET_CORE : ET_NONE, heuristics: opts.heuristics ?? false, checkpoint, afterCopy: copied, exe });
      return { path, pid: image.info.pid, ...w };
    }, capture);
    // Named only after the target runs again: nothing about the file need pause it.
    file.commit();
    const pausedMs = stoppedAt === undefined ? 0 : (resumedAt ?? performance.now()) - stoppedAt;
    return { ...written, pausedMs, warnings: [...written.warnings, ...late] };
  } catch (e) {
    file.abort();
    throw e;
  } finally {
    exe.close();
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
