// Field-by-field comparison of what ElfFile parses with what readelf prints for the same file.

import { expect } from "bun:test";
import { etName, PF_R, PF_W, PF_X, PT_NOTE, ptName, SHT_NOTE } from "../../src/elf/consts.ts";
import { parseNtFile } from "../../src/elf/notes.ts";
import type { ElfFile } from "../../src/elf/reader.ts";
import { readelfHeader, readelfNotes, readelfNoteType, readelfPhdrs, readelfSections } from "./oracles.ts";

const OSABI: Record<number, string> = { 0: "UNIX - System V", 3: "UNIX - GNU" };
const MACHINE: Record<number, string> = { 3: "Intel 80386", 62: "Advanced Micro Devices X86-64" };

export function checkHeader(f: ElfFile, path: string): void {
  const r = readelfHeader(path);
  const h = f.header;
  const id = h.e_ident;
  expect(r.fields.get("Magic")).toBe(Array.from(id, (b) => b.toString(16).padStart(2, "0")).join(" "));
  expect(r.fields.get("Class")).toBe(f.cls.word === 8 ? "ELF64" : "ELF32");
  expect(r.fields.get("Data")).toBe("2's complement, little endian");
  expect(r.fields.get("Version")).toBe(`${id[6]} (current)`);
  expect(r.fields.get("OS/ABI")).toBe(OSABI[id[7]!]!);
  expect(r.number("ABI Version")).toBe(BigInt(id[8]!));
  expect(`ET_${r.fields.get("Type")!.split(" ")[0]}`).toBe(etName(h.e_type));
  expect(r.fields.get("Machine")).toBe(MACHINE[h.e_machine]!);
  expect(r.number("Version#2")).toBe(BigInt(h.e_version));
  expect(r.number("Entry point address")).toBe(h.e_entry);
  expect(r.number("Start of program headers")).toBe(h.e_phoff);
  expect(r.number("Start of section headers")).toBe(h.e_shoff);
  expect(r.number("Flags")).toBe(BigInt(h.e_flags));
  expect(r.number("Size of this header")).toBe(BigInt(h.e_ehsize));
  expect(r.number("Size of program headers")).toBe(BigInt(h.e_phentsize));
  expect(r.number("Size of section headers")).toBe(BigInt(h.e_shentsize));
  const [phnum, phx] = r.counted("Number of program headers");
  expect(phnum).toBe(h.e_phnum);
  expect(f.phnum).toBe(phx ?? phnum);
  const [shnum, shx] = r.counted("Number of section headers");
  expect(shnum).toBe(h.e_shnum);
  expect(f.shnum).toBe(shx ?? shnum);
  const [shstrndx, strx] = r.counted("Section header string table index");
  expect(shstrndx).toBe(h.e_shstrndx);
  expect(f.shstrndx).toBe(strx ?? shstrndx);
}

export function checkPhdrs(f: ElfFile, path: string): void {
  const want = readelfPhdrs(path);
  const got = f.programs();
  expect(got.length).toBe(f.phnum);
  expect(want.length).toBe(got.length);
  got.forEach((p, i) => {
    const w = want[i]!;
    const flags = `${p.p_flags & PF_R ? "R" : " "}${p.p_flags & PF_W ? "W" : " "}${p.p_flags & PF_X ? "E" : " "}`;
    expect({
      type: ptName(p.p_type).replace(/^PT_/, ""), offset: p.p_offset, vaddr: p.p_vaddr, paddr: p.p_paddr,
      filesz: p.p_filesz, memsz: p.p_memsz, flags, align: p.p_align,
    }).toEqual(w);
  });
}

/** readelf's sh_type names (it drops the GNU_ prefix of the symbol-versioning types). */
const SHT: Record<number, string> = {
  0: "NULL", 1: "PROGBITS", 2: "SYMTAB", 3: "STRTAB", 4: "RELA", 5: "HASH", 6: "DYNAMIC", 7: "NOTE", 8: "NOBITS",
  9: "REL", 10: "SHLIB", 11: "DYNSYM", 14: "INIT_ARRAY", 15: "FINI_ARRAY", 16: "PREINIT_ARRAY", 17: "GROUP",
  18: "SYMTAB_SHNDX", 19: "RELR", 0x6ffffff6: "GNU_HASH", 0x6ffffffd: "VERDEF", 0x6ffffffe: "VERNEED", 0x6fffffff: "VERSYM",
};
/** readelf -W flag letters, lowest bit first (binutils readelf.c get_elf_section_flags). */
const SHF: [bigint, string][] = [
  [0x1n, "W"], [0x2n, "A"], [0x4n, "X"], [0x10n, "M"], [0x20n, "S"], [0x40n, "I"], [0x80n, "L"], [0x100n, "O"],
  [0x200n, "G"], [0x400n, "T"], [0x800n, "C"], [0x200000n, "R"], [0x80000000n, "E"],
];

export function checkSections(f: ElfFile, path: string): void {
  const want = readelfSections(path);
  const got = f.sections();
  expect(got.length).toBe(f.shnum);
  expect(want.length).toBe(got.length);
  got.forEach((s, i) => {
    const flags = SHF.filter(([bit]) => (s.sh_flags & bit) !== 0n).map(([, l]) => l).join("");
    expect({
      index: s.index, name: s.name, type: SHT[s.sh_type] ?? `0x${s.sh_type.toString(16)}`, addr: s.sh_addr,
      offset: s.sh_offset, size: s.sh_size, entsize: s.sh_entsize, flags, link: s.sh_link, info: s.sh_info,
      align: s.sh_addralign,
    }).toEqual(want[i]!);
  });
}

/** readelf -n: notes of PT_NOTE segments for ET_CORE (or when there are no note sections),
 * otherwise of each SHT_NOTE section. Compares owner, size, type and NT_FILE contents. */
export function checkNotes(f: ElfFile, path: string): number {
  const groups = readelfNotes(path);
  const noteSecs = f.sections().filter((s) => s.sh_type === SHT_NOTE);
  const useSegments = f.header.e_type === 4 || noteSecs.length === 0;
  const ours = useSegments
    ? f.programs().filter((p) => p.p_type === PT_NOTE).map((p) => ({ where: p.p_offset, notes: [...f.segmentNotes(p)] }))
    : noteSecs.map((s) => ({ where: s.name, notes: [...f.sectionNotes(s)] }));
  expect(groups.length).toBe(ours.length);
  let count = 0;
  ours.forEach((g, i) => {
    const w = groups[i]!;
    expect(w.where).toBe(typeof g.where === "string" ? `section ${g.where}` : `offset 0x${g.where.toString(16).padStart(8, "0")}`);
    expect(g.notes.length).toBe(w.notes.length);
    g.notes.forEach((n, j) => {
      const wn = w.notes[j]!;
      expect({ owner: n.name, size: n.desc.byteLength, type: n.type }).toEqual({
        owner: wn.owner, size: wn.size, type: readelfNoteType(wn.description),
      });
      if (wn.file) {
        const nt = parseNtFile(n.desc, f.cls.word);
        expect(nt.page_size).toBe(wn.file.pageSize);
        expect(nt.entries.map((e) => ({ start: e.start, end: e.end, pageOffset: e.fileOfs, path: e.path }))).toEqual(
          wn.file.entries,
        );
      }
      count++;
    });
  });
  return count;
}
