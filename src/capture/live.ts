// Capture a running process without killing it: PTRACE_SEIZE + PTRACE_INTERRUPT every
// thread (re-reading the task list until no new thread appears), read registers and
// /proc, hand a ProcessImage to the caller, and ALWAYS detach every thread afterwards,
// re-delivering any signal we intercepted, so the target runs on exactly as before.

import { isGone, SyscallError, TargetError } from "../errors.ts";
import { CLASS32, CLASS64, type ElfClass } from "../elf/class.ts";
import { NT_386_TLS, NT_PRFPREG, NT_PRSTATUS, NT_PRXFPREG, NT_X86_XSTATE } from "../elf/consts.ts";
import type { ProcessImage, ProcessInfo, ThreadState } from "../model/image.ts";
import { readAuxv } from "../proc/auxv.ts";
import { readProcText } from "../proc/read.ts";
import { readCmdline, readEnviron, readExeLink, listTasks, readPersonality } from "../proc/process.ts";
import { readFlagsAhead, readMappings } from "../proc/smaps.ts";
import { hasExited, isKernelThread, parseStat, readStat, type ProcStat } from "../proc/stat.ts";
import { parseStatus, readStatus, type ProcStatus } from "../proc/status.ts";
import * as pt from "../sys/ptrace.ts";
import { readFds } from "../proc/fds.ts";
import { readSockets } from "../proc/sockets.ts";
import { libc } from "../sys/libc.ts";
import { isDumpable } from "../proc/smaps.ts";
import { isPrivateAnonymous, populatedRuns } from "../proc/pagemap.ts";
import { type Abi, abiFor, findSyscallInsn, ForkedMemory, forkStopped, killChild, reapInTarget } from "./fork.ts";
import { LiveMemory } from "./memory.ts";
import { readBeforeStop } from "./beforestop.ts";
import { buildProcfsTarball } from "./procfs.ts";
import { ptraceFacts, whyNotPermitted } from "./permission.ts";
import { encodeXsaveLayout } from "./xsave.ts";

const { SIGTRAP } = pt;
const STOP_TIMEOUT_MS = 5000;
/** Large enough for any XSAVE layout the kernel reports (AMX tiles included). */
const XSTATE_MAX = 32 * 1024;

interface Seized {
  tid: number;
  /** A signal the thread stopped for instead of our interrupt: it is re-delivered at detach. */
  pendingSig: number;
  /** Stopped by job control (SIGSTOP and the like), not by our interrupt. */
  groupStop: boolean;
}

export interface CaptureOptions {
  /**
   * Fork the stopped target and copy the fork (capture/fork.ts), resuming the target at
   * once. Where that cannot be done, the copy is made with the target stopped, as without it.
   */
  lowPause?: boolean;
  /** Called just before the target is stopped. */
  onStop?: () => void;
  /** Called once the target runs again (from `copied`, or when lowPause worked, before `use`). */
  onResume?: () => void;
  /** Problems found after `use` returned (reaping the fork). */
  late?: string[];
}

/** At most this much populated MADV_DONTFORK / MADV_WIPEONFORK memory is kept aside for a low-pause copy. */
const KEPT_MAX = 64 << 20;

/** A process that passed preflight: its leader's pid, stat and status, read before stopping it. */
export interface Target {
  pid: number;
  stat: ProcStat;
  status: ProcStatus;
}

/**
 * Checks that make a clear message instead of a ptrace errno; callers may run it early
 * (before creating output) to fail fast without touching the target. A thread id is taken as
 * its process: the leader's stat and status are returned.
 */
export function preflight(pid: number): Target {
  if (pid === process.pid) throw new TargetError(pid, `pid ${pid} is this snapshot process itself`);
  let stat: ProcStat;
  try {
    stat = readStat(pid);
  } catch (e) {
    if (e instanceof SyscallError && (e.code === "ESRCH" || e.code === "ENOENT"))
      throw new TargetError(pid, `no such process: ${pid}`, { cause: e });
    throw e;
  }
  if (isKernelThread(stat)) throw new TargetError(pid, `pid ${pid} (${stat.comm}) is a kernel thread: it has no user memory to capture`);
  if (stat.state === "Z" || stat.state === "X")
    throw new TargetError(pid, `pid ${pid} (${stat.comm}) is a zombie: it has exited and its memory is gone`);
  const status = readStatus(pid);
  if (status.tracerPid !== 0) {
    let who = "";
    try {
      who = ` (${readProcText(`/proc/${status.tracerPid}/comm`, 4096).trim()})`;
    } catch {
      // The tracer's name is a courtesy; its pid says enough.
    }
    throw new TargetError(pid, `pid ${pid} is already traced by pid ${status.tracerPid}${who}; a process can have only one tracer`);
  }
  return status.tgid === pid ? { pid, stat, status } : preflight(status.tgid);
}


function seizeError(pid: number, e: unknown): never {
  if (e instanceof SyscallError && (e.code === "EPERM" || e.code === "ESRCH") && hasExited(pid))
    throw new TargetError(pid, `process ${pid} exited during the snapshot`, { cause: e });
  if (e instanceof SyscallError && e.code === "EPERM") {
    let facts;
    try {
      facts = ptraceFacts(pid);
    } catch {
      throw new TargetError(pid, `not permitted to trace pid ${pid}`, { cause: e }); // gone meanwhile, or /proc unreadable
    }
    // The name is the target's choice: no control characters in our one line.
    const name = facts.target.name.replace(/[\x00-\x1f\x7f]/g, "?");
    throw new TargetError(pid, `not permitted to trace pid ${pid} (${name}): ${whyNotPermitted(facts)}`, { cause: e });
  }
  if (isGone(e)) throw new TargetError(pid, `no such process: ${pid}`, { cause: e });
  throw e;
}

/** Stops every thread; returns them leader first. Threads that exit meanwhile are dropped. */
function stopAll(pid: number, seized: Map<number, Seized>): void {
  const dead = new Set<number>();
  for (let round = 0; round < 1000; round++) {
    let tids: number[];
    try {
      tids = listTasks(pid);
    } catch (e) {
      throw new TargetError(pid, `process ${pid} exited while it was being stopped`, { cause: e });
    }
    const fresh = tids.filter((t) => !seized.has(t) && !dead.has(t));
    if (fresh.length === 0) return;
    const waiting: number[] = [];
    for (const tid of fresh) {
      try {
        pt.seize(tid);
      } catch (e) {
        if (isGone(e)) continue; // thread already gone
        if (seized.size === 0) seizeError(pid, e);
        throw e;
      }
      seized.set(tid, { tid, pendingSig: 0, groupStop: false });
      try {
        pt.interrupt(tid);
        waiting.push(tid);
      } catch (e) {
        if (!isGone(e)) throw e;
        seized.delete(tid);
      }
    }
    for (const tid of waiting) {
      const w = pt.waitThread(tid, STOP_TIMEOUT_MS);
      if (w.kind === "timeout")
        throw new TargetError(pid, `thread ${tid} of pid ${pid} did not stop within ${STOP_TIMEOUT_MS / 1000} s (uninterruptible sleep?)`);
      if (w.kind !== "stopped") {
        seized.delete(tid);
        dead.add(tid);
        if (tid === pid && hasExited(pid)) throw new TargetError(pid, `process ${pid} exited during the snapshot`);
        continue;
      }
      // A signal-delivery-stop came first: keep the signal to hand it back at detach. (A
      // PTRACE_EVENT_STOP with a stop signal is a group-stop: detaching leaves it stopped.)
      if (w.event === 0 && w.sig !== SIGTRAP) seized.get(tid)!.pendingSig = w.sig;
      else if (w.event === pt.PTRACE_EVENT_STOP && w.sig !== SIGTRAP) seized.get(tid)!.groupStop = true;
    }
  }
  throw new TargetError(pid, `process ${pid} keeps creating threads faster than they can be stopped`);
}

function detachAll(seized: Map<number, Seized>): string[] {
  const problems: string[] = [];
  for (const s of seized.values()) {
    try {
      pt.detach(s.tid, s.pendingSig);
    } catch (e) {
      // ESRCH: the thread died (SIGKILL) while stopped; nothing left to resume.
      if (!isGone(e)) problems.push(`thread ${s.tid}: ${(e as Error).message}`);
    }
  }
  seized.clear();
  return problems;
}

function readRegset(tid: number, nt: number, size: number): Uint8Array | undefined {
  const buf = new Uint8Array(size);
  try {
    const n = pt.getRegset(tid, nt, buf);
    return buf.subarray(0, n);
  } catch (e) {
    // EINVAL/ENODEV: this regset does not exist on this CPU or for this thread.
    if (e instanceof SyscallError && (e.code === "EINVAL" || e.code === "ENODEV")) return undefined;
    throw e;
  }
}

function readThread(pid: number, tid: number, pendingSig: number): { t: ThreadState; cls: ElfClass } {
  const regs = readRegset(tid, NT_PRSTATUS, CLASS64.regsSize);
  if (!regs) throw new TargetError(pid, `cannot read the registers of thread ${tid}`);
  // The kernel answers in the tracee's own view: 68 bytes means an i386 (compat) thread.
  const cls = regs.byteLength === CLASS32.regsSize ? CLASS32 : CLASS64;
  const fpregs = readRegset(tid, NT_PRFPREG, 512) ?? new Uint8Array(cls.fpregsetSize);
  const siginfo = new Uint8Array(128);
  if (pendingSig !== 0) pt.getSiginfo(tid, siginfo);
  const tstat = parseStat(readProcText(`/proc/${pid}/task/${tid}/stat`));
  const tstatus = parseStatus(readProcText(`/proc/${pid}/task/${tid}/status`));
  const t: ThreadState = {
    tid, regs, fpregs, siginfo, cursig: pendingSig, sigpend: tstatus.sigPnd, sighold: tstatus.sigBlk,
    utimeUs: tstat.utimeUs, stimeUs: tstat.stimeUs,
  };
  const xstate = readRegset(tid, NT_X86_XSTATE, XSTATE_MAX);
  if (xstate) t.xstate = xstate;
  if (cls === CLASS32) {
    const fx = readRegset(tid, NT_PRXFPREG, 512);
    if (fx) t.fxregs = fx;
    const tls = readRegset(tid, NT_386_TLS, 3 * 16);
    if (tls) t.tls = tls;
  }
  return { t, cls };
}

/**
 * Stop `pid`, build its ProcessImage, run `use` on it, and resume the target whatever
 * happens. `use` calls `copied()` once the memory is copied: the target runs again from there
 * (with lowPause, already before `use`: then the fork goes), and what is read only after the
 * resume (sockets, .procfs.tgz: ProcessInfo) is added to the image. The memory reader is valid
 * until `copied()`, or until `use` returns.
 */
export async function withLiveProcess<T>(target: number | Target, use: (image: ProcessImage, copied: () => void) => Promise<T>, opts: CaptureOptions = {}): Promise<T> {
  const checked = typeof target === "number" ? preflight(target) : target;
  const { pid } = checked;
  const seized = new Map<number, Seized>();
  let mem: LiveMemory | undefined;
  let fork: { child: number; mem: ForkedMemory; abi: Abi; insn: bigint } | undefined;
  let resumed = false;
  /** Signals held back while a thread ran an injected syscall; re-sent once it runs. */
  const held: number[] = [];
  const resume = (): string[] => {
    const trouble = detachAll(seized);
    for (const sig of held.splice(0)) libc.kill(pid, sig);
    return trouble;
  };
  const resumeNow = (): void => {
    mem?.close();
    mem = undefined;
    const trouble = resume();
    resumed = true;
    opts.onResume?.();
    if (trouble.length > 0) throw new TargetError(pid, `could not resume every thread of ${pid}: ${trouble.join("; ")}`);
  };
  /** The fork is done with: killed, and its zombie reaped in the target. */
  const dropFork = (): void => {
    if (!fork) return;
    const { child, abi, insn } = fork;
    fork.mem.close();
    fork = undefined;
    try {
      killChild(child);
      const p = reapInTarget(pid, child, abi, insn);
      if (p) opts.late?.push(p);
    } catch (e) {
      opts.late?.push(`the target's forked copy ${child}: ${(e as Error).message}`);
    }
  };
  try {
    // What the stop would change in /proc, read while the target still runs.
    const beforeStop = readBeforeStop(pid);
    const flagsAhead = readFlagsAhead(pid);
    opts.onStop?.();
    stopAll(pid, seized);
    if (!seized.has(pid) && seized.size === 0) throw new TargetError(pid, `process ${pid} exited before it could be stopped`);
    const order = [...seized.keys()].sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
    const threads: ThreadState[] = [];
    let cls: ElfClass | undefined;
    for (const tid of order) {
      try {
        const r = readThread(pid, tid, seized.get(tid)!.pendingSig);
        threads.push(r.t);
        if (tid === order[0]) cls = r.cls;
      } catch (e) {
        if (isGone(e)) continue; // killed while stopped
        throw e;
      }
    }
    if (!cls || threads.length === 0) throw new TargetError(pid, `process ${pid} exited during the snapshot`);
    const problems: string[] = [];
    const { mappings, mapsText } = readMappings(pid, flagsAhead);
    const anonymous = mappings.filter(isPrivateAnonymous).map((m) => ({ start: m.start, end: m.end }));
    mem = new LiveMemory(pid, anonymous, mappings);
    const image: ProcessImage = { cls, info: readInfo(checked, mapsText), threads, mappings, mem, problems };
    const layout = encodeXsaveLayout(threads[0]?.xstate);
    if (layout) image.xsaveLayout = layout;
    if (opts.lowPause) {
      try {
        fork = forkTarget(checked, seized, image, mem, held);
      } catch (e) {
        if (isGone(e) && hasExited(pid)) throw e;
        problems.push(`low-pause mode not used, the target stays stopped for the copy: ${(e as Error).message}`);
      }
    }
    if (fork) {
      image.mem = fork.mem;
      resumeNow();
      // The fork's fd table is the target's as of the stop.
      image.info.fds = readFds(fork.child);
    } else image.info.fds = readFds(pid);
    let copiedDone = false;
    const copied = (): void => {
      if (copiedDone) return;
      copiedDone = true;
      if (fork) dropFork();
      else resumeNow();
      readAfterResume(image.info, pid, problems, beforeStop);
    };
    return await use(image, copied);
  } catch (e) {
    if (isGone(e) && e.pid !== undefined && e.pid === fork?.child)
      throw new TargetError(pid, `the forked copy of process ${pid} was killed during the snapshot`, { cause: e });
    if (isGone(e) && e.pid !== undefined)
      throw new TargetError(pid, `process ${pid} exited during the snapshot`, { cause: e });
    throw e;
  } finally {
    mem?.close();
    const problems = resume();
    if (!resumed) opts.onResume?.();
    dropFork();
    if (problems.length > 0) throw new TargetError(pid, `could not resume every thread of ${pid}: ${problems.join("; ")}`);
  }
}

/**
 * Forks the stopped target through one of its threads (capture/fork.ts). Throws with the
 * reason when it should not or cannot be done; the target is then as it was.
 */
function forkTarget(target: Target, seized: Map<number, Seized>, image: ProcessImage, mem: LiveMemory, held: number[]): { child: number; mem: ForkedMemory; abi: Abi; insn: bigint } {
  if ((target.status.seccomp ?? 0) !== 0) throw new Error("the target runs under seccomp, which may forbid or punish a fork");
  if ([...seized.values()].some((s) => s.groupStop)) throw new Error("the target is stopped (job control), so a pause costs it nothing");
  const thread = image.threads.find((t) => seized.get(t.tid)?.pendingSig === 0);
  if (!thread) throw new Error("every thread is taking a signal");
  const abi = abiFor(image.cls.word);
  // What the fork will not have: MADV_DONTFORK mappings are absent, MADV_WIPEONFORK ones zero.
  // Only their populated pages hold anything (V8 reserves hundreds of MiB this way, untouched).
  const special = image.mappings.filter((m) => isDumpable(m) && (m.vmFlags.includes("dc") || m.vmFlags.includes("wf")));
  const runs = populatedRuns(target.pid, special);
  const keptBytes = runs.reduce((n, r) => n + Number(r.end - r.start), 0);
  if (keptBytes > KEPT_MAX) throw new Error(`${keptBytes} bytes of MADV_DONTFORK/MADV_WIPEONFORK memory would have to be copied while stopped`);
  const insn = findSyscallInsn(image.mappings, mem, abi);
  if (insn === undefined) throw new Error("no syscall instruction found in the target's code");
  const kept = runs.map((r) => {
    const bytes = new Uint8Array(Number(r.end - r.start));
    mem.read(r.start, bytes);
    return { start: r.start, bytes };
  });
  const absent = special.filter((m) => m.vmFlags.includes("dc")).map((m) => ({ start: m.start, end: m.end }));
  const child = forkStopped(thread.tid, abi, thread.regs, insn, held);
  const anonymous = image.mappings.filter(isPrivateAnonymous).map((m) => ({ start: m.start, end: m.end }));
  // The child's file mappings are the target's, but for the MADV_DONTFORK ones it has not got.
  const files = image.mappings.filter((m) => !m.vmFlags.includes("dc"));
  return { child, mem: new ForkedMemory(child, kept, absent, anonymous, files), abi, insn };
}

/** What /proc says of the stopped process (its fds, sockets and .procfs.tgz are read apart). */
function readInfo({ pid, stat, status }: Target, mapsText: string): ProcessInfo {
  // Read again now that the process is stopped: the group's CPU times as of the snapshot.
  const { utimeUs, stimeUs, cutimeUs, cstimeUs } = readStat(pid);
  return {
    pid, ppid: stat.ppid, pgrp: stat.pgrp, sid: stat.session, uid: status.uid[0], gid: status.gid[0],
    state: stat.state, nice: stat.nice, flags: stat.flags, comm: stat.comm, groupTimes: { utimeUs, stimeUs, cutimeUs, cstimeUs },
    cmdline: readCmdline(pid), environ: readEnviron(pid), exe: readExeLink(pid), auxv: readAuxv(pid),
    mapsText, personality: readPersonality(pid),
    fds: [], sockets: new Map(),
  };
}

/**
 * What waits until the target runs again: the sockets of its network namespace (the fds that
 * name them were read as of the snapshot) and .procfs.tgz, with the texts readBeforeStop read
 * before the stop. The memory is in the file by now, so a target that has exited meanwhile
 * costs these sections, not the snapshot.
 */
function readAfterResume(info: ProcessInfo, pid: number, problems: string[], beforeStop: Map<string, Uint8Array>): void {
  try {
    info.sockets = readSockets(pid);
  } catch (e) {
    problems.push(`sockets: ${isGone(e) ? `process ${pid} exited before they were read` : (e as Error).message}`);
  }
  try {
    info.procfsTgz = buildProcfsTarball(pid, { beforeStop, stopped: false });
  } catch (e) {
    problems.push(`.procfs.tgz: ${isGone(e) ? `process ${pid} exited before /proc/${pid} was read` : (e as Error).message}`);
  }
}
