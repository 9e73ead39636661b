// ELF notes and the Linux core-note payloads. Trust model: note bytes come from a core or an
// ECFS file we did not write (untrusted). The iterator follows the `object` crate's rules
// (src/read/elf/note.rs): alignment 4 or 8 (<= 4 is 4), n_namesz/n_descsz checked against the
// remaining bytes, one trailing NUL stripped from the name, a tail shorter than a note header
// ends iteration. Decoders check the descriptor size against the kernel struct before reading.

import { ElfFormatError } from "../errors.ts";
import { ByteReader } from "./bytes.ts";
import type { ElfClass } from "./class.ts";

const NHDR_SIZE = 12; // Elf32_Nhdr and Elf64_Nhdr are both three u32
const decoder = new TextDecoder();

export interface Note {
  /** n_name without its trailing NUL ("CORE", "LINUX", "GNU"). */
  name: string;
  /** n_type: NT_* (meaning depends on name). */
  type: number;
  /** The descriptor, a view into the caller's bytes. */
  desc: Uint8Array;
  /** Offset of the note header: within `bytes`, plus `base`. */
  offset: number;
}

/** Note alignment from p_align / sh_addralign: 0..4 -> 4, 8 -> 8, anything else is malformed. */
export function noteAlign(align: number | bigint, offset = 0): 4 | 8 {
  const a = BigInt(align);
  if (a <= 4n) return 4;
  if (a === 8n) return 8;
  throw new ElfFormatError(offset, "bad note alignment", align);
}

function alignUp(x: number, a: 4 | 8): number {
  return Math.ceil(x / a) * a;
}

/** Walks the notes in `bytes` (a PT_NOTE segment or SHT_NOTE section); `base` is its file offset. */
export function* iterNotes(bytes: Uint8Array, align: number | bigint, base = 0): Generator<Note, void, undefined> {
  const a = noteAlign(align, base);
  const r = new ByteReader(bytes, base);
  const len = bytes.byteLength;
  let off = 0;
  while (len - off >= NHDR_SIZE) {
    const n_namesz = r.u32(off, "note n_namesz");
    const n_descsz = r.u32(off + 4, "note n_descsz");
    const n_type = r.u32(off + 8, "note n_type");
    const nameOff = off + NHDR_SIZE;
    if (n_namesz > len - nameOff) throw new ElfFormatError(base + off, "bad note n_namesz", n_namesz);
    const descOff = alignUp(nameOff + n_namesz, a);
    if (descOff > len || n_descsz > len - descOff)
      throw new ElfFormatError(base + off, "bad note n_descsz", n_descsz);
    let nameEnd = nameOff + n_namesz;
    if (n_namesz > 0 && bytes[nameEnd - 1] === 0) nameEnd--;
    yield {
      name: decoder.decode(bytes.subarray(nameOff, nameEnd)),
      type: n_type,
      desc: bytes.subarray(descOff, descOff + n_descsz),
      offset: base + off,
    };
    off = alignUp(descOff + n_descsz, a); // past the end means done, like object's skip()
  }
}

// ---- NT_FILE (kernel fs/binfmt_elf.c fill_files_note) ----

export interface NtFileEntry {
  start: bigint;
  end: bigint;
  /** File offset of the mapping in units of page_size (gdb writes page_size 1 for i386). */
  fileOfs: bigint;
  path: string;
}
export interface NtFile {
  count: number;
  page_size: bigint;
  entries: NtFileEntry[];
}

/** NT_FILE: count, page_size, count x {start, end, file_ofs}, then count NUL-terminated paths. */
export function parseNtFile(desc: Uint8Array, wordSize: 4 | 8, base = 0): NtFile {
  const r = new ByteReader(desc, base);
  const w = wordSize;
  const rawCount = r.word(0, w, "NT_FILE count");
  const page_size = r.word(w, w, "NT_FILE page_size");
  // Each entry needs three words plus at least the NUL of its path.
  const maxCount = Math.floor((desc.byteLength - 2 * w) / (3 * w + 1));
  if (rawCount > BigInt(maxCount)) throw new ElfFormatError(base, "bad NT_FILE count", rawCount);
  const count = Number(rawCount);
  const entries: NtFileEntry[] = [];
  let strOff = 2 * w + count * 3 * w;
  for (let i = 0; i < count; i++) {
    const e = 2 * w + i * 3 * w;
    const nul = desc.indexOf(0, strOff);
    if (nul < 0) throw new ElfFormatError(base + strOff, "unterminated NT_FILE path", i);
    entries.push({
      start: r.word(e, w, "NT_FILE start"),
      end: r.word(e + w, w, "NT_FILE end"),
      fileOfs: r.word(e + 2 * w, w, "NT_FILE file_ofs"),
      path: decoder.decode(desc.subarray(strOff, nul)),
    });
    strOff = nul + 1;
  }
  return { count, page_size, entries };
}

// ---- NT_PRSTATUS: struct elf_prstatus (x86_64) / compat_elf_prstatus (i386), docs/FORMAT.md 4 ----

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

/** Offsets that differ between the classes; the rest follow from the word size. */
const PRSTATUS = {
  8: { sigpend: 16, sighold: 24, pid: 32, times: 48, regNames: X86_64_PR_REG },
  4: { sigpend: 16, sighold: 20, pid: 24, times: 40, regNames: I386_PR_REG },
} as const;

function i16(v: number): number {
  return (v << 16) >> 16;
}

export function parsePrstatus(desc: Uint8Array, cls: ElfClass, base = 0): ElfPrstatus {
  if (desc.byteLength !== cls.prstatusSize)
    throw new ElfFormatError(base, `bad NT_PRSTATUS size for ${cls.name}`, desc.byteLength);
  const r = new ByteReader(desc, base);
  const w = cls.word;
  const L = PRSTATUS[w];
  const sword = (off: number, what: string): bigint => (w === 8 ? r.i64(off, what) : BigInt(r.i32(off, what)));
  const tv = (off: number): Timeval => ({ tv_sec: sword(off, "pr_time"), tv_usec: sword(off + w, "pr_time") });
  const pr_reg: Record<string, bigint> = {};
  L.regNames.forEach((name, i) => {
    pr_reg[name] = r.word(cls.prRegOffset + i * w, w, "pr_reg");
  });
  return {
    pr_info: { si_signo: r.i32(0, "si_signo"), si_code: r.i32(4, "si_code"), si_errno: r.i32(8, "si_errno") },
    pr_cursig: i16(r.u16(12, "pr_cursig")),
    pr_sigpend: r.word(L.sigpend, w, "pr_sigpend"),
    pr_sighold: r.word(L.sighold, w, "pr_sighold"),
    pr_pid: r.i32(L.pid, "pr_pid"),
    pr_ppid: r.i32(L.pid + 4, "pr_ppid"),
    pr_pgrp: r.i32(L.pid + 8, "pr_pgrp"),
    pr_sid: r.i32(L.pid + 12, "pr_sid"),
    pr_utime: tv(L.times),
    pr_stime: tv(L.times + 2 * w),
    pr_cutime: tv(L.times + 4 * w),
    pr_cstime: tv(L.times + 6 * w),
    pr_reg,
    pr_reg_bytes: r.view(cls.prRegOffset, cls.regsSize, "pr_reg"),
    pr_fpvalid: r.i32(cls.prFpvalidOffset, "pr_fpvalid"),
  };
}

// ---- NT_PRPSINFO: struct elf_prpsinfo / compat_elf_prpsinfo (include/linux/elfcore-compat.h) ----

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

/** i386 keeps __compat_uid_t/__compat_gid_t as u16 (arch/x86/include/asm/compat.h). */
const PRPSINFO = {
  8: { flag: 8, uid: 16, gid: 20, idSize: 4, pid: 24, fname: 40, psargs: 56 },
  4: { flag: 4, uid: 8, gid: 10, idSize: 2, pid: 12, fname: 28, psargs: 44 },
} as const;
const PR_FNAME_SIZE = 16;
const ELF_PRARGSZ = 80;

function fixedStr(r: ByteReader, off: number, size: number, what: string): string {
  const b = r.view(off, size, what);
  const nul = b.indexOf(0);
  return decoder.decode(nul < 0 ? b : b.subarray(0, nul));
}

export function parsePrpsinfo(desc: Uint8Array, cls: ElfClass, base = 0): ElfPrpsinfo {
  if (desc.byteLength !== cls.prpsinfoSize)
    throw new ElfFormatError(base, `bad NT_PRPSINFO size for ${cls.name}`, desc.byteLength);
  const r = new ByteReader(desc, base);
  const L = PRPSINFO[cls.word];
  const s8 = (off: number, what: string): number => (r.u8(off, what) << 24) >> 24;
  const id = (off: number, what: string): number => (L.idSize === 4 ? r.u32(off, what) : r.u16(off, what));
  return {
    pr_state: s8(0, "pr_state"),
    pr_sname: String.fromCharCode(r.u8(1, "pr_sname")),
    pr_zomb: s8(2, "pr_zomb"),
    pr_nice: s8(3, "pr_nice"),
    pr_flag: r.word(L.flag, cls.word, "pr_flag"),
    pr_uid: id(L.uid, "pr_uid"),
    pr_gid: id(L.gid, "pr_gid"),
    pr_pid: r.i32(L.pid, "pr_pid"),
    pr_ppid: r.i32(L.pid + 4, "pr_ppid"),
    pr_pgrp: r.i32(L.pid + 8, "pr_pgrp"),
    pr_sid: r.i32(L.pid + 12, "pr_sid"),
    pr_fname: fixedStr(r, L.fname, PR_FNAME_SIZE, "pr_fname"),
    pr_psargs: fixedStr(r, L.psargs, ELF_PRARGSZ, "pr_psargs"),
  };
}

// ---- NT_AUXV: Elf64_auxv_t / Elf32_auxv_t pairs up to AT_NULL ----

export interface AuxvEntry {
  a_type: bigint;
  a_val: bigint;
}

/** Entries before AT_NULL (or all whole pairs, if the vector has no terminator). */
export function parseAuxv(desc: Uint8Array, wordSize: 4 | 8, base = 0): AuxvEntry[] {
  const r = new ByteReader(desc, base);
  const out: AuxvEntry[] = [];
  const n = Math.floor(desc.byteLength / (2 * wordSize));
  for (let i = 0; i < n; i++) {
    const a_type = r.word(i * 2 * wordSize, wordSize, "auxv a_type");
    if (a_type === 0n) break;
    out.push({ a_type, a_val: r.word(i * 2 * wordSize + wordSize, wordSize, "auxv a_val") });
  }
  return out;
}
