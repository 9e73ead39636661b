// One descriptor per ELF class (the `object` crate's FileHeader trait, as a value), so one
// code path writes and reads both ELFCLASS64 and ELFCLASS32 files. Sizes are the x86_64
// and i386 Linux ABI's (docs/FORMAT.md 7; <elf.h>; kernel elfcore.h), taken from the
// records' layout tables (records.ts, corerecords.ts) so that each size is stated once.

import { ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64 } from "./consts.ts";
import { PRPSINFO, PRSTATUS, regsSize } from "./corerecords.ts";
import { DYN, EHDR, PHDR, SHDR, SYM } from "./records.ts";

export interface ElfClass {
  readonly name: "x86_64" | "i386";
  readonly elfClass: typeof ELFCLASS32 | typeof ELFCLASS64;
  readonly machine: typeof EM_386 | typeof EM_X86_64;
  /** sizeof(long) / ElfW(Addr). */
  readonly word: 4 | 8;
  readonly ehdrSize: number;
  readonly phdrSize: number;
  readonly shdrSize: number;
  readonly symSize: number;
  readonly dynSize: number;
  readonly relSize: number;
  /** struct elf_prstatus. */
  readonly prstatusSize: number;
  /** user_regs_struct as the kernel dumps it: 27 x u64 or 17 x u32. */
  readonly regsSize: number;
  readonly prpsinfoSize: number;
  /** elf_fpregset_t: FXSAVE (512) on x86_64, i387 FSAVE (108) on i386. */
  readonly fpregsetSize: number;
  /** ECFS fd_info_t record. */
  readonly fdInfoSize: number;
}

export const CLASS64: ElfClass = {
  name: "x86_64",
  elfClass: ELFCLASS64,
  machine: EM_X86_64,
  word: 8,
  ehdrSize: EHDR[8].size,
  phdrSize: PHDR[8].size,
  shdrSize: SHDR[8].size,
  symSize: SYM[8].size,
  dynSize: DYN[8].size,
  relSize: 24,
  prstatusSize: PRSTATUS[8].size,
  regsSize: regsSize(8),
  prpsinfoSize: PRPSINFO[8].size,
  fpregsetSize: 512,
  fdInfoSize: 552,
};

export const CLASS32: ElfClass = {
  name: "i386",
  elfClass: ELFCLASS32,
  machine: EM_386,
  word: 4,
  ehdrSize: EHDR[4].size,
  phdrSize: PHDR[4].size,
  shdrSize: SHDR[4].size,
  symSize: SYM[4].size,
  dynSize: DYN[4].size,
  relSize: 8,
  prstatusSize: PRSTATUS[4].size,
  regsSize: regsSize(4),
  prpsinfoSize: PRPSINFO[4].size,
  fpregsetSize: 108,
  fdInfoSize: 544,
};
