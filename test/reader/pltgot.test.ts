// pltGot() on synthetic ECFS files made from real linker output: test/reader/plt.c linked
// lazy, with IBT (.plt.sec), with -z now, -fno-plt, non-PIE, and as i386 PIC and non-PIC.
// The file holds the program's segments at a load base, a GOT in a known state (one slot
// left lazy, one hooked, the rest resolved) and a .dynsym whose imports carry "library"
// addresses, as the ECFS writer makes it. Oracles: readelf -r (GOT sites, symbols),
// the GOT the linker wrote (the lazy targets) and objdump's <sym@plt> labels (the stubs).

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ByteWriter } from "../../src/elf/bytes.ts";
import {
  AT_ENTRY, ELF_PIE, ET_DYN, NOTE_NAME_CORE, NT_FILE, PT_LOAD, SHT_DYNSYM, SHT_STRTAB,
} from "../../src/elf/consts.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { BytesSource } from "../../src/elf/source.ts";
import { encodeNotes, encodeNtFile } from "../../src/ecfs/notes.ts";
import { ElfFormatError } from "../../src/errors.ts";
import { CLASS64 } from "../../src/elf/class.ts";
import { EcfsFile } from "../../src/reader/ecfs.ts";
import { computePltGot, type PltGotInput } from "../../src/reader/pltgot.ts";
import type { EcfsSymbol } from "../../src/reader/symbols.ts";
import { readelfPltRelocs, objdumpBytes, pltLabels, wordAt, type Reloc } from "./binutils.ts";
import { compile } from "./compile.ts";
import { basicSections, buildSynthetic, type SynthSection } from "./synth.ts";

interface Variant {
  title: string;
  flags: string[];
  /** How the reader must find the PIE load base: NT_FILE, or AT_ENTRY - e_entry. */
  base: "ntfile" | "auxv";
}

const VARIANTS: Variant[] = [
  { title: "x86_64 PIE, lazy PLT", flags: ["-fPIE", "-pie", "-fcf-protection=none", "-Wl,-z,lazy"], base: "ntfile" },
  { title: "x86_64 PIE, IBT .plt + .plt.sec", flags: ["-fPIE", "-pie", "-fcf-protection=full", "-Wl,-z,ibtplt", "-Wl,-z,lazy"], base: "auxv" },
  { title: "x86_64 PIE, -z now", flags: ["-fPIE", "-pie", "-fcf-protection=none", "-Wl,-z,now"], base: "ntfile" },
  { title: "x86_64 PIE, IBT and -z now", flags: ["-fPIE", "-pie", "-fcf-protection=full", "-Wl,-z,ibtplt", "-Wl,-z,now"], base: "ntfile" },
  { title: "x86_64 non-PIE", flags: ["-fno-pie", "-no-pie", "-fcf-protection=none", "-Wl,-z,lazy"], base: "ntfile" },
  { title: "i386 non-PIE", flags: ["-m32", "-fno-pie", "-no-pie", "-fcf-protection=none", "-Wl,-z,lazy"], base: "auxv" },
  { title: "i386 PIE (jmp *disp(%ebx))", flags: ["-m32", "-fPIE", "-pie", "-fcf-protection=none", "-Wl,-z,lazy"], base: "auxv" },
  { title: "i386 PIE, -z now (no .got.plt: %ebx from DT_PLTGOT)", flags: ["-m32", "-fPIE", "-pie", "-fcf-protection=none", "-Wl,-z,now"], base: "auxv" },
  { title: "i386 PIE, IBT", flags: ["-m32", "-fPIE", "-pie", "-fcf-protection=full", "-Wl,-z,ibtplt", "-Wl,-z,lazy"], base: "ntfile" },
];

interface Built {
  file: EcfsFile;
  base: bigint;
  relocs: Reloc[];
  lazy: Map<string, bigint>;
  lib: Map<string, bigint>;
  state: Map<string, { got: bigint; status: string }>;
  calls: Map<string, bigint>;
}

function build(bin: string, v: Variant): Built {
  const raw = new Uint8Array(readFileSync(bin));
  const elf = ElfFile.open(new BytesSource(raw));
  const { cls } = elf;
  const w = cls.word;
  const pie = elf.header.e_type === ET_DYN;
  const base = pie ? (w === 8 ? 0x555555554000n : 0x56555000n) : 0n;
  const relocs = readelfPltRelocs(bin, w);
  const initial = objdumpBytes(bin, [".got.plt", ".got"]);
  const lazy = new Map(relocs.map((r) => [r.name, wordAt(initial, r.offset, w) + base]));
  const calls = new Map([...pltLabels(bin)].map(([n, a]) => [n, a + base]));

  // Memory: every PT_LOAD at its runtime address, the GOT as ld.so leaves it, then our states.
  const loads = elf.programs().filter((p) => p.p_type === PT_LOAD).map((p) => {
    const bytes = new Uint8Array(Number(p.p_memsz));
    bytes.set(elf.segmentData(p));
    return { vaddr: p.p_vaddr + base, bytes, flags: p.p_flags };
  });
  const poke = (addr: bigint, value: bigint) => {
    const l = loads.find((x) => addr >= x.vaddr && addr < x.vaddr + BigInt(x.bytes.byteLength))!;
    new ByteWriter(l.bytes).word(Number(addr - l.vaddr), w, value);
  };
  const lib = new Map<string, bigint>();
  const state = new Map<string, { got: bigint; status: string }>();
  relocs.forEach((r, i) => {
    const addr = (w === 8 ? 0x7f1234560000n : 0xf7a00000n) + BigInt(0x100 * (i + 1));
    lib.set(r.name, addr);
    const s = i === 0 ? { got: lazy.get(r.name)!, status: "unresolved" } : i === 2 ? { got: w === 8 ? 0x7f00deadbee0n : 0xf7deadb0n, status: "suspicious" } : { got: addr, status: "resolved" };
    state.set(r.name, s);
    poke(r.offset + base, s.got);
  });

  // .dynsym as the writer leaves it: imports resolved to library addresses.
  const dynsymSh = elf.sectionByName(".dynsym")!;
  const dynsym = new Uint8Array(elf.sectionData(dynsymSh));
  const valueOff = w === 8 ? 8 : 4;
  for (const r of relocs) new ByteWriter(dynsym).word(r.sym * cls.symSize + valueOff, w, lib.get(r.name)!);
  const sections: SynthSection[] = [
    ...basicSections({ personality: pie ? ELF_PIE : 0, exe: bin }),
    { name: ".dynsym", type: SHT_DYNSYM, data: dynsym, link: ".dynstr", entsize: cls.symSize },
    { name: ".dynstr", type: SHT_STRTAB, data: elf.sectionData(elf.sectionByName(".dynstr")!) },
  ];
  for (const name of [".rela.plt", ".rel.plt", ".plt", ".plt.sec", ".got.plt", ".dynamic"]) {
    const sh = elf.sectionByName(name);
    if (sh) sections.push({ name, type: sh.sh_type, addr: sh.sh_addr + base, memorySize: sh.sh_size, entsize: Number(sh.sh_entsize), flags: Number(sh.sh_flags) });
  }
  let notes: Uint8Array | undefined;
  if (v.base === "ntfile") {
    const maps = loads.map((l) => ({ start: l.vaddr & ~0xfffn, end: (l.vaddr + BigInt(l.bytes.byteLength) + 0xfffn) & ~0xfffn, perms: "r--p", offset: 0n, dev: "08:01", inode: 1n, path: bin, deleted: false, vmFlags: [] }));
    notes = encodeNotes([{ name: NOTE_NAME_CORE, type: NT_FILE, desc: encodeNtFile(cls, maps) }]);
  } else {
    const auxv = new ByteWriter(4 * w).word(0, w, BigInt(AT_ENTRY)).word(w, w, elf.header.e_entry + base).bytes;
    sections.push({ name: ".auxvector", data: auxv, entsize: 8 });
  }
  const bytes = buildSynthetic({ cls, entry: elf.header.e_entry, loads, sections, ...(notes && { notes }) });
  return { file: EcfsFile.fromSource(new BytesSource(bytes), bin), base, relocs, lazy, lib, state, calls };
}

for (const v of VARIANTS) {
  describe(`pltGot(): ${v.title}`, () => {
    const bin = compile("plt", v.flags);
    const b = build(bin, v);
    const got = b.file.pltGot();

    test("one entry per JUMP_SLOT relocation readelf lists, with its GOT site and symbol", () => {
      expect(b.relocs.length).toBeGreaterThanOrEqual(5);
      expect(got.map((e) => [e.gotSite, e.symbol])).toEqual(b.relocs.map((r) => [r.offset + b.base, r.name]));
    });

    test("plt_entry_va is the lazy target the linker put in each GOT slot", () => {
      expect(got.map((e) => e.pltEntryVa)).toEqual(b.relocs.map((r) => b.lazy.get(r.name)!));
    });

    test("the call stub is objdump's <sym@plt> (.plt.sec with IBT)", () => {
      expect(got.map((e) => e.pltCallVa)).toEqual(b.relocs.map((r) => b.calls.get(r.name)!));
    });

    test("GOT values, library addresses and the unresolved / resolved / suspicious verdicts", () => {
      expect(got.map((e) => [e.symbol, e.gotEntryVa, e.shlEntryVa, e.status])).toEqual(
        b.relocs.map((r) => [r.name, b.state.get(r.name)!.got, b.lib.get(r.name)!, b.state.get(r.name)!.status]),
      );
    });
  });
}

describe("pltGot() edge cases", () => {
  test("-fno-plt: no JUMP_SLOT relocations, no entries", () => {
    const bin = compile("plt", ["-fPIE", "-pie", "-fno-plt", "-fcf-protection=none"]);
    expect(readelfPltRelocs(bin, 8)).toEqual([]);
    expect(build(bin, { title: "", flags: [], base: "ntfile" }).file.pltGot()).toEqual([]);
  });

  const bin = compile("plt", VARIANTS[0]!.flags);
  const withSections = (edit: (s: SynthSection[]) => SynthSection[]) => {
    const b = build(bin, VARIANTS[0]!);
    const elf = b.file.elf;
    const loads = elf.programs().filter((p) => p.p_type === PT_LOAD).map((p) => ({ vaddr: p.p_vaddr, bytes: elf.segmentData(p) }));
    const sections: SynthSection[] = elf.sections().slice(1, -1).map((s) => ({
      name: s.name, type: s.sh_type, addr: s.sh_addr, entsize: Number(s.sh_entsize),
      ...(s.sh_addr !== 0n && s.name !== ".dynsym" && s.name !== ".dynstr" ? { memorySize: s.sh_size } : { data: elf.sectionData(s) }),
      ...(s.name === ".dynsym" && { link: ".dynstr" }),
    }));
    // The load base from AT_ENTRY (the NT_FILE note is not carried over).
    const w = elf.cls.word;
    sections.push({ name: ".auxvector", data: new ByteWriter(4 * w).word(0, w, BigInt(AT_ENTRY)).word(w, w, elf.header.e_entry + b.base).bytes });
    return EcfsFile.fromSource(new BytesSource(buildSynthetic({ cls: elf.cls, entry: elf.header.e_entry, loads, sections: edit(sections) })));
  };

  test("no .rela.plt: no entries", () => {
    expect(withSections((s) => s.filter((x) => x.name !== ".rela.plt")).pltGot()).toEqual([]);
  });

  test("no .dynsym: entries without names or library addresses are 'unknown' unless unresolved", () => {
    const e = withSections((s) => s.filter((x) => x.name !== ".dynsym")).pltGot();
    expect(e.length).toBeGreaterThan(0);
    expect(e.every((x) => x.symbol === "" && x.shlEntryVa === 0n)).toBe(true);
    expect(e.map((x) => x.status)).toEqual(e.map((_, i) => (i === 0 ? "unresolved" : "unknown")));
  });

  test("a .rela.plt whose sh_entsize is not 24 is malformed", () => {
    const f = withSections((s) => s.map((x) => (x.name === ".rela.plt" ? { ...x, entsize: 16 } : x)));
    expect(() => f.pltGot()).toThrow(ElfFormatError);
  });

  test("GOT slots outside every PT_LOAD read as unknown", () => {
    const b = build(bin, VARIANTS[0]!);
    const elf = b.file.elf;
    const sections: SynthSection[] = elf.sections().slice(1, -1).filter((s) => s.sh_addr === 0n || s.name === ".dynsym" || s.name === ".dynstr" || s.name === ".rela.plt")
      .map((s) => ({ name: s.name, type: s.sh_type, entsize: Number(s.sh_entsize), data: elf.sectionData(s), ...(s.name === ".dynsym" && { link: ".dynstr" }) }));
    const f = EcfsFile.fromSource(new BytesSource(buildSynthetic({ cls: elf.cls, sections })));
    const e = f.pltGot();
    expect(e.length).toBe(b.relocs.length);
    // No PT_LOADs and no NT_FILE/AT_ENTRY: sites stay link-time, values unknown, no stubs.
    expect(e.every((x) => x.gotEntryVa === undefined && x.status === "unknown" && x.pltEntryVa === 0n)).toBe(true);
    expect(e.map((x) => x.gotSite)).toEqual(b.relocs.map((r) => r.offset));
  });
});

describe("computePltGot(): IFUNC imports", () => {
  // Two JUMP_SLOTs (x86_64 RELA): sym 1 "strlen" (an IFUNC in its library), sym 2 "puts".
  const relocs = new ByteWriter(48).u64(0, 0x4000n).u64(8, (1n << 32n) | 7n).u64(24, 0x4008n).u64(32, (2n << 32n) | 7n).bytes;
  const sym = (index: number, name: string, value: bigint): EcfsSymbol => ({ index, name, value, size: 0n, type: 2, bind: 1, typeName: "FUNC", bindName: "GLOBAL", shndx: 0 });
  const dynsym = [sym(0, "", 0n), sym(1, "strlen", 0x7f0000001000n), sym(2, "puts", 0x7f0000002000n)];
  const libc = (a: bigint) => a >= 0x7f0000000000n && a < 0x7f0000100000n;
  const run = (got: Record<string, bigint>, sameObject?: PltGotInput["sameObject"]) =>
    computePltGot({
      cls: CLASS64, relocs: { bytes: relocs, rela: true, entsize: 24n, offset: 0 }, dynsym, rebase: (a) => a,
      readWord: (a) => got[a.toString(16)], isIfunc: (a) => a === 0x7f0000001000n, ...(sameObject && { sameObject }),
    }).map((e) => [e.symbol, e.ifunc, e.status]);

  test("an IFUNC slot in the resolver's object is resolved, elsewhere suspicious, with no object map unknown", () => {
    const same = (a: bigint, b: bigint) => libc(a) === libc(b);
    expect(run({ "4000": 0x7f0000055550n, "4008": 0x7f0000002000n }, same)).toEqual([["strlen", true, "resolved"], ["puts", false, "resolved"]]);
    expect(run({ "4000": 0x13370000n, "4008": 0x13380000n }, same)).toEqual([["strlen", true, "suspicious"], ["puts", false, "suspicious"]]);
    expect(run({ "4000": 0x7f0000055550n, "4008": 0x7f0000002000n })).toEqual([["strlen", true, "unknown"], ["puts", false, "resolved"]]);
    expect(run({ "4000": 0x7f0000055550n, "4008": 0x7f0000002000n }, () => undefined)).toEqual([["strlen", true, "unknown"], ["puts", false, "resolved"]]);
  });
});
