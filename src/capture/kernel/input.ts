// The kernel's core on stdin (a pipe), read front to back. Everything read is either kept
// (the head: ELF header, program headers, notes, which the raw-core fallback writes again) or
// handed to a sink (the spool of the stream path, or a raw .core file). The pipe stays open
// until close(): with core_pipe_limit > 0 the kernel keeps the dying task and its memory until
// we close our end (DESIGN: "Do not close stdin early").

import { closeSync, readSync } from "node:fs";
import { ElfFormatError } from "../../errors.ts";

const CHUNK = 1 << 20;

export class CoreInput {
  /** Bytes consumed from the stream so far. */
  position = 0;
  readonly #kept: Uint8Array[] = [];
  #keptBytes = 0;
  #eof = false;
  #open = true;
  #buf: Uint8Array | undefined;

  constructor(readonly fd = 0) {}

  get atEof(): boolean {
    return this.#eof;
  }

  /** What was read with readKept, in order: the head of the core. */
  kept(): Uint8Array {
    const out = new Uint8Array(this.#keptBytes);
    let o = 0;
    for (const k of this.#kept) {
      out.set(k, o);
      o += k.byteLength;
    }
    return out;
  }

  /** Fill `dst` as far as the stream goes; returns the bytes read (short only at EOF). */
  #fill(dst: Uint8Array): number {
    let got = 0;
    while (got < dst.byteLength && !this.#eof) {
      const n = readSync(this.fd, dst, got, dst.byteLength - got, null);
      if (n === 0) this.#eof = true;
      got += n;
    }
    this.position += got;
    return got;
  }

  /** Exactly `n` bytes, kept for the raw-core fallback; a stream that ends first is malformed. */
  readKept(n: number, what: string): Uint8Array {
    const out = new Uint8Array(n);
    const got = this.#fill(out);
    this.#kept.push(out.subarray(0, got));
    this.#keptBytes += got;
    if (got < n) throw new ElfFormatError(this.position, `the kernel's core ends inside the ${what}`, got);
    return out;
  }

  /**
   * Pass everything up to `limit` stream bytes (default: to EOF) to `sink` in chunks, each with
   * its stream offset. Returns the bytes passed.
   */
  pump(sink: (chunk: Uint8Array, offset: number) => void, limit = Number.POSITIVE_INFINITY): number {
    this.#buf ??= new Uint8Array(CHUNK);
    let total = 0;
    while (!this.#eof && total < limit) {
      const want = Math.min(this.#buf.byteLength, limit - total);
      const at = this.position;
      const n = readSync(this.fd, this.#buf, 0, want, null);
      if (n === 0) {
        this.#eof = true;
        break;
      }
      this.position += n;
      total += n;
      sink(this.#buf.subarray(0, n), at);
    }
    return total;
  }

  /** Read to EOF and drop it: the kernel finishes its write and the crashing process exits. */
  drain(): number {
    return this.pump(() => {});
  }

  /** Close our end: the kernel stops writing (its write fails) and lets the task go. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed: nothing holds the kernel any more either way.
    }
  }
}
