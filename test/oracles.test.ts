// Calibrates the fixtures and the outside oracles on cores we did not write: gdb's gcore
// of a parked fixture, 64-bit and -m32. If these pass, a failure in a snapshot test
// points at the snapshot, not at the helpers.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildFixture,
  killAllFixtures,
  startFixture,
  type BuildOptions,
  type DlopenerInfo,
  type FixtureInfo,
  type RunningFixture,
  type SocketsInfo,
  taskIds,
  taskState,
  type ThreadsInfo,
} from "./helpers/fixtures.ts";
import {
  diffRegs,
  euStack,
  gcoreOf,
  gdbCoreThreads,
  gdbLiveThreads,
  gdbReadMemoryMany,
  liveMemory,
  readelfCheck,
  type GdbThread,
  type GdbThreads,
} from "./helpers/oracles.ts";
import { expectedPattern, patternMismatch } from "./helpers/pattern.ts";
import { NO_I386 } from "./helpers/machine.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-oracles-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

/** __NR_restart_syscall per word size (see gdb.ts). */
const RESTART = { 64: 219n, 32: 0n } as const;

interface Case {
  fixture: "patterns" | "threads";
  opts: BuildOptions;
}
const CASES: Case[] = [
  { fixture: "patterns", opts: {} },
  { fixture: "patterns", opts: { m32: true } },
  { fixture: "threads", opts: { libs: ["-pthread"] } },
  { fixture: "threads", opts: { m32: true, libs: ["-pthread"] } },
];

for (const c of CASES) {
  const bits = c.opts.m32 ? 32 : 64;
  describe.skipIf(bits === 32 && NO_I386)(`gcore of ${c.fixture} (${bits}-bit)`, () => {
    let exe = "";
    let fx: RunningFixture<FixtureInfo & Partial<ThreadsInfo>>;
    let live: GdbThreads;
    let core = "";
    let dead: GdbThreads;
    /** tid -> does it block (false for the spinner); the main thread alone for patterns. */
    const blocks = new Map<number, boolean>();

    beforeAll(async () => {
      exe = buildFixture(c.fixture, c.opts);
      fx = await startFixture(exe);
      for (const t of fx.info.threads ?? [{ tid: fx.pid, blocks: true }]) blocks.set(t.tid, t.blocks);
      live = gdbLiveThreads(fx.pid); // the first ptrace stop this process ever sees
      core = gcoreOf(fx.pid, join(work, `${c.fixture}-${bits}`));
      dead = gdbCoreThreads(exe, core);
      console.log(
        `${c.fixture}/${bits}: gdb -p ${live.ms.toFixed(0)} ms, gdb core ${dead.ms.toFixed(0)} ms, ` +
          `${live.threads.size} threads`,
      );
    });
    afterAll(async () => {
      await fx?.kill();
      if (core) rmSync(core, { force: true });
    });

    test("gdb detached: nothing traced or stopped, parked threads asleep again", () => {
      for (const tid of taskIds(fx.pid)) {
        const status = readFileSync(`/proc/${fx.pid}/task/${tid}/status`, "latin1");
        expect(status).toMatch(/^TracerPid:\s*0$/m);
        expect(taskState(fx.pid, tid)).toBe(blocks.get(tid) === false ? "R" : "S");
      }
    });

    test("gdb sees every thread, live and in the core", () => {
      const tids = taskIds(fx.pid);
      expect([...blocks.keys()].sort((a, b) => a - b)).toEqual(tids);
      expect([...live.threads.keys()].sort((a, b) => a - b)).toEqual(tids);
      expect([...dead.threads.keys()].sort((a, b) => a - b)).toEqual(tids);
    });

    test("every register in the core equals gdb -p, but the documented exceptions", () => {
      for (const [tid, l] of live.threads) {
        const d = dead.threads.get(tid);
        if (!d) throw new Error(`thread ${tid} missing from the core`);
        expect({ tid, diff: diffRegs(l, d, { spinning: blocks.get(tid) === false }) }).toEqual({ tid, diff: [] });
        const want =
          bits === 64
            ? ["rip", "rsp", "eflags", "cs", "fs_base", "gs_base", "orig_rax"]
            : ["eip", "esp", "eflags", "cs", "gs", "orig_eax"];
        for (const n of want) expect(l.regs.has(n)).toBe(true);
        if (bits === 32) expect(l.regs.has("fs_base")).toBe(false);
      }
    });

    if (c.fixture === "threads")
      test("the first stop sees clock_nanosleep/poll; the core sees restart_syscall", () => {
        const acc = bits === 64 ? "rax" : "eax";
        for (const how of ["nanosleep", "poll"]) {
          const tid = fx.info.threads?.find((t) => t.how === how)?.tid ?? -1;
          const l = live.threads.get(tid);
          const d = dead.threads.get(tid);
          expect(l?.regs.get(`orig_${acc}`)).not.toBe(RESTART[bits]);
          expect(d?.regs.get(`orig_${acc}`)).toBe(RESTART[bits]);
          expect(l?.regs.get(acc)).toBe(d?.regs.get(acc));
        }
      });

    test("backtraces reach the park function and its caller", () => {
      const threads = fx.info.threads ?? [{ tid: fx.pid, how: "main", fn: "park", blocks: true, stack: "stack" }];
      for (const t of threads) {
        const caller = t.how === "main" ? "main" : "thread_main";
        for (const g of [live, dead]) {
          const fns = g.threads.get(t.tid)?.frames.map((f) => f.fn) ?? [];
          expect({ tid: t.tid, fns }).toEqual({ tid: t.tid, fns: expect.arrayContaining([t.fn, caller]) });
          expect(fns.indexOf(t.fn)).toBeLessThan(fns.indexOf(caller));
        }
      }
    });

    test("patterns read from the core equal /proc/PID/mem and the formula", () => {
      const regions = fx.info.regions ?? [];
      expect(regions.length).toBeGreaterThan(0);
      const fromCore = gdbReadMemoryMany(exe, core, regions);
      regions.forEach((r, i) => {
        const mem = liveMemory(fx.pid, r.addr, r.len);
        expect({ region: r.name, bad: patternMismatch(mem, fx.info.seed, r) }).toEqual({ region: r.name, bad: -1 });
        expect({ region: r.name, same: Buffer.compare(fromCore[i] ?? new Uint8Array(), mem) }).toEqual({
          region: r.name,
          same: 0,
        });
      });
    });

    test("readelf, eu-readelf and objdump accept the core without a complaint", () => {
      expect(readelfCheck(core).problems).toEqual([]);
    });

    test("eu-stack unwinds every thread to the park function", () => {
      const es = euStack(core, exe);
      expect(es.problems).toEqual([]);
      expect(es.pid).toBe(fx.pid);
      expect([...es.threads.keys()].sort((a, b) => a - b)).toEqual(taskIds(fx.pid));
      for (const t of fx.info.threads ?? [{ tid: fx.pid, fn: "park" }]) {
        const fns = es.threads.get(t.tid)?.map((f) => f.fn) ?? [];
        expect({ tid: t.tid, fns }).toEqual({ tid: t.tid, fns: expect.arrayContaining([t.fn]) });
      }
    });
  });
}

describe("buildFixture variants are what they claim, and run", () => {
  const readelf = (args: string[], file: string) => {
    const r = Bun.spawnSync(["readelf", ...args, file]);
    return r.stdout.toString();
  };
  const VARIANTS: { opts: BuildOptions; type: "EXEC" | "DYN"; interp: boolean; loads?: number; cls: 32 | 64 }[] = [
    { opts: {}, type: "DYN", interp: true, cls: 64 },
    { opts: { pie: false }, type: "EXEC", interp: true, cls: 64 },
    { opts: { static: true }, type: "EXEC", interp: false, cls: 64 },
    { opts: { staticPie: true }, type: "DYN", interp: false, cls: 64 },
    { opts: { strip: true }, type: "DYN", interp: true, cls: 64 },
    { opts: { separateCode: false }, type: "DYN", interp: true, loads: 2, cls: 64 },
    { opts: { separateCode: true }, type: "DYN", interp: true, loads: 4, cls: 64 },
    { opts: { m32: true, pie: false }, type: "EXEC", interp: true, cls: 32 },
    { opts: { m32: true, static: true }, type: "EXEC", interp: false, cls: 32 },
    { opts: { m32: true, staticPie: true, strip: true }, type: "DYN", interp: false, cls: 32 },
  ];
  for (const v of VARIANTS) {
    test(`patterns ${JSON.stringify(v.opts)}: built as claimed`, () => {
      const exe = buildFixture("patterns", v.opts);
      expect(buildFixture("patterns", v.opts)).toBe(exe); // cached
      const h = readelf(["-hlSW"], exe);
      expect(h).toContain(`Class:                             ELF${v.cls}`);
      expect(h).toMatch(new RegExp(`Type:\\s+${v.type} `));
      expect(h.includes("INTERP")).toBe(v.interp);
      expect(h.includes(".symtab")).toBe(!v.opts.strip);
      if (v.loads !== undefined) expect(h.match(/^\s+LOAD\s/gm)?.length).toBe(v.loads);
    });
    test.skipIf(v.cls === 32 && NO_I386)(`patterns ${JSON.stringify(v.opts)}: runs and writes its patterns`, async () => {
      const exe = buildFixture("patterns", v.opts);
      const fx = await startFixture(exe, ["--seed", "0x1234"]);
      try {
        expect(fx.info.bits).toBe(v.cls);
        expect(fx.info.seed).toBe(0x1234);
        for (const r of fx.info.regions ?? []) {
          const bad = patternMismatch(liveMemory(fx.pid, r.addr, r.len), 0x1234, r);
          expect({ r: r.name, bad }).toEqual({ r: r.name, bad: -1 });
        }
      } finally {
        await fx.kill();
      }
    });
  }
});

describe("fixtures for later issues start and report themselves", () => {
  test("libinject.so as LD_PRELOAD, and dlopener loading it", async () => {
    const lib = buildFixture("libinject", { shared: true });
    expect(readelf(lib)).toMatch(/FUNC\s+GLOBAL\s+DEFAULT\s+\d+ inject_answer/);
    const pre = await startFixture(buildFixture("patterns"), [], { LD_PRELOAD: lib });
    const dl = await startFixture<DlopenerInfo>(buildFixture("dlopener", { libs: ["-ldl"] }), [lib]);
    try {
      expect(readFileSync(`/proc/${pre.pid}/maps`, "latin1")).toContain(lib);
      expect(dl.info.answer).toBe(0x1ec75);
      expect(dl.info.lib).toBe(lib);
      const maps = readFileSync(`/proc/${dl.pid}/maps`, "latin1").split("\n");
      const hit = maps.find((l) => {
        const [lo, hi] = (l.split(" ")[0] ?? "").split("-").map((x) => BigInt(`0x${x || "0"}`));
        return lo !== undefined && hi !== undefined && dl.info.sym >= lo && dl.info.sym < hi;
      });
      expect(hit).toContain(lib);
    } finally {
      await pre.kill();
      await dl.kill();
    }
  });

  test("sockets: every descriptor is open and what it claims", async () => {
    const dir = mkdtempSync(join(work, "sock-"));
    const fx = await startFixture<SocketsInfo>(buildFixture("sockets"), [join(dir, "u.sock"), join(dir, "f.dat")]);
    try {
      const i = fx.info;
      const fds = [i.file.fd, i.tcpListen.fd, i.tcpClient.fd, i.tcpServer.fd, i.udp.fd, i.unix.fd, i.pipe.r, i.pipe.w];
      if (i.tcp6Listen) fds.push(i.tcp6Listen.fd);
      expect(new Set(fds).size).toBe(fds.length);
      expect(readFileSync(`/proc/${fx.pid}/fdinfo/${i.file.fd}`, "latin1")).toMatch(/^pos:\s+1234$/m);
      expect(i.tcpClient.peerPort).toBe(i.tcpListen.port);
      expect(i.tcpServer.peerPort).toBe(i.tcpClient.port);
      const tcp = readFileSync(`/proc/${fx.pid}/net/tcp`, "latin1");
      const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
      expect(tcp).toContain(`0100007F:${hexPort(i.tcpListen.port)} 00000000:0000 0A`); // LISTEN
      expect(readFileSync(`/proc/${fx.pid}/net/udp`, "latin1")).toContain(`0100007F:${hexPort(i.udp.port)}`);
      expect(readFileSync(`/proc/${fx.pid}/net/unix`, "latin1")).toContain(i.unix.path);
    } finally {
      await fx.kill();
    }
  });
});

function readelf(file: string): string {
  return Bun.spawnSync(["readelf", "-W", "--dyn-syms", file]).stdout.toString();
}

describe("the oracles can say no", () => {
  const thread = (regs: Record<string, bigint>): GdbThread => ({
    lwp: 1,
    regs: new Map(Object.entries(regs)),
    unavailable: [],
    frames: [],
  });
  const base = { rax: (1n << 64n) - 516n, rip: 0x1000n, fs_base: 0x7f00n, cs: 0x33n, orig_rax: 230n };

  test("diffRegs: restart_syscall is excused only with -ERESTART_RESTARTBLOCK", () => {
    expect(diffRegs(thread(base), thread({ ...base, orig_rax: 219n }))).toEqual([]);
    expect(diffRegs(thread({ ...base, rax: 0n }), thread({ ...base, rax: 0n, orig_rax: 219n }))).toEqual([
      "orig_rax: 0xe6 vs 0xdb",
    ]);
    expect(diffRegs(thread(base), thread({ ...base, rip: 0x1002n }))).toEqual(["rip: 0x1000 vs 0x1002"]);
    const { fs_base: _, ...noFs } = base;
    expect(diffRegs(thread(base), thread(noFs))).toEqual(["fs_base: 0x7f00 vs absent"]);
    expect(diffRegs(thread(base), thread({ ...base, rip: 5n }), { spinning: true })).toEqual([]);
    expect(diffRegs(thread(base), thread({ ...base, fs_base: 5n }), { spinning: true })).toEqual([
      "fs_base: 0x7f00 vs 0x5",
    ]);
  });

  test("patternMismatch finds a misplaced page and a zero page", () => {
    const r = { name: "x", addr: 0n, len: 3 * 4096, tag: 7 };
    const good = expectedPattern(42, 7, r.len);
    expect(patternMismatch(good, 42, r)).toBe(-1);
    const swapped = good.slice();
    swapped.set(good.subarray(8192, 12288), 4096);
    swapped.set(good.subarray(4096, 8192), 8192);
    expect(patternMismatch(swapped, 42, r)).toBe(4096);
    const zeroed = good.slice();
    zeroed.fill(0, 8192);
    expect(patternMismatch(zeroed, 42, r)).toBe(8192);
    expect(patternMismatch(good, 43, r)).toBe(0);
  });

  test("a truncated core upsets readelf, eu-stack and gdb", async () => {
    const exe = buildFixture("patterns");
    const fx = await startFixture(exe);
    try {
      const core = gcoreOf(fx.pid, join(work, "truncated"));
      const bytes = readFileSync(core);
      writeFileSync(core, bytes.subarray(0, bytes.length >> 1)); // notes sit at the end in gcore's layout
      expect(readelfCheck(core).problems.length).toBeGreaterThan(0);
      expect(euStack(core, exe).problems.length).toBeGreaterThan(0);
      expect(() => gdbCoreThreads(exe, core)).toThrow();
      rmSync(core);
    } finally {
      await fx.kill();
    }
  });
});

describe("startFixture fails loudly", () => {
  test("a fixture that exits before its ready line", async () => {
    const err = await startFixture(buildFixture("sockets")).catch((e: unknown) => String(e));
    expect(err).toContain("stdout closed before a ready line (exit 2)");
    expect(err).toContain("usage: sockets UNIX_PATH FILE_PATH");
  });

  test("a program that never gets ready", async () => {
    const t0 = Date.now();
    const err = await startFixture("/bin/sleep", ["30"], {}, { timeoutMs: 300 }).catch((e: unknown) => String(e));
    expect(err).toContain("no ready line before the timeout");
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
