// Reading ELF structures out of the target's memory. Every byte comes from a process we do
// not trust: reads are exact or fail with ElfFormatError, and sizes are capped before any
// buffer is allocated.

import { ElfFormatError, SyscallError } from "../errors.ts";
import type { MemoryReader } from "../model/image.ts";

/** No single structure we read from a target (a symbol table, .eh_frame) may exceed this. */
export const TARGET_READ_MAX = 64 * 1024 * 1024;

export function readExact(mem: MemoryReader, addr: bigint, len: number | bigint, what: string): Uint8Array {
  const n = typeof len === "bigint" ? (len > BigInt(TARGET_READ_MAX) ? -1 : Number(len)) : len;
  if (!Number.isSafeInteger(n) || n < 0 || n > TARGET_READ_MAX) throw new ElfFormatError(addr, `${what}: size too large`, len);
  const buf = new Uint8Array(n);
  const got = mem.read(addr, buf);
  if (got < n) throw new ElfFormatError(addr + BigInt(got), `${what}: memory not readable`, n - got);
  return buf;
}

/** Read as much as is readable (up to len); for structures whose end we find by parsing. */
export function readUpTo(mem: MemoryReader, addr: bigint, len: number): Uint8Array {
  const buf = new Uint8Array(Math.min(Math.max(0, len), TARGET_READ_MAX));
  return buf.subarray(0, mem.read(addr, buf));
}

/**
 * For catch blocks that turn a malformed structure into a reported problem: a target that
 * is gone is no "problem" to report but the end of the snapshot, so that error goes on.
 */
export function rethrowIfGone(e: unknown): void {
  if (e instanceof SyscallError && e.code === "ESRCH") throw e;
}
