// What the heuristics put into the file (docs/FORMAT.md 5, 4.5): the section type of each
// library mapping (the original's SHT_INJECTED, SHT_PRELOADED, SHT_DLOPEN; SHT_SHLIB for the
// rest), sections for injected images that no file-backed library section covers (anonymous
// memory), one per mapping of the image, and the `.heuristics` JSON.

import { SHT_DLOPEN, SHT_INJECTED, SHT_PRELOADED, SHT_PROGBITS, SHT_SHLIB } from "../../elf/consts.ts";
import type { Mapping } from "../../model/image.ts";
import { type LibraryObject, mappingKind } from "../libsections.ts";
import type { SectionPlan } from "../plan.ts";
import { encodeHeuristics, type ObjectKind } from "./findings.ts";
import type { HeuristicsResult } from "./heuristics.ts";
import { belongsTo } from "./images.ts";

export const SEC_HEURISTICS = ".heuristics";

const TYPES: Partial<Record<ObjectKind, number>> = { injected: SHT_INJECTED, preloaded: SHT_PRELOADED, dlopen: SHT_DLOPEN };

/** The section type for a library object: by the verdict on the image whose header it maps. */
export function libraryType(result: HeuristicsResult): (lib: LibraryObject) => number {
  const kinds = new Map(result.report.objects.map((o) => [o.header, o.kind]));
  return (lib) => TYPES[kinds.get(lib.header) ?? "shlib"] ?? SHT_SHLIB;
}

/**
 * Sections for injected images no library section covers: `.elf.<dyn|exec>.<n>.<kind>` per
 * mapping (kind as for libraries: text, data, relro, undef), SHT_INJECTED.
 */
export function injectedSections(result: HeuristicsResult, libs: readonly LibraryObject[], mappings: readonly Mapping[]): SectionPlan[] {
  const covered = new Set(libs.map((l) => l.header));
  const out: SectionPlan[] = [];
  const counters = { dyn: 0, exec: 0 };
  for (const img of result.injected) {
    if (covered.has(img.header)) continue;
    const kind = img.eType === 2 ? "exec" : "dyn";
    const prefix = `.elf.${kind}.${counters[kind]++}`;
    const used = new Set<string>();
    for (const m of mappings) {
      if (!belongsTo(img, m)) continue;
      const k = mappingKind(m.perms);
      let name = `${prefix}.${k.kind}`;
      for (let n = 1; used.has(name); n++) name = `${prefix}.${k.kind}.${n}`;
      used.add(name);
      out.push({ name, type: SHT_INJECTED, flags: k.flags, addr: m.start, data: { kind: "memory", addr: m.start, size: m.end - m.start }, align: 8, entsize: 0 });
    }
  }
  return out;
}

export function heuristicsSection(result: HeuristicsResult): SectionPlan {
  return { name: SEC_HEURISTICS, type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "bytes", bytes: encodeHeuristics(result.report) }, align: 1, entsize: 0 };
}
