// Entry points and constructors that lead out of their object: the program's entry (AT_ENTRY,
// which the kernel took from the ELF header it loaded, and that header's e_entry in memory
// now), each link-map object's e_entry in memory, and every DT_INIT, DT_FINI and
// .preinit_array/.init_array/.fini_array entry (values as relocated in memory) must lie in
// the object's own code. 0 and -1 entries are the linkers' placeholders and are skipped.

import { AT_ENTRY, AT_PHDR, DT_FINI, DT_FINI_ARRAY, DT_FINI_ARRAYSZ, DT_INIT, DT_INIT_ARRAY, DT_INIT_ARRAYSZ, DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ } from "../../elf/consts.ts";
import { type AuxvEntry, auxvValue } from "../../proc/auxv.ts";
import { dynPtr, dynValue } from "../dynlink/dynsyms.ts";
import type { LoadedObject } from "../dynlink/linkmap.ts";
import { type HeuristicsContext, inCodeOf } from "./context.ts";
import type { Finding } from "./findings.ts";
import type { ElfImage } from "./images.ts";
import type { LoadedImage } from "./objects.ts";
import { hex } from "./symbolize.ts";

/** Constructors one object may have (real ones have a handful; C++ programs some hundreds). */
const MAX_ARRAY = 1 << 16;

const ARRAYS: [number, number, string][] = [
  [DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ, ".preinit_array"],
  [DT_INIT_ARRAY, DT_INIT_ARRAYSZ, ".init_array"],
  [DT_FINI_ARRAY, DT_FINI_ARRAYSZ, ".fini_array"],
];

function constructors(ctx: HeuristicsContext, l: LoadedImage): Finding[] {
  const { cls } = ctx;
  const out: Finding[] = [];
  const none = (v: bigint) => v === 0n || v === BigInt.asUintN(cls.word * 8, -1n);
  const check = (value: bigint, at: bigint, what: string) => {
    if (none(value) || inCodeOf(ctx, l.image, value)) return;
    out.push({
      type: "foreign-constructor", address: at, size: BigInt(cls.word), object: l.obj.name, symbol: what,
      expected: `an address in ${l.obj.name}'s code`, found: ctx.names.describe(value),
      detail: `${what} of ${l.obj.name} leads to ${ctx.names.describe(value)}, outside the object's code`,
    });
  };
  for (const [tag, name] of [[DT_INIT, "DT_INIT"], [DT_FINI, "DT_FINI"]] as const) {
    const v = dynPtr(l.obj, cls, tag);
    if (v !== undefined) check(v, l.obj.dynamicAddr, name);
  }
  for (const [tag, szTag, name] of ARRAYS) {
    const addr = dynPtr(l.obj, cls, tag);
    const size = dynValue(l.obj.dynamic, szTag) ?? 0n;
    if (addr === undefined || size === 0n) continue;
    const n = size / BigInt(cls.word);
    if (n > BigInt(MAX_ARRAY)) {
      ctx.problems.push(`${l.obj.name}: ${name} of ${n} entries not checked`);
      continue;
    }
    const b = ctx.rm.prefix(addr, Number(n) * cls.word, name);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; (i + 1) * cls.word <= b.byteLength; i++) {
      const v = cls.word === 8 ? dv.getBigUint64(i * 8, true) : BigInt(dv.getUint32(i * 4, true));
      check(v, addr + BigInt(i * cls.word), `${name}[${i}]`);
    }
  }
  return out;
}

/** The program's entry: the image the kernel loaded (the one holding AT_PHDR) must hold AT_ENTRY in its code, and say so in its header. */
function programEntry(ctx: HeuristicsContext, images: readonly ElfImage[], auxv: AuxvEntry[]): Finding[] {
  const entry = auxvValue(auxv, AT_ENTRY);
  const phdr = auxvValue(auxv, AT_PHDR);
  if (entry === undefined || phdr === undefined) return [];
  const img = images.find((i) => phdr >= i.header && phdr < i.end);
  if (!img) return [];
  const name = ctx.loaded.find((l) => l.image === img)?.obj.name ?? img.headerMapping.path;
  const out: Finding[] = [];
  if (!inCodeOf(ctx, img, entry))
    out.push({
      type: "entry-point", address: entry, size: 0n, object: name, symbol: "AT_ENTRY",
      expected: `an address in ${name}'s code`, found: ctx.names.describe(entry),
      detail: `the program's entry point (AT_ENTRY) ${ctx.names.describe(entry)} is outside its code`,
    });
  const header = BigInt.asUintN(ctx.cls.word * 8, img.base + img.entry);
  if (header !== entry)
    out.push({
      type: "entry-point", address: img.header, size: 0n, object: name, symbol: "e_entry",
      expected: `${hex(entry)} (AT_ENTRY, where the kernel started the program)`, found: ctx.names.describe(header),
      detail: `the ELF header of ${name} in memory gives e_entry ${hex(img.entry)}, not where the program was started`,
    });
  return out;
}

/** A library's e_entry (when set) must lie inside the library. */
function objectEntry(ctx: HeuristicsContext, l: LoadedImage, programImage: ElfImage | undefined): Finding[] {
  const img = l.image;
  if (!img || img === programImage || img.entry === 0n) return [];
  const at = BigInt.asUintN(ctx.cls.word * 8, img.base + img.entry);
  if (at >= img.header && at < img.end) return [];
  return [{
    type: "entry-point", address: img.header, size: 0n, object: l.obj.name, symbol: "e_entry",
    expected: `an address inside ${l.obj.name}`, found: ctx.names.describe(at),
    detail: `the ELF header of ${l.obj.name} in memory gives an entry point outside the object`,
  }];
}

export function checkEntries(ctx: HeuristicsContext, images: readonly ElfImage[], auxv: AuxvEntry[], skip: ReadonlySet<LoadedObject>): Finding[] {
  const phdr = auxvValue(auxv, AT_PHDR);
  const programImage = phdr === undefined ? undefined : images.find((i) => phdr >= i.header && phdr < i.end);
  const out = programEntry(ctx, images, auxv);
  for (const l of ctx.loaded) {
    if (skip.has(l.obj)) continue;
    out.push(...objectEntry(ctx, l, programImage));
    if (l.obj.dynamic.length > 0) out.push(...constructors(ctx, l));
  }
  return out;
}
