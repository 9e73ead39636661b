// WHAT goes into an ECFS file, with no offsets yet (docs/DESIGN.md "Reserve first, then write
// once"): the notes, one PT_LOAD per mapping, and the sections. layout.ts decides WHERE.

import type { ElfClass } from "../elf/class.ts";

export interface LoadPlan {
  vaddr: bigint;
  memsz: bigint;
  /** PF_R | PF_W | PF_X. */
  flags: number;
  /** Bytes of memory to write from vaddr on: memsz, or 0 for areas the kernel never dumps. */
  dumpSize: bigint;
}

export type SectionData =
  /** Our own bytes, stored after the memory image. */
  | { kind: "bytes"; bytes: Uint8Array }
  /** A view of process memory already in a PT_LOAD's data. */
  | { kind: "memory"; addr: bigint; size: bigint }
  /** The PT_NOTE contents. */
  | { kind: "notes" }
  /** A header with no data (a mapping that does not exist, or was not dumped). */
  | { kind: "empty" }
  /**
   * Bytes known only once the memory is copied (which pages could not be read). Room for
   * `maxSize` is reserved up front, so no offset moves; sh_size is what `produce` returned.
   */
  | { kind: "late"; maxSize: number; produce: (gaps: readonly { addr: bigint; len: number }[]) => Uint8Array };

export interface SectionPlan {
  name: string;
  type: number;
  flags: number;
  addr: bigint;
  data: SectionData;
  /** Name of the section sh_link points at. */
  link?: string;
  info?: number;
  /** Name of the section sh_info points at (SHF_INFO_LINK), instead of a number. */
  infoLink?: string;
  align: number;
  entsize: number;
}

export interface CorePlan {
  cls: ElfClass;
  /** ET_NONE (ECFS default: objdump honours the sections) or ET_CORE (gdb-ready). */
  eType: number;
  entry: bigint;
  notes: Uint8Array;
  loads: LoadPlan[];
  sections: SectionPlan[];
}
