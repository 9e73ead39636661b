// Symbol resolution on real processes (src/ecfs/dynlink.ts), checked against outside oracles:
// gdb attached to the live process (`info address`, `info sharedlibrary`, the GOT slots it reads),
// readelf on the files (.text addresses, relocations, the .dynsym records), and the addresses the
// target printed itself. Targets: test/ecfs/fixtures/dynlink_*.c, built per variant (64/32-bit,
// PIE/non-PIE, -z now/lazy), plus LD_PRELOAD, a cleared DT_DEBUG, `ld.so prog`, and static.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { type DynlinkInput, DynamicLinking, type LoadedObject, type ResolvedSymbol } from "../../src/ecfs/dynlink/dynlink.ts";
import { SHN_UNDEF } from "../../src/elf/consts.ts";
import { ElfFile, parseSymbols } from "../../src/elf/reader.ts";
import { FileSource } from "../../src/elf/source.ts";
import type { ProcessImage } from "../../src/model/image.ts";
import { findMapping, readMaps } from "../../src/proc/maps.ts";
import {
  buildFixture, type DlopenerInfo, type FixtureInfo, killAllFixtures, type RunningFixture, startFixture,
} from "../helpers/fixtures.ts";
import {
  type BuildVariant, buildDynlink, gdbLive, liveInput, parseInfoAddress, parseSharedLibrary, relocations, sectionAddrs,
} from "./dynlink-live.ts";
import { NO_I386 } from "../helpers/machine.ts";

afterAll(killAllFixtures);

// A ProcessImage is a valid input (checked by tsc): the snapshot pipeline can pass its image as is.
void ((image: ProcessImage): DynlinkInput => image);

type TargetInfo = FixtureInfo & { a: number; environ: bigint; stdout: bigint; malloc: bigint; puts: bigint };

const hex = (v: bigint | undefined): string => (v === undefined ? "-" : `0x${v.toString(16)}`);
const canon = (p: string): string => realpathSync(p);

/** One started target with its analysis and one gdb run's worth of answers. */
interface Session {
  fx: RunningFixture<TargetInfo>;
  dl: DynamicLinking;
  exe: LoadedObject;
  refs: ResolvedSymbol[];
  gdb: { solibs: ReturnType<typeof parseSharedLibrary>; addr: Map<string, bigint | undefined>; got: Map<bigint, bigint> };
  exeStart: bigint;
}

async function startSession(binary: string, v: BuildVariant, env: Record<string, string> = {}, args: string[] = []): Promise<Session> {
  const fx = await startFixture<TargetInfo>(binary, args, env);
  try {
    return sessionOf(fx, binary, v);
  } catch (e) {
    await fx.kill();
    throw e;
  }
}

function sessionOf(fx: RunningFixture<TargetInfo>, binary: string, v: BuildVariant): Session {
  const input = liveInput(fx.pid);
  let dl: DynamicLinking;
  try {
    dl = DynamicLinking.analyze(input);
  } finally {
    input.close();
  }
  const exe = dl.executable;
  if (!exe) throw new Error("no executable found");
  const refs = dl.resolvedSymbols(exe).filter((r) => r.undefined);
  // Where the executable's file offset 0 is mapped: the base for its relocation offsets.
  const exeMap = input.mappings.find((m) => m.offset === 0n && m.path === exe.name);
  if (!exeMap) throw new Error("executable not mapped");
  const exeStart = v.pie === false ? 0n : exeMap.start;
  const names = [...refs.map((r) => r.name), "stdout", "environ"];
  const queries = names.flatMap((n) => {
    const r = refs.find((x) => x.name === n);
    return r?.version ? [`info address ${n}@${r.version}`, `info address ${n}`] : [`info address ${n}`];
  });
  const slots = relocations(binary).filter((r) => /_(GLOB_DAT|JUMP_SLOT)$/.test(r.type));
  const word = v.m32 ? "w" : "g";
  const out = gdbLive(fx.pid, ["info sharedlibrary", ...queries, ...slots.map((s) => `x/1${word}x ${hex(exeStart + s.offset)}`)]);
  const addr = new Map<string, bigint | undefined>();
  queries.forEach((q, i) => addr.set(q.slice("info address ".length), parseInfoAddress(out[1 + i] ?? "")));
  const got = new Map<bigint, bigint>();
  slots.forEach((s, i) => {
    const m = /:\s+(0x[0-9a-f]+)/.exec(out[1 + queries.length + i] ?? "");
    if (m?.[1]) got.set(s.offset, BigInt(m[1]));
  });
  return { fx, dl, exe, refs, gdb: { solibs: parseSharedLibrary(out[0] ?? ""), addr, got }, exeStart };
}

/** gdb's answer for a reference: the versioned minimal symbol if gdb has one, else the plain name. */
function gdbAnswer(s: Session, r: ResolvedSymbol): bigint | undefined {
  const versioned = r.version === undefined ? undefined : s.gdb.addr.get(`${r.name}@${r.version}`);
  return versioned ?? s.gdb.addr.get(r.name);
}

const VARIANTS: BuildVariant[] = [
  { pie: true, now: false },
  { pie: true, now: true },
  { pie: false, now: true },
  { pie: false, now: false },
  { m32: true, pie: true, now: false },
  { m32: true, pie: false, now: true },
];

for (const v of VARIANTS) {
  const name = `${v.m32 ? "i386" : "x86_64"} ${v.pie === false ? "non-PIE" : "PIE"} ${v.now ? "-z now" : "lazy"}`;
  describe.skipIf(v.m32 === true && NO_I386)(`dynlink_target ${name}`, () => {
    const build = buildDynlink(v);
    let s: Session;
    beforeAll(async () => {
      s = await startSession(build.target, v);
    });
    afterAll(async () => {
      await s?.fx.kill();
    });

    test("link map read through DT_DEBUG, no problems", () => {
      expect(s.dl.problems.map((p) => `${p.where}: ${p.error.message}`)).toEqual([]);
      expect(s.dl.source).toBe("DT_DEBUG");
      expect(s.exe).toBe(s.dl.objects[0] as LoadedObject);
      expect(s.exe.base).toBe(s.exeStart);
    });

    test("objects equal gdb's info sharedlibrary: names, order, .text addresses", () => {
      const libs = s.dl.objects.filter((o) => !o.isExecutable && !o.isVdso);
      expect(libs.map((o) => o.name)).toEqual(s.gdb.solibs.map((g) => g.name));
      for (const [i, o] of libs.entries()) {
        const text = sectionAddrs(o.name).get(".text");
        expect(text).toBeDefined();
        expect(hex(o.base + (text ?? 0n))).toBe(hex(s.gdb.solibs[i]?.from));
      }
      // The vDSO is in the link map but not in the lookup scope.
      expect(s.dl.objects.filter((o) => o.isVdso).length).toBe(1);
      expect(s.dl.scope.some((o) => o.isVdso)).toBe(false);
    });

    test("breadth-first order: libdynlink_b after libc, so getpid binds to libc", () => {
      const pos = (p: string): number => s.dl.objects.findIndex((o) => o.name.endsWith(p));
      expect(pos("/libdynlink_a.so")).toBeLessThan(pos("/libc.so.6"));
      expect(pos("/libc.so.6")).toBeLessThan(pos("/libdynlink_b.so"));
      expect(s.fx.info.pid).toBe(s.fx.pid); // the program's own getpid() call went to libc
      expect(s.refs.find((r) => r.name === "getpid")?.definedBy?.name).toMatch(/\/libc\.so\.6$/);
      expect(s.dl.resolve("dynlink_b_value")?.object.name).toBe(build.libB);
      expect(s.fx.info.a).toBe(42);
      // Both hash-table kinds were used: libdynlink_a has only DT_HASH, libdynlink_b both (GNU wins).
      const kind = (p: string): string | undefined => s.dl.tables(s.dl.objects.find((o) => o.name === p) as LoadedObject)?.hash.kind;
      expect([kind(build.libA), kind(build.libB)]).toEqual(["sysv", "gnu"]);
      expect(s.refs.find((r) => r.name === "dynlink_a_value")?.definedBy?.name).toBe(build.libA);
      expect(s.dl.resolve("dynlink_b_value", undefined, s.dl.objects.find((o) => o.name === build.libA))?.object.name).toBe(build.libB);
    });

    test("every undefined .dynsym entry resolves where gdb says", () => {
      expect(s.refs.length).toBeGreaterThan(15);
      expect(s.refs.filter((r) => gdbAnswer(s, r) !== undefined).length).toBeGreaterThanOrEqual(12);
      const diffs: string[] = [];
      for (const r of s.refs) {
        const want = gdbAnswer(s, r);
        // gdb knows no address for an import nothing defines (weak __gmon_start__, _ITM_*, ...).
        const got = r.definedBy === undefined ? undefined : r.address;
        if (got !== want) diffs.push(`${r.name}@${r.version ?? ""}: ours ${hex(got)} gdb ${hex(want)}`);
      }
      expect(diffs).toEqual([]);
      // A non-PIE link resolves the weak import to 0 itself; a PIE keeps it as an import.
      const weak = s.refs.find((r) => r.name === "ecfs_no_such_symbol");
      if (weak || v.pie !== false) expect([weak?.address, weak?.definedBy]).toEqual([0n, undefined]);
    });

    test("GOT slots hold the resolved addresses (IFUNCs: what their resolver chose, in the same object)", () => {
      const lazy = !v.now;
      const maps = readMaps(s.fx.pid);
      let checked = 0;
      for (const rel of relocations(build.target)) {
        if (!/_(GLOB_DAT|JUMP_SLOT)$/.test(rel.type)) continue;
        // Lazy binding leaves JUMP_SLOTs of functions not yet called pointing into the PLT.
        if (lazy && rel.type.endsWith("JUMP_SLOT")) continue;
        const r = s.dl.resolvedSymbols(s.exe).find((x) => x.name === rel.sym && x.version === rel.version);
        const slot = s.gdb.got.get(rel.offset);
        expect(r).toBeDefined();
        expect(slot).toBeDefined();
        if (!r || slot === undefined) continue;
        if (r.ifunc) {
          expect(slot).not.toBe(r.address);
          expect(canon(findMapping(maps, slot)?.path ?? "")).toBe(canon(r.definedBy?.name ?? ""));
        } else expect(`${rel.sym} ${hex(slot)}`).toBe(`${rel.sym} ${hex(r.address)}`);
        checked++;
      }
      expect(checked).toBeGreaterThan(lazy ? 1 : 10);
    });

    test("data: stdout and environ are what the program sees (copy relocations: the executable's copy)", () => {
      for (const n of ["stdout", "environ"] as const) {
        const d = s.dl.resolve(n);
        expect(hex(d?.address)).toBe(hex(s.fx.info[n]));
        expect(hex(d?.address)).toBe(hex(s.gdb.addr.get(n)));
      }
      const copies = relocations(build.target).filter((r) => r.type.endsWith("_COPY"));
      for (const c of copies) {
        const d = s.dl.resolve(c.sym, c.version);
        expect(d?.object).toBe(s.exe);
        expect(hex(d?.address)).toBe(hex(s.exeStart + c.offset));
      }
      // x86_64 executables (PIE too) copy-relocate stdout; i386 PIE reads it through the GOT.
      if (!v.m32 || v.pie === false) expect(copies.map((c) => c.sym)).toContain("stdout");
    });

    test("versions: the old realpath is bound, the default one is what dlsym would give", () => {
      const old = s.refs.find((r) => r.name === "realpath");
      expect(old?.version).toBe(v.m32 ? "GLIBC_2.0" : "GLIBC_2.2.5");
      const dflt = s.dl.resolve("realpath");
      expect(dflt?.version).toBe("GLIBC_2.3");
      expect(dflt?.address).not.toBe(old?.address);
      expect(s.dl.resolve("realpath", old?.version)?.address).toBe(old?.address as bigint);
      // Relocation semantics for an unversioned reference: the oldest version still matches.
      expect(s.dl.resolve("realpath", undefined, undefined, { newest: false })?.address).toBe(old?.address as bigint);
      if (!v.m32) {
        const mc = s.refs.find((r) => r.name === "memcpy");
        expect(mc?.version).toBe("GLIBC_2.2.5");
        expect(mc?.ifunc).toBe(false);
        const dmc = s.dl.resolve("memcpy");
        expect([dmc?.version, dmc?.ifunc]).toEqual(["GLIBC_2.14", true]);
      }
    });

    test("resolvedDynsym: a copy of .dynsym with runtime st_value, other fields as in the file", () => {
      const f = ElfFile.open(FileSource.open(build.target));
      const sec = f.sectionByName(".dynsym");
      expect(sec).toBeDefined();
      if (!sec) return;
      const fileSyms = f.symbols(sec);
      const bytes = s.dl.resolvedDynsym(s.exe);
      expect(bytes.byteLength).toBe(fileSyms.length * f.cls.symSize);
      const strtab = f.sectionData(f.sections()[sec.sh_link] as NonNullable<ReturnType<typeof f.sectionByName>>);
      const ours = parseSymbols(bytes, strtab, f.cls);
      const byIndex = new Map(s.dl.resolvedSymbols(s.exe).map((r) => [r.index, r]));
      for (const [i, fs] of fileSyms.entries()) {
        const o = ours[i];
        expect(o && [o.name, o.st_info, o.st_other, o.st_shndx, o.st_size]).toEqual([fs.name, fs.st_info, fs.st_other, fs.st_shndx, fs.st_size]);
        if (i === 0) expect(o?.st_value).toBe(0n);
        else if (fs.st_shndx === SHN_UNDEF) expect(hex(o?.st_value)).toBe(hex(byIndex.get(i)?.address));
        else expect(hex(o?.st_value)).toBe(hex(fs.st_value + s.exe.base));
      }
    });
  });
}

for (const m32 of [false, true]) {
  describe.skipIf(m32 && NO_I386)(`LD_PRELOAD (${m32 ? "i386" : "x86_64"})`, () => {
    const v: BuildVariant = { m32, pie: true, now: true };
    const build = buildDynlink(v);
    let s: Session;
    beforeAll(async () => {
      s = await startSession(build.target, v, { LD_PRELOAD: build.preload });
    });
    afterAll(async () => {
      await s?.fx.kill();
    });

    test("the preloaded object comes right after the executable in the scope, and wins", () => {
      expect(s.dl.problems).toEqual([]);
      expect(s.dl.scope[1]?.name).toBe(build.preload);
      for (const n of ["malloc", "puts"] as const) {
        const r = s.refs.find((x) => x.name === n);
        expect(r?.definedBy?.name).toBe(build.preload);
        expect(hex(r?.address)).toBe(hex(s.fx.info[n]));
        expect(hex(r?.address)).toBe(hex(gdbAnswer(s, r as ResolvedSymbol)));
      }
      // libc's own references to malloc bind to the preload too (it is earlier in the global scope).
      const libc = s.dl.objects.find((o) => o.name.endsWith("/libc.so.6"));
      expect(libc).toBeDefined();
      expect(s.dl.resolve("malloc", undefined, libc)?.object.name).toBe(build.preload);
      expect(s.dl.resolve("free")?.object).toBe(libc as LoadedObject);
      expect(s.dl.objects.filter((o) => !o.isExecutable && !o.isVdso).map((o) => o.name)).toEqual(s.gdb.solibs.map((g) => g.name));
    });
  });
}

describe("DT_DEBUG cleared by the target: r_debug found through ld.so's _r_debug", () => {
  for (const m32 of [false, true])
    test.skipIf(m32 && NO_I386)(m32 ? "i386" : "x86_64", async () => {
      const v: BuildVariant = { m32, pie: true, now: false };
      const build = buildDynlink(v);
      const fx = await startFixture<TargetInfo>(build.target, ["--clear-dt-debug"]);
      try {
        const input = liveInput(fx.pid);
        const dl = DynamicLinking.analyze(input);
        input.close();
        expect(dl.problems).toEqual([]);
        expect(dl.source).toBe("_r_debug");
        // gdb itself finds only ld.so here (it relies on DT_DEBUG too), so the kernel's list of
        // mapped files is the oracle: every file mapped at offset 0 but the executable.
        const mapped = new Set(input.mappings.filter((m) => m.offset === 0n && m.path.startsWith("/") && m.path !== build.target).map((m) => canon(m.path)));
        expect(new Set(dl.objects.filter((o) => !o.isExecutable && !o.isVdso).map((o) => canon(o.name)))).toEqual(mapped);
        expect(dl.objects.length).toBe(mapped.size + 2);
        expect(hex(dl.resolve("malloc")?.address)).toBe(hex(fx.info.malloc));
        expect(hex(dl.resolve("puts")?.address)).toBe(hex(fx.info.puts));
      } finally {
        await fx.kill();
      }
    });
});

describe("a program run as `ld.so PROGRAM`: the main map is the program, not /proc/PID/exe", () => {
  for (const m32 of [false, true])
    test.skipIf(m32 && NO_I386)(m32 ? "i386" : "x86_64", async () => {
      const build = buildDynlink({ m32, pie: true, now: false });
      const ldso = m32 ? "/lib/ld-linux.so.2" : "/lib64/ld-linux-x86-64.so.2";
      const fx = await startFixture<TargetInfo>(ldso, [build.target]);
      try {
        const input = liveInput(fx.pid);
        expect(canon(input.info.exe)).toBe(canon(ldso));
        const dl = DynamicLinking.analyze(input);
        input.close();
        expect(dl.problems).toEqual([]);
        expect(dl.source).toBe("_r_debug");
        expect(dl.executable?.name).toBe(build.target);
        expect(dl.scope.map((o) => o.name)).toContain(ldso);
        const refs = dl.resolvedSymbols(dl.executable as LoadedObject);
        expect(hex(refs.find((r) => r.name === "malloc")?.address)).toBe(hex(fx.info.malloc));
        expect(hex(refs.find((r) => r.name === "puts")?.address)).toBe(hex(fx.info.puts));
        expect(hex(dl.resolve("stdout")?.address)).toBe(hex(fx.info.stdout));
      } finally {
        await fx.kill();
      }
    });
});

test("a dlopen'd (RTLD_LOCAL) library: in the link map, outside the global scope, found from itself", async () => {
  const lib = buildFixture("libinject", { shared: true });
  const fx = await startFixture<DlopenerInfo>(buildFixture("dlopener", { libs: ["-ldl"] }), [lib]);
  try {
    const input = liveInput(fx.pid);
    const dl = DynamicLinking.analyze(input);
    input.close();
    expect(dl.problems).toEqual([]);
    const inject = dl.objects.find((o) => o.name === lib);
    expect(inject).toBe(dl.objects.at(-1) as LoadedObject);
    expect(dl.scope).not.toContain(inject as LoadedObject);
    expect(dl.scope.map((o) => o.name)).toContain(dl.objects.find((o) => o.name.endsWith("/libc.so.6"))?.name as string);
    expect(dl.resolve("inject_answer")).toBeUndefined();
    // From the library itself: its own local scope (what dlsym(handle) searched).
    expect(hex(dl.resolve("inject_answer", undefined, inject)?.address)).toBe(hex(fx.info.sym));
    const out = gdbLive(fx.pid, ["info sharedlibrary"]);
    expect(dl.objects.filter((o) => !o.isExecutable && !o.isVdso).map((o) => o.name)).toEqual(parseSharedLibrary(out[0] ?? "").map((g) => g.name));
  } finally {
    await fx.kill();
  }
});

describe("static executables", () => {
  for (const opts of [{ static: true }, { static: true, m32: true }, { staticPie: true }])
    test.skipIf("m32" in opts && NO_I386)(JSON.stringify(opts), async () => {
      const bin = buildFixture("patterns", opts);
      const fx = await startFixture(bin);
      try {
        const input = liveInput(fx.pid);
        const dl = DynamicLinking.analyze(input);
        const exeMap = input.mappings.find((m) => m.offset === 0n && m.path === bin);
        input.close();
        expect(dl.problems).toEqual([]);
        const exe = dl.executable;
        expect(exe?.name).toBe(bin);
        expect(dl.scope).toEqual([exe as LoadedObject]);
        if (opts.staticPie) {
          // A static PIE relocates itself and keeps a DT_DEBUG/r_debug for debuggers.
          expect(dl.source).toBe("DT_DEBUG");
          expect(exe?.base).toBe(exeMap?.start as bigint);
        } else {
          expect(dl.source).toBe("mappings");
          expect(exe?.base).toBe(0n);
          expect(exe?.dynamic).toEqual([]);
          expect(dl.resolvedDynsym(exe as LoadedObject).byteLength).toBe(0);
        }
        expect(dl.resolve("malloc")).toBeUndefined();
      } finally {
        await fx.kill();
      }
    });
});
