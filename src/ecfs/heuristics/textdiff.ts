// Patched code: every executable file mapping of every link-map object compared, byte for byte,
// with the file it maps (MappedFiles: device and inode checked), at the mapping's file offset.
// Bytes past the end of the file read as zeros in memory, so they are compared with zeros. An
// object with text relocations (DT_TEXTREL) has them applied to the file's bytes first, as
// ld.so applies them (RELATIVE, absolute and PC-relative ones with the resolver's symbol
// values); a text relocation whose value cannot be computed leaves its bytes out of the
// comparison. Each modified range becomes a finding with the symbol it falls in.

import { DF_TEXTREL, DT_FLAGS, DT_TEXTREL } from "../../elf/consts.ts";
import type { FileSource } from "../../elf/source.ts";
import { ElfFormatError } from "../../errors.ts";
import type { Mapping } from "../../model/image.ts";
import { dynValue, symbolVersion } from "../dynlink/dynsyms.ts";
import { rethrowIfGone } from "../../errors.ts";
import type { HeuristicsContext } from "./context.ts";
import type { Finding } from "./findings.ts";
import { fileKey } from "./files.ts";
import { belongsTo, type ElfImage } from "./images.ts";
import type { LoadedImage } from "./objects.ts";
import { R_ABS, R_GLOB_DAT, R_JUMP_SLOT, R_PC32, R_RELATIVE, type Reloc, readRelocations } from "./relocs.ts";
import { hex } from "./symbolize.ts";

const CHUNK = 1 << 20;
/** Bytes of code compared in one snapshot at most (node's text is about 60 MiB). */
export const MAX_COMPARED = 2 * 1024 * 1024 * 1024;
/** Unchanged bytes that still join two modified ranges into one. */
const JOIN_GAP = 8;
/** Bytes of evidence shown (expected, found). */
const EVIDENCE = 16;

interface TextReloc {
  at: bigint;
  size: number;
  /** The value ld.so wrote, or undefined when it cannot be computed here (the bytes are not compared). */
  value: (fileWord: bigint) => bigint | undefined;
}

const bytesHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

function hasTextrel(l: LoadedImage): boolean {
  return dynValue(l.obj.dynamic, DT_TEXTREL) !== undefined || ((dynValue(l.obj.dynamic, DT_FLAGS) ?? 0n) & BigInt(DF_TEXTREL)) !== 0n;
}

/** The text relocations of an object, sorted, with how to compute what each wrote. */
function textRelocs(ctx: HeuristicsContext, l: LoadedImage, code: Mapping[]): TextReloc[] {
  const { cls, link } = ctx;
  const w = cls.word;
  const bits = w * 8;
  const inCode = (r: Reloc) => code.some((m) => r.at >= m.start && r.at < m.end);
  const symValue = (r: Reloc): bigint | undefined => {
    const t = link?.tables(l.obj);
    const sym = t?.syms[r.sym];
    if (!link || !t || !sym) return undefined;
    if (r.sym === 0) return 0n;
    const v = symbolVersion(t, r.sym);
    const def = link.resolve(sym.name, v && { name: v.name, hidden: v.hidden }, l.obj, { newest: false });
    return def && !def.ifunc && !def.tls ? def.address : undefined;
  };
  const out: TextReloc[] = [];
  for (const r of readRelocations(ctx.rm, l.obj, { relative: true }).filter(inCode)) {
    const addend = (fileWord: bigint) => r.addend ?? fileWord;
    if (r.type === R_RELATIVE) out.push({ at: r.at, size: w, value: (fw) => BigInt.asUintN(bits, l.obj.base + addend(fw)) });
    else if (r.type === R_ABS || r.type === R_GLOB_DAT || r.type === R_JUMP_SLOT) {
      const s = symValue(r);
      const a = r.type === R_ABS;
      out.push({ at: r.at, size: w, value: (fw) => (s === undefined ? undefined : BigInt.asUintN(bits, s + (a ? addend(fw) : 0n))) });
    } else if (r.type === R_PC32) {
      const s = symValue(r);
      out.push({ at: r.at, size: 4, value: (fw) => (s === undefined ? undefined : BigInt.asUintN(32, s + (r.addend ?? BigInt.asIntN(32, fw)) - r.at)) });
    } else out.push({ at: r.at, size: w, value: () => undefined });
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

function readLE(b: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return v;
}

function writeLE(b: Uint8Array, off: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) b[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}

/** Modified ranges [start, end) of one chunk, offsets into it. */
function diffRanges(want: Uint8Array, got: Uint8Array): [number, number][] {
  if (Buffer.from(want.buffer, want.byteOffset, want.byteLength).equals(Buffer.from(got.buffer, got.byteOffset, got.byteLength))) return [];
  const out: [number, number][] = [];
  for (let i = 0; i < got.byteLength; i++) {
    if (want[i] === got[i]) continue;
    const last = out[out.length - 1];
    if (last && i - last[1] <= JOIN_GAP) last[1] = i + 1;
    else out.push([i, i + 1]);
  }
  return out;
}

/** What the modified bytes are, when they are a well-known shape. */
function shape(ctx: HeuristicsContext, at: bigint, found: Uint8Array): string {
  if (found[0] === 0xcc) return ": an int3 breakpoint";
  if (found[0] === 0xe9 || found[0] === 0xe8) {
    const rel = BigInt(new DataView(found.buffer, found.byteOffset, found.byteLength).getInt32(1, true));
    const target = BigInt.asUintN(ctx.cls.word * 8, at + 5n + rel);
    return `: a ${found[0] === 0xe9 ? "jmp" : "call"} to ${ctx.names.describe(target)} (an inline hook or trampoline)`;
  }
  return "";
}

class Comparer {
  compared = 0;
  constructor(readonly ctx: HeuristicsContext) {}

  /** Findings for one executable mapping of `l`, compared with `src` at the mapping's offset. */
  mapping(l: LoadedImage, m: Mapping, src: FileSource, relocs: TextReloc[]): Finding[] {
    const { ctx } = this;
    const out: Finding[] = [];
    let open: { start: bigint; want: number[]; got: number[] } | undefined;
    const flush = () => {
      if (!open) return;
      const size = BigInt(open.got.length);
      const got = Uint8Array.from(open.got.slice(0, EVIDENCE));
      const sym = ctx.names.symbolAt(open.start);
      out.push({
        type: "patched-code", address: open.start, size, object: l.obj.name, ...(sym !== undefined && { symbol: sym }),
        expected: bytesHex(Uint8Array.from(open.want.slice(0, EVIDENCE))), found: bytesHex(got),
        detail: `${size} byte(s) of ${l.obj.name}'s code at ${sym ?? hex(open.start)} differ from its file${shape(ctx, open.start, got)}`,
      });
      open = undefined;
    };
    let ri = 0;
    for (let at = m.start; at < m.end; ) {
      let end = at + BigInt(CHUNK) < m.end ? at + BigInt(CHUNK) : m.end;
      // A relocation is applied whole: a chunk never ends inside one.
      for (const r of relocs) if (r.at < end && r.at + BigInt(r.size) > end && r.at > at) end = r.at;
      const n = Number(end - at);
      if (this.compared + n > MAX_COMPARED) {
        ctx.problems.push(`patched code: stopped after ${MAX_COMPARED} bytes compared; ${l.obj.name} from 0x${at.toString(16)} on not checked`);
        break;
      }
      this.compared += n;
      const got = new Uint8Array(n);
      const read = ctx.mem.read(at, got);
      const want = new Uint8Array(n);
      const fileOff = m.offset + (at - m.start);
      if (fileOff < BigInt(src.length)) {
        const inFile = Number(BigInt(src.length) - fileOff < BigInt(n) ? BigInt(src.length) - fileOff : BigInt(n));
        want.set(src.read(Number(fileOff), inFile, "code in the file"));
      }
      for (; ri < relocs.length && relocs[ri]!.at < end; ri++) {
        const r = relocs[ri]!;
        if (r.at < at) continue;
        const off = Number(r.at - at);
        const v = r.value(readLE(want, off, r.size));
        if (v === undefined) want.set(got.subarray(off, off + r.size), off);
        else writeLE(want, off, r.size, v);
      }
      // Unreadable bytes (a hole in the capture) are not evidence of anything.
      const ranges = diffRanges(want.subarray(0, read), got.subarray(0, read));
      for (const [s, e] of ranges) {
        const start = at + BigInt(s);
        if (open && start - (open.start + BigInt(open.got.length)) > BigInt(JOIN_GAP)) flush();
        if (!open) open = { start, want: [], got: [] };
        const from = Number(open.start + BigInt(open.got.length) - at);
        for (let i = Math.max(from, 0); i < e; i++) {
          open.want.push(want[i]!);
          open.got.push(got[i]!);
        }
      }
      if (ranges.length === 0 || read < n) flush();
      at = end;
    }
    flush();
    return out;
  }
}

/** Patched code in every link-map object; `skip` names objects whose loading may be unfinished. */
export function checkPatchedCode(ctx: HeuristicsContext, images: readonly ElfImage[], skip: ReadonlySet<LoadedImage["obj"]>): Finding[] {
  const out: Finding[] = [];
  const cmp = new Comparer(ctx);
  // Executable mappings of an object's file outside every image: its code mapped again (V8's
  // embedded builtins, libffi's trampolines), compared with the file like the rest.
  const outside = ctx.mappings.filter((m) => m.perms[2] === "x" && m.inode !== 0n && !images.some((i) => m.start >= i.header && m.start < i.end));
  for (const l of ctx.loaded) {
    const img = l.image;
    if (!img || skip.has(l.obj) || img.headerMapping.inode === 0n) continue;
    const key = fileKey(img.headerMapping);
    const code = [
      ...ctx.mappings.filter((m) => m.perms[2] === "x" && m.inode !== 0n && belongsTo(img, m)),
      ...outside.filter((m) => fileKey(m) === key),
    ];
    if (code.length === 0) continue;
    const src = ctx.files.open(img.headerMapping);
    if (!src) {
      ctx.problems.push(`${l.obj.name}: code not compared with its file (${ctx.files.failures.get(key) ?? "cannot open it"})`);
      continue;
    }
    try {
      const relocs = hasTextrel(l) ? textRelocs(ctx, l, code) : [];
      for (const m of code) out.push(...cmp.mapping(l, m, src, relocs));
    } catch (e) {
      rethrowIfGone(e);
      if (!(e instanceof ElfFormatError)) throw e;
      ctx.problems.push(`${l.obj.name}: code not compared with its file: ${e.message}`);
    }
  }
  return out;
}
