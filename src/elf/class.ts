// One descriptor per ELF class (the `object` crate's FileHeader trait, as a value), so one
// code path writes and reads both ELFCLASS64 and ELFCLASS32 files. Sizes are the x86_64
// and i386 Linux ABI's (docs/FORMAT.md 7; <elf.h>; kernel elfcore.h).

import { ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64 } from "./consts.ts";

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
  /** struct elf_prstatus, and where pr_reg / pr_fpvalid sit in it. */
  readonly prstatusSize: number;
  readonly prRegOffset: number;
  readonly prFpvalidOffset: number;
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
  ehdrSize: 64,
  phdrSize: 56,
  shdrSize: 64,
  symSize: 24,
  dynSize: 16,
  relSize: 24,
  prstatusSize: 336,
  prRegOffset: 112,
  prFpvalidOffset: 328,
  regsSize: 216,
  prpsinfoSize: 136,
  fpregsetSize: 512,
  fdInfoSize: 552,
};

export const CLASS32: ElfClass = {
  name: "i386",
  elfClass: ELFCLASS32,
  machine: EM_386,
  word: 4,
  ehdrSize: 52,
  phdrSize: 32,
  shdrSize: 40,
  symSize: 16,
  dynSize: 8,
  relSize: 8,
  prstatusSize: 144,
  prRegOffset: 72,
  prFpvalidOffset: 140,
  regsSize: 68,
  prpsinfoSize: 124,
  fpregsetSize: 108,
  fdInfoSize: 544,
};
