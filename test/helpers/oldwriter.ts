// The writer as it was before the memory image was copied first (git 7fc25bd
// src/ecfs/write.ts, unchanged but for its imports): one pass over a layout planned from the
// live memory while the target is stopped, an 8 MiB scratch buffer, Buffer.equals per page. Kept
// as the reference the new copy path is compared with, byte for byte (test/copy-identical.test.ts).
// Its ELF header is written first; everything else is as the old writer did it.

import { assert } from "../../src/errors.ts";
import { ByteWriter } from "../../src/elf/bytes.ts";
import { encodeEhdr, encodePhdr, encodeShdr } from "../../src/elf/encode.ts";
import type { MemoryReader } from "../../src/model/image.ts";
import { PAGE, type CoreLayout } from "../../src/ecfs/layout.ts";
import type { CorePlan } from "../../src/ecfs/plan.ts";

/** Where bytes go: a positioned write (pwrite) and a final length. */
export interface Sink {
  write(bytes: Uint8Array, offset: number): void;
  /** Sets the file length, so trailing holes exist too. */
  finish(length: number): void;
}

export interface Gap {
  addr: bigint;
  len: number;
}

export interface WriteStats {
  bytesOfMemory: number;
  zeroPagesSkipped: number;
  /** Bytes of never-populated memory left unread (zeros in the file). */
  unpopulatedBytes: number;
  gaps: Gap[];
}

export interface WriteOptions {
  /** Scratch buffer size; memory use does not grow beyond it whatever the target's size. */
  chunkSize?: number;
  /** Called between chunks; throw from it to abort (SIGINT, a deadline). */
  checkpoint?: () => Promise<void> | void;
}

const ZERO_PAGE = Buffer.alloc(PAGE);

/** The sink behind a running position that only moves forward; what is skipped stays a hole. */
class ForwardSink {
  #pos = 0;
  constructor(readonly sink: Sink) {}
  write(bytes: Uint8Array, offset: number): void {
    this.at(offset, "a write");
    if (bytes.byteLength > 0) this.sink.write(bytes, offset);
    this.#pos = offset + bytes.byteLength;
  }
  /** Asserts that `what`, which starts at `offset`, is not behind what was written already. */
  at(offset: number, what: string): void {
    assert(offset >= this.#pos, `${what} at ${offset} is behind the running position ${this.#pos}`);
  }
  finish(length: number): void {
    this.at(length, "the end of the file");
    this.sink.finish(length);
  }
}

export async function oldWriteCore(plan: CorePlan, layout: CoreLayout, out: Sink, mem: MemoryReader, opts: WriteOptions = {}): Promise<WriteStats> {
  const { cls } = plan;
  const sink = new ForwardSink(out);
  const stats: WriteStats = { bytesOfMemory: 0, zeroPagesSkipped: 0, unpopulatedBytes: 0, gaps: [] };

  // ELF header, program headers and notes: one small buffer.
  const head = new ByteWriter(layout.notesOffset + plan.notes.byteLength);
  head.set(0, encodeEhdr(cls, {
    e_type: plan.eType, e_entry: plan.entry, e_phoff: layout.phoff, e_shoff: layout.shoff,
    e_phnum: layout.e_phnum, e_shnum: layout.e_shnum, e_shstrndx: layout.e_shstrndx,
  }));
  layout.segments.forEach((s, i) => encodePhdr(cls, s, head, layout.phoff + i * cls.phdrSize));
  head.set(layout.notesOffset, plan.notes);
  sink.write(head.bytes, 0);

  const chunk = Buffer.alloc(Math.max(PAGE, Math.floor((opts.chunkSize ?? 8 << 20) / PAGE) * PAGE));
  // Pieces of memory that follow each other in the file are read together: one
  // MemoryReader.readv (one process_vm_readv with an iovec per piece) per scratch buffer,
  // however many small mappings it spans.
  let batch: Piece[] = [];
  let batchLen = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const buf = chunk.subarray(0, batchLen);
    const spans = fillBatch(mem, batch, buf, stats);
    writeSparse(sink, buf, spans, batch[0]!.fileOffset, stats);
    stats.bytesOfMemory += batchLen;
    batch = [];
    batchLen = 0;
    if (opts.checkpoint) await opts.checkpoint();
  };
  for (const seg of layout.loads) {
    sink.at(seg.p_offset, "a PT_LOAD");
    const total = Number(seg.p_filesz);
    for (let done = 0; done < total; ) {
      const len = Math.min(chunk.byteLength, total - done);
      const piece = { addr: seg.p_vaddr + BigInt(done), len, fileOffset: seg.p_offset + done };
      const last = batch[batch.length - 1];
      const contiguous = last !== undefined && last.fileOffset + last.len === piece.fileOffset;
      if (batch.length > 0 && (!contiguous || batchLen + len > chunk.byteLength || batch.length >= MAX_IOV)) await flush();
      batch.push(piece);
      batchLen += len;
      done += len;
    }
  }
  await flush();

  const lateSizes = new Map<number, bigint>();
  for (const part of layout.tail) {
    if (part.kind === "bytes") {
      sink.write(part.bytes, part.offset);
      continue;
    }
    const bytes = part.produce(stats.gaps);
    assert(bytes.byteLength <= part.maxSize, "late section fits its reserved room");
    sink.write(bytes, part.offset);
    lateSizes.set(part.section, BigInt(bytes.byteLength));
  }

  const shdrs = new ByteWriter(layout.sections.length * cls.shdrSize);
  layout.sections.forEach((s, i) =>
    encodeShdr(cls, {
      sh_name: s.nameOffset, sh_type: s.type, sh_flags: BigInt(s.flags), sh_addr: s.addr, sh_offset: s.offset,
      sh_size: lateSizes.get(i) ?? s.size, sh_link: s.link, sh_info: s.info, sh_addralign: BigInt(s.align), sh_entsize: BigInt(s.entsize),
    }, shdrs, i * cls.shdrSize),
  );
  sink.write(shdrs.bytes, layout.shoff);
  const strtab = layout.sections[layout.sections.length - 1]!;
  assert(strtab.offset === layout.shoff + shdrs.bytes.byteLength, ".shstrtab follows the section headers");
  sink.write(layout.shstrtab, strtab.offset);
  assert(strtab.offset + layout.shstrtab.byteLength === layout.fileSize, "file ends after .shstrtab");
  sink.finish(layout.fileSize);
  return stats;
}

interface Piece {
  addr: bigint;
  len: number;
  fileOffset: number;
}

/** IOV_MAX: the most ranges one process_vm_readv takes. */
const MAX_IOV = 1024;

/** One read of a batch: `len` bytes of target memory at `addr` into the batch buffer at `at`. */
interface Read {
  addr: bigint;
  len: number;
  at: number;
}

/**
 * Fill `buf` with the pieces back to back, and return the spans of it that were read. Only what
 * the reader says may hold data is read: the rest is zeros, left out of the spans and so a hole
 * in the file. Reads that follow each other in `buf` go together in one vectored read, and what
 * that leaves short is read one by one.
 */
function fillBatch(mem: MemoryReader, pieces: Piece[], buf: Uint8Array, stats: WriteStats): Read[] {
  const reads: Read[] = [];
  let at = 0;
  let unread = 0;
  for (const p of pieces) {
    const runs = mem.dataRuns?.(p.addr, p.len) ?? [{ start: p.addr, end: p.addr + BigInt(p.len) }];
    for (const r of runs) {
      const len = Number(r.end - r.start);
      reads.push({ addr: r.start, len, at: at + Number(r.start - p.addr) });
      unread -= len;
    }
    unread += p.len;
    at += p.len;
  }
  stats.unpopulatedBytes += unread;
  for (let i = 0; i < reads.length; ) {
    let j = i + 1;
    while (j < reads.length && j - i < MAX_IOV && reads[j]!.at === reads[j - 1]!.at + reads[j - 1]!.len) j++;
    const group = reads.slice(i, j);
    const first = group[0]!.at;
    const dst = buf.subarray(first, group[j - i - 1]!.at + group[j - i - 1]!.len);
    let got = 0;
    if (group.length > 1 && mem.readv) got = mem.readv(group, dst);
    for (const r of group) {
      const from = r.at - first;
      if (from + r.len > got) {
        const skip = Math.max(0, got - from);
        fill(mem, r.addr + BigInt(skip), dst.subarray(from + skip, from + r.len), stats);
      }
    }
    i = j;
  }
  return reads;
}

/** Read `buf.length` bytes at `addr`; what cannot be read becomes zeros, page by page, and a recorded gap. */
function fill(mem: MemoryReader, addr: bigint, buf: Uint8Array, stats: WriteStats): void {
  let off = 0;
  while (off < buf.byteLength) {
    const n = mem.read(addr + BigInt(off), buf.subarray(off));
    off += n;
    if (off >= buf.byteLength) break;
    const pageEnd = Math.min(buf.byteLength, (Math.floor(off / PAGE) + 1) * PAGE);
    buf.fill(0, off, pageEnd);
    const gapAddr = addr + BigInt(off);
    const last = stats.gaps[stats.gaps.length - 1];
    if (last && last.addr + BigInt(last.len) === gapAddr) last.len += pageEnd - off;
    else stats.gaps.push({ addr: gapAddr, len: pageEnd - off });
    off = pageEnd;
  }
}

/** Writes the spans of `buf` (the batch at file offset `offset`) but their all-zero pages, which stay holes. */
function writeSparse(sink: ForwardSink, buf: Buffer, spans: readonly Read[], offset: number, stats: WriteStats): void {
  for (const { at, len } of spans) {
    const end = at + len;
    let runStart = -1;
    for (let p = at; p < end; p += PAGE) {
      const page = buf.subarray(p, Math.min(p + PAGE, end));
      const zero = page.byteLength === PAGE && page.equals(ZERO_PAGE);
      if (zero) {
        stats.zeroPagesSkipped++;
        if (runStart >= 0) {
          sink.write(buf.subarray(runStart, p), offset + runStart);
          runStart = -1;
        }
      } else if (runStart < 0) runStart = p;
    }
    if (runStart >= 0) sink.write(buf.subarray(runStart, end), offset + runStart);
  }
}
