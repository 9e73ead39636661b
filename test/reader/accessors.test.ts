// EcfsFile on small synthetic files, for what real snapshots do not show: every library
// section type (heuristics are off in our writer), each personality bit, absent optional
// sections, exact-address lookups, and what open() refuses.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ByteWriter, utf8 } from "../../src/elf/bytes.ts";
import { CLASS32, CLASS64 } from "../../src/elf/class.ts";
import {
  ELF_HEURISTICS, ELF_LOCSYM, ELF_PIE, ELF_STATIC, ELF_STRIPPED_SHDRS, ET_CORE, ET_EXEC, SHF_ALLOC, SHT_DLOPEN,
  SHT_INJECTED, SHT_PRELOADED, SHT_SHLIB,
} from "../../src/elf/consts.ts";
import { BytesSource } from "../../src/elf/source.ts";
import { ElfFormatError } from "../../src/errors.ts";
import { EcfsFile } from "../../src/reader/ecfs.ts";
import { EcfsError } from "../../src/errors.ts";
import { basicSections, buildSynthetic, type SynthSection, type SynthSpec } from "./synth.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-reader-acc-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const open = (spec: Partial<SynthSpec> & { sections: SynthSection[] }) =>
  EcfsFile.fromSource(new BytesSource(buildSynthetic({ cls: CLASS64, ...spec })), "synth");

describe("EcfsFile accessors on synthetic files", () => {
  test("shlibMappings: SHLIB, INJECTED, PRELOADED and DLOPEN sections (libecfs left DLOPEN out)", () => {
    const lib = (name: string, type: number, addr: bigint): SynthSection => ({ name, type, addr, flags: SHF_ALLOC, data: new Uint8Array(16) });
    const f = open({ sections: [...basicSections(), lib("libc.so.6.text", SHT_SHLIB, 0x1000n), lib("evil.so.text", SHT_INJECTED, 0x2000n), lib("pre.so.text", SHT_PRELOADED, 0x3000n), lib("plugin.so.text", SHT_DLOPEN, 0x4000n)] });
    expect(f.shlibMappings().map((m) => [m.name, m.kind, m.addr, m.size])).toEqual([
      ["libc.so.6.text", "shlib", 0x1000n, 16n], ["evil.so.text", "injected", 0x2000n, 16n],
      ["pre.so.text", "preloaded", 0x3000n, 16n], ["plugin.so.text", "dlopen", 0x4000n, 16n],
    ]);
  });

  test("personality: each bit on its own", () => {
    const bits = { static: ELF_STATIC, pie: ELF_PIE, locsym: ELF_LOCSYM, heuristics: ELF_HEURISTICS, stripped: ELF_STRIPPED_SHDRS };
    for (const [name, bit] of Object.entries(bits)) {
      const p = open({ sections: basicSections({ personality: bit }) }).personality();
      expect(p).toEqual({ raw: bit, static: false, pie: false, locsym: false, heuristics: false, stripped: false, [name]: true });
    }
  });

  test("argv is .cmdline split at NULs, empty arguments kept; psargs is .arglist; environ is .environ split at NULs", () => {
    const f = open({
      sections: [...basicSections({ psargs: "./a.out one two  last" }), { name: ".cmdline", data: utf8.encode("./a.out\0one two\0\0last\0") },
        { name: ".environ", data: utf8.encode("A=1\0B=two words\0") }],
    });
    expect(f.psargs()).toBe("./a.out one two  last");
    expect(f.argv()).toEqual(["./a.out", "one two", "", "last"]);
    expect(f.environ()).toEqual(["A=1", "B=two words"]);
    // Without .cmdline (the original's files) there is no argv: psargs cannot give it back.
    expect(open({ sections: basicSections({ psargs: "./a.out one two" }) }).argv()).toBeUndefined();
  });

  test("optional sections that are absent give undefined or []", () => {
    const f = open({ sections: basicSections() });
    expect([f.environ(), f.maps(), f.siginfo(), f.faultAddress(), f.stack(), f.heap(), f.prpsinfo(), f.ntFile()]).toEqual(Array(8).fill(undefined));
    expect([f.auxv(), f.prstatus(), f.fpregs(), f.fdInfo(), f.dynamicSymbols(), f.localSymbols(), f.pltGot(), f.shlibMappings(), f.threadStacks()])
      .toEqual(Array(9).fill([]));
    expect(f.threadCount()).toBe(0);
    expect(f.loadBase()).toBe(0n);
  });

  test("sectionByAddr needs the exact address; sectionVa and section by name", () => {
    const f = open({ sections: [...basicSections(), { name: ".a", addr: 0x4000n, data: new Uint8Array(8) }, { name: ".b", addr: 0x4000n, data: new Uint8Array(8) }] });
    expect(f.sectionByAddr(0x4000n)!.name).toBe(".a");
    expect(f.sectionByAddr(0x4004n)).toBeUndefined();
    expect(f.sectionVa(".b")).toBe(0x4000n);
    expect(f.sectionData(".b")).toEqual(new Uint8Array(8));
  });

  test("memoryAt reads through PT_LOADs, zeros past p_filesz, and refuses unmapped addresses", () => {
    const f = open({ loads: [{ vaddr: 0x10000n, bytes: new Uint8Array([1, 2, 3, 4]), memsz: 8n }], sections: basicSections() });
    expect(f.memoryAt(0x10002n, 6)).toEqual(new Uint8Array([3, 4, 0, 0, 0, 0]));
    expect(() => f.memoryAt(0x20000n, 1)).toThrow(ElfFormatError);
  });

  test("i386: auxv as 32-bit pairs, .prstatus records of 144 bytes", () => {
    const auxv = new ByteWriter(24).u32(0, 6).u32(4, 4096).u32(8, 9).u32(12, 0x8049000).bytes;
    const pr = new ByteWriter(144).i32(24, 77).u32(72 + 12 * 4, 0x8049123).u32(72 + 15 * 4, 0xffffd000).bytes;
    const f = EcfsFile.fromSource(new BytesSource(buildSynthetic({ cls: CLASS32, sections: [...basicSections(), { name: ".auxvector", data: auxv }, { name: ".prstatus", data: pr, entsize: 144 }] })));
    expect(f.auxv()).toEqual([{ type: 6n, name: "AT_PAGESZ", value: 4096n }, { type: 9n, name: "AT_ENTRY", value: 0x8049000n }]);
    const [t] = f.prstatus();
    expect([t!.arch, t!.tid, t!.pc, t!.sp]).toEqual(["i386", 77, 0x8049123n, 0xffffd000n]);
  });

  test("a .prstatus that is not whole records is malformed", () => {
    const f = open({ sections: [...basicSections(), { name: ".prstatus", data: new Uint8Array(400), entsize: 336 }] });
    expect(() => f.prstatus()).toThrow(ElfFormatError);
  });
});

describe("EcfsFile.open refuses what is not an ECFS file", () => {
  const file = (name: string, bytes: Uint8Array | string): string => {
    const p = join(work, name);
    writeFileSync(p, bytes);
    return p;
  };
  const refused = (path: string, what: RegExp) => {
    let err: unknown;
    try {
      EcfsFile.open(path).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EcfsError);
    expect((err as EcfsError).what).toMatch(what);
  };

  test("missing, a directory, empty, not ELF", () => {
    refused(join(work, "missing"), /^no such file$/);
    mkdirSync(join(work, "dir"));
    refused(join(work, "dir"), /^not a regular file$/);
    refused(file("empty", ""), /^not an ELF file$/);
    refused(file("text", "#!/bin/sh\n"), /^not an ELF file$/);
  });

  test("ET_EXEC, no section headers, no .personality, a .personality under 4 bytes", () => {
    refused(file("exec", buildSynthetic({ cls: CLASS64, eType: ET_EXEC, sections: basicSections() })), /e_type ET_EXEC/);
    const noShdrs = buildSynthetic({ cls: CLASS64, eType: ET_CORE, sections: basicSections() });
    new ByteWriter(noShdrs).u64(40, 0n).u16(60, 0).u16(62, 0);
    refused(file("noshdrs", noShdrs), /no section headers/);
    refused(file("nopers", buildSynthetic({ cls: CLASS64, sections: basicSections().slice(1) })), /no \.personality section/);
    refused(file("shortpers", buildSynthetic({ cls: CLASS64, sections: [{ name: ".personality", data: new Uint8Array(2) }] })), /no \.personality section/);
  });

  test("an x86_64 machine number in an ELFCLASS32 file", () => {
    const b = buildSynthetic({ cls: CLASS32, sections: basicSections() });
    new ByteWriter(b).u16(18, 62);
    refused(file("mismatch", b), /not an x86 ECFS file \(e_machine EM_X86_64, ELFCLASS32\)/);
  });
});
