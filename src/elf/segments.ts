// Finding the segment that holds an address, in a list of segments sorted by p_vaddr that do
// not overlap (the PT_LOADs of a core: ours, the kernel's, or one being written).

/** Orders segments by p_vaddr. */
export const byVaddr = (a: { p_vaddr: bigint }, b: { p_vaddr: bigint }): number => (a.p_vaddr < b.p_vaddr ? -1 : a.p_vaddr > b.p_vaddr ? 1 : 0);

/**
 * The segment of `sorted` whose [p_vaddr, p_vaddr + extent(segment)) holds `addr`, by binary
 * search; `extent` is p_memsz for what the process had there, p_filesz for what a file holds.
 */
export function segmentAt<T extends { p_vaddr: bigint }>(sorted: readonly T[], addr: bigint, extent: (s: T) => bigint): T | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = sorted[mid]!;
    if (addr < s.p_vaddr) hi = mid - 1;
    else if (addr >= s.p_vaddr + extent(s)) lo = mid + 1;
    else return s;
  }
  return undefined;
}
