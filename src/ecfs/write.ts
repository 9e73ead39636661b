// The writer, in two passes that together cover the file once, front to back: first the
// program headers, the notes and each PT_LOAD's memory through one reusable scratch buffer
// (writeMemoryImage, while the memory source is valid: the target stopped, or its fork alive);
// then our sections in file order (.gaps in its place, once the copy has told what it holds),
// the section headers and .shstrtab (writeSections, planned from the copy after the target
// runs again). Every write goes through a cursor that refuses to move backwards, with ONE
// exception: the 64 (i386: 52) byte ELF header, whose e_shoff and e_shnum are known only when
// the sections are; its room at offset 0 is left unwritten and it is written last
// (docs/DESIGN.md "Reserve first, then write once"). All-zero pages are skipped (the file stays
// sparse there), and memory the reader knows was never populated is not even read
// (MemoryReader.dataRuns): reading would fault it in.

import { assert } from "../errors.ts";
import { ByteWriter } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import { encodeEhdr, encodePhdr, encodeShdr } from "../elf/encode.ts";
import type { MemoryReader } from "../model/image.ts";
import { type CoreLayout, type MemoryLayout, PAGE } from "./layout.ts";
import type { CorePlan } from "./plan.ts";

/** Where bytes go: a positioned write (pwrite) and a final length. */
export interface Sink {
  write(bytes: Uint8Array, offset: number): void;
  /** Sets the file length, so trailing holes exist too. */
  finish(length: number): void;
}

/** A sink whose bytes can be read back: the memory image is planned from (ecfs/copied.ts). */
export interface ReadableSink extends Sink {
  read(dst: Uint8Array, offset: number): number;
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
  /** Memory that could not be read (zeros in the file), in address order. */
  gaps: Gap[];
}

export interface WriteOptions {
  /** Scratch buffer size; memory use does not grow beyond it whatever the target's size. */
  chunkSize?: number;
  /** Called between chunks; throw from it to abort (SIGINT, a deadline). */
  checkpoint?: () => Promise<void> | void;
}

/**
 * 1 MiB: measured on these machines (1 GiB of target memory into ext4's page cache), a buffer
 * that stays in the CPU's cache between the read and the write beats larger ones (8 MiB took
 * 10-40% longer) and holds less; README "Benchmark" has the numbers.
 */
export const CHUNK_SIZE = 1 << 20;

/**
 * The sink behind a running position that only moves forward; what is skipped stays a hole.
 * The room of the ELF header ([0, headerSize)) is never written in passing: header() writes it
 * once, after everything else.
 */
export class OrderedSink {
  #pos = 0;
  #done = false;
  constructor(readonly sink: Sink, readonly headerSize: number) {}
  write(bytes: Uint8Array, offset: number): void {
    this.at(offset, "a write");
    assert(offset >= this.headerSize || bytes.byteLength === 0, `a write at ${offset} inside the ELF header's room`);
    if (bytes.byteLength > 0) this.sink.write(bytes, offset);
    this.#pos = offset + bytes.byteLength;
  }
  /** Asserts that `what`, which starts at `offset`, is not behind what was written already. */
  at(offset: number, what: string): void {
    assert(!this.#done, `${what} at ${offset} after the ELF header, which is written last`);
    assert(offset >= this.#pos, `${what} at ${offset} is behind the running position ${this.#pos}`);
  }
  finish(length: number): void {
    this.at(length, "the end of the file");
    this.sink.finish(length);
    this.#pos = length;
  }
  /** The one write behind the running position, and the last one: the ELF header at offset 0. */
  header(bytes: Uint8Array): void {
    assert(!this.#done && bytes.byteLength === this.headerSize, "the ELF header is written once, last, whole");
    this.sink.write(bytes, 0);
    this.#done = true;
  }
}

/** writeMemoryImage then writeSections: a plan whose sections are known before the copy. */
export async function writeCore(plan: CorePlan, layout: CoreLayout, out: Sink, mem: MemoryReader, opts: WriteOptions = {}): Promise<WriteStats> {
  const sink = new OrderedSink(out, plan.cls.ehdrSize);
  const stats = await writeMemoryImage(plan.cls, layout, plan.notes, sink, mem, opts);
  writeSections(plan, layout, sink, stats);
  return stats;
}

/** The program headers, the notes and the PT_LOAD data of `layout` (all but the ELF header). */
export async function writeMemoryImage(cls: ElfClass, layout: MemoryLayout, notes: Uint8Array, sink: OrderedSink, mem: MemoryReader, opts: WriteOptions = {}): Promise<WriteStats> {
  const stats: WriteStats = { bytesOfMemory: 0, zeroPagesSkipped: 0, unpopulatedBytes: 0, gaps: [] };

  // Program headers and notes: one small buffer.
  const head = new ByteWriter(layout.notesOffset + notes.byteLength);
  layout.segments.forEach((s, i) => encodePhdr(cls, s, head, layout.phoff + i * cls.phdrSize));
  head.set(layout.notesOffset, notes);
  sink.write(head.bytes.subarray(cls.ehdrSize), cls.ehdrSize);

  const chunk = Buffer.alloc(Math.max(PAGE, Math.floor((opts.chunkSize ?? CHUNK_SIZE) / PAGE) * PAGE));
  const words = new Int32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength >> 2);
  // Pieces of memory that follow each other in the file are read together: one
  // MemoryReader.readv (one process_vm_readv with an iovec per piece) per scratch buffer,
  // however many small mappings it spans.
  let batch: Piece[] = [];
  let batchLen = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const buf = chunk.subarray(0, batchLen);
    const spans = fillBatch(mem, batch, buf, stats);
    writeSparse(sink, buf, words, spans, batch[0]!.fileOffset, stats);
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
  sink.at(layout.memoryEnd, "the end of the memory image");
  return stats;
}

/** Our sections, the section headers, .shstrtab, the file's length, and last the ELF header. */
export function writeSections(plan: CorePlan, layout: CoreLayout, sink: OrderedSink, stats: WriteStats): void {
  const { cls } = plan;
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
  sink.header(encodeEhdr(cls, {
    e_type: plan.eType, e_entry: plan.entry, e_phoff: layout.phoff, e_shoff: layout.shoff,
    e_phnum: layout.e_phnum, e_shnum: layout.e_shnum, e_shstrndx: layout.e_shstrndx,
  }));
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

const ZERO_PAGE = Buffer.alloc(PAGE);

/** Whether the page of `buf` (`words`: the same bytes as 32-bit words) at byte `at` is all zeros. */
function zeroPage(buf: Buffer, words: Int32Array, at: number): boolean {
  // A page with data almost always shows it in its first word, which costs no call; the rest
  // is compared natively (a loop over 1024 words runs interpreted in a short-lived process).
  // Before, Buffer.equals on a subarray of every page took 25 ms for 4.5 MiB.
  return words[at >> 2] === 0 && ZERO_PAGE.compare(buf, at, at + PAGE) === 0;
}

/** Writes the spans of `buf` (the batch at file offset `offset`) but their all-zero pages, which stay holes. */
function writeSparse(sink: OrderedSink, buf: Buffer, words: Int32Array, spans: readonly Read[], offset: number, stats: WriteStats): void {
  for (const { at, len } of spans) {
    const end = at + len;
    let runStart = -1;
    for (let p = at; p < end; p += PAGE) {
      const zero = p + PAGE <= end && (p & (PAGE - 1)) === 0 && zeroPage(buf, words, p);
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
