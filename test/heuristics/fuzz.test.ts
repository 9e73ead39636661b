// Hostile targets for the heuristics: the memory of a real heur process that did everything at
// once (GOT hook, patch, RWX code, a library mapped by hand) is copied into a MemoryReader we
// control; then ELF headers, program headers, dynamic sections, relocation tables, GOT slots,
// constructor arrays and link-map nodes are overwritten at random. Nothing may throw, the
// bytes read stay bounded, and the report always encodes to a .heuristics the reader accepts.
// HEUR_FUZZ_SEED replays a run; HEUR_FUZZ_MS fuzzes longer (default 4 s, at least 60 runs).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readlinkSync } from "node:fs";
import { DynamicLinking } from "../../src/ecfs/dynlink/dynlink.ts";
import { dynPtr } from "../../src/ecfs/dynlink/dynsyms.ts";
import { encodeHeuristics } from "../../src/ecfs/heuristics/findings.ts";
import { runHeuristics } from "../../src/ecfs/heuristics/heuristics.ts";
import { ByteWriter } from "../../src/elf/bytes.ts";
import { CLASS64 } from "../../src/elf/class.ts";
import { DT_FINI_ARRAY, DT_INIT_ARRAY, DT_JMPREL, DT_PLTGOT, DT_RELA } from "../../src/elf/consts.ts";
import type { Mapping } from "../../src/model/image.ts";
import { readMaps } from "../../src/proc/maps.ts";
import { decodeHeuristics } from "../../src/reader/heuristics.ts";
import { FakeMemory } from "../helpers/fakemem.ts";
import { type FixtureInfo, killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { EDGE, rng } from "../helpers/fuzz.ts";
import { ProcMemReader } from "../ecfs/dynlink-live.ts";
import { heurBinary, library } from "./helpers.ts";

afterAll(killAllFixtures);

/** Reads of one run, at most: the code compared (a few MiB here) and the structures around it. */
const MAX_BYTES_READ = 256 << 20;
const NOWHERE = 0x10000000n;

interface Copy {
  mem: FakeMemory;
  mappings: Mapping[];
  info: { pid: number; auxv: Uint8Array; environ: Uint8Array; exe: string };
}

describe("corrupted x86_64 process memory", () => {
  let copy: Copy;
  beforeAll(async () => {
    const fx = await startFixture<FixtureInfo>(heurBinary("lazy", false), ["--hook", "--patch", "--rwx", "--map", library("libinject", false)]);
    try {
      const mappings = readMaps(fx.pid);
      const reader = new ProcMemReader(fx.pid);
      const mem = new FakeMemory();
      for (const m of mappings) {
        if (m.perms[0] !== "r" || m.path === "[vvar]" || m.path === "[vsyscall]") continue;
        const bytes = new Uint8Array(Number(m.end - m.start));
        const got = reader.read(m.start, bytes);
        if (got > 0) mem.add(m.start, bytes.subarray(0, got));
      }
      reader.close();
      const info = { pid: fx.pid, auxv: readFileSync(`/proc/${fx.pid}/auxv`), environ: readFileSync(`/proc/${fx.pid}/environ`), exe: readlinkSync(`/proc/${fx.pid}/exe`) };
      copy = { mem, mappings, info };
    } finally {
      await fx.kill();
    }
  });

  const run = () => {
    const image = { cls: CLASS64, mem: copy.mem, mappings: copy.mappings, info: copy.info };
    const link = DynamicLinking.analyze(image);
    return runHeuristics({ image, link, dynamic: true, preloadFile: [] });
  };

  test("the copy gives the live process's four findings", () => {
    const r = run();
    expect(r.report.findings.map((f) => f.type).sort()).toEqual(["anonymous-code", "got-hook", "injected-object", "patched-code"]);
  });

  test("random corruption of headers, dynamic sections, relocations, GOT, constructors and the link map", () => {
    const seed = Number(process.env.HEUR_FUZZ_SEED ?? Date.now() % 1e9);
    const budgetMs = Number(process.env.HEUR_FUZZ_MS ?? 4000);
    const rand = rng(seed);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
    const base = DynamicLinking.analyze({ cls: CLASS64, mem: copy.mem, mappings: copy.mappings, info: copy.info });
    const ranges: [bigint, number][] = [];
    if (base.rDebug !== undefined) ranges.push([base.rDebug, 48]);
    for (const m of copy.mappings) if (m.offset === 0n && m.inode !== 0n) ranges.push([m.start, 64 + 56 * 12]); // ELF and program headers
    for (const o of base.objects) {
      if (o.linkMap !== undefined) ranges.push([o.linkMap, 40]);
      ranges.push([o.dynamicAddr, o.dynamic.length * 16]);
      for (const tag of [DT_RELA, DT_JMPREL, DT_INIT_ARRAY, DT_FINI_ARRAY]) {
        const p = dynPtr(o, CLASS64, tag);
        if (p !== undefined) ranges.push([p, 1024]);
      }
      const got = dynPtr(o, CLASS64, DT_PLTGOT);
      if (got !== undefined) ranges.push([got, 256]);
    }
    const pointers = [0n, 1n, NOWHERE, ...ranges.map((r) => r[0]), ...EDGE];
    const failures: string[] = [];
    let runs = 0;
    let worst = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < budgetMs || runs < 60) {
      const saved = copy.mem.regions.map((r) => ({ r, copy: r.bytes.slice() }));
      const log: string[] = [];
      try {
        for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
          const [addr, len] = pick(ranges);
          const at = addr + BigInt(Math.floor((rand() * Math.max(1, len - 8)) / 8) * 8);
          const v = pick(pointers) + BigInt(Math.floor(rand() * 16) * 8);
          let window: Uint8Array;
          try {
            window = copy.mem.window(at, 8);
          } catch {
            continue; // not in the copy (an unreadable page)
          }
          if (window.byteLength < 8) continue;
          new ByteWriter(window).u64(0, BigInt.asUintN(64, v));
          log.push(`0x${at.toString(16)} = 0x${BigInt.asUintN(64, v).toString(16)}`);
        }
        const before = copy.mem.bytesRead;
        const r = run();
        worst = Math.max(worst, copy.mem.bytesRead - before);
        expect(copy.mem.bytesRead - before).toBeLessThan(MAX_BYTES_READ);
        const doc = decodeHeuristics(encodeHeuristics(r.report));
        expect(doc.findings.length).toBe(r.report.findings.length);
      } catch (e) {
        failures.push(`seed ${seed} run ${runs} [${log.join(", ")}]: ${(e as Error).stack ?? e}`);
        if (failures.length >= 3) break;
      } finally {
        for (const { r, copy: c } of saved) r.bytes.set(c);
      }
      runs++;
    }
    console.log(`heuristics fuzz: seed ${seed}, ${runs} runs, at most ${worst} bytes read in one`);
    expect(failures).toEqual([]);
  });
});
