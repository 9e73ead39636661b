// A hostile target for the planner: the memory of a real process (the patterns fixture, 64
// and 32-bit, captured through the real ptrace front end) is copied into memory we control,
// then its program headers, dynamic section, hash tables, .eh_frame_hdr, .eh_frame and auxv
// are corrupted at random. planEcfs must always give a complete plan (what it cannot rebuild
// becomes a reported problem), layoutCore must place it, and no plan may read more than a bound.

import { afterAll, describe, expect, test } from "bun:test";
import { withLiveProcess } from "../../src/capture/live.ts";
import { planEcfs } from "../../src/ecfs/build.ts";
import { layoutCore } from "../../src/ecfs/layout.ts";
import type { ProcessImage } from "../../src/model/image.ts";
import { buildFixture, killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { FakeMemory } from "../helpers/fakemem.ts";
import { EDGE, rng } from "../helpers/fuzz.ts";
import { NO_I386 } from "../helpers/machine.ts";

afterAll(killAllFixtures);

const FUZZ_MS = Number(process.env.PLAN_FUZZ_MS ?? 3000);

/** The process as the planner sees it, its memory copied out (readable mappings only). */
async function capture(m32: boolean): Promise<{ image: ProcessImage; mem: FakeMemory }> {
  const fx = await startFixture(buildFixture("patterns", { m32 }));
  try {
    return await withLiveProcess(fx.pid, async (image) => {
      const mem = new FakeMemory();
      for (const m of image.mappings) {
        if (!m.perms.startsWith("r") || m.vmFlags.includes("io")) continue;
        const bytes = new Uint8Array(Number(m.end - m.start));
        const got = image.mem.read(m.start, bytes);
        if (got > 0) mem.add(m.start, bytes.subarray(0, got));
      }
      return { image: { ...image, mem }, mem };
    });
  } finally {
    await fx.kill();
  }
}

/** Where ELF structures are: the executable's mappings (headers, dynamic, eh_frame, hash
 * tables) and each library's (its dynamic section, symbol and hash tables, the link map). */
function targets(image: ProcessImage): { start: bigint; len: number }[] {
  return image.mappings
    .filter((m) => m.path.startsWith("/") && m.perms.startsWith("r"))
    .map((m) => ({ start: m.start, len: Number(m.end - m.start) }));
}

for (const m32 of [false, true]) {
  describe.skipIf(m32 && NO_I386)(`planEcfs on a corrupted ${m32 ? "i386" : "x86_64"} target`, () => {
    test("always a complete plan: problems reported, nothing thrown, bounded work", async () => {
      const { image, mem } = await capture(m32);
      const seed = Number(process.env.PLAN_FUZZ_SEED ?? Date.now() % 1e9);
      const rand = rng(seed);
      const areas = targets(image);
      expect(areas.length).toBeGreaterThan(0);
      const word = image.cls.word;
      let runs = 0;
      let withProblems = 0;
      let slowest = 0;
      let mostRead = 0;
      const t0 = performance.now();
      // The budget, and never fewer than 20 plans: a loaded machine takes longer, it does not fail.
      while (performance.now() - t0 < FUZZ_MS || runs <= 20) {
        const undo: { at: Uint8Array; old: Uint8Array }[] = [];
        const auxv = image.info.auxv.slice();
        for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
          const area = areas[Math.floor(rand() * areas.length)]!;
          // Mostly the first page (headers) and the start of each area, where the tables are.
          const off = rand() < 0.6 ? Math.floor(rand() * Math.min(area.len, 4096)) : Math.floor(rand() * area.len);
          const win = mem.window(area.start + BigInt(off), word);
          undo.push({ at: win, old: win.slice() });
          if (rand() < 0.5) win[Math.floor(rand() * win.length)]! ^= 1 << Math.floor(rand() * 8);
          else {
            const v = EDGE[Math.floor(rand() * EDGE.length)]!;
            for (let i = 0; i < win.length; i++) win[i] = Number((v >> BigInt(8 * i)) & 0xffn);
          }
        }
        if (rand() < 0.2) {
          const i = Math.floor(rand() * auxv.length);
          auxv[i] = (auxv[i] ?? 0) ^ 0xff;
        }
        const started = performance.now();
        const asked0 = mem.bytesRead;
        try {
          // No file: every fact must come from (corrupted) memory.
          const r = planEcfs({ ...image, info: { ...image.info, auxv } }, {});
          const l = layoutCore(r.plan);
          expect(l.fileSize).toBeGreaterThan(0);
          if (r.problems.length > 0) withProblems++;
        } catch (e) {
          throw new Error(`planEcfs threw (PLAN_FUZZ_SEED=${seed}, run ${runs}): ${(e as Error).stack}`);
        } finally {
          for (const u of undo.reverse()) u.at.set(u.old);
        }
        slowest = Math.max(slowest, performance.now() - started);
        mostRead = Math.max(mostRead, mem.bytesRead - asked0);
        runs++;
      }
      expect(runs).toBeGreaterThan(20);
      expect(withProblems).toBeGreaterThan(0);
      if (process.env.PLAN_FUZZ_STATS) console.error({ seed, runs, withProblems, slowest, mostRead });
      // Bounded work, counted: a plan reads the ELF structures it needs, never as much as a
      // corrupted count asks (measured: at most 0.5 MB read by one plan). The time is only a
      // hang guard, far above ten times the slowest plan measured (75 ms idle).
      expect(mostRead).toBeLessThan(8 << 20);
      expect(slowest).toBeLessThan(30_000);
    });
  });
}
