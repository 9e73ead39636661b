// The stream path (core_pipe_limit 0): the kernel does not wait for us once it has written the
// core, so the dying task's memory is ours only while the kernel is blocked on the full pipe.
// The core is spooled as it arrives into an unnamed file in the cores directory (which is the
// raw core, byte for byte, should the ECFS file fail), and what the kernel leaves out
// (coredump_filter: text and other file-backed pages never written) is read from the task
// first, into a second unnamed file. SpoolMemory then answers reads from the two.

import { closeSync, constants, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import type { Phdr } from "../../elf/records.ts";
import type { MemoryReader } from "../../model/image.ts";
import { O_TMPFILE } from "../../sys/fs.ts";
import { byVaddr, segmentAt } from "../../elf/segments.ts";

const PAGE = 4096;
const ZERO = Buffer.alloc(PAGE);

/** An unnamed file (O_TMPFILE) written at given offsets; all-zero pages stay holes. */
export class SpoolFile {
  readonly fd: number;
  #length = 0;
  constructor(dir: string) {
    this.fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600);
  }

  get length(): number {
    return this.#length;
  }

  write(bytes: Uint8Array, offset: number): void {
    // Holes where the kernel wrote zero pages (untouched memory): a sparse raw core.
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let run = -1;
    const flush = (end: number) => {
      if (run < 0) return;
      let done = run;
      while (done < end) done += writeSync(this.fd, buf, done, end - done, offset + done);
      run = -1;
    };
    for (let p = 0; p < buf.byteLength; p += PAGE) {
      const end = Math.min(p + PAGE, buf.byteLength);
      const zero = end - p === PAGE && (offset + p) % PAGE === 0 && buf.subarray(p, end).equals(ZERO);
      if (zero) flush(p);
      else if (run < 0) run = p;
    }
    flush(buf.byteLength);
    this.#length = Math.max(this.#length, offset + bytes.byteLength);
  }

  /** Fixes the length (trailing holes included). */
  finish(): void {
    ftruncateSync(this.fd, this.#length);
  }

  read(dst: Uint8Array, offset: number): number {
    let done = 0;
    while (done < dst.byteLength) {
      const n = readSync(this.fd, dst, done, dst.byteLength - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A range the kernel left out, as read from the task: `got` bytes from `addr` are at `at` in the extras file. */
export interface OmittedRange {
  addr: bigint;
  got: number;
  at: number;
}

/**
 * Memory of the crashed process: the kernel's PT_LOAD data in the spooled core where it wrote
 * any, else what we read from the task before it went away, else a hole.
 */
export class SpoolMemory implements MemoryReader {
  readonly #loads: Phdr[];
  constructor(readonly core: SpoolFile, loads: Phdr[], readonly extras: SpoolFile, readonly omitted: OmittedRange[]) {
    this.#loads = [...loads].sort(byVaddr);
  }

  #load(addr: bigint): Phdr | undefined {
    return segmentAt(this.#loads, addr, (l) => l.p_memsz);
  }

  /** One contiguous piece at `addr`: bytes read (0 at a hole). */
  #readPiece(addr: bigint, dst: Uint8Array): number {
    const l = this.#load(addr);
    if (!l) return 0;
    const delta = addr - l.p_vaddr;
    const limit = Number(l.p_memsz - delta) < dst.byteLength ? dst.subarray(0, Number(l.p_memsz - delta)) : dst;
    if (delta < l.p_filesz) {
      const n = Number(l.p_filesz - delta) < limit.byteLength ? Number(l.p_filesz - delta) : limit.byteLength;
      return this.core.read(limit.subarray(0, n), Number(l.p_offset + delta));
    }
    const o = this.omitted.find((r) => addr >= r.addr && addr < r.addr + BigInt(r.got));
    if (!o) return 0;
    const skip = Number(addr - o.addr);
    const n = Math.min(limit.byteLength, o.got - skip);
    return this.extras.read(limit.subarray(0, n), o.at + skip);
  }

  read(addr: bigint, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.byteLength) {
      const n = this.#readPiece(addr + BigInt(done), dst.subarray(done));
      if (n === 0) break;
      done += n;
    }
    return done;
  }
}
