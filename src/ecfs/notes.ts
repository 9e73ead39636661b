// Kernel-style core notes, built from the model. Record layouts are elf/corerecords.ts's
// (include/linux/elfcore.h, compat_elf_* for i386; docs/FORMAT.md 4); note order is
// fs/binfmt_elf.c write_note_info(): per thread its NT_PRSTATUS, then for the first thread
// PRPSINFO, SIGINFO, AUXV and FILE, then the thread's other regsets in regset order.

import type { ElfClass } from "../elf/class.ts";
import { ByteWriter, utf8 } from "../elf/bytes.ts";
import { ELF_PRARGSZ, encodePrpsinfo, encodePrstatus, type Timeval } from "../elf/corerecords.ts";
import {
  NOTE_NAME_CORE, NOTE_NAME_LINUX, NT_386_TLS, NT_AUXV, NT_FILE, NT_PRFPREG, NT_PRPSINFO, NT_PRSTATUS,
  NT_PRXFPREG, NT_SIGINFO, NT_X86_XSAVE_LAYOUT, NT_X86_XSTATE,
} from "../elf/consts.ts";
import type { Mapping, ProcessInfo, ThreadState } from "../model/image.ts";

export const SIGINFO_SIZE = 128;
const PAGE_SIZE = 4096n;

export interface Note {
  name: string;
  type: number;
  desc: Uint8Array;
}

const align4 = (n: number) => (n + 3) & ~3;

export function noteSize(n: Note): number {
  return 12 + align4(utf8.encode(n.name).length + 1) + align4(n.desc.byteLength);
}

/** Elf_Nhdr + name + desc, each padded to 4 bytes (cores always use 4-byte note alignment). */
export function encodeNotes(notes: Note[]): Uint8Array {
  const out = new ByteWriter(notes.reduce((s, n) => s + noteSize(n), 0));
  let off = 0;
  for (const n of notes) {
    const name = utf8.encode(n.name);
    out.u32(off, name.length + 1).u32(off + 4, n.desc.byteLength).u32(off + 8, n.type);
    out.set(off + 12, name);
    off += 12 + align4(name.length + 1);
    out.set(off, n.desc);
    off += align4(n.desc.byteLength);
  }
  return out.bytes;
}

const timeval = (us: bigint): Timeval => ({ tv_sec: us / 1_000_000n, tv_usec: us % 1_000_000n });

/**
 * NT_PRSTATUS of one thread, as fs/binfmt_elf.c fill_prstatus() fills it: the group leader's
 * record holds the whole group's CPU time (thread_group_cputime), every other thread's its own;
 * every record holds the reaped children's (signal->cutime, cstime).
 */
export function threadPrstatus(cls: ElfClass, t: ThreadState, info: ProcessInfo): Uint8Array {
  const times = info.groupTimes;
  const leader = t.tid === info.pid;
  return encodePrstatus(cls, {
    pr_info: { si_signo: t.cursig, si_code: 0, si_errno: 0 },
    pr_cursig: t.cursig,
    pr_sigpend: t.sigpend,
    pr_sighold: t.sighold,
    pr_pid: t.tid, pr_ppid: info.ppid, pr_pgrp: info.pgrp, pr_sid: info.sid,
    pr_utime: timeval(leader ? times.utimeUs : t.utimeUs),
    pr_stime: timeval(leader ? times.stimeUs : t.stimeUs),
    pr_cutime: timeval(times.cutimeUs),
    pr_cstime: timeval(times.cstimeUs),
    pr_reg_bytes: t.regs,
    pr_fpvalid: 1,
  });
}

/** pr_psargs: argv joined by spaces (every NUL becomes a space), at most 79 bytes, NUL-ended. */
export function encodePsargs(cmdline: Uint8Array): Uint8Array {
  const out = new Uint8Array(ELF_PRARGSZ);
  const n = Math.min(cmdline.byteLength, ELF_PRARGSZ - 1);
  for (let i = 0; i < n; i++) out[i] = cmdline[i] === 0 ? 0x20 : cmdline[i]!;
  return out;
}

const SNAME = "RSDTZW";

/** NT_PRPSINFO, as fs/binfmt_elf.c fill_psinfo() fills it (pr_state: the index of the state letter in "RSDTZW"). */
export function processPrpsinfo(cls: ElfClass, info: ProcessInfo): Uint8Array {
  let state = SNAME.indexOf(info.state);
  if (state < 0) state = info.state === "t" ? 3 : 0;
  return encodePrpsinfo(cls, {
    pr_state: state, pr_sname: SNAME[state]!, pr_zomb: info.state === "Z" ? 1 : 0, pr_nice: info.nice,
    pr_flag: BigInt(info.flags), pr_uid: info.uid, pr_gid: info.gid,
    pr_pid: info.pid, pr_ppid: info.ppid, pr_pgrp: info.pgrp, pr_sid: info.sid,
    pr_fname: utf8.encode(info.comm), pr_psargs: encodePsargs(info.cmdline),
  });
}

/** The auxv as the kernel stores it: native-word pairs up to and including AT_NULL. */
export function trimAuxv(cls: ElfClass, raw: Uint8Array): Uint8Array {
  const pair = 2 * cls.word;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let off = 0; off + pair <= raw.byteLength; off += pair) {
    const type = cls.word === 8 ? dv.getBigUint64(off, true) : BigInt(dv.getUint32(off, true));
    if (type === 0n) return raw.subarray(0, off + pair);
  }
  return raw.subarray(0, raw.byteLength - (raw.byteLength % pair));
}

/** File-backed mappings, as the kernel lists them in NT_FILE. */
export function fileMappings(mappings: Mapping[]): Mapping[] {
  return mappings.filter((m) => m.inode !== 0n && m.path.startsWith("/"));
}

/** NT_FILE: count, page size, {start, end, pgoff} x count, then the paths. */
export function encodeNtFile(cls: ElfClass, mappings: Mapping[]): Uint8Array {
  const files = fileMappings(mappings);
  const names = files.map((m) => utf8.encode(m.deleted ? `${m.path} (deleted)` : m.path));
  const wd = cls.word;
  const head = (2 + 3 * files.length) * wd;
  const w = new ByteWriter(head + names.reduce((s, n) => s + n.length + 1, 0));
  w.word(0, wd, BigInt(files.length)).word(wd, wd, PAGE_SIZE);
  files.forEach((m, i) => {
    const o = (2 + 3 * i) * wd;
    w.word(o, wd, m.start).word(o + wd, wd, m.end).word(o + 2 * wd, wd, m.offset / PAGE_SIZE);
  });
  let off = head;
  for (const n of names) {
    w.set(off, n);
    off += n.length + 1;
  }
  return w.bytes;
}

export interface CoreNotes {
  notes: Note[];
  /** The per-thread records again, concatenated, for the .prstatus and .fpregset sections. */
  prstatus: Uint8Array[];
  fpregset: Uint8Array[];
  psargs: Uint8Array;
  auxv: Uint8Array;
  siginfo: Uint8Array;
}

export function buildCoreNotes(cls: ElfClass, info: ProcessInfo, threads: ThreadState[], mappings: Mapping[], xsaveLayout?: Uint8Array): CoreNotes {
  const notes: Note[] = [];
  const prstatus: Uint8Array[] = [];
  const fpregset: Uint8Array[] = [];
  const auxv = trimAuxv(cls, info.auxv);
  const siginfo = threads[0]?.siginfo ?? new Uint8Array(SIGINFO_SIZE);
  threads.forEach((t, i) => {
    const pr = threadPrstatus(cls, t, info);
    prstatus.push(pr);
    notes.push({ name: NOTE_NAME_CORE, type: NT_PRSTATUS, desc: pr });
    if (i === 0) {
      notes.push({ name: NOTE_NAME_CORE, type: NT_PRPSINFO, desc: processPrpsinfo(cls, info) });
      notes.push({ name: NOTE_NAME_CORE, type: NT_SIGINFO, desc: siginfo });
      notes.push({ name: NOTE_NAME_CORE, type: NT_AUXV, desc: auxv });
      notes.push({ name: NOTE_NAME_CORE, type: NT_FILE, desc: encodeNtFile(cls, mappings) });
    }
    const fp = fitTo(t.fpregs, cls.fpregsetSize);
    fpregset.push(fp);
    notes.push({ name: NOTE_NAME_CORE, type: NT_PRFPREG, desc: fp });
    if (t.fxregs) notes.push({ name: NOTE_NAME_LINUX, type: NT_PRXFPREG, desc: t.fxregs });
    if (t.xstate) notes.push({ name: NOTE_NAME_LINUX, type: NT_X86_XSTATE, desc: t.xstate });
    if (t.tls) notes.push({ name: NOTE_NAME_LINUX, type: NT_386_TLS, desc: t.tls });
  });
  // elf_coredump_extra_notes_write(): after every thread's notes.
  if (xsaveLayout) notes.push({ name: NOTE_NAME_LINUX, type: NT_X86_XSAVE_LAYOUT, desc: xsaveLayout });
  return { notes, prstatus, fpregset, psargs: encodePsargs(info.cmdline), auxv, siginfo };
}

/** Exactly `size` bytes: truncated or zero-filled, so records never lie about their size. */
export function fitTo(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.byteLength === size) return bytes;
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, size));
  return out;
}
