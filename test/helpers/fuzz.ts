// Shared pieces of the fuzz loops: a seedable random source and the edge values that
// header fields get set to.

/** mulberry32: small, seedable, good enough to pick mutations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Values that break naive size and offset arithmetic (0, off-by-one, sign and width limits). */
export const EDGE = [0n, 1n, 2n, 3n, 4n, 7n, 8n, 0x10n, 0xffn, 0x100n, 0xfffen, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n,
  0xfffffffen, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];

/** Writes the low `width` bytes of `v` at `off`, little-endian (the mutation both fuzzers make). */
export function putLE(b: Uint8Array, off: number, width: 1 | 2 | 4 | 8, v: bigint): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (width === 1) b[off] = Number(v & 0xffn);
  else if (width === 2) dv.setUint16(off, Number(v & 0xffffn), true);
  else if (width === 4) dv.setUint32(off, Number(v & 0xffffffffn), true);
  else dv.setBigUint64(off, BigInt.asUintN(64, v), true);
}
