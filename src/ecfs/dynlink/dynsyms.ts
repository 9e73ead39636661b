// One loaded object's dynamic tables (.dynsym, .dynstr, hash table, versions, DT_NEEDED,
// DT_SONAME), read from the target's memory through its in-memory .dynamic (docs/FORMAT.md 5,
// 7.2). Trust model: every table address, size and count comes from the target; sizes are capped
// (MAX_SYMBOLS, MAX_REMOTE_READ, and the analysis' total read budget), strings must end inside
// .dynstr, and version chains are followed at most DT_VERDEFNUM/DT_VERNEEDNUM (capped) steps.

import type { ElfClass } from "../../elf/class.ts";
import {
  DT_FLAGS, DT_GNU_HASH, DT_HASH, DT_NEEDED, DT_SONAME, DT_STRSZ, DT_STRTAB, DT_SYMBOLIC, DT_SYMENT, DT_SYMTAB,
  DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM, DT_VERSYM,
} from "../../elf/consts.ts";
import { type Dyn, parseSymbols, strAt, type Sym } from "../../elf/reader.ts";
import { ElfFormatError } from "../../errors.ts";
import type { LoadedObject } from "./linkmap.ts";
import { type DynlinkProblem, MAX_REMOTE_READ, type RemoteMemory } from "./remote.ts";
import { type HashTable, MAX_SYMBOLS, readGnuHash, readSysvHash, VERSYM_HIDDEN, VERSYM_VERSION } from "./symlookup.ts";

const MAX_VERSIONS = 4096;
/** Dynamic symbols of all objects together (a large real process has well under a million). */
export const MAX_TOTAL_SYMBOLS = 1 << 22;
const DF_SYMBOLIC = 0x2;
const VER_FLG_BASE = 0x1;
/** Elf_Verdef / Elf_Verdaux / Elf_Verneed / Elf_Vernaux sizes: the same in both classes. */
const VERDEF_SIZE = 20;
const VERDAUX_SIZE = 8;
const VERNEED_SIZE = 16;
const VERNAUX_SIZE = 16;

/** One entry of glibc's l_versions: the version behind a versym index (from verdef or verneed). */
export interface VersionEntry {
  name: string;
  /** Set on a VER_NDX with the hidden bit in verneed's vna_other. */
  hidden: boolean;
  /** For a needed version: the DT_NEEDED name it is needed from. */
  file?: string;
}

export interface DynamicTables {
  object: LoadedObject;
  symtabAddr: bigint;
  /** The .dynsym as in memory: `syms.length` records of the class's size. */
  dynsym: Uint8Array;
  syms: Sym[];
  strtab: Uint8Array;
  /** DT_VERSYM entries, one per symbol, when the object has versions. */
  versym: Uint16Array | undefined;
  /** l_versions: versym index -> version (the VER_FLG_BASE definition is left out, as ld.so does). */
  versions: Map<number, VersionEntry>;
  soname: string | undefined;
  needed: string[];
  /** DT_SYMBOLIC or DF_SYMBOLIC: the object's own definitions come first for its references. */
  symbolic: boolean;
  hash: HashTable;
}

const wrap = (cls: ElfClass, v: bigint): bigint => BigInt.asUintN(cls.word * 8, v);

/** The first d_val of `tag`, as in memory. */
export function dynValue(dynamic: readonly Dyn[], tag: number): bigint | undefined {
  const t = BigInt(tag);
  return dynamic.find((d) => d.d_tag === t)?.d_val;
}

/**
 * A d_ptr value as a runtime address. glibc rewrites the pointer tags of a writable .dynamic in
 * place (elf_get_dynamic_info), but not a read-only one (the vDSO's) and not every tag: a value
 * below the object's base cannot be an address in it yet, so the base is added; a value at or
 * above it already was.
 */
export function runtimePtr(v: bigint, base: bigint, cls: ElfClass): bigint {
  return base !== 0n && v < base ? wrap(cls, v + base) : v;
}

export function dynPtr(obj: LoadedObject, cls: ElfClass, tag: number): bigint | undefined {
  const v = dynValue(obj.dynamic, tag);
  return v === undefined ? undefined : runtimePtr(v, obj.base, cls);
}

/** The d_ptr tags of elf(5) and the GNU extensions: their values are addresses. */
const PTR_TAGS = new Set<bigint>([3n, 4n, 5n, 6n, 7n, 12n, 13n, 17n, 21n, 23n, 25n, 26n, 32n, 0x6ffffef5n, 0x6ffffff0n, 0x6ffffffcn, 0x6ffffffen]);

/** A dynamic section with every pointer tag made a runtime address (runtimePtr). */
export function runtimeDynamic(dynamic: readonly Dyn[], base: bigint, cls: ElfClass): Dyn[] {
  return dynamic.map((d) => (PTR_TAGS.has(d.d_tag) ? { d_tag: d.d_tag, d_val: runtimePtr(d.d_val, base, cls) } : d));
}

function count(v: bigint | undefined, max: number, what: string, at: bigint): number {
  if (v === undefined) throw new ElfFormatError(at, `missing ${what}`);
  if (v > BigInt(max)) throw new ElfFormatError(at, `${what} too large`, v);
  return Number(v);
}

/** Verdef and verneed chains into l_versions (glibc dl-version.c _dl_check_map_versions). */
function readVersions(rm: RemoteMemory, spec: TableSpec, strtab: Uint8Array): Map<number, VersionEntry> {
  const out = new Map<number, VersionEntry>();
  const name = (off: number, what: string): string => strAt(strtab, off, what);
  const verneed = spec.verneed;
  if (verneed !== undefined && verneed !== 0n) {
    const num = count(spec.verneedNum, MAX_VERSIONS, "DT_VERNEEDNUM", verneed);
    let at = verneed;
    for (let i = 0, aux = 0; i < num; i++) {
      const r = rm.reader(at, VERNEED_SIZE, "Elf_Verneed");
      if (r.u16(0, "vn_version") !== 1) throw new ElfFormatError(at, "bad vn_version", r.u16(0, "vn_version"));
      const file = name(r.u32(4, "vn_file"), "vn_file");
      let a = at + BigInt(r.u32(8, "vn_aux"));
      for (let k = r.u16(2, "vn_cnt"); k > 0; k--) {
        if (++aux > MAX_VERSIONS) throw new ElfFormatError(a, "too many Elf_Vernaux entries");
        const x = rm.reader(a, VERNAUX_SIZE, "Elf_Vernaux");
        const other = x.u16(6, "vna_other");
        out.set(other & VERSYM_VERSION, { name: name(x.u32(8, "vna_name"), "vna_name"), hidden: (other & VERSYM_HIDDEN) !== 0, file });
        const next = x.u32(12, "vna_next");
        if (next === 0) break;
        a += BigInt(next);
      }
      const next = r.u32(12, "vn_next");
      if (next === 0) break;
      at += BigInt(next);
    }
  }
  const verdef = spec.verdef;
  if (verdef !== undefined && verdef !== 0n) {
    const num = count(spec.verdefNum, MAX_VERSIONS, "DT_VERDEFNUM", verdef);
    let at = verdef;
    for (let i = 0; i < num; i++) {
      const r = rm.reader(at, VERDEF_SIZE, "Elf_Verdef");
      if (r.u16(0, "vd_version") !== 1) throw new ElfFormatError(at, "bad vd_version", r.u16(0, "vd_version"));
      // The base definition (the object's own name) is not a version a symbol can match.
      if ((r.u16(2, "vd_flags") & VER_FLG_BASE) === 0) {
        const aux = rm.reader(at + BigInt(r.u32(12, "vd_aux")), VERDAUX_SIZE, "Elf_Verdaux");
        out.set(r.u16(4, "vd_ndx") & VERSYM_VERSION, { name: name(aux.u32(0, "vda_name"), "vda_name"), hidden: false });
      }
      const next = r.u32(16, "vd_next");
      if (next === 0) break;
      at += BigInt(next);
    }
  }
  return out;
}

/** Everything readDynamicTables takes from an object's .dynamic, pointers already relocated. */
interface TableSpec {
  symtab: bigint | undefined;
  strtab: bigint | undefined;
  strsz: bigint | undefined;
  syment: bigint | undefined;
  gnu: bigint | undefined;
  sysv: bigint | undefined;
  versym: bigint | undefined;
  verneed: bigint | undefined;
  verneedNum: bigint | undefined;
  verdef: bigint | undefined;
  verdefNum: bigint | undefined;
  soname: bigint | undefined;
  needed: bigint[];
  symbolic: boolean;
}

function tableSpec(obj: LoadedObject, cls: ElfClass): TableSpec {
  const ptr = (tag: number): bigint | undefined => dynPtr(obj, cls, tag);
  const val = (tag: number): bigint | undefined => dynValue(obj.dynamic, tag);
  return {
    symtab: ptr(DT_SYMTAB), strtab: ptr(DT_STRTAB), strsz: val(DT_STRSZ), syment: val(DT_SYMENT),
    gnu: ptr(DT_GNU_HASH), sysv: ptr(DT_HASH), versym: ptr(DT_VERSYM),
    verneed: ptr(DT_VERNEED), verneedNum: val(DT_VERNEEDNUM), verdef: ptr(DT_VERDEF), verdefNum: val(DT_VERDEFNUM),
    soname: val(DT_SONAME),
    needed: obj.dynamic.filter((d) => d.d_tag === BigInt(DT_NEEDED)).map((d) => d.d_val),
    symbolic: val(DT_SYMBOLIC) !== undefined || ((val(DT_FLAGS) ?? 0n) & BigInt(DF_SYMBOLIC)) !== 0n,
  };
}

/**
 * Reads objects' dynamic tables, sharing the parse between objects whose .dynamic says the same
 * thing (a hostile link map can list one library thousands of times), and stops once the
 * analysis holds MAX_TOTAL_SYMBOLS symbols.
 */
export class TableReader {
  readonly #cache = new Map<string, DynamicTables>();
  #symbolsLeft = MAX_TOTAL_SYMBOLS;
  constructor(
    readonly rm: RemoteMemory,
    readonly problems: DynlinkProblem[],
  ) {}

  /** The tables of `obj`; ElfFormatError for malformed or unreadable ones. */
  read(obj: LoadedObject): DynamicTables {
    const spec = tableSpec(obj, this.rm.cls);
    const key = JSON.stringify(spec, (_k, v: unknown) => (typeof v === "bigint" ? v.toString(16) : v));
    const cached = this.#cache.get(key);
    const t = cached ? { ...cached, object: obj } : readDynamicTables(this.rm, obj, spec, this.problems);
    if (t.syms.length > this.#symbolsLeft)
      throw new ElfFormatError(obj.dynamicAddr, `more than ${MAX_TOTAL_SYMBOLS} dynamic symbols in all objects`, t.syms.length);
    this.#symbolsLeft -= t.syms.length;
    if (!cached) this.#cache.set(key, t);
    return t;
  }
}

/**
 * The dynamic tables of one object. Throws ElfFormatError for malformed or unreadable tables;
 * an object without DT_HASH/DT_GNU_HASH gets a guessed symbol count (recorded in `problems`)
 * and cannot provide definitions (ld.so could not look anything up in it either).
 */
function readDynamicTables(rm: RemoteMemory, obj: LoadedObject, spec: TableSpec, problems: DynlinkProblem[]): DynamicTables {
  const cls = rm.cls;
  const { symtab, strtab: strtabAddr } = spec;
  if (symtab === undefined || strtabAddr === undefined)
    throw new ElfFormatError(obj.dynamicAddr, "dynamic section without DT_SYMTAB/DT_STRTAB");
  if (spec.syment !== undefined && spec.syment !== BigInt(cls.symSize)) throw new ElfFormatError(obj.dynamicAddr, "bad DT_SYMENT", spec.syment);
  const strsz = count(spec.strsz, MAX_REMOTE_READ, "DT_STRSZ", obj.dynamicAddr);
  const strtab = rm.bytes(strtabAddr, strsz, "dynamic string table");

  let hash: HashTable = { kind: "none" };
  let nsyms: number;
  if (spec.gnu !== undefined) ({ table: hash, nsyms } = readGnuHash(rm, spec.gnu));
  else if (spec.sysv !== undefined) ({ table: hash, nsyms } = readSysvHash(rm, spec.sysv));
  else {
    // No hash table: the linker puts .dynstr right after .dynsym; take the gap as the count.
    const gap = strtabAddr > symtab ? (strtabAddr - symtab) / BigInt(cls.symSize) : 0n;
    nsyms = count(gap, MAX_SYMBOLS, "symbol count guessed from DT_STRTAB - DT_SYMTAB", symtab);
    problems.push({ where: obj.name, error: new ElfFormatError(obj.dynamicAddr, "no DT_HASH or DT_GNU_HASH; symbol count guessed", nsyms) });
  }
  const dynsym = rm.bytes(symtab, nsyms * cls.symSize, "dynamic symbol table");
  const syms = parseSymbols(dynsym, strtab, cls);

  let versym: Uint16Array | undefined;
  if (spec.versym !== undefined && spec.versym !== 0n) {
    const r = rm.reader(spec.versym, nsyms * 2, "DT_VERSYM table");
    versym = new Uint16Array(nsyms);
    for (let i = 0; i < nsyms; i++) versym[i] = r.u16(i * 2, "versym");
  }
  // A d_val past the table (however large) is reported by strAt as a bad offset.
  const str = (v: bigint, what: string): string => strAt(strtab, v < BigInt(strtab.byteLength) ? Number(v) : strtab.byteLength, what);
  return {
    object: obj,
    symtabAddr: symtab,
    dynsym,
    syms,
    strtab,
    versym,
    versions: readVersions(rm, spec, strtab),
    soname: spec.soname === undefined ? undefined : str(spec.soname, "DT_SONAME"),
    needed: spec.needed.map((v) => str(v, "DT_NEEDED")),
    symbolic: spec.symbolic,
    hash,
  };
}

/**
 * The version a symbol of this object has: its own for a definition, the one it needs for a
 * reference (undefined: unversioned, or the base version). `nonDefault` is versym's hidden bit,
 * set on a definition readelf prints as name@VER rather than name@@VER.
 */
export function symbolVersion(t: DynamicTables, index: number): (VersionEntry & { nonDefault: boolean }) | undefined {
  const v = t.versym?.[index];
  if (v === undefined) return undefined;
  const e = t.versions.get(v & VERSYM_VERSION);
  return e && { ...e, nonDefault: (v & VERSYM_HIDDEN) !== 0 };
}

