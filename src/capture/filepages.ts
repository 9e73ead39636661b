// Pages of file-backed mappings read from the mapped file itself (/proc/PID/map_files/START-END:
// the very file, deleted or replaced on disk or not) instead of through the process's page
// tables. Reading through the page tables faults every page the process never touched into it
// (1.4 ms for 1 MiB of libc text, and the target's RSS grows by it: node maps 90 MB of code);
// the file is the page cache that fault would have mapped, read at memory speed (0.15 ms).
//
// Which pages: all of a shared mapping (MAP_SHARED writes go to the file's pages), and the pages
// of a private mapping that /proc/PID/pagemap does not show as the process's own anonymous copy
// (bit 61 "file page or shared anon" clear on a present page, or swapped out): those are read
// from the process, since they hold what it wrote. Only regular files: a device's read(2) is not
// its memory. Past the end of the file a read comes up short and the process is asked instead,
// which cannot read it either: a gap, as before.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Mapping } from "../model/image.ts";

const PAGE = 4096n;
/** pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst), in the high 32-bit word. */
const PRESENT_HIGH = 1 << 31;
const SWAPPED_HIGH = 1 << 30;
const FILE_HIGH = 1 << 29;
const BATCH = 1024;
/**
 * Smaller file mappings are read through the process like the rest: opening the file and its
 * pagemap costs more syscalls than the faults it would save (a locale file's 4 KiB, say).
 */
const FILE_MIN = 256n * 1024n;

/** A run of one mapping's pages: from its file at `offset`, or (no file) from the process. */
export interface PageSource {
  start: bigint;
  end: bigint;
  /** An open descriptor of the mapped file and the file offset of `start`; absent: read the process. */
  file?: { fd: number; offset: bigint };
}

interface FileMapping {
  m: Mapping;
  shared: boolean;
  /** undefined: not opened yet; null: cannot be read from its file. */
  fd?: number | null;
}

export class FilePages {
  readonly #maps: FileMapping[];
  #pagemap: number | null | undefined;
  readonly #buf = Buffer.alloc(BATCH * 8);
  readonly #words = new Uint32Array(this.#buf.buffer, this.#buf.byteOffset, BATCH * 2);

  /** `mappings`: the process's mappings (any order); the file-backed ones of FILE_MIN or more are used. */
  constructor(readonly pid: number, mappings: readonly Mapping[]) {
    this.#maps = mappings
      .filter((m) => m.inode !== 0n && m.path.startsWith("/") && (m.perms[3] === "s" || m.perms[3] === "p") && m.end - m.start >= FILE_MIN)
      .map((m) => ({ m, shared: m.perms[3] === "s" }))
      .sort((a, b) => (a.m.start < b.m.start ? -1 : 1));
  }

  #mapping(addr: bigint): FileMapping | undefined {
    let lo = 0;
    let hi = this.#maps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = this.#maps[mid]!;
      if (addr < f.m.start) hi = mid - 1;
      else if (addr >= f.m.end) lo = mid + 1;
      else return f;
    }
    return undefined;
  }

  /** The first mapping that starts after `addr`, for where the process part of a run ends. */
  #nextStart(addr: bigint): bigint | undefined {
    for (const f of this.#maps) if (f.m.start > addr) return f.m.start;
    return undefined;
  }

  #fd(f: FileMapping): number | null {
    if (f.fd !== undefined) return f.fd;
    const name = `/proc/${this.pid}/map_files/${f.m.start.toString(16)}-${f.m.end.toString(16)}`;
    try {
      const fd = openSync(name, "r");
      if (!fstatSync(fd).isFile()) {
        closeSync(fd);
        f.fd = null;
      } else f.fd = fd;
    } catch {
      f.fd = null; // no map_files (an older kernel, a security module): read the process
    }
    return f.fd;
  }

  /** [addr, addr+len) as runs in address order, each to be read from its file or from the process. */
  split(addr: bigint, len: number): PageSource[] {
    const end = addr + BigInt(len);
    const out: PageSource[] = [];
    const push = (start: bigint, stop: bigint, file?: { fd: number; offset: bigint }) => {
      if (stop <= start) return;
      const last = out[out.length - 1];
      if (last && last.end === start && (last.file === undefined) === (file === undefined) &&
        (!file || (last.file!.fd === file.fd && last.file!.offset + (last.end - last.start) === file.offset))) last.end = stop;
      else out.push(file ? { start, end: stop, file } : { start, end: stop });
    };
    for (let at = addr; at < end; ) {
      const f = this.#mapping(at);
      if (!f) {
        const next = this.#nextStart(at);
        const stop = next !== undefined && next < end ? next : end;
        push(at, stop);
        at = stop;
        continue;
      }
      const stop = f.m.end < end ? f.m.end : end;
      const fd = this.#fd(f);
      if (fd === null) push(at, stop);
      else if (f.shared) push(at, stop, { fd, offset: f.m.offset + (at - f.m.start) });
      else this.#private(f, fd, at, stop, push);
      at = stop;
    }
    return out;
  }

  /** A private mapping's pages: the process's own copies from the process, the rest from the file. */
  #private(f: FileMapping, fd: number, from: bigint, to: bigint, push: (s: bigint, e: bigint, file?: { fd: number; offset: bigint }) => void): void {
    if (this.#pagemap === undefined) {
      try {
        this.#pagemap = openSync(`/proc/${this.pid}/pagemap`, "r");
      } catch {
        this.#pagemap = null;
      }
    }
    if (this.#pagemap === null) return push(from, to);
    // Page numbers as plain numbers (user addresses are below 2^57): this runs once per page.
    const emit = (a: number, b: number, own: boolean) => {
      const s = BigInt(a) * PAGE > from ? BigInt(a) * PAGE : from;
      const e = BigInt(b) * PAGE < to ? BigInt(b) * PAGE : to;
      if (own) push(s, e);
      else push(s, e, { fd, offset: f.m.offset + (s - f.m.start) });
    };
    const first = Number(from / PAGE);
    const last = Number((to + PAGE - 1n) / PAGE);
    let runStart = first;
    let runOwn = false;
    for (let page = first; page < last; ) {
      const want = Math.min(BATCH, last - page);
      let got = 0;
      try {
        got = readSync(this.#pagemap, this.#buf, 0, want * 8, page * 8) >> 3;
      } catch {
        got = 0;
      }
      if (got === 0) {
        // Unreadable from here on: the process for the rest, rather than a guess.
        if (page > runStart) emit(runStart, page, runOwn);
        return emit(page, last, true);
      }
      for (let i = 0; i < got; i++) {
        const high = this.#words[2 * i + 1]!;
        const own = ((high & PRESENT_HIGH) !== 0 && (high & FILE_HIGH) === 0) || (high & SWAPPED_HIGH) !== 0;
        if (own !== runOwn && page + i > runStart) {
          emit(runStart, page + i, runOwn);
          runStart = page + i;
        }
        runOwn = own;
      }
      page += got;
    }
    if (last > runStart) emit(runStart, last, runOwn);
  }

  close(): void {
    for (const f of this.#maps) if (typeof f.fd === "number") closeSync(f.fd);
    for (const f of this.#maps) f.fd = undefined;
    if (typeof this.#pagemap === "number") closeSync(this.#pagemap);
    this.#pagemap = undefined;
  }
}

/** pread until `dst` is full or the file ends; returns the bytes read. */
export function readFile(fd: number, dst: Uint8Array, offset: bigint): number {
  let done = 0;
  try {
    while (done < dst.byteLength) {
      const n = readSync(fd, dst, done, dst.byteLength - done, Number(offset) + done);
      if (n === 0) break;
      done += n;
    }
  } catch {
    // An I/O error reads as the end: the process is asked for the rest.
  }
  return done;
}
