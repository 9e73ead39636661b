// ELF notes and the Linux core-note payloads. Trust model: note bytes come from a core or an
// ECFS file we did not write (untrusted). The iterator follows the `object` crate's rules
// (src/read/elf/note.rs): alignment 4 or 8 (<= 4 is 4), n_namesz/n_descsz checked against the
// remaining bytes, one trailing NUL stripped from the name, a tail shorter than a note header
// ends iteration. Decoders check the descriptor size against the kernel struct before reading.

import { ElfFormatError } from "../errors.ts";
import { ByteReader } from "./bytes.ts";

const NHDR_SIZE = 12; // Elf32_Nhdr and Elf64_Nhdr are both three u32
const decoder = new TextDecoder();

export interface Note {
  /** n_name without its trailing NUL ("CORE", "LINUX", "GNU"). */
  name: string;
  /** n_type: NT_* (meaning depends on name). */
  type: number;
  /** The descriptor, a view into the caller's bytes. */
  desc: Uint8Array;
  /** Offset of the note header: within `bytes`, plus `base`. */
  offset: number;
}

/** Note alignment from p_align / sh_addralign: 0..4 -> 4, 8 -> 8, anything else is malformed. */
export function noteAlign(align: number | bigint, offset = 0): 4 | 8 {
  const a = BigInt(align);
  if (a <= 4n) return 4;
  if (a === 8n) return 8;
  throw new ElfFormatError(offset, "bad note alignment", align);
}

function alignUp(x: number, a: 4 | 8): number {
  return Math.ceil(x / a) * a;
}

/** Walks the notes in `bytes` (a PT_NOTE segment or SHT_NOTE section); `base` is its file offset. */
export function* iterNotes(bytes: Uint8Array, align: number | bigint, base = 0): Generator<Note, void, undefined> {
  const a = noteAlign(align, base);
  const r = new ByteReader(bytes, base);
  const len = bytes.byteLength;
  let off = 0;
  while (len - off >= NHDR_SIZE) {
    const n_namesz = r.u32(off, "note n_namesz");
    const n_descsz = r.u32(off + 4, "note n_descsz");
    const n_type = r.u32(off + 8, "note n_type");
    const nameOff = off + NHDR_SIZE;
    if (n_namesz > len - nameOff) throw new ElfFormatError(base + off, "bad note n_namesz", n_namesz);
    const descOff = alignUp(nameOff + n_namesz, a);
    if (descOff > len || n_descsz > len - descOff)
      throw new ElfFormatError(base + off, "bad note n_descsz", n_descsz);
    let nameEnd = nameOff + n_namesz;
    if (n_namesz > 0 && bytes[nameEnd - 1] === 0) nameEnd--;
    yield {
      name: decoder.decode(bytes.subarray(nameOff, nameEnd)),
      type: n_type,
      desc: bytes.subarray(descOff, descOff + n_descsz),
      offset: base + off,
    };
    off = alignUp(descOff + n_descsz, a); // past the end means done, like object's skip()
  }
}

// ---- NT_FILE (kernel fs/binfmt_elf.c fill_files_note) ----

export interface NtFileEntry {
  start: bigint;
  end: bigint;
  /** File offset of the mapping in units of page_size (gdb writes page_size 1 for i386). */
  fileOfs: bigint;
  path: string;
}
export interface NtFile {
  count: number;
  page_size: bigint;
  entries: NtFileEntry[];
}

/** NT_FILE: count, page_size, count x {start, end, file_ofs}, then count NUL-terminated paths. */
export function parseNtFile(desc: Uint8Array, wordSize: 4 | 8, base = 0): NtFile {
  const r = new ByteReader(desc, base);
  const w = wordSize;
  const rawCount = r.word(0, w, "NT_FILE count");
  const page_size = r.word(w, w, "NT_FILE page_size");
  // Each entry needs three words plus at least the NUL of its path.
  const maxCount = Math.floor((desc.byteLength - 2 * w) / (3 * w + 1));
  if (rawCount > BigInt(maxCount)) throw new ElfFormatError(base, "bad NT_FILE count", rawCount);
  const count = Number(rawCount);
  const entries: NtFileEntry[] = [];
  let strOff = 2 * w + count * 3 * w;
  for (let i = 0; i < count; i++) {
    const e = 2 * w + i * 3 * w;
    const nul = desc.indexOf(0, strOff);
    if (nul < 0) throw new ElfFormatError(base + strOff, "unterminated NT_FILE path", i);
    entries.push({
      start: r.word(e, w, "NT_FILE start"),
      end: r.word(e + w, w, "NT_FILE end"),
      fileOfs: r.word(e + 2 * w, w, "NT_FILE file_ofs"),
      path: decoder.decode(desc.subarray(strOff, nul)),
    });
    strOff = nul + 1;
  }
  return { count, page_size, entries };
}

// NT_PRSTATUS and NT_PRPSINFO: corerecords.ts.

// ---- NT_AUXV: Elf64_auxv_t / Elf32_auxv_t pairs up to AT_NULL ----

export interface AuxvEntry {
  a_type: bigint;
  a_val: bigint;
}

/** Entries before AT_NULL (or all whole pairs, if the vector has no terminator). */
export function parseAuxv(desc: Uint8Array, wordSize: 4 | 8, base = 0): AuxvEntry[] {
  const r = new ByteReader(desc, base);
  const out: AuxvEntry[] = [];
  const n = Math.floor(desc.byteLength / (2 * wordSize));
  for (let i = 0; i < n; i++) {
    const a_type = r.word(i * 2 * wordSize, wordSize, "auxv a_type");
    if (a_type === 0n) break;
    out.push({ a_type, a_val: r.word(i * 2 * wordSize + wordSize, wordSize, "auxv a_val") });
  }
  return out;
}
