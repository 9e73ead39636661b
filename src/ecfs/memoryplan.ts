// The part of the plan that must be known before the memory is copied, and can be: the notes
// (registers, process facts, NT_FILE) and one PT_LOAD per mapping. It needs nothing read from
// the target's memory, so the file's memory image can be placed and copied while the target is
// stopped, and everything else planned from the copy afterwards (ecfs/pipeline.ts). planEcfs
// (ecfs/build.ts) makes the same notes and loads, and the pipeline checks that it did.

import type { ProcessImage } from "../model/image.ts";
import { representable, segmentFlags, worthDumping } from "./build.ts";
import { coreNotesFromKernel } from "./kernelnotes.ts";
import { buildCoreNotes, encodeNotes } from "./notes.ts";
import type { LoadPlan } from "./plan.ts";

export interface MemoryPlan {
  notes: Uint8Array;
  loads: LoadPlan[];
}

export function planMemory(image: ProcessImage): MemoryPlan {
  const mappings = representable(image);
  const core = image.kernelNotes
    ? coreNotesFromKernel(image.cls, image.kernelNotes, image.threads)
    : buildCoreNotes(image.cls, image.info, image.threads, mappings, image.xsaveLayout);
  const loads = mappings.map((m) => ({
    vaddr: m.start,
    memsz: m.end - m.start,
    flags: segmentFlags(m.perms),
    dumpSize: worthDumping(m) ? m.end - m.start : 0n,
  }));
  return { notes: encodeNotes(core.notes), loads };
}
