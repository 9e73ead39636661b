// PLT/GOT information (libecfs get_pltgot_info, docs/FORMAT.md 6), without libecfs's fixed
// model (16-byte lazy entries, push at +6, GOT slot 3 + i, 64-bit relocations only). Each
// JUMP_SLOT relocation of .rela.plt / .rel.plt gives its GOT slot; the PLT stubs are decoded
// to find, per slot, the lazy stub an unresolved slot points at (matched by the relocation
// index the stub pushes) and the stub code calls (matched by the GOT slot its jmp reads):
//   x86_64 lazy     .plt:     ff 25 rel32 | 68 idx | e9 PLT0          (slot holds entry+6)
//   x86_64 IBT      .plt:     f3 0f 1e fa | 68 idx | e9 PLT0 | 66 90  (slot holds entry)
//                   .plt.sec: f3 0f 1e fa | [f2] ff 25 rel32 | nop
//   i386            .plt:     ff 25 abs32 or ff a3 disp32(%ebx) | 68 idx*8 | e9 PLT0
//   i386 IBT        .plt / .plt.sec as x86_64, endbr32 (f3 0f 1e fb), ebx = GOT base
// Without lazy stubs (-fno-plt has no JUMP_SLOTs; other linkers with -z now) plt_entry_va is 0.
// Trust model: relocation, PLT and GOT bytes are untrusted; stubs that match no known shape
// are skipped, and relocation tables must be whole records of the declared sh_entsize.

import { ByteReader } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import { STT_GNU_IFUNC } from "../elf/consts.ts";
import { ElfFormatError } from "../errors.ts";
import type { EcfsSymbol } from "./symbols.ts";

/** R_X86_64_JUMP_SLOT and R_386_JMP_SLOT are both 7 (<elf.h>). */
const R_JUMP_SLOT = 7;
const PLT_ENTRY = 16;

export type SlotStatus =
  /** The slot still points at its lazy PLT stub: never called. */
  | "unresolved"
  /** The slot holds the library address the writer resolved the symbol to (for an IFUNC: an
   * address in the same object as its resolver). */
  | "resolved"
  /** Neither: a possible hook (GOT/PLT redirection). */
  | "suspicious"
  /** Nothing to compare with: no GOT bytes, no library address (st_value 0), or an IFUNC
   * whose object is not known. */
  | "unknown";

/** pltgot_info_t, plus what the decoding found. Addresses are runtime addresses. */
export interface PltGotEntry {
  /** Position in the relocation table. */
  relocIndex: number;
  /** got_site: where the GOT slot is (r_offset, rebased for a PIE). */
  gotSite: bigint;
  /** got_entry_va: the value in the slot; undefined when the slot's bytes are not in the file. */
  gotEntryVa: bigint | undefined;
  /** plt_entry_va: the lazy stub an unresolved slot points at; 0 when there is none. */
  pltEntryVa: bigint;
  /** The stub the program calls (.plt.sec entry with IBT, else the .plt entry); 0 when none. */
  pltCallVa: bigint;
  /** shl_entry_va: .dynsym[sym].st_value, the library address the writer resolved. */
  shlEntryVa: bigint;
  /** shl_entry_va is an IFUNC resolver (the slot holds the implementation it returned). */
  ifunc: boolean;
  symIndex: number;
  /** The symbol's name; "" when the index is outside .dynsym. */
  symbol: string;
  status: SlotStatus;
}

export interface PltGotInput {
  cls: ElfClass;
  /** .rela.plt or .rel.plt bytes and header facts. */
  relocs: { bytes: Uint8Array; rela: boolean; entsize: bigint; offset: number };
  dynsym: readonly EcfsSymbol[];
  /** .plt (lazy stubs, or plain stubs) and .plt.sec (IBT call stubs), at their runtime addresses. */
  plt?: { addr: bigint; bytes: Uint8Array };
  pltSec?: { addr: bigint; bytes: Uint8Array };
  /** The GOT base (%ebx in i386 PIC stubs): .got.plt's address, or DT_PLTGOT. */
  gotBase?: bigint;
  /** Link-time address -> runtime address (adds the load base of a PIE). */
  rebase: (addr: bigint) => bigint;
  /** The word at a runtime address, or undefined when it is not in the file. */
  readWord: (addr: bigint) => bigint | undefined;
  /** Whether a runtime address is an IFUNC resolver (from the libraries' symbol tables). */
  isIfunc?: (addr: bigint) => boolean;
  /** Whether two addresses lie in one loaded object; undefined when that is not known. */
  sameObject?: (a: bigint, b: bigint) => boolean | undefined;
}

interface Reloc {
  index: number;
  offset: bigint;
  sym: number;
  type: number;
}

function parseRelocs(input: PltGotInput): Reloc[] {
  const { cls, relocs } = input;
  const w = cls.word;
  const size = relocs.rela ? 3 * w : 2 * w;
  if (relocs.entsize !== BigInt(size)) throw new ElfFormatError(relocs.offset, "bad PLT relocation sh_entsize", relocs.entsize);
  if (relocs.bytes.byteLength % size !== 0)
    throw new ElfFormatError(relocs.offset, "PLT relocation table size not a multiple of its entry size", relocs.bytes.byteLength);
  const r = new ByteReader(relocs.bytes, relocs.offset);
  const out: Reloc[] = [];
  for (let i = 0, off = 0; off < relocs.bytes.byteLength; i++, off += size) {
    const info = r.word(off + w, w, "r_info");
    // ELF64_R_SYM/TYPE: info >> 32, info & 0xffffffff; ELF32_R_SYM/TYPE: info >> 8, info & 0xff.
    const sym = w === 8 ? Number(info >> 32n) : Number(info >> 8n);
    const type = w === 8 ? Number(info & 0xffffffffn) : Number(info & 0xffn);
    out.push({ index: i, offset: r.word(off, w, "r_offset"), sym, type });
  }
  return out;
}

const isEndbr = (b: Uint8Array, o: number): boolean =>
  b[o] === 0xf3 && b[o + 1] === 0x0f && b[o + 2] === 0x1e && (b[o + 3] === 0xfa || b[o + 3] === 0xfb);

/** Lazy stubs of .plt (after PLT0): pushed operand -> the address an unresolved slot holds. */
function lazyStubs(plt: { addr: bigint; bytes: Uint8Array }): Map<number, bigint> {
  const out = new Map<number, bigint>();
  const r = new ByteReader(plt.bytes);
  for (let e = PLT_ENTRY; e + PLT_ENTRY <= plt.bytes.byteLength; e += PLT_ENTRY) {
    const b = plt.bytes.subarray(e, e + PLT_ENTRY);
    const va = plt.addr + BigInt(e);
    if (isEndbr(b, 0) && b[4] === 0x68) out.set(r.u32(e + 5, "push"), va);
    else if (b[0] === 0xff && (b[1] === 0x25 || b[1] === 0xa3) && b[6] === 0x68) out.set(r.u32(e + 7, "push"), va + 6n);
  }
  return out;
}

/** Stubs that jump through a GOT slot: slot address -> stub address. `first` skips PLT0. */
function callStubs(stubs: { addr: bigint; bytes: Uint8Array }, first: number, cls: ElfClass, gotBase: bigint | undefined): Map<bigint, bigint> {
  const out = new Map<bigint, bigint>();
  const r = new ByteReader(stubs.bytes);
  const mask = cls.word === 8 ? (1n << 64n) - 1n : 0xffffffffn;
  for (let e = first; e + PLT_ENTRY <= stubs.bytes.byteLength; e += PLT_ENTRY) {
    const b = stubs.bytes.subarray(e, e + PLT_ENTRY);
    let o = isEndbr(b, 0) ? 4 : 0;
    if (b[o] === 0xf2) o++; // bnd prefix (MPX-era PLTs)
    if (b[o] !== 0xff || o + 6 > PLT_ENTRY) continue;
    const va = stubs.addr + BigInt(e);
    let slot: bigint | undefined;
    if (b[o + 1] === 0x25) {
      // x86_64: jmp *rel32(%rip), relative to the next instruction; i386: jmp *abs32.
      slot = cls.word === 8 ? va + BigInt(o + 6) + BigInt(r.i32(e + o + 2, "jmp")) : BigInt(r.u32(e + o + 2, "jmp"));
    } else if (b[o + 1] === 0xa3 && cls.word === 4 && gotBase !== undefined) {
      slot = gotBase + BigInt(r.i32(e + o + 2, "jmp")); // i386 PIC: jmp *disp32(%ebx)
    }
    if (slot !== undefined) out.set(slot & mask, va);
  }
  return out;
}

function classify(input: PltGotInput, got: bigint | undefined, lazy: bigint, shl: bigint, ifunc: boolean): SlotStatus {
  if (got === undefined) return "unknown";
  if (lazy !== 0n && got === lazy) return "unresolved";
  if (shl !== 0n && got === shl) return "resolved";
  if (shl === 0n) return "unknown";
  // An IFUNC resolver returns one of its own object's implementations (strlen -> __strlen_avx2):
  // a slot elsewhere is redirected. Without the object map there is nothing to compare.
  if (ifunc) {
    const same = got === undefined ? undefined : input.sameObject?.(shl, got);
    return same === undefined ? "unknown" : same ? "resolved" : "suspicious";
  }
  return "suspicious";
}

export function computePltGot(input: PltGotInput): PltGotEntry[] {
  const { cls } = input;
  const relocs = parseRelocs(input).filter((r) => r.type === R_JUMP_SLOT);
  const lazy = input.plt ? lazyStubs(input.plt) : new Map<number, bigint>();
  const calls = new Map<bigint, bigint>();
  if (input.plt) for (const [k, v] of callStubs(input.plt, PLT_ENTRY, cls, input.gotBase)) calls.set(k, v);
  // With IBT the program calls .plt.sec; those entries win over .plt for the same slot.
  if (input.pltSec) for (const [k, v] of callStubs(input.pltSec, 0, cls, input.gotBase)) calls.set(k, v);
  // The pushed operand is the relocation index on x86_64 and its byte offset in .rel.plt on i386.
  const relSize = cls.word === 8 ? 1 : input.relocs.rela ? 3 * cls.word : 2 * cls.word;
  return relocs.map((rel) => {
    const gotSite = input.rebase(rel.offset);
    const sym = input.dynsym[rel.sym];
    const shl = sym?.value ?? 0n;
    const got = input.readWord(gotSite);
    const pltEntryVa = lazy.get(rel.index * relSize) ?? 0n;
    const ifunc = sym?.type === STT_GNU_IFUNC || (shl !== 0n && (input.isIfunc?.(shl) ?? false));
    return {
      relocIndex: rel.index,
      gotSite,
      gotEntryVa: got,
      pltEntryVa,
      pltCallVa: calls.get(gotSite) ?? 0n,
      shlEntryVa: shl,
      ifunc,
      symIndex: rel.sym,
      symbol: sym?.name ?? "",
      status: classify(input, got, pltEntryVa, shl, ifunc),
    };
  });
}
