// Thread state of an ECFS file: .prstatus (struct elf_prstatus per thread, registers by name),
// .fpregset (FXSAVE or i387 FSAVE per thread) and .siginfo (docs/FORMAT.md 4). Trust model:
// section bytes from an untrusted file; record counts follow from the bytes already read and a
// declared sh_entsize other than the record size is refused rather than guessed around.

import { ByteReader } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import { type I386_PR_REG, parsePrstatus, type Timeval, type X86_64_PR_REG } from "../elf/corerecords.ts";
import { ElfFormatError } from "../errors.ts";

export type X86_64Reg = (typeof X86_64_PR_REG)[number];
export type I386Reg = (typeof I386_PR_REG)[number];

/** pr_reg by kernel name, tagged with the layout it came from. */
export type ThreadRegs =
  | { arch: "x86_64"; regs: Readonly<Record<X86_64Reg, bigint>> }
  | { arch: "i386"; regs: Readonly<Record<I386Reg, bigint>> };

export type ThreadStatus = ThreadRegs & {
  /** Position in .prstatus (the faulting thread first, as in the kernel's notes). */
  index: number;
  /** pr_pid: the thread's kernel TID. */
  tid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  /** pr_cursig: the signal that stopped it (0 for a snapshot). */
  cursig: number;
  sigpend: bigint;
  sighold: bigint;
  /** pr_info. */
  info: { signo: number; code: number; errno: number };
  utime: Timeval;
  stime: Timeval;
  cutime: Timeval;
  cstime: Timeval;
  /** rip / eip. */
  pc: bigint;
  /** rsp / esp. */
  sp: bigint;
  fpvalid: number;
};

/** Splits a section of fixed-size records, after checking sh_entsize and the size. */
export function records(bytes: Uint8Array, size: number, entsize: bigint, what: string, base = 0): Uint8Array[] {
  if (entsize !== 0n && entsize !== BigInt(size)) throw new ElfFormatError(base, `bad ${what} sh_entsize`, entsize);
  if (bytes.byteLength % size !== 0) throw new ElfFormatError(base, `${what} size not a multiple of ${size}`, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.byteLength; off += size) out.push(bytes.subarray(off, off + size));
  return out;
}

export function decodePrstatus(bytes: Uint8Array, cls: ElfClass, entsize: bigint, base = 0): ThreadStatus[] {
  return records(bytes, cls.prstatusSize, entsize, ".prstatus", base).map((rec, index) => {
    const p = parsePrstatus(rec, cls, base + index * cls.prstatusSize);
    const common = {
      index,
      tid: p.pr_pid,
      ppid: p.pr_ppid,
      pgrp: p.pr_pgrp,
      sid: p.pr_sid,
      cursig: p.pr_cursig,
      sigpend: p.pr_sigpend,
      sighold: p.pr_sighold,
      info: { signo: p.pr_info.si_signo, code: p.pr_info.si_code, errno: p.pr_info.si_errno },
      utime: p.pr_utime,
      stime: p.pr_stime,
      cutime: p.pr_cutime,
      cstime: p.pr_cstime,
      fpvalid: p.pr_fpvalid,
    };
    // parsePrstatus fills every name of the class's table, so the casts only narrow the key type.
    if (cls.word === 8) {
      const regs = p.pr_reg as Record<X86_64Reg, bigint>;
      return { ...common, arch: "x86_64", regs, pc: regs.rip, sp: regs.rsp };
    }
    const regs = p.pr_reg as Record<I386Reg, bigint>;
    return { ...common, arch: "i386", regs, pc: regs.eip, sp: regs.esp };
  });
}

/** x86_64 elf_fpregset_t: the 512-byte FXSAVE image (user_i387_struct). */
export interface Fxsave {
  kind: "fxsave";
  cwd: number;
  swd: number;
  /** The abridged (8-bit) tag word FXSAVE stores. */
  ftw: number;
  fop: number;
  rip: bigint;
  rdp: bigint;
  mxcsr: number;
  mxcrMask: number;
  /** st0..st7: 10 bytes each (80-bit extended), little-endian. */
  st: Uint8Array[];
  /** xmm0..xmm15: 16 bytes each, little-endian. */
  xmm: Uint8Array[];
}

/** i386 elf_fpregset_t: the 108-byte i387 FSAVE image (user_i387_ia32_struct). */
export interface Fsave {
  kind: "fsave";
  cwd: number;
  swd: number;
  twd: number;
  fip: number;
  fcs: number;
  foo: number;
  fos: number;
  /** st0..st7: 10 bytes each. */
  st: Uint8Array[];
}

export type FpRegs = Fxsave | Fsave;

function fxsave(r: ByteReader): Fxsave {
  return {
    kind: "fxsave",
    cwd: r.u16(0, "cwd"),
    swd: r.u16(2, "swd"),
    ftw: r.u16(4, "ftw"),
    fop: r.u16(6, "fop"),
    rip: r.u64(8, "rip"),
    rdp: r.u64(16, "rdp"),
    mxcsr: r.u32(24, "mxcsr"),
    mxcrMask: r.u32(28, "mxcr_mask"),
    st: Array.from({ length: 8 }, (_, i) => r.view(32 + 16 * i, 10, "st_space")),
    xmm: Array.from({ length: 16 }, (_, i) => r.view(160 + 16 * i, 16, "xmm_space")),
  };
}

function fsave(r: ByteReader): Fsave {
  const w = (i: number, what: string) => r.u32(4 * i, what);
  return {
    kind: "fsave",
    cwd: w(0, "cwd") & 0xffff,
    swd: w(1, "swd") & 0xffff,
    twd: w(2, "twd") & 0xffff,
    fip: w(3, "fip"),
    fcs: w(4, "fcs"),
    foo: w(5, "foo"),
    fos: w(6, "fos"),
    st: Array.from({ length: 8 }, (_, i) => r.view(28 + 10 * i, 10, "st_space")),
  };
}

export function decodeFpregset(bytes: Uint8Array, cls: ElfClass, entsize: bigint, base = 0): FpRegs[] {
  return records(bytes, cls.fpregsetSize, entsize, ".fpregset", base).map((rec, i) => {
    const r = new ByteReader(rec, base + i * cls.fpregsetSize);
    return cls.word === 8 ? fxsave(r) : fsave(r);
  });
}

// ---- siginfo_t (include/uapi/asm-generic/siginfo.h) ----

const SIGILL = 4;
const SIGBUS = 7;
const SIGFPE = 8;
const SIGSEGV = 11;
/** Signals whose siginfo carries si_addr, the faulting address (_sigfault). */
const FAULT_SIGNALS = new Set([SIGILL, SIGBUS, SIGFPE, SIGSEGV]);

const SIGNALS = [
  "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
  "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
  "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR",
  "SIGSYS",
];

/** "SIGSEGV", "SIGRTMIN+3", or the number for anything else. */
export function signalName(n: number): string {
  if (n > 0 && n < SIGNALS.length) return SIGNALS[n]!;
  if (n >= 34 && n <= 64) return `SIGRTMIN+${n - 34}`;
  return String(n);
}

export interface Siginfo {
  signo: number;
  errno: number;
  code: number;
  /** si_addr, for SIGSEGV, SIGBUS, SIGILL and SIGFPE. */
  addr?: bigint;
  /** si_pid / si_uid of a signal sent by a process (si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL...). */
  pid?: number;
  uid?: number;
}

/** The 128-byte siginfo_t; the union starts at 16 on x86_64 and at 12 on i386. */
export function decodeSiginfo(bytes: Uint8Array, cls: ElfClass, base = 0): Siginfo {
  const r = new ByteReader(bytes, base);
  const u = cls.word === 8 ? 16 : 12;
  const out: Siginfo = { signo: r.i32(0, "si_signo"), errno: r.i32(4, "si_errno"), code: r.i32(8, "si_code") };
  if (FAULT_SIGNALS.has(out.signo)) out.addr = r.word(u, cls.word, "si_addr");
  else if (out.signo !== 0 && out.code <= 0) {
    out.pid = r.i32(u, "si_pid");
    out.uid = r.u32(u + 4, "si_uid");
  }
  return out;
}
