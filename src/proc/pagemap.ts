// /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst): one 64-bit entry per virtual
// page; bit 63 "present in RAM", bit 62 "swapped", bits 0-54 the page frame. A present page
// may be the shared zero page (memory read but never written): /proc/kpageflags says so
// (KPF_ZERO_PAGE), where it can be read; PFNs read as 0 without CAP_SYS_ADMIN, and then
// every present page counts as data.

import { closeSync, openSync, readSync } from "node:fs";

const PAGE = 4096n;
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const PFN_MASK = (1n << 55n) - 1n;
const KPF_ZERO_PAGE = 1n << 24n;

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
