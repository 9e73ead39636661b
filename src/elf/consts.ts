// ELF and Linux core constants, spelled as in elf(5), <elf.h> and the kernel, so they
// grep against readelf output. Each family has a name printer that falls back to hex.
// ECFS's own values are from docs/FORMAT.md 7.

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;
export const ELFOSABI_NONE = 0;

export const ET_NONE = 0;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export const EM_386 = 3;
export const EM_X86_64 = 62;

export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PT_GNU_STACK = 0x6474e551;
export const PT_GNU_RELRO = 0x6474e552;
export const PT_GNU_PROPERTY = 0x6474e553;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** e_phnum escape: the real count lives in section 0's sh_info. */
export const PN_XNUM = 0xffff;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_XINDEX = 0xffff;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_HASH = 5;
export const SHT_DYNAMIC = 6;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_SHLIB = 10;
export const SHT_DYNSYM = 11;
export const SHT_INIT_ARRAY = 14;
export const SHT_FINI_ARRAY = 15;
export const SHT_GNU_HASH = 0x6ffffff6;
export const SHT_GNU_versym = 0x6fffffff;
export const SHT_GNU_verneed = 0x6ffffffe;
export const SHT_GNU_verdef = 0x6ffffffd;
export const SHT_LOUSER = 0x80000000;
/** ECFS library-mapping types (docs/FORMAT.md 5, 7). */
export const SHT_INJECTED = 0x200000;
export const SHT_PRELOADED = 0x300000;
export const SHT_DLOPEN = 0x400000;

export const SHF_WRITE = 1;
export const SHF_ALLOC = 2;
export const SHF_EXECINSTR = 4;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_GNU_IFUNC = 10;

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_PRPSINFO = 3;
export const NT_TASKSTRUCT = 4;
export const NT_AUXV = 6;
export const NT_SIGINFO = 0x53494749;
export const NT_FILE = 0x46494c45;
export const NT_PRXFPREG = 0x46e62b7f;
export const NT_386_TLS = 0x200;
export const NT_X86_XSTATE = 0x202;
/** struct x86_xfeat_component[]: where each XSAVE feature sits (Linux 6.12+ cores). */
export const NT_X86_XSAVE_LAYOUT = 0x205;

export const NOTE_NAME_CORE = "CORE";
export const NOTE_NAME_LINUX = "LINUX";

export const DT_NULL = 0;
export const DT_NEEDED = 1;
export const DT_PLTRELSZ = 2;
export const DT_PLTGOT = 3;
export const DT_HASH = 4;
export const DT_STRTAB = 5;
export const DT_SYMTAB = 6;
export const DT_RELA = 7;
export const DT_RELASZ = 8;
export const DT_RELAENT = 9;
export const DT_STRSZ = 10;
export const DT_SYMENT = 11;
export const DT_INIT = 12;
export const DT_FINI = 13;
export const DT_SONAME = 14;
export const DT_RPATH = 15;
export const DT_SYMBOLIC = 16;
export const DT_REL = 17;
export const DT_RELSZ = 18;
export const DT_RELENT = 19;
export const DT_PLTREL = 20;
export const DT_DEBUG = 21;
export const DT_TEXTREL = 22;
export const DT_JMPREL = 23;
export const DT_INIT_ARRAY = 25;
export const DT_FINI_ARRAY = 26;
export const DT_INIT_ARRAYSZ = 27;
export const DT_FINI_ARRAYSZ = 28;
export const DT_RUNPATH = 29;
export const DT_PREINIT_ARRAY = 32;
export const DT_PREINIT_ARRAYSZ = 33;
export const DT_FLAGS = 30;
/** DT_FLAGS bits. */
export const DF_TEXTREL = 0x4;
export const DT_GNU_HASH = 0x6ffffef5;
export const DT_VERSYM = 0x6ffffff0;
export const DT_VERDEF = 0x6ffffffc;
export const DT_VERDEFNUM = 0x6ffffffd;
export const DT_VERNEED = 0x6ffffffe;
export const DT_VERNEEDNUM = 0x6fffffff;

export const AT_NULL = 0;
export const AT_IGNORE = 1;
export const AT_EXECFD = 2;
export const AT_PHDR = 3;
export const AT_PHENT = 4;
export const AT_PHNUM = 5;
export const AT_PAGESZ = 6;
export const AT_BASE = 7;
export const AT_FLAGS = 8;
export const AT_ENTRY = 9;
export const AT_UID = 11;
export const AT_EUID = 12;
export const AT_GID = 13;
export const AT_EGID = 14;
export const AT_PLATFORM = 15;
export const AT_HWCAP = 16;
export const AT_CLKTCK = 17;
export const AT_SECURE = 23;
export const AT_RANDOM = 25;
export const AT_HWCAP2 = 26;
export const AT_EXECFN = 31;
export const AT_SYSINFO = 32;
export const AT_SYSINFO_EHDR = 33;
export const AT_MINSIGSTKSZ = 51;

/** ECFS .personality bits (docs/FORMAT.md 7). */
export const ELF_STATIC = 0x2;
export const ELF_PIE = 0x4;
export const ELF_LOCSYM = 0x8;
export const ELF_HEURISTICS = 0x10;
export const ELF_STRIPPED_SHDRS = 0x100;

/** A name for each value; the table is built on first use (most commands never print a name). */
function namer(build: () => Record<number, string>): (v: number) => string {
  let table: Record<number, string> | undefined;
  return (v) => (table ??= build())[v] ?? `0x${v.toString(16)}`;
}

export const etName = namer(() => ({ 0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE" }));
export const emName = namer(() => ({ 3: "EM_386", 62: "EM_X86_64" }));
export const ptName = namer(() => ({
  0: "PT_NULL", 1: "PT_LOAD", 2: "PT_DYNAMIC", 3: "PT_INTERP", 4: "PT_NOTE", 6: "PT_PHDR", 7: "PT_TLS",
  [PT_GNU_EH_FRAME]: "PT_GNU_EH_FRAME", [PT_GNU_STACK]: "PT_GNU_STACK", [PT_GNU_RELRO]: "PT_GNU_RELRO",
  [PT_GNU_PROPERTY]: "PT_GNU_PROPERTY",
}));
export const shtName = namer(() => ({
  0: "SHT_NULL", 1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA", 5: "SHT_HASH",
  6: "SHT_DYNAMIC", 7: "SHT_NOTE", 8: "SHT_NOBITS", 9: "SHT_REL", 10: "SHT_SHLIB", 11: "SHT_DYNSYM",
  14: "SHT_INIT_ARRAY", 15: "SHT_FINI_ARRAY", [SHT_GNU_HASH]: "SHT_GNU_HASH", [SHT_LOUSER]: "SHT_LOUSER",
  [SHT_INJECTED]: "SHT_INJECTED", [SHT_PRELOADED]: "SHT_PRELOADED", [SHT_DLOPEN]: "SHT_DLOPEN",
}));
export const ntName = namer(() => ({
  1: "NT_PRSTATUS", 2: "NT_PRFPREG", 3: "NT_PRPSINFO", 6: "NT_AUXV", [NT_SIGINFO]: "NT_SIGINFO",
  [NT_FILE]: "NT_FILE", [NT_PRXFPREG]: "NT_PRXFPREG", [NT_386_TLS]: "NT_386_TLS", [NT_X86_XSTATE]: "NT_X86_XSTATE", [NT_X86_XSAVE_LAYOUT]: "NT_X86_XSAVE_LAYOUT",
}));
export const atName = namer(() => ({
  0: "AT_NULL", 1: "AT_IGNORE", 2: "AT_EXECFD", 3: "AT_PHDR", 4: "AT_PHENT", 5: "AT_PHNUM", 6: "AT_PAGESZ",
  7: "AT_BASE", 8: "AT_FLAGS", 9: "AT_ENTRY", 10: "AT_NOTELF", 11: "AT_UID", 12: "AT_EUID", 13: "AT_GID",
  14: "AT_EGID", 15: "AT_PLATFORM", 16: "AT_HWCAP", 17: "AT_CLKTCK", 23: "AT_SECURE", 24: "AT_BASE_PLATFORM",
  25: "AT_RANDOM", 26: "AT_HWCAP2", 27: "AT_RSEQ_FEATURE_SIZE", 28: "AT_RSEQ_ALIGN", 31: "AT_EXECFN",
  32: "AT_SYSINFO", 33: "AT_SYSINFO_EHDR", 51: "AT_MINSIGSTKSZ",
}));
