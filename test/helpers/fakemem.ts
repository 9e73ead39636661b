// A target's address space made of byte arrays we control, for hostile-target tests: real
// memory copied in, then corrupted at will.

import type { MemoryReader } from "../../src/model/image.ts";

/** A sparse address space of byte arrays; reads stop at the first hole. */
export class FakeMemory implements MemoryReader {
  readonly regions: { start: bigint; bytes: Uint8Array }[] = [];
  /** Work done by readers, counted instead of timed: calls to read() and bytes delivered. */
  reads = 0;
  bytesRead = 0;
  add(start: bigint, bytes: Uint8Array): void {
    this.regions.push({ start, bytes });
    this.regions.sort((a, b) => (a.start < b.start ? -1 : 1));
  }
  #find(addr: bigint): { start: bigint; bytes: Uint8Array } | undefined {
    return this.regions.find((r) => r.start <= addr && addr < r.start + BigInt(r.bytes.byteLength));
  }
  read(addr: bigint, dst: Uint8Array): number {
    this.reads++;
    let done = 0;
    while (done < dst.byteLength) {
      const at = addr + BigInt(done);
      const r = this.#find(at);
      if (!r) break;
      const off = Number(at - r.start);
      const n = Math.min(dst.byteLength - done, r.bytes.byteLength - off);
      dst.set(r.bytes.subarray(off, off + n), done);
      done += n;
    }
    this.bytesRead += done;
    return done;
  }
  /** The bytes at [addr, addr + n) inside one region, for writing. */
  window(addr: bigint, n: number): Uint8Array {
    const r = this.#find(addr);
    if (!r) throw new Error(`no region at 0x${addr.toString(16)}`);
    const off = Number(addr - r.start);
    return r.bytes.subarray(off, Math.min(off + n, r.bytes.byteLength));
  }
}
