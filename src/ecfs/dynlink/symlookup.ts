// Hash tables and the per-object half of ld.so's symbol lookup (glibc elf/dl-lookup.c
// do_lookup_x and check_match; dl-setup_hash.c). Trust model: table sizes come from the target;
// they are capped (MAX_SYMBOLS, MAX_BUCKETS), every bucket and DT_HASH chain index is checked
// to lie inside the table when it is read, and each lookup walks at most the budget it is given,
// so a hostile chain (a cycle, one endless GNU chain) costs bounded time and finds nothing.

import {
  SHN_ABS, SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE, STT_OBJECT,
} from "../../elf/consts.ts";
import { stBind, stType } from "../../elf/reader.ts";
import type { ByteReader } from "../../elf/bytes.ts";
import { ElfFormatError } from "../../errors.ts";
import type { DynamicTables } from "./dynsyms.ts";
import type { RemoteMemory } from "./remote.ts";

/** More dynamic symbols than any real object has (libxul: ~10^5). */
export const MAX_SYMBOLS = 1 << 20;
/** Buckets and bloom words: linkers size both below the symbol count. */
const MAX_BUCKETS = MAX_SYMBOLS;
/** Hash-chain steps for one batch of lookups (resolvedSymbols of one object, or one resolve):
 * 3000 imports x 300 objects x a few steps each fits many times over. */
export const MAX_LOOKUP_STEPS = 1 << 24;
/** STT_COMMON, STT_TLS, STB_GNU_UNIQUE (elf.h; not in consts.ts). */
export const STT_COMMON = 5;
export const STT_TLS = 6;
export const STB_GNU_UNIQUE = 10;
/** DT_VERSYM entry: version index, and the bit that hides a non-default version (symbol@VER). */
export const VERSYM_HIDDEN = 0x8000;
export const VERSYM_VERSION = 0x7fff;
/** check_match's ALLOWED_STT: the symbol types a lookup may return. */
const ALLOWED_STT = new Set([STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_COMMON, STT_TLS, STT_GNU_IFUNC]);

/** A version a reference asks for (r_found_version: name, hidden). */
export interface VersionRef {
  name: string;
  hidden: boolean;
}

export type HashTable =
  | { kind: "gnu"; symoffset: number; shift: number; bits: 32 | 64; bloom: ByteReader; bloomWords: number; buckets: Uint32Array; chains: Uint32Array }
  | { kind: "sysv"; buckets: Uint32Array; chains: Uint32Array }
  | { kind: "none" };

function u32s(rm: RemoteMemory, addr: bigint, n: number, what: string): Uint32Array {
  const r = rm.reader(addr, n * 4, what);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.u32(i * 4, what);
  return out;
}

/** DT_GNU_HASH (binutils bfd/elflink.c; glibc setup_hash): the symbol count is found by walking
 * the chain of the highest bucket to its terminator (bit 0 set). */
export function readGnuHash(rm: RemoteMemory, addr: bigint): { table: HashTable; nsyms: number } {
  const h = rm.reader(addr, 16, "DT_GNU_HASH header");
  const nbuckets = h.u32(0, "gnu hash nbuckets");
  const symoffset = h.u32(4, "gnu hash symoffset");
  const bloomSize = h.u32(8, "gnu hash bloom_size");
  const shift = h.u32(12, "gnu hash bloom_shift");
  if (nbuckets === 0 || nbuckets > MAX_BUCKETS) throw new ElfFormatError(addr, "bad gnu hash nbuckets", nbuckets);
  if (bloomSize === 0 || bloomSize > MAX_BUCKETS) throw new ElfFormatError(addr, "bad gnu hash bloom_size", bloomSize);
  if (symoffset > MAX_SYMBOLS) throw new ElfFormatError(addr, "bad gnu hash symoffset", symoffset);
  const w = rm.cls.word;
  const bloomAddr = addr + 16n;
  const bloom = rm.reader(bloomAddr, bloomSize * w, "gnu hash bloom filter");
  const bucketsAddr = bloomAddr + BigInt(bloomSize * w);
  const buckets = u32s(rm, bucketsAddr, nbuckets, "gnu hash buckets");
  const chainsAddr = bucketsAddr + BigInt(nbuckets * 4);
  let top = 0;
  for (const b of buckets) {
    if (b !== 0 && b < symoffset) throw new ElfFormatError(bucketsAddr, "gnu hash bucket below symoffset", b);
    if (b > top) top = b;
  }
  let nsyms = symoffset;
  if (top !== 0) {
    // Chain words from index `top` on, read in chunks until the terminator.
    for (let i = top; ; ) {
      if (i >= MAX_SYMBOLS) throw new ElfFormatError(chainsAddr, "gnu hash chain without end");
      const n = Math.min(1024, MAX_SYMBOLS - i);
      const chunk = rm.prefix(chainsAddr + BigInt((i - symoffset) * 4), n * 4, "gnu hash chain");
      if (chunk.byteLength < 4) throw new ElfFormatError(chainsAddr, "gnu hash chain unreadable before its end", i);
      const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      let end = -1;
      for (let k = 0; k + 4 <= chunk.byteLength; k += 4, i++)
        if (dv.getUint32(k, true) & 1) {
          end = i;
          break;
        }
      if (end >= 0) {
        nsyms = end + 1;
        break;
      }
    }
  }
  const chains = u32s(rm, chainsAddr, nsyms - symoffset, "gnu hash chains");
  return { table: { kind: "gnu", symoffset, shift, bits: w === 8 ? 64 : 32, bloom, bloomWords: bloomSize, buckets, chains }, nsyms };
}

/** DT_HASH (System V gABI "Hash Table"): nchain is the symbol count; indices are checked here. */
export function readSysvHash(rm: RemoteMemory, addr: bigint): { table: HashTable; nsyms: number } {
  const h = rm.reader(addr, 8, "DT_HASH header");
  const nbucket = h.u32(0, "hash nbucket");
  const nchain = h.u32(4, "hash nchain");
  if (nbucket === 0 || nbucket > MAX_BUCKETS) throw new ElfFormatError(addr, "bad hash nbucket", nbucket);
  if (nchain > MAX_SYMBOLS) throw new ElfFormatError(addr, "bad hash nchain", nchain);
  const buckets = u32s(rm, addr + 8n, nbucket, "hash buckets");
  const chains = u32s(rm, addr + 8n + BigInt(nbucket * 4), nchain, "hash chains");
  for (const table of [buckets, chains])
    for (const v of table) if (v !== 0 && v >= nchain) throw new ElfFormatError(addr, "hash bucket or chain index out of range", v);
  return { table: { kind: "sysv", buckets, chains }, nsyms: nchain };
}

/** dl_new_hash: h * 33 + c over the name's bytes, from 5381. */
export function gnuHash(name: Uint8Array): number {
  let h = 5381;
  for (const c of name) h = (Math.imul(h, 33) + c) >>> 0;
  return h;
}

/** The System V ELF hash (gABI). */
export function elfHash(name: Uint8Array): number {
  let h = 0;
  for (const c of name) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g !== 0) h ^= g >>> 24;
    h &= ~g >>> 0;
  }
  return h >>> 0;
}

export interface LookupKey {
  name: string;
  gnu: number;
  sysv: number;
  version: VersionRef | undefined;
  /** dlsym semantics (DL_LOOKUP_RETURN_NEWEST) for an unversioned key; relocation semantics otherwise. */
  newest: boolean;
  /** Hash-chain steps left; a lookup that runs out finds nothing (hostile chains, huge scopes). */
  budget: { left: number };
}

/**
 * check_match for one candidate; `state` carries do_lookup_x's versioned_sym / num_versions
 * (an unversioned reference falls back to the only non-hidden versioned definition).
 */
function checkMatch(t: DynamicTables, idx: number, key: LookupKey, state: { versioned?: number; n: number }): boolean {
  const sym = t.syms[idx];
  if (sym === undefined) return false;
  const stt = stType(sym.st_info);
  if (sym.st_value === 0n && sym.st_shndx !== SHN_ABS && stt !== STT_TLS) return false;
  // Undefined entries never define (ELF_RTYPE_CLASS_PLT); a non-PLT reference could bind to a
  // non-PIE executable's canonical PLT entry (an UND symbol with a value), which we do not model.
  if (sym.st_shndx === SHN_UNDEF || !ALLOWED_STT.has(stt) || sym.name !== key.name) return false;
  const vs = t.versym?.[idx];
  if (vs === undefined) return true; // no versions in this object: any reference accepts it
  const def = t.versions.get(vs & VERSYM_VERSION);
  if (key.version !== undefined) {
    // A matching version, or an unversioned (base/global) definition unless either side is hidden.
    return def?.name === key.version.name || !(key.version.hidden || def !== undefined || (vs & VERSYM_HIDDEN) !== 0);
  }
  if ((vs & VERSYM_VERSION) >= (key.newest ? 2 : 3)) {
    if ((vs & VERSYM_HIDDEN) === 0 && state.n++ === 0) state.versioned = idx;
    return false;
  }
  return true;
}

/**
 * The index of the symbol `key` finds in this object (do_lookup_x for one map), or undefined.
 * Local symbols found this way make the object yield nothing, as in ld.so.
 */
export function lookupInObject(t: DynamicTables, key: LookupKey): number | undefined {
  const h = t.hash;
  const state: { versioned?: number; n: number } = { n: 0 };
  const budget = key.budget;
  if (--budget.left < 0) return undefined;
  let found: number | undefined;
  if (h.kind === "gnu") {
    // The bloom filter (dl-lookup.c): two bits per name in one ElfW(Addr)-sized word; glibc masks
    // the word index with bloom_size - 1, which the linker makes a power of two.
    const bits = h.bits;
    const size = bits === 64 ? 8 : 4;
    const word = h.bloom.word((Math.floor(key.gnu / bits) & (h.bloomWords - 1)) * size, size, "bloom word");
    const b2 = h.shift >= 32 ? 0 : key.gnu >>> h.shift;
    const mask = (1n << BigInt(key.gnu % bits)) | (1n << BigInt(b2 % bits));
    if ((word & mask) !== mask) return undefined;
    const start = h.buckets[key.gnu % h.buckets.length] ?? 0;
    if (start === 0) return undefined;
    for (let i = start; i < t.syms.length && --budget.left >= 0; i++) {
      const hv = h.chains[i - h.symoffset] ?? 1;
      if (((hv ^ key.gnu) >>> 1) === 0 && checkMatch(t, i, key, state)) {
        found = i;
        break;
      }
      if (hv & 1) break;
    }
  } else if (h.kind === "sysv") {
    let i = h.buckets[key.sysv % h.buckets.length] ?? 0;
    // Indices were range-checked when read; the step bound stops a cycle.
    for (let steps = 0; i !== 0 && steps <= h.chains.length && --budget.left >= 0; steps++, i = h.chains[i] ?? 0)
      if (checkMatch(t, i, key, state)) {
        found = i;
        break;
      }
  } else return undefined;
  if (found === undefined && state.n === 1) found = state.versioned;
  if (found === undefined) return undefined;
  const bind = stBind(t.syms[found]?.st_info ?? 0);
  // STB_GNU_UNIQUE goes through ld.so's unique-symbol table; the first definition loaded wins,
  // which for objects loaded at startup is the first in scope order, as for GLOBAL and WEAK.
  return bind === STB_GLOBAL || bind === STB_WEAK || bind === STB_GNU_UNIQUE ? found : undefined;
}
