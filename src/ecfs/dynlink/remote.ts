// Bounded reads of a target's memory for the dynamic-linking analysis (dynlink.ts).
// Trust model: every pointer, count and string in the target was written by the target
// (possibly hostile), so each read is capped in size, checked against the address space of
// the target's ELF class, and a short read (a hole) becomes an ElfFormatError whose offset is
// the target address. Errors the MemoryReader itself throws (the process is gone) pass through.

import { ByteReader } from "../../elf/bytes.ts";
import type { ElfClass } from "../../elf/class.ts";
import { ElfFormatError } from "../../errors.ts";
import type { MemoryReader } from "../../model/image.ts";

/** Largest single read of one table (a .dynsym of 2^20 entries is 24 MiB). */
export const MAX_REMOTE_READ = 32 * 1024 * 1024;
/** Longest string we follow (PATH_MAX; symbol and version names are far shorter). */
export const MAX_REMOTE_STRING = 4096;
const STRING_CHUNK = 256;
/** All reads of one analysis together: a hostile link map of thousands of objects, each with
 * a huge symbol table, must not make us read (and hold) gigabytes. */
export const MAX_TOTAL_READ = 512 * 1024 * 1024;

export class RemoteMemory {
  /** One past the highest address of the target's class (2^64 or 2^32). */
  readonly limit: bigint;
  #budget: number;
  constructor(
    readonly mem: MemoryReader,
    readonly cls: ElfClass,
    budget = MAX_TOTAL_READ,
  ) {
    this.limit = 1n << BigInt(cls.word * 8);
    this.#budget = budget;
  }

  /** A size from the target (a bigint field) as a read length, or ElfFormatError over the cap. */
  static length(n: number | bigint, addr: bigint, what: string): number {
    if (typeof n === "bigint") return n >= 0n && n <= BigInt(MAX_REMOTE_READ) ? Number(n) : RemoteMemory.length(-1, addr, what);
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_REMOTE_READ)
      throw new ElfFormatError(addr < 0n ? 0n : addr, `${what}: size over the read cap`, n);
    return n;
  }

  #check(addr: bigint, n: number, what: string): void {
    RemoteMemory.length(n, addr, what);
    if (addr < 0n || addr + BigInt(n) > this.limit)
      throw new ElfFormatError(addr < 0n ? 0n : addr, `${what}: address out of range`, `0x${addr.toString(16)}`);
    if (n > this.#budget) throw new ElfFormatError(addr, `${what}: total read budget of the analysis exhausted`, n);
    this.#budget -= n;
  }

  /** Exactly n bytes at addr, or ElfFormatError when part of them is unreadable. */
  bytes(addr: bigint, size: number | bigint, what: string): Uint8Array {
    const n = RemoteMemory.length(size, addr, what);
    const got = this.prefix(addr, n, what);
    if (got.byteLength < n) throw new ElfFormatError(addr + BigInt(got.byteLength), `${what} unreadable`, n);
    return got;
  }

  /** Up to n bytes at addr: the readable prefix (possibly empty). */
  prefix(addr: bigint, size: number | bigint, what: string): Uint8Array {
    const n = RemoteMemory.length(size, addr, what);
    this.#check(addr, n, what);
    const dst = new Uint8Array(n);
    const got = this.mem.read(addr, dst);
    return dst.subarray(0, Math.max(0, Math.min(got, n)));
  }

  /** Bytes at addr as a ByteReader whose error offsets are target addresses (when they fit a number). */
  reader(addr: bigint, n: number, what: string): ByteReader {
    return new ByteReader(this.bytes(addr, n, what), addr <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(addr) : 0);
  }

  word(addr: bigint, what: string): bigint {
    return new ByteReader(this.bytes(addr, this.cls.word, what)).word(0, this.cls.word, what);
  }

  /** The NUL-terminated string at addr, at most `max` bytes before the NUL. */
  cstr(addr: bigint, what: string, max = MAX_REMOTE_STRING): string {
    const parts: Uint8Array[] = [];
    let len = 0;
    for (let at = addr; len <= max; ) {
      const want = Math.min(STRING_CHUNK, max + 1 - len);
      if (want <= 0) break;
      const chunk = this.prefix(at, Number(BigInt(want) < this.limit - at ? want : this.limit - at), what);
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        parts.push(chunk.subarray(0, nul));
        return decoder.decode(concat(parts, len + nul));
      }
      if (chunk.byteLength === 0) throw new ElfFormatError(at, `${what} unreadable before its NUL`);
      parts.push(chunk);
      len += chunk.byteLength;
      at += BigInt(chunk.byteLength);
    }
    throw new ElfFormatError(addr, `${what} longer than ${max} bytes`);
  }
}

const decoder = new TextDecoder();

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]) return parts[0];
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

/** Malformed target data, kept as data: where it was met, and the error that says what. */
export interface DynlinkProblem {
  /** The object (its name) or the structure ("link map", "auxv") being read. */
  where: string;
  error: ElfFormatError;
}

/**
 * Runs `fn`; an ElfFormatError becomes a problem and the result undefined. Anything else (a
 * SyscallError from the reader, a bug) propagates: only malformed data is reported as data.
 */
export function attempt<T>(problems: DynlinkProblem[], where: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof ElfFormatError)) throw e;
    problems.push({ where, error: e });
    return undefined;
  }
}
