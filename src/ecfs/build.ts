// ProcessImage -> CorePlan: the model-to-spec conversion in one place. Notes follow the
// kernel's core format so gdb, readelf and eu-stack read the file as a core; sections
// follow docs/FORMAT.md: the executable's views, ECFS's own blobs, one section per
// library mapping, and the .symtab rebuilt from .eh_frame.

import { DT_STRSZ, DT_STRTAB, DT_SYMTAB, ET_NONE, PT_INTERP, PF_R, PF_W, PF_X, SHF_ALLOC, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB } from "../elf/consts.ts";
import type { ElfFile } from "../elf/reader.ts";
import type { Mapping, ProcessImage } from "../model/image.ts";
import { isDumpable } from "../proc/smaps.ts";
import { rethrowIfGone } from "../errors.ts";
import { DynamicLinking } from "./dynlink/dynlink.ts";
import { dynPtr, dynValue } from "./dynlink/dynsyms.ts";
import { exeLayout } from "./exelayout.ts";
import { exeSections } from "./exesections.ts";
import { runHeuristics, type HeuristicsResult } from "./heuristics/heuristics.ts";
import { heuristicsSection, injectedSections, libraryType } from "./heuristics/sections.ts";
import { librarySections, loadedLibraries } from "./libsections.ts";
import { coreNotesFromKernel } from "./kernelnotes.ts";
import { buildCoreNotes, encodeNotes } from "./notes.ts";
import type { CorePlan, LoadPlan, SectionPlan } from "./plan.ts";
import { baseSections, exeMappings, type ExeInfo } from "./sections.ts";
import { markDefinedAbsolute, symtabFromEhFrame } from "./symtab.ts";
import { RemoteMemory } from "./dynlink/remote.ts";

export interface PlanOptions {
  /** ET_NONE (the ECFS default) or ET_CORE. */
  eType?: number;
  heuristics?: boolean;
}

export interface PlanResult {
  plan: CorePlan;
  /** What could not be rebuilt, for the user (the file is still complete and valid). */
  problems: string[];
  /** What the heuristics found, when they ran (also in the .heuristics section). */
  heuristics?: HeuristicsResult;
}

const LIMIT32 = 1n << 32n;

export function segmentFlags(perms: string): number {
  return (perms[0] === "r" ? PF_R : 0) | (perms[1] === "w" ? PF_W : 0) | (perms[2] === "x" ? PF_X : 0);
}

/** Mappings an ELF file of this class can describe (an i386 file has 32-bit addresses). */
export function representable(image: ProcessImage): Mapping[] {
  return image.cls.word === 4 ? image.mappings.filter((m) => m.end <= LIMIT32) : image.mappings;
}

/**
 * The kernel's dump policy (smaps VmFlags), plus: an execute-only [vsyscall] page
 * (vsyscall=xonly, the default since 5.18) has nothing anybody can read.
 */
export function worthDumping(m: Mapping): boolean {
  if (m.path === "[vsyscall]" && !m.perms.startsWith("r")) return false;
  return isDumpable(m);
}

/**
 * What .personality and e_entry say when the executable's ELF header can be read from
 * neither memory nor its file: nothing (no bits set), with the reason in the problems.
 */
const UNKNOWN_EXE: ExeInfo = { eType: 0, entry: 0n, hasInterp: true, strippedShdrs: false };

/** The same facts from the file, for a process whose header is not in memory. */
function exeInfoOfFile(file: ElfFile): ExeInfo {
  const h = file.header;
  return {
    eType: h.e_type,
    entry: h.e_entry,
    hasInterp: file.programs().some((p) => p.p_type === PT_INTERP),
    strippedShdrs: h.e_shnum === 0 || h.e_shoff === 0n,
  };
}

export function planEcfs(image: ProcessImage, exe: { file?: ElfFile }, opts: PlanOptions = {}): PlanResult {
  const mappings = representable(image);
  const img = { ...image, mappings };
  const { cls, mem } = image;
  const core = image.kernelNotes
    ? coreNotesFromKernel(cls, image.kernelNotes, image.threads)
    : buildCoreNotes(cls, image.info, image.threads, mappings, image.xsaveLayout);
  const loads: LoadPlan[] = mappings.map((m) => ({
    vaddr: m.start,
    memsz: m.end - m.start,
    flags: segmentFlags(m.perms),
    dumpSize: worthDumping(m) ? m.end - m.start : 0n,
  }));

  // One bounded reader for every ELF structure this plan takes from the target's memory.
  const rm = new RemoteMemory(mem, cls);
  const layout = exeLayout(img, rm);
  const exeViews = exeSections(rm, layout, exe.file);
  const problems = [...layout.problems, ...exeViews.problems];
  let info = layout.info ?? (exe.file ? exeInfoOfFile(exe.file) : undefined);
  if (!info) {
    problems.push(".personality and e_entry: the executable's ELF header is readable neither in memory nor on disk");
    info = UNKNOWN_EXE;
  }
  const base = baseSections(img, core, info, { heuristics: opts.heuristics ?? false });
  const exePath = exeMappings(img)[0]?.path ?? "";
  let link: DynamicLinking | undefined;
  try {
    link = DynamicLinking.analyze(img);
  } catch (e) {
    rethrowIfGone(e);
    problems.push(`dynamic linking: ${(e as Error).message}`);
  }
  const heuristics = opts.heuristics ? runHeuristics({ image: img, link, dynamic: info.hasInterp, ...(exe.file && { exeFile: exe.file }) }) : undefined;
  const libObjects = loadedLibraries(mappings, mem, exePath);
  const libs = librarySections(libObjects, heuristics && libraryType(heuristics));
  const [noteCore, ...rest] = base;
  const sections: SectionPlan[] = [noteCore!, ...exeViews.sections, ...rest, ...libs];
  if (heuristics) sections.push(...injectedSections(heuristics, libObjects, mappings), heuristicsSection(heuristics));

  if (link) addResolvedDynsyms(img, link, sections, problems);

  if (exeViews.ehFrame) {
    try {
      const { addr, size } = exeViews.ehFrame;
      const { symtab, strtab, errors } = symtabFromEhFrame(cls, rm.bytes(addr, size, ".eh_frame"), addr, exeViews.names);
      if (errors.length > 0) problems.push(`.eh_frame: ${errors.length} malformed records skipped (first: ${errors[0]!.message})`);
      sections.push(
        { name: ".symtab", type: SHT_SYMTAB, flags: 0, addr: 0n, data: { kind: "bytes", bytes: symtab }, link: ".strtab", info: 1, align: cls.word, entsize: cls.symSize },
        { name: ".strtab", type: SHT_STRTAB, flags: 0, addr: 0n, data: { kind: "bytes", bytes: strtab }, align: 1, entsize: 0 },
      );
    } catch (e) {
      rethrowIfGone(e);
      problems.push(`.symtab: ${(e as Error).message}`);
    }
  }

  return {
    plan: { cls, eType: opts.eType ?? ET_NONE, entry: info.entry, notes: encodeNotes(core.notes), loads, sections },
    problems,
    ...(heuristics && { heuristics }),
  };
}

/**
 * .dynsym with every value a runtime address (docs/FORMAT.md 6, done as ld.so does it:
 * link-map order, versions, copy relocations), its definitions SHN_ABS (symtab.ts says why).
 * The executable's .dynsym becomes such a copy (the bytes in ._TEXT stay as they are in
 * memory); every library gets <lib>.dynsym and <lib>.dynstr (symbol records with sh_entsize
 * and sh_link set) saying where each of its symbols is in this process. Those are PROGBITS:
 * readelf refuses a second SHT_DYNSYM and objdump warns about every second symbol table of
 * either type, so only the executable's tables carry the symbol types; `ecfs read -s` lists
 * the libraries' too.
 */
function addResolvedDynsyms(image: ProcessImage, link: DynamicLinking, sections: SectionPlan[], problems: string[]): void {
  const { cls } = image;
  const names = new Set(sections.map((s) => s.name));
  const unique = (n: string) => {
    let name = n;
    for (let i = 1; names.has(name); i++) name = `${n}.${i}`;
    names.add(name);
    return name;
  };
  for (const obj of link.objects) {
    if (obj.isVdso) continue;
    let bytes: Uint8Array;
    try {
      bytes = markDefinedAbsolute(cls, link.resolvedDynsym(obj));
    } catch (e) {
      rethrowIfGone(e);
      problems.push(`${obj.name}: resolved .dynsym: ${(e as Error).message}`);
      continue;
    }
    if (bytes.byteLength === 0) continue;
    if (obj.isExecutable) {
      const i = sections.findIndex((s) => s.name === ".dynsym");
      if (i >= 0) sections[i] = { ...sections[i]!, data: { kind: "bytes", bytes } };
      continue;
    }
    const symtab = dynPtr(obj, cls, DT_SYMTAB);
    const strtab = dynPtr(obj, cls, DT_STRTAB);
    const strsz = dynValue(obj.dynamic, DT_STRSZ);
    if (symtab === undefined || strtab === undefined || strsz === undefined) continue;
    const base = obj.name.slice(obj.name.lastIndexOf("/") + 1) || "lib";
    const dynstr = unique(`${base}.dynstr`);
    sections.push(
      { name: dynstr, type: SHT_STRTAB, flags: SHF_ALLOC, addr: strtab, data: { kind: "memory", addr: strtab, size: strsz }, align: 1, entsize: 0 },
      { name: unique(`${base}.dynsym`), type: SHT_PROGBITS, flags: SHF_ALLOC, addr: symtab, data: { kind: "bytes", bytes }, link: dynstr, align: cls.word, entsize: cls.symSize },
    );
  }
  for (const p of link.problems) problems.push(`${p.where}: ${p.error.message}`);
}
