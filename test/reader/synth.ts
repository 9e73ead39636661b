// Small ECFS files built in the test, for what a snapshot of a live process cannot show (a
// fault address, an IBT or -z now PLT, a hostile .procfs.tgz). Records come from the
// project's encoders (src/elf/encode.ts); the contents come from real artifacts (linker
// output, kernel cores, tar archives) so the oracles stay outside our own code.

import { ByteWriter, utf8 } from "../../src/elf/bytes.ts";
import type { ElfClass } from "../../src/elf/class.ts";
import { ET_NONE, PT_LOAD, PT_NOTE, SHT_PROGBITS, SHT_STRTAB } from "../../src/elf/consts.ts";
import { encodeEhdr, encodePhdr, encodeShdr } from "../../src/elf/encode.ts";
import { ELF_PRARGSZ } from "../../src/elf/corerecords.ts";

export interface SynthLoad {
  vaddr: bigint;
  bytes: Uint8Array;
  /** Default: the byte count (a larger memsz leaves the tail out of the file). */
  memsz?: bigint;
  flags?: number;
}

export interface SynthSection {
  name: string;
  type?: number;
  flags?: number;
  /** sh_addr; for `memory` sections also where the bytes are. */
  addr?: bigint;
  /** Bytes stored after the loads (a blob such as .personality). */
  data?: Uint8Array;
  /** A view of load memory: sh_offset follows from the load holding addr. */
  memorySize?: bigint;
  link?: string;
  info?: number;
  entsize?: number;
  align?: number;
}

export interface SynthSpec {
  cls: ElfClass;
  eType?: number;
  entry?: bigint;
  loads?: SynthLoad[];
  /** Encoded notes for a PT_NOTE (ecfs/notes.ts encodeNotes). */
  notes?: Uint8Array;
  sections: SynthSection[];
}

const PAGE = 4096;
const up = (n: number, a: number) => Math.ceil(n / a) * a;

/** The sections every ECFS reader insists on, with plain contents; override by name. */
export function basicSections(opts: { personality?: number; exe?: string; psargs?: string } = {}): SynthSection[] {
  const psargs = new Uint8Array(ELF_PRARGSZ);
  psargs.set(utf8.encode(opts.psargs ?? "./synth ").subarray(0, ELF_PRARGSZ - 1));
  return [
    { name: ".personality", data: new ByteWriter(4).u32(0, opts.personality ?? 0).bytes, entsize: 4 },
    { name: ".exepath", data: utf8.encode(`${opts.exe ?? "/synth"}\0`), entsize: 1 },
    { name: ".arglist", data: psargs, entsize: 1 },
  ];
}

export function buildSynthetic(spec: SynthSpec): Uint8Array {
  const { cls } = spec;
  const loads = spec.loads ?? [];
  const phnum = loads.length + (spec.notes ? 1 : 0);
  let off = cls.ehdrSize + phnum * cls.phdrSize;
  const noteOff = off;
  off += spec.notes?.byteLength ?? 0;
  const loadOffs = loads.map((l) => {
    off = up(off, PAGE);
    const at = off;
    off += l.bytes.byteLength;
    return at;
  });
  const blobOffs = spec.sections.map((s) => {
    if (!s.data) return 0;
    off = up(off, 8);
    const at = off;
    off += s.data.byteLength;
    return at;
  });
  const names = ["", ...spec.sections.map((s) => s.name), ".shstrtab"];
  const nameOff: number[] = [];
  let strSize = 0;
  for (const n of names) {
    nameOff.push(strSize);
    strSize += utf8.encode(n).byteLength + 1;
  }
  const strOff = off;
  off += strSize;
  const shoff = up(off, 8);
  const shnum = names.length;
  const total = shoff + shnum * cls.shdrSize;
  const w = new ByteWriter(total);

  w.set(0, encodeEhdr(cls, { e_type: spec.eType ?? ET_NONE, e_entry: spec.entry ?? 0n, e_phoff: phnum ? cls.ehdrSize : 0, e_shoff: shoff, e_phnum: phnum, e_shnum: shnum, e_shstrndx: shnum - 1 }));
  let ph = cls.ehdrSize;
  if (spec.notes) {
    encodePhdr(cls, { p_type: PT_NOTE, p_flags: 0, p_offset: noteOff, p_vaddr: 0n, p_filesz: BigInt(spec.notes.byteLength), p_memsz: 0n, p_align: 4n }, w, ph);
    w.set(noteOff, spec.notes);
    ph += cls.phdrSize;
  }
  loads.forEach((l, i) => {
    const at = loadOffs[i]!;
    encodePhdr(cls, { p_type: PT_LOAD, p_flags: l.flags ?? 6, p_offset: at, p_vaddr: l.vaddr, p_filesz: BigInt(l.bytes.byteLength), p_memsz: l.memsz ?? BigInt(l.bytes.byteLength), p_align: BigInt(PAGE) }, w, ph);
    w.set(at, l.bytes);
    ph += cls.phdrSize;
  });
  names.forEach((n, i) => w.set(strOff + nameOff[i]!, utf8.encode(n)));

  const index = (name: string | undefined) => (name === undefined ? 0 : names.indexOf(name));
  spec.sections.forEach((s, i) => {
    let offset = blobOffs[i]!;
    let size = BigInt(s.data?.byteLength ?? 0);
    if (s.memorySize !== undefined) {
      const li = loads.findIndex((l) => s.addr! >= l.vaddr && s.addr! < l.vaddr + BigInt(l.bytes.byteLength));
      if (li < 0) throw new Error(`synthetic section ${s.name}: 0x${s.addr!.toString(16)} is in no load`);
      offset = loadOffs[li]! + Number(s.addr! - loads[li]!.vaddr);
      size = s.memorySize;
    } else if (s.data) w.set(offset, s.data);
    encodeShdr(cls, {
      sh_name: nameOff[i + 1]!, sh_type: s.type ?? SHT_PROGBITS, sh_flags: BigInt(s.flags ?? 0), sh_addr: s.addr ?? 0n,
      sh_offset: offset, sh_size: size, sh_link: index(s.link), sh_info: s.info ?? 0, sh_addralign: BigInt(s.align ?? 1),
      sh_entsize: BigInt(s.entsize ?? 0),
    }, w, shoff + (i + 1) * cls.shdrSize);
  });
  encodeShdr(cls, { sh_name: nameOff[shnum - 1]!, sh_type: SHT_STRTAB, sh_flags: 0n, sh_addr: 0n, sh_offset: strOff, sh_size: BigInt(strSize), sh_link: 0, sh_info: 0, sh_addralign: 1n, sh_entsize: 0n }, w, shoff + (shnum - 1) * cls.shdrSize);
  return w.bytes;
}
