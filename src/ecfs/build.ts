// ProcessImage -> CorePlan: the model-to-spec conversion in one place. Notes follow the
// kernel's core format so gdb, readelf and eu-stack read the file as a core; sections
// follow ECFS-FORMAT.md.

import { ET_NONE, PF_R, PF_W, PF_X } from "../elf/consts.ts";
import type { Mapping, ProcessImage } from "../model/image.ts";
import { isDumpable } from "../proc/smaps.ts";
import { buildCoreNotes, encodeNotes } from "./notes.ts";
import type { CorePlan, LoadPlan } from "./plan.ts";
import { baseSections, type ExeInfo } from "./sections.ts";

export interface PlanOptions {
  /** ET_NONE (the ECFS default) or ET_CORE. */
  eType?: number;
  heuristics?: boolean;
}

const LIMIT32 = 1n << 32n;

function segmentFlags(perms: string): number {
  return (perms[0] === "r" ? PF_R : 0) | (perms[1] === "w" ? PF_W : 0) | (perms[2] === "x" ? PF_X : 0);
}

/** Mappings an ELF file of this class can describe (an i386 file has 32-bit addresses). */
export function representable(image: ProcessImage): Mapping[] {
  return image.cls.word === 4 ? image.mappings.filter((m) => m.end <= LIMIT32) : image.mappings;
}

/**
 * The kernel's dump policy (smaps VmFlags), plus: an execute-only [vsyscall] page
 * (vsyscall=xonly, the default since 5.18) has nothing anybody can read.
 */
function worthDumping(m: Mapping): boolean {
  if (m.path === "[vsyscall]" && !m.perms.startsWith("r")) return false;
  return isDumpable(m);
}

export function planEcfs(image: ProcessImage, exe: ExeInfo, opts: PlanOptions = {}): CorePlan {
  const mappings = representable(image);
  const core = buildCoreNotes(image.cls, image.info, image.threads, mappings, image.xsaveLayout);
  const loads: LoadPlan[] = mappings.map((m) => ({
    vaddr: m.start,
    memsz: m.end - m.start,
    flags: segmentFlags(m.perms),
    dumpSize: worthDumping(m) ? m.end - m.start : 0n,
  }));
  return {
    cls: image.cls,
    eType: opts.eType ?? ET_NONE,
    entry: exe.entry,
    notes: encodeNotes(core.notes),
    loads,
    sections: baseSections({ ...image, mappings }, core, exe, { heuristics: opts.heuristics ?? false }),
  };
}
