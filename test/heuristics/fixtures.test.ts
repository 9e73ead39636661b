// The heuristics (`ecfs snapshot -h`) on the heur fixture, which does one suspicious thing per
// run and prints where: the ground truth. Each case is judged by readelf (section types) and
// by `ecfs read -e --json` (the findings), in 64-bit and 32-bit builds (the latter skipped
// where the kernel cannot run i386 programs).

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type FixtureInfo, killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { NO_I386 } from "../helpers/machine.ts";
import { big, brief, GOT_VARIANTS, heurBinary, library, readelfSectionTypes, snapshotWithHeuristics, type Variant } from "./helpers.ts";

type HeurInfo = FixtureInfo & {
  hook?: { slot: bigint; symbol: string; target: bigint };
  patch?: { addr: bigint; len: number; fn: string };
  rwx?: { addr: bigint; len: number };
  map?: { header: bigint; loads: number };
  memfd?: { header: bigint; loads: number };
  dlopen?: { answer: number };
  dlmopen?: { answer: number };
  ctor?: { slot: bigint; target: bigint };
  entry?: { header: bigint; was: bigint; now: bigint };
};

const SHT_INJECTED = "0x200000";
const SHT_PRELOADED = "0x300000";
const SHT_DLOPEN = "0x400000";
const hex = (v: bigint) => `0x${v.toString(16)}`;

const work = mkdtempSync(join(tmpdir(), "ecfs-heur-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
/** Runs heur with args (and env), snapshots it with -h, and kills it. */
async function run(variant: Variant, m32: boolean, args: string[], env: Record<string, string> = {}) {
  const fx = await startFixture<HeurInfo>(heurBinary(variant, m32), args, env);
  try {
    return { info: fx.info, snap: snapshotWithHeuristics(fx.pid, join(work, `heur${n++}.ecfs`)) };
  } finally {
    await fx.kill();
  }
}

/** The mapping sections of one library (named after its file: .text, .data, .relro, .undef), from readelf. */
const sectionsOf = (sections: { name: string; type: string }[], lib: string) =>
  sections.filter((s) => s.name.startsWith(`${basename(lib)}.`) && /\.(text|data|relro|undef)(\.\d+)?$/.test(s.name));

for (const m32 of [false, true]) {
  const bits = m32 ? "i386" : "x86_64";
  describe.skipIf(m32 && NO_I386)(`heuristics on the heur fixture (${bits})`, () => {
    const libinject = library("libinject", m32);
    const libsecond = library("libsecond", m32);

    for (const [how, sep] of [["colon", ":"], ["space", " "]] as const) {
      test(`LD_PRELOAD of two libraries, ${how}-separated: both SHT_PRELOADED, no finding`, async () => {
        const { snap } = await run("lazy", m32, [], { LD_PRELOAD: `${libinject}${sep}${libsecond}` });
        expect(brief(snap.heuristics.findings)).toEqual([]);
        for (const lib of [libinject, libsecond]) {
          const secs = sectionsOf(snap.sections, lib);
          expect(secs.length).toBeGreaterThanOrEqual(2);
          expect(secs.map((s) => s.type)).toEqual(secs.map(() => SHT_PRELOADED));
          expect(snap.heuristics.objects.find((o) => o.name === lib)?.kind).toBe("preloaded");
        }
        expect(sectionsOf(snap.sections, "libc.so.6").every((s) => s.type === "SHLIB")).toBe(true);
        expect(snap.report.personality.heuristics).toBe(true);
      });
    }

    test("dlopen: SHT_DLOPEN, no finding", async () => {
      const { info, snap } = await run("lazy", m32, ["--dlopen", libinject]);
      expect(info.dlopen?.answer).toBe(0x1ec75);
      expect(brief(snap.heuristics.findings)).toEqual([]);
      const secs = sectionsOf(snap.sections, libinject);
      expect(secs.length).toBeGreaterThanOrEqual(2);
      expect(secs.every((s) => s.type === SHT_DLOPEN)).toBe(true);
    });

    test("dlmopen into a new namespace: the library and the namespace's own libc are SHT_DLOPEN, no finding", async () => {
      const { info, snap } = await run("lazy", m32, ["--dlmopen", libsecond]);
      expect(info.dlmopen?.answer).toBe(1);
      expect(brief(snap.heuristics.findings)).toEqual([]);
      expect(sectionsOf(snap.sections, libsecond).every((s) => s.type === SHT_DLOPEN)).toBe(true);
      // Two copies of libc: the base namespace's (SHLIB) and the new one's (DLOPEN).
      const libc = sectionsOf(snap.sections, "libc.so.6").filter((s) => s.name.includes(".text"));
      expect(libc.map((s) => s.type).sort()).toEqual([SHT_DLOPEN, "SHLIB"].sort());
      const ns = snap.heuristics.objects.filter((o) => (o.namespace ?? 0) > 0).map((o) => basename(o.name));
      expect(ns).toContain(basename(libsecond));
      expect(ns).toContain("libc.so.6");
    });

    test("a library with text relocations (DT_TEXTREL): its relocated code is no patched code", async () => {
      const lib = library("libtextrel", m32);
      expect(spawnSync("readelf", ["-d", lib], { encoding: "utf8" }).stdout).toMatch(/\(TEXTREL\)/);
      const { info, snap } = await run("lazy", m32, ["--dlopen", lib]);
      // 7 comes through the word ld.so wrote into .text: the code in memory differs from the file.
      expect(info.dlopen?.answer).toBe(7);
      expect(brief(snap.heuristics.findings)).toEqual([]);
    });

    for (const how of ["map", "memfd"] as const) {
      test(`a library mapped by hand${how === "memfd" ? " from a memfd" : ""}: SHT_INJECTED for each segment, one finding`, async () => {
        const { info, snap } = await run("lazy", m32, [`--${how}`, libinject]);
        const truth = info[how]!;
        expect(brief(snap.heuristics.findings)).toEqual([expect.stringContaining(`injected-object ${hex(truth.header)}`)]);
        const f = snap.heuristics.findings[0]!;
        if (how === "memfd") expect(f.object).toContain("/memfd:heur-injected");
        else expect(f.object).toBe(libinject);
        const end = truth.header + big(f.size);
        const inside = snap.sections.filter((s) => s.addr >= truth.header && s.addr < end);
        expect(inside.map((s) => s.type)).toEqual(Array(truth.loads).fill(SHT_INJECTED));
        expect(snap.sections.filter((s) => s.type === SHT_INJECTED).length).toBe(truth.loads);
      });
    }

    test("an RWX anonymous mapping with code in it: one anonymous-code finding", async () => {
      const { info, snap } = await run("lazy", m32, ["--rwx"]);
      expect(brief(snap.heuristics.findings)).toEqual([expect.stringContaining(`anonymous-code ${hex(info.rwx!.addr)}`)]);
    });

    test("a program patching the first bytes of one of its functions: that range, with the function's name", async () => {
      const { info, snap } = await run("lazy", m32, ["--patch"]);
      const p = info.patch!;
      expect(brief(snap.heuristics.findings)).toEqual([expect.stringContaining(`patched-code ${hex(p.addr)}`)]);
      const f = snap.heuristics.findings[0]!;
      expect(f.symbol).toBe(p.fn);
      expect(big(f.size)).toBe(BigInt(p.len));
      expect(f.found?.startsWith("e9")).toBe(true);
      expect(f.detail).toContain("replacement");
    });

    test(".fini_array[0] sent to an RWX page, e_entry changed in the header: both reported, with the page", async () => {
      const { info, snap } = await run("lazy", m32, ["--ctor", "--entry"]);
      const c = info.ctor!;
      const e = info.entry!;
      expect(brief(snap.heuristics.findings).sort()).toEqual([
        expect.stringContaining(`anonymous-code ${hex(c.target)}`),
        expect.stringContaining(`entry-point ${hex(e.header)}`),
        expect.stringContaining(`foreign-constructor ${hex(c.slot)}`),
      ]);
      const ctor = snap.heuristics.findings.find((f) => f.type === "foreign-constructor")!;
      expect(ctor.symbol).toBe(".fini_array[0]");
      expect(ctor.found).toStartWith(`${hex(c.target)} (anonymous`);
      const entry = snap.heuristics.findings.find((f) => f.type === "entry-point")!;
      expect(entry.detail).toContain(`e_entry ${hex(e.now)}`);
      expect(big(entry.expected!.split(" ")[0]!) - big(entry.found!.split(" ")[0]!)).toBe(e.was - e.now);
    });

    for (const variant of GOT_VARIANTS) {
      describe(`GOT slots, ${variant} build`, () => {
        test("no hook: no finding", async () => {
          const { snap } = await run(variant, m32, []);
          expect(brief(snap.heuristics.findings)).toEqual([]);
          const slots = JSON.parse(ecfs(["read", "-g", "--json", snap.file]).stdout).pltGot as { symbol: string; status: string }[];
          // Lazy builds still have getuid/getgid/getppid at their lazy stubs: unresolved slots were judged.
          if (variant === "lazy" || variant === "ibt" || variant === "nopie")
            expect(slots.filter((s) => s.status === "unresolved").map((s) => s.symbol)).toEqual(expect.arrayContaining(["getuid", "getgid", "getppid"]));
          else expect(slots.some((s) => s.status === "unresolved")).toBe(false);
        });

        test("the program overwrites its own GOT slot of getppid: exactly that slot, with the symbol", async () => {
          const { info, snap } = await run(variant, m32, ["--hook"]);
          const h = info.hook!;
          expect(brief(snap.heuristics.findings)).toEqual([expect.stringContaining(`got-hook ${hex(h.slot)}`)]);
          const f = snap.heuristics.findings[0]!;
          expect(f.symbol).toMatch(/^getppid(@|$)/);
          expect(f.found).toContain(`${hex(h.target)} (`);
          expect(f.found).toContain("my_getppid");
          expect(f.expected).toContain("libc.so.6 getppid");
        });
      });
    }

    test("a static executable: a library mapped by hand is injected (no link map), nothing else is", async () => {
      const clean = await run("static", m32, []);
      expect(brief(clean.snap.heuristics.findings)).toEqual([]);
      const { info, snap } = await run("static", m32, ["--map", libinject]);
      expect(brief(snap.heuristics.findings)).toEqual([expect.stringContaining(`injected-object ${hex(info.map!.header)}`)]);
      expect(snap.heuristics.objects.map((o) => o.kind).sort()).toEqual(["executable", "injected", "vdso"]);
    });

    test("without -h: no .heuristics, no personality bit, every library SHLIB", async () => {
      const fx = await startFixture<HeurInfo>(heurBinary("lazy", m32), ["--map", libinject, "--dlopen", libsecond]);
      try {
        const file = join(work, `noh${m32 ? 32 : 64}.ecfs`);
        const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", file]);
        expect(r.code).toBe(0);
        const sections = readelfSectionTypes(file);
        expect(sections.some((s) => s.name === ".heuristics")).toBe(false);
        expect(sectionsOf(sections, libinject).every((s) => s.type === "SHLIB")).toBe(true);
        expect(sectionsOf(sections, libsecond).every((s) => s.type === "SHLIB")).toBe(true);
        expect(JSON.parse(ecfs(["read", "-e", "--json", file]).stdout).personality.heuristics).toBe(false);
      } finally {
        await fx.kill();
      }
    });
  });
}
