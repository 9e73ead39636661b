// ELF records (elf(5)): the raw Elf64_/Elf32_ layouts as per-class offset tables, the widened
// record types every class shares, and the parsers of tables that do not need a whole file
// (a symbol table, a dynamic section or program headers read from a process's memory).
// Trust model: bytes are untrusted; every read goes through ByteReader's bounds.

import { ElfFormatError } from "../errors.ts";
import { ByteReader } from "./bytes.ts";
import type { ElfClass } from "./class.ts";
import { DT_NULL } from "./consts.ts";

const decoder = new TextDecoder();

/** Elf64_Ehdr / Elf32_Ehdr, widened. e_phnum/e_shnum/e_shstrndx are the raw fields. */
export interface Ehdr {
  e_ident: Uint8Array;
  /** ET_* */
  e_type: number;
  /** EM_* */
  e_machine: number;
  e_version: number;
  e_entry: bigint;
  e_phoff: bigint;
  e_shoff: bigint;
  e_flags: number;
  e_ehsize: number;
  e_phentsize: number;
  e_phnum: number;
  e_shentsize: number;
  e_shnum: number;
  e_shstrndx: number;
}

/** Elf64_Phdr / Elf32_Phdr, widened. */
export interface Phdr {
  /** PT_* */
  p_type: number;
  /** PF_* */
  p_flags: number;
  p_offset: bigint;
  p_vaddr: bigint;
  p_paddr: bigint;
  p_filesz: bigint;
  p_memsz: bigint;
  p_align: bigint;
}

/** Elf64_Shdr / Elf32_Shdr, widened, with its index and its name from .shstrtab. */
export interface Shdr {
  index: number;
  name: string;
  sh_name: number;
  /** SHT_* */
  sh_type: number;
  /** SHF_* */
  sh_flags: bigint;
  sh_addr: bigint;
  sh_offset: bigint;
  sh_size: bigint;
  sh_link: number;
  sh_info: number;
  sh_addralign: bigint;
  sh_entsize: bigint;
}

/** Elf64_Sym / Elf32_Sym, widened, with its index and name. */
export interface Sym {
  index: number;
  name: string;
  st_name: number;
  /** STB_* << 4 | STT_* */
  st_info: number;
  st_other: number;
  st_shndx: number;
  st_value: bigint;
  st_size: bigint;
}

/** Elf64_Dyn / Elf32_Dyn, widened (d_un read as d_val). */
export interface Dyn {
  /** DT_* (signed in the spec) */
  d_tag: bigint;
  d_val: bigint;
}

export const stBind = (st_info: number): number => st_info >> 4;
export const stType = (st_info: number): number => st_info & 0xf;

// The one layout table of each record, per class (elf(5)): the parsers below and the encoders
// in encode.ts both go through it. "word" fields are Addr/Off/Xword sized, the rest as named
// in the record's interface above; `size` is the record's size (ElfClass takes its sizes from here).
export const EHDR = {
  8: {
    size: 64, e_ident: 0, e_type: 16, e_machine: 18, e_version: 20, e_entry: 24, e_phoff: 32, e_shoff: 40, e_flags: 48,
    e_ehsize: 52, e_phentsize: 54, e_phnum: 56, e_shentsize: 58, e_shnum: 60, e_shstrndx: 62,
  },
  4: {
    size: 52, e_ident: 0, e_type: 16, e_machine: 18, e_version: 20, e_entry: 24, e_phoff: 28, e_shoff: 32, e_flags: 36,
    e_ehsize: 40, e_phentsize: 42, e_phnum: 44, e_shentsize: 46, e_shnum: 48, e_shstrndx: 50,
  },
} as const;
/** Elf64_Phdr puts p_flags second; Elf32_Phdr puts it after p_memsz. */
export const PHDR = {
  8: { size: 56, p_type: 0, p_flags: 4, p_offset: 8, p_vaddr: 16, p_paddr: 24, p_filesz: 32, p_memsz: 40, p_align: 48 },
  4: { size: 32, p_type: 0, p_offset: 4, p_vaddr: 8, p_paddr: 12, p_filesz: 16, p_memsz: 20, p_flags: 24, p_align: 28 },
} as const;
export const SHDR = {
  8: { size: 64, sh_name: 0, sh_type: 4, sh_flags: 8, sh_addr: 16, sh_offset: 24, sh_size: 32, sh_link: 40, sh_info: 44, sh_addralign: 48, sh_entsize: 56 },
  4: { size: 40, sh_name: 0, sh_type: 4, sh_flags: 8, sh_addr: 12, sh_offset: 16, sh_size: 20, sh_link: 24, sh_info: 28, sh_addralign: 32, sh_entsize: 36 },
} as const;
/** Elf64_Sym puts st_info/st_other/st_shndx before the words; Elf32_Sym after them. */
export const SYM = {
  8: { size: 24, st_name: 0, st_info: 4, st_other: 5, st_shndx: 6, st_value: 8, st_size: 16 },
  4: { size: 16, st_name: 0, st_value: 4, st_size: 8, st_info: 12, st_other: 13, st_shndx: 14 },
} as const;
/** d_tag is a signed word (Sxword / Sword). */
export const DYN = {
  8: { size: 16, d_tag: 0, d_val: 8 },
  4: { size: 8, d_tag: 0, d_val: 4 },
} as const;

/** A name from the file made safe for an error message: control bytes escaped, length capped. */
export function printable(s: string): string {
  const t = s.replace(/[\x00-\x1f\x7f-\x9f\ufffd]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return t.length > 64 ? `${t.slice(0, 64)}...` : t;
}

/** The NUL-terminated string at `off` in a string table; `base` is the table's file offset. */
export function strAt(table: Uint8Array, off: number, what: string, base = 0): string {
  if (off >= table.byteLength) throw new ElfFormatError(base, `bad ${what} offset`, off);
  const nul = table.indexOf(0, off);
  if (nul < 0) throw new ElfFormatError(base + off, `unterminated ${what}`);
  return decoder.decode(table.subarray(off, nul));
}

export function parseShdr(r: ByteReader, off: number, cls: ElfClass, index: number): Omit<Shdr, "name"> {
  const L = SHDR[cls.word];
  const w = cls.word;
  return {
    index,
    sh_name: r.u32(off + L.sh_name, "sh_name"),
    sh_type: r.u32(off + L.sh_type, "sh_type"),
    sh_flags: r.word(off + L.sh_flags, w, "sh_flags"),
    sh_addr: r.word(off + L.sh_addr, w, "sh_addr"),
    sh_offset: r.word(off + L.sh_offset, w, "sh_offset"),
    sh_size: r.word(off + L.sh_size, w, "sh_size"),
    sh_link: r.u32(off + L.sh_link, "sh_link"),
    sh_info: r.u32(off + L.sh_info, "sh_info"),
    sh_addralign: r.word(off + L.sh_addralign, w, "sh_addralign"),
    sh_entsize: r.word(off + L.sh_entsize, w, "sh_entsize"),
  };
}

/** Symbols of a SYMTAB/DYNSYM image; names from `strtab`. Trailing partial records are an error. */
export function parseSymbols(bytes: Uint8Array, strtab: Uint8Array, cls: ElfClass, base = 0, strBase = 0): Sym[] {
  if (bytes.byteLength % SYM[cls.word].size !== 0)
    throw new ElfFormatError(base, "symbol table size not a multiple of the symbol size", bytes.byteLength);
  const r = new ByteReader(bytes, base);
  const L = SYM[cls.word];
  const out: Sym[] = [];
  for (let i = 0, off = 0; off < bytes.byteLength; i++, off += L.size) {
    const st_name = r.u32(off + L.st_name, "st_name");
    out.push({
      index: i,
      name: strAt(strtab, st_name, "symbol name", strBase),
      st_name,
      st_info: r.u8(off + L.st_info, "st_info"),
      st_other: r.u8(off + L.st_other, "st_other"),
      st_shndx: r.u16(off + L.st_shndx, "st_shndx"),
      st_value: r.word(off + L.st_value, cls.word, "st_value"),
      st_size: r.word(off + L.st_size, cls.word, "st_size"),
    });
  }
  return out;
}

/** `count` Elf64_Phdr / Elf32_Phdr records from `bytes` (a file's table, or one read from memory). */
export function parsePhdrs(bytes: Uint8Array, cls: ElfClass, count: number, base = 0): Phdr[] {
  const r = new ByteReader(bytes, base);
  const L = PHDR[cls.word];
  const w = cls.word;
  const out: Phdr[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * L.size;
    out.push({
      p_type: r.u32(o + L.p_type, "p_type"),
      p_flags: r.u32(o + L.p_flags, "p_flags"),
      p_offset: r.word(o + L.p_offset, w, "p_offset"),
      p_vaddr: r.word(o + L.p_vaddr, w, "p_vaddr"),
      p_paddr: r.word(o + L.p_paddr, w, "p_paddr"),
      p_filesz: r.word(o + L.p_filesz, w, "p_filesz"),
      p_memsz: r.word(o + L.p_memsz, w, "p_memsz"),
      p_align: r.word(o + L.p_align, w, "p_align"),
    });
  }
  return out;
}

/** Dynamic entries up to DT_NULL (excluded). A trailing partial entry is ignored: callers often
 * read a dynamic segment from memory with a rounded length. */
export function parseDynamic(bytes: Uint8Array, cls: ElfClass, base = 0): Dyn[] {
  const r = new ByteReader(bytes, base);
  const out: Dyn[] = [];
  const w = cls.word;
  const L = DYN[w];
  for (let off = 0; off + L.size <= bytes.byteLength; off += L.size) {
    const d_tag = w === 8 ? r.i64(off + L.d_tag, "d_tag") : BigInt(r.i32(off + L.d_tag, "d_tag"));
    if (d_tag === BigInt(DT_NULL)) break;
    out.push({ d_tag, d_val: r.word(off + L.d_val, w, "d_val") });
  }
  return out;
}

