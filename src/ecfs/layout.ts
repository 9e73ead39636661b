// WHERE every part of an ECFS file goes. Pure: it places the ELF header, program headers,
// notes, page-aligned memory, our section blobs, the section header table and .shstrtab,
// and fills in the counts (with the PN_XNUM / SHN_XINDEX escapes in section 0). File
// offsets in our own output are numbers: no file reaches 2^53 bytes.
//
// In two steps, because the memory image is written before the sections are known
// (docs/DESIGN.md "Stop only for what must be read while stopped"): layoutMemory places the
// headers, notes and PT_LOAD data from the notes and the mappings alone; layoutSections places
// everything after the memory image once the sections have been planned from the copy.

import { assert } from "../errors.ts";
import { utf8 } from "../elf/bytes.ts";
import type { PhdrFields } from "../elf/encode.ts";
import {
  PN_XNUM, PT_LOAD, PT_NOTE, SHN_LORESERVE, SHN_XINDEX, SHT_STRTAB,
} from "../elf/consts.ts";
import type { ElfClass } from "../elf/class.ts";
import type { CorePlan, LoadPlan, SectionPlan } from "./plan.ts";

export const PAGE = 4096;
export const SEC_SHSTRTAB = ".shstrtab";

/** A program header with its place in the file: exactly what the encoder writes. */
export type PlacedSegment = PhdrFields;

export interface PlacedSection {
  name: string;
  nameOffset: number;
  plan: SectionPlan | null;
  type: number;
  flags: number;
  addr: bigint;
  offset: number;
  size: bigint;
  link: number;
  info: number;
  align: number;
  entsize: number;
}

export interface Blob {
  kind: "bytes";
  offset: number;
  bytes: Uint8Array;
}

/** Reserved room for a section whose bytes are known only after the memory copy (.gaps). */
export interface LateBlob {
  kind: "late";
  /** Index in CoreLayout.sections. */
  section: number;
  offset: number;
  maxSize: number;
  produce: (gaps: readonly { addr: bigint; len: number }[]) => Uint8Array;
}

/** The part of the layout that depends on the notes and the mappings alone. */
export interface MemoryLayout {
  phoff: number;
  /** The real count; e_phnum is PN_XNUM when this does not fit. */
  phnum: number;
  notesOffset: number;
  /** PT_NOTE first, then the PT_LOADs. */
  segments: PlacedSegment[];
  /** PT_LOAD segments only, in file order (same order as plan.loads). */
  loads: PlacedSegment[];
  /** Where the memory image ends: the sections start at or after it. */
  memoryEnd: number;
  e_phnum: number;
}

export interface CoreLayout extends MemoryLayout {
  /** Our sections after the memory image, in increasing offset order (late ones in their place). */
  tail: (Blob | LateBlob)[];
  shoff: number;
  /** Sections including the null section 0 and .shstrtab (last). */
  sections: PlacedSection[];
  shstrtab: Uint8Array;
  fileSize: number;
  e_shnum: number;
  e_shstrndx: number;
}

const alignUp = (n: number, a: number) => (a <= 1 ? n : Math.ceil(n / a) * a);

function safe(n: bigint, what: string): number {
  assert(n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER), `${what} out of range`);
  return Number(n);
}

export function layoutCore(plan: CorePlan): CoreLayout {
  return layoutSections(plan, layoutMemory(plan.cls, plan.notes, plan.loads));
}

/** The ELF header, program headers, notes and the page-aligned memory image. */
export function layoutMemory(cls: ElfClass, notes: Uint8Array, planned: readonly LoadPlan[]): MemoryLayout {
  const phnum = 1 + planned.length;
  const phoff = cls.ehdrSize;
  const notesOffset = phoff + phnum * cls.phdrSize;
  let pos = alignUp(notesOffset + notes.byteLength, PAGE);

  const loads: PlacedSegment[] = planned.map((l) => {
    const seg: PlacedSegment = {
      p_type: PT_LOAD, p_flags: l.flags, p_offset: pos, p_vaddr: l.vaddr, p_filesz: l.dumpSize,
      p_memsz: l.memsz, p_align: BigInt(PAGE),
    };
    pos = alignUp(pos + safe(l.dumpSize, "segment size"), PAGE);
    return seg;
  });
  const note: PlacedSegment = {
    p_type: PT_NOTE, p_flags: 0, p_offset: notesOffset, p_vaddr: 0n, p_filesz: BigInt(notes.byteLength),
    p_memsz: 0n, p_align: 4n,
  };
  return { phoff, phnum, notesOffset, segments: [note, ...loads], loads, memoryEnd: pos, e_phnum: phnum >= PN_XNUM ? PN_XNUM : phnum };
}

/** Everything after the memory image of `mem`, which must be the layoutMemory of this plan's notes and loads. */
export function layoutSections(plan: CorePlan, mem: MemoryLayout): CoreLayout {
  const { cls } = plan;
  const { phnum, notesOffset, loads } = mem;
  assert(loads.length === plan.loads.length && loads.every((l, i) => sameLoad(l, plan.loads[i]!)), "the memory layout is the plan's");
  assert(mem.segments[0]!.p_filesz === BigInt(plan.notes.byteLength), "the notes are the plan's");
  let pos = mem.memoryEnd;

  // Section names: one NUL for the null section, then each name, .shstrtab last.
  const names = [...plan.sections.map((s) => s.name), SEC_SHSTRTAB];
  const nameOffsets: number[] = [];
  const strParts: Uint8Array[] = [new Uint8Array(1)];
  let strLen = 1;
  for (const n of names) {
    nameOffsets.push(strLen);
    const b = utf8.encode(n);
    strParts.push(b, new Uint8Array(1));
    strLen += b.length + 1;
  }
  const shstrtab = new Uint8Array(strLen);
  let so = 0;
  for (const p of strParts) {
    shstrtab.set(p, so);
    so += p.length;
  }

  const indexOf = new Map<string, number>();
  plan.sections.forEach((s, i) => {
    if (!indexOf.has(s.name)) indexOf.set(s.name, i + 1);
  });

  const tail: (Blob | LateBlob)[] = [];
  const sections: PlacedSection[] = [];
  for (const [i, s] of plan.sections.entries()) {
    let offset = 0;
    let size = 0n;
    switch (s.data.kind) {
      case "bytes":
        pos = alignUp(pos, Math.max(1, s.align));
        offset = pos;
        size = BigInt(s.data.bytes.byteLength);
        tail.push({ kind: "bytes", offset, bytes: s.data.bytes });
        pos += s.data.bytes.byteLength;
        break;
      case "memory": {
        const v = locate(loads, s.data.addr, s.data.size);
        offset = v.offset;
        size = v.size;
        break;
      }
      case "notes":
        offset = notesOffset;
        size = BigInt(plan.notes.byteLength);
        break;
      case "late":
        pos = alignUp(pos, Math.max(1, s.align));
        offset = pos;
        // Index + 1: the null section is put in front below.
        tail.push({ kind: "late", section: i + 1, offset, maxSize: s.data.maxSize, produce: s.data.produce });
        pos += s.data.maxSize;
        break;
      case "empty":
        break;
    }
    const link = s.link === undefined ? 0 : (indexOf.get(s.link) ?? 0);
    const info = s.infoLink === undefined ? (s.info ?? 0) : (indexOf.get(s.infoLink) ?? 0);
    sections.push({
      name: s.name, nameOffset: nameOffsets[i]!, plan: s, type: s.type, flags: s.flags, addr: s.addr,
      offset, size, link, info, align: s.align, entsize: s.entsize,
    });
  }

  pos = alignUp(pos, 8);
  const shoff = pos;
  const shnum = plan.sections.length + 2;
  pos += shnum * cls.shdrSize;
  const shstrtabOffset = pos;
  pos += shstrtab.byteLength;
  sections.push({
    name: SEC_SHSTRTAB, nameOffset: nameOffsets[names.length - 1]!, plan: null, type: SHT_STRTAB, flags: 0, addr: 0n,
    offset: shstrtabOffset, size: BigInt(shstrtab.byteLength), link: 0, info: 0, align: 1, entsize: 0,
  });
  const shstrndx = shnum - 1;

  // Section 0 carries the counts that do not fit the ELF header (elf(5), PN_XNUM).
  const null0: PlacedSection = {
    name: "", nameOffset: 0, plan: null, type: 0, flags: 0, addr: 0n, offset: 0,
    size: shnum >= SHN_LORESERVE ? BigInt(shnum) : 0n, link: shstrndx >= SHN_LORESERVE ? shstrndx : 0,
    info: phnum >= PN_XNUM ? phnum : 0, align: 0, entsize: 0,
  };
  sections.unshift(null0);

  return {
    ...mem, tail, shoff, sections, shstrtab,
    fileSize: pos,
    e_shnum: shnum >= SHN_LORESERVE ? 0 : shnum,
    e_shstrndx: shstrndx >= SHN_LORESERVE ? SHN_XINDEX : shstrndx,
  };
}

const sameLoad = (placed: PlacedSegment, l: LoadPlan): boolean =>
  placed.p_vaddr === l.vaddr && placed.p_memsz === l.memsz && placed.p_filesz === l.dumpSize && placed.p_flags === l.flags;

/**
 * File offset and present size of [addr, addr+size) in the dumped PT_LOAD data. A range may
 * run on into the next segments while they follow on in memory and in the file (a .bss that
 * continues from the file-backed mapping into the anonymous one).
 */
export function locate(loads: PlacedSegment[], addr: bigint, size: bigint): { offset: number; size: bigint } {
  const i = loads.findIndex((l) => addr >= l.p_vaddr && addr < l.p_vaddr + l.p_memsz);
  const first = loads[i];
  if (!first) return { offset: 0, size: 0n };
  const delta = addr - first.p_vaddr;
  if (delta >= first.p_filesz) return { offset: 0, size: 0n };
  let avail = first.p_filesz - delta;
  for (let j = i; avail < size && j + 1 < loads.length; j++) {
    const a = loads[j]!;
    const b = loads[j + 1]!;
    const follows = a.p_filesz === a.p_memsz && b.p_vaddr === a.p_vaddr + a.p_memsz && b.p_offset === a.p_offset + Number(a.p_filesz);
    if (!follows) break;
    avail += b.p_filesz;
  }
  return { offset: first.p_offset + Number(delta), size: size < avail ? size : avail };
}

