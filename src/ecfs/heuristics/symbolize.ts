// Names for addresses in the evidence of a finding: the object an address falls in, and the
// symbol (with offset) when one covers it, from the object's dynamic symbols in memory and, when
// its file could be opened, the file's .symtab. Only called for findings, so a lookup may scan.

import { SHN_ABS, SHN_UNDEF, SHT_SYMTAB, STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE, STT_OBJECT } from "../../elf/consts.ts";
import { ElfFile, stType } from "../../elf/reader.ts";
import type { DynamicLinking } from "../dynlink/dynlink.ts";
import type { Mapping } from "../../model/image.ts";
import { findMapping } from "../../proc/maps.ts";
import { rethrowIfGone } from "../../errors.ts";
import type { MappedFiles } from "./files.ts";
import type { ObjectVerdict } from "./findings.ts";
import type { LoadedImage } from "./objects.ts";

/** A file's .symtab larger than this is not read for names (node's is about 100 MB). */
const MAX_SYMTAB = 64 * 1024 * 1024;
const NAMED = new Set([STT_FUNC, STT_GNU_IFUNC, STT_OBJECT, STT_NOTYPE]);

interface Named {
  name: string;
  addr: bigint;
  size: bigint;
}

export const hex = (v: bigint): string => `0x${v.toString(16)}`;

export class Symbolizer {
  readonly #symbols = new Map<LoadedImage, Named[]>();

  constructor(
    readonly link: DynamicLinking | undefined,
    readonly loaded: readonly LoadedImage[],
    readonly verdicts: readonly ObjectVerdict[],
    readonly mappings: readonly Mapping[],
    readonly files: MappedFiles,
    /** The executable's file as the snapshot already opened it, for its .symtab. */
    readonly exeFile: ElfFile | undefined,
  ) {}

  /** The object (verdict) whose image holds addr. */
  objectAt(addr: bigint): ObjectVerdict | undefined {
    return this.verdicts.find((v) => addr >= v.header && addr < v.end);
  }

  #loadedAt(addr: bigint): LoadedImage | undefined {
    return this.loaded.find((l) => l.image && addr >= l.image.header && addr < l.image.end);
  }

  #symbolsOf(l: LoadedImage): Named[] {
    let list = this.#symbols.get(l);
    if (list) return list;
    list = [];
    const t = this.link?.tables(l.obj);
    for (const s of t?.syms ?? []) {
      if (s.st_shndx === SHN_UNDEF || !NAMED.has(stType(s.st_info)) || s.name === "") continue;
      list.push({ name: s.name, addr: s.st_shndx === SHN_ABS ? s.st_value : l.obj.base + s.st_value, size: s.st_size });
    }
    const file = l.obj.isExecutable && this.exeFile ? this.exeFile : this.#openElf(l);
    try {
      const symtab = file?.sections().find((s) => s.sh_type === SHT_SYMTAB);
      if (file && symtab && symtab.sh_size <= BigInt(MAX_SYMTAB))
        for (const s of file.symbols(symtab))
          if (s.st_shndx !== SHN_UNDEF && s.st_shndx !== SHN_ABS && NAMED.has(stType(s.st_info)) && s.name !== "")
            list.push({ name: s.name, addr: l.obj.base + s.st_value, size: s.st_size });
    } catch (e) {
      rethrowIfGone(e); // a malformed file costs its names only
    }
    this.#symbols.set(l, list);
    return list;
  }

  #openElf(l: LoadedImage): ElfFile | undefined {
    const m = l.image?.headerMapping;
    const src = m && this.files.open(m);
    try {
      return src && ElfFile.open(src);
    } catch {
      return undefined;
    }
  }

  /** "name" or "name+0x12" for the symbol covering addr, preferring a sized one. */
  symbolAt(addr: bigint): string | undefined {
    const l = this.#loadedAt(addr);
    if (!l) return undefined;
    let best: Named | undefined;
    for (const s of this.#symbolsOf(l)) {
      if (s.addr > addr) continue;
      const covers = addr < s.addr + (s.size === 0n ? 1n : s.size);
      if (covers && (!best || s.addr > best.addr || (s.addr === best.addr && s.size > best.size))) best = s;
    }
    if (!best) return undefined;
    return addr === best.addr ? best.name : `${best.name}+${hex(addr - best.addr)}`;
  }

  /** "0x7f...: libc.so.6 getppid", "0x...: [anonymous memory]", "0x...: not mapped". */
  describe(addr: bigint): string {
    if (addr === 0n) return "0x0 (null)";
    const v = this.objectAt(addr);
    if (v) {
      const sym = this.symbolAt(addr);
      return `${hex(addr)} (${v.name}${sym ? ` ${sym}` : ""})`;
    }
    const m = findMapping(this.mappings, addr);
    if (!m) return `${hex(addr)} (not mapped)`;
    return `${hex(addr)} (${m.inode === 0n ? `anonymous ${m.path || "memory"}` : m.path} ${m.perms})`;
  }
}
