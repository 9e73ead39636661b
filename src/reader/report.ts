// What `ecfs read` shows, as data: one ReadReport per file and selection, rendered as readecfs
// text or as JSON (render.ts). Each part is read separately, so a malformed section costs
// that part only: its ElfFormatError becomes an entry of `problems` and the rest still shows.

import { emName, etName, ptName, shtName } from "../elf/consts.ts";
import { ElfFormatError } from "../errors.ts";
import type { EcfsFile, LibrarySymbols, ShlibMapping } from "./ecfs.ts";
import { EcfsError } from "../errors.ts";
import type { FdInfo } from "./fds.ts";
import type { HeuristicsDocument } from "./heuristics.ts";
import type { AuxvItem, Personality } from "./metadata.ts";
import type { PltGotEntry } from "./pltgot.ts";
import type { EcfsSymbol } from "./symbols.ts";
import type { FpRegs, Siginfo, ThreadStatus } from "./threads.ts";

/** Which parts to read; readecfs's flags in docs/FORMAT.md 8 terms. */
export interface ReadSelection {
  /** -e: process, fault location, threads with registers, signal, fds. */
  overview: boolean;
  personality: boolean;
  shlibs: boolean;
  symbols: boolean;
  pltgot: boolean;
  auxv: boolean;
  header: boolean;
  sections: boolean;
  programs: boolean;
  /** -R: sections to hex-dump. */
  hexdump: string[];
}

export const SELECT_ALL: ReadSelection = {
  overview: true, personality: true, shlibs: true, symbols: true, pltgot: true, auxv: true,
  header: true, sections: true, programs: true, hexdump: [],
};

export type ThreadReport = ThreadStatus & { fpregs?: FpRegs; stack?: { section: string; addr: bigint; size: bigint } };

export interface SectionRow {
  index: number;
  name: string;
  type: number;
  typeName: string;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  align: bigint;
  entsize: bigint;
}

export interface ProgramRow {
  type: number;
  typeName: string;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

export interface HeaderRow {
  class: string;
  type: number;
  typeName: string;
  machine: number;
  machineName: string;
  entry: bigint;
  phoff: bigint;
  shoff: bigint;
  flags: number;
  ehsize: number;
  phentsize: number;
  /** After the PN_XNUM / extended-numbering escapes. */
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface HexDump {
  section: string;
  addr: bigint;
  offset: bigint;
  bytes: Uint8Array;
}

export interface ReadReport {
  file: string;
  exePath?: string;
  /** .arglist: pr_psargs, argv joined by spaces and cut at 79 bytes. */
  psargs?: string;
  /** .cmdline split at NULs: the real argv (absent from files without .cmdline). */
  argv?: string[];
  personality?: Personality;
  /** From NT_PRPSINFO. */
  process?: { pid: number; ppid: number; uid: number; gid: number; comm: string; state: string };
  siginfo?: Siginfo;
  /** si_addr of a SIGSEGV/SIGBUS/SIGILL/SIGFPE; null when the signal has none. */
  faultAddress?: bigint | null;
  /** Memory that could not be read when the file was written (zeros in the file). */
  gaps?: { addr: bigint; len: bigint }[];
  threadCount?: number;
  threads?: ThreadReport[];
  fds?: FdInfo[];
  /** .heuristics: what `snapshot -h` found (absent when it did not run). */
  heuristics?: HeuristicsDocument;
  shlibs?: ShlibMapping[];
  dynamicSymbols?: EcfsSymbol[];
  /** The writer's `<lib>.dynsym` tables. */
  librarySymbols?: LibrarySymbols[];
  localSymbols?: EcfsSymbol[];
  pltGot?: PltGotEntry[];
  auxv?: AuxvItem[];
  header?: HeaderRow;
  sections?: SectionRow[];
  programs?: ProgramRow[];
  hexdumps?: HexDump[];
  /** Parts that could not be read, each with why. */
  problems: { part: string; message: string }[];
}

/** The threads with their stack sections; FPU state is added apart, so a bad .fpregset costs only that. */
function threads(f: EcfsFile): ThreadReport[] {
  const stacks = new Map(f.threadStacks().map((s) => [s.tid, s]));
  return f.prstatus().map((t) => {
    const out: ThreadReport = { ...t };
    const s = stacks.get(t.tid);
    if (s) out.stack = { section: s.name, addr: s.addr, size: s.size };
    return out;
  });
}

function header(f: EcfsFile): HeaderRow {
  const h = f.elf.header;
  return {
    class: f.cls.word === 8 ? "ELFCLASS64" : "ELFCLASS32",
    type: h.e_type, typeName: etName(h.e_type), machine: h.e_machine, machineName: emName(h.e_machine),
    entry: h.e_entry, phoff: h.e_phoff, shoff: h.e_shoff, flags: h.e_flags, ehsize: h.e_ehsize,
    phentsize: h.e_phentsize, phnum: f.elf.phnum, shentsize: h.e_shentsize, shnum: f.elf.shnum, shstrndx: f.elf.shstrndx,
  };
}

const sectionRows = (f: EcfsFile): SectionRow[] =>
  f.sections().map((s) => ({
    index: s.index, name: s.name, type: s.sh_type, typeName: shtName(s.sh_type), flags: s.sh_flags, addr: s.sh_addr,
    offset: s.sh_offset, size: s.sh_size, link: s.sh_link, info: s.sh_info, align: s.sh_addralign, entsize: s.sh_entsize,
  }));

const programRows = (f: EcfsFile): ProgramRow[] =>
  f.programs().map((p) => ({
    type: p.p_type, typeName: ptName(p.p_type), flags: p.p_flags, offset: p.p_offset, vaddr: p.p_vaddr,
    paddr: p.p_paddr, filesz: p.p_filesz, memsz: p.p_memsz, align: p.p_align,
  }));

/** Reads the selected parts of `f`. Only a -R section that does not exist is an error (EcfsError). */
export function buildReport(f: EcfsFile, sel: ReadSelection): ReadReport {
  for (const name of sel.hexdump) if (!f.section(name)) throw new EcfsError(f.path, `no section named ${JSON.stringify(name)}`);
  const report: ReadReport = { file: f.path, problems: [] };
  const part = <T>(name: string, read: () => T, set: (v: T) => void): void => {
    try {
      set(read());
    } catch (e) {
      if (!(e instanceof ElfFormatError) && !(e instanceof EcfsError)) throw e;
      report.problems.push({ part: name, message: e.message });
    }
  };
  part(".exepath", () => f.exePath(), (v) => {
    if (v !== undefined) report.exePath = v;
  });
  part(".arglist", () => f.psargs(), (v) => {
    if (v !== undefined) report.psargs = v;
  });
  part(".cmdline", () => f.argv(), (v) => {
    if (v !== undefined) report.argv = v;
  });
  if (sel.personality || sel.overview) part(".personality", () => f.personality(), (v) => (report.personality = v));
  if (sel.overview) {
    part("NT_PRPSINFO", () => f.prpsinfo(), (p) => {
      if (p) report.process = { pid: p.pr_pid, ppid: p.pr_ppid, uid: p.pr_uid, gid: p.pr_gid, comm: p.pr_fname, state: p.pr_sname };
    });
    part(".siginfo", () => f.siginfo(), (s) => {
      if (!s) return;
      report.siginfo = s;
      report.faultAddress = s.addr ?? null;
    });
    part(".prstatus", () => threads(f), (t) => {
      report.threads = t;
      report.threadCount = t.length;
    });
    part(".fpregset", () => f.fpregs(), (fp) => {
      report.threads?.forEach((t, i) => {
        const r = fp[i];
        if (r) t.fpregs = r;
      });
    });
    part(".fdinfo", () => f.fdInfo(), (v) => (report.fds = v));
    part(".gaps", () => f.gaps(), (v) => (report.gaps = v));
    part(".heuristics", () => f.heuristics(), (v) => {
      if (v) report.heuristics = v;
    });
  }
  if (sel.shlibs) part("shared library sections", () => f.shlibMappings(), (v) => (report.shlibs = v));
  if (sel.symbols) {
    part(".dynsym", () => f.dynamicSymbols(), (v) => (report.dynamicSymbols = v));
    part("<lib>.dynsym", () => f.librarySymbols(), (v) => (report.librarySymbols = v));
    part(".symtab", () => f.localSymbols(), (v) => (report.localSymbols = v));
  }
  if (sel.pltgot) part("PLT/GOT", () => f.pltGot(), (v) => (report.pltGot = v));
  if (sel.auxv) part(".auxvector", () => f.auxv(), (v) => (report.auxv = v));
  if (sel.header) report.header = header(f);
  if (sel.sections) report.sections = sectionRows(f);
  if (sel.programs) part("program headers", () => programRows(f), (v) => (report.programs = v));
  for (const name of sel.hexdump) {
    const sh = f.section(name)!;
    part(name, () => f.elf.sectionData(sh), (bytes) => {
      (report.hexdumps ??= []).push({ section: name, addr: sh.sh_addr, offset: sh.sh_offset, bytes });
    });
  }
  return report;
}
