// EcfsFile: the libecfs counterpart (docs/FORMAT.md 8). Trust model: the file is
// untrusted. Opening reads the ELF header, the section header table and .shstrtab (all bounded
// by elf/reader.ts) and checks that this is an ECFS file: ET_NONE or ET_CORE, an x86 machine
// of the file's class, section headers, and a .personality of at least 4 bytes (libecfs
// dereferenced it unchecked). Everything else is read on demand through the ByteSource, each
// read checked against the file length and MAX_READ, so no allocation follows an unchecked
// field. Absent sections give undefined or []; malformed ones an ElfFormatError.

import { ByteReader } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import { EcfsError, ElfFormatError, errorCode } from "../errors.ts";
import {
  DT_PLTGOT, EM_386, EM_X86_64, emName, ET_CORE, ET_NONE, etName, NOTE_NAME_CORE, NT_FILE, NT_PRPSINFO, PT_NOTE, SHN_UNDEF,
  SHT_DYNSYM, SHT_NOBITS, SHT_RELA, SHT_SYMTAB, STT_GNU_IFUNC,
} from "../elf/consts.ts";
import { type ElfPrpsinfo, parsePrpsinfo } from "../elf/corerecords.ts";
import { type NtFile, parseNtFile } from "../elf/notes.ts";
import { ElfFile, type Phdr, type Shdr } from "../elf/reader.ts";
import { type ByteSource, FileSource } from "../elf/source.ts";
import { SEC } from "../ecfs/sections.ts";
import { SEC_FDINFO_EXT } from "../ecfs/fdinfo.ts";
import { type FdInfo, joinFds } from "./fds.ts";
import {
  type AuxvItem, cString, decodeAuxv, decodePersonality, nulSeparated, type Personality, shlibKind,
  type ShlibKind,
} from "./metadata.ts";
import { decodeHeuristics, type HeuristicsDocument, MAX_HEURISTICS } from "./heuristics.ts";
import { computePltGot, type PltGotEntry } from "./pltgot.ts";
import { type EcfsSymbol, readSymbols } from "./symbols.ts";
import {
  decodeFpregset, decodePrstatus, decodeSiginfo, type FpRegs, type Siginfo, type ThreadStatus,
} from "./threads.ts";

/** A section that views process memory: where it is, and its bytes when asked for. */
export interface MemoryRegion {
  name: string;
  addr: bigint;
  size: bigint;
  /** sh_offset: where the bytes are in the file. */
  offset: bigint;
  /** The section's bytes (read now; at most MAX_READ). */
  bytes(): Uint8Array;
}

export interface ShlibMapping {
  name: string;
  kind: ShlibKind;
  type: number;
  addr: bigint;
  size: bigint;
  offset: bigint;
  flags: bigint;
}

/** A library's symbol table and where it came from. */
export interface LibrarySymbols {
  /** The library's section-name prefix, e.g. "libc.so.6". */
  library: string;
  section: string;
  symbols: EcfsSymbol[];
}

const MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const DYNSYM = ".dynsym";
const STACK_PREFIX = `${SEC.stack}.`;

export class EcfsFile {
  #closer: FileSource | undefined;
  #librarySymbols: LibrarySymbols[] | undefined;

  private constructor(
    readonly elf: ElfFile,
    /** The path given to open(), or a label for an in-memory file. */
    readonly path: string,
  ) {}

  /** Opens and checks an ECFS file; EcfsError when it is missing, not ELF, or not ECFS. */
  static open(path: string): EcfsFile {
    let src: FileSource;
    try {
      src = FileSource.open(path);
    } catch (e) {
      if (e instanceof ElfFormatError) throw new EcfsError(path, "not a regular file", { cause: e });
      const code = errorCode(e);
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : `cannot open (${code ?? String(e)})`;
      throw new EcfsError(path, why, { cause: e });
    }
    try {
      const f = EcfsFile.fromSource(src, path);
      f.#closer = src;
      return f;
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /** An ECFS file over any ByteSource (in-memory bytes for tests and fuzzing). */
  static fromSource(src: ByteSource, path = "<memory>"): EcfsFile {
    const head = src.length < MAGIC.length ? undefined : src.read(0, MAGIC.length, "ELF magic");
    if (!head || !MAGIC.every((b, i) => head[i] === b)) throw new EcfsError(path, "not an ELF file");
    const elf = ElfFile.open(src);
    const h = elf.header;
    if (h.e_type !== ET_NONE && h.e_type !== ET_CORE)
      throw new EcfsError(path, `not an ECFS file (e_type ${etName(h.e_type)}; ECFS files are ET_NONE or ET_CORE)`);
    if (h.e_machine !== elf.cls.machine || (h.e_machine !== EM_X86_64 && h.e_machine !== EM_386))
      throw new EcfsError(path, `not an x86 ECFS file (e_machine ${emName(h.e_machine)}, ELFCLASS${elf.cls.word * 8})`);
    if (elf.shnum === 0 || elf.shstrndx === 0) throw new EcfsError(path, "not an ECFS file (no section headers)");
    const f = new EcfsFile(elf, path);
    const p = f.section(SEC.personality);
    if (!p || p.sh_size < 4n) throw new EcfsError(path, `not an ECFS file (no ${SEC.personality} section)`);
    return f;
  }

  close(): void {
    this.#closer?.close();
    this.#closer = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  get cls(): ElfClass {
    return this.elf.cls;
  }

  // ---- sections and memory ----

  sections(): readonly Shdr[] {
    return this.elf.sections();
  }

  programs(): readonly Phdr[] {
    return this.elf.programs();
  }

  /** The first section with this name (names may repeat; libecfs took the first too). */
  section(name: string): Shdr | undefined {
    return this.elf.sectionByName(name);
  }

  /** A section's bytes, by header or name; undefined when there is no such section. */
  sectionData(s: Shdr | string): Uint8Array | undefined {
    const sh = typeof s === "string" ? this.section(s) : s;
    return sh && this.elf.sectionData(sh);
  }

  /** sh_addr of a section, or undefined when there is none. */
  sectionVa(name: string): bigint | undefined {
    return this.section(name)?.sh_addr;
  }

  /** The first section whose sh_addr is exactly addr (libecfs get_section_name_by_addr). */
  sectionByAddr(addr: bigint): Shdr | undefined {
    return this.sections().find((s) => s.sh_type !== 0 && s.sh_addr === addr);
  }

  /** len bytes of process memory at va, through the PT_LOADs (not-dumped pages read as zeros). */
  memoryAt(va: bigint, len: number): Uint8Array {
    return this.elf.readVirtual(va, len);
  }

  #region(sh: Shdr): MemoryRegion {
    return { name: sh.name, addr: sh.sh_addr, size: sh.sh_size, offset: sh.sh_offset, bytes: () => this.elf.sectionData(sh) };
  }

  /** .stack: the main thread's stack mapping. */
  stack(): MemoryRegion | undefined {
    const sh = this.section(SEC.stack);
    return sh && this.#region(sh);
  }

  /** .heap: the [heap] mapping (size 0 when the process had none). */
  heap(): MemoryRegion | undefined {
    const sh = this.section(SEC.heap);
    return sh && this.#region(sh);
  }

  /** .stack.<tid>: the mapping holding each thread's stack pointer (ecfs-ts addition). */
  threadStacks(): (MemoryRegion & { tid: number })[] {
    return this.sections()
      .filter((s) => s.name.startsWith(STACK_PREFIX) && /^\d+$/.test(s.name.slice(STACK_PREFIX.length)))
      .map((s) => ({ ...this.#region(s), tid: Number(s.name.slice(STACK_PREFIX.length)) }));
  }

  /** Sections of type SHLIB, INJECTED, PRELOADED or DLOPEN (libecfs left DLOPEN out). */
  shlibMappings(): ShlibMapping[] {
    const out: ShlibMapping[] = [];
    for (const s of this.sections()) {
      const kind = shlibKind(s.sh_type);
      if (kind) out.push({ name: s.name, kind, type: s.sh_type, addr: s.sh_addr, size: s.sh_size, offset: s.sh_offset, flags: s.sh_flags });
    }
    return out;
  }

  // ---- process metadata ----

  personality(): Personality {
    const sh = this.section(SEC.personality)!; // checked in fromSource()
    return decodePersonality(this.elf.sectionData(sh), Number(sh.sh_offset));
  }

  /** .exepath without its NUL. */
  exePath(): string | undefined {
    const b = this.sectionData(SEC.exepath);
    return b && cString(b);
  }

  /** .arglist as the kernel wrote it: pr_psargs, argv joined by spaces, at most 79 bytes. */
  psargs(): string | undefined {
    const b = this.sectionData(SEC.arglist);
    return b && cString(b);
  }

  /**
   * The arguments from .cmdline (ecfs-ts addition: /proc/PID/cmdline, NUL-separated); an empty
   * argument stays an empty string. undefined for a file without it: .arglist (psargs) cannot
   * tell an argument with a space from two, and is cut at 79 bytes.
   */
  argv(): string[] | undefined {
    const b = this.sectionData(SEC.cmdline);
    return b && nulSeparated(b);
  }

  /** .environ: "NAME=value" strings (ecfs-ts addition). */
  environ(): string[] | undefined {
    const b = this.sectionData(SEC.environ);
    return b && nulSeparated(b);
  }

  /** .maps: the text of /proc/PID/maps at the snapshot (ecfs-ts addition). */
  maps(): string | undefined {
    const b = this.sectionData(SEC.maps);
    return b && new TextDecoder().decode(b);
  }

  auxv(): AuxvItem[] {
    const sh = this.section(SEC.auxvector);
    return sh ? decodeAuxv(this.elf.sectionData(sh), this.cls, Number(sh.sh_offset)) : [];
  }

  /** NT_PRPSINFO of the core notes (pid, uid, gid, comm), when present. */
  prpsinfo(): ElfPrpsinfo | undefined {
    const n = this.#note(NT_PRPSINFO);
    return n && parsePrpsinfo(n.desc, this.cls, n.offset);
  }

  /** NT_FILE of the core notes: the file-backed mappings, when present. */
  ntFile(): NtFile | undefined {
    const n = this.#note(NT_FILE);
    return n && parseNtFile(n.desc, this.cls.word, n.offset);
  }

  /** A CORE note of the first PT_NOTE (a core has one; more would only multiply hostile reads). */
  #note(type: number) {
    const ph = this.programs().find((p) => p.p_type === PT_NOTE);
    if (ph) for (const n of this.elf.segmentNotes(ph)) if (n.name === NOTE_NAME_CORE && n.type === type) return n;
    return undefined;
  }

  /** .heuristics (written by `snapshot -h`): objects, findings, notes; undefined without it. */
  heuristics(): HeuristicsDocument | undefined {
    const sh = this.section(".heuristics");
    if (!sh) return undefined;
    if (sh.sh_size > BigInt(MAX_HEURISTICS)) throw new ElfFormatError(Number(sh.sh_offset), ".heuristics larger than the cap", sh.sh_size);
    return decodeHeuristics(this.elf.sectionData(sh), Number(sh.sh_offset));
  }

  fdInfo(): FdInfo[] {
    return joinFds(this.cls, this.sectionData(SEC.fdinfo), this.sectionData(SEC_FDINFO_EXT));
  }

  // ---- threads ----

  threadCount(): number {
    return this.prstatus().length;
  }

  prstatus(): ThreadStatus[] {
    const sh = this.section(SEC.prstatus);
    return sh ? decodePrstatus(this.elf.sectionData(sh), this.cls, sh.sh_entsize, Number(sh.sh_offset)) : [];
  }

  fpregs(): FpRegs[] {
    const sh = this.section(SEC.fpregset);
    return sh ? decodeFpregset(this.elf.sectionData(sh), this.cls, sh.sh_entsize, Number(sh.sh_offset)) : [];
  }

  siginfo(): Siginfo | undefined {
    const sh = this.section(SEC.siginfo);
    return sh && decodeSiginfo(this.elf.sectionData(sh), this.cls, Number(sh.sh_offset));
  }

  /** Memory the writer could not read (the file has zeros there): `.gaps`, u64 address and length pairs. */
  gaps(): { addr: bigint; len: bigint }[] {
    const sh = this.section(SEC.gaps);
    if (!sh) return [];
    const bytes = this.elf.sectionData(sh);
    if (bytes.byteLength % 16 !== 0) throw new ElfFormatError(Number(sh.sh_offset), ".gaps size not a multiple of 16", bytes.byteLength);
    const r = new ByteReader(bytes, Number(sh.sh_offset));
    const out: { addr: bigint; len: bigint }[] = [];
    for (let o = 0; o < bytes.byteLength; o += 16) out.push({ addr: r.u64(o, "gap address"), len: r.u64(o + 8, "gap length") });
    return out;
  }

  /** si_addr when the process died of SIGSEGV, SIGBUS, SIGILL or SIGFPE (libecfs get_fault_location). */
  faultAddress(): bigint | undefined {
    return this.siginfo()?.addr;
  }

  // ---- symbols and PLT/GOT ----

  #symbolSection(name: string, type: number): Shdr | undefined {
    const named = this.section(name);
    return named?.sh_type === type ? named : this.sections().find((s) => s.sh_type === type);
  }

  /** .dynsym (st_value as the writer resolved it), [] when there is none. */
  dynamicSymbols(): EcfsSymbol[] {
    const sh = this.#symbolSection(DYNSYM, SHT_DYNSYM);
    return sh ? readSymbols(this.elf, sh, ".dynstr") : [];
  }

  /** .symtab (sub_<hex> functions rebuilt from .eh_frame), [] when there is none. */
  localSymbols(): EcfsSymbol[] {
    const sh = this.#symbolSection(".symtab", SHT_SYMTAB);
    return sh ? readSymbols(this.elf, sh, ".strtab") : [];
  }

  /**
   * The writer's per-library copies, `<lib>.dynsym` with `<lib>.dynstr` (PROGBITS, values at
   * runtime addresses, imports resolved), in section order.
   */
  librarySymbols(): LibrarySymbols[] {
    // Kept: pltGot() needs the IFUNCs of every library, and libc alone has thousands of symbols.
    this.#librarySymbols ??= this.sections()
      .filter((s) => s.name.endsWith(DYNSYM) && s.name !== DYNSYM && s.sh_entsize === BigInt(this.cls.symSize))
      .map((s) => {
        const library = s.name.slice(0, -DYNSYM.length);
        return { library, section: s.name, symbols: readSymbols(this.elf, s, `${library}.dynstr`, true) };
      });
    return this.#librarySymbols;
  }

  /**
   * Where a PIE's executable was loaded: the lowest NT_FILE mapping of .exepath, else
   * AT_ENTRY - e_entry (ECFS keeps the executable's link-time e_entry, docs/FORMAT.md 2).
   * 0 for a non-PIE, whose link-time addresses are its runtime addresses.
   */
  loadBase(): bigint {
    if (!this.personality().pie) return 0n;
    const exe = this.exePath()?.replace(/ \(deleted\)$/, "");
    const mine = (this.ntFile()?.entries ?? []).filter((e) => e.path.replace(/ \(deleted\)$/, "") === exe);
    if (mine.length > 0) return mine.reduce((lo, e) => (e.start < lo ? e.start : lo), mine[0]!.start);
    const entry = this.auxv().find((a) => a.name === "AT_ENTRY");
    return entry && entry.value >= this.elf.header.e_entry ? entry.value - this.elf.header.e_entry : 0n;
  }

  /**
   * One entry per JUMP_SLOT relocation of .rela.plt / .rel.plt ([] without one). Without
   * .dynsym the entries have no names or library addresses, so only "unresolved" is decided.
   */
  pltGot(): PltGotEntry[] {
    const rel = this.section(".rela.plt") ?? this.section(".rel.plt");
    if (!rel) return [];
    const base = this.loadBase();
    const rebase = (a: bigint): bigint => (base !== 0n && a < base ? a + base : a);
    const code = (name: string) => {
      const sh = this.section(name);
      return sh && sh.sh_type !== SHT_NOBITS && sh.sh_size > 0n ? { addr: sh.sh_addr, bytes: this.elf.sectionData(sh) } : undefined;
    };
    const plt = code(".plt");
    const pltSec = code(".plt.sec");
    // %ebx of i386 PIC stubs: _GLOBAL_OFFSET_TABLE_, which is .got.plt, or DT_PLTGOT (-z now has no .got.plt).
    const dynamic = this.section(".dynamic");
    const pltgot = dynamic && this.elf.dynamic(this.elf.sectionData(dynamic)).find((d) => d.d_tag === BigInt(DT_PLTGOT));
    const gotBase = this.sectionVa(".got.plt") ?? (pltgot && rebase(pltgot.d_val));
    // IFUNC definitions in the libraries: their slots hold what the resolver chose, which must
    // at least lie in the same object (NT_FILE) as the resolver.
    const ifuncs = new Set<bigint>();
    for (const t of this.librarySymbols()) for (const x of t.symbols) if (x.type === STT_GNU_IFUNC && x.shndx !== SHN_UNDEF) ifuncs.add(x.value);
    const files = this.ntFile()?.entries ?? [];
    const objectOf = (a: bigint) => files.find((e) => a >= e.start && a < e.end)?.path;
    return computePltGot({
      cls: this.cls,
      isIfunc: (a) => ifuncs.has(a),
      sameObject: (a, b) => {
        const p = objectOf(a);
        if (p === undefined) return undefined;
        if (p === objectOf(b)) return true;
        // glibc's time, gettimeofday, clock_gettime and getcpu IFUNCs pick the vDSO's function.
        const vdso = this.section(".vdso");
        return vdso !== undefined && vdso.sh_size > 0n && b >= vdso.sh_addr && b < vdso.sh_addr + vdso.sh_size;
      },
      relocs: { bytes: this.elf.sectionData(rel), rela: rel.sh_type === SHT_RELA, entsize: rel.sh_entsize, offset: Number(rel.sh_offset) },
      dynsym: this.dynamicSymbols(),
      ...(plt && { plt }),
      ...(pltSec && { pltSec }),
      ...(gotBase !== undefined && { gotBase }),
      rebase,
      readWord: (a) => this.#word(a),
    });
  }

  #word(addr: bigint): bigint | undefined {
    try {
      const b = this.memoryAt(addr, this.cls.word);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return this.cls.word === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
    } catch (e) {
      // A slot outside every PT_LOAD is a fact about this file, reported as "unknown".
      if (e instanceof ElfFormatError) return undefined;
      throw e;
    }
  }
}
