// Where ELF bytes come from. Trust model: the bytes and the length are whatever the file
// holds (untrusted); offsets and sizes asked for usually come straight from its headers, so
// every read is range-checked against the length and capped at MAX_READ before anything is
// allocated. A FileSource reads on demand (pread), so a multi-GB core is never loaded whole;
// Bun.mmap is avoided because truncating a mapped file under us crashes Bun.

import { type BigIntStats, closeSync, fstatSync, openSync, readSync } from "node:fs";
import { ElfFormatError } from "../errors.ts";

/** Largest single read: a hostile size field must not make us allocate gigabytes. */
export const MAX_READ = 256 * 1024 * 1024;

export interface ByteSource {
  readonly length: number;
  /** Exactly n bytes at off, or ElfFormatError naming `what` (default "read"). The result may
   * be a view of shared bytes (BytesSource) or a fresh buffer (FileSource): treat it as read-only. */
  read(off: number, n: number, what?: string): Uint8Array;
}

/** Checks one read against the source length and the cap; shared by both sources. */
export function checkRange(length: number, off: number, n: number, what = "read"): void {
  if (!Number.isSafeInteger(off) || !Number.isSafeInteger(n) || off < 0 || n < 0)
    throw new ElfFormatError(Number.isSafeInteger(off) ? off : 0, `${what}: bad range`, n);
  if (n > MAX_READ) throw new ElfFormatError(off, `${what}: size over the ${MAX_READ >> 20} MiB read cap`, n);
  if (n > length - off) throw new ElfFormatError(off, `${what} out of bounds`, n);
}

/** A 64-bit offset or size from the file as a number, after checking it is at most `limit`. */
export function toIndex(x: bigint, limit: number, what: string, at: number | bigint = x): number {
  if (x < 0n || x > BigInt(limit)) throw new ElfFormatError(at, `bad ${what}`, `0x${x.toString(16)}`);
  return Number(x);
}

/** Bytes already in memory. Reads are subarray views (no copy). */
export class BytesSource implements ByteSource {
  constructor(readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.byteLength;
  }
  read(off: number, n: number, what?: string): Uint8Array {
    checkRange(this.bytes.byteLength, off, n, what);
    return this.bytes.subarray(off, off + n);
  }
}

/** An open file read with positioned reads; the length is fixed when it is opened. */
export class FileSource implements ByteSource {
  #fd: number | undefined;
  private constructor(
    fd: number,
    readonly length: number,
    readonly path: string,
  ) {
    this.#fd = fd;
  }

  static open(path: string): FileSource {
    const fd = openSync(path, "r");
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new ElfFormatError(0, `${path}: not a regular file`);
      return new FileSource(fd, st.size, path);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /**
   * Opens `path` only when the opened file passes `accept` (its fstat, so the check is on what
   * was opened, not on what the path names a moment later): undefined when it does not. Open
   * errors (ENOENT, EACCES) throw as for open().
   */
  static openIf(path: string, accept: (st: BigIntStats) => boolean): FileSource | undefined {
    const fd = openSync(path, "r");
    try {
      const st = fstatSync(fd, { bigint: true });
      if (!st.isFile() || !accept(st) || st.size > BigInt(Number.MAX_SAFE_INTEGER)) {
        closeSync(fd);
        return undefined;
      }
      return new FileSource(fd, Number(st.size), path);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  read(off: number, n: number, what?: string): Uint8Array {
    checkRange(this.length, off, n, what);
    const fd = this.#fd;
    if (fd === undefined) throw new Error(`internal error: read from closed FileSource ${this.path}`);
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const got = readSync(fd, out, done, n - done, off + done);
      // The file shrank since open: what the headers promised is no longer there.
      if (got === 0) throw new ElfFormatError(off + done, `${what ?? "read"}: file truncated while reading`, n - done);
      done += got;
    }
    return out;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
