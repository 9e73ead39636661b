// struct elf_prstatus and struct elf_prpsinfo (include/linux/elfcore.h; compat_elf_* of
// include/linux/elfcore-compat.h for i386; docs/FORMAT.md 4): one layout table per record and
// class, read and written through the same table, as ecfs/fdinfo.ts does for fd_info_t.
// Trust model: decoding takes note bytes from a core we did not write, so the descriptor size is
// checked against the record before any field is read; encoding takes our own values.

import { ElfFormatError } from "../errors.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import type { ElfClass } from "./class.ts";

/** user_regs_struct word order as the kernel dumps pr_reg (arch/x86/include/asm/user_64.h). */
export const X86_64_PR_REG = [
  "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
  "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
] as const;
/** struct user_regs_struct32 / i386 user_regs_struct order (arch/x86/include/asm/user32.h). */
export const I386_PR_REG = [
  "ebx", "ecx", "edx", "esi", "edi", "ebp", "eax", "ds", "es", "fs", "gs", "orig_eax", "eip", "cs", "eflags",
  "esp", "ss",
] as const;

/** ELF_PRARGSZ: pr_psargs, and ECFS's .arglist size. */
export const ELF_PRARGSZ = 80;
/** sizeof(pr_fname): TASK_COMM_LEN. */
export const PR_FNAME_SIZE = 16;

/**
 * Field offsets of elf_prstatus. pr_info is struct elf_siginfo {si_signo, si_code, si_errno};
 * the four times are struct (compat_)timeval {tv_sec, tv_usec} of signed words.
 */
export const PRSTATUS = {
  8: {
    size: 336, si_signo: 0, si_code: 4, si_errno: 8, pr_cursig: 12, pr_sigpend: 16, pr_sighold: 24,
    pr_pid: 32, pr_ppid: 36, pr_pgrp: 40, pr_sid: 44, pr_utime: 48, pr_stime: 64, pr_cutime: 80, pr_cstime: 96,
    pr_reg: 112, pr_fpvalid: 328, regNames: X86_64_PR_REG,
  },
  4: {
    size: 144, si_signo: 0, si_code: 4, si_errno: 8, pr_cursig: 12, pr_sigpend: 16, pr_sighold: 20,
    pr_pid: 24, pr_ppid: 28, pr_pgrp: 32, pr_sid: 36, pr_utime: 40, pr_stime: 48, pr_cutime: 56, pr_cstime: 64,
    pr_reg: 72, pr_fpvalid: 140, regNames: I386_PR_REG,
  },
} as const;

/** Field offsets of elf_prpsinfo; i386 keeps __compat_uid_t/__compat_gid_t as u16 (arch/x86/include/asm/compat.h). */
export const PRPSINFO = {
  8: {
    size: 136, pr_state: 0, pr_sname: 1, pr_zomb: 2, pr_nice: 3, pr_flag: 8, pr_uid: 16, pr_gid: 20, idSize: 4,
    pr_pid: 24, pr_ppid: 28, pr_pgrp: 32, pr_sid: 36, pr_fname: 40, pr_psargs: 56,
  },
  4: {
    size: 124, pr_state: 0, pr_sname: 1, pr_zomb: 2, pr_nice: 3, pr_flag: 4, pr_uid: 8, pr_gid: 10, idSize: 2,
    pr_pid: 12, pr_ppid: 16, pr_pgrp: 20, pr_sid: 24, pr_fname: 28, pr_psargs: 44,
  },
} as const;

/** sizeof(user_regs_struct) of the class: pr_reg's size. */
export const regsSize = (word: 4 | 8): number => PRSTATUS[word].regNames.length * word;

export type RegName<W extends 4 | 8> = (typeof PRSTATUS)[W]["regNames"][number];

/** Offset of a register in the class's user_regs_struct (pr_reg, PTRACE_GETREGSET NT_PRSTATUS). */
export function regOffset<W extends 4 | 8>(word: W, name: RegName<W>): number {
  return (PRSTATUS[word].regNames as readonly string[]).indexOf(name) * word;
}

export interface Timeval {
  tv_sec: bigint;
  tv_usec: bigint;
}

export interface ElfPrstatus {
  pr_info: { si_signo: number; si_code: number; si_errno: number };
  pr_cursig: number;
  pr_sigpend: bigint;
  pr_sighold: bigint;
  /** The thread's kernel TID. */
  pr_pid: number;
  pr_ppid: number;
  pr_pgrp: number;
  pr_sid: number;
  pr_utime: Timeval;
  pr_stime: Timeval;
  pr_cutime: Timeval;
  pr_cstime: Timeval;
  /** Register words by kernel name, in kernel order (X86_64_PR_REG or I386_PR_REG). */
  pr_reg: Record<string, bigint>;
  /** The raw user_regs_struct (216 or 68 bytes), a view into desc. */
  pr_reg_bytes: Uint8Array;
  pr_fpvalid: number;
}

/** What encodePrstatus writes: every field, the registers as the raw user_regs_struct. */
export type PrstatusFields = Omit<ElfPrstatus, "pr_reg">;

function i16(v: number): number {
  return (v << 16) >> 16;
}

export function parsePrstatus(desc: Uint8Array, cls: ElfClass, base = 0): ElfPrstatus {
  const w = cls.word;
  const L = PRSTATUS[w];
  if (desc.byteLength !== L.size) throw new ElfFormatError(base, `bad NT_PRSTATUS size for ${cls.name}`, desc.byteLength);
  const r = new ByteReader(desc, base);
  const sword = (off: number, what: string): bigint => (w === 8 ? r.i64(off, what) : BigInt(r.i32(off, what)));
  const tv = (off: number, what: string): Timeval => ({ tv_sec: sword(off, what), tv_usec: sword(off + w, what) });
  const pr_reg: Record<string, bigint> = {};
  L.regNames.forEach((name, i) => {
    pr_reg[name] = r.word(L.pr_reg + i * w, w, "pr_reg");
  });
  return {
    pr_info: { si_signo: r.i32(L.si_signo, "si_signo"), si_code: r.i32(L.si_code, "si_code"), si_errno: r.i32(L.si_errno, "si_errno") },
    pr_cursig: i16(r.u16(L.pr_cursig, "pr_cursig")),
    pr_sigpend: r.word(L.pr_sigpend, w, "pr_sigpend"),
    pr_sighold: r.word(L.pr_sighold, w, "pr_sighold"),
    pr_pid: r.i32(L.pr_pid, "pr_pid"),
    pr_ppid: r.i32(L.pr_ppid, "pr_ppid"),
    pr_pgrp: r.i32(L.pr_pgrp, "pr_pgrp"),
    pr_sid: r.i32(L.pr_sid, "pr_sid"),
    pr_utime: tv(L.pr_utime, "pr_utime"),
    pr_stime: tv(L.pr_stime, "pr_stime"),
    pr_cutime: tv(L.pr_cutime, "pr_cutime"),
    pr_cstime: tv(L.pr_cstime, "pr_cstime"),
    pr_reg,
    pr_reg_bytes: r.view(L.pr_reg, regsSize(w), "pr_reg"),
    pr_fpvalid: r.i32(L.pr_fpvalid, "pr_fpvalid"),
  };
}

/** The record's bytes; pr_reg_bytes is cut or zero-filled to the class's user_regs_struct. */
export function encodePrstatus(cls: ElfClass, p: PrstatusFields): Uint8Array {
  const wd = cls.word;
  const L = PRSTATUS[wd];
  const w = new ByteWriter(L.size);
  const tv = (off: number, t: Timeval) => w.word(off, wd, t.tv_sec).word(off + wd, wd, t.tv_usec);
  w.i32(L.si_signo, p.pr_info.si_signo).i32(L.si_code, p.pr_info.si_code).i32(L.si_errno, p.pr_info.si_errno);
  w.u16(L.pr_cursig, p.pr_cursig & 0xffff);
  w.word(L.pr_sigpend, wd, p.pr_sigpend).word(L.pr_sighold, wd, p.pr_sighold);
  w.i32(L.pr_pid, p.pr_pid).i32(L.pr_ppid, p.pr_ppid).i32(L.pr_pgrp, p.pr_pgrp).i32(L.pr_sid, p.pr_sid);
  tv(L.pr_utime, p.pr_utime);
  tv(L.pr_stime, p.pr_stime);
  tv(L.pr_cutime, p.pr_cutime);
  tv(L.pr_cstime, p.pr_cstime);
  w.set(L.pr_reg, p.pr_reg_bytes.subarray(0, regsSize(wd)));
  w.i32(L.pr_fpvalid, p.pr_fpvalid);
  return w.bytes;
}

export interface ElfPrpsinfo {
  pr_state: number;
  /** One character, e.g. "R", "S", "t". */
  pr_sname: string;
  pr_zomb: number;
  pr_nice: number;
  pr_flag: bigint;
  pr_uid: number;
  pr_gid: number;
  pr_pid: number;
  pr_ppid: number;
  pr_pgrp: number;
  pr_sid: number;
  /** Executable name, at most 15 characters. */
  pr_fname: string;
  /** First ELF_PRARGSZ-1 bytes of the command line, NULs turned into spaces by the kernel. */
  pr_psargs: string;
}

/** What encodePrpsinfo writes: the two names as raw bytes (argv need not be UTF-8), each cut to leave its NUL. */
export type PrpsinfoFields = Omit<ElfPrpsinfo, "pr_fname" | "pr_psargs"> & { pr_fname: Uint8Array; pr_psargs: Uint8Array };

const decoder = new TextDecoder();

function fixedStr(r: ByteReader, off: number, size: number, what: string): string {
  const b = r.view(off, size, what);
  const nul = b.indexOf(0);
  return decoder.decode(nul < 0 ? b : b.subarray(0, nul));
}

export function parsePrpsinfo(desc: Uint8Array, cls: ElfClass, base = 0): ElfPrpsinfo {
  const L = PRPSINFO[cls.word];
  if (desc.byteLength !== L.size) throw new ElfFormatError(base, `bad NT_PRPSINFO size for ${cls.name}`, desc.byteLength);
  const r = new ByteReader(desc, base);
  const s8 = (off: number, what: string): number => (r.u8(off, what) << 24) >> 24;
  const id = (off: number, what: string): number => (L.idSize === 4 ? r.u32(off, what) : r.u16(off, what));
  return {
    pr_state: s8(L.pr_state, "pr_state"),
    pr_sname: String.fromCharCode(r.u8(L.pr_sname, "pr_sname")),
    pr_zomb: s8(L.pr_zomb, "pr_zomb"),
    pr_nice: s8(L.pr_nice, "pr_nice"),
    pr_flag: r.word(L.pr_flag, cls.word, "pr_flag"),
    pr_uid: id(L.pr_uid, "pr_uid"),
    pr_gid: id(L.pr_gid, "pr_gid"),
    pr_pid: r.i32(L.pr_pid, "pr_pid"),
    pr_ppid: r.i32(L.pr_ppid, "pr_ppid"),
    pr_pgrp: r.i32(L.pr_pgrp, "pr_pgrp"),
    pr_sid: r.i32(L.pr_sid, "pr_sid"),
    pr_fname: fixedStr(r, L.pr_fname, PR_FNAME_SIZE, "pr_fname"),
    pr_psargs: fixedStr(r, L.pr_psargs, ELF_PRARGSZ, "pr_psargs"),
  };
}

export function encodePrpsinfo(cls: ElfClass, p: PrpsinfoFields): Uint8Array {
  const L = PRPSINFO[cls.word];
  const w = new ByteWriter(L.size);
  const id = (off: number, v: number) => (L.idSize === 4 ? w.u32(off, v) : w.u16(off, v & 0xffff));
  w.u8(L.pr_state, p.pr_state & 0xff).u8(L.pr_sname, p.pr_sname.charCodeAt(0) & 0xff);
  w.u8(L.pr_zomb, p.pr_zomb & 0xff).u8(L.pr_nice, p.pr_nice & 0xff);
  w.word(L.pr_flag, cls.word, p.pr_flag);
  id(L.pr_uid, p.pr_uid);
  id(L.pr_gid, p.pr_gid);
  w.i32(L.pr_pid, p.pr_pid).i32(L.pr_ppid, p.pr_ppid).i32(L.pr_pgrp, p.pr_pgrp).i32(L.pr_sid, p.pr_sid);
  w.set(L.pr_fname, p.pr_fname.subarray(0, PR_FNAME_SIZE - 1));
  w.set(L.pr_psargs, p.pr_psargs.subarray(0, ELF_PRARGSZ - 1));
  return w.bytes;
}
