// The executable's own names for its functions (.dynsym, then .symtab, of the file on disk), by
// runtime address, for the .symtab rebuilt from .eh_frame (ecfs/ehframe.ts symbolsFromFdes).
// Bounded memory: the symbol tables are read in chunks of CHUNK_SYMS records and only an address
// and a string-table offset are kept per function symbol (16 bytes; node's executable has 185k);
// the names asked for are read from the string tables in one sequential pass. Before, every
// symbol became an object with its name, and node's planning grew by 48 MiB for it.
//
// As before: the last definition of an address wins (.symtab over .dynsym), and a malformed table
// (entry size, sh_link, a name offset past its string table) gives no names and one problem. A
// name that runs unterminated to the end of its table is no name (sub_<hex>), not a problem.

import type { ElfFile, Shdr } from "../elf/reader.ts";
import { SYM } from "../elf/records.ts";
import { SHN_UNDEF, SHT_DYNSYM, SHT_SYMTAB, STT_FUNC, STT_GNU_IFUNC } from "../elf/consts.ts";
import { ElfFormatError, rethrowIfGone } from "../errors.ts";

/** What symbolsFromFdes asks: the names of many addresses at once. */
export interface FunctionNames {
  /** The name of each address, or undefined where there is none. */
  lookup(addrs: readonly bigint[]): (string | undefined)[];
}

const CHUNK_SYMS = 4096;
const STR_WINDOW = 64 * 1024;
/** Above every user address: a value past it names nothing in the process. */
const MAX_ADDR = 2 ** 53;

/** Growable parallel arrays: address, string table number, name offset, insertion order. */
class Entries {
  addr = new Float64Array(1024);
  table = new Uint8Array(1024);
  name = new Uint32Array(1024);
  n = 0;
  push(addr: number, table: number, name: number): void {
    if (this.n === this.addr.length) {
      const grow = <T extends Float64Array | Uint8Array | Uint32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.addr = grow(this.addr);
      this.table = grow(this.table);
      this.name = grow(this.name);
    }
    this.addr[this.n] = addr;
    this.table[this.n] = table;
    this.name[this.n] = name;
    this.n++;
  }
}

export class ExeFunctionNames implements FunctionNames {
  /** Indices into the entries, sorted by address, one per address (the last definition). */
  readonly #order: Uint32Array;
  readonly #e: Entries;
  readonly #strtabs: { offset: number; size: number }[];

  private constructor(readonly file: ElfFile | undefined, e: Entries, strtabs: { offset: number; size: number }[]) {
    this.#e = e;
    this.#strtabs = strtabs;
    const idx = new Uint32Array(e.n);
    for (let i = 0; i < e.n; i++) idx[i] = i;
    // By address, and for one address by insertion order, so the last one is kept.
    idx.sort((a, b) => e.addr[a]! - e.addr[b]! || a - b);
    let k = 0;
    for (let i = 0; i < idx.length; i++) {
      if (i + 1 < idx.length && e.addr[idx[i + 1]!] === e.addr[idx[i]!]) continue;
      idx[k++] = idx[i]!;
    }
    this.#order = idx.slice(0, k);
  }

  /** The index of `file`'s function symbols; problems (a malformed table) are pushed on `problems`. */
  static read(file: ElfFile | undefined, bias: bigint, problems: string[]): ExeFunctionNames {
    const e = new Entries();
    const strtabs: { offset: number; size: number }[] = [];
    if (file) {
      try {
        for (const name of [".dynsym", ".symtab"]) {
          const sh = file.sectionByName(name);
          if (sh) indexTable(file, sh, bias, e, strtabs);
        }
      } catch (err) {
        rethrowIfGone(err);
        problems.push(`symbol names of the executable: ${(err as Error).message}`);
      }
    }
    return new ExeFunctionNames(file, e, strtabs);
  }

  /** Number of addresses with a name. */
  get size(): number {
    return this.#order.length;
  }

  #find(addr: bigint): number | undefined {
    if (addr < 0n || addr >= BigInt(MAX_ADDR)) return undefined;
    const a = Number(addr);
    let lo = 0;
    let hi = this.#order.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.#e.addr[this.#order[mid]!]!;
      if (v < a) lo = mid + 1;
      else if (v > a) hi = mid - 1;
      else return this.#order[mid];
    }
    return undefined;
  }

  lookup(addrs: readonly bigint[]): (string | undefined)[] {
    const out: (string | undefined)[] = new Array(addrs.length).fill(undefined);
    const want: { i: number; table: number; at: number }[] = [];
    addrs.forEach((addr, i) => {
      const j = this.#find(addr);
      if (j !== undefined) want.push({ i, table: this.#e.table[j]!, at: this.#e.name[j]! });
    });
    // One pass over each string table, front to back, through one window.
    want.sort((x, y) => x.table - y.table || x.at - y.at);
    const reader = new StringReader(this.file!);
    for (const w of want) out[w.i] = reader.at(this.#strtabs[w.table]!, w.at) || undefined;
    return out;
  }
}

/** Reads the function symbols of one table, CHUNK_SYMS records at a time, into `e`. */
function indexTable(file: ElfFile, sh: Shdr, bias: bigint, e: Entries, strtabs: { offset: number; size: number }[]): void {
  const { cls } = file;
  if (sh.sh_type !== SHT_SYMTAB && sh.sh_type !== SHT_DYNSYM)
    throw new ElfFormatError(sh.sh_offset, `section ${sh.index} is not a symbol table`, sh.sh_type);
  if (sh.sh_entsize !== 0n && sh.sh_entsize !== BigInt(cls.symSize))
    throw new ElfFormatError(sh.sh_offset, `bad sh_entsize of symbol table ${sh.index}`, sh.sh_entsize);
  const strSec = file.sections()[sh.sh_link];
  if (sh.sh_link === SHN_UNDEF || !strSec) throw new ElfFormatError(sh.sh_offset, `bad sh_link of symbol table ${sh.index}`, sh.sh_link);
  const str = file.sectionRange(strSec);
  const { offset, size } = file.sectionRange(sh);
  if (size % cls.symSize !== 0) throw new ElfFormatError(offset, "symbol table size not a multiple of the symbol size", size);
  const L = SYM[cls.word];
  // Checked for the whole table before any of it is kept: a bad one gives no names at all.
  const start = e.n;
  const table = strtabs.length;
  strtabs.push(str);
  for (let done = 0; done < size; done += CHUNK_SYMS * cls.symSize) {
    const n = Math.min(CHUNK_SYMS * cls.symSize, size - done);
    const bytes = file.src.read(offset + done, n, `symbol table ${sh.index}`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let o = 0; o < n; o += cls.symSize) {
      const stName = dv.getUint32(o + L.st_name, true);
      if (stName >= str.size) {
        e.n = start;
        strtabs.pop();
        throw new ElfFormatError(str.offset, "bad symbol name offset", stName);
      }
      const type = dv.getUint8(o + L.st_info) & 0xf;
      if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || dv.getUint16(o + L.st_shndx, true) === 0 || stName === 0) continue;
      const value = cls.word === 8 ? dv.getBigUint64(o + L.st_value, true) : BigInt(dv.getUint32(o + L.st_value, true));
      const addr = value + bias;
      if (addr >= 0n && addr < BigInt(MAX_ADDR)) e.push(Number(addr), table, stName);
    }
  }
}

/** NUL-terminated strings of a string table, read through one window that only moves forward (mostly). */
class StringReader {
  #base = -1;
  #bytes: Uint8Array = new Uint8Array(0);
  constructor(readonly file: ElfFile) {}

  /** The string at `at` of `table`, "" when it is unterminated within the table. */
  at(table: { offset: number; size: number }, at: number): string {
    const parts: Uint8Array[] = [];
    for (let pos = table.offset + at; pos < table.offset + table.size; ) {
      if (pos < this.#base || pos >= this.#base + this.#bytes.byteLength) {
        const n = Math.min(STR_WINDOW, table.offset + table.size - pos);
        this.#bytes = this.file.src.read(pos, n, "string table");
        this.#base = pos;
      }
      const from = pos - this.#base;
      const nul = this.#bytes.indexOf(0, from);
      if (nul >= 0) {
        parts.push(this.#bytes.subarray(from, nul));
        return decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts));
      }
      parts.push(this.#bytes.slice(from));
      pos = this.#base + this.#bytes.byteLength;
    }
    return "";
  }
}

const decoder = new TextDecoder();
