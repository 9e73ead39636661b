// Low-pause capture (docs/DESIGN.md, "Facts"): one stopped thread of the target is made to
// run a clone syscall, so the target's memory as of the stop lives on, copy-on-write, in a
// child that never runs (it is born traced and stopped). The target is resumed at once and
// the child is copied at leisure through /proc/CHILD/mem, then killed. The clone has no exit
// signal, so the target gets no SIGCHLD; the zombie it leaves is reaped by a second, tiny
// injection of wait4 into the target.

import { SyscallError, TargetError } from "../errors.ts";
import { CLASS64 } from "../elf/class.ts";
import { NT_PRSTATUS } from "../elf/consts.ts";
import { type RegName, regOffset } from "../elf/corerecords.ts";
import type { Mapping, MemoryReader } from "../model/image.ts";
import { type PageRun, UnpopulatedPages } from "../proc/pagemap.ts";
import { listTasks } from "../proc/process.ts";
import { hasExited } from "../proc/stat.ts";
import { libc } from "../sys/libc.ts";
import { ECHILD, ESRCH, errnoName } from "../sys/errno.ts";
import * as pt from "../sys/ptrace.ts";
import { ProcMem } from "../sys/vm.ts";
import { FilePages, readFile } from "./filepages.ts";

const SIGKILL = 9;
const { SIGTRAP, WNOHANG, __WALL } = pt;
const WAIT_MS = 5000;

/** Where the syscall ABI lives in NT_PRSTATUS (user_regs_struct of each class), and its numbers. */
export interface Abi {
  word: 4 | 8;
  ax: number;
  origAx: number;
  ip: number;
  /** Argument registers in syscall order. */
  args: readonly number[];
  clone: bigint;
  wait4: bigint;
  restartSyscall: bigint;
  /** `syscall` (0f 05) or `int $0x80` (cd 80): both 2 bytes, which the restart rule relies on. */
  insn: readonly [number, number];
}

const r64 = (name: RegName<8>) => regOffset(8, name);
const r32 = (name: RegName<4>) => regOffset(4, name);
const ABI64: Abi = {
  word: 8, ax: r64("rax"), origAx: r64("orig_rax"), ip: r64("rip"), args: [r64("rdi"), r64("rsi"), r64("rdx"), r64("r10"), r64("r8"), r64("r9")],
  clone: 56n, wait4: 61n, restartSyscall: 219n, insn: [0x0f, 0x05],
};
const ABI32: Abi = {
  word: 4, ax: r32("eax"), origAx: r32("orig_eax"), ip: r32("eip"), args: [r32("ebx"), r32("ecx"), r32("edx"), r32("esi"), r32("edi"), r32("ebp")],
  clone: 120n, wait4: 114n, restartSyscall: 0n, insn: [0xcd, 0x80],
};

export const abiFor = (word: 4 | 8): Abi => (word === 8 ? ABI64 : ABI32);

const ERESTARTSYS = 512n;
const ERESTARTNOINTR = 513n;
const ERESTARTNOHAND = 514n;
const ERESTART_RESTARTBLOCK = 516n;

function getReg(regs: Uint8Array, abi: Abi, off: number): bigint {
  const dv = new DataView(regs.buffer, regs.byteOffset, regs.byteLength);
  return abi.word === 8 ? dv.getBigInt64(off, true) : BigInt(dv.getInt32(off, true));
}

function setReg(regs: Uint8Array, abi: Abi, off: number, v: bigint): void {
  const dv = new DataView(regs.buffer, regs.byteOffset, regs.byteLength);
  if (abi.word === 8) dv.setBigUint64(off, BigInt.asUintN(64, v), true);
  else dv.setUint32(off, Number(BigInt.asUintN(32, v)), true);
}

/**
 * The registers to put back after an injection. A thread stopped inside an interrupted
 * syscall holds -ERESTART* in ax; the kernel would have restarted that syscall on the way
 * out of the stop (arch_do_signal_or_restart), but the injected syscall's exit path does not
 * look again, so the same rule is applied here: back up over the 2-byte instruction.
 */
export function restartedRegs(saved: Uint8Array, abi: Abi): Uint8Array {
  const regs = saved.slice();
  const nr = getReg(regs, abi, abi.origAx);
  if (nr < 0n) return regs;
  const err = -getReg(regs, abi, abi.ax);
  if (err === ERESTARTSYS || err === ERESTARTNOINTR || err === ERESTARTNOHAND) setReg(regs, abi, abi.ax, nr);
  else if (err === ERESTART_RESTARTBLOCK) setReg(regs, abi, abi.ax, abi.restartSyscall);
  else return regs;
  setReg(regs, abi, abi.ip, getReg(regs, abi, abi.ip) - 2n);
  return regs;
}

/** Finds the 2-byte syscall instruction in the target's executable memory, the vDSO first. */
export function findSyscallInsn(mappings: readonly Mapping[], mem: MemoryReader, abi: Abi): bigint | undefined {
  const code = mappings.filter((m) => m.perms[0] === "r" && m.perms[2] === "x");
  code.sort((a, b) => Number(b.path === "[vdso]") - Number(a.path === "[vdso]"));
  const buf = new Uint8Array(64 * 1024);
  let budget = 32 << 20;
  for (const m of code) {
    for (let at = m.start; at < m.end && budget > 0; at += BigInt(buf.byteLength - 1)) {
      const len = Number(m.end - at < BigInt(buf.byteLength) ? m.end - at : BigInt(buf.byteLength));
      const n = mem.read(at, buf.subarray(0, len));
      budget -= len;
      for (let i = 0; i + 1 < n; i++) if (buf[i] === abi.insn[0] && buf[i + 1] === abi.insn[1]) return at + BigInt(i);
      if (n < len) break;
    }
  }
  return undefined;
}

export interface Injection {
  /** The syscall's return value (negative: -errno). */
  result: bigint;
  /** The child of a clone, when one was made. */
  child?: number;
}

/**
 * Runs syscall `nr` in thread `tid`, which must be in a ptrace-stop that is not a
 * signal-delivery-stop or group-stop, and leaves it stopped at that syscall's exit with its
 * registers as they were (restart rule applied). `saved` is its NT_PRSTATUS as read before.
 * Signals that reach the thread meanwhile are held back (pushed on `held`, even when this
 * throws): the caller re-sends them once the thread runs again.
 */
export function injectSyscall(
  tid: number, abi: Abi, saved: Uint8Array, insn: bigint, nr: bigint, args: readonly bigint[], held: number[],
  onChild?: (child: number) => void,
): Injection {
  const regs = saved.slice();
  setReg(regs, abi, abi.ip, insn);
  setReg(regs, abi, abi.ax, nr);
  // Not inside a syscall as far as the way out of this stop is concerned: no restart there.
  setReg(regs, abi, abi.origAx, -1n);
  args.forEach((v, i) => setReg(regs, abi, abi.args[i]!, v));
  pt.setOptions(tid, pt.PTRACE_O_TRACESYSGOOD | pt.PTRACE_O_TRACECLONE);
  pt.setRegset(tid, NT_PRSTATUS, regs);
  const out: Injection = { result: 0n };
  let entered = false;
  let done = false;
  // Signals pending from the stop come first, one stop each: bound the time, not the count.
  const deadline = performance.now() + WAIT_MS;
  try {
    pt.resumeToSyscall(tid);
    while (performance.now() < deadline) {
      const w = pt.waitThread(tid, WAIT_MS);
      if (w.kind === "timeout") throw new TargetError(tid, `thread ${tid} did not come back from an injected syscall within ${WAIT_MS / 1000} s`);
      if (w.kind !== "stopped") throw new SyscallError("injected syscall", ESRCH, "ESRCH", tid);
      if (w.sig === pt.SYSCALL_STOP_SIG && w.event === 0) {
        if (entered) {
          const now = new Uint8Array(saved.byteLength);
          pt.getRegset(tid, NT_PRSTATUS, now);
          out.result = getReg(now, abi, abi.ax);
          pt.setRegset(tid, NT_PRSTATUS, restartedRegs(saved, abi));
          pt.setOptions(tid, 0);
          done = true;
          return out;
        }
        entered = true;
      } else if (w.event === pt.PTRACE_EVENT_CLONE) {
        out.child = Number(pt.getEventMsg(tid));
        onChild?.(out.child);
      } else if (w.event === 0 && w.sig !== SIGTRAP) {
        // A signal arrived meanwhile: hold it back now, re-send it once the registers are back.
        held.push(w.sig);
      }
      pt.resumeToSyscall(tid);
    }
    throw new TargetError(tid, `thread ${tid} kept taking signals for ${WAIT_MS / 1000} s instead of running an injected syscall`);
  } finally {
    if (!done) restore(tid, abi, saved);
  }
}

/** Registers and options back as they were (the restart rule applied); quiet if it cannot. */
function restore(tid: number, abi: Abi, saved: Uint8Array): void {
  try {
    pt.setRegset(tid, NT_PRSTATUS, restartedRegs(saved, abi));
    pt.setOptions(tid, 0);
  } catch {
    // Running or gone: the error that brought us here says more.
  }
}

/** waitpid for a thread to stop or end; true when it stopped. */
function waitStopped(tid: number): boolean {
  const w = pt.waitThread(tid, WAIT_MS);
  if (w.kind === "timeout") throw new TargetError(tid, `thread ${tid} did not stop within ${WAIT_MS / 1000} s`);
  return w.kind === "stopped";
}

/** Bytes of the target kept aside while it was stopped. */
export interface KeptRun {
  start: bigint;
  bytes: Uint8Array;
}

/**
 * The forked child's memory: /proc/CHILD/mem, which reads copy-on-write pages without
 * breaking the sharing (process_vm_readv would pin them, making the kernel copy each one).
 * What the child lacks (MADV_DONTFORK: `absent` ranges) or has zeroed (MADV_WIPEONFORK) was
 * read from the stopped target: its populated pages are `kept`, and the rest of an absent
 * range reads as the zeros it held.
 */
export class ForkedMemory implements MemoryReader {
  readonly #mem: ProcMem;
  readonly #kept: readonly KeptRun[];
  readonly #absent: readonly { start: bigint; end: bigint }[];
  readonly #unpopulated: UnpopulatedPages;
  readonly #files: FilePages | undefined;
  /**
   * `anonymous`: the target's private anonymous mappings. The child's page tables are a copy of
   * the target's there (fork copies every PTE of a mapping that has pages), so the child's
   * pagemap tells which pages were never populated. `mappings`: the child's file-backed pages
   * are read from their files (capture/filepages.ts), not page by page through /proc/CHILD/mem.
   */
  constructor(readonly child: number, kept: readonly KeptRun[], absent: readonly { start: bigint; end: bigint }[], anonymous: readonly PageRun[] = [], mappings?: readonly Mapping[]) {
    this.#mem = new ProcMem(child);
    this.#kept = [...kept].sort((a, b) => (a.start < b.start ? -1 : 1));
    this.#absent = [...absent].sort((a, b) => (a.start < b.start ? -1 : 1));
    this.#unpopulated = new UnpopulatedPages(child, anonymous);
    if (mappings) this.#files = new FilePages(child, mappings);
  }

  /** From the child: file pages from their files, the rest through /proc/CHILD/mem. */
  #readChild(addr: bigint, dst: Uint8Array): number {
    if (!this.#files) return this.#mem.read(addr, dst);
    let done = 0;
    for (const part of this.#files.split(addr, dst.byteLength)) {
      const len = Number(part.end - part.start);
      const sub = dst.subarray(done, done + len);
      let n = part.file ? readFile(part.file.fd, sub, part.file.offset) : 0;
      if (n < len) n += this.#mem.read(part.start + BigInt(n), sub.subarray(n));
      done += n;
      if (n < len) break;
    }
    return done;
  }

  /** The child's populated pages, and the runs kept aside (which the child lacks or has wiped). */
  dataRuns(addr: bigint, len: number): PageRun[] {
    const end = addr + BigInt(len);
    const runs = this.#unpopulated.dataRuns(addr, len);
    for (const k of this.#kept) {
      const kEnd = k.start + BigInt(k.bytes.byteLength);
      if (kEnd > addr && k.start < end) runs.push({ start: k.start > addr ? k.start : addr, end: kEnd < end ? kEnd : end });
    }
    runs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const out: PageRun[] = [];
    for (const r of runs) {
      const last = out[out.length - 1];
      if (last && r.start <= last.end) last.end = r.end > last.end ? r.end : last.end;
      else out.push({ ...r });
    }
    return out;
  }

  read(addr: bigint, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.byteLength) {
      const at = addr + BigInt(done);
      const left = dst.byteLength - done;
      const k = this.#kept.find((r) => at >= r.start && at < r.start + BigInt(r.bytes.byteLength));
      if (k) {
        const from = Number(at - k.start);
        const n = Math.min(left, k.bytes.byteLength - from);
        dst.set(k.bytes.subarray(from, from + n), done);
        done += n;
        continue;
      }
      // Up to the next kept run, so that it is not read from the child.
      const next = this.#kept.find((r) => r.start > at)?.start;
      const upTo = (end: bigint): number => Math.min(left, Number((next !== undefined && next < end ? next : end) - at));
      const z = this.#absent.find((r) => at >= r.start && at < r.end);
      if (z) {
        const n = upTo(z.end);
        dst.fill(0, done, done + n);
        done += n;
        continue;
      }
      // The child has no mapping where an absent range begins: stop there too.
      const gap = this.#absent.find((r) => r.start > at)?.start;
      const stop = next === undefined ? gap : gap === undefined || next < gap ? next : gap;
      const lim = stop === undefined ? left : Math.min(left, Number(stop - at));
      const n = this.#readChild(at, dst.subarray(done, done + lim));
      done += n;
      if (n < lim) {
        if (n === 0 && !alive(this.child)) throw new SyscallError("pread /proc/PID/mem", ESRCH, "ESRCH", this.child);
        break;
      }
    }
    return done;
  }

  close(): void {
    this.#mem.close();
    this.#files?.close();
    this.#unpopulated.close();
  }
}

const alive = (tid: number): boolean => !hasExited(tid);

/** Fork the stopped target through thread `tid`; returns the child, stopped and traced. */
export function forkStopped(tid: number, abi: Abi, saved: Uint8Array, insn: bigint, held: number[]): number {
  // clone(flags 0): a fork whose exit signal is none, so the parent is never signalled.
  let ready: unknown;
  const inj = injectSyscall(tid, abi, saved, insn, abi.clone, [0n, 0n, 0n, 0n, 0n, 0n], held, (c) => {
    // At once, before the parent goes on: should we die from here, the kernel kills the copy
    // (PTRACE_O_EXITKILL) instead of letting it run untraced.
    try {
      if (!waitStopped(c)) throw new TargetError(tid, `the forked copy ${c} ended before it could be read`);
      pt.setOptions(c, pt.PTRACE_O_EXITKILL);
      ready = true;
    } catch (e) {
      ready = e;
    }
  });
  if (inj.result < 0n) {
    if (inj.child !== undefined) killChild(inj.child);
    throw new SyscallError("clone (injected into the target)", Number(-inj.result), errnoName(Number(-inj.result)), tid);
  }
  const child = inj.child ?? Number(inj.result);
  try {
    if (ready === undefined) throw new TargetError(tid, `the forked copy ${child} was made without a clone event`);
    if (ready !== true) throw ready;
    return child;
  } catch (e) {
    // Undo: the copy dies, and the thread, still stopped, reaps it at once.
    killChild(child);
    injectReap(tid, abi, saved, insn, child, held);
    throw e;
  }
}

/** wait4(child, NULL, __WALL | WNOHANG, NULL) run by the stopped thread `tid`: reaps the killed fork's zombie. */
function injectReap(tid: number, abi: Abi, saved: Uint8Array, insn: bigint, child: number, held: number[]): Injection {
  return injectSyscall(tid, abi, saved, insn, abi.wait4, [BigInt(child), 0n, BigInt(__WALL | WNOHANG), 0n], held);
}

/** SIGKILL the child and collect it as its tracer; its zombie then belongs to the target. */
export function killChild(child: number): void {
  libc.kill(child, SIGKILL);
  for (let i = 0; i < 4; i++) {
    try {
      const w = pt.waitThread(child, WAIT_MS);
      if (w.kind === "exited" || w.kind === "killed") return;
    } catch (e) {
      if (e instanceof SyscallError && e.code === "ECHILD") return;
      throw e;
    }
  }
}

/**
 * Reap the killed child's zombie in the target: stop one of its threads for a moment and
 * run wait4(child, NULL, __WALL | WNOHANG, NULL) there. Returns a problem, or undefined.
 */
export function reapInTarget(pid: number, child: number, abi: Abi, insn: bigint): string | undefined {
  let tids: number[];
  try {
    tids = listTasks(pid);
  } catch {
    return undefined; // the target is gone: init reaps the child
  }
  const tid = tids.includes(pid) && alive(pid) ? pid : tids.find(alive);
  if (tid === undefined) return undefined;
  try {
    pt.seize(tid);
  } catch (e) {
    return `cannot stop the target again to reap its forked copy ${child}: ${(e as Error).message}`;
  }
  // A signal the thread stopped for instead of our interrupt goes back with the detach
  // (siginfo intact); signals held back during the injection are sent again after it.
  let sig = 0;
  const held: number[] = [];
  try {
    pt.interrupt(tid);
    const w = pt.waitThread(tid, WAIT_MS);
    if (w.kind !== "stopped") return undefined;
    if (w.event === 0 && w.sig !== SIGTRAP) {
      sig = w.sig;
      return `the target's forked copy ${child} is left a zombie: the target was taking a signal`;
    }
    if (w.sig !== SIGTRAP) return `the target's forked copy ${child} is left a zombie: the target is stopped (job control)`;
    const buf = new Uint8Array(CLASS64.regsSize); // room for either class
    const saved = buf.subarray(0, pt.getRegset(tid, NT_PRSTATUS, buf));
    const inj = injectReap(tid, abi, saved, insn, child, held);
    // ECHILD: the target reaped it itself (a wait with __WALL), which is as good.
    if (inj.result !== BigInt(child) && inj.result !== -BigInt(ECHILD)) return `the target's forked copy ${child} is left a zombie (wait4 gave ${inj.result})`;
    return undefined;
  } catch (e) {
    return `the target's forked copy ${child} may be left a zombie: ${(e as Error).message}`;
  } finally {
    try {
      pt.detach(tid, sig);
    } catch {
      // ESRCH: gone meanwhile.
    }
    for (const s of held) libc.kill(pid, s);
  }
}
