// The layout and the writer without a live process: synthetic plans, a fake memory, and
// readelf as the judge of what the writer made of them (including the PN_XNUM and
// SHN_XINDEX escapes that a real process rarely needs).

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLASS32, CLASS64, type ElfClass } from "../../src/elf/class.ts";
import { ET_CORE, PF_R, PF_W, SHT_PROGBITS } from "../../src/elf/consts.ts";
import { layoutCore, locate, PAGE } from "../../src/ecfs/layout.ts";
import { AtomicFile } from "../../src/ecfs/output.ts";
import type { CorePlan, LoadPlan, SectionPlan } from "../../src/ecfs/plan.ts";
import { writeCore } from "../../src/ecfs/write.ts";
import type { MemoryReader } from "../../src/model/image.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-layout-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every byte is the low byte of its address, so any misplaced page shows. */
const addressMemory: MemoryReader = {
  read(addr, dst) {
    for (let i = 0; i < dst.byteLength; i++) dst[i] = Number((addr + BigInt(i)) & 0xffn);
    return dst.byteLength;
  },
};

function plan(cls: ElfClass, loads: LoadPlan[], sections: SectionPlan[], notes = new Uint8Array(20)): CorePlan {
  return { cls, eType: ET_CORE, entry: 0x401000n, notes, loads, sections };
}

function loadsOf(n: number, size = PAGE): LoadPlan[] {
  return Array.from({ length: n }, (_, i) => ({ vaddr: 0x10000000n + BigInt(i * 2 * size), memsz: BigInt(size), flags: PF_R | PF_W, dumpSize: BigInt(size) }));
}

const readelf = (args: string[], file: string) => spawnSync("readelf", [...args, "-W", file], { encoding: "utf8", maxBuffer: 256 << 20 });

describe("layoutCore", () => {
  for (const cls of [CLASS64, CLASS32]) {
    test(`${cls.name}: parts in increasing order, aligned, without overlap, file ends after .shstrtab`, () => {
      const loads = loadsOf(5);
      loads[2]!.dumpSize = 0n; // a mapping the kernel would not dump
      const sections: SectionPlan[] = [
        { name: ".a", type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "bytes", bytes: new Uint8Array(13) }, align: 8, entsize: 0 },
        { name: ".view", type: SHT_PROGBITS, flags: 2, addr: loads[1]!.vaddr, data: { kind: "memory", addr: loads[1]!.vaddr + 16n, size: 64n }, align: 1, entsize: 0 },
        { name: ".late", type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "late", maxSize: 100, produce: () => new Uint8Array(10) }, align: 16, entsize: 0 },
        { name: ".b", type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "bytes", bytes: new Uint8Array(7) }, align: 4, entsize: 0 },
      ];
      const l = layoutCore(plan(cls, loads, sections));
      expect(l.phoff).toBe(cls.ehdrSize);
      expect(l.notesOffset).toBe(cls.ehdrSize + 6 * cls.phdrSize);
      let end = l.notesOffset + 20;
      for (const s of l.loads) {
        expect(s.p_offset % PAGE).toBe(0);
        expect(s.p_offset).toBeGreaterThanOrEqual(end);
        end = s.p_offset + Number(s.p_filesz);
      }
      expect(l.tail.map((t) => t.kind)).toEqual(["bytes", "late", "bytes"]);
      for (const part of l.tail) {
        const [off, size] = [part.offset, part.kind === "bytes" ? part.bytes.byteLength : part.maxSize];
        expect(off).toBeGreaterThanOrEqual(end);
        end = off + size;
      }
      expect(l.shoff % 8).toBe(0);
      expect(l.shoff).toBeGreaterThanOrEqual(end);
      const strtab = l.sections[l.sections.length - 1]!;
      expect(strtab.offset).toBe(l.shoff + l.sections.length * cls.shdrSize);
      expect(l.fileSize).toBe(strtab.offset + l.shstrtab.byteLength);
      const view = l.sections.find((s) => s.name === ".view")!;
      expect(view.offset).toBe(l.loads[1]!.p_offset + 16);
      expect(l.sections.find((s) => s.name === ".late")!.offset % 16).toBe(0);
    });
  }

  test("locate: a range runs on into following segments only while they follow in memory and file", () => {
    const l = layoutCore(plan(CLASS64, [
      { vaddr: 0x1000n, memsz: 0x1000n, flags: PF_R, dumpSize: 0x1000n },
      { vaddr: 0x2000n, memsz: 0x1000n, flags: PF_R, dumpSize: 0x1000n },
      { vaddr: 0x4000n, memsz: 0x1000n, flags: PF_R, dumpSize: 0x1000n },
    ], []));
    expect(locate(l.loads, 0x1800n, 0x1000n)).toEqual({ offset: l.loads[0]!.p_offset + 0x800, size: 0x1000n });
    expect(locate(l.loads, 0x2800n, 0x1000n).size).toBe(0x800n); // a hole in memory at 0x3000
    expect(locate(l.loads, 0x3000n, 0x10n)).toEqual({ offset: 0, size: 0n });
  });
});

describe("writeCore through readelf", () => {
  test("70000 segments: e_phnum is PN_XNUM and section 0 holds the real count", async () => {
    const file = join(work, "xnum.core");
    const loads = loadsOf(70_000);
    // Only some segments carry bytes, so the file stays small.
    loads.forEach((l, i) => (l.dumpSize = i % 1000 === 999 ? l.memsz : 0n));
    const p = plan(CLASS64, loads, [
      { name: ".first", type: SHT_PROGBITS, flags: 2, addr: loads[0]!.vaddr, data: { kind: "memory", addr: loads[0]!.vaddr, size: 4096n }, align: 1, entsize: 0 },
    ]);
    const l = layoutCore(p);
    expect(l.e_phnum).toBe(0xffff);
    const sink = AtomicFile.create(file);
    await writeCore(p, l, sink, addressMemory);
    sink.commit();
    const h = readelf(["-h"], file).stdout;
    expect(h).toMatch(/Number of program headers:\s+65535 \(70001\)/);
    const phdrs = readelf(["-l"], file).stdout.split("\n").filter((x) => /^\s+LOAD\s/.test(x));
    expect(phdrs.length).toBe(70_000);
    // The last segment's bytes are its addresses' low bytes, where its header says.
    const last = l.loads[69_999]!;
    const fd = openSync(file, "r");
    const b = Buffer.alloc(8);
    require("node:fs").readSync(fd, b, 0, 8, last.p_offset + 0x42);
    closeSync(fd);
    expect([...b]).toEqual([0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49]);
    // readelf 2.40 checks section 0's sh_info as if it were any section's, even while it
    // uses it as the PN_XNUM count above; elfutils reads the file without a word.
    expect(readelf(["-h", "-l", "-S"], file).stderr.trim()).toBe("readelf: Warning: [ 0]: Unexpected value (70001) in info field.");
    const eu = spawnSync("eu-readelf", ["-h", "-l", file], { encoding: "utf8", maxBuffer: 256 << 20 });
    expect(eu.stderr).toBe("");
    expect(eu.stdout).toMatch(/Number of program headers entries:\s+65535 \(70001 in \[0\]\.sh_info\)/);
  });

  test("65300 sections: e_shnum 0 and e_shstrndx SHN_XINDEX, the counts in section 0", async () => {
    const file = join(work, "shxindex.core");
    const sections: SectionPlan[] = Array.from({ length: 65_300 }, (_, i) => ({
      name: `.s${i}`, type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "bytes", bytes: new Uint8Array([i & 0xff]) }, align: 1, entsize: 0,
    }));
    const p = plan(CLASS64, loadsOf(2), sections);
    const l = layoutCore(p);
    expect(l.e_shnum).toBe(0);
    expect(l.e_shstrndx).toBe(0xffff);
    const sink = AtomicFile.create(file);
    await writeCore(p, l, sink, addressMemory);
    sink.commit();
    const r = readelf(["-h", "-S"], file);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/Number of section headers:\s+0 \(65302\)/);
    expect(r.stdout).toMatch(/Section header string table index: 65535 \(65301\)/);
    expect(r.stdout).toContain("] .s65299 ");
  });
});
