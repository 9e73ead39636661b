// Trust model: /proc/PID/stat is kernel text, but comm is chosen by the target (prctl PR_SET_NAME)
// and may hold spaces and ")"; we split at the LAST ")" and check every numeric field.

import { ProcParseError } from "../errors.ts";
import { readProcText } from "./read.ts";

/** Task flag of kernel threads (include/linux/sched.h). */
export const PF_KTHREAD = 0x00200000;

/**
 * USER_HZ: utime/stime are printed in clock ticks of sysconf(_SC_CLK_TCK), which the kernel ABI
 * fixes at 100 on x86 (USER_HZ in arch/x86/include/asm/param.h), whatever CONFIG_HZ is.
 */
export const CLK_TCK = 100;
const US_PER_TICK = BigInt(1_000_000 / CLK_TCK);

export interface ProcStat {
  pid: number;
  /** task->comm, at most 15 bytes, as the target set it. */
  comm: string;
  /** State letter (R, S, D, T, t, Z, X, I, ...). */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
  /** PF_* task flags. */
  flags: number;
  /** Converted from clock ticks to microseconds. */
  utimeUs: bigint;
  stimeUs: bigint;
  cutimeUs: bigint;
  cstimeUs: bigint;
  priority: number;
  nice: number;
  numThreads: number;
  /** Clock ticks after boot. */
  startTime: bigint;
  vsize: bigint;
  /** Resident pages. */
  rss: bigint;
  /** Signal masks: obsolete decimal fields, kept because a kernel core's prstatus uses the same. */
  signal: bigint;
  blocked: bigint;
  sigignore: bigint;
  sigcatch: bigint;
  exitSignal: number;
  processor: number;
  /** Fields 45-51 (since 3.3/3.5): 0 when the reader may not see them. */
  startData: bigint;
  endData: bigint;
  startBrk: bigint;
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
}

/** Field numbers from proc_pid_stat(5), 1-based as the man page counts them. */
const F = {
  state: 3, ppid: 4, pgrp: 5, session: 6, ttyNr: 7, flags: 9, utime: 14, stime: 15, cutime: 16, cstime: 17,
  priority: 18, nice: 19, numThreads: 20, startTime: 22, vsize: 23, rss: 24, signal: 31, blocked: 32,
  sigignore: 33, sigcatch: 34, exitSignal: 38, processor: 39, startData: 45, endData: 46, startBrk: 47,
  argStart: 48, argEnd: 49, envStart: 50, envEnd: 51,
} as const;

/** Parses one /proc/PID/stat or /proc/PID/task/TID/stat line. */
export function parseStat(text: string, source = "stat"): ProcStat {
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new ProcParseError(source, 1, "no (comm)");
  const pidText = text.slice(0, open);
  if (!/^\d+$/.test(pidText)) throw new ProcParseError(source, 1, "bad pid");
  const comm = text.slice(open + 2, close);
  // rest[0] is field 3 (state).
  const rest = text.slice(close + 1).trim().split(" ");
  if (rest.length < F.processor - 2) throw new ProcParseError(source, 1, `only ${rest.length + 2} fields`);

  const raw = (n: number): string | undefined => rest[n - 3];
  const big = (n: number): bigint => {
    const s = raw(n);
    if (s === undefined) return 0n; // late fields absent on old kernels
    if (!/^-?\d+$/.test(s)) throw new ProcParseError(source, 1, `field ${n} not a number: "${s}"`);
    return BigInt(s);
  };
  const num = (n: number): number => {
    const v = big(n);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new ProcParseError(source, 1, `field ${n} out of range`);
    return Number(v);
  };
  const state = raw(F.state) ?? "";
  if (!/^[A-Za-z]$/.test(state)) throw new ProcParseError(source, 1, `bad state "${state}"`);

  return {
    pid: Number(pidText),
    comm,
    state,
    ppid: num(F.ppid),
    pgrp: num(F.pgrp),
    session: num(F.session),
    ttyNr: num(F.ttyNr),
    flags: num(F.flags),
    utimeUs: big(F.utime) * US_PER_TICK,
    stimeUs: big(F.stime) * US_PER_TICK,
    cutimeUs: big(F.cutime) * US_PER_TICK,
    cstimeUs: big(F.cstime) * US_PER_TICK,
    priority: num(F.priority),
    nice: num(F.nice),
    numThreads: num(F.numThreads),
    startTime: big(F.startTime),
    vsize: big(F.vsize),
    rss: big(F.rss),
    signal: big(F.signal),
    blocked: big(F.blocked),
    sigignore: big(F.sigignore),
    sigcatch: big(F.sigcatch),
    exitSignal: num(F.exitSignal),
    processor: num(F.processor),
    startData: big(F.startData),
    endData: big(F.endData),
    startBrk: big(F.startBrk),
    argStart: big(F.argStart),
    argEnd: big(F.argEnd),
    envStart: big(F.envStart),
    envEnd: big(F.envEnd),
  };
}

export function readStat(pid: number): ProcStat {
  const path = `/proc/${pid}/stat`;
  return parseStat(readProcText(path), path);
}

/** Per-thread stat: utime/stime of that thread alone. */
export function readTaskStat(pid: number, tid: number): ProcStat {
  const path = `/proc/${pid}/task/${tid}/stat`;
  return parseStat(readProcText(path), path);
}

/** The process or thread has exited or is exiting: no /proc entry, or a zombie. */
export function hasExited(pid: number): boolean {
  try {
    const st = readStat(pid);
    return st.state === "Z" || st.state === "X";
  } catch {
    return true;
  }
}

export function isKernelThread(stat: Pick<ProcStat, "flags">): boolean {
  return (stat.flags & PF_KTHREAD) !== 0;
}
