// What every check of the heuristics shares: the captured memory (bounded reads), the
// mappings, the dynamic linker's view, the classified objects, the files behind mappings and
// the namer of addresses. Checks append to `problems` and `notes`; they return findings.

import type { ElfClass } from "../../elf/class.ts";
import type { Mapping, MemoryReader } from "../../model/image.ts";
import { findMapping } from "../../proc/maps.ts";
import type { DynamicLinking } from "../dynlink/dynlink.ts";
import type { RemoteMemory } from "../dynlink/remote.ts";
import type { MappedFiles } from "./files.ts";
import type { HeuristicsNote } from "./findings.ts";
import { belongsTo, type ElfImage } from "./images.ts";
import type { LoadedImage } from "./objects.ts";
import type { Symbolizer } from "./symbolize.ts";

export interface HeuristicsContext {
  cls: ElfClass;
  /** Bounded reads of target structures (its own read budget). */
  rm: RemoteMemory;
  /** The captured memory itself, for bulk comparisons (the patched-code check bounds those). */
  mem: MemoryReader;
  mappings: readonly Mapping[];
  link: DynamicLinking | undefined;
  /** Link-map objects with their images (the vDSO left out). */
  loaded: readonly LoadedImage[];
  files: MappedFiles;
  names: Symbolizer;
  vdso: Mapping | undefined;
  problems: string[];
  notes: HeuristicsNote[];
}

/** Whether addr is in an executable mapping of the image (its own code). */
export function inCodeOf(ctx: HeuristicsContext, img: ElfImage | undefined, addr: bigint): boolean {
  const m = findMapping(ctx.mappings, addr);
  return img !== undefined && m !== undefined && m.perms[2] === "x" && belongsTo(img, m);
}

/** Whether addr is in the vDSO (glibc's IFUNCs for time, gettimeofday, clock_gettime, getcpu pick its functions). */
export function inVdso(ctx: HeuristicsContext, addr: bigint): boolean {
  const v = ctx.vdso;
  return v !== undefined && addr >= v.start && addr < v.end;
}

/** The native word at addr, or undefined when it is not readable. */
export function readWord(ctx: HeuristicsContext, addr: bigint): bigint | undefined {
  const b = ctx.rm.prefix(addr, ctx.cls.word, "word");
  if (b.byteLength < ctx.cls.word) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return ctx.cls.word === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
}
