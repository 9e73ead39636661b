// The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7+, include/uapi/linux/fs.h): the kernel
// walks the page tables and hands back ranges of pages by category, instead of one 64-bit entry
// per page to be read and looked at (read(2) of pagemap: about 75 ms per GiB of populated
// memory here, a fifth of the copy). Older kernels answer ENOTTY (or EINVAL): callers read the
// entries then, as before.

import { ptr } from "bun:ffi";
import { libc } from "./libc.ts";

/** Page categories (PAGE_IS_*). */
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;

/** _IOWR('f', 16, struct pm_scan_arg): 12 u64 fields, 96 bytes. */
const PAGEMAP_SCAN = (3n << 30n) | (96n << 16n) | (0x66n << 8n) | 16n;
/** struct page_region: start, end, categories (u64 each). */
const REGION = 3;
const REGIONS = 512;

/** Reused between calls: the argument block and the regions the kernel fills. */
const arg = new BigUint64Array(12);
const regions = new BigUint64Array(REGIONS * REGION);

/**
 * Calls `each` with every range of [start, end) whose pages are in any of the categories
 * `anyOf`, in address order, with the categories of `report` that the range has (adjacent pages
 * with the same reported categories come as one range). Returns false, having called nothing,
 * when the kernel has no PAGEMAP_SCAN; throws nothing (a failure midway returns false too, and
 * the caller reads the entries instead).
 */
export function scanPages(fd: number, start: bigint, end: bigint, anyOf: number, report: number, each: (start: bigint, end: bigint, categories: number) => void): boolean {
  const found: [bigint, bigint, number][] = [];
  for (let at = start; at < end; ) {
    arg.fill(0n);
    arg[0] = 96n; // size
    arg[2] = at; // start
    arg[3] = end; // end
    arg[5] = BigInt(ptr(regions)); // vec
    arg[6] = BigInt(REGIONS); // vec_len
    arg[10] = BigInt(anyOf); // category_anyof_mask
    arg[11] = BigInt(report); // return_mask
    const n = libc.ioctl(fd, PAGEMAP_SCAN, ptr(arg));
    if (n < 0) return false;
    for (let i = 0; i < n; i++) found.push([regions[i * REGION]!, regions[i * REGION + 1]!, Number(regions[i * REGION + 2]!)]);
    const walkEnd = arg[4]!;
    if (walkEnd <= at) return false; // no progress: not a walk we understand
    at = walkEnd;
  }
  for (const [s, e, c] of found) each(s, e, c);
  return true;
}
