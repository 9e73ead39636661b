// An object's dynamic relocations, read from memory through its .dynamic: DT_RELA/DT_REL (the
// leading DT_RELACOUNT/DT_RELCOUNT relative ones skipped when the caller has no use for them)
// and DT_JMPREL. Trust model: table addresses and sizes are the target's; each read is capped by
// RemoteMemory, entry sizes must be the class's, and a table that cannot be read is reported.

import type { ElfClass } from "../../elf/class.ts";
import { DT_JMPREL, DT_PLTREL, DT_PLTRELSZ, DT_REL, DT_RELA, DT_RELAENT, DT_RELASZ, DT_RELENT, DT_RELSZ } from "../../elf/consts.ts";
import { ElfFormatError } from "../../errors.ts";
import { dynPtr, dynValue } from "../dynlink/dynsyms.ts";
import type { LoadedObject } from "../dynlink/linkmap.ts";
import { MAX_REMOTE_READ, type RemoteMemory } from "../dynlink/remote.ts";

/** <elf.h>: the same numbers for R_X86_64_* and R_386_* up to RELATIVE; IRELATIVE differs. */
export const R_ABS = 1; // R_X86_64_64, R_386_32
export const R_PC32 = 2; // R_X86_64_PC32, R_386_PC32
export const R_GLOB_DAT = 6;
export const R_JUMP_SLOT = 7;
export const R_RELATIVE = 8;
export const irelative = (cls: ElfClass): number => (cls.word === 8 ? 37 : 42);
const DT_RELACOUNT = 0x6ffffff9;
const DT_RELCOUNT = 0x6ffffffa;

export interface Reloc {
  /** Runtime address the relocation writes (r_offset + load bias). */
  at: bigint;
  type: number;
  /** Index into the object's .dynsym. */
  sym: number;
  /** r_addend; undefined for REL, whose addend is the word in place. */
  addend: bigint | undefined;
  /** From DT_JMPREL (a PLT slot). */
  plt: boolean;
  /** Position in its table (what a lazy PLT stub pushes: the index, or on i386 its byte offset). */
  index: number;
}

interface Table {
  addr: bigint;
  size: bigint;
  rela: boolean;
  plt: boolean;
}

function decode(rm: RemoteMemory, obj: LoadedObject, t: Table): Reloc[] {
  const { cls } = rm;
  const w = cls.word;
  const ent = t.rela ? 3 * w : 2 * w;
  if (t.size % BigInt(ent) !== 0n || t.size > BigInt(MAX_REMOTE_READ)) throw new ElfFormatError(t.addr, "relocation table size", t.size);
  const r = rm.reader(t.addr, Number(t.size), t.plt ? "DT_JMPREL table" : "DT_RELA/DT_REL table");
  const out: Reloc[] = [];
  const bits = w * 8;
  for (let off = 0, index = 0; off < r.length; off += ent, index++) {
    const info = r.word(off + w, w, "r_info");
    out.push({
      at: BigInt.asUintN(bits, obj.base + r.word(off, w, "r_offset")),
      // ELF64_R_SYM/TYPE: info >> 32, info & 0xffffffff; ELF32_R_SYM/TYPE: info >> 8, info & 0xff.
      sym: w === 8 ? Number(info >> 32n) : Number(info >> 8n),
      type: w === 8 ? Number(info & 0xffffffffn) : Number(info & 0xffn),
      addend: t.rela ? BigInt.asIntN(bits, r.word(off + 2 * w, w, "r_addend")) : undefined,
      plt: t.plt,
      index,
    });
  }
  return out;
}

/** The object's relocations; `relative` false skips the leading relative ones (DT_RELACOUNT). */
export function readRelocations(rm: RemoteMemory, obj: LoadedObject, opts: { relative: boolean }): Reloc[] {
  const { cls } = rm;
  const w = BigInt(cls.word);
  const ptr = (tag: number) => dynPtr(obj, cls, tag);
  const val = (tag: number) => dynValue(obj.dynamic, tag);
  const tables: Table[] = [];
  const jmprel = ptr(DT_JMPREL);
  const pltsz = val(DT_PLTRELSZ) ?? 0n;
  const jmpRange = jmprel === undefined ? undefined : { lo: jmprel, hi: jmprel + pltsz };
  for (const [tag, szTag, entTag, countTag, rela] of [[DT_RELA, DT_RELASZ, DT_RELAENT, DT_RELACOUNT, true], [DT_REL, DT_RELSZ, DT_RELENT, DT_RELCOUNT, false]] as const) {
    const addr = ptr(tag);
    let size = val(szTag) ?? 0n;
    if (addr === undefined || size === 0n) continue;
    const ent = rela ? 3n * w : 2n * w;
    const entsize = val(entTag);
    if (entsize !== undefined && entsize !== ent) throw new ElfFormatError(obj.dynamicAddr, rela ? "bad DT_RELAENT" : "bad DT_RELENT", entsize);
    // Some linkers make DT_RELA span DT_JMPREL too (glibc copes): read the PLT part once.
    if (jmpRange && jmpRange.lo >= addr && jmpRange.hi === addr + size) size = jmpRange.lo - addr;
    const skip = opts.relative ? 0n : (val(countTag) ?? 0n) * ent;
    if (skip >= size) continue;
    tables.push({ addr: addr + skip, size: size - skip, rela, plt: false });
  }
  if (jmprel !== undefined && pltsz > 0n) tables.push({ addr: jmprel, size: pltsz, rela: val(DT_PLTREL) === BigInt(DT_RELA), plt: true });
  return tables.flatMap((t) => decode(rm, obj, t));
}
