// Mutation fuzzing (Go's fuzz_test.go idea): thousands of damaged copies of real cores and
// binaries (bit flips, header fields set to edge values, truncations) go through every
// accessor and decoder. Only ElfFormatError may escape, and no single input may take long.
// Set ELF_FUZZ_SEED to replay a run, ELF_FUZZ_MS to fuzz longer, ELF_FUZZ_STATS=1 for counts.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NT_AUXV, NT_FILE, NT_PRPSINFO, NT_PRSTATUS, PT_DYNAMIC, PT_LOAD, PT_NOTE, SHT_DYNAMIC, SHT_DYNSYM, SHT_NOTE, SHT_SYMTAB } from "../../src/elf/consts.ts";
import { parsePrpsinfo, parsePrstatus } from "../../src/elf/corerecords.ts";
import { type Note, parseAuxv, parseNtFile } from "../../src/elf/notes.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { type ByteSource, BytesSource, FileSource } from "../../src/elf/source.ts";
import { ElfFormatError } from "../../src/errors.ts";
import { binaries, cleanupFixtures, core32, gcoreOf, kernelCoreOf, kernelCoreUnavailable } from "./fixtures.ts";
import { EDGE, putLE, rng } from "../helpers/fuzz.ts";

const tmp = mkdtempSync("/tmp/ecfs-ts-fuzz-");
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  cleanupFixtures();
});

const B = binaries();
const seedFiles = [
  (await (kernelCoreUnavailable() ? gcoreOf(B.park64) : kernelCoreOf(B.park64))).core,
  (await core32()).core,
  B.park64,
  B.nopie32,
];


interface Seed {
  name: string;
  bytes: Uint8Array;
  /** [start, end) ranges holding structure: headers, tables, notes, string and symbol tables. */
  regions: [number, number][];
}

function regionsOf(bytes: Uint8Array): [number, number][] {
  const f = ElfFile.open(new BytesSource(bytes));
  const out: [number, number][] = [[0, f.cls.ehdrSize]];
  const ph = Number(f.header.e_phoff);
  if (f.phnum) out.push([ph, ph + f.phnum * f.cls.phdrSize]);
  const sh = Number(f.header.e_shoff);
  if (f.shnum) out.push([sh, sh + f.shnum * f.cls.shdrSize]);
  for (const p of f.programs()) {
    const r = f.segmentRange(p);
    if (p.p_type !== PT_LOAD && r.size > 0) out.push([r.offset, r.offset + r.size]);
  }
  for (const s of f.sections()) {
    const r = f.sectionRange(s);
    if (r.size > 0 && r.size < 1 << 20 && s.sh_type !== 1 /* PROGBITS */) out.push([r.offset, r.offset + r.size]);
  }
  return out;
}

const seeds: Seed[] = seedFiles.map((p) => {
  const bytes = new Uint8Array(readFileSync(p));
  return { name: p, bytes, regions: regionsOf(bytes) };
});


type Mutation = { off: number; old: Uint8Array; what: string };

/** One to three in-place mutations (undone afterwards), plus a truncation one time in five. */
function mutate(seed: Seed, rand: () => number): { muts: Mutation[]; len: number } {
  const b = seed.bytes;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const muts: Mutation[] = [];
  for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
    const [s, e] = rand() < 0.9 ? pick(seed.regions) : [0, b.byteLength];
    const r = rand();
    if (r < 0.4) {
      const off = s + Math.floor(rand() * (e - s));
      muts.push({ off, old: b.slice(off, off + 1), what: `flip ${off}` });
      b[off]! ^= 1 << Math.floor(rand() * 8);
    } else {
      const width = pick([2, 4, 8] as const);
      const off = Math.min(b.byteLength - width, s + Math.floor((rand() * (e - s)) / width) * width);
      let v = r < 0.9 ? pick(EDGE) : BigInt(Math.floor(rand() * b.byteLength));
      if (rand() < 0.2) v = BigInt(b.byteLength) - BigInt(Math.floor(rand() * 64));
      muts.push({ off, old: b.slice(off, off + width), what: `set${width * 8} ${off}=0x${v.toString(16)}` });
      putLE(b, off, width, v);
    }
  }
  let len = b.byteLength;
  if (rand() < 0.2) {
    const [s, e] = pick(seed.regions);
    len = rand() < 0.5 ? Math.floor(rand() * Math.min(len, 1 << 16)) : Math.min(len, s + Math.floor(rand() * (e - s + 1)));
  }
  return { muts, len };
}

let formatErrors = 0;
function guard(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ElfFormatError)) throw e;
    formatErrors++;
  }
}

function decode(f: ElfFile, n: Note): void {
  if (n.name !== "CORE") return;
  if (n.type === NT_PRSTATUS) parsePrstatus(n.desc, f.cls);
  else if (n.type === NT_PRPSINFO) parsePrpsinfo(n.desc, f.cls);
  else if (n.type === NT_FILE) parseNtFile(n.desc, f.cls.word);
  else if (n.type === NT_AUXV) parseAuxv(n.desc, f.cls.word);
}

/** Every accessor, each guarded separately so one error does not hide the next. */
function exercise(src: ByteSource, rand: () => number): void {
  let f: ElfFile;
  try {
    f = ElfFile.open(src);
  } catch (e) {
    if (!(e instanceof ElfFormatError)) throw e;
    formatErrors++;
    return;
  }
  guard(() => {
    for (const ph of f.programs()) {
      guard(() => void f.segmentData(ph));
      if (ph.p_type === PT_NOTE) guard(() => { for (const n of f.segmentNotes(ph)) guard(() => decode(f, n)); });
      if (ph.p_type === PT_DYNAMIC) guard(() => void f.dynamic(f.readVirtual(ph.p_vaddr, Math.min(Number(ph.p_memsz), 1 << 16))));
      if (ph.p_type === PT_LOAD) {
        guard(() => void f.readVirtual(ph.p_vaddr, Math.min(Number(ph.p_memsz), 4096)));
        guard(() => void f.readVirtual(ph.p_vaddr + ph.p_memsz - 8n, 16));
      }
    }
    guard(() => void f.readVirtual(BigInt(Math.floor(rand() * 2 ** 48)), 64));
  });
  guard(() => {
    for (const sh of f.sections()) {
      guard(() => void f.sectionData(sh));
      if (sh.sh_type === SHT_NOTE) guard(() => { for (const n of f.sectionNotes(sh)) guard(() => decode(f, n)); });
      if (sh.sh_type === SHT_SYMTAB || sh.sh_type === SHT_DYNSYM) guard(() => void f.symbols(sh));
      if (sh.sh_type === SHT_DYNAMIC) guard(() => void f.dynamic(f.sectionData(sh)));
    }
    guard(() => void f.sectionByName(".dynsym"));
  });
}

const budget = Number(process.env.ELF_FUZZ_MS ?? 5000);
const MIN_INPUTS = 200;

test("mutated cores and binaries: only ElfFormatError escapes, nothing hangs", () => {
  const seed = Number(process.env.ELF_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
  const rand = rng(seed);
  const t0 = performance.now();
  let iterations = 0;
  let slowest = 0;
  Bun.gc(true);
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
  // The budget, and never fewer than MIN_INPUTS: a loaded machine takes longer, it does not fail.
  while (performance.now() - t0 < budget || iterations <= MIN_INPUTS) {
    const s = seeds[iterations % seeds.length]!;
    const { muts, len } = mutate(s, rand);
    const at = performance.now();
    try {
      const bytes = s.bytes.subarray(0, len);
      exercise(new BytesSource(bytes), rand);
      if (s.bytes.byteLength < 1 << 20 && iterations % 16 === 0) {
        const path = join(tmp, "m");
        writeFileSync(path, bytes);
        const fs = FileSource.open(path);
        try {
          exercise(fs, rand);
        } finally {
          fs.close();
        }
      }
    } catch (e) {
      const how = `${s.name} len ${len} [${muts.map((m) => m.what).join(", ")}]`;
      throw new Error(`non-ElfFormatError (ELF_FUZZ_SEED=${seed}, iteration ${iterations}): ${how}`, { cause: e });
    } finally {
      for (const m of muts.reverse()) s.bytes.set(m.old, m.off);
    }
    slowest = Math.max(slowest, performance.now() - at);
    iterations++;
  }
  const peakish = process.memoryUsage().rss - rss0;
  Bun.gc(true);
  if (process.env.ELF_FUZZ_STATS) console.log({ seed, iterations, formatErrors, slowest, rssBeforeGc: peakish, rssAfterGc: process.memoryUsage().rss - rss0, heapGrowth: process.memoryUsage().heapUsed - heap0 });
  // The seeds are intact again, so the undo bookkeeping is right.
  seeds.forEach((s, i) => expect(s.bytes).toEqual(new Uint8Array(readFileSync(seedFiles[i]!))));
  expect(iterations).toBeGreaterThan(MIN_INPUTS);
  expect(formatErrors).toBeGreaterThan(iterations / 4);
  // A hang guard, not a speed test: the slowest input measured took 77 ms on an idle machine.
  expect(slowest).toBeLessThan(5000);
  // Nothing is retained once collected (RSS before a collection only shows how lazy JSC is).
  expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(64 * 2 ** 20);
  expect(process.memoryUsage().rss - rss0).toBeLessThan(512 * 2 ** 20);
}, budget + 30_000);
