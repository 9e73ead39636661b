// Where the executable's parts are in the running process: its load bias, its program
// headers (from memory, at AT_PHDR: what runs, even if the file on disk changed) and its
// dynamic section (from memory, after ld.so's relocation of d_ptr values). All of it is
// read from the target, so all of it is bounded and may be missing.

import { AT_PHDR, AT_PHNUM, PT_DYNAMIC, PT_LOAD, PT_PHDR } from "../elf/consts.ts";
import { parseAuxv } from "../elf/notes.ts";
import { parseDynamic, parsePhdrs, type Dyn, type Phdr } from "../elf/reader.ts";
import type { ProcessImage } from "../model/image.ts";
import { readExact, rethrowIfGone } from "./target.ts";

export interface ExeLayout {
  /** Runtime address minus link-time address (0 for ET_EXEC). */
  bias: bigint;
  phdrs: Phdr[];
  /** Dynamic entries with every pointer made a runtime address; empty for static executables. */
  dynamic: Dyn[];
  problems: string[];
}

/** d_ptr tags: their values are addresses (elf(5)); ld.so rebases some in place, not all. */
const PTR_TAGS = new Set<bigint>([3n, 4n, 5n, 6n, 7n, 12n, 13n, 17n, 21n, 23n, 25n, 26n, 32n, 0x6ffffef5n, 0x6ffffff0n, 0x6ffffffcn, 0x6ffffffen]);
const MAX_PHNUM = 4096;
const MAX_DYN = 4096;

export function exeLayout(image: ProcessImage): ExeLayout {
  const { cls, mem } = image;
  const problems: string[] = [];
  const auxv = new Map<number, bigint>();
  try {
    for (const e of parseAuxv(image.info.auxv, cls.word)) if (!auxv.has(Number(e.a_type))) auxv.set(Number(e.a_type), e.a_val);
  } catch (e) {
    rethrowIfGone(e);
    problems.push(`auxv: ${(e as Error).message}`);
  }
  const phdrAt = auxv.get(AT_PHDR);
  const phnum = Number(auxv.get(AT_PHNUM) ?? 0n);
  let phdrs: Phdr[] = [];
  if (phdrAt !== undefined && phnum > 0 && phnum <= MAX_PHNUM) {
    try {
      phdrs = parsePhdrs(readExact(mem, phdrAt, phnum * cls.phdrSize, "program headers at AT_PHDR"), cls, phnum);
    } catch (e) {
      rethrowIfGone(e);
      problems.push((e as Error).message);
    }
  } else problems.push("no usable AT_PHDR/AT_PHNUM in the auxiliary vector");

  // The bias: PT_PHDR says where the headers were linked; AT_PHDR where they are. Static
  // executables may lack PT_PHDR: then the first PT_LOAD holding the headers decides.
  let bias = 0n;
  const pt = phdrs.find((p) => p.p_type === PT_PHDR);
  if (pt && phdrAt !== undefined) bias = phdrAt - pt.p_vaddr;
  else if (phdrAt !== undefined) {
    const first = phdrs.find((p) => p.p_type === PT_LOAD && p.p_offset === 0n);
    const ehdrAt = image.mappings.find((m) => m.offset === 0n && phdrAt >= m.start && phdrAt < m.end)?.start;
    if (first && ehdrAt !== undefined) bias = ehdrAt - first.p_vaddr;
  }
  bias = BigInt.asUintN(cls.word * 8, bias);

  let dynamic: Dyn[] = [];
  const pd = phdrs.find((p) => p.p_type === PT_DYNAMIC);
  if (pd) {
    try {
      const len = Math.min(Number(pd.p_memsz), MAX_DYN * cls.dynSize);
      const raw = parseDynamic(readExact(mem, pd.p_vaddr + bias, len, "dynamic section"), cls);
      dynamic = raw.map((d) =>
        PTR_TAGS.has(d.d_tag) && bias !== 0n && d.d_val < bias ? { d_tag: d.d_tag, d_val: d.d_val + bias } : d,
      );
    } catch (e) {
      rethrowIfGone(e);
      problems.push((e as Error).message);
    }
  }
  return { bias, phdrs, dynamic, problems };
}
