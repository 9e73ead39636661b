// Trust model: /proc/PID/auxv is the kernel's saved copy of the vector it built at exec
// (mm->saved_auxv), but we parse it as untrusted bytes: bounded by its length, stopping at AT_NULL.

import { parseAuxv as parseAuxvPairs } from "../elf/notes.ts";
import { ElfFormatError } from "../errors.ts";
import { readProcFile } from "./read.ts";

export interface AuxvEntry {
  /** a_type (AT_*). */
  type: number;
  /** a_un.a_val, widened to 64 bits. */
  value: bigint;
}

/** saved_auxv holds at most AT_VECTOR_SIZE words (a few hundred bytes); 64 KiB is generous. */
const AUXV_MAX = 64 * 1024;

/**
 * Raw /proc/PID/auxv: pairs of native words of the TARGET's class (4 bytes each for an IA-32
 * process, since compat_binfmt_elf fills saved_auxv with u32 elf_addr_t), ending with AT_NULL.
 */
export function readAuxv(pid: number): Uint8Array {
  return readProcFile(`/proc/${pid}/auxv`, AUXV_MAX);
}

/**
 * Decodes auxv entries up to and excluding AT_NULL (the walk is elf/notes.ts's, shared with
 * NT_AUXV). A missing AT_NULL ends at the last whole pair; a trailing partial pair is an error.
 */
export function parseAuxv(bytes: Uint8Array, wordSize: 4 | 8): AuxvEntry[] {
  const pair = 2 * wordSize;
  if (bytes.byteLength % pair !== 0) throw new ElfFormatError(bytes.byteLength, "auxv length not a whole number of pairs", bytes.byteLength);
  return parseAuxvPairs(bytes, wordSize).map((e, i) => {
    if (e.a_type > 0xffffffffn) throw new ElfFormatError(i * pair, "auxv a_type out of range", `0x${e.a_type.toString(16)}`);
    return { type: Number(e.a_type), value: e.a_val };
  });
}

/** The value of the first entry of `type`, if any. */
export function auxvValue(entries: readonly AuxvEntry[], type: number): bigint | undefined {
  return entries.find((e) => e.type === type)?.value;
}
