// A GNU-format tar written in memory (the format GNU tar itself defaults to): ustar headers,
// and ././@LongLink entries for names and link texts over 100 bytes, holding the raw bytes.
// It writes only what it is given; the caller bounds how much that is.

import { assert } from "../errors.ts";
import type { Stats } from "node:fs";

// Header fields: POSIX tar.h ustar layout with the GNU magic "ustar  \0". A name or link text
// over 100 bytes goes in a preceding "././@LongLink" member of type 'L' or 'K' (raw bytes, NUL
// ended): link texts are the target's bytes, maybe not UTF-8, which pax records would need
// to flag (hdrcharset, which GNU tar 1.34 warns about). GNU tar, libarchive and Python read both.

/** The lstat fields a member header takes. */
type TarStat = Pick<Stats, "mode" | "uid" | "gid" | "mtimeMs">;

const BLOCK = 512;
const NAME_MAX = 100;
const GNU_LONGNAME = "L";
const GNU_LONGLINK = "K";
const LONGLINK_NAME = "././@LongLink";
const pad512 = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;
const enc = new TextEncoder();

export class TarBuilder {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(64 * 1024);
  #len = 0;
  members = 0;
  /** `reserve` bytes before the two end blocks are kept back for the last, forced member. */
  constructor(readonly max: number, readonly reserve: number) {}

  directory(name: string, st: TarStat): boolean {
    return this.#member("5", enc.encode(name), undefined, undefined, st, false);
  }
  symlink(name: string, link: Uint8Array, st: TarStat): boolean {
    return this.#member("2", enc.encode(name), link, undefined, st, false);
  }
  file(name: string, data: Uint8Array, st: TarStat, force = false): boolean {
    return this.#member("0", enc.encode(name), undefined, data, st, force);
  }

  /** The archive: members, then two zero blocks (end of archive). */
  finish(): Uint8Array<ArrayBuffer> {
    this.#grow(this.#len + 2 * BLOCK);
    this.#buf.fill(0, this.#len, this.#len + 2 * BLOCK);
    this.#len += 2 * BLOCK;
    return this.#buf.subarray(0, this.#len);
  }

  #grow(need: number): void {
    assert(need <= this.max, `tar of ${need} bytes over its cap ${this.max}`);
    if (need <= this.#buf.byteLength) return;
    let size = this.#buf.byteLength;
    while (size < need) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.max));
    grown.set(this.#buf.subarray(0, this.#len));
    this.#buf = grown;
  }

  #member(type: string, name: Uint8Array, link: Uint8Array | undefined, data: Uint8Array | undefined, st: TarStat, force: boolean): boolean {
    const longName = name.byteLength > NAME_MAX;
    const longLink = link !== undefined && link.byteLength > NAME_MAX;
    const size = data?.byteLength ?? 0;
    const cost = (longName ? BLOCK + pad512(name.byteLength + 1) : 0) +
      (longLink ? BLOCK + pad512(link.byteLength + 1) : 0) + BLOCK + pad512(size);
    const limit = this.max - 2 * BLOCK - (force ? 0 : this.reserve);
    if (this.#len + cost > limit) {
      assert(!force, "forced tar member does not fit its reserve");
      return false;
    }
    this.#grow(this.#len + cost);
    const meta = { mode: 0, uid: 0, gid: 0, mtimeMs: 0 };
    if (longName) this.#long(GNU_LONGNAME, name, meta);
    if (longLink) this.#long(GNU_LONGLINK, link, meta);
    this.#header(type, name.subarray(0, NAME_MAX), link?.subarray(0, NAME_MAX), size, st);
    if (data !== undefined) this.#data(data);
    this.members++;
    return true;
  }

  /** A ././@LongLink member holding `text` + NUL, for the header that follows. */
  #long(type: string, text: Uint8Array, meta: TarStat): void {
    this.#header(type, enc.encode(LONGLINK_NAME), undefined, text.byteLength + 1, meta);
    this.#buf[this.#len + text.byteLength] = 0;
    this.#data(text, text.byteLength + 1);
  }

  #data(bytes: Uint8Array, size = bytes.byteLength): void {
    this.#buf.set(bytes, this.#len);
    const end = this.#len + pad512(size);
    this.#buf.fill(0, this.#len + bytes.byteLength, end);
    this.#len = end;
  }

  /** A header block at the current end. Numbers are octal, or base-256 (GNU) when too big. */
  #header(type: string, name: Uint8Array, link: Uint8Array | undefined, size: number, st: TarStat): void {
    const h = this.#buf.subarray(this.#len, this.#len + BLOCK);
    h.fill(0);
    const num = (off: number, width: number, v: number): void => {
      const n = Math.max(0, Math.trunc(v));
      const s = n.toString(8).padStart(width - 1, "0");
      if (s.length === width - 1) return h.set(enc.encode(s), off);
      assert(n <= Number.MAX_SAFE_INTEGER, `tar field at ${off} cannot hold ${v}`);
      h[off] = 0x80;
      let x = BigInt(n);
      for (let i = off + width - 1; i > off; i--, x >>= 8n) h[i] = Number(x & 0xffn);
    };
    h.set(name, 0);
    num(100, 8, st.mode & 0o7777);
    num(108, 8, st.uid);
    num(116, 8, st.gid);
    num(124, 12, size);
    num(136, 12, st.mtimeMs / 1000);
    h[156] = type.charCodeAt(0);
    if (link !== undefined) h.set(link, 157);
    h.set(enc.encode("ustar  \x00"), 257);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.set(enc.encode(`${sum.toString(8).padStart(6, "0")}\x00 `), 148);
    this.#len += BLOCK;
  }
}
