// The one model everything downstream consumes (docs/DESIGN.md, "The pipeline"). Capture fills
// it from a live process or a kernel core; the ECFS layout reads it and never touches
// /proc or ptrace itself. Addresses, offsets and sizes of the target are bigint.

import type { ElfClass } from "../elf/class.ts";
import type { FdEntry } from "../proc/fds.ts";
import type { SocketEntry } from "../proc/sockets.ts";

/** One line of /proc/PID/maps plus the VmFlags of its smaps entry. */
export interface Mapping {
  start: bigint;
  end: bigint;
  /** The four permission characters, e.g. "r-xp". */
  perms: string;
  offset: bigint;
  /** "fd:01" as printed. */
  dev: string;
  inode: bigint;
  /** Path or pseudo-name ("[heap]", "[stack]", "[vdso]", ""), with " (deleted)" removed. */
  path: string;
  deleted: boolean;
  /** Two-letter VmFlags from smaps ("rd", "dd", "io", ...); empty when smaps was not read. */
  vmFlags: string[];
}

/** Register sets of one thread, as the kernel lays them out for the target's ELF class. */
export interface ThreadState {
  tid: number;
  /** pr_reg: user_regs_struct, 27 x u64 (216 bytes) or 17 x u32 (68 bytes). */
  regs: Uint8Array;
  /** NT_PRFPREG payload: 512-byte FXSAVE image, or 108-byte i387 FSAVE for i386. */
  fpregs: Uint8Array;
  /** NT_PRXFPREG (i386 only): the 512-byte FXSAVE image. */
  fxregs?: Uint8Array;
  /** NT_X86_XSTATE payload, as long as the CPU's XSAVE area. */
  xstate?: Uint8Array;
  /** NT_386_TLS (i386 only): the thread's GDT TLS entries (3 x struct user_desc). */
  tls?: Uint8Array;
  /** 128-byte siginfo_t of the pending stop signal, zeros when there is none. */
  siginfo: Uint8Array;
  /** Signal that stopped the thread (pr_cursig), 0 for a ptrace interrupt. */
  cursig: number;
  sigpend: bigint;
  sighold: bigint;
  /** From /proc/PID/task/TID/stat: microseconds. */
  utimeUs: bigint;
  stimeUs: bigint;
}

/** Where memory comes from: ptrace-stopped process, a pidfd'd dying task, a core file. */
export interface MemoryReader {
  /**
   * Fill `dst` from target address `addr`. Returns how many bytes from the start were
   * read; a short count means the rest is unreadable (a hole), not an error.
   */
  read(addr: bigint, dst: Uint8Array): number;
  /**
   * Optional vectored form: the ranges back to back into `dst`, in one go where the source
   * allows (process_vm_readv takes up to 1024). Returns the bytes read from the start of dst.
   */
  readv?(ranges: { addr: bigint; len: number }[], dst: Uint8Array): number;
  /**
   * Optional: the parts of [addr, addr+len) that may hold data, in address order; the rest is
   * known to read as zeros without being read (never-populated anonymous memory, which a read
   * would fault in). Without it, everything is read.
   */
  dataRuns?(addr: bigint, len: number): { start: bigint; end: bigint }[];
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  uid: number;
  gid: number;
  /** Kernel state letter (R, S, D, T, t, Z, ...). */
  state: string;
  nice: number;
  /** task flags from /proc/PID/stat (PF_*), for pr_flag. */
  flags: number;
  /**
   * From /proc/PID/stat as the process was stopped, in microseconds (1/100 s resolution): the
   * whole thread group's CPU time and that of its reaped children, as a core reports them.
   */
  groupTimes: { utimeUs: bigint; stimeUs: bigint; cutimeUs: bigint; cstimeUs: bigint };
  comm: string;
  /** Raw /proc/PID/cmdline bytes (NUL-separated argv). */
  cmdline: Uint8Array;
  /** Raw /proc/PID/environ bytes. */
  environ: Uint8Array;
  /** readlink /proc/PID/exe, " (deleted)" kept as the kernel prints it. */
  exe: string;
  /** Raw /proc/PID/auxv bytes (pairs of native words, ending with AT_NULL). */
  auxv: Uint8Array;
  /** Text of /proc/PID/maps, kept as is for the .maps section. */
  mapsText: string;
  personality: number;
  /** Open file descriptors, ascending. */
  fds: FdEntry[];
  /** Sockets of the target's network namespace (/proc/PID/net/*), by inode. */
  sockets: Map<bigint, SocketEntry>;
  /** gzip'd tar of /proc/PID with real file contents; absent when it could not be made. */
  procfsTgz?: Uint8Array;
}

export interface ProcessImage {
  cls: ElfClass;
  info: ProcessInfo;
  /** Thread 0 is the one reported first (the faulting thread in a crash, the leader in a snapshot). */
  threads: ThreadState[];
  mappings: Mapping[];
  mem: MemoryReader;
  /** What could not be captured (the rest is still valid), for the user. */
  problems: string[];
  /** NT_X86_XSAVE_LAYOUT payload (struct x86_xfeat_component[]), when the CPU's layout is known. */
  xsaveLayout?: Uint8Array;
  /**
   * The notes of the kernel's own core, in its order (a crash): the file carries these instead
   * of notes rebuilt from the model, so nothing the kernel wrote is lost.
   */
  kernelNotes?: { name: string; type: number; desc: Uint8Array }[];
}
