// Hostile targets for src/ecfs/dynlink.ts: the memory of a real process (dynlink_target, 64 and
// 32-bit) is copied into a MemoryReader over Uint8Arrays we control, then link-map pointers,
// hash-table counts, dynamic entries and auxv are corrupted, first on purpose (each case must end
// in a reported problem) and then at random. Nothing may throw, and every analysis must stay
// within a bound on the bytes it reads. DYNLINK_FUZZ_SEED replays a run; DYNLINK_FUZZ_MS fuzzes longer (default 4 s per class).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type DynlinkInput, DynamicLinking, type LoadedObject } from "../../src/ecfs/dynlink/dynlink.ts";
import { dynPtr, MAX_TOTAL_SYMBOLS } from "../../src/ecfs/dynlink/dynsyms.ts";
import { MAX_OBJECTS } from "../../src/ecfs/dynlink/linkmap.ts";
import { ByteReader, ByteWriter } from "../../src/elf/bytes.ts";
import { AT_PHNUM, DT_GNU_HASH, DT_HASH, DT_STRSZ, DT_VERNEEDNUM } from "../../src/elf/consts.ts";
import { killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { buildDynlink, liveInput, ProcMemReader } from "./dynlink-live.ts";
import { rng } from "../helpers/fuzz.ts";
import { FakeMemory } from "../helpers/fakemem.ts";
import { NO_I386 } from "../helpers/machine.ts";

afterAll(killAllFixtures);

/** A copy of every readable mapping of a live dynlink_target. */
async function snapshot(m32: boolean): Promise<{ input: DynlinkInput; mem: FakeMemory; base: DynamicLinking }> {
  const build = buildDynlink({ m32, pie: true, now: false });
  const fx = await startFixture(build.target);
  try {
    const live = liveInput(fx.pid);
    const reader = new ProcMemReader(fx.pid);
    const mem = new FakeMemory();
    for (const m of live.mappings) {
      if (m.perms[0] !== "r" || m.path === "[vvar]" || m.path === "[vsyscall]") continue;
      const bytes = new Uint8Array(Number(m.end - m.start));
      const got = reader.read(m.start, bytes);
      if (got > 0) mem.add(m.start, bytes.subarray(0, got));
    }
    reader.close();
    const base = DynamicLinking.analyze(live);
    live.close();
    return { input: { cls: live.cls, mem, mappings: live.mappings, info: live.info }, mem, base };
  } finally {
    await fx.kill();
  }
}

/** Everything a consumer would ask for; returns the analysis, how long it took and the bytes it read. */
function fullRun(input: DynlinkInput): { dl: DynamicLinking; ms: number; bytes: number } {
  const mem = input.mem as FakeMemory;
  const asked0 = mem.bytesRead;
  const t0 = performance.now();
  const dl = DynamicLinking.analyze(input);
  for (const o of dl.objects) {
    dl.resolvedSymbols(o);
    dl.resolvedDynsym(o);
  }
  dl.resolve("puts");
  dl.resolve("memcpy", "GLIBC_2.2.5");
  const ms = performance.now() - t0;
  if (process.env.DYNLINK_FUZZ_STATS) console.error(`fullRun: ${ms.toFixed(0)} ms, ${mem.bytesRead - asked0} bytes read`);
  return { dl, ms, bytes: mem.bytesRead - asked0 };
}


/**
 * Work is bounded by what it reads of the target, counted: a whole analysis reads about 240 KB
 * of this process, and 4096 link-map entries that all describe libc read 4.6 MB (libc is parsed
 * once). A parse repeated per entry would read hundreds of MB.
 */
const MAX_BYTES_READ = 16 << 20;
/** Only a hang guard, not a speed test: ten times the slowest case measured (the 4096-entry
 * link map: 2.3 s idle, 3.9 s on a loaded 2-core machine). Speed lives in `bun run bench`. */
const HANG_GUARD_MS = 40_000;
/** An address no mapping uses, for synthetic regions and dangling pointers. */
const NOWHERE = 0x10000000n;

for (const m32 of [false, true]) {
  describe.skipIf(m32 && NO_I386)(`corrupted ${m32 ? "i386" : "x86_64"} process memory`, () => {
    let snap: Awaited<ReturnType<typeof snapshot>>;
    let w: 4 | 8;
    beforeAll(async () => {
      snap = await snapshot(m32);
      w = snap.input.cls.word;
      for (const m of snap.input.mappings)
        if (m.start < NOWHERE + 0x200000n && NOWHERE < m.end) throw new Error("NOWHERE is mapped; pick another address");
    });

    const nodes = (): bigint[] => snap.base.objects.map((o) => o.linkMap as bigint);
    const obj = (suffix: string): LoadedObject => snap.base.objects.find((o) => o.name.endsWith(suffix)) as LoadedObject;
    const writeWord = (addr: bigint, v: bigint): void => void new ByteWriter(snap.mem.window(addr, w)).word(0, w, v);
    const writeU32 = (addr: bigint, v: number): void => void new ByteWriter(snap.mem.window(addr, 4)).u32(0, v);
    const readU32 = (addr: bigint): number => new ByteReader(snap.mem.window(addr, 4)).u32(0, "test");
    const dynEntry = (o: LoadedObject, tag: number): bigint => {
      const i = o.dynamic.findIndex((d) => d.d_tag === BigInt(tag));
      if (i < 0) throw new Error(`no tag ${tag} in ${o.name}`);
      return o.dynamicAddr + BigInt(i * snap.input.cls.dynSize);
    };

    /** Applies `corrupt`, runs everything, restores the memory, returns the problems. */
    function corrupted(corrupt: () => void, input: DynlinkInput = snap.input): { dl: DynamicLinking; problems: string[] } {
      const saved = snap.mem.regions.map((r) => ({ r, copy: r.bytes.slice() }));
      const count = snap.mem.regions.length;
      try {
        corrupt();
        const { dl, ms, bytes } = fullRun(input);
        expect(bytes).toBeLessThan(MAX_BYTES_READ);
        expect(ms).toBeLessThan(HANG_GUARD_MS);
        return { dl, problems: dl.problems.map((p) => `${p.where}: ${p.error.message}`) };
      } finally {
        for (const { r, copy } of saved) r.bytes.set(copy);
        snap.mem.regions.splice(0, snap.mem.regions.length, ...snap.mem.regions.filter((r) => saved.some((s) => s.r === r)));
        expect(snap.mem.regions.length).toBe(count);
      }
    }

    test("the copy analyses exactly like the live process", () => {
      const { dl, problems } = corrupted(() => {});
      expect(problems).toEqual([]);
      expect(dl.objects.map((o) => o.name)).toEqual(snap.base.objects.map((o) => o.name));
      const addrs = (d: DynamicLinking): string[] => d.resolvedSymbols(d.executable as LoadedObject).map((r) => `${r.name} ${r.address}`);
      expect(addrs(dl)).toEqual(addrs(snap.base));
    });

    test("l_next looping back: the walk stops, reported", () => {
      const n = nodes();
      const { dl, problems } = corrupted(() => writeWord((n[3] as bigint) + BigInt(3 * w), n[1] as bigint));
      expect(problems.join("\n")).toMatch(/link map loops back/);
      expect(dl.objects.length).toBe(4);
      const self = corrupted(() => writeWord((n[0] as bigint) + BigInt(3 * w), n[0] as bigint));
      expect(self.problems.join("\n")).toMatch(/link map loops back/);
      expect(self.dl.objects.length).toBe(1);
    });

    test("a link map of 10000 entries: cut at MAX_OBJECTS, reported", () => {
      const n = nodes();
      const { dl, problems } = corrupted(() => {
        const size = 5 * w;
        const list = new ByteWriter(new Uint8Array(10_000 * size));
        for (let k = 0; k < 10_000; k++) {
          const at = NOWHERE + BigInt(k * size);
          list.word(k * size + 3 * w, w, k + 1 < 10_000 ? at + BigInt(size) : 0n);
          list.word(k * size + 4 * w, w, k === 0 ? (n.at(-1) as bigint) : at - BigInt(size));
        }
        snap.mem.add(NOWHERE, list.bytes);
        writeWord((n.at(-1) as bigint) + BigInt(3 * w), NOWHERE);
      });
      expect(problems.join("\n")).toMatch(/link map longer than 4096/);
      expect(dl.objects.length).toBe(MAX_OBJECTS);
    });

    test("4096 link-map entries all describing libc: shared parse, symbol budget, bounded work", () => {
      const n = nodes();
      const libc = obj("/libc.so.6");
      const { dl, ms, bytes } = (() => {
        const saved = snap.mem.regions.length;
        const size = 5 * w;
        const list = new ByteWriter(new Uint8Array(MAX_OBJECTS * size));
        for (let k = 0; k < MAX_OBJECTS; k++) {
          const at = NOWHERE + BigInt(k * size);
          list.word(k * size, w, libc.base);
          list.word(k * size + 2 * w, w, libc.dynamicAddr);
          list.word(k * size + 3 * w, w, k + 1 < MAX_OBJECTS ? at + BigInt(size) : 0n);
          list.word(k * size + 4 * w, w, k === 0 ? (n.at(-1) as bigint) : at - BigInt(size));
        }
        snap.mem.add(NOWHERE, list.bytes);
        const last = (n.at(-1) as bigint) + BigInt(3 * w);
        const old = snap.mem.window(last, w).slice();
        writeWord(last, NOWHERE);
        try {
          return fullRun(snap.input);
        } finally {
          snap.mem.window(last, w).set(old);
          snap.mem.regions.splice(snap.mem.regions.findIndex((r) => r.start === NOWHERE), 1);
          expect(snap.mem.regions.length).toBe(saved);
        }
      })();
      if (process.env.DYNLINK_FUZZ_STATS) console.error(`4096 x libc: ${ms.toFixed(0)} ms, ${bytes} bytes read, ${dl.problems.length} problems`);
      expect(bytes).toBeLessThan(MAX_BYTES_READ);
      expect(ms).toBeLessThan(HANG_GUARD_MS);
      // The parse is shared; what stops it is the analysis' symbol budget, reported per object.
      expect(dl.problems.map((p) => p.error.message).join("\n")).toMatch(new RegExp(`more than ${MAX_TOTAL_SYMBOLS} dynamic symbols`));
      expect(dl.objects.length).toBe(MAX_OBJECTS);
    });

    test("l_prev not pointing back: reported, the walk goes on", () => {
      const n = nodes();
      const { dl, problems } = corrupted(() => writeWord((n[2] as bigint) + BigInt(4 * w), 0x1234n));
      expect(problems.join("\n")).toMatch(/l_prev/);
      expect(dl.objects.length).toBe(n.length);
    });

    test("r_map dangling: the mappings take over and still resolve", () => {
      const rDebug = snap.base.rDebug as bigint;
      const { dl, problems } = corrupted(() => writeWord(rDebug + BigInt(w), NOWHERE));
      expect(problems.join("\n")).toMatch(/struct link_map unreadable/);
      expect(dl.source).toBe("mappings");
      expect(dl.resolve("puts")?.address).toBe(snap.base.resolve("puts")?.address as bigint);
      expect(dl.resolve("dynlink_b_value")?.address).toBe(snap.base.resolve("dynlink_b_value")?.address as bigint);
    });

    test("bad r_version, unreadable l_name, l_ld into bytes without DT_NULL", () => {
      const n = nodes();
      expect(corrupted(() => writeU32(snap.base.rDebug as bigint, 99)).problems.join("\n")).toMatch(/r_version/);
      const name = corrupted(() => writeWord((n[2] as bigint) + BigInt(w), NOWHERE));
      expect(name.problems.join("\n")).toMatch(/l_name unreadable/);
      expect(name.dl.objects[2]?.name).toBe("");
      const dyn = corrupted(() => {
        snap.mem.add(NOWHERE, new Uint8Array(1 << 17).fill(0x41));
        writeWord((n[2] as bigint) + BigInt(2 * w), NOWHERE);
      });
      expect(dyn.problems.join("\n")).toMatch(/without DT_NULL/);
    });

    test("hash tables: huge counts, a bucket past the end, a cyclic DT_HASH chain", () => {
      const libc = obj("/libc.so.6");
      const cls = snap.input.cls;
      const gnu = dynPtr(libc, cls, DT_GNU_HASH) as bigint;
      const nb = corrupted(() => writeU32(gnu, 0xffffffff));
      expect(nb.problems.join("\n")).toMatch(/libc\.so\.6: bad gnu hash nbuckets/);
      // libc no longer provides anything; what it alone defines stays unresolved, without a crash.
      expect(nb.dl.resolve("realpath")).toBeUndefined();
      // Header: nbuckets, symoffset, bloom_size, bloom_shift; then the bloom words, then the buckets.
      const bucket = corrupted(() => writeU32(gnu + 16n + BigInt(readU32(gnu + 8n) * w), 0x7ffffff0));
      expect(bucket.problems.join("\n")).toMatch(/libc\.so\.6: gnu hash chain/);
      const libA = obj("/libdynlink_a.so");
      const sysv = dynPtr(libA, cls, DT_HASH) as bigint;
      expect(corrupted(() => writeU32(sysv + 4n, 0xffffffff)).problems.join("\n")).toMatch(/bad hash nchain/);
      const cyc = corrupted(() => {
        const nbucket = readU32(sysv);
        const nchain = readU32(sysv + 4n);
        for (let i = 0; i < nchain; i++) writeU32(sysv + 8n + BigInt((nbucket + i) * 4), i);
      });
      expect(cyc.problems).toEqual([]);
    });

    test("dynamic entries: huge DT_STRSZ and DT_VERNEEDNUM, auxv garbage, AT_PHNUM huge", () => {
      const libc = obj("/libc.so.6");
      const strsz = corrupted(() => writeWord(dynEntry(libc, DT_STRSZ) + BigInt(w), 1n << BigInt(8 * w - 2)));
      expect(strsz.problems.join("\n")).toMatch(/libc\.so\.6: DT_STRSZ too large/);
      const vn = corrupted(() => writeWord(dynEntry(libc, DT_VERNEEDNUM) + BigInt(w), 0xffffn));
      expect(vn.problems.join("\n")).toMatch(/DT_VERNEEDNUM too large/);
      const auxv = snap.input.info.auxv;
      const odd = corrupted(() => {}, { ...snap.input, info: { ...snap.input.info, auxv: auxv.subarray(0, auxv.byteLength - 3) } });
      expect(odd.problems.join("\n")).toMatch(/auxv/);
      const big = auxv.slice();
      for (let off = 0; off < big.byteLength; off += 2 * w)
        if (new DataView(big.buffer).getUint32(off, true) === AT_PHNUM) new ByteWriter(big).word(off + w, w, 0xffffffffn);
      const phnum = corrupted(() => {}, { ...snap.input, info: { ...snap.input.info, auxv: big } });
      expect(phnum.problems.join("\n")).toMatch(/AT_PHNUM/);
    });

    test("random corruption of link map, dynamic sections, hash and version tables, auxv", () => {
      const seed = Number(process.env.DYNLINK_FUZZ_SEED ?? Date.now() % 1e9);
      const budgetMs = Number(process.env.DYNLINK_FUZZ_MS ?? 4000);
      const rand = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
      const cls = snap.input.cls;
      // [address, length] of the structures the analysis reads.
      const ranges: [bigint, number][] = [[snap.base.rDebug as bigint, 2 * w]];
      for (const o of snap.base.objects) {
        if (o.linkMap !== undefined) ranges.push([o.linkMap, 5 * w]);
        ranges.push([o.dynamicAddr, o.dynamic.length * cls.dynSize]);
        const t = snap.base.tables(o);
        if (!t) continue;
        ranges.push([t.symtabAddr, Math.min(t.dynsym.byteLength, 4096)]);
        for (const tag of [DT_GNU_HASH, DT_HASH, 0x6ffffffe, 0x6ffffffc, 0x6ffffff0]) {
          const p = dynPtr(o, cls, tag);
          if (p !== undefined) ranges.push([p, 256]);
        }
      }
      const pointers = [0n, 1n, NOWHERE, ...ranges.map((r) => r[0]), (1n << BigInt(8 * w)) - 1n];
      let runs = 0;
      let worst = 0;
      let reported = 0;
      const failures: string[] = [];
      const t0 = performance.now();
      // The budget, and never fewer than 20 runs: a loaded machine takes longer, it does not fail.
      while (performance.now() - t0 < budgetMs || runs <= 20) {
        const log: string[] = [];
        let auxv = snap.input.info.auxv;
        try {
          const { ms, dl, bytes } = (() => {
            const saved = snap.mem.regions.map((r) => ({ r, copy: r.bytes.slice() }));
            try {
              for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
                const [addr, len] = pick(ranges);
                const off = BigInt(Math.floor((rand() * Math.max(1, len - w)) / w) * w);
                const at = addr + off;
                const how = rand();
                if (how < 0.15) {
                  auxv = auxv.slice();
                  const i = Math.floor(rand() * auxv.byteLength);
                  auxv[i] = Math.floor(rand() * 256);
                  log.push(`auxv[${i}]`);
                } else if (how < 0.5) {
                  const v = pick(pointers) + BigInt(Math.floor(rand() * 64) * w);
                  writeWord(at, v);
                  log.push(`word 0x${at.toString(16)} = 0x${v.toString(16)}`);
                } else if (how < 0.75) {
                  const v = pick([0, 1, 0xffffffff, 0x7fffffff, 0x10000, Math.floor(rand() * 2 ** 32)]);
                  writeU32(at, v);
                  log.push(`u32 0x${at.toString(16)} = ${v}`);
                } else {
                  const b = snap.mem.window(at, 1);
                  b[0] = (b[0] ?? 0) ^ (1 << Math.floor(rand() * 8));
                  log.push(`flip 0x${at.toString(16)}`);
                }
              }
              return fullRun({ ...snap.input, info: { ...snap.input.info, auxv } });
            } finally {
              for (const { r, copy } of saved) r.bytes.set(copy);
            }
          })();
          worst = Math.max(worst, ms);
          if (dl.problems.length > 0) reported++;
          if (bytes > MAX_BYTES_READ || ms > HANG_GUARD_MS) failures.push(`too much work (${bytes} bytes read, ${ms.toFixed(0)} ms): ${log.join("; ")}`);
        } catch (e) {
          failures.push(`${String(e)}: ${log.join("; ")}`);
        }
        runs++;
      }
      if (process.env.DYNLINK_FUZZ_STATS) console.error(`dynlink fuzz seed ${seed}: ${runs} runs, ${reported} reported problems, worst ${worst.toFixed(0)} ms`);
      expect(failures.slice(0, 5).map((f) => `seed ${seed}: ${f}`)).toEqual([]);
      expect(runs).toBeGreaterThan(20);
      // The corruptions bite: many runs end in reported problems (the rest hit unused bytes).
      expect(reported).toBeGreaterThan(runs / 5);
    });
  });
}
