// The head of a kernel core as it arrives on stdin: ELF header, program headers, notes
// (fs/binfmt_elf.c elf_core_dump: the notes follow the program headers at once, then padding
// to a page, then each PT_LOAD's p_filesz bytes in order). Everything here is untrusted input:
// the class, machine and type must be a core's, every count and size is bounded before
// anything is allocated, and offsets may only move forward (a pipe cannot seek back).

import { ElfFormatError } from "../../errors.ts";
import { ByteReader } from "../../elf/bytes.ts";
import { CLASS32, CLASS64, type ElfClass } from "../../elf/class.ts";
import { ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64, ET_CORE, PN_XNUM, PT_LOAD, PT_NOTE } from "../../elf/consts.ts";
import { iterNotes, type Note } from "../../elf/notes.ts";
import { EHDR, parsePhdrs, type Phdr } from "../../elf/records.ts";
import type { CoreInput } from "./input.ts";

/** More program headers than any process has mappings (vm.max_map_count is 65530 by default). */
export const PHNUM_MAX = 1 << 20;
/** The notes: a few KiB per thread (XSAVE included); 64 MiB is some 5000 threads of AMX state. */
export const NOTES_MAX = 64 << 20;
/** Notes kept; every thread has at most about six. */
export const NOTE_COUNT_MAX = 1 << 20;

export interface KernelCoreHead {
  cls: ElfClass;
  /** Every program header, PT_NOTE first as the kernel writes it. */
  phdrs: Phdr[];
  loads: Phdr[];
  /** The notes in the kernel's order, their descriptors views into `noteBytes`. */
  notes: Note[];
  /** Stream offset just after the notes. */
  end: number;
  /** Where the stream ends: the last byte of the last segment (the kernel pads nothing after it). */
  size: bigint;
}

const MAGIC = [0x7f, 0x45, 0x4c, 0x46];

function classOf(ident: Uint8Array): ElfClass {
  if (MAGIC.some((b, i) => ident[i] !== b)) throw new ElfFormatError(0, "stdin is not an ELF file (the kernel's core was expected)");
  if (ident[4] === ELFCLASS64) return CLASS64;
  if (ident[4] === ELFCLASS32) return CLASS32;
  throw new ElfFormatError(4, "bad ELF class", ident[4]);
}

export function readCoreHead(input: CoreInput): KernelCoreHead {
  // Elf32_Ehdr is the shorter: read it, then the rest of an Elf64_Ehdr.
  const first = input.readKept(CLASS32.ehdrSize, "ELF header");
  const cls = classOf(first);
  const ehdr = new Uint8Array(cls.ehdrSize);
  ehdr.set(first);
  if (cls.ehdrSize > first.byteLength) ehdr.set(input.readKept(cls.ehdrSize - first.byteLength, "ELF header"), first.byteLength);
  const r = new ByteReader(ehdr);
  const L = EHDR[cls.word];
  if (ehdr[5] !== 1) throw new ElfFormatError(5, "not little-endian", ehdr[5]);
  const type = r.u16(16, "e_type");
  if (type !== ET_CORE) throw new ElfFormatError(16, "not a core file (e_type)", type);
  const machine = r.u16(18, "e_machine");
  if (machine !== (cls === CLASS64 ? EM_X86_64 : EM_386)) throw new ElfFormatError(18, `e_machine does not match ${cls.name}`, machine);
  const phoff = r.word(L.e_phoff, cls.word, "e_phoff");
  const phentsize = r.u16(L.e_phentsize, "e_phentsize");
  if (phoff !== BigInt(cls.ehdrSize)) throw new ElfFormatError(L.e_phoff, "program headers not right after the ELF header", phoff);
  if (phentsize !== cls.phdrSize) throw new ElfFormatError(L.e_phentsize, "bad e_phentsize", phentsize);

  // PT_NOTE comes first; with PN_XNUM the real count is in a section header at the very end of
  // the stream, but the notes start right after the table, which tells the count as well.
  const note = parsePhdrs(input.readKept(cls.phdrSize, "program headers"), cls, 1, cls.ehdrSize)[0]!;
  if (note.p_type !== PT_NOTE) throw new ElfFormatError(cls.ehdrSize, "the first program header is not PT_NOTE", note.p_type);
  let phnum = r.u16(L.e_phnum, "e_phnum");
  if (phnum === PN_XNUM) {
    const span = note.p_offset - BigInt(cls.ehdrSize);
    if (span <= 0n || span % BigInt(cls.phdrSize) !== 0n || span / BigInt(cls.phdrSize) > BigInt(PHNUM_MAX))
      throw new ElfFormatError(cls.ehdrSize, "PN_XNUM core whose notes do not follow the program headers", note.p_offset);
    phnum = Number(span / BigInt(cls.phdrSize));
  }
  if (phnum < 1 || phnum > PHNUM_MAX) throw new ElfFormatError(L.e_phnum, "bad e_phnum", phnum);
  const rest = parsePhdrs(input.readKept((phnum - 1) * cls.phdrSize, "program headers"), cls, phnum - 1, cls.ehdrSize + cls.phdrSize);
  const phdrs = [note, ...rest];

  if (note.p_filesz > BigInt(NOTES_MAX)) throw new ElfFormatError(cls.ehdrSize, `PT_NOTE larger than ${NOTES_MAX} bytes`, note.p_filesz);
  const gap = note.p_offset - BigInt(input.position);
  if (gap < 0n || gap > BigInt(1 << 20)) throw new ElfFormatError(cls.ehdrSize, "PT_NOTE not right after the program headers", note.p_offset);
  if (gap > 0n) input.readKept(Number(gap), "padding before the notes");
  const noteBytes = input.readKept(Number(note.p_filesz), "notes");
  const notes: Note[] = [];
  for (const n of iterNotes(noteBytes, 4, Number(note.p_offset))) {
    if (notes.length >= NOTE_COUNT_MAX) throw new ElfFormatError(n.offset, `more than ${NOTE_COUNT_MAX} notes`);
    notes.push(n);
  }

  const loads = phdrs.filter((p) => p.p_type === PT_LOAD);
  let size = BigInt(input.position);
  let prevEnd = BigInt(input.position);
  for (const p of loads) {
    // The stream only goes forward: segments must come in order and not overlap.
    if (p.p_filesz > 0n && p.p_offset < prevEnd) throw new ElfFormatError(p.p_offset, "PT_LOAD data out of order", p.p_vaddr);
    if (p.p_filesz > p.p_memsz) throw new ElfFormatError(p.p_offset, "PT_LOAD p_filesz above p_memsz", p.p_vaddr);
    if (p.p_filesz > 0n) prevEnd = p.p_offset + p.p_filesz;
    if (prevEnd > size) size = prevEnd;
  }
  return { cls, phdrs, loads, notes, end: input.position, size };
}
