// Bounded little-endian access to bytes. ByteReader is the one checked primitive every
// parser of untrusted bytes goes through (docs/DESIGN.md "Habits"); ByteWriter fills
// records we produce. Both always build their DataView with byteOffset and byteLength.

import { ElfFormatError } from "../errors.ts";

export class ByteReader {
  readonly #dv: DataView;
  constructor(
    readonly bytes: Uint8Array,
    /** Added to offsets in error messages, when these bytes are a window of a larger file. */
    readonly base = 0,
  ) {
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.byteLength;
  }
  need(off: number, n: number, what: string): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(n) || off < 0 || n < 0 || n > this.bytes.byteLength - off)
      throw new ElfFormatError(this.base + (Number.isSafeInteger(off) ? off : 0), `${what} out of bounds`, n);
  }
  u8(off: number, what: string): number {
    this.need(off, 1, what);
    return this.#dv.getUint8(off);
  }
  u16(off: number, what: string): number {
    this.need(off, 2, what);
    return this.#dv.getUint16(off, true);
  }
  u32(off: number, what: string): number {
    this.need(off, 4, what);
    return this.#dv.getUint32(off, true);
  }
  i32(off: number, what: string): number {
    this.need(off, 4, what);
    return this.#dv.getInt32(off, true);
  }
  u64(off: number, what: string): bigint {
    this.need(off, 8, what);
    return this.#dv.getBigUint64(off, true);
  }
  i64(off: number, what: string): bigint {
    this.need(off, 8, what);
    return this.#dv.getBigInt64(off, true);
  }
  /** A native word of the given size, widened to bigint. */
  word(off: number, size: 4 | 8, what: string): bigint {
    return size === 8 ? this.u64(off, what) : BigInt(this.u32(off, what));
  }
  view(off: number, n: number, what: string): Uint8Array {
    this.need(off, n, what);
    return this.bytes.subarray(off, off + n);
  }
  /** A NUL-terminated string starting at off (to the end of the bytes if no NUL). */
  cstr(off: number, what: string, max = 4096): string {
    this.need(off, 0, what);
    const end = Math.min(this.bytes.byteLength, off + max);
    let i = off;
    while (i < end && this.bytes[i] !== 0) i++;
    return new TextDecoder().decode(this.bytes.subarray(off, i));
  }
}

export class ByteWriter {
  readonly bytes: Uint8Array;
  readonly #dv: DataView;
  constructor(sizeOrBytes: number | Uint8Array) {
    this.bytes = typeof sizeOrBytes === "number" ? new Uint8Array(sizeOrBytes) : sizeOrBytes;
    this.#dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  u8(off: number, v: number): this {
    this.#dv.setUint8(off, v);
    return this;
  }
  u16(off: number, v: number): this {
    this.#dv.setUint16(off, v, true);
    return this;
  }
  u32(off: number, v: number): this {
    this.#dv.setUint32(off, v >>> 0, true);
    return this;
  }
  i32(off: number, v: number): this {
    this.#dv.setInt32(off, v, true);
    return this;
  }
  u64(off: number, v: bigint): this {
    this.#dv.setBigUint64(off, BigInt.asUintN(64, v), true);
    return this;
  }
  word(off: number, size: 4 | 8, v: bigint): this {
    return size === 8 ? this.u64(off, v) : this.u32(off, Number(BigInt.asUintN(32, v)));
  }
  set(off: number, src: Uint8Array): this {
    this.bytes.set(src, off);
    return this;
  }
}

export const utf8 = new TextEncoder();
