// The executable's own sections as views of process memory, at runtime addresses. Sizes come
// from the executable's section headers where it has them; where it has none, from what the
// running image itself says: PT_INTERP, PT_DYNAMIC, PT_GNU_EH_FRAME, the dynamic section's
// tables and their hash and relocation counts. A size nobody states is never guessed: that
// section is left out.

import { ByteReader } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import {
  DT_FINI_ARRAY, DT_FINI_ARRAYSZ, DT_GNU_HASH, DT_HASH, DT_INIT_ARRAY, DT_INIT_ARRAYSZ, DT_JMPREL, DT_PLTGOT,
  DT_PLTREL, DT_PLTRELSZ, DT_REL, DT_RELA, DT_RELASZ, DT_RELSZ, DT_STRSZ, DT_STRTAB, DT_SYMTAB,
  PT_DYNAMIC, PT_GNU_EH_FRAME, PT_INTERP, PT_LOAD, PF_W, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_DYNAMIC,
  SHT_DYNSYM, SHT_FINI_ARRAY, SHT_GNU_HASH, SHT_HASH, SHT_INIT_ARRAY, SHT_NOBITS, SHT_PROGBITS, SHT_REL,
  SHT_RELA, SHT_STRTAB, SHT_GNU_versym,
} from "../elf/consts.ts";
import type { ElfFile } from "../elf/reader.ts";
import { rethrowIfGone } from "../errors.ts";
import { decodeEhFrameHdr } from "./ehframe.ts";
import { ExeFunctionNames, type FunctionNames } from "./exenames.ts";
import { dynValue } from "./dynlink/dynsyms.ts";
import type { ExeLayout } from "./exelayout.ts";
import type { SectionPlan } from "./plan.ts";
import { RemoteMemory } from "./dynlink/remote.ts";
import { readGnuHash, readSysvHash } from "./dynlink/symlookup.ts";

const SHF_TLS = 0x400;
const SHF_INFO_LINK = 0x40;
const A = SHF_ALLOC;

export interface ExeSections {
  sections: SectionPlan[];
  /** Where .eh_frame is in memory, for the rebuilt .symtab. */
  ehFrame?: { addr: bigint; size: bigint };
  /** Function names the executable's own .dynsym and .symtab give, by runtime address. */
  names: FunctionNames;
  problems: string[];
}

function view(name: string, type: number, flags: number, addr: bigint, size: bigint, extra: Partial<SectionPlan> = {}): SectionPlan {
  return { name, type, flags, addr, data: { kind: "memory", addr, size }, align: extra.align ?? 1, entsize: extra.entsize ?? 0, ...extra };
}

/** From the section headers on disk: every allocated section, rebased. */
function fromSectionHeaders(file: ElfFile, bias: bigint): SectionPlan[] {
  const shdrs = file.sections();
  const nameOf = (i: number) => shdrs[i]?.name || undefined;
  const out: SectionPlan[] = [];
  for (const sh of shdrs) {
    const flags = Number(sh.sh_flags);
    if (!(flags & SHF_ALLOC) || sh.sh_size === 0n || !sh.name) continue;
    if (sh.sh_type === SHT_NOBITS && flags & SHF_TLS) continue; // .tbss: a template with no bytes of its own
    const extra: Partial<SectionPlan> = { align: Number(sh.sh_addralign), entsize: Number(sh.sh_entsize) };
    const link = sh.sh_link ? nameOf(sh.sh_link) : undefined;
    if (link) extra.link = link;
    if (flags & SHF_INFO_LINK && sh.sh_info) {
      const info = nameOf(sh.sh_info);
      if (info) extra.infoLink = info;
    } else if (sh.sh_info) extra.info = sh.sh_info;
    // In memory .bss has real bytes (zeros or not): it is PROGBITS in the snapshot. A
    // SHT_GNU_versym table is printed by readelf only through the dynamic segment, which a
    // core has not got (it reads offset 0 and warns): it is kept as PROGBITS too.
    const type = sh.sh_type === SHT_NOBITS || sh.sh_type === SHT_GNU_versym ? SHT_PROGBITS : sh.sh_type;
    out.push(view(sh.name, type, flags, sh.sh_addr + bias, sh.sh_size, extra));
  }
  return out;
}

export interface HashTables {
  /** Symbols in .dynsym: nchain of .hash, or what .gnu.hash's last chain ends at. */
  nsyms: number;
  hashSize?: bigint;
  gnuHashSize?: bigint;
}

/**
 * The dynamic symbol count and the hash tables' sizes (the dynamic section has no size tags
 * for them), from the same bounded table readers the symbol lookup uses (dynlink/symlookup.ts).
 * A malformed table is a problem, and the other one may still give the count.
 */
export function hashTables(rm: RemoteMemory, hash: bigint | undefined, gnuHash: bigint | undefined, problems: string[]): HashTables | undefined {
  let out: HashTables | undefined;
  if (hash !== undefined) {
    const t = attemptTable(problems, ".hash", () => readSysvHash(rm, hash));
    if (t?.table.kind === "sysv") out = { nsyms: t.nsyms, hashSize: BigInt((2 + t.table.buckets.length + t.table.chains.length) * 4) };
  }
  if (gnuHash === undefined) return out;
  const g = attemptTable(problems, ".gnu.hash", () => readGnuHash(rm, gnuHash));
  if (g?.table.kind !== "gnu") return out;
  const gnuHashSize = BigInt(16 + g.table.bloomWords * rm.cls.word + (g.table.buckets.length + g.table.chains.length) * 4);
  return { ...out, nsyms: out?.nsyms ?? g.nsyms, gnuHashSize };
}

function attemptTable<T>(problems: string[], what: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    rethrowIfGone(e);
    problems.push(`${what}: ${(e as Error).message}`);
    return undefined;
  }
}

/** Without section headers: what the program headers and the dynamic section state. */
function fromRuntime(rm: RemoteMemory, layout: ExeLayout, file: ElfFile | undefined, problems: string[]): SectionPlan[] {
  const { cls } = rm;
  const { bias, phdrs, dynamic } = layout;
  const out: SectionPlan[] = [];
  const d = (t: number) => dynValue(dynamic, t);
  const word = cls.word;
  const interp = phdrs.find((p) => p.p_type === PT_INTERP);
  if (interp) out.push(view(".interp", SHT_PROGBITS, A, interp.p_vaddr + bias, interp.p_memsz || interp.p_filesz));
  const tables = hashTables(rm, d(DT_HASH), d(DT_GNU_HASH), problems);
  const nsyms = tables?.nsyms;
  const hash = d(DT_HASH);
  if (hash !== undefined && tables?.hashSize !== undefined)
    out.push(view(".hash", SHT_HASH, A, hash, tables.hashSize, { link: ".dynsym", align: word, entsize: 4 }));
  const gnuHash = d(DT_GNU_HASH);
  if (gnuHash !== undefined && tables?.gnuHashSize !== undefined)
    out.push(view(".gnu.hash", SHT_GNU_HASH, A, gnuHash, tables.gnuHashSize, { link: ".dynsym", align: word }));
  const symtab = d(DT_SYMTAB);
  if (symtab !== undefined && nsyms !== undefined)
    out.push(view(".dynsym", SHT_DYNSYM, A, symtab, BigInt(nsyms * cls.symSize), { link: ".dynstr", info: 1, align: word, entsize: cls.symSize }));
  const strtab = d(DT_STRTAB);
  const strsz = d(DT_STRSZ);
  if (strtab !== undefined && strsz !== undefined) out.push(view(".dynstr", SHT_STRTAB, A, strtab, strsz, { align: 1 }));
  const rel = cls.word === 8 ? { at: d(DT_RELA), size: d(DT_RELASZ), name: ".rela.dyn", type: SHT_RELA } : { at: d(DT_REL), size: d(DT_RELSZ), name: ".rel.dyn", type: SHT_REL };
  if (rel.at !== undefined && rel.size !== undefined) out.push(view(rel.name, rel.type, A, rel.at, rel.size, { link: ".dynsym", align: word, entsize: cls.relSize }));
  const jmprel = d(DT_JMPREL);
  const pltrelsz = d(DT_PLTRELSZ);
  if (jmprel !== undefined && pltrelsz !== undefined) {
    const { rela: isRela, size: ent } = pltRelocs(cls, dynamic);
    out.push(view(isRela ? ".rela.plt" : ".rel.plt", isRela ? SHT_RELA : SHT_REL, A | SHF_INFO_LINK, jmprel, pltrelsz, { link: ".dynsym", infoLink: ".got.plt", align: word, entsize: ent }));
    const pltgot = d(DT_PLTGOT);
    if (pltgot !== undefined && file) {
      try {
        const plt = lazyPlt(rm, file, pltgot - layout.bias, layout.bias, pltrelsz / BigInt(ent));
        if (plt) out.push(view(".plt", SHT_PROGBITS, A | SHF_EXECINSTR, plt.addr, plt.size, { align: 16, entsize: PLT_ENTRY }));
      } catch (e) {
        rethrowIfGone(e);
        problems.push(`.plt: ${(e as Error).message}`);
      }
    }
  }
  const arrays: [string, string, number, number, number][] = [
    [".init_array", ".ctors", DT_INIT_ARRAY, DT_INIT_ARRAYSZ, SHT_INIT_ARRAY],
    [".fini_array", ".dtors", DT_FINI_ARRAY, DT_FINI_ARRAYSZ, SHT_FINI_ARRAY],
  ];
  for (const [name, , at, sz, type] of arrays) {
    const a = d(at);
    const n = d(sz);
    if (a !== undefined && n !== undefined) out.push(view(name, type, A | SHF_WRITE, a, n, { align: word, entsize: word }));
  }
  const dyn = phdrs.find((p) => p.p_type === PT_DYNAMIC);
  if (dyn) out.push(view(".dynamic", SHT_DYNAMIC, A | SHF_WRITE, dyn.p_vaddr + bias, dyn.p_memsz, { link: ".dynstr", align: word, entsize: cls.dynSize }));
  const hdr = phdrs.find((p) => p.p_type === PT_GNU_EH_FRAME);
  if (hdr) out.push(view(".eh_frame_hdr", SHT_PROGBITS, A, hdr.p_vaddr + bias, hdr.p_memsz, { align: 4 }));
  // .bss: what the writable PT_LOAD has in memory beyond its file bytes.
  const data = phdrs.filter((p) => p.p_type === PT_LOAD && p.p_flags & PF_W).at(-1);
  if (data && data.p_memsz > data.p_filesz)
    out.push(view(".bss", SHT_PROGBITS, A | SHF_WRITE, data.p_vaddr + bias + data.p_filesz, data.p_memsz - data.p_filesz, { align: word }));
  return out;
}

const PLT_ENTRY = 16;

/** Whether DT_PLTREL says DT_RELA (7), and the Elf_Rela / Elf_Rel size that gives. */
function pltRelocs(cls: ElfClass, dynamic: ExeLayout["dynamic"]): { rela: boolean; size: number } {
  const rela = dynValue(dynamic, DT_PLTREL) === 7n;
  return { rela, size: rela ? 3 * cls.word : 2 * cls.word };
}

/**
 * .got.plt at DT_PLTGOT: GOT[0..2] are ld.so's, then one slot per PLT relocation, in their
 * order (libecfs's get_pltgot_info reads slot 3 + i for relocation i). With -z now the linker
 * merges .got.plt into .got and the executable has no such section, yet readers of the
 * original format need it (that walk fails without it), so it is made whenever DT_PLTGOT is.
 */
function gotPlt(cls: ElfClass, dynamic: ExeLayout["dynamic"]): SectionPlan | undefined {
  const pltgot = dynValue(dynamic, DT_PLTGOT);
  if (pltgot === undefined) return undefined;
  const relocs = (dynValue(dynamic, DT_PLTRELSZ) ?? 0n) / BigInt(pltRelocs(cls, dynamic).size);
  return view(".got.plt", SHT_PROGBITS, A | SHF_WRITE, pltgot, (3n + relocs) * BigInt(cls.word), { align: cls.word, entsize: cls.word });
}

/**
 * The lazy .plt of an executable without section headers. Before ld.so binds it, GOT slot
 * 3+i holds the address of PLT entry i's push: entry + 6 after a `jmp *GOT` (ff 25, i386 PIC
 * ff a3), or the entry itself when it starts with endbr64 (IBT). The executable's FILE still
 * has those first values; PLT0 is the 16 bytes before entry 0, and there are J + 1 entries
 * of 16 bytes, J the number of PLT relocations. Anything else: no .plt.
 */
function lazyPlt(rm: RemoteMemory, file: ElfFile, gotLink: bigint, bias: bigint, count: bigint): { addr: bigint; size: bigint } | undefined {
  if (count <= 0n || count > 1n << 20n) return undefined;
  const w = rm.cls.word;
  const first = new ByteReader(file.readVirtual(gotLink + 3n * BigInt(w), w)).word(0, w, "GOT[3]") + bias;
  const code = rm.prefix(first - 6n, 10, "PLT entry 0");
  if (code.byteLength < 10) return undefined;
  let entry: bigint;
  if (code[0] === 0xff && (code[1] === 0x25 || code[1] === 0xa3) && code[6] === 0x68) entry = first - 6n;
  else if (code[6] === 0xf3 && code[7] === 0x0f && code[8] === 0x1e && code[9] === 0xfa) entry = first;
  else return undefined;
  return { addr: entry - BigInt(PLT_ENTRY), size: (count + 1n) * BigInt(PLT_ENTRY) };
}

/** Longest .eh_frame looked for without a section header to size it. */
const EH_FRAME_MAX = 16 << 20;
const WINDOW = 64 * 1024;

/**
 * Where an .eh_frame with no stated size ends, as parseEhFrame's walk would stop over the bytes
 * readable at `addr` (at most `cap`): past the zero terminator, or at the first length that does
 * not frame a record within them. Only the length words are looked at, through a 64 KiB window:
 * the section is not read whole for it (it was, up to 16 MiB).
 */
function ehFrameEnd(rm: RemoteMemory, addr: bigint, cap: number): number {
  let base = 0;
  let win: Uint8Array = new Uint8Array(0);
  /** The byte at `pos`, or undefined where the readable bytes end. */
  const byte = (pos: number): number | undefined => {
    if (pos >= cap) return undefined;
    if (pos < base || pos >= base + win.byteLength) {
      base = pos;
      win = rm.prefix(addr + BigInt(pos), Math.min(WINDOW, cap - pos), ".eh_frame");
    }
    return win[pos - base];
  };
  const u32 = (pos: number): number | undefined => {
    let v = 0;
    for (let i = 3; i >= 0; i--) {
      const b = byte(pos + i);
      if (b === undefined) return undefined;
      v = v * 256 + b;
    }
    return v;
  };
  for (let off = 0; ; ) {
    const len32 = u32(off);
    if (len32 === undefined) return off;
    if (len32 === 0) return off + 4;
    let head = 4;
    let len = len32;
    if (len32 === 0xffffffff) {
      const lo = u32(off + 4);
      const hi = u32(off + 8);
      if (lo === undefined || hi === undefined || hi >= 2 ** 21) return off;
      len = hi * 2 ** 32 + lo;
      head = 12;
    } else if (len32 >= 0xfffffff0) return off;
    if (off + head + len > cap || byte(off + head + len - 1) === undefined) return off;
    off += head + len;
  }
}

/** .eh_frame's start and size: from its section header, or eh_frame_ptr of .eh_frame_hdr, sized by walking it. */
function locateEhFrame(rm: RemoteMemory, layout: ExeLayout, sections: SectionPlan[], problems: string[]): { addr: bigint; size: bigint } | undefined {
  const known = sections.find((s) => s.name === ".eh_frame");
  if (known && known.data.kind === "memory") return { addr: known.data.addr, size: known.data.size };
  const hdr = layout.phdrs.find((p) => p.p_type === PT_GNU_EH_FRAME);
  if (!hdr) return undefined;
  try {
    const at = hdr.p_vaddr + layout.bias;
    const h = decodeEhFrameHdr(rm.bytes(at, hdr.p_memsz, ".eh_frame_hdr"), at, rm.cls.word);
    return { addr: h.ehFramePtr, size: BigInt(ehFrameEnd(rm, h.ehFramePtr, EH_FRAME_MAX)) };
  } catch (e) {
    rethrowIfGone(e);
    problems.push(`.eh_frame: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Dynamic relocation tables apply to the whole image, so executables leave their sh_info 0.
 * In a file that is neither ET_EXEC nor ET_DYN (ours are ET_NONE or ET_CORE) readelf wants
 * sh_info to name the section relocated: we name the one holding the first r_offset.
 */
function linkDynamicRelocations(rm: RemoteMemory, bias: bigint, sections: SectionPlan[]): void {
  const { cls } = rm;
  for (const s of sections) {
    if ((s.type !== SHT_RELA && s.type !== SHT_REL) || s.info || s.infoLink || s.data.kind !== "memory" || s.data.size === 0n) continue;
    const first = rm.prefix(s.data.addr, cls.word, "r_offset");
    if (first.byteLength < cls.word) continue;
    const r_offset = new ByteReader(first).word(0, cls.word, "r_offset") + bias;
    const target = sections.find((t) => t.data.kind === "memory" && t.type !== SHT_REL && t.type !== SHT_RELA &&
      !t.name.startsWith("._") && r_offset >= t.data.addr && r_offset < t.data.addr + t.data.size);
    if (target) {
      s.infoLink = target.name;
      s.flags |= SHF_INFO_LINK;
    }
  }
}

export function exeSections(rm: RemoteMemory, layout: ExeLayout, file: ElfFile | undefined): ExeSections {
  const { cls } = rm;
  const problems: string[] = [];
  let sections: SectionPlan[];
  let hasShdrs = false;
  try {
    hasShdrs = !!file && file.sections().some((s) => s.name !== "");
  } catch (e) {
    rethrowIfGone(e);
    problems.push(`section headers of the executable: ${(e as Error).message}`);
  }
  if (hasShdrs && file) sections = fromSectionHeaders(file, layout.bias);
  else {
    sections = fromRuntime(rm, layout, file, problems);
    const eh = locateEhFrame(rm, layout, sections, problems);
    if (eh) sections.push(view(".eh_frame", SHT_PROGBITS, A, eh.addr, eh.size, { align: cls.word }));
  }
  // The original ECFS named the constructor tables .ctors/.dtors; readers written for it look for those.
  for (const [from, to] of [[".init_array", ".ctors"], [".fini_array", ".dtors"]] as const) {
    const s = sections.find((x) => x.name === from);
    if (s && !sections.some((x) => x.name === to)) sections.push({ ...s, name: to, type: SHT_PROGBITS });
  }
  const got = sections.some((s) => s.name === ".got.plt") ? undefined : gotPlt(cls, layout.dynamic);
  if (got) sections.push(got);
  linkDynamicRelocations(rm, layout.bias, sections);
  const ehFrame = locateEhFrame(rm, layout, sections, problems);
  const out: ExeSections = { sections, names: ExeFunctionNames.read(file, layout.bias, problems), problems };
  if (ehFrame) out.ehFrame = ehFrame;
  return out;
}
