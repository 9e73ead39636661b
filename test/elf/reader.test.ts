// ElfFile against outside oracles on real artifacts built at test time: readelf for headers,
// segments, sections, notes, symbols and dynamic entries; eu-readelf for decoded core notes;
// gdb for every thread's registers; the parked program itself for memory contents.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ElfFormatError } from "../../src/errors.ts";
import { ByteWriter } from "../../src/elf/bytes.ts";
import {
  NT_AUXV, NT_FILE, NT_PRPSINFO, NT_PRSTATUS, PT_DYNAMIC, PT_LOAD, SHN_ABS, SHT_DYNSYM, SHT_SYMTAB,
} from "../../src/elf/consts.ts";
import { I386_PR_REG, parsePrpsinfo, parsePrstatus, X86_64_PR_REG } from "../../src/elf/corerecords.ts";
import { parseAuxv, parseNtFile } from "../../src/elf/notes.ts";
import { ElfFile, stType } from "../../src/elf/reader.ts";
import { BytesSource, FileSource } from "../../src/elf/source.ts";
import { checkHeader, checkNotes, checkPhdrs, checkSections } from "./compare.ts";
import {
  binaries, cleanupFixtures, type CoreRun, gcoreOf, kernelCoreOf, kernelCoreUnavailable, MARKER, TARGET_GID, TARGET_UID,
} from "./fixtures.ts";
import { euReadelfNotes, gdbRegisters, readelfDynamic, readelfSymbols } from "./oracles.ts";
import { NO_I386 } from "../helpers/machine.ts";

const STT_SECTION = 3; // elf(5); not (yet) in src/elf/consts.ts
const SHN_COMMON = 0xfff2;

afterAll(cleanupFixtures);
const B = binaries();
const SYSTEM_LIBS = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib32/libc.so.6"].filter((p) => existsSync(p));
const FILES = [B.park64, B.park32, B.nopie32, B.static64, B.obj64, B.obj32, ...SYSTEM_LIBS];

const noKernelCores = kernelCoreUnavailable();
// The i386 program's cores need a kernel that runs i386 (test/helpers/machine.ts); the i386
// file itself is read either way, and test/i386-synthetic.test.ts judges an i386 core everywhere.
const CORES: CoreRun[] = [await gcoreOf(B.park64), ...(NO_I386 ? [] : [await gcoreOf(B.park32)])];
if (!noKernelCores) CORES.push(await kernelCoreOf(B.park64), ...(NO_I386 ? [] : [await kernelCoreOf(B.park32)]));
if (NO_I386) test.skip("gcore and kernel cores of the i386 program", () => {});
// Shown only where the machine keeps kernel cores from us, so the gap is never silent.
if (noKernelCores) test.skip(`kernel-written cores: ${noKernelCores}`, () => {});

function openFile(path: string): ElfFile {
  return ElfFile.open(new BytesSource(readFileSync(path)));
}

describe("binaries vs readelf", () => {
  test.each(FILES)("%s: header, segments, sections, notes", (path) => {
    const f = openFile(path);
    checkHeader(f, path);
    checkPhdrs(f, path);
    checkSections(f, path);
    checkNotes(f, path);
  });

  test.each(FILES)("%s: .symtab and .dynsym vs readelf -s", (path) => {
    const f = openFile(path);
    const want = readelfSymbols(path);
    const tables = f.sections().filter((s) => s.sh_type === SHT_SYMTAB || s.sh_type === SHT_DYNSYM);
    expect(tables.map((s) => s.name).sort()).toEqual([...want.keys()].sort());
    for (const sh of tables) {
      const syms = f.symbols(sh);
      const w = want.get(sh.name)!;
      expect(syms.length).toBe(w.length);
      syms.forEach((s, i) => {
        const ws = w[i]!;
        const ndx = ws.ndx === "UND" ? 0 : ws.ndx === "ABS" ? SHN_ABS : ws.ndx === "COM" ? SHN_COMMON : Number(ws.ndx);
        // readelf appends symbol versions (@GLIBC_x, " (n)") to .dynsym names only.
        // It also shows an unnamed STT_SECTION symbol under its section's name.
        const unnamedSection = stType(s.st_info) === STT_SECTION && s.st_name === 0;
        if (unnamedSection) expect(ws.name).toBe(f.sections()[s.st_shndx]!.name);
        const name = sh.sh_type === SHT_DYNSYM ? ws.name.replace(/@.*$/, "") : unnamedSection ? "" : ws.name;
        expect({ num: s.index, value: s.st_value, size: s.st_size, ndx: s.st_shndx, name: s.name }).toEqual({
          num: ws.num, value: ws.value, size: ws.size, ndx, name,
        });
      });
    }
  });

  test.each(FILES)("%s: dynamic entries vs readelf -d, and PT_DYNAMIC read through PT_LOAD", (path) => {
    const f = openFile(path);
    const want = readelfDynamic(path);
    const ph = f.programs().find((p) => p.p_type === PT_DYNAMIC);
    const sec = f.sectionByName(".dynamic");
    if (!ph || !sec) {
      expect(want).toEqual([]);
      return;
    }
    const got = f.dynamic(f.sectionData(sec));
    expect(want.at(-1)?.tag).toBe(0n); // readelf prints the DT_NULL we stop at
    expect(got.map((d) => d.d_tag)).toEqual(want.slice(0, -1).map((d) => d.tag));
    got.forEach((d, i) => {
      const v = want[i]!.value;
      if (/^0x[0-9a-f]+$/.test(v)) expect(d.d_val).toBe(BigInt(v));
    });
    expect(f.readVirtual(ph.p_vaddr, Number(ph.p_memsz))).toEqual(f.sectionData(sec));
  });
});

describe.each(CORES)("$kind core of $exe", (run) => {
  const f = ElfFile.open(new BytesSource(readFileSync(run.core)));
  const notes = [...f.notes()];

  test("header, segments, sections, notes vs readelf", () => {
    checkHeader(f, run.core);
    checkPhdrs(f, run.core);
    checkSections(f, run.core);
    expect(checkNotes(f, run.core)).toBe(notes.length);
  });

  test("NT_FILE vs eu-readelf (and readelf, which decodes only 32-bit NT_FILE here)", () => {
    const nt = notes.find((n) => n.type === NT_FILE && n.name === "CORE");
    expect(nt).toBeDefined();
    const ours = parseNtFile(nt!.desc, f.cls.word);
    const eu = euReadelfNotes(run.core).find((n) => n.type === "FILE")!;
    expect(ours.count).toBe(eu.files.length);
    expect(ours.entries.map((e) => ({ start: e.start, end: e.end, offset: e.fileOfs * ours.page_size, path: e.path })))
      .toEqual(eu.files);
    expect(ours.entries.some((e) => e.path === run.exe)).toBe(true);
  });

  test("notes decoded like eu-readelf: PRPSINFO, PRSTATUS, AUXV", () => {
    const eu = euReadelfNotes(run.core);
    expect(eu.map((n) => [n.owner, n.size])).toEqual(notes.map((n) => [n.name, n.desc.byteLength]));
    const timeval = (t: { tv_sec: bigint; tv_usec: bigint }): string => `${t.tv_sec}.${String(t.tv_usec).padStart(6, "0")}`;
    notes.forEach((n, i) => {
      const e = eu[i]!;
      if (n.name !== "CORE") return;
      if (n.type === NT_PRPSINFO) {
        expect(e.type).toBe("PRPSINFO");
        const p = parsePrpsinfo(n.desc, f.cls);
        expect({
          state: String(p.pr_state), sname: p.pr_sname, zomb: String(p.pr_zomb), nice: String(p.pr_nice),
          flag: p.pr_flag, uid: String(p.pr_uid), gid: String(p.pr_gid), pid: String(p.pr_pid),
          ppid: String(p.pr_ppid), pgrp: String(p.pr_pgrp), sid: String(p.pr_sid), fname: p.pr_fname,
          psargs: p.pr_psargs,
        }).toEqual({
          state: e.fields.get("state")!, sname: e.fields.get("sname")!, zomb: e.fields.get("zomb")!,
          nice: e.fields.get("nice")!, flag: BigInt(e.fields.get("flag")!), uid: e.fields.get("uid")!,
          gid: e.fields.get("gid")!, pid: e.fields.get("pid")!, ppid: e.fields.get("ppid")!,
          pgrp: e.fields.get("pgrp")!, sid: e.fields.get("sid")!, fname: e.fields.get("fname")!,
          psargs: e.fields.get("psargs")!,
        });
      }
      if (n.type === NT_PRSTATUS) {
        expect(e.type).toBe("PRSTATUS");
        const s = parsePrstatus(n.desc, f.cls);
        const orig = f.cls.word === 8 ? "orig_rax" : "orig_eax";
        const sigset = (v: bigint): string => (v === 0n ? "<>" : "nonempty");
        expect({
          signo: s.pr_info.si_signo, code: s.pr_info.si_code, errno: s.pr_info.si_errno, cursig: s.pr_cursig,
          sigpend: sigset(s.pr_sigpend), sighold: sigset(s.pr_sighold), pid: s.pr_pid, ppid: s.pr_ppid,
          pgrp: s.pr_pgrp, sid: s.pr_sid, utime: timeval(s.pr_utime), stime: timeval(s.pr_stime),
          cutime: timeval(s.pr_cutime), cstime: timeval(s.pr_cstime), fpvalid: s.pr_fpvalid,
          orig: BigInt.asIntN(f.cls.word * 8, s.pr_reg[orig]!),
        }).toEqual({
          signo: Number(e.fields.get("info.si_signo")), code: Number(e.fields.get("info.si_code")),
          errno: Number(e.fields.get("info.si_errno")), cursig: Number(e.fields.get("cursig")),
          sigpend: e.fields.get("sigpend") === "<>" ? "<>" : "nonempty",
          sighold: e.fields.get("sighold") === "<>" ? "<>" : "nonempty",
          pid: Number(e.fields.get("pid")), ppid: Number(e.fields.get("ppid")), pgrp: Number(e.fields.get("pgrp")),
          sid: Number(e.fields.get("sid")), utime: e.fields.get("utime")!, stime: e.fields.get("stime")!,
          cutime: e.fields.get("cutime")!, cstime: e.fields.get("cstime")!, fpvalid: Number(e.fields.get("fpvalid")),
          orig: BigInt(e.fields.get(orig)!),
        });
      }
      if (n.type === NT_AUXV) {
        const av = parseAuxv(n.desc, f.cls.word);
        // gdb copies the kernel's whole saved_auxv, so eu-readelf may list several AT_NULLs.
        expect(e.auxv.findIndex((a) => a.name === "NULL")).toBe(av.length);
        av.forEach((a, k) => {
          const w = e.auxv[k]!;
          if (/^\d+$/.test(w.name)) expect(a.a_type).toBe(BigInt(w.name));
          expect(a.a_val).toBe(BigInt(w.value));
        });
      }
    });
  });

  test("NT_PRPSINFO describes the process we spawned", () => {
    const n = notes.find((x) => x.type === NT_PRPSINFO && x.name === "CORE")!;
    expect(n.desc.byteLength).toBe(f.cls.prpsinfoSize); // 136 [124]
    const p = parsePrpsinfo(n.desc, f.cls);
    expect(p.pr_pid).toBe(run.pid);
    expect(p.pr_ppid).toBe(process.pid);
    expect(p.pr_uid).toBe(TARGET_UID);
    expect(p.pr_gid).toBe(TARGET_GID);
    expect(p.pr_fname).toBe(basename(run.exe));
    expect(p.pr_psargs.startsWith(run.exe)).toBe(true);
  });

  test("every thread's NT_PRSTATUS registers equal gdb's info registers", () => {
    const names = f.cls.word === 8 ? X86_64_PR_REG : I386_PR_REG;
    const status = notes.filter((n) => n.type === NT_PRSTATUS && n.name === "CORE").map((n) => parsePrstatus(n.desc, f.cls));
    expect(status.map((s) => s.pr_pid).sort((a, b) => a - b)).toEqual(run.tids);
    const gdb = gdbRegisters(run.exe, run.core, names);
    expect([...gdb.keys()].sort((a, b) => a - b)).toEqual(run.tids);
    for (const s of status) {
      expect(Object.keys(s.pr_reg)).toEqual([...names]);
      const g = gdb.get(s.pr_pid)!;
      for (const name of names) expect({ name, v: s.pr_reg[name] }).toEqual({ name, v: g.get(name)! });
    }
  });

  test("readVirtual finds the marker the program printed", () => {
    const want = new TextEncoder().encode(`${MARKER}\0`);
    expect(f.readVirtual(run.marker, want.byteLength)).toEqual(want);
  });

  test("readVirtual: zero fill past p_filesz, spans adjacent segments, rejects unmapped addresses", () => {
    const raw = readFileSync(run.core);
    const loads = f.programs().filter((p) => p.p_type === PT_LOAD);
    const partial = loads.find((p) => p.p_filesz > 16n && p.p_filesz < p.p_memsz);
    if (run.kind === "kernel") expect(partial).toBeDefined(); // first page of an ELF mapping only
    if (partial) {
      const got = f.readVirtual(partial.p_vaddr + partial.p_filesz - 16n, 32);
      const fileEnd = Number(partial.p_offset + partial.p_filesz);
      expect(got.subarray(0, 16)).toEqual(new Uint8Array(raw.subarray(fileEnd - 16, fileEnd)));
      expect(got.subarray(16)).toEqual(new Uint8Array(16));
    }
    const empty = loads.find((p) => p.p_filesz === 0n && p.p_memsz >= 64n);
    if (empty) expect(f.readVirtual(empty.p_vaddr, 64)).toEqual(new Uint8Array(64));
    const pair = loads.find((a) => a.p_filesz === a.p_memsz && a.p_memsz >= 8n &&
      loads.some((b) => b.p_vaddr === a.p_vaddr + a.p_memsz && b.p_filesz >= 8n));
    expect(pair).toBeDefined();
    const next = loads.find((b) => b.p_vaddr === pair!.p_vaddr + pair!.p_memsz)!;
    const span = f.readVirtual(next.p_vaddr - 8n, 16);
    const aEnd = Number(pair!.p_offset + pair!.p_filesz);
    const bOff = Number(next.p_offset);
    expect(span).toEqual(new Uint8Array([...raw.subarray(aEnd - 8, aEnd), ...raw.subarray(bOff, bOff + 8)]));
    expect(() => f.readVirtual(0n, 1)).toThrow(ElfFormatError);
    const last = loads.at(-1)!;
    expect(() => f.readVirtual(last.p_vaddr + last.p_memsz - 4n, 8)).toThrow(ElfFormatError);
  });

  test("FileSource gives the same answers as BytesSource", () => {
    const fs = FileSource.open(run.core);
    try {
      const g = ElfFile.open(fs);
      expect(g.header).toEqual(f.header);
      expect(g.programs()).toEqual(f.programs());
      expect(g.sections()).toEqual(f.sections());
      expect([...g.notes()].map((n) => [n.name, n.type, n.offset, n.desc])).toEqual(
        notes.map((n) => [n.name, n.type, n.offset, n.desc]),
      );
      expect(g.readVirtual(run.marker, MARKER.length)).toEqual(f.readVirtual(run.marker, MARKER.length));
    } finally {
      fs.close();
    }
  });
});

describe("extended numbering (PN_XNUM, SHN_XINDEX, e_shnum 0) vs readelf", () => {
  // The escapes need more than 65535 mappings or sections to arise naturally (vm.max_map_count
  // stops us at 65530), so rewrite a real gcore core, which has section headers, to use them.
  const gcores = CORES.filter((r) => r.kind === "gcore");
  test.each(gcores)("$exe core rewritten to use every escape", (run) => {
    const raw = new Uint8Array(readFileSync(run.core));
    const orig = ElfFile.open(new BytesSource(raw));
    const is64 = orig.cls.word === 8;
    const shoff = Number(orig.header.e_shoff);
    const w = new ByteWriter(raw);
    // e_phnum, e_shnum, e_shstrndx and section 0's sh_size, sh_link, sh_info.
    w.u16(is64 ? 56 : 44, 0xffff).u16(is64 ? 60 : 48, 0).u16(is64 ? 62 : 50, 0xffff);
    w.word(shoff + (is64 ? 32 : 20), orig.cls.word, BigInt(orig.shnum));
    w.u32(shoff + (is64 ? 40 : 24), orig.shstrndx).u32(shoff + (is64 ? 44 : 28), orig.phnum);
    const path = join(B.dir, `xnum-${basename(run.core)}`);
    writeFileSync(path, raw);
    const f = ElfFile.open(new BytesSource(raw));
    expect([f.header.e_phnum, f.header.e_shnum, f.header.e_shstrndx]).toEqual([0xffff, 0, 0xffff]);
    expect([f.phnum, f.shnum, f.shstrndx]).toEqual([orig.phnum, orig.shnum, orig.shstrndx]);
    checkHeader(f, path);
    checkPhdrs(f, path);
    checkSections(f, path);
    expect(f.programs()).toEqual(orig.programs());
    expect(f.sections().slice(1)).toEqual(orig.sections().slice(1));
  });
});

describe("rejects malformed headers with ElfFormatError naming the field", () => {
  const good = new Uint8Array(readFileSync(B.park64));
  const good32 = new Uint8Array(readFileSync(B.park32));
  const openMut = (src: Uint8Array, edit: (w: ByteWriter) => void): (() => ElfFile) => {
    const b = new Uint8Array(src);
    edit(new ByteWriter(b));
    return () => ElfFile.open(new BytesSource(b));
  };
  const cases: [string, Uint8Array, (w: ByteWriter) => void, RegExp][] = [
    ["magic", good, (w) => w.u8(1, 0x46), /bad ELF magic/],
    ["class", good, (w) => w.u8(4, 3), /unknown ELF class \(3\) at 0x4/],
    ["big-endian", good, (w) => w.u8(5, 2), /ELFDATA2LSB\) \(2\) at 0x5/],
    ["EI_VERSION", good, (w) => w.u8(6, 0), /bad EI_VERSION/],
    ["e_version", good, (w) => w.u32(20, 2), /bad e_version \(2\)/],
    ["e_phentsize", good, (w) => w.u16(54, 32), /bad e_phentsize \(32\) at 0x36/],
    ["e_shentsize", good32, (w) => w.u16(46, 64), /bad e_shentsize \(64\) at 0x2e/],
    ["e_phnum", good, (w) => w.u16(56, 0xfffe), /program header table out of bounds \(65534\)/],
    ["e_shoff", good, (w) => w.u64(40, 0xffffffffffff0000n), /section header table out of bounds/],
    ["e_shstrndx", good, (w) => w.u16(62, 200), /bad e_shstrndx \(200\)/],
    ["e_shnum with no table", good, (w) => w.u64(40, 0n), /e_shnum without a section header table/],
    ["PN_XNUM with no table", good, (w) => w.u64(40, 0n).u16(60, 0).u16(56, 0xffff), /PN_XNUM without/],
  ];
  test.each(cases)("%s", (_name, src, edit, msg) => {
    const open = openMut(src, edit);
    expect(open).toThrow(ElfFormatError);
    expect(open).toThrow(msg);
  });

  test("short files", () => {
    expect(() => ElfFile.open(new BytesSource(good.subarray(0, 10)))).toThrow(/file too short for e_ident \(10\)/);
    expect(() => ElfFile.open(new BytesSource(good.subarray(0, 40)))).toThrow(/ELF header out of bounds \(64\)/);
  });

  test("section data and names beyond the file", () => {
    const f = ElfFile.open(new BytesSource(good));
    const text = f.sectionByName(".text")!;
    expect(() => f.sectionData({ ...text, sh_size: 1n << 40n })).toThrow(
      new RegExp(`section ${text.index} \\(\\.text\\) data out of bounds .* at 0x${text.sh_offset.toString(16)}$`),
    );
    expect(() => f.segmentData({ ...f.programs()[0]!, p_offset: -1n })).toThrow(ElfFormatError);
    const shstr = f.sections()[f.shstrndx]!;
    const bad = openMut(good, (w) => w.u32(Number(f.header.e_shoff) + 64, Number(shstr.sh_size) + 5))();
    expect(() => bad.sections()).toThrow(/bad section name offset/);
    const sym = f.sectionByName(".dynsym")!;
    expect(() => f.symbols({ ...sym, sh_link: 9999 })).toThrow(/bad sh_link of symbol table/);
    expect(() => f.symbols({ ...sym, sh_entsize: 7n })).toThrow(/bad sh_entsize/);
    expect(() => f.symbols(f.sectionByName(".text")!)).toThrow(/not a symbol table/);
  });
});
