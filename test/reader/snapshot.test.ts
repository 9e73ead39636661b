// EcfsFile on real snapshots of running fixtures (64-bit and i386, 9 threads; a single-thread
// non-PIE), each accessor against a source we did not write: gdb on the ET_CORE file for
// registers and FPU state, /proc/PID of the still-running fixture (exe link, cmdline,
// environ, maps, auxv, tasks, memory), eu-readelf -n for the auxiliary vector.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NT_X86_XSTATE } from "../../src/elf/consts.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { BytesSource } from "../../src/elf/source.ts";
import { EcfsFile } from "../../src/reader/ecfs.ts";
import { euReadelfNotes, gdbRegisters } from "../elf/oracles.ts";
import { type BuildOptions, killAllFixtures, taskIds, type ThreadsInfo } from "../helpers/fixtures.ts";
import { gdbCoreThreads, type GdbThreads, liveMemory } from "../helpers/oracles.ts";
import { tool } from "./compile.ts";
import { type Snapshot, snapshotFixture } from "./snapshots.ts";
import { NO_I386 } from "../helpers/machine.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-reader-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

const CASES: { title: string; fixture: string; opts: BuildOptions }[] = [
  { title: "threads x86_64", fixture: "threads", opts: { libs: ["-pthread"] } },
  { title: "threads i386", fixture: "threads", opts: { m32: true, libs: ["-pthread"] } },
  { title: "patterns x86_64 non-PIE", fixture: "patterns", opts: { pie: false } },
];

/**
 * A copy of `core` whose NT_X86_XSTATE notes carry an unknown type. gdb prefers that note
 * for FPU state and, on CPUs whose XSAVE layout it does not expect (README, "Known limits"),
 * then shows <unavailable>; without it gdb decodes NT_PRFPREG / NT_PRXFPREG itself.
 */
function withoutXstate(core: string): string {
  const bytes = new Uint8Array(readFileSync(core));
  const elf = ElfFile.open(new BytesSource(bytes));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const n of elf.notes()) if (n.type === NT_X86_XSTATE) dv.setUint32(n.offset + 8, 0x7fff0202, true);
  const out = `${core}.noxstate`;
  writeFileSync(out, bytes);
  return out;
}

/** /proc/PID/maps lines as [start, end, path]. */
function liveMaps(pid: number): { start: bigint; end: bigint; path: string }[] {
  return readFileSync(`/proc/${pid}/maps`, "utf8").trim().split("\n").map((l) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(l)!;
    return { start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), path: m[3]! };
  });
}

for (const c of CASES) {
  describe.skipIf(c.opts.m32 === true && NO_I386)(`EcfsFile on a snapshot of ${c.title}`, () => {
    let s: Snapshot<ThreadsInfo>;
    let f: EcfsFile;
    let none: EcfsFile;
    let gdb: GdbThreads;
    beforeAll(async () => {
      s = await snapshotFixture<ThreadsInfo>(work, c.fixture, c.opts);
      f = EcfsFile.open(s.core);
      none = EcfsFile.open(s.none);
      gdb = gdbCoreThreads(s.exe, s.core);
    });
    afterAll(async () => {
      f?.close();
      none?.close();
      await s?.fx.kill();
    });
    const pid = () => s.fx.pid;

    test("opens as ET_CORE and as ET_NONE, of the fixture's class", () => {
      expect(f.elf.header.e_type).toBe(4);
      expect(none.elf.header.e_type).toBe(0);
      expect(f.cls.word).toBe(c.opts.m32 ? 4 : 8);
      expect(none.prstatus()).toEqual(f.prstatus());
    });

    test("exePath, psargs, argv, environ and maps are what /proc/PID shows", () => {
      expect(f.exePath()).toBe(readlinkSync(`/proc/${pid()}/exe`));
      const cmdline = readFileSync(`/proc/${pid()}/cmdline`);
      const psargs = cmdline.toString("latin1").replaceAll("\0", " ").slice(0, 79);
      expect(f.psargs()).toBe(psargs);
      expect(f.argv()).toEqual(cmdline.toString("utf8").split("\0").slice(0, -1));
      expect(f.environ()).toEqual(readFileSync(`/proc/${pid()}/environ`, "utf8").split("\0").filter((e) => e !== ""));
      expect(f.maps()).toBe(readFileSync(`/proc/${pid()}/maps`, "utf8"));
    });

    test("personality matches the executable (readelf -h / -l)", () => {
      const p = f.personality();
      expect(p.pie).toBe(/Type:\s+DYN/.test(tool("readelf", ["-h", s.exe])));
      expect(p.static).toBe(!/INTERP/.test(tool("readelf", ["-l", "-W", s.exe])));
      expect(p.stripped).toBe(false);
      expect(p.locsym).toBe(false);
    });

    test("threadCount and the thread ids are the tasks of /proc/PID/task, leader first", () => {
      expect(f.threadCount()).toBe(taskIds(pid()).length);
      expect(f.prstatus().map((t) => t.tid).sort((a, b) => a - b)).toEqual(taskIds(pid()));
      expect(f.prstatus()[0]!.tid).toBe(pid());
    });

    test("every register of every thread is what gdb reads from the ET_CORE file", () => {
      let compared = 0;
      for (const t of f.prstatus()) {
        const g = gdb.threads.get(t.tid);
        expect(g).toBeDefined();
        for (const [name, value] of Object.entries(t.regs as Record<string, bigint>)) {
          const want = g!.regs.get(name);
          if (want === undefined) continue; // gdb has no fs_base/gs_base for i386
          expect([t.tid, name, value]).toEqual([t.tid, name, want]);
          compared++;
        }
        expect(t.pc).toBe(g!.regs.get(t.arch === "x86_64" ? "rip" : "eip")!);
        expect(t.sp).toBe(g!.regs.get(t.arch === "x86_64" ? "rsp" : "esp")!);
      }
      expect(compared).toBeGreaterThanOrEqual(f.threadCount() * (c.opts.m32 ? 17 : 27));
    });

    test("fpregs: fctrl, fstat (and mxcsr on x86_64) are gdb's", () => {
      const names = c.opts.m32 ? ["fctrl", "fstat"] : ["fctrl", "fstat", "mxcsr"];
      const g = gdbRegisters(s.exe, withoutXstate(s.core), names);
      const fp = f.fpregs();
      expect(fp.length).toBe(f.threadCount());
      f.prstatus().forEach((t, i) => {
        const r = fp[i]!;
        const want = g.get(t.tid)!;
        expect([t.tid, BigInt(r.cwd), BigInt(r.swd)]).toEqual([t.tid, want.get("fctrl")!, want.get("fstat")!]);
        if (r.kind === "fxsave") expect(BigInt(r.mxcsr)).toBe(want.get("mxcsr")!);
        expect(r.kind).toBe(c.opts.m32 ? "fsave" : "fxsave");
      });
    });

    // i386's .fpregset is FSAVE, which has no xmm registers.
    if (!c.opts.m32) test("fpregs: xmm0-xmm15 of every thread are eu-readelf's FPREGSET notes", () => {
      const eu: bigint[][] = [];
      for (const line of tool("eu-readelf", ["-n", s.core]).split("\n")) {
        if (/^\s+CORE\s+\d+\s+FPREGSET$/.test(line)) eu.push([]);
        const m = /^\s+xmm(\d+):\s+0x([0-9a-f]{32})$/.exec(line);
        if (m && eu.length > 0) eu.at(-1)![Number(m[1])] = BigInt(`0x${m[2]}`);
      }
      const le = (b: Uint8Array) => b.reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);
      const ours = f.fpregs().map((r) => (r.kind === "fxsave" ? r.xmm.map(le) : []));
      expect(eu.length).toBe(f.threadCount());
      expect(ours).toEqual(eu);
    });

    test("siginfo of a snapshot: no signal, no fault address (gdb's $_siginfo agrees)", () => {
      expect(f.siginfo()).toEqual({ signo: 0, errno: 0, code: 0 });
      expect(f.faultAddress()).toBeUndefined();
      expect(tool("gdb", ["-batch", "-nx", "-ex", "p $_siginfo.si_signo", s.exe, s.core])).toContain("= 0");
    });

    test("auxv: the bytes of /proc/PID/auxv, decoded as eu-readelf -n decodes them", () => {
      const raw = new Uint8Array(readFileSync(`/proc/${pid()}/auxv`));
      const pair = 2 * f.cls.word;
      const auxv = f.auxv();
      expect(f.sectionData(".auxvector")).toEqual(raw.subarray(0, (auxv.length + 1) * pair));
      const eu = euReadelfNotes(s.core).find((n) => n.type === "AUXV")!.auxv.filter((a) => a.name !== "NULL");
      expect(auxv.length).toBe(eu.length);
      auxv.forEach((a, i) => {
        const e = eu[i]!;
        if (/^\d+$/.test(e.name)) expect(a.type).toBe(BigInt(e.name));
        else expect(a.name).toBe(`AT_${e.name}`);
        expect(a.value).toBe(BigInt(e.value));
      });
    });

    test("memoryAt: every patterned region and the executable's text are /proc/PID/mem's bytes", () => {
      const regions = s.fx.info.regions ?? [];
      expect(regions.length).toBeGreaterThan(2);
      for (const r of regions) expect([r.name, f.memoryAt(r.addr, r.len)]).toEqual([r.name, liveMemory(pid(), r.addr, r.len)]);
      const text = f.section("._TEXT")!;
      expect(f.memoryAt(text.sh_addr, 4096)).toEqual(liveMemory(pid(), text.sh_addr, 4096));
      // A read across two adjacent mappings (the executable's) goes through two PT_LOADs.
      const maps = liveMaps(pid());
      const i = maps.findIndex((m, k) => k > 0 && maps[k - 1]!.end === m.start && m.path === s.exe && maps[k - 1]!.path === s.exe);
      expect(i).toBeGreaterThan(0);
      expect(f.memoryAt(maps[i]!.start - 32n, 64)).toEqual(liveMemory(pid(), maps[i]!.start - 32n, 64));
    });

    test("stack(), heap() and threadStacks() are the mappings /proc/PID/maps shows, holding each thread's sp", () => {
      const maps = liveMaps(pid());
      const stack = f.stack()!;
      const live = maps.find((m) => m.path === "[stack]")!;
      expect([stack.addr, stack.size]).toEqual([live.start, live.end - live.start]);
      const heap = f.heap()!;
      const liveHeap = maps.find((m) => m.path === "[heap]");
      expect([heap.addr, heap.size]).toEqual(liveHeap ? [liveHeap.start, liveHeap.end - liveHeap.start] : [0n, 0n]);
      const main = s.fx.info.regions?.find((r) => r.name === "stack.main" || r.name === "stack")!;
      const off = Number(main.addr - stack.addr);
      expect(stack.bytes().subarray(off, off + main.len)).toEqual(liveMemory(pid(), main.addr, main.len));
      const stacks = f.threadStacks();
      expect(stacks.map((t) => t.tid).sort((a, b) => a - b)).toEqual(taskIds(pid()));
      for (const t of f.prstatus()) {
        const st = stacks.find((x) => x.tid === t.tid)!;
        expect(t.sp >= st.addr && t.sp < st.addr + st.size).toBe(true);
        expect(maps.some((m) => m.start === st.addr && m.end === st.addr + st.size)).toBe(true);
      }
    });

    test("shlibMappings: each is a mapping of a shared library in /proc/PID/maps", () => {
      const maps = liveMaps(pid());
      const libs = f.shlibMappings();
      if (c.fixture === "threads") expect(libs.length).toBeGreaterThan(0);
      for (const l of libs) {
        const m = maps.find((x) => x.start === l.addr);
        expect(m).toBeDefined();
        expect(m!.end - m!.start).toBe(l.size);
        expect(l.name.startsWith(m!.path.split("/").pop()!)).toBe(true);
        expect(l.kind).toBe("shlib");
      }
    });

    test("prpsinfo and NT_FILE: pid, uid and the executable's mappings", () => {
      const p = f.prpsinfo()!;
      expect([p.pr_pid, p.pr_uid]).toEqual([pid(), process.getuid!()]);
      const exeMaps = liveMaps(pid()).filter((m) => m.path === s.exe);
      expect(f.ntFile()!.entries.filter((e) => e.path === s.exe).map((e) => [e.start, e.end])).toEqual(exeMaps.map((m) => [m.start, m.end]));
      expect(f.loadBase()).toBe(f.personality().pie ? exeMaps[0]!.start : 0n);
    });
  });
}
