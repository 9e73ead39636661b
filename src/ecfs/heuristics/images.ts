// ELF images in the captured memory: every mapping (file-backed at file offset 0, or anonymous)
// that starts with an ELF header of the process's class and machine, whose program headers
// describe an image laid out in memory: at least one PF_X segment mapped, at its place, with
// execute permission. That excludes ELF files mapped as data (a flat read-only copy has its
// text page non-executable) and includes objects loaded by hand, from a file, a memfd or an
// anonymous copy, whatever their segments' permissions. Trust model: headers are the target's
// bytes; reads are bounded by RemoteMemory, program headers capped at MAX_PHNUM.

import type { ElfClass } from "../../elf/class.ts";
import { ET_DYN, ET_EXEC, PF_X, PT_LOAD } from "../../elf/consts.ts";
import { parsePhdrs, type Phdr } from "../../elf/reader.ts";
import type { Mapping } from "../../model/image.ts";
import { findMapping } from "../../proc/maps.ts";
import type { RemoteMemory } from "../dynlink/remote.ts";

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const PAGE = 0x1000n;
/** More program headers than any loadable object has (the kernel's limit is 64 KiB of them). */
const MAX_PHNUM = 256;
/** Mappings whose first page is read to look for an ELF header (a JVM has tens of thousands). */
export const MAX_HEADER_PROBES = 1 << 16;

export const pageDown = (a: bigint): bigint => a & ~(PAGE - 1n);
export const pageUp = (a: bigint): bigint => (a + PAGE - 1n) & ~(PAGE - 1n);

export interface ElfImage {
  /** Address of the ELF header (the start of its mapping). */
  header: bigint;
  /** Load bias: runtime minus link-time address. */
  base: bigint;
  /** One past the page holding its highest segment's end. */
  end: bigint;
  eType: number;
  /** e_entry as the header in memory says (link-time). */
  entry: bigint;
  /** Every program header, and the PT_LOADs among them. */
  phdrs: Phdr[];
  loads: Phdr[];
  /** The mapping the header is in: its dev/inode are the image's file (inode 0: anonymous). */
  headerMapping: Mapping;
}

/** Whether a mapping may hold an ELF header at its start: readable, and a file at offset 0 or anonymous memory. */
function headerCandidate(m: Mapping): boolean {
  if (m.perms[0] !== "r") return false;
  if (m.path === "[vdso]") return true;
  if (m.path.startsWith("[")) return false; // [heap], [stack], [vvar], [vsyscall]: never an image's start
  return m.inode === 0n || m.offset === 0n;
}

/** The image whose ELF header is at `m.start`, or undefined when there is none (or it is malformed). */
export function imageAt(rm: RemoteMemory, cls: ElfClass, m: Mapping): ElfImage | undefined {
  const head = rm.prefix(m.start, cls.ehdrSize, "ELF header");
  if (head.byteLength < cls.ehdrSize || !ELF_MAGIC.every((b, i) => head[i] === b) || head[4] !== cls.elfClass) return undefined;
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const w = cls.word;
  const eType = dv.getUint16(16, true);
  if (dv.getUint16(18, true) !== cls.machine || (eType !== ET_DYN && eType !== ET_EXEC)) return undefined;
  const entry = w === 8 ? dv.getBigUint64(24, true) : BigInt(dv.getUint32(24, true));
  const phoff = w === 8 ? dv.getBigUint64(32, true) : BigInt(dv.getUint32(28, true));
  const phentsize = dv.getUint16(w === 8 ? 54 : 42, true);
  const phnum = dv.getUint16(w === 8 ? 56 : 44, true);
  if (phentsize !== cls.phdrSize || phnum === 0 || phnum > MAX_PHNUM || phoff > PAGE * 16n) return undefined;
  const raw = rm.prefix(m.start + phoff, phnum * cls.phdrSize, "program headers");
  if (raw.byteLength < phnum * cls.phdrSize) return undefined;
  const phdrs = parsePhdrs(raw, cls, phnum);
  const loads = phdrs.filter((p) => p.p_type === PT_LOAD);
  // The kernel and ld.so map each PT_LOAD at pageDown(p_vaddr) from pageDown(p_offset): the
  // header is in the one that maps file offset 0.
  const first = loads.find((p) => p.p_offset < PAGE);
  if (first === undefined) return undefined;
  const limit = 1n << BigInt(w * 8);
  const base = BigInt.asUintN(w * 8, m.start - pageDown(first.p_vaddr));
  let top = 0n;
  for (const p of loads) if (p.p_vaddr + p.p_memsz > top) top = p.p_vaddr + p.p_memsz;
  const end = base + pageUp(top);
  if (end > limit || end <= m.start) return undefined;
  return { header: m.start, base, end, eType, entry, phdrs, loads, headerMapping: m };
}

/** Runtime address of a segment's first page. */
export const segmentStart = (img: ElfImage, p: Phdr): bigint => img.base + pageDown(p.p_vaddr);

/** At least one PF_X segment is mapped at its place with execute permission. */
export function laidOut(img: ElfImage, mappings: readonly Mapping[]): boolean {
  return img.loads.some((p) => (p.p_flags & PF_X) !== 0 && findMapping(mappings, segmentStart(img, p))?.perms[2] === "x");
}

/** Every ELF image laid out in memory, in address order. */
export function findImages(rm: RemoteMemory, cls: ElfClass, mappings: readonly Mapping[], problems: string[]): ElfImage[] {
  const out: ElfImage[] = [];
  let probes = 0;
  for (const m of mappings) {
    if (!headerCandidate(m)) continue;
    if (++probes > MAX_HEADER_PROBES) {
      problems.push(`injected objects: more than ${MAX_HEADER_PROBES} mappings; those above 0x${m.start.toString(16)} were not searched for ELF headers`);
      break;
    }
    const img = imageAt(rm, cls, m);
    if (img && laidOut(img, mappings)) out.push(img);
  }
  return out;
}

/** The mappings inside an image's span (all of them: its segments, the gaps between, its bss). */
export function imageMappings(img: ElfImage, mappings: readonly Mapping[]): Mapping[] {
  return mappings.filter((m) => m.start >= img.header && m.start < img.end);
}

/** Whether a mapping is part of the image: inside its span, and its file when it has one. */
export function belongsTo(img: ElfImage, m: Mapping): boolean {
  if (m.start < img.header || m.start >= img.end) return false;
  const h = img.headerMapping;
  return m.inode === 0n || (m.inode === h.inode && m.dev === h.dev);
}
