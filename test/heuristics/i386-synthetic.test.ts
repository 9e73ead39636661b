// The heuristics on an i386 image, on every machine: where the kernel cannot run i386
// programs (and the i386 fixture tests skip), the synthetic i386 process of
// test/helpers/i386image.ts (a -m32 -static executable's segments as memory) is given, by
// hand, what the fixtures would do: a -m32 library's segments mapped as the kernel would map
// them, an RWX page with code, a patched first byte of main. The file is judged by readelf
// (section types) and `ecfs read -e --json` (findings). GOT checks need ld.so to have run:
// those are covered by the process fixtures only.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PT_LOAD } from "../../src/elf/consts.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { BytesSource } from "../../src/elf/source.ts";
import { parseMaps } from "../../src/proc/maps.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { type SyntheticI386, syntheticI386, writeSyntheticI386 } from "../helpers/i386image.ts";
import type { FakeMemory } from "../helpers/fakemem.ts";
import { brief, library, readelfSectionTypes, type JsonHeuristics } from "./helpers.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-heur-i386-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PAGE = 0x1000n;
const LIB_BASE = 0x40000000n;
const RWX = 0x50000000n;
const hex = (v: bigint, w = 8) => v.toString(16).padStart(w, "0");

/** Adds mappings (maps lines) and their bytes to the synthetic image. */
function addMappings(s: SyntheticI386, lines: string[], regions: [bigint, Uint8Array][]): void {
  for (const [at, bytes] of regions) (s.image.mem as FakeMemory).add(at, bytes);
  const all = [...s.image.info.mapsText.trim().split("\n"), ...lines].sort((a, b) => (BigInt(`0x${a.split("-")[0]}`) < BigInt(`0x${b.split("-")[0]}`) ? -1 : 1));
  s.image.info.mapsText = `${all.join("\n")}\n`;
  s.image.mappings = parseMaps(s.image.info.mapsText);
}

/** A -m32 library's PT_LOADs at LIB_BASE, from its file, as mmap would place them. */
function mapLibraryByHand(s: SyntheticI386, lib: string): number {
  const raw = new Uint8Array(readFileSync(lib));
  const elf = ElfFile.open(new BytesSource(raw));
  const st = statSync(lib);
  const dev = `${hex(BigInt(st.dev >> 8), 2)}:${hex(BigInt(st.dev & 0xff), 2)}`;
  const lines: string[] = [];
  const regions: [bigint, Uint8Array][] = [];
  const loads = elf.programs().filter((p) => p.p_type === PT_LOAD);
  for (const p of loads) {
    const start = LIB_BASE + (p.p_vaddr & ~(PAGE - 1n));
    const end = LIB_BASE + ((p.p_vaddr + p.p_filesz + PAGE - 1n) & ~(PAGE - 1n));
    const off = p.p_offset & ~(PAGE - 1n);
    const bytes = new Uint8Array(Number(end - start));
    bytes.set(raw.subarray(Number(off), Math.min(raw.length, Number(off) + bytes.length)));
    regions.push([start, bytes]);
    lines.push(`${hex(start)}-${hex(end)} ${p.p_flags & 4 ? "r" : "-"}${p.p_flags & 2 ? "w" : "-"}${p.p_flags & 1 ? "x" : "-"}p ${hex(off)} ${dev} ${st.ino} ${lib}`);
  }
  addMappings(s, lines, regions);
  return loads.length;
}

async function judge(s: SyntheticI386, name: string) {
  const file = join(work, `${name}.ecfs`);
  await writeSyntheticI386(s, file, { heuristics: true });
  const read = ecfs(["read", "-e", "--json", file]);
  expect(read.code).toBe(0);
  const h = JSON.parse(read.stdout).heuristics as JsonHeuristics;
  return { h, sections: readelfSectionTypes(file) };
}

describe("heuristics on a synthetic i386 image", () => {
  test("as it is: zero findings, the executable recognised", async () => {
    const { h } = await judge(syntheticI386(), "clean");
    expect(brief(h.findings)).toEqual([]);
    expect(h.objects.map((o) => o.kind)).toEqual(["executable"]);
    expect(h.linkMap).toBe("mappings");
  });

  test("a -m32 library mapped by hand, an RWX page of code, main's first byte patched: three findings", async () => {
    const s = syntheticI386();
    const lib = library("libinject", true);
    const loads = mapLibraryByHand(s, lib);
    const code = new Uint8Array(Number(PAGE));
    code.set([0x31, 0xc0, 0xc3]);
    addMappings(s, [`${hex(RWX)}-${hex(RWX + PAGE)} rwxp 00000000 00:00 0`], [[RWX, code]]);
    const exe = ElfFile.open(new BytesSource(new Uint8Array(readFileSync(s.exe))));
    const main = exe.symbols(exe.sectionByName(".symtab")!).find((x) => x.name === "main")!.st_value;
    (s.image.mem as FakeMemory).window(main, 1)[0] = 0xcc;

    const { h, sections } = await judge(s, "dirty");
    expect(brief(h.findings).sort()).toEqual([
      expect.stringContaining(`anonymous-code 0x${RWX.toString(16)}`),
      expect.stringContaining(`injected-object 0x${LIB_BASE.toString(16)}`),
      expect.stringContaining(`patched-code 0x${main.toString(16)}`),
    ]);
    const patch = h.findings.find((f) => f.type === "patched-code")!;
    expect(patch.symbol).toBe("main");
    expect(patch.found).toStartWith("cc");
    expect(patch.detail).toContain("int3");
    expect(sections.filter((x) => x.type === "0x200000").map((x) => x.addr)).toEqual(
      s.image.mappings.filter((m) => m.path === lib).map((m) => m.start),
    );
    expect(sections.filter((x) => x.type === "0x200000").length).toBe(loads);
  });
});
