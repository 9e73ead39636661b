// Symbols of an ECFS file: .dynsym/.dynstr (the executable's dynamic symbols; the ECFS writer
// sets st_value to runtime addresses, docs/FORMAT.md 6) and .symtab/.strtab (rebuilt from
// .eh_frame as sub_<hex>, 7.1). Trust model: the string table is taken from sh_link when that
// names a STRTAB, else by name (libecfs looked tables up by name only); every name offset is
// checked against the table (elf/reader.ts parseSymbols). The original's .symtab has no null
// symbol at index 0 and its .strtab no leading NUL; both shapes read the same way.

import type { ElfClass } from "../elf/class.ts";
import { SHN_UNDEF, SHT_DYNSYM, SHT_STRTAB, SHT_SYMTAB, shtName } from "../elf/consts.ts";
import { type ElfFile, parseSymbols, type Shdr, stBind, stType } from "../elf/reader.ts";
import { ElfFormatError } from "../errors.ts";

export interface EcfsSymbol {
  index: number;
  name: string;
  value: bigint;
  size: bigint;
  /** STT_* */
  type: number;
  /** STB_* */
  bind: number;
  typeName: string;
  bindName: string;
  /** st_shndx: SHN_UNDEF (0) for an import. */
  shndx: number;
}

const STT: Record<number, string> = {
  0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS", 10: "GNU_IFUNC",
};
const STB: Record<number, string> = { 0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE" };

export const sttName = (t: number): string => STT[t] ?? `0x${t.toString(16)}`;
export const stbName = (b: number): string => STB[b] ?? `0x${b.toString(16)}`;

/** The string table of a symbol section: sh_link if that is a STRTAB, else the section named `fallback`. */
function stringTable(elf: ElfFile, sh: Shdr, fallback: string): Shdr {
  const linked = sh.sh_link !== SHN_UNDEF ? elf.sections()[sh.sh_link] : undefined;
  if (linked && linked.sh_type === SHT_STRTAB) return linked;
  const named = elf.sectionByName(fallback);
  if (named) return named;
  throw new ElfFormatError(sh.sh_offset, `no string table for ${sh.name} (sh_link ${sh.sh_link}, no ${fallback})`);
}

/**
 * Symbols of `sh`, names from its string table. `sh` must be a DYNSYM or SYMTAB section, unless
 * `anyType` (the writer's per-library `<lib>.dynsym` copies are PROGBITS: readelf refuses a
 * second SHT_DYNSYM).
 */
export function readSymbols(elf: ElfFile, sh: Shdr, strtabName: string, anyType = false): EcfsSymbol[] {
  if (!anyType && sh.sh_type !== SHT_DYNSYM && sh.sh_type !== SHT_SYMTAB)
    throw new ElfFormatError(sh.sh_offset, `${sh.name} is not a symbol table`, shtName(sh.sh_type));
  const cls: ElfClass = elf.cls;
  if (sh.sh_entsize !== 0n && sh.sh_entsize !== BigInt(cls.symSize))
    throw new ElfFormatError(sh.sh_offset, `bad sh_entsize of ${sh.name}`, sh.sh_entsize);
  const str = stringTable(elf, sh, strtabName);
  const at = elf.sectionRange(sh).offset;
  const strAt = elf.sectionRange(str).offset;
  return parseSymbols(elf.sectionData(sh), elf.sectionData(str), cls, at, strAt).map((s) => ({
    index: s.index,
    name: s.name,
    value: s.st_value,
    size: s.st_size,
    type: stType(s.st_info),
    bind: stBind(s.st_info),
    typeName: sttName(stType(s.st_info)),
    bindName: stbName(stBind(s.st_info)),
    shndx: s.st_shndx,
  }));
}
