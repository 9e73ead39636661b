// The ECFS sections of docs/FORMAT.md that every file gets (section 8's minimum plus the
// ecfs-ts additions from the preface): memory views (._TEXT, ._DATA, .heap, .stack, .vdso,
// .vsyscall, .stack.<tid>) and forensic blobs with the original's record sizes.

import type { ElfClass } from "../elf/class.ts";
import { ByteWriter, utf8 } from "../elf/bytes.ts";
import { regOffset } from "../elf/corerecords.ts";
import {
  SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_LOUSER, SHT_NOTE, SHT_PROGBITS, ELF_HEURISTICS, ELF_PIE, ELF_STATIC, ELF_STRIPPED_SHDRS,
} from "../elf/consts.ts";
import type { Mapping, ProcessImage, ThreadState } from "../model/image.ts";
import { SEC_FDINFO_EXT, encodeFdInfo, encodeFdInfoExt } from "./fdinfo.ts";
import type { CoreNotes } from "./notes.ts";
import type { SectionPlan } from "./plan.ts";

export const SEC = {
  noteCore: ".note.core",
  text: "._TEXT",
  data: "._DATA",
  heap: ".heap",
  stack: ".stack",
  vdso: ".vdso",
  vsyscall: ".vsyscall",
  prstatus: ".prstatus",
  fdinfo: ".fdinfo",
  siginfo: ".siginfo",
  auxvector: ".auxvector",
  exepath: ".exepath",
  personality: ".personality",
  arglist: ".arglist",
  fpregset: ".fpregset",
  xstate: ".xstate",
  environ: ".environ",
  cmdline: ".cmdline",
  maps: ".maps",
  procfs: ".procfs.tgz",
  gaps: ".gaps",
  fdinfoExt: SEC_FDINFO_EXT,
  threadStack: (tid: number) => `.stack.${tid}`,
} as const;

/** What we learned from the executable's own ELF headers (on disk, through /proc/PID/exe). */
export interface ExeInfo {
  eType: number;
  entry: bigint;
  hasInterp: boolean;
  /** e_shnum == 0 or e_shoff == 0. */
  strippedShdrs: boolean;
}

/** .gaps record: u64 address, u64 length of memory that could not be read (zeros in the file). */
export const GAP_RECORD = 16;
/** Records kept; runs of adjacent pages are one record, so more means a strange process. */
export const GAPS_MAX = 4096;

export function encodeGaps(gaps: readonly { addr: bigint; len: number }[]): Uint8Array {
  const n = Math.min(gaps.length, GAPS_MAX);
  const w = new ByteWriter(n * GAP_RECORD);
  for (let i = 0; i < n; i++) w.u64(i * GAP_RECORD, gaps[i]!.addr).u64(i * GAP_RECORD + 8, BigInt(gaps[i]!.len));
  return w.bytes;
}

export function personalityBits(exe: ExeInfo, heuristics: boolean): number {
  return (exe.hasInterp ? 0 : ELF_STATIC) | (exe.eType === 3 ? ELF_PIE : 0) |
    (exe.strippedShdrs ? ELF_STRIPPED_SHDRS : 0) | (heuristics ? ELF_HEURISTICS : 0);
}

const A = SHF_ALLOC;

function view(name: string, m: Mapping | undefined, flags: number, align: number): SectionPlan {
  if (!m) return { name, type: SHT_PROGBITS, flags, addr: 0n, data: { kind: "empty" }, align, entsize: 0 };
  return { name, type: SHT_PROGBITS, flags, addr: m.start, data: { kind: "memory", addr: m.start, size: m.end - m.start }, align, entsize: 0 };
}

function blob(name: string, bytes: Uint8Array, align: number, entsize: number): SectionPlan {
  return { name, type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "bytes", bytes }, align, entsize };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** The mappings that belong to the executable file itself. */
export function exeMappings(image: ProcessImage): Mapping[] {
  const exe = image.info.exe.replace(/ \(deleted\)$/, "");
  return image.mappings.filter((m) => m.path === exe);
}

/** The stack pointer in a thread's pr_reg. */
export function stackPointer(cls: ElfClass, t: ThreadState): bigint {
  const dv = new DataView(t.regs.buffer, t.regs.byteOffset, t.regs.byteLength);
  return cls.word === 8 ? dv.getBigUint64(regOffset(8, "rsp"), true) : BigInt(dv.getUint32(regOffset(4, "esp"), true));
}

export function mappingAt(mappings: Mapping[], addr: bigint): Mapping | undefined {
  return mappings.find((m) => addr >= m.start && addr < m.end);
}

export function baseSections(image: ProcessImage, notes: CoreNotes, exe: ExeInfo, opts: { heuristics: boolean }): SectionPlan[] {
  const { cls, info, mappings } = image;
  const word = cls.word;
  const mine = exeMappings(image);
  const byName = (n: string) => mappings.find((m) => m.path === n);
  const text = mine.find((m) => m.perms.includes("x"));
  const data = mine.find((m) => m.perms.startsWith("rw"));
  const personality = new ByteWriter(4).u32(0, personalityBits(exe, opts.heuristics)).bytes;

  const sections: SectionPlan[] = [
    { name: SEC.noteCore, type: SHT_NOTE, flags: A, addr: 0n, data: { kind: "notes" }, align: 4, entsize: 0 },
    view(SEC.text, text, A | SHF_EXECINSTR, 16),
    view(SEC.data, data, A | SHF_WRITE, word),
    view(SEC.heap, byName("[heap]"), A | SHF_WRITE, word),
    { ...blob(SEC.procfs, info.procfsTgz ?? new Uint8Array(0), word, 1), type: SHT_LOUSER },
    blob(SEC.prstatus, concat(notes.prstatus), word, cls.prstatusSize),
    blob(SEC.fdinfo, encodeFdInfo(cls, info.fds, info.sockets), 4, cls.fdInfoSize),
    blob(SEC.siginfo, notes.siginfo, 4, 128),
    blob(SEC.auxvector, notes.auxv, word, 8),
    blob(SEC.exepath, utf8.encode(`${info.exe}\0`), 1, 1),
    blob(SEC.personality, personality, 4, 4),
    blob(SEC.arglist, notes.psargs, 1, 1),
    blob(SEC.fpregset, concat(notes.fpregset), word, cls.fpregsetSize),
    view(SEC.stack, byName("[stack]"), A | SHF_WRITE, word),
    view(SEC.vdso, byName("[vdso]"), A | SHF_EXECINSTR, word),
    view(SEC.vsyscall, byName("[vsyscall]"), A | SHF_EXECINSTR, word),
  ];

  // ecfs-ts additions (new names, so readers of the original ignore them).
  for (const t of image.threads) {
    const m = mappingAt(mappings, stackPointer(cls, t));
    if (m) sections.push(view(SEC.threadStack(t.tid), m, A | SHF_WRITE, word));
  }
  const xs = image.threads.map((t) => t.xstate).filter((x): x is Uint8Array => x !== undefined);
  if (xs.length === image.threads.length && xs.length > 0 && xs.every((x) => x.byteLength === xs[0]!.byteLength))
    sections.push(blob(SEC.xstate, concat(xs), 64, xs[0]!.byteLength));
  sections.push({
    name: SEC.gaps, type: SHT_PROGBITS, flags: 0, addr: 0n, align: 8, entsize: GAP_RECORD,
    data: { kind: "late", maxSize: GAPS_MAX * GAP_RECORD, produce: encodeGaps },
  });
  sections.push(blob(SEC.fdinfoExt, encodeFdInfoExt(info.fds, info.sockets), 1, 0));
  sections.push(blob(SEC.environ, info.environ, 1, 0));
  // argv itself: .arglist is psargs, spaces for NULs and cut at 79 bytes.
  sections.push(blob(SEC.cmdline, info.cmdline, 1, 0));
  sections.push(blob(SEC.maps, utf8.encode(info.mapsText), 1, 0));
  return sections;
}
