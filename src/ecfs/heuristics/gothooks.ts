// PLT/GOT hooks: every JUMP_SLOT, GLOB_DAT and IRELATIVE relocation of every link-map object,
// its slot compared with what ld.so would have put there (README, "Heuristics"). A slot is
// legitimate when it holds:
// - the definition the dynamic linker's lookup finds from that object (dynlink's resolver:
//   scope order, DT_SYMBOLIC, versions, copy relocations), or, for a symbol the object defines
//   as local or protected, its own definition;
// - for an IFUNC definition, any address in the code of the object defining it, or the vDSO
//   (what the resolver chose); IRELATIVE slots likewise, in the object's own code, or 0;
// - for a JUMP_SLOT not yet called (lazy binding), its lazy PLT stub: the file's own GOT word
//   plus the load bias (ld.so's elf_machine_lazy_rel), or, without the file, a stub in the
//   object's code that pushes this relocation's index (.plt, IBT .plt, i386);
// - for a GLOB_DAT of a function a non-PIE executable takes the address of, the executable's
//   canonical PLT entry (an undefined symbol with a value: non-PLT lookups match it);
// - when no object in scope defines the symbol: a definition in an object dlopen'd later into
//   the same namespace (RTLD_GLOBAL widens the scope), or 0 (an undefined weak symbol).
// Anything else is a finding, with the expected and found addresses named.

import { SHN_UNDEF, STB_LOCAL, STT_GNU_IFUNC } from "../../elf/consts.ts";
import { stBind, stType, type Sym } from "../../elf/reader.ts";
import { ElfFormatError } from "../../errors.ts";
import { symbolVersion } from "../dynlink/dynsyms.ts";
import type { DynamicLinking, LoadedObject } from "../dynlink/dynlink.ts";
import { STT_TLS } from "../dynlink/symlookup.ts";
import { rethrowIfGone } from "../../errors.ts";
import { type HeuristicsContext, inCodeOf, inVdso, readWord } from "./context.ts";
import type { Finding } from "./findings.ts";
import type { LoadedImage } from "./objects.ts";
import { irelative, R_GLOB_DAT, R_JUMP_SLOT, type Reloc, readRelocations } from "./relocs.ts";
import { hex } from "./symbolize.ts";

const STV_PROTECTED = 3;

/** One acceptable slot value and why; for an IFUNC, any address in `codeOf`'s code (or the vDSO). */
interface Expectation {
  addr: bigint;
  why: string;
  codeOf?: LoadedObject;
}

/** The word the object's file holds at a runtime address (a GOT slot before ld.so touched it). */
function fileWord(ctx: HeuristicsContext, l: LoadedImage, at: bigint): bigint | undefined {
  const img = l.image;
  const src = img && ctx.files.open(img.headerMapping);
  if (!img || !src) return undefined;
  const vaddr = at - img.base;
  const load = img.loads.find((p) => vaddr >= p.p_vaddr && vaddr + BigInt(ctx.cls.word) <= p.p_vaddr + p.p_filesz);
  if (!load) return undefined;
  const off = load.p_offset + (vaddr - load.p_vaddr);
  if (off + BigInt(ctx.cls.word) > BigInt(src.length)) return undefined;
  const b = src.read(Number(off), ctx.cls.word, "GOT word in the file");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return ctx.cls.word === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
}

/** A lazy stub in the object's code that pushes this PLT relocation (`endbr`? `push imm32`). */
function isLazyStub(ctx: HeuristicsContext, l: LoadedImage, value: bigint, r: Reloc): boolean {
  if (!inCodeOf(ctx, l.image, value)) return false;
  const b = ctx.rm.prefix(value, 9, "PLT stub");
  let o = b[0] === 0xf3 && b[1] === 0x0f && b[2] === 0x1e && (b[3] === 0xfa || b[3] === 0xfb) ? 4 : 0;
  if (b.byteLength < o + 5 || b[o] !== 0x68) return false;
  o++;
  const pushed = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  // x86_64 pushes the relocation index, i386 its byte offset in .rel.plt.
  return pushed === (ctx.cls.word === 8 ? r.index : r.index * 2 * ctx.cls.word);
}

/** Canonical PLT entries of a non-PIE executable: undefined symbols with a value. */
function canonicalPlt(link: DynamicLinking): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const exe = link.executable;
  const t = exe && link.tables(exe);
  for (const s of t?.syms ?? []) if (s.st_shndx === SHN_UNDEF && s.st_value !== 0n && s.name !== "") out.set(s.name, exe!.base + s.st_value);
  return out;
}

class SlotChecker {
  readonly #canonical: Map<string, bigint>;
  readonly #later = new Map<number, LoadedObject[]>();
  readonly #imageOf = new Map<LoadedObject, LoadedImage>();

  constructor(
    readonly ctx: HeuristicsContext,
    readonly link: DynamicLinking,
  ) {
    this.#canonical = canonicalPlt(link);
    for (const l of ctx.loaded) this.#imageOf.set(l.obj, l);
    for (const o of link.objects) {
      if (o.isVdso) continue;
      const scope = new Set(link.namespaceScope(o.namespace));
      if (!scope.has(o)) this.#later.set(o.namespace, [...(this.#later.get(o.namespace) ?? []), o]);
    }
  }

  /** What a slot of symbol `sym` in object `l` may hold. */
  expectations(l: LoadedImage, sym: Sym, r: Reloc): Expectation[] {
    const { link } = this;
    const t = link.tables(l.obj);
    const v = t && symbolVersion(t, sym.index);
    const ref = v && { name: v.name, hidden: v.hidden };
    const out: Expectation[] = [];
    const add = (addr: bigint, why: string, ifunc: boolean, owner: LoadedObject) => {
      out.push({ addr, why, ...(ifunc && { codeOf: owner }) });
      if (r.addend !== undefined && r.addend !== 0n) out.push({ addr: BigInt.asUintN(this.ctx.cls.word * 8, addr + r.addend), why: `${why} + addend` });
    };
    const def = link.resolve(sym.name, ref, l.obj, { newest: false });
    if (def) add(def.address, `${def.object.name} ${sym.name}`, def.ifunc, def.object);
    const own = sym.st_shndx !== SHN_UNDEF;
    if (own && (!def || stBind(sym.st_info) === STB_LOCAL || (sym.st_other & 3) === STV_PROTECTED)) {
      const d = link.definitionIn(l.obj, sym.name, ref, { newest: false });
      const addr = d?.address ?? l.obj.base + sym.st_value;
      add(addr, `${l.obj.name} ${sym.name} (its own definition)`, stType(sym.st_info) === STT_GNU_IFUNC, l.obj);
    }
    if (!def) {
      for (const o of this.#later.get(l.obj.namespace) ?? []) {
        const d = link.definitionIn(o, sym.name, ref, { newest: false });
        if (d) add(d.address, `${o.name} ${sym.name} (dlopen'd later)`, d.ifunc, o);
      }
      out.push({ addr: 0n, why: "0 (undefined weak)" });
    }
    if (r.type === R_GLOB_DAT) {
      const c = this.#canonical.get(sym.name);
      if (c !== undefined) out.push({ addr: c, why: `the executable's PLT entry for ${sym.name}` });
    }
    return out;
  }

  accepts(value: bigint, exp: Expectation[]): boolean {
    return exp.some((e) => e.addr === value || (e.codeOf !== undefined && (inVdso(this.ctx, value) || inCodeOf(this.ctx, this.#imageOf.get(e.codeOf)?.image, value))));
  }

  check(l: LoadedImage, r: Reloc): Finding | undefined {
    const { ctx, link } = this;
    const value = readWord(ctx, r.at);
    if (value === undefined) return undefined;
    const objName = l.obj.name;
    if (r.type === irelative(ctx.cls)) {
      // A resolver may return 0: glibc's __x86_cacheinfo ifunc runs init_cacheinfo and returns NULL.
      if (value === 0n || inCodeOf(ctx, l.image, value) || inVdso(ctx, value)) return undefined;
      return {
        type: "got-hook", address: r.at, size: BigInt(ctx.cls.word), object: objName,
        expected: `an address in ${objName}'s code (its IFUNC resolver's choice)`, found: ctx.names.describe(value),
        detail: `IRELATIVE slot ${hex(r.at)} of ${objName} points outside the object's code`,
      };
    }
    const t = link.tables(l.obj);
    const sym = t?.syms[r.sym];
    if (!sym || r.sym === 0 || stType(sym.st_info) === STT_TLS) return undefined;
    const exp = this.expectations(l, sym, r);
    if (this.accepts(value, exp)) return undefined;
    if (r.type === R_JUMP_SLOT) {
      const initial = fileWord(ctx, l, r.at);
      if (initial !== undefined && BigInt.asUintN(ctx.cls.word * 8, initial + l.obj.base) === value) return undefined;
      if (isLazyStub(ctx, l, value, r)) return undefined;
    }
    const v = symbolVersion(t!, sym.index);
    const name = v ? `${sym.name}@${v.name}` : sym.name;
    const expected = exp
      .filter((e) => e.why !== "0 (undefined weak)")
      .map((e) => `${hex(e.addr)} (${e.why}${e.codeOf ? `, an IFUNC: or what its resolver chose in ${e.codeOf.name}` : ""})`);
    if (r.type === R_JUMP_SLOT) expected.push("its lazy PLT stub");
    return {
      type: "got-hook", address: r.at, size: BigInt(ctx.cls.word), object: objName, symbol: name,
      expected: expected.join(" or ") || "nothing defines it", found: ctx.names.describe(value),
      detail: `${r.type === R_JUMP_SLOT ? "PLT" : "GOT"} slot of ${name} in ${objName} points to ${ctx.names.describe(value)}`,
    };
  }
}

/** GOT/PLT hooks in every link-map object; `skip` names objects whose relocation may be unfinished. */
export function checkGotHooks(ctx: HeuristicsContext, skip: ReadonlySet<LoadedObject>): Finding[] {
  const link = ctx.link;
  if (!link) return [];
  const checker = new SlotChecker(ctx, link);
  const out: Finding[] = [];
  for (const l of ctx.loaded) {
    if (skip.has(l.obj) || !link.tables(l.obj)) continue;
    let relocs: Reloc[];
    try {
      relocs = readRelocations(ctx.rm, l.obj, { relative: false });
    } catch (e) {
      rethrowIfGone(e);
      if (!(e instanceof ElfFormatError)) throw e;
      ctx.problems.push(`${l.obj.name}: relocations unreadable, GOT not checked: ${e.message}`);
      continue;
    }
    const kinds = new Set([R_GLOB_DAT, R_JUMP_SLOT, irelative(ctx.cls)]);
    const seen = new Set<bigint>();
    for (const r of relocs) {
      if (!kinds.has(r.type) || seen.has(r.at)) continue;
      seen.add(r.at);
      const f = checker.check(l, r);
      if (f) out.push(f);
    }
  }
  return out;
}
