import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ProcParseError } from "../../src/errors.ts";
import { isKernelThread, parseStat, readStat, readTaskStat } from "../../src/proc/stat.ts";
import { parseStatus, readStatus } from "../../src/proc/status.ts";
import { removeDir, scratchDir, startTarget, type TargetInfo, Targets } from "./fixture.ts";

const targets = new Targets();
const dir = scratchDir("stat");
let info: TargetInfo;

beforeAll(async () => {
  ({ info } = await startTarget(targets, dir));
  // The JSON line comes out just before the target blocks in read(): wait for it to sleep.
  for (let i = 0; i < 1000 && readStat(info.pid).state !== "S"; i++) await Bun.sleep(5);
}, 30_000);
afterAll(() => {
  targets.killAll();
  removeDir(dir);
});

const bit = (sig: number): bigint => 1n << BigInt(sig - 1);
const SIGHUP = 1;
const SIGUSR1 = 10;
const SIGUSR2 = 12;

describe("parseStat on literal text", () => {
  test("comm with spaces and parentheses is split at the last ')'", () => {
    const line =
      "4242 (a) (b c)) R 1 4242 4242 0 -1 4194560 10 0 0 0 250 37 0 0 20 0 3 0 1234 9000000 300 " +
      "18446744073709551615 1 1 0 0 0 0 512 4096 16385 0 0 0 17 1 0 0 0 0 0 4096 8192 12288 16384 16400 16400 16500 0\n";
    const s = parseStat(line);
    expect(s).toMatchObject({
      pid: 4242, comm: "a) (b c)", state: "R", ppid: 1, pgrp: 4242, session: 4242, flags: 4194560,
      utimeUs: 2_500_000n, stimeUs: 370_000n, nice: 0, numThreads: 3, startTime: 1234n,
      blocked: 512n, sigignore: 4096n, sigcatch: 16385n, processor: 1, startBrk: 12288n, envEnd: 16500n,
    });
    expect(isKernelThread(s)).toBe(false);
  });
  test("negative nice and a missing tail", () => {
    // Fields 3..39 only (a pre-3.3 kernel), built by proc_pid_stat(5) field number.
    const f = Array.from({ length: 40 }, () => "0");
    Object.assign(f, { 3: "S", 4: "1", 5: "7", 6: "7", 8: "-1", 9: "2129984", 18: "15", 19: "-5", 20: "1", 22: "26", 38: "17", 39: "3" });
    const s = parseStat(`7 (x) ${f.slice(3).join(" ")}`);
    expect(s.nice).toBe(-5);
    expect(s.exitSignal).toBe(17);
    expect(s.ttyNr).toBe(0);
    expect(s.processor).toBe(3);
    expect(s.startBrk).toBe(0n);
    expect(isKernelThread(s)).toBe(true);
  });
  test("rejects lines without (comm), with a bad state or too few fields", () => {
    expect(() => parseStat("12 x S 1")).toThrow(ProcParseError);
    expect(() => parseStat("12 (x) ? 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37")).toThrow(/bad state/);
    expect(() => parseStat("12 (x) S 1 2 3")).toThrow(/only/);
  });
});

describe("stat of live tasks", () => {
  test("the target: comm, ppid, threads, CPU time against times()", () => {
    const s = readStat(info.pid);
    expect(s.pid).toBe(info.pid);
    expect(s.comm).toBe("t) (x y)");
    expect(s.ppid).toBe(process.pid);
    expect(s.numThreads).toBe(2);
    expect(s.state).toBe("S");
    expect(isKernelThread(s)).toBe(false);
    // times() in the target read the same counters in ticks just before it reported.
    const utimeTicks = Number(s.utimeUs / 10_000n);
    expect(s.utimeUs % 10_000n).toBe(0n);
    expect(Math.abs(utimeTicks - info.utimeTicks)).toBeLessThanOrEqual(2);
    expect(utimeTicks).toBeGreaterThanOrEqual(20);
    // The target blocked SIGUSR1, ignores SIGUSR2 and catches SIGHUP (obsolete decimal fields).
    expect(s.blocked & bit(SIGUSR1)).toBe(bit(SIGUSR1));
    expect(s.sigignore & bit(SIGUSR2)).toBe(bit(SIGUSR2));
    expect(s.sigcatch & bit(SIGHUP)).toBe(bit(SIGHUP));
    expect(s.startBrk).toBeGreaterThan(0n);
  });
  test("per-thread stat of the worker thread", () => {
    const t = readTaskStat(info.pid, info.worker);
    expect(t.pid).toBe(info.worker);
    expect(t.comm).toBe("worker");
    // The worker never burnt CPU; the leader's own task stat holds the ~300 ms.
    expect(readTaskStat(info.pid, info.pid).utimeUs).toBeGreaterThan(t.utimeUs);
  });
  test("pid 2 (kthreadd) is a kernel thread", () => {
    const s = readStat(2);
    expect(s.comm).toBe("kthreadd");
    expect(isKernelThread(s)).toBe(true);
    expect(isKernelThread(readStat(process.pid))).toBe(false);
  });
});

describe("status", () => {
  const text = [
    "Name:\tx\\\\y\\nz",
    "Umask:\t0022",
    "State:\tT (stopped)",
    "Tgid:\t10",
    "Ngid:\t0",
    "Pid:\t11",
    "PPid:\t1",
    "TracerPid:\t99",
    "Uid:\t0\t1\t2\t3",
    "Gid:\t4\t5\t6\t7",
    "NSpid:\t11\t3",
    "Kthread:\t0",
    "Threads:\t2",
    "SigPnd:\t0000000000000200",
    "ShdPnd:\t8000000000000000",
    "SigBlk:\tfffffffe7ffbfeff",
    "SigIgn:\t0000000000000000",
    "SigCgt:\t0000000100000001",
    "CapInh:\t0000000000000000",
    "CapPrm:\t000001fffeffffff",
    "CapEff:\t0000000000080000",
    "",
  ].join("\n");

  test("parseStatus on literal text", () => {
    expect(parseStatus(text)).toEqual({
      name: "x\\y\nz", state: "T", tgid: 10, pid: 11, ppid: 1, tracerPid: 99,
      uid: [0, 1, 2, 3], gid: [4, 5, 6, 7], threads: 2, nspid: [11, 3], kthread: false,
      sigPnd: 0x200n, shdPnd: 0x8000000000000000n, sigBlk: 0xfffffffe7ffbfeffn, sigIgn: 0n, sigCgt: 0x100000001n,
      capPrm: 0x1fffeffffffn, capEff: 0x80000n,
    });
    expect(() => parseStatus(text.replace("Uid:\t0\t1\t2\t3", "Uid:\t0\t1"))).toThrow(/want 4 ids/);
    expect(() => parseStatus(text.replace(/^Threads.*$/m, ""))).toThrow(/no Threads/);
    expect(() => parseStatus(text.replace("0000000000000200", "zz"))).toThrow(/bad mask/);
  });

  test("the target: ids after setresuid/setresgid, signal sets, threads", () => {
    const s = readStatus(info.pid);
    expect(s).toMatchObject({
      name: "t) (x y)", state: "S", tgid: info.pid, pid: info.pid, ppid: process.pid, tracerPid: 0,
      uid: [1001, 1002, 1003, 1002], gid: [2001, 2002, 2003, 2002], threads: 2, nspid: [info.pid], kthread: false,
    });
    // raise() queues on the thread, kill() on the process: both stay pending while blocked.
    expect(s.sigPnd).toBe(bit(SIGUSR1));
    expect(s.shdPnd).toBe(bit(SIGUSR1));
    expect(s.sigBlk & bit(SIGUSR1)).toBe(bit(SIGUSR1));
    expect(s.sigIgn & bit(SIGUSR2)).toBe(bit(SIGUSR2));
    expect(s.sigCgt & bit(SIGHUP)).toBe(bit(SIGHUP));
  });

  test("kthreadd says Kthread: 1", () => {
    const s = readStatus(2);
    expect(s.name).toBe("kthreadd");
    expect(s.kthread).toBe(true);
  });
});
