// `ecfs snapshot` on real parked processes, judged by gdb, readelf, eu-readelf, objdump and
// eu-stack: every thread with the registers `gdb -p` saw, backtraces into the fixture's
// own functions, the patterns byte-exact, and the target running on untouched.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildFixture, killAllFixtures, startFixture, taskIds, taskState,
  type BuildOptions, type FixtureInfo, type RunningFixture, type ThreadsInfo,
} from "./helpers/fixtures.ts";
import {
  diffRegs, euStack, gdbCoreThreads, gdbLiveThreads, gdbReadMemoryMany, liveMemory, readelfCheck,
  type GdbThreads,
} from "./helpers/oracles.ts";
import { patternMismatch } from "./helpers/pattern.ts";
import { euReadelfNotes } from "./elf/oracles.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { kernelCoreUnavailableRegs } from "./helpers/kernelcore.ts";
import { NO_I386 } from "./helpers/machine.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-snapshot-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

interface Case {
  title: string;
  fixture: "patterns" | "threads";
  opts: BuildOptions;
  /** snapshot --low-pause: the copy is made from a fork while the target runs on. */
  lowPause?: boolean;
}

const CASES: Case[] = [
  { title: "PIE", fixture: "patterns", opts: {} },
  { title: "non-PIE", fixture: "patterns", opts: { pie: false } },
  { title: "static", fixture: "patterns", opts: { static: true } },
  { title: "stripped", fixture: "patterns", opts: { strip: true } },
  { title: "i386", fixture: "patterns", opts: { m32: true } },
  { title: "8 threads", fixture: "threads", opts: { libs: ["-pthread"] } },
  { title: "8 threads i386", fixture: "threads", opts: { m32: true, libs: ["-pthread"] } },
  { title: "PIE, --low-pause", fixture: "patterns", opts: {}, lowPause: true },
  { title: "i386, --low-pause", fixture: "patterns", opts: { m32: true }, lowPause: true },
  { title: "8 threads, --low-pause", fixture: "threads", opts: { libs: ["-pthread"] }, lowPause: true },
  { title: "8 threads i386, --low-pause", fixture: "threads", opts: { m32: true, libs: ["-pthread"] }, lowPause: true },
];

/** /proc/PID/task/TID/syscall of every thread: the blocked syscall, its arguments, sp and pc. */
function blockedSyscalls(pid: number): Map<number, string> {
  return new Map(taskIds(pid).map((tid) => [tid, readFileSync(`/proc/${pid}/task/${tid}/syscall`, "latin1").trim()]));
}

/** Registers gdb cannot take from a kernel core on this CPU either (k0-k7 with gdb 13 on AMD). */
let lostInKernelCores: Set<string>;
beforeAll(() => {
  lostInKernelCores = kernelCoreUnavailableRegs(work);
});

for (const c of CASES) {
  describe.skipIf(c.opts.m32 === true && NO_I386)(`snapshot of ${c.fixture} (${c.title})`, () => {
    let exe = "";
    /** The same program with its symbols, for gdb when the fixture is stripped. */
    let symbols = "";
    let fx: RunningFixture<FixtureInfo & Partial<ThreadsInfo>>;
    let live: GdbThreads;
    let file = "";
    let core: GdbThreads;
    let run: ReturnType<typeof ecfs>;
    let syscallsBefore: Map<number, string>;

    beforeAll(async () => {
      exe = buildFixture(c.fixture, c.opts);
      symbols = c.opts.strip ? buildFixture(c.fixture, { ...c.opts, strip: false }) : exe;
      fx = await startFixture(exe);
      live = gdbLiveThreads(fx.pid);
      file = join(work, `${c.fixture}-${c.title.replace(/\W+/g, "_")}.ecfs`);
      syscallsBefore = blockedSyscalls(fx.pid);
      run = ecfs(["snapshot", "-p", String(fx.pid), "-o", file, "--core", ...(c.lowPause ? ["--low-pause"] : [])]);
      if (run.code === 0) core = gdbCoreThreads(symbols, file);
    });
    afterAll(async () => {
      await fx?.kill();
    });

    test("exits 0, says what it wrote, and leaves no temporary file", () => {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(file);
      expect(statSync(file).size).toBeGreaterThan(0);
      expect(Bun.spawnSync(["sh", "-c", `ls -a ${work} | grep -c '\\.tmp$' || true`]).stdout.toString().trim()).toBe("0");
    });

    test("the target runs on: not traced, parked threads asleep again, patterns unchanged", async () => {
      const spinning = new Set((fx.info.threads ?? []).filter((t) => !t.blocks).map((t) => t.tid));
      // Resumed a moment ago, a thread may still be on its way back into its sleep.
      const asleep = () => taskIds(fx.pid).every((tid) => spinning.has(tid) || taskState(fx.pid, tid) === "S");
      for (const until = Date.now() + 5000; !asleep() && Date.now() < until; ) await Bun.sleep(5);
      for (const tid of taskIds(fx.pid)) {
        const status = readFileSync(`/proc/${fx.pid}/task/${tid}/status`, "latin1");
        expect(/^TracerPid:\s*(\d+)/m.exec(status)?.[1]).toBe("0");
        if (!spinning.has(tid)) expect(taskState(fx.pid, tid)).toBe("S");
        else expect(["R", "S"]).toContain(taskState(fx.pid, tid));
      }
      for (const r of fx.info.regions ?? []) expect(patternMismatch(liveMemory(fx.pid, r.addr, r.len), fx.info.seed, r)).toBe(-1);
    });

    test("every parked thread is back in the same syscall, at the same pc, with the same arguments", () => {
      // A syscall interrupted by the stop (-ERESTART*) must be restarted as the kernel would.
      const spinning = new Set((fx.info.threads ?? []).filter((t) => !t.blocks).map((t) => t.tid));
      const after = blockedSyscalls(fx.pid);
      for (const [tid, before] of syscallsBefore) {
        if (spinning.has(tid)) continue;
        expect({ tid, now: after.get(tid) }).toEqual({ tid, now: before });
        expect(before).not.toBe("running");
      }
      // A fork of the target (--low-pause) is gone, reaped: the target has no child left.
      for (const tid of taskIds(fx.pid)) expect(readFileSync(`/proc/${fx.pid}/task/${tid}/children`, "latin1").trim()).toBe("");
    });

    test("gdb finds every thread, with the registers gdb -p read from the live process", () => {
      expect([...core.threads.keys()].sort()).toEqual([...live.threads.keys()].sort());
      const spinning = new Set((fx.info.threads ?? []).filter((t) => !t.blocks).map((t) => t.tid));
      for (const [lwp, l] of live.threads) {
        const k = core.threads.get(lwp)!;
        const diff = diffRegs(l, k, { spinning: spinning.has(lwp) }).filter((d) => {
          const name = d.split(":")[0]!;
          return !(lostInKernelCores.has(name) && k.unavailable.includes(name));
        });
        expect({ lwp, diff }).toEqual({ lwp, diff: [] });
        expect(k.regs.size).toBeGreaterThan(15);
      }
    });

    test("every backtrace reaches the thread's own function and main or its start routine", () => {
      const expected = new Map<number, string>();
      for (const t of fx.info.threads ?? []) expected.set(t.tid, t.fn);
      if (expected.size === 0) expected.set(fx.pid, "park");
      for (const [lwp, fn] of expected) {
        const names = core.threads.get(lwp)!.frames.map((f) => f.fn);
        expect({ lwp, has: names.includes(fn) }).toEqual({ lwp, has: true });
        const bottom = lwp === fx.pid ? "main" : "thread_main";
        const reached = names.includes("main") || names.includes(bottom) || names.some((n) => n.includes("start_thread") || n.includes("clone"));
        expect({ lwp, names, reached }).toMatchObject({ lwp, reached: true });
      }
    });

    test("the patterns read back byte-exact through gdb", () => {
      const regions = fx.info.regions ?? [];
      const bytes = gdbReadMemoryMany(symbols, file, regions.map((r) => ({ addr: r.addr, len: r.len })));
      regions.forEach((r, i) => expect({ region: r.name, at: patternMismatch(bytes[i]!, fx.info.seed, r) }).toEqual({ region: r.name, at: -1 }));
    });

    test("readelf, eu-readelf and objdump read the ET_CORE file without complaint", () => {
      expect(readelfCheck(file).problems).toEqual([]);
    });

    test("readelf, eu-readelf and objdump read the ET_NONE (ECFS) form too, sections included", () => {
      const none = `${file}.none`;
      writeFileSync(none, readFileSync(file));
      expect(ecfs(["flip", none]).code).toBe(0);
      const check = readelfCheck(none);
      // With ET_NONE readelf does not know core note types: those lines are not problems.
      expect(check.problems.filter((p) => !/Unknown note type|<unknown>: (1|2|3|4|6|512|514|517|1313358925|1397311305|1179208773|1189489535)$/.test(p))).toEqual([]);
      for (const s of ["._TEXT", ".prstatus", ".fpregset", ".personality", ".exepath", ".arglist", ".auxvector", ".siginfo", ".stack", ".shstrtab"])
        expect(check.stdout).toContain(s);
      rmSync(none);
    });

    test("eu-readelf decodes NT_PRSTATUS and NT_PRPSINFO as /proc describes the process", () => {
      const stat = readFileSync(`/proc/${fx.pid}/stat`, "latin1");
      const [ppid, pgrp, sid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ").slice(1, 4);
      const notes = euReadelfNotes(file);
      const prstatus = notes.filter((n) => n.owner === "CORE" && n.type === "PRSTATUS");
      expect(prstatus.map((n) => Number(n.fields.get("pid"))).sort((a, b) => a - b)).toEqual(taskIds(fx.pid));
      expect(prstatus[0]!.fields.get("pid")).toBe(String(fx.pid)); // the leader first
      for (const n of prstatus) expect([n.fields.get("ppid"), n.fields.get("pgrp"), n.fields.get("sid")]).toEqual([ppid, pgrp, sid]);
      const ps = notes.find((n) => n.owner === "CORE" && n.type === "PRPSINFO")!;
      const cmdline = readFileSync(`/proc/${fx.pid}/cmdline`, "latin1").replace(/\0/g, " ").slice(0, 79);
      expect({ pid: ps.fields.get("pid"), uid: ps.fields.get("uid"), fname: ps.fields.get("fname"), psargs: ps.fields.get("psargs"), sname: ps.fields.get("sname") })
        .toEqual({ pid: String(fx.pid), uid: "0", fname: readFileSync(`/proc/${fx.pid}/comm`, "latin1").trim(), psargs: cmdline.trimEnd(), sname: "S" });
    });

    test("eu-stack unwinds every thread", () => {
      const st = euStack(file, symbols);
      expect(st.problems).toEqual([]);
      expect([...st.threads.keys()].sort()).toEqual([...live.threads.keys()].sort());
      for (const [tid, frames] of st.threads) expect({ tid, depth: frames.length >= 2 }).toEqual({ tid, depth: true });
    });
  });
}
