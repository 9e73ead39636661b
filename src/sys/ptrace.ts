// Thin typed ptrace(2) and waitpid(2) wrappers. Every call must come from the thread that
// attached; Bun runs FFI on the JS thread, so never call these from a Worker.

import { ptr } from "bun:ffi";
import { SyscallError } from "../errors.ts";
import { errno, libc } from "./libc.ts";
import { errnoName } from "./errno.ts";

export const PTRACE_SYSCALL = 24;
export const PTRACE_DETACH = 17;
export const PTRACE_SETOPTIONS = 0x4200;
export const PTRACE_GETEVENTMSG = 0x4201;
export const PTRACE_GETREGSET = 0x4204;
export const PTRACE_SETREGSET = 0x4205;
export const PTRACE_GETSIGINFO = 0x4202;
export const PTRACE_SEIZE = 0x4206;
export const PTRACE_INTERRUPT = 0x4207;
export const PTRACE_EVENT_STOP = 128;
export const PTRACE_EVENT_CLONE = 3;
export const PTRACE_O_TRACESYSGOOD = 1;
export const PTRACE_O_TRACECLONE = 8;
export const PTRACE_O_EXITKILL = 0x100000;
/** The stop signal of a syscall stop under PTRACE_O_TRACESYSGOOD. */
export const SYSCALL_STOP_SIG = 5 /* SIGTRAP */ | 0x80;

export const WNOHANG = 1;
export const __WALL = 0x40000000;
export const SIGTRAP = 5;

function check(call: string, r: bigint | number, tid: number): void {
  if (r === -1 || r === -1n) {
    const e = errno();
    throw new SyscallError(call, e, errnoName(e), tid);
  }
}

export function seize(tid: number, options = 0): void {
  check("ptrace(PTRACE_SEIZE)", libc.ptrace(PTRACE_SEIZE, tid, 0n, BigInt(options)), tid);
}

export function interrupt(tid: number): void {
  check("ptrace(PTRACE_INTERRUPT)", libc.ptrace(PTRACE_INTERRUPT, tid, 0n, 0n), tid);
}

/** Detach, delivering `sig` (a signal that stopped the thread and must not be lost). */
export function detach(tid: number, sig = 0): void {
  check("ptrace(PTRACE_DETACH)", libc.ptrace(PTRACE_DETACH, tid, 0n, BigInt(sig)), tid);
}

/**
 * PTRACE_GETREGSET: fills `buf` with regset `nt` (NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE...)
 * and returns how many bytes the kernel wrote. The kernel uses the tracee's view, so an
 * i386 tracee gives i386 layouts even to our 64-bit process.
 */
export function getRegset(tid: number, nt: number, buf: Uint8Array): number {
  const iov = new BigUint64Array([BigInt(ptr(buf)), BigInt(buf.byteLength)]);
  check("ptrace(PTRACE_GETREGSET)", libc.ptrace(PTRACE_GETREGSET, tid, BigInt(nt), BigInt(ptr(iov))), tid);
  return Number(iov[1]);
}

/** PTRACE_SETREGSET: the whole regset `nt` from `buf` (as getRegset gave it). */
export function setRegset(tid: number, nt: number, buf: Uint8Array): void {
  const iov = new BigUint64Array([BigInt(ptr(buf)), BigInt(buf.byteLength)]);
  check("ptrace(PTRACE_SETREGSET)", libc.ptrace(PTRACE_SETREGSET, tid, BigInt(nt), BigInt(ptr(iov))), tid);
}

export function setOptions(tid: number, options: number): void {
  check("ptrace(PTRACE_SETOPTIONS)", libc.ptrace(PTRACE_SETOPTIONS, tid, 0n, BigInt(options)), tid);
}

/** Resume until the next syscall entry or exit (or other stop), delivering `sig`. */
export function resumeToSyscall(tid: number, sig = 0): void {
  check("ptrace(PTRACE_SYSCALL)", libc.ptrace(PTRACE_SYSCALL, tid, 0n, BigInt(sig)), tid);
}

/** PTRACE_GETEVENTMSG: e.g. the new thread's id at a PTRACE_EVENT_CLONE stop. */
export function getEventMsg(tid: number): bigint {
  const v = new BigUint64Array(1);
  check("ptrace(PTRACE_GETEVENTMSG)", libc.ptrace(PTRACE_GETEVENTMSG, tid, 0n, BigInt(ptr(v))), tid);
  return v[0] ?? 0n;
}

export function getSiginfo(tid: number, buf: Uint8Array): void {
  if (buf.byteLength < 128) throw new RangeError("siginfo buffer must hold 128 bytes");
  check("ptrace(PTRACE_GETSIGINFO)", libc.ptrace(PTRACE_GETSIGINFO, tid, 0n, BigInt(ptr(buf))), tid);
}

export type WaitResult =
  | { kind: "stopped"; sig: number; event: number }
  | { kind: "exited"; code: number }
  | { kind: "killed"; sig: number }
  | { kind: "timeout" };

/** Polls without sleeping first: a stop usually shows within tens of microseconds. */
const SPIN_POLLS = 32;
/** Then sleeps between polls growing by half each time up to 1 ms: at most half again the wait. */
const FIRST_SLEEP_MS = 0.05;
const MAX_SLEEP_MS = 1;

/**
 * Wait for a state change of one traced thread, polling with WNOHANG so a thread that
 * never stops (uninterruptible sleep) cannot hang us past `timeoutMs`. Every wait here is
 * part of the target's pause (stopping it, an injected fork), so the polls are tight at first.
 */
export function waitThread(tid: number, timeoutMs: number): WaitResult {
  const status = new Int32Array(1);
  const deadline = performance.now() + timeoutMs;
  let pause = FIRST_SLEEP_MS;
  for (let polls = 0; ; polls++) {
    const r = libc.waitpid(tid, ptr(status), WNOHANG | __WALL);
    if (r === -1) {
      const e = errno();
      throw new SyscallError("waitpid", e, errnoName(e), tid);
    }
    if (r === tid) return decodeStatus(status[0] ?? 0);
    if (polls < SPIN_POLLS) continue;
    if (performance.now() >= deadline) return { kind: "timeout" };
    Bun.sleepSync(pause);
    pause = Math.min(pause * 1.5, MAX_SLEEP_MS);
  }
}

function decodeStatus(s: number): WaitResult {
  if ((s & 0xff) === 0x7f) return { kind: "stopped", sig: (s >> 8) & 0xff, event: (s >> 16) & 0xffff };
  if ((s & 0x7f) === 0) return { kind: "exited", code: (s >> 8) & 0xff };
  return { kind: "killed", sig: s & 0x7f };
}
