// The symbol tables ECFS writes. .symtab / .strtab are rebuilt from the executable's
// .eh_frame (docs/FORMAT.md 6): one GLOBAL FUNC symbol (st_info 0x12) per FDE, named
// sub_<hex> unless the executable's own symbols name that address. Unlike the original, the
// table is strict ELF: symbol 0 is the null symbol and .strtab starts with a NUL, so readelf,
// objdump and gdb read it as they would any symtab (readecfs shows one extra blank line).
//
// Every value is a runtime address, and every defined symbol is SHN_ABS (the original gave
// .symtab the ._TEXT index and left .dynsym with the executable's own section numbers, which
// name other sections here). A section index cannot be had with a runtime value: BFD (objdump,
// nm) takes st_value of an ET_NONE file as relative to its section and adds the section's
// sh_addr (binutils elfcode.h elf_slurp_symbol_table subtracts it back only for ET_EXEC and
// ET_DYN), so a symbol in .text printed at twice its address; readelf and libecfs read
// st_value as it is. An absolute symbol reads the same in all of them.

import type { ElfClass } from "../elf/class.ts";
import { ByteReader, ByteWriter, utf8 } from "../elf/bytes.ts";
import { SHN_ABS, SHN_UNDEF, STB_GLOBAL, STT_FUNC } from "../elf/consts.ts";
import { encodeSym } from "../elf/encode.ts";
import { SYM } from "../elf/records.ts";
import type { ElfFormatError } from "../errors.ts";
import { type FdeSymbol, parseEhFrame } from "./ehframe.ts";
import type { FunctionNames } from "./exenames.ts";

export interface SymtabBytes {
  symtab: Uint8Array;
  strtab: Uint8Array;
}

export function encodeSymtab(cls: ElfClass, symbols: FdeSymbol[]): SymtabBytes {
  // Sized first and then encoded in place: no encoded copy of every name on the way (node's
  // executable has 70k of them).
  let size = 1;
  for (const s of symbols) size += Buffer.byteLength(s.name, "utf8") + 1;
  const strtab = new Uint8Array(size);
  const w = new ByteWriter((symbols.length + 1) * cls.symSize);
  let str = 1;
  symbols.forEach((s, i) => {
    const o = (i + 1) * cls.symSize;
    const { written } = utf8.encodeInto(s.name, strtab.subarray(str));
    encodeSym(cls, { st_name: str, st_info: (STB_GLOBAL << 4) | STT_FUNC, st_other: 0, st_shndx: SHN_ABS, st_value: s.value, st_size: s.size }, w, o);
    str += written + 1;
  });
  return { symtab: w.bytes, strtab };
}

/**
 * .symtab and .strtab rebuilt from the .eh_frame `bytes` at runtime address `addr`: what
 * encodeSymtab(symbolsFromFdes(parseEhFrame(...).fdes, names)) gives, byte for byte, without an
 * object per FDE on the way: each FDE's start and size go into two typed arrays (16 bytes an FDE;
 * node's executable has 70k), the names are looked up in one pass, and both tables are encoded in
 * place. `errors`: the records the walk skipped.
 */
export function symtabFromEhFrame(cls: ElfClass, bytes: Uint8Array, addr: bigint, names: FunctionNames): SymtabBytes & { errors: ElfFormatError[] } {
  let starts = new BigUint64Array(1024);
  let sizes = new BigUint64Array(1024);
  let n = 0;
  const walk = parseEhFrame(bytes, addr, cls.word, {
    onFde: (f) => {
      if (n === starts.length) {
        const grow = (a: BigUint64Array) => {
          const b = new BigUint64Array(a.length * 2);
          b.set(a);
          return b;
        };
        starts = grow(starts);
        sizes = grow(sizes);
      }
      starts[n] = BigInt.asUintN(64, f.start);
      sizes[n] = BigInt.asUintN(64, f.size);
      n++;
    },
  });
  const found = names.lookup(Array.from(starts.subarray(0, n)));
  const nameOf = (i: number) => found[i] || `sub_${starts[i]!.toString(16)}`;
  let size = 1;
  for (let i = 0; i < n; i++) size += Buffer.byteLength(nameOf(i), "utf8") + 1;
  const strtab = new Uint8Array(size);
  const w = new ByteWriter((n + 1) * cls.symSize);
  let str = 1;
  for (let i = 0; i < n; i++) {
    const { written } = utf8.encodeInto(nameOf(i), strtab.subarray(str));
    encodeSym(cls, { st_name: str, st_info: (STB_GLOBAL << 4) | STT_FUNC, st_other: 0, st_shndx: SHN_ABS, st_value: starts[i]!, st_size: sizes[i]! }, w, (i + 1) * cls.symSize);
    str += written + 1;
  }
  return { symtab: w.bytes, strtab, errors: walk.errors };
}

/**
 * A .dynsym copy whose values are already runtime addresses (dynlink resolvedDynsym), changed
 * in place: every defined symbol (any st_shndx but SHN_UNDEF, which imports keep) becomes
 * SHN_ABS. The null symbol stays as it is.
 */
export function markDefinedAbsolute(cls: ElfClass, dynsym: Uint8Array): Uint8Array {
  const r = new ByteReader(dynsym);
  const w = new ByteWriter(dynsym);
  const at = SYM[cls.word].st_shndx;
  for (let o = cls.symSize; o + cls.symSize <= dynsym.byteLength; o += cls.symSize)
    if (r.u16(o + at, "st_shndx") !== SHN_UNDEF) w.u16(o + at, SHN_ABS);
  return dynsym;
}
