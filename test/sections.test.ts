// The full ECFS section set on real processes, judged by readelf, objdump and the live
// process's memory: every section that views memory holds, at its sh_offset, exactly the
// bytes the process has at its sh_addr; .symtab has one symbol per FDE of the executable.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture, type BuildOptions, type PatternsInfo, type RunningFixture } from "./helpers/fixtures.ts";
import { liveMemory, readelfCheck, runGdb } from "./helpers/oracles.ts";
import { withoutSectionHeaders } from "./helpers/elfedit.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { NO_I386 } from "./helpers/machine.ts";
import { readelfDynamic, readelfPhdrs, readelfSections, readelfSymbols, type ReadelfSection } from "./elf/oracles.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-sections-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

interface Case {
  title: string;
  opts: BuildOptions;
  noShdrs?: boolean;
  /** Sections that must be there. */
  expect: string[];
}

/** .personality (docs/FORMAT.md 7): 0x2 static, 0x4 PIE, 0x100 no section headers. */
function personalityOf(c: Case): number {
  const o = c.opts;
  return (o.static || o.staticPie ? 0x2 : 0) | (o.pie !== false && !o.static ? 0x4 : 0) | (c.noShdrs ? 0x100 : 0);
}

const DYNAMIC64 = [".interp", ".dynsym", ".dynstr", ".rela.dyn", ".rela.plt", ".init", ".plt", ".text", ".fini", ".eh_frame_hdr", ".eh_frame", ".init_array", ".fini_array", ".ctors", ".dtors", ".dynamic", ".got.plt", ".data", ".bss"];
const DYNAMIC32 = DYNAMIC64.map((s) => s.replace(".rela.", ".rel."));
const ECFS = ["._TEXT", "._DATA", ".heap", ".stack", ".vdso", ".vsyscall", ".prstatus", ".fpregset", ".siginfo", ".auxvector", ".exepath", ".personality", ".arglist", ".symtab", ".strtab", ".shstrtab", ".note.core"];
const STATIC = [".text", ".eh_frame", ".init_array", ".fini_array", ".data", ".bss"];

const CASES: Case[] = [
  { title: "PIE, -z separate-code", opts: { separateCode: true }, expect: [...DYNAMIC64, ...ECFS, "libc.so.6.text"] },
  { title: "non-PIE, -z noseparate-code", opts: { pie: false, separateCode: false }, expect: [...DYNAMIC64, ...ECFS, "libc.so.6.text"] },
  { title: "IBT PLT (.plt.sec)", opts: { libs: ["-fcf-protection=full", "-Wl,-z,ibtplt"] }, expect: [...DYNAMIC64, ".plt.sec", ...ECFS] },
  // ld merges .got.plt into .got; ECFS readers still want .got.plt at DT_PLTGOT.
  { title: "-z now", opts: { libs: ["-Wl,-z,now"] }, expect: [...DYNAMIC64, ".got", ...ECFS] },
  { title: "static", opts: { static: true }, expect: [...STATIC, ...ECFS] },
  { title: "static-pie", opts: { staticPie: true }, expect: [...STATIC, ".dynamic", ".rela.dyn", ...ECFS] },
  { title: "stripped", opts: { strip: true }, expect: [...DYNAMIC64, ...ECFS] },
  {
    title: "no section headers", opts: {}, noShdrs: true,
    expect: [".interp", ".gnu.hash", ".dynsym", ".dynstr", ".rela.dyn", ".rela.plt", ".plt", ".got.plt", ".init_array", ".fini_array", ".dynamic", ".eh_frame_hdr", ".eh_frame", ".bss", ...ECFS],
  },
  {
    title: "i386 without section headers", opts: { m32: true }, noShdrs: true,
    expect: [".interp", ".gnu.hash", ".dynsym", ".dynstr", ".rel.dyn", ".rel.plt", ".plt", ".got.plt", ".init_array", ".fini_array", ".dynamic", ".eh_frame_hdr", ".eh_frame", ".bss", ...ECFS.filter((s) => s !== ".vsyscall")],
  },
  { title: "i386 PIE", opts: { m32: true }, expect: [...DYNAMIC32, ...ECFS.filter((s) => s !== ".vsyscall"), "libc.so.6.text"] },
  { title: "i386 non-PIE", opts: { m32: true, pie: false }, expect: [...DYNAMIC32, ...ECFS.filter((s) => s !== ".vsyscall")] },
];

function fileBytes(path: string, offset: bigint, size: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const b = new Uint8Array(size);
    readSync(fd, b, 0, size, Number(offset));
    return b;
  } finally {
    closeSync(fd);
  }
}

/** r_offset of each JUMP_SLOT relocation of the executable, in table order (readelf -r). */
function jumpSlots(exe: string): bigint[] {
  const r = spawnSync("readelf", ["-r", "-W", exe], { encoding: "utf8" });
  return [...r.stdout.matchAll(/^([0-9a-f]+)\s+[0-9a-f]+\s+R_(?:X86_64|386)_JUMP_SLOT\b/gm)].map((m) => BigInt(`0x${m[1]}`));
}

/** Where the kernel mapped the executable's first page: its load bias for a PIE. */
function mappedBase(pid: number, exe: string): bigint {
  const line = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").find((l) => l.endsWith(` ${exe}`) && l.split(/\s+/)[2] === "00000000");
  if (!line) throw new Error(`${exe} is not mapped in ${pid}`);
  return BigInt(`0x${line.split("-")[0]}`);
}

function fdeCount(exe: string): number {
  const r = spawnSync("readelf", ["--debug-dump=frames", exe], { encoding: "utf8", maxBuffer: 64 << 20 });
  return r.stdout.split("\n").filter((l) => / FDE cie=/.test(l)).length;
}

for (const c of CASES) {
  describe.skipIf(c.opts.m32 === true && NO_I386)(`sections of ${c.title}`, () => {
    let exe = "";
    /** The same binary with its section headers (readelf needs them to list FDEs). */
    let built = "";
    let fx: RunningFixture<PatternsInfo>;
    let file = "";
    let shdrs: ReadelfSection[] = [];

    beforeAll(async () => {
      built = buildFixture("patterns", c.opts);
      exe = c.noShdrs ? withoutSectionHeaders(built) : built;
      // The kernel rewrites a thread's rseq area (cpu_id) whenever it returns to user space on
      // another CPU, as it does after the snapshot resumes it; with rseq off, memory that is
      // in a section (the static TLS block is in [heap]) stays as the snapshot saw it.
      fx = await startFixture<PatternsInfo>(exe, [], { GLIBC_TUNABLES: "glibc.pthread.rseq=0" });
      file = join(work, `${c.title.replace(/\W+/g, "_")}.ecfs`);
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", file]);
      if (r.code !== 0) throw new Error(`snapshot failed: ${r.stderr}`);
      shdrs = readelfSections(file);
    });
    afterAll(async () => {
      await fx?.kill();
    });

    test("readelf lists every expected section", () => {
      const names = new Set(shdrs.map((s) => s.name));
      expect(c.expect.filter((n) => !names.has(n))).toEqual([]);
    });

    test(".personality has the bits of this build", () => {
      const p = shdrs.find((x) => x.name === ".personality")!;
      expect(p.size).toBe(4n);
      expect(fileBytes(file, p.offset, 4)).toEqual(new Uint8Array(new Uint32Array([personalityOf(c)]).buffer));
    });

    test("every memory view holds the live process's bytes at its address", () => {
      // A view points into a PT_LOAD's bytes; resolved symbol tables (.dynsym) are our own data.
      const loads = readelfPhdrs(file).filter((p) => p.type === "LOAD");
      const inLoad = (s: ReadelfSection) => loads.some((p) => s.offset >= p.offset && s.offset < p.offset + p.filesz);
      const views = shdrs.filter((s) => s.flags.includes("A") && s.addr !== 0n && s.size > 0n && s.type !== "NOTE" && inLoad(s));
      expect(views.length).toBeGreaterThan(10);
      const wrong: string[] = [];
      for (const s of views) {
        const size = Number(s.size);
        let live: Uint8Array;
        try {
          live = liveMemory(fx.pid, s.addr, size);
        } catch (e) {
          wrong.push(`${s.name}: live memory unreadable: ${(e as Error).message}`);
          continue;
        }
        const mine = fileBytes(file, s.offset, size);
        if (!Buffer.from(mine).equals(Buffer.from(live))) wrong.push(`${s.name} at 0x${s.addr.toString(16)}`);
      }
      expect(wrong).toEqual([]);
    });

    test(".symtab has one sub_* or named FUNC symbol per FDE of the executable, in ._TEXT", () => {
      const syms = readelfSymbols(file).get(".symtab") ?? [];
      const text = shdrs.find((s) => s.name === "._TEXT")!;
      expect(syms.length - 1).toBe(fdeCount(built));
      for (const s of syms.slice(1)) {
        expect([s.name, s.ndx, s.value >= text.addr && s.value < text.addr + text.size]).toEqual([s.name, "ABS", true]);
        expect(s.name === `sub_${s.value.toString(16)}` || !s.name.startsWith("sub_")).toBe(true);
      }
    });

    test(".dynsym holds the runtime address of every import, as gdb finds it in the live process", () => {
      const dynsym = readelfSymbols(file).get(".dynsym");
      if (c.opts.static || c.opts.staticPie) return; // no imports
      expect(dynsym).toBeDefined();
      if (!dynsym) return;
      const libs = readFileSync(`/proc/${fx.pid}/maps`, "utf8").split("\n").map((l) => l.split(/\s+/)[5] ?? "").filter((p) => /\.so/.test(p));
      // An IFUNC's address is its resolver's; gdb answers with the function it selected.
      const ifuncs = new Set<string>();
      for (const lib of new Set(libs)) for (const syms of readelfSymbols(lib).values()) for (const s of syms) if (s.type === "IFUNC") ifuncs.add(s.name.replace(/@.*/, ""));
      const imports = dynsym.filter((s) => s.ndx === "UND" && s.type === "FUNC" && s.name && !ifuncs.has(s.name.replace(/@.*/, "")));
      expect(imports.length).toBeGreaterThan(3);
      const names = imports.map((s) => s.name.replace(/@.*/, ""));
      const r = runGdb(["-p", String(fx.pid)], names.map((n) => `p/x (unsigned long)&${n}`));
      const values = [...r.stdout.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => BigInt(m[1]!));
      expect(values.length).toBe(names.length);
      expect(imports.map((s, i) => [names[i], s.value.toString(16)])).toEqual(names.map((n, i) => [n, values[i]!.toString(16)]));
    });

    test("ecfs read -g: every PLT slot is resolved or still lazy, none suspicious", () => {
      if (c.opts.static || c.opts.staticPie) return; // no PLT
      const r = ecfs(["read", "-g", "--json", file]);
      expect(r.code).toBe(0);
      const entries = JSON.parse(r.stdout).pltGot as { symbol: string; status: string }[];
      expect(entries.length).toBeGreaterThan(3);
      for (const e of entries) expect([e.symbol, ["resolved", "unresolved"].includes(e.status)]).toEqual([e.symbol, true]);
    });

    test("libecfs's PLT/GOT walk: .got.plt at DT_PLTGOT, word 3 + i is the GOT slot of PLT relocation i", () => {
      if (c.opts.static || c.opts.staticPie) return; // no PLT
      // libecfs's get_pltgot_info fails without .got.plt and reads got_entry_va there, at 3 + i.
      const word = c.opts.m32 ? 4 : 8;
      const bias = c.opts.pie === false ? 0n : mappedBase(fx.pid, exe);
      const pltgot = readelfDynamic(built).find((d) => d.tag === 3n);
      const slots = jumpSlots(built);
      expect(slots.length).toBeGreaterThan(3);
      const got = shdrs.find((s) => s.name === ".got.plt");
      expect(got && [got.addr, got.size]).toEqual([BigInt(pltgot!.value) + bias, BigInt((3 + slots.length) * word)]);
      if (!got) return;
      const bytes = Buffer.from(fileBytes(file, got.offset, Number(got.size)));
      slots.forEach((at, i) => {
        expect(at + bias).toBe(got.addr + BigInt((3 + i) * word));
        expect(bytes.subarray((3 + i) * word, (4 + i) * word)).toEqual(Buffer.from(liveMemory(fx.pid, at + bias, word)));
      });
    });

    test("objdump disassembles the executable's code of the ET_NONE file", () => {
      const sec = shdrs.some((s) => s.name === ".text") ? ".text" : "._TEXT";
      const r = spawnSync("objdump", ["-d", "-j", sec, file], { encoding: "utf8", maxBuffer: 64 << 20 });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      const insns = r.stdout.split("\n").filter((l) => /^\s*[0-9a-f]+:\t/.test(l));
      expect(insns.length).toBeGreaterThan(20);
    });

    test("readelf, eu-readelf and objdump accept it (core note types aside, unknown in ET_NONE)", () => {
      const problems = readelfCheck(file).problems.filter((p) => !/Unknown note type|<unknown>: \d+$/.test(p));
      expect(problems).toEqual([]);
    });
  });
}
