// Record encoders for the headers we write: bytes only, no bookkeeping (the `object`
// crate's Encoder). Field order and offsets are elf(5)'s Elf32_/Elf64_ records.

import type { ElfClass } from "./class.ts";
import { ByteWriter } from "./bytes.ts";
import { ELFDATA2LSB, ELFOSABI_NONE, EV_CURRENT } from "./consts.ts";

export interface EhdrFields {
  e_type: number;
  e_entry: bigint;
  e_phoff: number;
  e_shoff: number;
  e_phnum: number;
  e_shnum: number;
  e_shstrndx: number;
}

export function encodeEhdr(cls: ElfClass, h: EhdrFields): Uint8Array {
  const w = new ByteWriter(cls.ehdrSize);
  w.set(0, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, cls.elfClass, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE]));
  w.u16(16, h.e_type).u16(18, cls.machine).u32(20, EV_CURRENT);
  const wd = cls.word;
  w.word(24, wd, h.e_entry).word(24 + wd, wd, BigInt(h.e_phoff)).word(24 + 2 * wd, wd, BigInt(h.e_shoff));
  const o = 24 + 3 * wd; // e_flags
  w.u32(o, 0).u16(o + 4, cls.ehdrSize).u16(o + 6, cls.phdrSize).u16(o + 8, h.e_phnum);
  w.u16(o + 10, cls.shdrSize).u16(o + 12, h.e_shnum).u16(o + 14, h.e_shstrndx);
  return w.bytes;
}

export interface PhdrFields {
  p_type: number;
  p_flags: number;
  p_offset: number;
  p_vaddr: bigint;
  p_filesz: bigint;
  p_memsz: bigint;
  p_align: bigint;
}

/** Elf64_Phdr puts p_flags second; Elf32_Phdr puts it after p_memsz. */
export function encodePhdr(cls: ElfClass, p: PhdrFields, w: ByteWriter, at: number): void {
  if (cls.word === 8) {
    w.u32(at, p.p_type).u32(at + 4, p.p_flags).u64(at + 8, BigInt(p.p_offset)).u64(at + 16, p.p_vaddr);
    w.u64(at + 24, 0n).u64(at + 32, p.p_filesz).u64(at + 40, p.p_memsz).u64(at + 48, p.p_align);
  } else {
    w.u32(at, p.p_type).u32(at + 4, p.p_offset).word(at + 8, 4, p.p_vaddr).u32(at + 12, 0);
    w.word(at + 16, 4, p.p_filesz).word(at + 20, 4, p.p_memsz).u32(at + 24, p.p_flags).word(at + 28, 4, p.p_align);
  }
}

export interface ShdrFields {
  sh_name: number;
  sh_type: number;
  sh_flags: bigint;
  sh_addr: bigint;
  sh_offset: number;
  sh_size: bigint;
  sh_link: number;
  sh_info: number;
  sh_addralign: bigint;
  sh_entsize: bigint;
}

export function encodeShdr(cls: ElfClass, s: ShdrFields, w: ByteWriter, at: number): void {
  const wd = cls.word;
  w.u32(at, s.sh_name).u32(at + 4, s.sh_type).word(at + 8, wd, s.sh_flags).word(at + 8 + wd, wd, s.sh_addr);
  w.word(at + 8 + 2 * wd, wd, BigInt(s.sh_offset)).word(at + 8 + 3 * wd, wd, s.sh_size);
  const o = 8 + 4 * wd;
  w.u32(at + o, s.sh_link).u32(at + o + 4, s.sh_info).word(at + o + 8, wd, s.sh_addralign);
  w.word(at + o + 8 + wd, wd, s.sh_entsize);
}
