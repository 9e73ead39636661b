// ProcessImage -> ECFS file: plan, lay out and write, the same for every capture (a live
// process in snapshot.ts, a crashing one in the core_pattern handler). The caller owns the
// image (and so the memory reader's lifetime) and the sink (naming, atomicity).

import { openExe } from "../capture/exe.ts";
import { ET_NONE } from "../elf/consts.ts";
import type { ProcessImage } from "../model/image.ts";
import type { HeuristicsReport } from "./heuristics/findings.ts";
import { planEcfs } from "./build.ts";
import { layoutCore, type CoreLayout } from "./layout.ts";
import { writeCore, type Gap, type Sink } from "./write.ts";

export interface EcfsOptions {
  /** ET_NONE (the ECFS default) or ET_CORE. */
  eType?: number;
  heuristics?: boolean;
  /** Between chunks of the copy; throw from it to abort. */
  checkpoint?: () => Promise<void> | void;
  /**
   * Called with the finished layout before a byte is written: the file's size is known here,
   * so a caller can refuse (throw) a file that would not fit its storage limits.
   */
  beforeWrite?: (layout: CoreLayout) => void;
  /** The executable to read section headers from; default /proc/PID/exe. */
  exePath?: string;
}

export interface EcfsWritten {
  threads: number;
  mappings: number;
  /** Size of the file (holes included). */
  bytes: number;
  bytesOfMemory: number;
  gaps: Gap[];
  /** The image's problems and the planner's: what the file lacks, for the user. */
  warnings: string[];
  /** What the heuristics found (with `heuristics`). */
  heuristics?: HeuristicsReport;
}

export async function writeEcfs(image: ProcessImage, sink: Sink, opts: EcfsOptions = {}): Promise<EcfsWritten> {
  const warnings: string[] = [...image.problems];
  const exe = openExe(opts.exePath ?? `/proc/${image.info.pid}/exe`);
  if (exe.problem) warnings.push(exe.problem);
  let plan;
  let heuristics: HeuristicsReport | undefined;
  try {
    const r = planEcfs(image, exe, { eType: opts.eType ?? ET_NONE, heuristics: opts.heuristics ?? false });
    plan = r.plan;
    heuristics = r.heuristics?.report;
    warnings.push(...r.problems);
  } finally {
    exe.close();
  }
  const layout = layoutCore(plan);
  opts.beforeWrite?.(layout);
  await opts.checkpoint?.();
  const stats = await writeCore(plan, layout, sink, image.mem, { checkpoint: opts.checkpoint });
  return {
    threads: image.threads.length, mappings: plan.loads.length, bytes: layout.fileSize,
    bytesOfMemory: stats.bytesOfMemory, gaps: stats.gaps, warnings, ...(heuristics && { heuristics }),
  };
}
