// ProcessImage -> ECFS file, the same for every capture (a live process in snapshot.ts, a
// crashing one in the core_pattern handler). The caller owns the image (and so the memory
// reader's lifetime) and the sink (naming, atomicity).
//
// In the order of docs/DESIGN.md "Stop only for what must be read while stopped": the notes and
// the PT_LOADs are planned from the image alone and the memory image is copied into the file
// first; then `afterCopy` lets the caller release the memory source (resume the target, kill the
// fork) and fill in what it reads late; and only then is everything derived from the captured
// bytes (symbols, .dynsym, PLT/GOT, library sections) planned, from the copy in the file
// (ecfs/copied.ts), never from the running process.

import { type ExeFile, openExe } from "../capture/exe.ts";
import { ET_NONE } from "../elf/consts.ts";
import { assert } from "../errors.ts";
import type { ProcessImage } from "../model/image.ts";
import type { HeuristicsReport } from "./heuristics/findings.ts";
import { planEcfs } from "./build.ts";
import { CopiedMemory } from "./copied.ts";
import { layoutMemory, layoutSections } from "./layout.ts";
import { planMemory } from "./memoryplan.ts";
import { type Gap, OrderedSink, type ReadableSink, writeMemoryImage, writeSections } from "./write.ts";

export interface EcfsOptions {
  /** ET_NONE (the ECFS default) or ET_CORE. */
  eType?: number;
  heuristics?: boolean;
  /** Between chunks of the copy; throw from it to abort. */
  checkpoint?: () => Promise<void> | void;
  /**
   * Called before a byte is written with the size of the file up to the end of its memory
   * image, so a caller can refuse (throw) a file that would not fit its storage limits. The
   * sections after the memory image are planned from the copy, so their size (small: symbol
   * tables, /proc texts) is not known yet.
   */
  beforeWrite?: (planned: { memoryBytes: number }) => void;
  /**
   * Called once the memory image is in the file, before anything is derived from it: the
   * image's memory reader is not used again, and what the caller reads now (image.info's
   * sockets and .procfs.tgz, image.problems) still goes into the file.
   */
  afterCopy?: () => Promise<void> | void;
  /** The executable to read section headers from; default /proc/PID/exe (opened before the copy). */
  exePath?: string;
  /** The executable already open (before the target was stopped): used instead, and left open. */
  exe?: ExeFile;
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

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

export async function writeEcfs(image: ProcessImage, sink: ReadableSink, opts: EcfsOptions = {}): Promise<EcfsWritten> {
  // Opened now, while the process surely exists: its /proc/PID/exe may be gone after the copy.
  const exe = opts.exe ?? openExe(opts.exePath ?? `/proc/${image.info.pid}/exe`);
  try {
    const { cls } = image;
    const memory = planMemory(image);
    const memLayout = layoutMemory(cls, memory.notes, memory.loads);
    opts.beforeWrite?.({ memoryBytes: memLayout.memoryEnd });
    await opts.checkpoint?.();
    const out = new OrderedSink(sink, cls.ehdrSize);
    const stats = await writeMemoryImage(cls, memLayout, memory.notes, out, image.mem, { checkpoint: opts.checkpoint });
    await opts.afterCopy?.();

    const copy = new CopiedMemory(memLayout.loads, stats.gaps, (dst, offset) => sink.read(dst, offset));
    const { plan, problems, heuristics } = planEcfs({ ...image, mem: copy }, exe, { eType: opts.eType ?? ET_NONE, heuristics: opts.heuristics ?? false });
    assert(sameBytes(plan.notes, memory.notes), "the plan's notes are the ones written");
    const layout = layoutSections(plan, memLayout);
    writeSections(plan, layout, out, stats);
    const warnings = [...image.problems, ...(exe.problem ? [exe.problem] : []), ...problems];
    return {
      threads: image.threads.length, mappings: plan.loads.length, bytes: layout.fileSize,
      bytesOfMemory: stats.bytesOfMemory, gaps: stats.gaps, warnings, ...(heuristics && { heuristics: heuristics.report }),
    };
  } finally {
    if (exe !== opts.exe) exe.close();
  }
}
