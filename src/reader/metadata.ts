// Decoders for the small ECFS blobs (docs/FORMAT.md 4): .personality, .auxvector, .exepath,
// .arglist, .environ, .cmdline, and the library-mapping section types (docs/FORMAT.md 5). Trust model: the
// bytes are a section of a file anyone may have written; every decoder reads within the bytes
// it is given, so a short or oversized blob gives a short answer or an ElfFormatError, never more.

import { ByteReader } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import {
  atName, ELF_HEURISTICS, ELF_LOCSYM, ELF_PIE, ELF_STATIC, ELF_STRIPPED_SHDRS, SHT_DLOPEN, SHT_INJECTED,
  SHT_PRELOADED, SHT_SHLIB,
} from "../elf/consts.ts";
import { parseAuxv } from "../elf/notes.ts";
import { ElfFormatError } from "../errors.ts";

const decoder = new TextDecoder();

/** elf_stat_t.personality, bit by bit. */
export interface Personality {
  raw: number;
  /** ELF_STATIC: the executable has no PT_INTERP. */
  static: boolean;
  /** ELF_PIE: the executable is ET_DYN. */
  pie: boolean;
  /** ELF_LOCSYM: never set by any writer (docs/FORMAT.md 7). */
  locsym: boolean;
  /** ELF_HEURISTICS: library sections were classified (injected, preloaded, dlopen). */
  heuristics: boolean;
  /** ELF_STRIPPED_SHDRS: the executable had no section headers. */
  stripped: boolean;
}

export function decodePersonality(bytes: Uint8Array, base = 0): Personality {
  const raw = new ByteReader(bytes, base).u32(0, ".personality");
  return {
    raw,
    static: (raw & ELF_STATIC) !== 0,
    pie: (raw & ELF_PIE) !== 0,
    locsym: (raw & ELF_LOCSYM) !== 0,
    heuristics: (raw & ELF_HEURISTICS) !== 0,
    stripped: (raw & ELF_STRIPPED_SHDRS) !== 0,
  };
}

export interface AuxvItem {
  /** a_type: AT_* */
  type: bigint;
  /** "AT_PHDR", or the number in hex for a type we have no name for. */
  name: string;
  value: bigint;
}

/** Native-word pairs of the file's class, up to AT_NULL (readecfs read them as 64-bit always). */
export function decodeAuxv(bytes: Uint8Array, cls: ElfClass, base = 0): AuxvItem[] {
  if (bytes.byteLength % (2 * cls.word) !== 0)
    throw new ElfFormatError(base, ".auxvector size not a multiple of the auxv entry", bytes.byteLength);
  return parseAuxv(bytes, cls.word, base).map((e) => ({
    type: e.a_type,
    name: e.a_type <= 0xffffffffn ? atName(Number(e.a_type)) : `0x${e.a_type.toString(16)}`,
    value: e.a_val,
  }));
}

/** The text up to the first NUL (all of it when there is none). */
export function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return decoder.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** NUL-separated strings (/proc/PID/environ), without the empty string after the last NUL. */
export function nulSeparated(bytes: Uint8Array): string[] {
  if (bytes.byteLength === 0) return [];
  const parts = decoder.decode(bytes).split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

export type ShlibKind = "shlib" | "injected" | "preloaded" | "dlopen";

const SHLIB_KINDS: Record<number, ShlibKind> = {
  [SHT_SHLIB]: "shlib",
  [SHT_INJECTED]: "injected",
  [SHT_PRELOADED]: "preloaded",
  [SHT_DLOPEN]: "dlopen",
};

/** The library-mapping kind of a section type, or undefined for any other type. */
export function shlibKind(sh_type: number): ShlibKind | undefined {
  return SHLIB_KINDS[sh_type];
}
