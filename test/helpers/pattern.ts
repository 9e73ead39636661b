// The fixtures' memory pattern, computed here independently of the process (formula in
// test/fixtures/pattern.h): word w of a region with tag T is fmix32(seed + T*0x9e3779b9 + w),
// stored little-endian. A page taken from the wrong address, shifted or zero-filled
// differs from its first word on.

import type { FixtureInfo, Region } from "./fixtures.ts";

/** MurmurHash3's 32-bit finaliser, exactly as pattern.h (Math.imul keeps it in uint32). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The `len` bytes a fixture wrote for (seed, tag), starting at word `firstWord`. */
export function expectedPattern(seed: number, tag: number, len: number, firstWord = 0): Uint8Array {
  if (len % 4 !== 0) throw new Error(`pattern length ${len} is not a multiple of 4`);
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const base = (seed + Math.imul(tag, 0x9e3779b9)) >>> 0;
  for (let w = 0; w < len / 4; w++) dv.setUint32(w * 4, fmix32((base + firstWord + w) >>> 0), true);
  return out;
}

/**
 * Offset of the first byte of `bytes` that is not the pattern of `region`, or -1 when all
 * match; a length other than region.len counts as a mismatch at the shorter end.
 * `bytes` must start at the region's first byte. Word by word, no copy: regions reach 1 GiB.
 */
export function patternMismatch(bytes: Uint8Array, seed: number, region: Region): number {
  const n = Math.min(bytes.length, region.len);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const base = (seed + Math.imul(region.tag, 0x9e3779b9)) >>> 0;
  for (let w = 0; w * 4 + 4 <= n; w++) {
    const want = fmix32((base + w) >>> 0);
    if (dv.getUint32(w * 4, true) !== want) {
      for (let b = 0; b < 4; b++) if (bytes[w * 4 + b] !== ((want >>> (8 * b)) & 0xff)) return w * 4 + b;
    }
  }
  return bytes.length === region.len ? -1 : n;
}

/** The region called `name` in a fixture's ready line; throws when it is not there. */
export function region(info: FixtureInfo, name: string): Region {
  const r = info.regions?.find((x) => x.name === name);
  if (!r) throw new Error(`fixture ${info.fixture} (pid ${info.pid}) has no region "${name}"`);
  return r;
}
