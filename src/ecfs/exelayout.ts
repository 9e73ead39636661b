// Where the executable's parts are in the running process: its load bias, its program
// headers (from memory, at AT_PHDR: what runs, even if the file on disk changed) and its
// dynamic section (from memory, after ld.so's relocation of d_ptr values). All of it is
// read from the target, so all of it is bounded and may be missing.

import { ByteReader } from "../elf/bytes.ts";
import { PT_INTERP, PT_LOAD } from "../elf/consts.ts";
import { EHDR, type Dyn, type Phdr } from "../elf/records.ts";
import { parseAuxv } from "../proc/auxv.ts";
import { runtimeDynamic } from "./dynlink/dynsyms.ts";
import { mainProgram } from "./dynlink/linkmap.ts";
import { RemoteMemory } from "./dynlink/remote.ts";
import type { ProcessImage } from "../model/image.ts";
import type { ExeInfo } from "./sections.ts";
import { rethrowIfGone } from "../errors.ts";

export interface ExeLayout {
  /** Runtime address minus link-time address (0 for ET_EXEC). */
  bias: bigint;
  phdrs: Phdr[];
  /** Dynamic entries with every pointer made a runtime address; empty for static executables. */
  dynamic: Dyn[];
  /** The facts of .personality and e_entry, from the ELF header the process has mapped. */
  info?: ExeInfo;
  problems: string[];
}

/** The executable's ELF header in memory: where the PT_LOAD of file offset 0 was mapped. */
function exeInfo(rm: RemoteMemory, bias: bigint, phdrs: Phdr[]): ExeInfo {
  const { cls } = rm;
  const first = phdrs.find((p) => p.p_type === PT_LOAD && p.p_offset === 0n);
  if (!first) throw new Error("no PT_LOAD maps the ELF header");
  const at = BigInt.asUintN(cls.word * 8, first.p_vaddr + bias);
  const r = new ByteReader(rm.bytes(at, cls.ehdrSize, "ELF header"));
  const L = EHDR[cls.word];
  const eType = r.u16(L.e_type, "e_type");
  return {
    eType,
    entry: r.word(L.e_entry, cls.word, "e_entry"),
    hasInterp: phdrs.some((p) => p.p_type === PT_INTERP),
    strippedShdrs: r.word(L.e_shoff, cls.word, "e_shoff") === 0n || r.u16(L.e_shnum, "e_shnum") === 0,
  };
}

/**
 * The executable as the dynamic-linking analysis finds it (dynlink/linkmap.ts mainProgram:
 * AT_PHDR, PT_PHDR or the mapping for the bias, PT_DYNAMIC), with every pointer tag of its
 * dynamic section made a runtime address.
 */
export function exeLayout(image: ProcessImage, rm: RemoteMemory): ExeLayout {
  const { cls } = image;
  try {
    const auxv = parseAuxv(image.info.auxv, cls.word);
    const input = { mem: rm, auxv: image.info.auxv, mappings: image.mappings, exe: image.info.exe };
    const { obj, phdrs } = mainProgram(input, auxv);
    const bias = obj.base;
    const dynamic = runtimeDynamic(obj.dynamic, bias, cls);
    const problems: string[] = [];
    let info: ExeInfo | undefined;
    try {
      info = exeInfo(rm, bias, phdrs);
    } catch (e) {
      rethrowIfGone(e);
      problems.push(`the executable's ELF header in memory: ${(e as Error).message}`);
    }
    return { bias, phdrs, dynamic, ...(info && { info }), problems };
  } catch (e) {
    rethrowIfGone(e);
    return { bias: 0n, phdrs: [], dynamic: [], problems: [`the executable's program headers: ${(e as Error).message}`] };
  }
}
