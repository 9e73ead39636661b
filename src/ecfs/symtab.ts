// .symtab / .strtab rebuilt from the executable's .eh_frame (ECFS-FORMAT.md 7.1): one
// GLOBAL FUNC symbol (st_info 0x12) per FDE, st_shndx = the ._TEXT section, named sub_<hex>
// unless the executable's own symbols name that address. Unlike the original, the table is
// strict ELF: symbol 0 is the null symbol and .strtab starts with a NUL, so readelf, objdump
// and gdb read it as they would any symtab (readecfs shows one extra blank line).

import type { ElfClass } from "../elf/class.ts";
import { ByteWriter, utf8 } from "../elf/bytes.ts";
import { STB_GLOBAL, STT_FUNC } from "../elf/consts.ts";
import { encodeSym } from "../elf/encode.ts";
import type { FdeSymbol } from "./ehframe.ts";

export interface SymtabBytes {
  symtab: Uint8Array;
  strtab: Uint8Array;
}

export function encodeSymtab(cls: ElfClass, symbols: FdeSymbol[], textIndex: number): SymtabBytes {
  const names = symbols.map((s) => utf8.encode(s.name));
  const strtab = new Uint8Array(1 + names.reduce((n, b) => n + b.length + 1, 0));
  const w = new ByteWriter((symbols.length + 1) * cls.symSize);
  let str = 1;
  symbols.forEach((s, i) => {
    const o = (i + 1) * cls.symSize;
    strtab.set(names[i]!, str);
    encodeSym(cls, { st_name: str, st_info: (STB_GLOBAL << 4) | STT_FUNC, st_other: 0, st_shndx: textIndex, st_value: s.value, st_size: s.size }, w, o);
    str += names[i]!.length + 1;
  });
  return { symtab: w.bytes, strtab };
}
