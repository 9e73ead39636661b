// Record encoders for the headers and symbols we write: bytes only, no bookkeeping (the
// `object` crate's Encoder). Every offset comes from the record's layout table in records.ts,
// the same table the parsers read with.

import type { ElfClass } from "./class.ts";
import { ByteWriter } from "./bytes.ts";
import { ELFDATA2LSB, ELFOSABI_NONE, EV_CURRENT } from "./consts.ts";
import { EHDR, PHDR, SHDR, SYM, type Sym } from "./records.ts";

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
  const L = EHDR[cls.word];
  const wd = cls.word;
  const w = new ByteWriter(L.size);
  w.set(L.e_ident, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, cls.elfClass, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE]));
  w.u16(L.e_type, h.e_type).u16(L.e_machine, cls.machine).u32(L.e_version, EV_CURRENT);
  w.word(L.e_entry, wd, h.e_entry).word(L.e_phoff, wd, BigInt(h.e_phoff)).word(L.e_shoff, wd, BigInt(h.e_shoff));
  w.u32(L.e_flags, 0).u16(L.e_ehsize, L.size).u16(L.e_phentsize, PHDR[wd].size).u16(L.e_phnum, h.e_phnum);
  w.u16(L.e_shentsize, SHDR[wd].size).u16(L.e_shnum, h.e_shnum).u16(L.e_shstrndx, h.e_shstrndx);
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

export function encodePhdr(cls: ElfClass, p: PhdrFields, w: ByteWriter, at: number): void {
  const L = PHDR[cls.word];
  const wd = cls.word;
  w.u32(at + L.p_type, p.p_type).u32(at + L.p_flags, p.p_flags).word(at + L.p_offset, wd, BigInt(p.p_offset));
  w.word(at + L.p_vaddr, wd, p.p_vaddr).word(at + L.p_paddr, wd, 0n).word(at + L.p_filesz, wd, p.p_filesz);
  w.word(at + L.p_memsz, wd, p.p_memsz).word(at + L.p_align, wd, p.p_align);
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
  const L = SHDR[cls.word];
  const wd = cls.word;
  w.u32(at + L.sh_name, s.sh_name).u32(at + L.sh_type, s.sh_type).word(at + L.sh_flags, wd, s.sh_flags);
  w.word(at + L.sh_addr, wd, s.sh_addr).word(at + L.sh_offset, wd, BigInt(s.sh_offset)).word(at + L.sh_size, wd, s.sh_size);
  w.u32(at + L.sh_link, s.sh_link).u32(at + L.sh_info, s.sh_info).word(at + L.sh_addralign, wd, s.sh_addralign);
  w.word(at + L.sh_entsize, wd, s.sh_entsize);
}

/** The fields a symbol is written from: the parsed record without its index and name. */
export type SymFields = Omit<Sym, "index" | "name">;

export function encodeSym(cls: ElfClass, s: SymFields, w: ByteWriter, at: number): void {
  const L = SYM[cls.word];
  const wd = cls.word;
  w.u32(at + L.st_name, s.st_name).u8(at + L.st_info, s.st_info).u8(at + L.st_other, s.st_other).u16(at + L.st_shndx, s.st_shndx);
  w.word(at + L.st_value, wd, s.st_value).word(at + L.st_size, wd, s.st_size);
}
