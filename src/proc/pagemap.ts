// /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst): one 64-bit entry per virtual
// page; bit 63 "present in RAM", bit 62 "swapped", bits 0-54 the page frame. A present page
// may be the shared zero page (memory read but never written): /proc/kpageflags says so
// (KPF_ZERO_PAGE), where it can be read; PFNs read as 0 without CAP_SYS_ADMIN, and then
// every present page counts as data.

import { closeSync, openSync, readSync } from "node:fs";
import type { Mapping } from "../model/image.ts";
import { PAGE_IS_PRESENT, PAGE_IS_SWAPPED, scanPages } from "../sys/pagemapscan.ts";

const PAGE = 4096n;
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const PFN_MASK = (1n << 55n) - 1n;
const KPF_ZERO_PAGE = 1n << 24n;
/** Bits 63 and 62 (present, swapped) in the high 32-bit word of an entry. */
const PRESENT_OR_SWAPPED_HIGH = 0xc0000000;
/** Above every user address of x86_64 (5-level paging: 2^56). */
const MAX_USER_ADDR = 1n << 57n;

/** Which page frames are the zero page, asked of /proc/kpageflags once per frame. */
class ZeroPages {
  #fd: number | undefined;
  readonly #known = new Map<bigint, boolean>();
  constructor() {
    try {
      this.#fd = openSync("/proc/kpageflags", "r");
    } catch {
      this.#fd = undefined;
    }
  }
  is(pfn: bigint): boolean {
    if (pfn === 0n || this.#fd === undefined) return false;
    let z = this.#known.get(pfn);
    if (z === undefined) {
      const b = Buffer.alloc(8);
      z = readSync(this.#fd, b, 0, 8, Number(pfn * 8n)) === 8 && (b.readBigUInt64LE(0) & KPF_ZERO_PAGE) !== 0n;
      this.#known.set(pfn, z);
    }
    return z;
  }
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
  }
}
/** Entries per read: 8 KiB of pagemap describes 4 MiB of memory. */
const BATCH = 1024;

export interface PageRun {
  start: bigint;
  end: bigint;
}

/**
 * The runs of pages in the `ranges` that hold data (present or swapped out, and not the zero
 * page): the rest has never been written, or was dropped, and reads as zeros.
 */
export function populatedRuns(pid: number, ranges: readonly PageRun[]): PageRun[] {
  const fd = openSync(`/proc/${pid}/pagemap`, "r");
  const zero = new ZeroPages();
  try {
    const runs: PageRun[] = [];
    const buf = Buffer.alloc(BATCH * 8);
    for (const { start, end } of ranges) {
      for (let page = start / PAGE; page < end / PAGE; ) {
        const want = Math.min(BATCH, Number(end / PAGE - page));
        const got = readSync(fd, buf, 0, want * 8, Number(page * 8n)) >> 3;
        if (got === 0) break;
        for (let i = 0; i < got; i++) {
          const e = buf.readBigUInt64LE(i * 8);
          if ((e & (PRESENT | SWAPPED)) === 0n) continue;
          if ((e & PRESENT) !== 0n && zero.is(e & PFN_MASK)) continue;
          const at = (page + BigInt(i)) * PAGE;
          const last = runs[runs.length - 1];
          if (last && last.end === at) last.end = at + PAGE;
          else runs.push({ start: at, end: at + PAGE });
        }
        page += BigInt(got);
      }
    }
    return runs;
  } finally {
    closeSync(fd);
    zero.close();
  }
}

/**
 * Private anonymous memory (the heap, stacks, anonymous and named-anonymous mmaps): the only
 * kind where a page that pagemap shows neither present nor swapped must read as zeros. Shared
 * anonymous memory (shmem) and files keep their contents outside the page tables.
 */
export function isPrivateAnonymous(m: Pick<Mapping, "inode" | "perms" | "path">): boolean {
  if (m.inode !== 0n || m.perms[3] !== "p") return false;
  return m.path === "" || m.path === "[heap]" || m.path.startsWith("[stack") || m.path.startsWith("[anon:");
}

/**
 * Never-populated pages of a process's private anonymous memory, as its pagemap shows them.
 * Reading such a page through process_vm_readv or /proc/PID/mem faults it in (a kernel without
 * the shared zero page makes it a real resident page); the kernel's own core dump skips them
 * (get_dump_page, FOLL_DUMP), and so does the writer, through dataRuns.
 */
export class UnpopulatedPages {
  #fd: number | undefined;
  /** pagemap could not be opened: every page counts as data. */
  #unreadable = false;
  /** This kernel has no PAGEMAP_SCAN: the entries are read. */
  #noScan = false;
  readonly #ranges: readonly PageRun[];
  readonly #buf = Buffer.alloc(BATCH * 8);
  /** The same bytes as u32 words: entry i's high word (present, swapped) is word 2i+1 (little-endian). */
  readonly #words = new Uint32Array(this.#buf.buffer, this.#buf.byteOffset, BATCH * 2);

  /** `anonymous`: the private anonymous mappings (isPrivateAnonymous), in any order. */
  constructor(readonly pid: number, anonymous: readonly PageRun[]) {
    this.#ranges = [...anonymous].sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  /**
   * The parts of [addr, addr+len) that may hold data, in address order: all of it outside
   * private anonymous memory, and inside it the pages present or swapped out (a swap or
   * migration entry sets the swapped bit too). When pagemap cannot be read, all of it.
   */
  dataRuns(addr: bigint, len: number): PageRun[] {
    const end = addr + BigInt(len);
    const out: PageRun[] = [];
    const push = (start: bigint, stop: bigint) => {
      if (stop <= start) return;
      const last = out[out.length - 1];
      if (last && last.end === start) last.end = stop;
      else out.push({ start, end: stop });
    };
    let at = addr;
    for (const r of this.#ranges) {
      if (r.end <= at || r.start >= end) continue;
      const from = r.start > at ? r.start : at;
      const to = r.end < end ? r.end : end;
      push(at, from);
      this.#present(from, to, push);
      at = to;
    }
    push(at, end);
    return out;
  }

  /** Calls `push` for the runs of present or swapped pages in [from, to). */
  #present(from: bigint, to: bigint, push: (start: bigint, stop: bigint) => void): void {
    // Page numbers as plain numbers (user addresses are below 2^57); the flag test on the
    // entry's high word, since this runs once per page of the target.
    if (to > MAX_USER_ADDR || this.#unreadable) return push(from, to);
    if (this.#fd === undefined) {
      try {
        this.#fd = openSync(`/proc/${this.pid}/pagemap`, "r");
      } catch {
        this.#unreadable = true;
        return push(from, to);
      }
    }
    if (!this.#noScan) {
      // The kernel's own walk, ranges instead of entries (sys/pagemapscan.ts).
      const ok = scanPages(this.#fd, (from / PAGE) * PAGE, ((to + PAGE - 1n) / PAGE) * PAGE, PAGE_IS_PRESENT | PAGE_IS_SWAPPED, 0, (s, e) =>
        push(s > from ? s : from, e < to ? e : to));
      if (ok) return;
      this.#noScan = true;
    }
    const last = Number((to + PAGE - 1n) / PAGE);
    let runStart = -1;
    const endRun = (page: number) => {
      if (runStart < 0) return;
      const start = BigInt(runStart) * PAGE;
      const stop = BigInt(page) * PAGE;
      push(start > from ? start : from, stop < to ? stop : to);
      runStart = -1;
    };
    for (let page = Number(from / PAGE); page < last; ) {
      const want = Math.min(BATCH, last - page);
      let got = 0;
      try {
        got = readSync(this.#fd, this.#buf, 0, want * 8, page * 8) >> 3;
      } catch {
        got = 0;
      }
      if (got === 0) {
        // Unreadable from here on: read the rest rather than guess.
        if (runStart < 0) runStart = page;
        break;
      }
      for (let i = 0; i < got; i++) {
        if ((this.#words[2 * i + 1]! & PRESENT_OR_SWAPPED_HIGH) !== 0) {
          if (runStart < 0) runStart = page + i;
        } else endRun(page + i);
      }
      page += got;
    }
    endRun(last);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
