// The objects a process has loaded, in link-map order: auxv AT_PHDR -> the executable's
// PT_DYNAMIC in memory -> DT_DEBUG -> struct r_debug -> r_map -> struct link_map chain
// (glibc <link.h>; elf/rtld.c), then each dlmopen namespace's chain through
// r_debug_extended.r_next (glibc 2.35+), with two fallbacks: ld.so's own `_r_debug` when DT_DEBUG is 0
// (a read-only .dynamic, a program run as `ld.so prog`, or a target that cleared it), and the
// mappings (a file-backed mapping at offset 0 that starts with an ELF header) when there is no
// r_debug at all: static executables. Mappings give no link-map order (DynamicLinking.analyze
// orders them by DT_NEEDED from the executable). Trust model: the link map lives in the target's writable memory, so the walk
// stops at MAX_OBJECTS entries or at the first node seen twice, checks l_prev, and turns every
// unreadable node, name or dynamic section into a reported problem.

import { AT_BASE, AT_PHDR, AT_PHENT, AT_PHNUM, AT_SYSINFO_EHDR, DT_DEBUG, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_PHDR } from "../../elf/consts.ts";
import { type Dyn, parseDynamic, parsePhdrs, type Phdr } from "../../elf/reader.ts";
import { EHDR } from "../../elf/records.ts";
import { ElfFormatError } from "../../errors.ts";
import type { Mapping } from "../../model/image.ts";
import { type AuxvEntry, auxvValue, parseAuxv } from "../../proc/auxv.ts";
import { findMapping } from "../../proc/maps.ts";
import { dynValue, TableReader } from "./dynsyms.ts";
import { attempt, type DynlinkProblem, type RemoteMemory } from "./remote.ts";
import { elfHash, gnuHash, lookupInObject, MAX_LOOKUP_STEPS } from "./symlookup.ts";

/** Far more than any process loads (glibc has no limit; a browser has a few hundred). */
export const MAX_OBJECTS = 4096;
const MAX_DYN_ENTRIES = 4096;
const MAX_PHNUM = 0xffff;
const PAGE = 0x1000n;
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
/** The name ld.so exports its struct r_debug under (elf/dl-debug.c). */
const R_DEBUG_SYMBOL = "_r_debug";

export interface LoadedObject {
  /** l_name; for the main program, whose l_name is empty, the file mapping its .dynamic. */
  name: string;
  /** l_addr: the load bias, runtime minus link-time address (0 for an ET_EXEC). */
  base: bigint;
  /** l_ld: runtime address of its .dynamic (0 when it has none). */
  dynamicAddr: bigint;
  /** The dynamic entries as they are in memory, up to DT_NULL (d_ptr values: see dynPtr). */
  dynamic: Dyn[];
  /** Address of its struct link_map; undefined when it was found through the mappings. */
  linkMap: bigint | undefined;
  /** The main program: the link map's first entry, or the object holding AT_PHDR. */
  isExecutable: boolean;
  /** The kernel's vDSO (AT_SYSINFO_EHDR): in the link map, but not in any lookup scope. */
  isVdso: boolean;
  /** The link-map namespace (Lmid_t): 0 for the base one, 1 and up for dlmopen's new namespaces. */
  namespace: number;
}

/** Where the object list came from. */
export type ObjectSource = "DT_DEBUG" | "_r_debug" | "mappings";

export interface ProcessLinkInput {
  mem: RemoteMemory;
  auxv: Uint8Array;
  mappings: readonly Mapping[];
  /** The executable's path (/proc/PID/exe), when the main program's file cannot be told otherwise. */
  exe: string;
  /** AT_SYSINFO_EHDR: where the vDSO's ELF header is (filled in by findLoadedObjects). */
  vdso?: bigint;
}

export interface LinkMapResult {
  objects: LoadedObject[];
  source: ObjectSource;
  /** The struct r_debug that was walked. */
  rDebug: bigint | undefined;
}

function readPhdrs(rm: RemoteMemory, addr: bigint, n: number): Phdr[] {
  return parsePhdrs(rm.reader(addr, n * rm.cls.phdrSize, "program headers").bytes, rm.cls, n);
}

/** Dynamic entries at addr, read in chunks until DT_NULL. */
export function readDynamic(rm: RemoteMemory, addr: bigint): Dyn[] {
  const size = rm.cls.dynSize;
  const out: Dyn[] = [];
  while (out.length < MAX_DYN_ENTRIES) {
    const at = addr + BigInt(out.length * size);
    const chunk = rm.prefix(at, 64 * size, "dynamic section");
    const n = Math.floor(chunk.byteLength / size);
    if (n === 0) throw new ElfFormatError(at, "dynamic section unreadable before DT_NULL");
    const entries = parseDynamic(chunk.subarray(0, n * size), rm.cls);
    out.push(...entries);
    if (entries.length < n) return out;
  }
  throw new ElfFormatError(addr, `dynamic section without DT_NULL in ${MAX_DYN_ENTRIES} entries`);
}

/** An object from the ELF header at `start` (a mapping of file offset 0), or undefined if none is there. */
export function objectAtHeader(rm: RemoteMemory, start: bigint, name: string, isExecutable: boolean): LoadedObject | undefined {
  const cls = rm.cls;
  const head = rm.prefix(start, cls.ehdrSize, "ELF header");
  if (head.byteLength < cls.ehdrSize || !ELF_MAGIC.every((b, i) => head[i] === b)) return undefined;
  if (head[4] !== cls.elfClass) return undefined; // an ELF file of the other class, mapped as data
  const r = rm.reader(start, cls.ehdrSize, "ELF header");
  const w = cls.word;
  const L = EHDR[w];
  const phoff = r.word(L.e_phoff, w, "e_phoff");
  const phentsize = r.u16(L.e_phentsize, "e_phentsize");
  const phnum = r.u16(L.e_phnum, "e_phnum");
  if (r.u16(L.e_machine, "e_machine") !== cls.machine) return undefined;
  if (phentsize !== cls.phdrSize) throw new ElfFormatError(start, "bad e_phentsize in memory", phentsize);
  const phdrs = readPhdrs(rm, start + phoff, phnum);
  // The kernel maps each PT_LOAD at pageDown(p_vaddr) from file offset pageDown(p_offset).
  const first = phdrs.find((p) => p.p_type === PT_LOAD && p.p_offset / PAGE === 0n);
  if (first === undefined) throw new ElfFormatError(start, "no PT_LOAD maps file offset 0");
  const base = BigInt.asUintN(w * 8, start - (first.p_vaddr & ~(PAGE - 1n)));
  return withDynamic(rm, name, base, phdrs, undefined, isExecutable);
}

function withDynamic(rm: RemoteMemory, name: string, base: bigint, phdrs: Phdr[], linkMap: bigint | undefined, isExecutable: boolean): LoadedObject {
  const dyn = phdrs.find((p) => p.p_type === PT_DYNAMIC);
  const dynamicAddr = dyn === undefined ? 0n : BigInt.asUintN(rm.cls.word * 8, base + dyn.p_vaddr);
  return { name, base, dynamicAddr, dynamic: dyn === undefined ? [] : readDynamic(rm, dynamicAddr), linkMap, isExecutable, isVdso: false, namespace: 0 };
}

/** The main program from AT_PHDR/AT_PHNUM: its bias from PT_PHDR as rtld.c computes l_addr, or from
 * the mapping holding the headers when there is no PT_PHDR. Throws ElfFormatError. */
export function mainProgram(input: ProcessLinkInput, auxv: AuxvEntry[]): { obj: LoadedObject; phdrs: Phdr[] } {
  const rm = input.mem;
  const phdrAddr = auxvValue(auxv, AT_PHDR);
  const phnum = auxvValue(auxv, AT_PHNUM);
  const phent = auxvValue(auxv, AT_PHENT);
  if (phdrAddr === undefined || phnum === undefined) throw new ElfFormatError(0, "auxv without AT_PHDR/AT_PHNUM");
  if (phent !== undefined && phent !== BigInt(rm.cls.phdrSize)) throw new ElfFormatError(0, "bad AT_PHENT", phent);
  if (phnum > BigInt(MAX_PHNUM)) throw new ElfFormatError(0, "bad AT_PHNUM", phnum);
  const phdrs = readPhdrs(rm, phdrAddr, Number(phnum));
  const pt = phdrs.find((p) => p.p_type === PT_PHDR);
  let bias: bigint | undefined;
  if (pt !== undefined) bias = phdrAddr - pt.p_vaddr;
  else {
    const m = findMapping(input.mappings, phdrAddr);
    const fileOff = m && m.offset + (phdrAddr - m.start);
    const load = fileOff === undefined ? undefined
      : phdrs.find((p) => p.p_type === PT_LOAD && p.p_offset <= fileOff && fileOff - p.p_offset < p.p_filesz);
    if (load === undefined || fileOff === undefined) throw new ElfFormatError(phdrAddr, "cannot place the program headers (no PT_PHDR, no mapping)");
    bias = phdrAddr - (load.p_vaddr + (fileOff - load.p_offset));
  }
  bias = BigInt.asUintN(rm.cls.word * 8, bias);
  return { obj: withDynamic(rm, input.exe, bias, phdrs, undefined, true), phdrs };
}

/** At most this many namespaces are followed (glibc's DL_NNS is 16). */
export const MAX_NAMESPACES = 64;

/**
 * Every namespace's link map: r_debug (glibc <link.h>: {int r_version; link_map *r_map; ElfW(Addr)
 * r_brk; enum r_state; ElfW(Addr) r_ldbase}) and, from r_version 2 on (glibc 2.35+, once dlmopen
 * made a namespace), struct r_debug_extended's r_next after it: one r_debug per namespace, the
 * base one first. Namespace n's objects get `namespace: n`; only the base one has the executable.
 */
export function walkLinkMap(input: ProcessLinkInput, rDebug: bigint, problems: DynlinkProblem[]): LoadedObject[] {
  const rm = input.mem;
  const w = rm.cls.word;
  const out: LoadedObject[] = [];
  const seen = new Set<bigint>();
  for (let ns = 0, at = rDebug; at !== 0n; ns++) {
    if (ns >= MAX_NAMESPACES || seen.has(at)) {
      problems.push({ where: "link map", error: new ElfFormatError(at, `r_debug namespace list longer than ${MAX_NAMESPACES} or looping`) });
      break;
    }
    seen.add(at);
    // r_next sits after r_ldbase: 5 words (r_version and r_state padded to words) in either class.
    const head = ns === 0 ? rm.reader(at, 2 * w, "struct r_debug") : attempt(problems, "link map", () => rm.reader(at, 6 * w, "struct r_debug_extended"));
    if (head === undefined) break;
    // 1, or 2 for r_debug_extended: only version 2 has r_next.
    const version = head.u32(0, "r_version");
    if (version < 1 || version > 2) problems.push({ where: "link map", error: new ElfFormatError(at, "unexpected r_version", version) });
    out.push(...walkOneNamespace(input, head.word(w, w, "r_map"), ns, MAX_OBJECTS - out.length, problems));
    if (version < 2) break;
    const next = attempt(problems, "link map", () => rm.word(at + BigInt(5 * w), "r_next"));
    if (next === undefined) break;
    at = next;
  }
  return out;
}

/** Follows one namespace's r_map along l_next (link_map {l_addr, l_name, l_ld, l_next, l_prev},
 * all ElfW(Addr)-sized), at most `room` entries. */
function walkOneNamespace(input: ProcessLinkInput, first: bigint, namespace: number, room: number, problems: DynlinkProblem[]): LoadedObject[] {
  const rm = input.mem;
  const w = rm.cls.word;
  const out: LoadedObject[] = [];
  const seen = new Set<bigint>();
  let prev = 0n;
  for (let at = first; at !== 0n; ) {
    if (out.length >= room) {
      problems.push({ where: "link map", error: new ElfFormatError(at, `link map longer than ${MAX_OBJECTS} objects`) });
      break;
    }
    if (seen.has(at)) {
      problems.push({ where: "link map", error: new ElfFormatError(at, "link map loops back to an earlier entry") });
      break;
    }
    seen.add(at);
    const node = attempt(problems, "link map", () => rm.reader(at, 5 * w, "struct link_map"));
    if (node === undefined) break;
    const [l_addr, l_name, l_ld, l_next, l_prev] = [0, 1, 2, 3, 4].map((i) => node.word(i * w, w, "link_map field")) as [bigint, bigint, bigint, bigint, bigint];
    if (l_prev !== prev) problems.push({ where: "link map", error: new ElfFormatError(at, "l_prev does not point to the previous entry", `0x${l_prev.toString(16)}`) });
    let name = l_name === 0n ? "" : (attempt(problems, "link map", () => rm.cstr(l_name, "l_name")) ?? "");
    const isExecutable = namespace === 0 && out.length === 0;
    // The main program's l_name is empty; its file is what maps its .dynamic (not always
    // /proc/PID/exe: a program run as `ld.so prog` has ld.so there).
    if (isExecutable && name === "") name = findMapping(input.mappings, l_ld)?.path || input.exe;
    const dynamic = l_ld === 0n ? [] : (attempt(problems, name, () => readDynamic(rm, l_ld)) ?? []);
    // The vDSO is linked at 0, so its l_addr is where the kernel put its ELF header.
    const isVdso = !isExecutable && (l_addr === input.vdso || findMapping(input.mappings, l_ld)?.path === "[vdso]");
    out.push({ name, base: l_addr, dynamicAddr: l_ld, dynamic, linkMap: at, isExecutable, isVdso, namespace });
    prev = at;
    at = l_next;
  }
  return out;
}

/** The `_r_debug` ld.so exports, found through its own .dynsym (the fallback for DT_DEBUG == 0). */
function rDebugFromLdso(input: ProcessLinkInput, ldso: LoadedObject, problems: DynlinkProblem[]): bigint | undefined {
  const t = new TableReader(input.mem, problems).read(ldso);
  const bytes = new TextEncoder().encode(R_DEBUG_SYMBOL);
  const key = { name: R_DEBUG_SYMBOL, gnu: gnuHash(bytes), sysv: elfHash(bytes), version: undefined, newest: true, budget: { left: MAX_LOOKUP_STEPS } };
  const i = lookupInObject(t, key);
  const sym = i === undefined ? undefined : t.syms[i];
  return sym && BigInt.asUintN(input.mem.cls.word * 8, sym.st_value + ldso.base);
}

/** Every mapped ELF object: each file-backed mapping at offset 0 (and the vDSO) with an ELF header. */
export function objectsFromMappings(input: ProcessLinkInput, exeStart: bigint | undefined, problems: DynlinkProblem[]): LoadedObject[] {
  const out: LoadedObject[] = [];
  const seen = new Set<string>();
  for (const m of input.mappings) {
    if (m.offset !== 0n || m.path === "" || (m.path.startsWith("[") && m.path !== "[vdso]") || m.perms[0] !== "r") continue;
    const key = `${m.dev} ${m.inode} ${m.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (out.length >= MAX_OBJECTS) {
      problems.push({ where: "mappings", error: new ElfFormatError(m.start, `more than ${MAX_OBJECTS} mapped objects`) });
      break;
    }
    const isExe = exeStart !== undefined && m.start <= exeStart && exeStart < m.end;
    const obj = attempt(problems, m.path, () => objectAtHeader(input.mem, m.start, m.path, isExe));
    if (obj !== undefined) out.push({ ...obj, isVdso: m.path === "[vdso]" || m.start === input.vdso });
  }
  const exe = out.findIndex((o) => o.isExecutable);
  if (exe > 0) out.unshift(...out.splice(exe, 1));
  return out;
}

/**
 * The loaded objects. Link-map order when an r_debug is reachable (DT_DEBUG, else ld.so's
 * `_r_debug`); otherwise the mapped ELF objects with the executable first (source "mappings").
 */
export function findLoadedObjects(input: ProcessLinkInput, problems: DynlinkProblem[]): LinkMapResult {
  const rm = input.mem;
  const auxv = attempt(problems, "auxv", () => parseAuxv(input.auxv, rm.cls.word)) ?? [];
  input = { ...input, vdso: auxvValue(auxv, AT_SYSINFO_EHDR) };
  const main = auxv.length === 0 ? undefined : attempt(problems, input.exe, () => mainProgram(input, auxv));
  const candidates: [ObjectSource, () => bigint | undefined][] = [
    ["DT_DEBUG", () => (main ? dynValue(main.obj.dynamic, DT_DEBUG) : undefined)],
    ["_r_debug", () => {
      const ldBase = auxvValue(auxv, AT_BASE) ?? 0n;
      if (ldBase !== 0n) {
        const ldso = objectAtHeader(rm, ldBase, "ld.so", false);
        return ldso && ldso.dynamic.length > 0 ? rDebugFromLdso(input, ldso, problems) : undefined;
      }
      // AT_BASE 0 with a PT_DYNAMIC but no PT_INTERP: ld.so itself was run as the program (or a static PIE).
      const self = main && !main.phdrs.some((p) => p.p_type === PT_INTERP) && main.obj.dynamic.length > 0 ? main.obj : undefined;
      return self && rDebugFromLdso(input, self, problems);
    }],
  ];
  for (const [source, find] of candidates) {
    const rDebug = attempt(problems, "link map", find);
    if (rDebug === undefined || rDebug === 0n) continue;
    const objects = attempt(problems, "link map", () => walkLinkMap(input, rDebug, problems));
    if (objects !== undefined && objects.length > 0) return { objects, source, rDebug };
  }
  const exeStart = auxvValue(auxv, AT_PHDR);
  return { objects: objectsFromMappings(input, exeStart, problems), source: "mappings", rDebug: undefined };
}
