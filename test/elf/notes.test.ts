// The note iterator's edge rules (object crate's) and the core-note decoders' bounds, on note
// bytes cut from real cores and binaries. Field-level agreement with readelf, eu-readelf and
// gdb is in reader.test.ts.

import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ByteWriter } from "../../src/elf/bytes.ts";
import { CLASS32, CLASS64 } from "../../src/elf/class.ts";
import { NT_FILE, PT_NOTE, SHT_NOTE } from "../../src/elf/consts.ts";
import { parsePrpsinfo, parsePrstatus } from "../../src/elf/corerecords.ts";
import { iterNotes, noteAlign, parseAuxv, parseNtFile } from "../../src/elf/notes.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { BytesSource } from "../../src/elf/source.ts";
import { ElfFormatError } from "../../src/errors.ts";
import { binaries, cleanupFixtures, core32 as i386Core } from "./fixtures.ts";

afterAll(cleanupFixtures);
const B = binaries();
const core32 = await i386Core();
const f32 = ElfFile.open(new BytesSource(readFileSync(core32.core)));
const notePh = f32.programs().find((p) => p.p_type === PT_NOTE)!;
const segment = f32.segmentData(notePh);
const notes = [...f32.notes()];

function noteBytes(name: string, type: number, desc: Uint8Array, align: 4 | 8 = 4, namesz = name.length + 1): Uint8Array {
  const pad = (n: number): number => Math.ceil(n / align) * align;
  const descOff = pad(12 + namesz);
  const w = new ByteWriter(pad(descOff + desc.byteLength));
  w.u32(0, namesz).u32(4, desc.byteLength).u32(8, type).set(12, new TextEncoder().encode(name)).set(descOff, desc);
  return w.bytes;
}

describe("iterNotes", () => {
  test("alignment is normalised: <= 4 is 4, 8 stays 8, others are malformed", () => {
    expect([0, 1, 2, 3, 4, 0n, 4n].map((a) => noteAlign(a))).toEqual([4, 4, 4, 4, 4, 4, 4]);
    expect(noteAlign(8n)).toBe(8);
    expect(() => noteAlign(16, 0x1234)).toThrow(/bad note alignment \(16\) at 0x1234/);
    expect(() => [...iterNotes(segment, 16)]).toThrow(ElfFormatError);
  });

  test("8-byte aligned GNU property note of a real binary", () => {
    const f = ElfFile.open(new BytesSource(readFileSync(B.park64)));
    const sh = f.sectionByName(".note.gnu.property")!;
    expect(sh.sh_type).toBe(SHT_NOTE);
    expect(sh.sh_addralign).toBe(8n);
    const got = [...f.sectionNotes(sh)];
    expect(got.map((n) => [n.name, n.type, n.offset])).toEqual([["GNU", 5, Number(sh.sh_offset)]]);
    // At 8, "GNU\0" ends at 16 so the descriptor starts there; misreading as 4-aligned agrees
    // here, so check a name whose padding differs between the two.
    const n8 = noteBytes("LINUX", 7, new Uint8Array([1, 2, 3, 4]), 8);
    expect([...iterNotes(n8, 8)].map((n) => [n.name, [...n.desc]])).toEqual([["LINUX", [1, 2, 3, 4]]]);
  });

  test("offsets are file offsets when base is given", () => {
    const off = Number(notePh.p_offset);
    expect(notes[0]!.offset).toBe(off);
    expect(notes.every((n) => n.desc.byteOffset - segment.byteOffset + off > n.offset)).toBe(true);
  });

  test("a tail shorter than a note header ends iteration cleanly", () => {
    for (const extra of [1, 4, 11]) {
      const b = new Uint8Array(segment.byteLength + extra);
      b.set(segment);
      expect([...iterNotes(b, notePh.p_align)].length).toBe(notes.length);
    }
  });

  test("the last note's padding may be missing", () => {
    const nt = notes.find((n) => n.type === NT_FILE)!;
    let bytes: Uint8Array;
    let size: number;
    if (!core32.synthetic) {
      expect(nt.desc.byteLength % 4).not.toBe(0); // gdb's i386 NT_FILE has an odd size
      const start = nt.offset - Number(notePh.p_offset);
      bytes = segment.subarray(start, nt.desc.byteOffset - segment.byteOffset + nt.desc.byteLength);
      size = nt.desc.byteLength;
    } else {
      // Our NT_FILE holds every path once per mapping (a multiple of 4 here): cut one byte off.
      size = nt.desc.byteLength - 1;
      const whole = noteBytes("CORE", NT_FILE, nt.desc.subarray(0, size));
      bytes = whole.subarray(0, whole.byteLength - 1);
    }
    const got = [...iterNotes(bytes, 4)];
    expect(got.map((n) => [n.name, n.type, n.desc.byteLength])).toEqual([["CORE", NT_FILE, size]]);
  });

  test("n_namesz and n_descsz are bounds-checked, naming the note's offset", () => {
    for (const [field, msg] of [[0, /bad note n_namesz \(4294967295\) at 0x/], [4, /bad note n_descsz \(4294967295\) at 0x/]] as const) {
      const b = new Uint8Array(segment);
      const second = notes[1]!.offset - Number(notePh.p_offset);
      new ByteWriter(b).u32(second + field, 0xffffffff);
      const it = iterNotes(b, 4, Number(notePh.p_offset));
      expect(it.next().done).toBe(false); // the first note is still fine
      expect(() => it.next()).toThrow(msg);
      expect(() => [...iterNotes(b, 4, Number(notePh.p_offset))]).toThrow(
        new RegExp(`at 0x${notes[1]!.offset.toString(16)}$`),
      );
    }
  });

  test("exactly one trailing NUL is stripped from the name", () => {
    const d = new Uint8Array(4);
    expect([...iterNotes(noteBytes("CORE", 1, d, 4, 4), 4)][0]!.name).toBe("CORE");
    expect([...iterNotes(noteBytes("A\0", 1, d, 4, 3), 4)][0]!.name).toBe("A\0");
    expect([...iterNotes(noteBytes("", 1, d, 4, 0), 4)][0]!.name).toBe("");
  });
});

describe("decoders check sizes before reading", () => {
  const prstatus = notes.find((n) => n.type === 1)!.desc;
  const prpsinfo = notes.find((n) => n.type === 3)!.desc;
  const ntfile = notes.find((n) => n.type === NT_FILE)!.desc;

  test("NT_PRSTATUS and NT_PRPSINFO must be exactly the kernel struct size", () => {
    expect(prstatus.byteLength).toBe(CLASS32.prstatusSize);
    expect(parsePrstatus(prstatus, CLASS32).pr_pid).toBe(core32.pid);
    expect(() => parsePrstatus(prstatus, CLASS64)).toThrow(/bad NT_PRSTATUS size for x86_64 \(144\)/);
    expect(() => parsePrstatus(prstatus.subarray(1), CLASS32)).toThrow(ElfFormatError);
    expect(() => parsePrpsinfo(prpsinfo, CLASS64)).toThrow(/bad NT_PRPSINFO size for x86_64 \(124\)/);
  });

  test("NT_FILE count is bounded by the descriptor size; paths must be terminated", () => {
    const ok = parseNtFile(ntfile, 4);
    expect(ok.entries.length).toBe(ok.count);
    const huge = new Uint8Array(ntfile);
    new ByteWriter(huge).u32(0, 0x7fffffff);
    expect(() => parseNtFile(huge, 4, 0x100)).toThrow(/bad NT_FILE count \(2147483647\) at 0x100/);
    expect(() => parseNtFile(ntfile.subarray(0, ntfile.byteLength - 1), 4)).toThrow(/unterminated NT_FILE path/);
    expect(() => parseNtFile(ntfile.subarray(0, 5), 4)).toThrow(ElfFormatError);
    expect(() => parseNtFile(new Uint8Array(0), 8)).toThrow(ElfFormatError);
  });

  test("auxv stops at AT_NULL and ignores a partial tail", () => {
    const aux = notes.find((n) => n.type === 6)!.desc;
    const all = parseAuxv(aux, 4);
    expect(all.length).toBeGreaterThan(5);
    const cut = 3 * 8 + 5;
    expect(parseAuxv(aux.subarray(0, cut), 4)).toEqual(all.slice(0, 3));
  });
});
