// Generic little-endian ELF reader for ELFCLASS64 and ELFCLASS32 (Go debug/elf's File, the
// object crate's ElfFile). Trust model: every byte of the file is untrusted. e_ident is
// checked before anything else; entry sizes must equal the class's record sizes; table
// extents are checked against the source length (bigint arithmetic, no overflow) before a
// table is read; section and segment data are range-checked only when asked for, so one
// bogus header does not hide the rest. Strings must be NUL-terminated inside their table.

import { ElfFormatError } from "../errors.ts";
import { ByteReader } from "./bytes.ts";
import { CLASS32, CLASS64, type ElfClass } from "./class.ts";
import {
  ELFCLASS32, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, PN_XNUM, PT_LOAD, PT_NOTE, SHN_UNDEF, SHN_XINDEX,
  SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB, shtName,
} from "./consts.ts";
import { iterNotes, type Note } from "./notes.ts";
import {
  EHDR, parseDynamic, parsePhdrs, parseShdr, parseSymbols, printable, strAt,
  type Dyn, type Ehdr, type Phdr, type Shdr, type Sym,
} from "./records.ts";
import { type ByteSource, MAX_READ, toIndex } from "./source.ts";

const EI_NIDENT = 16;
const EI_CLASS = 4;
const EI_DATA = 5;
const EI_VERSION = 6;
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export type { Dyn, Ehdr, Phdr, Shdr, Sym } from "./records.ts";
export { parseDynamic, parsePhdrs, parseSymbols, stBind, stType, strAt } from "./records.ts";

export class ElfFile {
  #programs: Phdr[] | undefined;
  #loads: Phdr[] | undefined;
  #sections: Shdr[] | undefined;

  private constructor(
    readonly src: ByteSource,
    readonly cls: ElfClass,
    readonly header: Ehdr,
    /** Program header count after the PN_XNUM escape. */
    readonly phnum: number,
    /** Section header count after the extended-numbering escape. */
    readonly shnum: number,
    /** .shstrtab index after the SHN_XINDEX escape (0: no names). */
    readonly shstrndx: number,
  ) {}

  static open(src: ByteSource): ElfFile {
    if (src.length < EI_NIDENT) throw new ElfFormatError(0, "file too short for e_ident", src.length);
    const ident = src.read(0, EI_NIDENT, "e_ident");
    if (!ELF_MAGIC.every((b, i) => ident[i] === b))
      throw new ElfFormatError(0, "bad ELF magic", Array.from(ident.subarray(0, 4), (b) => b.toString(16)).join(" "));
    const klass = ident[EI_CLASS];
    const cls = klass === ELFCLASS64 ? CLASS64 : klass === ELFCLASS32 ? CLASS32 : undefined;
    if (cls === undefined) throw new ElfFormatError(EI_CLASS, "unknown ELF class", klass);
    if (ident[EI_DATA] !== ELFDATA2LSB)
      throw new ElfFormatError(EI_DATA, "unsupported ELF data encoding (only ELFDATA2LSB)", ident[EI_DATA]);
    if (ident[EI_VERSION] !== EV_CURRENT) throw new ElfFormatError(EI_VERSION, "bad EI_VERSION", ident[EI_VERSION]);

    const r = new ByteReader(src.read(0, cls.ehdrSize, "ELF header"));
    const L = EHDR[cls.word];
    const w = cls.word;
    const h: Ehdr = {
      e_ident: r.view(L.e_ident, EI_NIDENT, "e_ident"),
      e_type: r.u16(L.e_type, "e_type"),
      e_machine: r.u16(L.e_machine, "e_machine"),
      e_version: r.u32(L.e_version, "e_version"),
      e_entry: r.word(L.e_entry, w, "e_entry"),
      e_phoff: r.word(L.e_phoff, w, "e_phoff"),
      e_shoff: r.word(L.e_shoff, w, "e_shoff"),
      e_flags: r.u32(L.e_flags, "e_flags"),
      e_ehsize: r.u16(L.e_ehsize, "e_ehsize"),
      e_phentsize: r.u16(L.e_phentsize, "e_phentsize"),
      e_phnum: r.u16(L.e_phnum, "e_phnum"),
      e_shentsize: r.u16(L.e_shentsize, "e_shentsize"),
      e_shnum: r.u16(L.e_shnum, "e_shnum"),
      e_shstrndx: r.u16(L.e_shstrndx, "e_shstrndx"),
    };
    if (h.e_version !== EV_CURRENT) throw new ElfFormatError(L.e_version, "bad e_version", h.e_version);

    let phnum = h.e_phnum;
    let shnum = h.e_shnum;
    let shstrndx = h.e_shstrndx;
    const len = BigInt(src.length);
    if (h.e_shoff !== 0n) {
      if (h.e_shentsize !== cls.shdrSize) throw new ElfFormatError(L.e_shentsize, "bad e_shentsize", h.e_shentsize);
      // Extended numbering (elf(5)): the real values live in section 0.
      if (h.e_shnum === 0 || h.e_shstrndx === SHN_XINDEX || h.e_phnum === PN_XNUM) {
        const at = toIndex(h.e_shoff, src.length, "e_shoff", L.e_shoff);
        const s0 = parseShdr(new ByteReader(src.read(at, cls.shdrSize, "section header 0"), at), 0, cls, 0);
        if (h.e_shnum === 0) {
          if (s0.sh_size > (len - h.e_shoff) / BigInt(cls.shdrSize))
            throw new ElfFormatError(at, "bad extended section count (section 0 sh_size)", s0.sh_size);
          shnum = Number(s0.sh_size);
        }
        if (h.e_shstrndx === SHN_XINDEX) shstrndx = s0.sh_link;
        if (h.e_phnum === PN_XNUM) phnum = s0.sh_info;
      }
    } else {
      if (h.e_shnum !== 0) throw new ElfFormatError(L.e_shnum, "e_shnum without a section header table", h.e_shnum);
      if (h.e_phnum === PN_XNUM) throw new ElfFormatError(L.e_phnum, "PN_XNUM without a section header table");
      shstrndx = SHN_UNDEF;
    }
    if (phnum > 0) {
      if (h.e_phentsize !== cls.phdrSize) throw new ElfFormatError(L.e_phentsize, "bad e_phentsize", h.e_phentsize);
      if (h.e_phoff + BigInt(phnum) * BigInt(cls.phdrSize) > len)
        throw new ElfFormatError(L.e_phoff, "program header table out of bounds", phnum);
    }
    if (shnum > 0) {
      if (h.e_shoff + BigInt(shnum) * BigInt(cls.shdrSize) > len)
        throw new ElfFormatError(L.e_shoff, "section header table out of bounds", shnum);
      if (shstrndx >= shnum) throw new ElfFormatError(L.e_shstrndx, "bad e_shstrndx", shstrndx);
    }
    return new ElfFile(src, cls, h, phnum, shnum, shstrndx);
  }

  programs(): readonly Phdr[] {
    if (this.#programs) return this.#programs;
    let out: Phdr[] = [];
    if (this.phnum > 0) {
      const base = Number(this.header.e_phoff); // bounded by the length in open()
      out = parsePhdrs(this.src.read(base, this.phnum * this.cls.phdrSize, "program header table"), this.cls, this.phnum, base);
    }
    this.#programs = out;
    return out;
  }

  sections(): readonly Shdr[] {
    if (this.#sections) return this.#sections;
    const raw: Omit<Shdr, "name">[] = [];
    if (this.shnum > 0) {
      const base = Number(this.header.e_shoff); // bounded by the length in open()
      const r = new ByteReader(this.src.read(base, this.shnum * this.cls.shdrSize, "section header table"), base);
      for (let i = 0; i < this.shnum; i++) raw.push(parseShdr(r, i * this.cls.shdrSize, this.cls, i));
    }
    let names: ((sh: Omit<Shdr, "name">) => string) = () => "";
    const strSec = raw[this.shstrndx];
    if (this.shstrndx !== SHN_UNDEF && strSec) {
      const range = this.#range(strSec.sh_offset, strSec.sh_type === SHT_NOBITS ? 0n : strSec.sh_size, ".shstrtab");
      const table = this.src.read(range.offset, range.size, ".shstrtab");
      names = (sh) => strAt(table, sh.sh_name, "section name", range.offset);
    }
    this.#sections = raw.map((sh) => ({ ...sh, name: names(sh) }));
    return this.#sections;
  }

  /** The first section with this name. */
  sectionByName(name: string): Shdr | undefined {
    return this.sections().find((s) => s.name === name);
  }

  #range(off: bigint, size: bigint, what: string): { offset: number; size: number } {
    if (off < 0n || size < 0n || off + size > BigInt(this.src.length))
      throw new ElfFormatError(off, `${what} out of bounds`, `size 0x${size.toString(16)}`);
    return { offset: Number(off), size: Number(size) };
  }

  /** Where a section's bytes are in the file, checked against its length (SHT_NOBITS: none). */
  sectionRange(sh: Shdr): { offset: number; size: number } {
    if (sh.sh_type === SHT_NOBITS) return { offset: 0, size: 0 };
    const label = sh.name === "" ? shtName(sh.sh_type) : printable(sh.name);
    return this.#range(sh.sh_offset, sh.sh_size, `section ${sh.index} (${label}) data`);
  }

  /** Where a segment's file image is, checked against the file length. */
  segmentRange(ph: Phdr): { offset: number; size: number } {
    return this.#range(ph.p_offset, ph.p_filesz, "segment data");
  }

  sectionData(sh: Shdr): Uint8Array {
    const { offset, size } = this.sectionRange(sh);
    return this.src.read(offset, size, `section ${sh.index} data`);
  }

  segmentData(ph: Phdr): Uint8Array {
    const { offset, size } = this.segmentRange(ph);
    return this.src.read(offset, size, "segment data");
  }

  #sortedLoads(): Phdr[] {
    this.#loads ??= this.programs()
      .filter((p) => p.p_type === PT_LOAD)
      .sort((a, b) => (a.p_vaddr < b.p_vaddr ? -1 : a.p_vaddr > b.p_vaddr ? 1 : 0));
    return this.#loads;
  }

  /** The PT_LOAD whose [p_vaddr, p_vaddr + p_memsz) holds addr. */
  loadFor(addr: bigint): Phdr | undefined {
    const loads = this.#sortedLoads();
    const inside = (p: Phdr): boolean => p.p_vaddr <= addr && addr - p.p_vaddr < p.p_memsz;
    let lo = 0;
    let hi = loads.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (loads[mid]!.p_vaddr <= addr) lo = mid + 1;
      else hi = mid;
    }
    const p = loads[lo - 1];
    if (p && inside(p)) return p;
    return loads.find(inside); // overlapping segments: fall back to a scan
  }

  /** len bytes of the image at vaddr addr through PT_LOAD (p_offset + (addr - p_vaddr)); bytes
   * past p_filesz but inside p_memsz read as zero. A range may span adjacent segments. */
  readVirtual(addr: bigint, len: number): Uint8Array {
    if (!Number.isSafeInteger(len) || len < 0 || len > MAX_READ)
      throw new ElfFormatError(addr, "bad virtual read length", len);
    const pieces: { ph: Phdr; at: bigint; n: number }[] = [];
    for (let at = addr, left = BigInt(len); left > 0n; ) {
      const ph = this.loadFor(at);
      if (!ph) throw new ElfFormatError(at, "address not in any PT_LOAD", `0x${at.toString(16)}`);
      const avail = ph.p_vaddr + ph.p_memsz - at;
      const take = avail < left ? avail : left;
      pieces.push({ ph, at, n: Number(take) });
      at += take;
      left -= take;
    }
    const first = pieces[0];
    if (pieces.length === 1 && first && first.at - first.ph.p_vaddr + BigInt(len) <= first.ph.p_filesz)
      return this.src.read(this.#fileOffset(first.ph, first.at, len), len, "PT_LOAD data");
    const out = new Uint8Array(len);
    let pos = 0;
    for (const { ph, at, n } of pieces) {
      const delta = at - ph.p_vaddr;
      const inFile = delta >= ph.p_filesz ? 0 : Math.min(n, Number(ph.p_filesz - delta));
      if (inFile > 0) out.set(this.src.read(this.#fileOffset(ph, at, inFile), inFile, "PT_LOAD data"), pos);
      pos += n;
    }
    return out;
  }

  #fileOffset(ph: Phdr, at: bigint, n: number): number {
    const off = ph.p_offset + (at - ph.p_vaddr);
    return toIndex(off, Math.max(0, this.src.length - n), "PT_LOAD p_offset", ph.p_offset);
  }

  /** Notes of one PT_NOTE segment; offsets are file offsets. */
  segmentNotes(ph: Phdr): Generator<Note, void, undefined> {
    const { offset } = this.segmentRange(ph);
    return iterNotes(this.segmentData(ph), ph.p_align, offset);
  }

  /** Notes of one SHT_NOTE section. */
  sectionNotes(sh: Shdr): Generator<Note, void, undefined> {
    const { offset } = this.sectionRange(sh);
    return iterNotes(this.sectionData(sh), sh.sh_addralign, offset);
  }

  /** Every note of every PT_NOTE segment, in file order (what a core's consumers want). */
  *notes(): Generator<Note, void, undefined> {
    for (const ph of this.programs()) if (ph.p_type === PT_NOTE) yield* this.segmentNotes(ph);
  }

  /** Symbols of a SHT_SYMTAB/SHT_DYNSYM section, names from its sh_link string table. */
  symbols(sh: Shdr): Sym[] {
    if (sh.sh_type !== SHT_SYMTAB && sh.sh_type !== SHT_DYNSYM)
      throw new ElfFormatError(sh.sh_offset, `section ${sh.index} is not a symbol table`, shtName(sh.sh_type));
    if (sh.sh_entsize !== 0n && sh.sh_entsize !== BigInt(this.cls.symSize))
      throw new ElfFormatError(sh.sh_offset, `bad sh_entsize of symbol table ${sh.index}`, sh.sh_entsize);
    const strSec = this.sections()[sh.sh_link];
    if (sh.sh_link === SHN_UNDEF || !strSec)
      throw new ElfFormatError(sh.sh_offset, `bad sh_link of symbol table ${sh.index}`, sh.sh_link);
    const strtab = this.sectionData(strSec);
    return parseSymbols(this.sectionData(sh), strtab, this.cls, this.sectionRange(sh).offset, this.sectionRange(strSec).offset);
  }

  /** Dynamic entries in bytes of this file's class (a .dynamic section or PT_DYNAMIC image). */
  dynamic(bytes: Uint8Array, base = 0): Dyn[] {
    return parseDynamic(bytes, this.cls, base);
  }
}
