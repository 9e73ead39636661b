// .eh_frame / .eh_frame_hdr decoding for symbol reconstruction (docs/FORMAT.md 5, 6).
// Trust model: the bytes are read from a target's memory and may be hostile. Every read goes
// through one ByteReader and is bounded by its record (Cursor); counts are checked against the
// bytes left before any loop; every loop step consumes at least one byte. A bad record is reported
// and skipped while its length still frames the next one; a bad length ends the walk, reported.
// Sources: LSB Core 5.0 "Exception Frames" (.eh_frame, .eh_frame_hdr, DW_EH_PE_*); libgcc
// unwind-dw2.c extract_cie_info and unwind-pe.h read_encoded_value_with_base; binutils dwarf.c.

import { ByteReader } from "../elf/bytes.ts";
import { ElfFormatError } from "../errors.ts";
import type { FunctionNames } from "./exenames.ts";

/** Pointer encodings (LSB Core "DWARF Exception Header Encoding"): low nibble = format, 0x70 = application, 0x80 = indirect. */
export const DW_EH_PE_absptr = 0x00;
export const DW_EH_PE_uleb128 = 0x01;
export const DW_EH_PE_udata2 = 0x02;
export const DW_EH_PE_udata4 = 0x03;
export const DW_EH_PE_udata8 = 0x04;
export const DW_EH_PE_signed = 0x08;
export const DW_EH_PE_sleb128 = 0x09;
export const DW_EH_PE_sdata2 = 0x0a;
export const DW_EH_PE_sdata4 = 0x0b;
export const DW_EH_PE_sdata8 = 0x0c;
export const DW_EH_PE_pcrel = 0x10;
export const DW_EH_PE_textrel = 0x20;
export const DW_EH_PE_datarel = 0x30;
export const DW_EH_PE_funcrel = 0x40;
export const DW_EH_PE_aligned = 0x50;
export const DW_EH_PE_indirect = 0x80;
export const DW_EH_PE_omit = 0xff;

const FORMAT_NAMES: Record<number, string> = {
  0x00: "absptr", 0x01: "uleb128", 0x02: "udata2", 0x03: "udata4", 0x04: "udata8",
  0x08: "signed", 0x09: "sleb128", 0x0a: "sdata2", 0x0b: "sdata4", 0x0c: "sdata8",
};
const APPLICATION_NAMES: Record<number, string> = {
  0x10: "pcrel", 0x20: "textrel", 0x30: "datarel", 0x40: "funcrel", 0x50: "aligned",
};

/** "indirect|pcrel|sdata4" for 0x9b; unknown parts print as hex. */
export function dwEhPeName(enc: number): string {
  if (enc === DW_EH_PE_omit) return "omit";
  const parts = enc & DW_EH_PE_indirect ? ["indirect"] : [];
  const app = enc & 0x70;
  if (app) parts.push(APPLICATION_NAMES[app] ?? `0x${app.toString(16)}`);
  parts.push(FORMAT_NAMES[enc & 0x0f] ?? `0x${(enc & 0x0f).toString(16)}`);
  return parts.join("|");
}

/** Reads inside [pos, end) of one record; offsets in errors are offsets into the section bytes. */
class Cursor {
  constructor(
    readonly r: ByteReader,
    public pos: number,
    readonly end: number,
  ) {}
  take(n: number, what: string): number {
    if (n > this.end - this.pos) throw new ElfFormatError(this.pos, `${what} truncated`, n);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(what: string): number {
    return this.r.u8(this.take(1, what), what);
  }
  u16(what: string): number {
    return this.r.u16(this.take(2, what), what);
  }
  u32(what: string): number {
    return this.r.u32(this.take(4, what), what);
  }
  i32(what: string): number {
    return this.r.i32(this.take(4, what), what);
  }
  u64(what: string): bigint {
    return this.r.u64(this.take(8, what), what);
  }
  i64(what: string): bigint {
    return this.r.i64(this.take(8, what), what);
  }
  /** LEB128 as 64 bits. Padding bytes past bit 63 are allowed only when they carry no value. */
  leb(signed: boolean, what: string): bigint {
    let result = 0n;
    let shift = 0;
    let byte = 0x80;
    while (byte & 0x80) {
      byte = this.u8(what);
      const bits = byte & 0x7f;
      if (shift < 64) result |= BigInt(bits) << BigInt(shift);
      else if (bits !== 0 && !(signed && bits === 0x7f)) throw new ElfFormatError(this.pos - 1, `${what} overflows 64 bits`);
      shift += 7;
    }
    if (signed && byte & 0x40 && shift < 64) result -= 1n << BigInt(shift);
    return signed ? BigInt.asIntN(64, result) : BigInt.asUintN(64, result);
  }
  /** A NUL-terminated string of at most `max` bytes that must end inside the record. */
  cstr(max: number, what: string): string {
    const bytes = this.r.bytes;
    const stop = Math.min(this.end, this.pos + max + 1);
    let i = this.pos;
    while (i < stop && bytes[i] !== 0) i++;
    if (i >= stop) throw new ElfFormatError(this.pos, `${what} unterminated`, `max ${max}`);
    const s = String.fromCharCode(...bytes.subarray(this.pos, i));
    this.pos = i + 1;
    return s;
  }
}

/** Where encoded pointers are relative to (libgcc base_from_object / base_from_cb_data). */
export interface PointerBases {
  /** DW_EH_PE_datarel base in .eh_frame (libgcc: the GOT on i386). .eh_frame_hdr uses its own address. */
  dataRel?: bigint;
  /** DW_EH_PE_textrel base (unused by GCC on x86). */
  textRel?: bigint;
  /** Reads one target word at addr for DW_EH_PE_indirect; undefined when unreadable. */
  readIndirect?: (addr: bigint) => bigint | undefined;
}

interface PointerEnv extends PointerBases {
  /** Runtime address of bytes[0], for pcrel and aligned. */
  addr: bigint;
  ptrSize: 4 | 8;
}

const FORMATS: Record<number, (c: Cursor, ptrSize: 4 | 8, what: string) => bigint> = {
  [DW_EH_PE_absptr]: (c, p, w) => (p === 8 ? c.u64(w) : BigInt(c.u32(w))),
  [DW_EH_PE_uleb128]: (c, _p, w) => c.leb(false, w),
  [DW_EH_PE_udata2]: (c, _p, w) => BigInt(c.u16(w)),
  [DW_EH_PE_udata4]: (c, _p, w) => BigInt(c.u32(w)),
  [DW_EH_PE_udata8]: (c, _p, w) => c.u64(w),
  [DW_EH_PE_signed]: (c, p, w) => (p === 8 ? c.i64(w) : BigInt(c.i32(w))),
  [DW_EH_PE_sleb128]: (c, _p, w) => c.leb(true, w),
  [DW_EH_PE_sdata2]: (c, _p, w) => BigInt((c.u16(w) << 16) >> 16),
  [DW_EH_PE_sdata4]: (c, _p, w) => BigInt(c.i32(w)),
  [DW_EH_PE_sdata8]: (c, _p, w) => c.i64(w),
};
/** Smallest encoded size of each format, to bound a table by the bytes left before decoding it. */
function minFormatSize(enc: number, ptrSize: 4 | 8): number {
  const f = enc & 0x0f;
  if (f === DW_EH_PE_absptr || f === DW_EH_PE_signed) return ptrSize;
  if (f === DW_EH_PE_uleb128 || f === DW_EH_PE_sleb128) return 1;
  return f === DW_EH_PE_udata2 || f === DW_EH_PE_sdata2 ? 2 : f === DW_EH_PE_udata8 || f === DW_EH_PE_sdata8 ? 8 : 4;
}

/** read_encoded_value_with_base: format, then application base, then the indirect load. */
function readPointer(c: Cursor, enc: number, env: PointerEnv, what: string): bigint {
  const at = c.pos;
  const read = FORMATS[enc & 0x0f];
  if (enc === DW_EH_PE_omit || read === undefined) throw new ElfFormatError(at, `${what} has bad encoding`, dwEhPeName(enc));
  const app = enc & 0x70;
  const bits = env.ptrSize * 8;
  let base = 0n;
  if (app === DW_EH_PE_pcrel) base = env.addr + BigInt(at);
  else if (app === DW_EH_PE_datarel || app === DW_EH_PE_textrel) {
    const b = app === DW_EH_PE_datarel ? env.dataRel : env.textRel;
    if (b === undefined) throw new ElfFormatError(at, `${what} needs a base`, dwEhPeName(enc));
    base = b;
  } else if (app === DW_EH_PE_aligned) {
    // The word sits at the next ptrSize-aligned runtime address; only absptr makes sense there.
    if ((enc & 0x0f) !== DW_EH_PE_absptr) throw new ElfFormatError(at, `${what} has bad encoding`, dwEhPeName(enc));
    const mis = Number(BigInt.asUintN(bits, env.addr + BigInt(at)) % BigInt(env.ptrSize));
    c.take((env.ptrSize - mis) % env.ptrSize, what);
  } else if (app !== DW_EH_PE_absptr) throw new ElfFormatError(at, `${what} has no base for`, dwEhPeName(enc));
  let value = BigInt.asUintN(bits, read(c, env.ptrSize, what) + base);
  if (enc & DW_EH_PE_indirect) {
    const loaded = env.readIndirect?.(value);
    if (loaded === undefined) throw new ElfFormatError(at, `${what} indirect pointer unreadable`, `0x${value.toString(16)}`);
    value = BigInt.asUintN(bits, loaded);
  }
  return value;
}

/** The parts of a CIE an FDE needs. */
interface Cie {
  fdeEncoding: number;
  /** 'z': FDEs carry an augmentation data length. */
  hasAugData: boolean;
}

const CIE_VERSIONS = new Set([1, 3, 4]);
/** Real strings are at most "eh" + "zPLRSBG"; a longer one is garbage, not a future extension. */
const MAX_AUGMENTATION = 16;

function parseCie(c: Cursor, wordSize: 4 | 8, env: PointerEnv): Cie {
  const version = c.u8("CIE version");
  if (!CIE_VERSIONS.has(version)) throw new ElfFormatError(c.pos - 1, "unsupported CIE version", version);
  let aug = c.cstr(MAX_AUGMENTATION, "CIE augmentation");
  // g++ 2.x "eh": a word (the EH data pointer) follows the string; libgcc accepts more letters after it.
  if (aug.startsWith("eh")) {
    c.take(wordSize, "CIE eh pointer");
    aug = aug.slice(2);
  }
  const cie: Cie = { fdeEncoding: DW_EH_PE_absptr, hasAugData: false };
  // Version 4 adds address_size and segment_selector_size; like libgcc, accept only ours and 0.
  if (version >= 4) {
    const addressSize = c.u8("CIE address_size");
    if (addressSize !== wordSize) throw new ElfFormatError(c.pos - 1, "unsupported CIE address_size", addressSize);
    const segmentSize = c.u8("CIE segment_selector_size");
    if (segmentSize !== 0) throw new ElfFormatError(c.pos - 1, "unsupported CIE segment_selector_size", segmentSize);
  }
  c.leb(false, "CIE code_alignment_factor");
  c.leb(true, "CIE data_alignment_factor");
  if (version === 1) c.u8("CIE return_address_register");
  else c.leb(false, "CIE return_address_register");
  if (!aug.startsWith("z")) {
    if (aug !== "") throw new ElfFormatError(c.pos, "unknown CIE augmentation", JSON.stringify(aug));
    return cie;
  }
  cie.hasAugData = true;
  const len = c.leb(false, "CIE augmentation length");
  if (len > BigInt(c.end - c.pos)) throw new ElfFormatError(c.pos, "CIE augmentation data past end of record", len);
  const data = new Cursor(c.r, c.pos, c.pos + Number(len));
  // Unknown letters stop the scan; 'z' says where the data ends (extract_cie_info).
  for (const letter of aug.slice(1)) {
    if (letter === "R") cie.fdeEncoding = data.u8("CIE FDE encoding");
    else if (letter === "L") data.u8("CIE LSDA encoding");
    else if (letter === "P") {
      // Only its size matters here, so no base and no indirect load.
      const enc = data.u8("CIE personality encoding");
      readPointer(data, enc & 0x7f, { addr: env.addr, ptrSize: wordSize, dataRel: 0n, textRel: 0n }, "CIE personality");
    } else if (letter !== "S" && letter !== "B" && letter !== "G") break;
  }
  if (FORMATS[cie.fdeEncoding & 0x0f] === undefined || cie.fdeEncoding === DW_EH_PE_omit)
    throw new ElfFormatError(c.pos, "bad CIE FDE encoding", dwEhPeName(cie.fdeEncoding));
  return cie;
}

export interface Fde {
  /** Offset of the FDE's length field in the .eh_frame bytes (readelf's first column). */
  offset: number;
  /** Offset of its CIE (readelf's cie=). */
  cieOffset: number;
  /** Initial location: the function's runtime address. */
  start: bigint;
  /** Address range, read with the format bits of the CIE's 'R' encoding only. */
  size: bigint;
}

export interface EhFrameOptions extends PointerBases {
  /** Stop (reported) after this many FDEs. The input already bounds it: an FDE takes >= 10 bytes. */
  maxEntries?: number;
  /** Each FDE is handed here as it is read, and `fdes` stays empty: no array of them is held. */
  onFde?: (fde: Fde) => void;
}

export interface EhFrame {
  fdes: Fde[];
  /** One per skipped record, or the one that ended the walk. Offsets are into the .eh_frame bytes. */
  errors: ElfFormatError[];
  /** Where the walk stopped: just past the zero terminator, the end of the bytes, or a bad length. */
  end: number;
  /** A zero length word was found (libgcc stops there too, so bytes past a real section are ignored). */
  terminated: boolean;
}

/**
 * Walk CIEs and FDEs. `sectionAddr` is the runtime address of bytes[0] (pcrel bases).
 * 64-bit records (length 0xffffffff) take an 8-byte CIE id/pointer, as libunwind (Gfde.c) and
 * binutils read them (LSB and LLVM say 4; no producer emits them; libgcc has no such case).
 * A CIE pointer must land on a CIE that precedes the FDE (LSB: an unsigned offset back).
 */
export function parseEhFrame(bytes: Uint8Array, sectionAddr: bigint, wordSize: 4 | 8, opts: EhFrameOptions = {}): EhFrame {
  const r = new ByteReader(bytes);
  const env: PointerEnv = { ...opts, addr: sectionAddr, ptrSize: wordSize };
  const maxEntries = opts.maxEntries ?? Number.MAX_SAFE_INTEGER;
  const out: EhFrame = { fdes: [], errors: [], end: 0, terminated: false };
  const cies = new Map<number, Cie | ElfFormatError>();
  const take = opts.onFde ?? ((f: Fde) => void out.fdes.push(f));
  let count = 0;
  let off = 0;
  while (off < r.length) {
    let rec: Framed | null;
    try {
      rec = frameRecord(r, off);
    } catch (e) {
      if (!(e instanceof ElfFormatError)) throw e;
      out.errors.push(e);
      break;
    }
    if (rec === null) {
      off += 4;
      out.terminated = true;
      break;
    }
    const { body, idSize } = rec;
    let isCie = false;
    try {
      const idAt = body.pos;
      const id = idSize === 8 ? body.u64("CIE id") : BigInt(body.u32("CIE id"));
      isCie = id === 0n;
      if (isCie) cies.set(off, parseCie(body, wordSize, env));
      else if (count >= maxEntries) {
        out.errors.push(new ElfFormatError(off, "too many FDEs", maxEntries));
        break;
      } else {
        take(parseFde(body, off, idAt, id, cies, env));
        count++;
      }
    } catch (e) {
      if (!(e instanceof ElfFormatError)) throw e;
      if (isCie) cies.set(off, e);
      out.errors.push(e);
    }
    off = body.end;
  }
  out.end = off;
  return out;
}

interface Framed {
  /** From the CIE id / CIE pointer to the end of the record. */
  body: Cursor;
  idSize: 4 | 8;
}

/** The length word(s) at `off`: null for the zero terminator; throws when they cannot frame a record. */
function frameRecord(r: ByteReader, off: number): Framed | null {
  const c = new Cursor(r, off, r.length);
  const len32 = c.u32("record length");
  if (len32 === 0) return null;
  let len = BigInt(len32);
  if (len32 === 0xffffffff) len = c.u64("record extended length");
  else if (len32 >= 0xfffffff0) throw new ElfFormatError(off, "reserved record length", `0x${len32.toString(16)}`);
  if (len > BigInt(r.length - c.pos)) throw new ElfFormatError(off, "record length past end of section", `0x${len.toString(16)}`);
  return { body: new Cursor(r, c.pos, c.pos + Number(len)), idSize: len32 === 0xffffffff ? 8 : 4 };
}

function parseFde(c: Cursor, offset: number, idAt: number, id: bigint, cies: Map<number, Cie | ElfFormatError>, env: PointerEnv): Fde {
  const cieOffset = id <= BigInt(idAt) ? idAt - Number(id) : -1;
  const cie = cies.get(cieOffset);
  if (cie === undefined) throw new ElfFormatError(idAt, "FDE CIE pointer does not point to a CIE", `0x${id.toString(16)}`);
  if (cie instanceof ElfFormatError) throw new ElfFormatError(idAt, "FDE's CIE is malformed", `0x${cieOffset.toString(16)}`);
  const start = readPointer(c, cie.fdeEncoding, env, "FDE initial location");
  const size = readPointer(c, cie.fdeEncoding & 0x0f, env, "FDE address range");
  if (cie.hasAugData) {
    const len = c.leb(false, "FDE augmentation length");
    if (len > BigInt(c.end - c.pos)) throw new ElfFormatError(c.pos, "FDE augmentation data past end of record", len);
  }
  return { offset, cieOffset, start, size };
}

export interface EhFrameHdr {
  /** The true start of .eh_frame (docs/FORMAT.md 5: not always right after the header). */
  ehFramePtr: bigint;
  fdeCount?: number;
  /** The binary-search table: initial location and FDE address, both absolute. */
  table?: { start: bigint; fde: bigint }[];
}

/**
 * Decode .eh_frame_hdr (LSB "The .eh_frame_hdr section"). `hdrAddr` is its runtime address:
 * the datarel base of every field and the pcrel base of eh_frame_ptr. Throws ElfFormatError.
 */
export function decodeEhFrameHdr(bytes: Uint8Array, hdrAddr: bigint, wordSize: 4 | 8): EhFrameHdr {
  const c = new Cursor(new ByteReader(bytes), 0, bytes.byteLength);
  const env: PointerEnv = { addr: hdrAddr, ptrSize: wordSize, dataRel: hdrAddr };
  const version = c.u8("eh_frame_hdr version");
  if (version !== 1) throw new ElfFormatError(0, "unsupported eh_frame_hdr version", version);
  const ptrEnc = c.u8("eh_frame_ptr_enc");
  const countEnc = c.u8("fde_count_enc");
  const tableEnc = c.u8("table_enc");
  const hdr: EhFrameHdr = { ehFramePtr: readPointer(c, ptrEnc, env, "eh_frame_ptr") };
  if (countEnc === DW_EH_PE_omit) return hdr;
  const at = c.pos;
  const count = readPointer(c, countEnc, env, "fde_count");
  if (count > 0xffffffffn) throw new ElfFormatError(at, "eh_frame_hdr fde_count too large", count);
  hdr.fdeCount = Number(count);
  if (tableEnc === DW_EH_PE_omit) return hdr;
  if (count * BigInt(2 * minFormatSize(tableEnc, wordSize)) > BigInt(c.end - c.pos))
    throw new ElfFormatError(at, "eh_frame_hdr table past end", count);
  hdr.table = [];
  for (let i = 0; i < hdr.fdeCount; i++) {
    const start = readPointer(c, tableEnc, env, "eh_frame_hdr table initial location");
    hdr.table.push({ start, fde: readPointer(c, tableEnc, env, "eh_frame_hdr table FDE address") });
  }
  return hdr;
}

export interface FdeSymbol {
  name: string;
  value: bigint;
  size: bigint;
}

/**
 * One FUNC symbol per FDE, in .eh_frame order (the order given), named from `names` when it has
 * the start address, else sub_<lowercase hex> (docs/FORMAT.md 6). The C tool went through
 * libdwarf, whose FDE list is qsorted by initial location, so its symtab is in address order.
 */
export function symbolsFromFdes(fdes: readonly Fde[], names?: ReadonlyMap<bigint, string> | FunctionNames): FdeSymbol[] {
  const starts = fdes.map((f) => f.start);
  const found = names === undefined ? [] : "lookup" in names ? names.lookup(starts) : starts.map((a) => names.get(a));
  return fdes.map((f, i) => ({ name: found[i] || `sub_${f.start.toString(16)}`, value: f.start, size: f.size }));
}
