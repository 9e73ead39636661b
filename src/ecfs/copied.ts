// The process's memory as the file being written holds it: a MemoryReader over the PT_LOAD
// data already copied into the output. Everything derived from the captured bytes (symbols,
// .dynsym, PLT/GOT, library sections, heuristics) is planned from this after the target runs
// again, so it describes exactly the instant of the copy (docs/DESIGN.md "Stop only for what
// must be read while stopped"). What the copy could not read (.gaps) reads as a hole here
// too, and so does memory the file does not hold (a mapping the kernel would not dump).

import { byVaddr, segmentAt } from "../elf/segments.ts";
import type { MemoryReader } from "../model/image.ts";
import type { PlacedSegment } from "./layout.ts";
import type { Gap } from "./write.ts";

/** Reads `dst.byteLength` bytes of the file at `offset`; returns how many (short only at its end). */
export type ReadAt = (dst: Uint8Array, offset: number) => number;

export class CopiedMemory implements MemoryReader {
  /** PT_LOADs with data in the file, in address order. */
  readonly #loads: readonly PlacedSegment[];
  readonly #gaps: readonly Gap[];

  constructor(loads: readonly PlacedSegment[], gaps: readonly Gap[], readonly readAt: ReadAt) {
    this.#loads = loads.filter((l) => l.p_filesz > 0n).sort(byVaddr);
    this.#gaps = [...gaps].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  }

  /** The load whose copied bytes hold `addr`. */
  #load(addr: bigint): PlacedSegment | undefined {
    return segmentAt(this.#loads, addr, (l) => l.p_filesz);
  }

  /** Bytes readable from `addr` before the first gap at or after it (Infinity: none). */
  #beforeGap(addr: bigint): number {
    let lo = 0;
    let hi = this.#gaps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const g = this.#gaps[mid]!;
      if (g.addr + BigInt(g.len) <= addr) lo = mid + 1;
      else hi = mid;
    }
    const g = this.#gaps[lo];
    if (!g) return Number.POSITIVE_INFINITY;
    return g.addr <= addr ? 0 : Number(g.addr - addr);
  }

  /** Like the live process: a read runs on across adjacent mappings and stops at the first hole. */
  read(addr: bigint, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.byteLength) {
      const at = addr + BigInt(done);
      const l = this.#load(at);
      if (!l) break;
      const inLoad = Number(l.p_vaddr + l.p_filesz - at);
      const want = Math.min(dst.byteLength - done, inLoad, this.#beforeGap(at));
      if (want <= 0) break;
      const n = this.readAt(dst.subarray(done, done + want), l.p_offset + Number(at - l.p_vaddr));
      done += n;
      if (n < want) break;
    }
    return done;
  }
}
