// Symbol resolution as ld.so does it, on a captured process (docs/FORMAT.md 6): the global
// scope in link-map order (executable, LD_PRELOAD objects, then DT_NEEDED breadth-first), versions as check_match honours them, the first GLOBAL or WEAK
// definition in scope winning, and the executable's own definitions (copy relocations such as
// `stdout`) found first because the executable heads the scope. The result feeds the ECFS
// `.dynsym` whose values are runtime addresses. Pure apart from reading target memory through
// MemoryReader; malformed target data ends up in `problems`, never in an exception.
//
// Limits, documented rather than guessed at:
// - STT_GNU_IFUNC: the address is the resolver's (running it would mean running target code);
//   `ifunc` says so. The GOT of a running process holds what the resolver returned instead.
// - TLS symbols have no single address: their value stays the offset in the module's TLS block.
// - The global scope is the link-map prefix of objects loaded at startup; an object loaded later
//   (dlopen) is outside it unless something loaded at startup needs it. A dlmopen namespace's
//   global scope is its first object's DT_NEEDED closure. RTLD_GLOBAL dlopens, RTLD_DEEPBIND and
//   lookups from non-PLT relocations that would bind to a non-PIE executable's canonical PLT
//   entry are not modelled here (the heuristics' GOT check allows for the first and the last).
// - Without an r_debug (static executables, or when none is reachable) the objects come from the
//   mappings: the executable, then its DT_NEEDED closure breadth-first; other mapped objects are
//   listed but left out of the scope, since their load order is unknown.

import { ByteWriter } from "../../elf/bytes.ts";
import type { ElfClass } from "../../elf/class.ts";
import { SHN_ABS, SHN_UNDEF, STT_GNU_IFUNC } from "../../elf/consts.ts";
import { stType, type Sym } from "../../elf/reader.ts";
import { SYM } from "../../elf/records.ts";
import { ElfFormatError } from "../../errors.ts";
import type { Mapping, MemoryReader } from "../../model/image.ts";
import { type DynamicTables, symbolVersion, TableReader } from "./dynsyms.ts";
import { findLoadedObjects, type LoadedObject, type ObjectSource } from "./linkmap.ts";
import { attempt, type DynlinkProblem, RemoteMemory } from "./remote.ts";
import { elfHash, gnuHash, lookupInObject, MAX_LOOKUP_STEPS, STT_TLS, type VersionRef } from "./symlookup.ts";

export type { LoadedObject, ObjectSource } from "./linkmap.ts";
export type { DynamicTables, VersionEntry } from "./dynsyms.ts";
export type { DynlinkProblem } from "./remote.ts";
export type { VersionRef } from "./symlookup.ts";

/** What the analysis needs of a ProcessImage (which satisfies it; a test can build just this). */
export interface DynlinkInput {
  cls: ElfClass;
  mem: MemoryReader;
  mappings: readonly Mapping[];
  info: { auxv: Uint8Array; exe: string };
}

/** A definition a lookup found. */
export interface Definition {
  object: LoadedObject;
  /** Its index in the object's .dynsym. */
  index: number;
  sym: Sym;
  /** The version it is defined with (undefined: unversioned or the base version). */
  version: string | undefined;
  /** Runtime address: st_value + base (SHN_ABS: st_value; TLS: the offset in the TLS block). */
  address: bigint;
  /** STT_GNU_IFUNC: `address` is the resolver's. */
  ifunc: boolean;
  tls: boolean;
}

/** One .dynsym entry with the value resolvedDynsym gives it. */
export interface ResolvedSymbol {
  index: number;
  name: string;
  /** The version a reference needs, or the one a definition has. */
  version: string | undefined;
  /** SHN_UNDEF in this object: a reference resolved through the scope. */
  undefined: boolean;
  /** The st_value written (0 when nothing defines a reference). */
  address: bigint;
  /** The defining object: this one for a definition, the provider for a reference. */
  definedBy: LoadedObject | undefined;
  ifunc: boolean;
  tls: boolean;
}

export interface ResolveOptions {
  /**
   * For an unversioned name: true (default) gives dlsym semantics, the default '@@' version;
   * false gives relocation semantics, where the oldest version (versym index 2) still matches.
   */
  newest?: boolean;
}

const utf8 = new TextEncoder();

/**
 * Loaded objects by the names a DT_NEEDED entry may use for them: l_name, DT_SONAME (what
 * glibc's _dl_name_match_p compares, through l_libname) and, as a stand-in for the other
 * l_libname entries we cannot see, l_name's last component. The first object wins.
 */
class NameIndex {
  readonly #exact = new Map<string, LoadedObject>();
  readonly #base = new Map<string, LoadedObject>();
  constructor(objects: readonly LoadedObject[], tables: (o: LoadedObject) => DynamicTables | undefined) {
    const put = (m: Map<string, LoadedObject>, n: string | undefined, o: LoadedObject): void => {
      if (n !== undefined && n !== "" && !m.has(n)) m.set(n, o);
    };
    for (const o of objects) {
      put(this.#exact, o.name, o);
      put(this.#exact, tables(o)?.soname, o);
      put(this.#base, o.name.slice(o.name.lastIndexOf("/") + 1), o);
    }
  }
  get(needed: string): LoadedObject | undefined {
    return this.#exact.get(needed) ?? this.#base.get(needed);
  }
}

export class DynamicLinking {
  readonly #tables: Map<LoadedObject, DynamicTables>;
  readonly #resolved = new Map<LoadedObject, ResolvedSymbol[]>();
  /** Per namespace: its global scope (as a set) and its DT_NEEDED name index. */
  readonly #inScope: Map<number, Set<LoadedObject>>;
  readonly #names: Map<number, NameIndex>;
  readonly #problems: DynlinkProblem[];
  /** Lookup order per requester (resolve's scope list). */
  readonly #orders = new Map<LoadedObject | undefined, LoadedObject[]>();

  private constructor(
    readonly cls: ElfClass,
    /** In link-map order, base namespace first (source "mappings": executable, DT_NEEDED closure, then the rest by address). */
    readonly objects: readonly LoadedObject[],
    /** The base namespace's global lookup scope in order: the objects loaded at startup, less the vDSO. */
    readonly scope: readonly LoadedObject[],
    readonly source: ObjectSource,
    readonly rDebug: bigint | undefined,
    problems: DynlinkProblem[],
    tables: Map<LoadedObject, DynamicTables>,
    names: Map<number, NameIndex>,
    scopes: Map<number, LoadedObject[]>,
  ) {
    this.#tables = tables;
    this.#problems = problems;
    this.#inScope = new Map([...scopes].map(([ns, list]) => [ns, new Set(list)]));
    this.#names = names;
  }

  static analyze(input: DynlinkInput): DynamicLinking {
    const rm = new RemoteMemory(input.mem, input.cls);
    const problems: DynlinkProblem[] = [];
    const found = findLoadedObjects({ mem: rm, auxv: input.info.auxv, mappings: input.mappings, exe: input.info.exe }, problems);
    const tables = new Map<LoadedObject, DynamicTables>();
    const reader = new TableReader(rm, problems);
    for (const obj of found.objects) {
      if (obj.dynamic.length === 0) continue; // static executable, or its dynamic was unreadable (reported)
      const t = attempt(problems, obj.name, () => reader.read(obj));
      if (t) tables.set(obj, t);
    }
    const tablesOf = (o: LoadedObject): DynamicTables | undefined => tables.get(o);
    let objects = found.objects;
    const names = new Map<number, NameIndex>();
    const scopes = new Map<number, LoadedObject[]>();
    for (const ns of new Set(objects.map((o) => o.namespace))) {
      const members = objects.filter((o) => o.namespace === ns);
      const index = new NameIndex(members, tablesOf);
      names.set(ns, index);
      if (found.source === "mappings") {
        const exe = members[0];
        const scope = exe?.isExecutable ? neededClosure(index, [exe], tablesOf) : [];
        const inScope = new Set(scope);
        objects = [...scope, ...objects.filter((o) => !inScope.has(o))];
        scopes.set(ns, scope);
      } else if (ns === 0) scopes.set(ns, startupPrefix(members, index, tablesOf).filter((o) => !o.isVdso));
      // A dlmopen namespace's global scope is its first object's search list (glibc _dl_new_object:
      // l_scope[0] is the namespace's _ns_loaded->l_searchlist).
      else scopes.set(ns, members[0] ? neededClosure(index, [members[0]], tablesOf) : []);
    }
    return new DynamicLinking(input.cls, objects, scopes.get(0) ?? [], found.source, found.rDebug, problems, tables, names, scopes);
  }

  /** Malformed target data met so far (resolvedSymbols may add a lookup-budget problem). */
  get problems(): readonly DynlinkProblem[] {
    return this.#problems;
  }

  get executable(): LoadedObject | undefined {
    return this.objects.find((o) => o.isExecutable);
  }

  /** The object's dynamic tables, or undefined when they could not be read (see problems). */
  tables(obj: LoadedObject): DynamicTables | undefined {
    return this.#tables.get(obj);
  }

  /**
   * Where `name` resolves for references from `requester` (default: the executable): its own
   * definitions first if it is DT_SYMBOLIC, then the global scope, then, for an object outside
   * it (dlopen'd), its own DT_NEEDED closure (l_scope of glibc's link_map).
   */
  resolve(name: string, version?: string | VersionRef, requester?: LoadedObject, opts: ResolveOptions = {}): Definition | undefined {
    return this.#lookup(name, typeof version === "string" ? { name: version, hidden: false } : version, requester, opts.newest ?? true, {
      left: MAX_LOOKUP_STEPS,
    });
  }

  #scopeFor(requester: LoadedObject | undefined): LoadedObject[] {
    let order = this.#orders.get(requester);
    if (order) return order;
    const ns = requester?.namespace ?? 0;
    const inScope = this.#inScope.get(ns) ?? new Set<LoadedObject>();
    const list: LoadedObject[] = [];
    if (requester && this.#tables.get(requester)?.symbolic) list.push(requester);
    list.push(...inScope);
    const names = this.#names.get(ns);
    if (requester && !inScope.has(requester) && names)
      list.push(...neededClosure(names, [requester], (o) => this.#tables.get(o)));
    order = [...new Set(list)];
    this.#orders.set(requester, order);
    return order;
  }

  /** The global lookup scope of a namespace (0: the base one), in order. */
  namespaceScope(ns: number): readonly LoadedObject[] {
    return [...(this.#inScope.get(ns) ?? [])];
  }

  /**
   * The definition `name` has in one object (do_lookup_x for that map alone), or undefined; the
   * heuristics ask this of objects outside a scope (an RTLD_GLOBAL dlopen widens it later).
   */
  definitionIn(obj: LoadedObject, name: string, version?: VersionRef, opts: ResolveOptions = {}): Definition | undefined {
    const t = this.#tables.get(obj);
    if (!t) return undefined;
    const bytes = utf8.encode(name);
    const key = { name, gnu: gnuHash(bytes), sysv: elfHash(bytes), version, newest: opts.newest ?? true, budget: { left: MAX_LOOKUP_STEPS } };
    const index = lookupInObject(t, key);
    const sym = index === undefined ? undefined : t.syms[index];
    return index !== undefined && sym ? this.#definition(t, index, sym) : undefined;
  }

  #lookup(name: string, version: VersionRef | undefined, requester: LoadedObject | undefined, newest: boolean, budget: { left: number }): Definition | undefined {
    const bytes = utf8.encode(name);
    const key = { name, gnu: gnuHash(bytes), sysv: elfHash(bytes), version, newest, budget };
    for (const obj of this.#scopeFor(requester ?? this.executable)) {
      const t = this.#tables.get(obj);
      const index = t && lookupInObject(t, key);
      const sym = index === undefined ? undefined : t?.syms[index];
      if (t && index !== undefined && sym) return this.#definition(t, index, sym);
    }
    return undefined;
  }

  #definition(t: DynamicTables, index: number, sym: Sym): Definition {
    const tls = stType(sym.st_info) === STT_TLS;
    const relocate = !tls && sym.st_shndx !== SHN_ABS;
    return {
      object: t.object,
      index,
      sym,
      version: symbolVersion(t, index)?.name,
      address: relocate ? BigInt.asUintN(this.cls.word * 8, sym.st_value + t.object.base) : sym.st_value,
      ifunc: stType(sym.st_info) === STT_GNU_IFUNC,
      tls,
    };
  }

  /**
   * Every .dynsym entry of `obj` but the null one, with its runtime value: a definition its own
   * address, a reference (SHN_UNDEF) what it resolves to with the version it needs, under
   * relocation semantics, from `obj` as requester. Empty when the tables are unreadable.
   */
  resolvedSymbols(obj: LoadedObject): readonly ResolvedSymbol[] {
    const cached = this.#resolved.get(obj);
    if (cached) return cached;
    const t = this.#tables.get(obj);
    const out: ResolvedSymbol[] = [];
    const budget = { left: MAX_LOOKUP_STEPS };
    for (const sym of t?.syms.slice(1) ?? []) {
      if (!t) break;
      const v = symbolVersion(t, sym.index);
      if (sym.st_shndx === SHN_UNDEF) {
        const ref = v && { name: v.name, hidden: v.hidden };
        const def = sym.name === "" ? undefined : this.#lookup(sym.name, ref, obj, false, budget);
        out.push({
          index: sym.index, name: sym.name, version: v?.name, undefined: true, address: def?.address ?? 0n,
          definedBy: def?.object, ifunc: def?.ifunc ?? false, tls: def?.tls ?? false,
        });
      } else {
        const def = this.#definition(t, sym.index, sym);
        out.push({
          index: sym.index, name: sym.name, version: v?.name, undefined: false, address: def.address,
          definedBy: obj, ifunc: def.ifunc, tls: def.tls,
        });
      }
    }
    if (budget.left < 0)
      this.#problems.push({ where: obj.name, error: new ElfFormatError(t?.symtabAddr ?? 0n, "lookup budget exhausted; later references left unresolved", MAX_LOOKUP_STEPS) });
    this.#resolved.set(obj, out);
    return out;
  }

  /**
   * A copy of obj's .dynsym (native class, symSize bytes per entry) whose st_value fields hold
   * runtime values (resolvedSymbols); st_name, st_info, st_other and st_shndx are unchanged.
   * Empty when the tables are unreadable.
   */
  resolvedDynsym(obj: LoadedObject): Uint8Array {
    const t = this.#tables.get(obj);
    if (!t) return new Uint8Array(0);
    const out = new ByteWriter(t.dynsym.slice());
    const L = SYM[this.cls.word];
    for (const r of this.resolvedSymbols(obj)) out.word(r.index * L.size + L.st_value, this.cls.word, r.address);
    return out.bytes;
  }
}

/** Breadth-first over DT_NEEDED (glibc _dl_map_object_deps order); `add` queues an object once. */
class Closure {
  readonly order: LoadedObject[] = [];
  readonly #seen = new Set<LoadedObject>();
  #next = 0;
  constructor(
    readonly names: NameIndex,
    readonly tables: (o: LoadedObject) => DynamicTables | undefined,
  ) {}
  add(o: LoadedObject): void {
    if (this.#seen.has(o)) return;
    this.#seen.add(o);
    this.order.push(o);
  }
  /** Follows DT_NEEDED of everything queued so far, and of what that adds. */
  run(): void {
    for (; this.#next < this.order.length; this.#next++) {
      const cur = this.order[this.#next];
      for (const need of (cur && this.tables(cur)?.needed) ?? []) {
        const dep = this.names.get(need);
        if (dep) this.add(dep);
      }
    }
  }
}

function neededClosure(names: NameIndex, roots: LoadedObject[], tables: (o: LoadedObject) => DynamicTables | undefined): LoadedObject[] {
  const c = new Closure(names, tables);
  for (const r of roots) c.add(r);
  c.run();
  return c.order;
}

/**
 * The link-map prefix loaded at startup: it ends at the last object needed (transitively) by an
 * object inside it, so LD_PRELOAD objects (before the needed ones) stay in, and objects dlopen'd
 * later (appended after all of them) stay out. Linear in objects + DT_NEEDED. The caller drops
 * the vDSO: rtld puts it in the link map but not in the main search list.
 */
function startupPrefix(objects: readonly LoadedObject[], names: NameIndex, tables: (o: LoadedObject) => DynamicTables | undefined): LoadedObject[] {
  const pos = new Map(objects.map((o, i) => [o, i]));
  const c = new Closure(names, tables);
  const first = objects[0];
  if (first === undefined) return [];
  c.add(first);
  let end = 0;
  let last = 0;
  for (let seen = 0; ; ) {
    c.run();
    for (; seen < c.order.length; seen++) last = Math.max(last, pos.get(c.order[seen] as LoadedObject) ?? 0);
    if (last <= end) return objects.slice(0, end + 1);
    for (let i = end + 1; i <= last; i++) {
      const o = objects[i];
      if (o) c.add(o);
    }
    end = last;
  }
}
