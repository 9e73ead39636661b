// .symtab / .strtab rebuilt from the executable's .eh_frame (docs/FORMAT.md 6): one
// GLOBAL FUNC symbol (st_info 0x12) per FDE, st_shndx = the ._TEXT section, named sub_<hex>
// unless the executable's own symbols name that address. Unlike the original, the table is
// strict ELF: symbol 0 is the null symbol and .strtab starts with a NUL, so readelf, objdump
// and gdb read it as they would any symtab (readecfs shows one extra blank line).

import type { ElfClass } from "../elf/class.ts";
import { ByteWriter, utf8 } from "../elf/bytes.ts";
import { STB_GLOBAL, STT_FUNC } from "../elf/consts.ts";
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
    const info = (STB_GLOBAL << 4) | STT_FUNC;
    if (cls.word === 8) {
      w.u32(o, str).u8(o + 4, info).u8(o + 5, 0).u16(o + 6, textIndex).u64(o + 8, s.value).u64(o + 16, s.size);
    } else {
      w.u32(o, str).word(o + 4, 4, s.value).word(o + 8, 4, s.size).u8(o + 12, info).u8(o + 13, 0).u16(o + 14, textIndex);
    }
    str += names[i]!.length + 1;
  });
  return { symtab: w.bytes, strtab };
}
