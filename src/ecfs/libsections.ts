// One section per mapping of every loaded shared object (docs/FORMAT.md 5), named
// <basename>.<kind> with kind from the mapping's permissions: text (r-x), data (rw-),
// relro (r--), undef (anything else). Unlike the original, names are unique (.relro.1 for
// the second r-- mapping) and a "library" is any mapped file that starts with an ELF
// header, not any path containing ".so".

import { SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_SHLIB } from "../elf/consts.ts";
import type { Mapping, MemoryReader } from "../model/image.ts";
import type { SectionPlan } from "./plan.ts";

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export function mappingKind(perms: string): { kind: string; flags: number } {
  const p = perms.slice(0, 3);
  if (p === "r-x") return { kind: "text", flags: SHF_ALLOC | SHF_EXECINSTR };
  if (p === "rw-") return { kind: "data", flags: SHF_ALLOC | SHF_WRITE };
  if (p === "r--") return { kind: "relro", flags: SHF_ALLOC };
  return { kind: "undef", flags: SHF_ALLOC };
}

function startsWithElf(mem: MemoryReader, m: Mapping): boolean {
  const b = new Uint8Array(4);
  return mem.read(m.start, b) === 4 && ELF_MAGIC.every((x, i) => b[i] === x);
}

export interface LibraryObject {
  path: string;
  /** Where its ELF header is mapped (the mapping of file offset 0). */
  header: bigint;
  mappings: Mapping[];
}

/**
 * File-backed ELF objects other than the executable, in address order of their first mapping.
 * A mapping of file offset 0 that starts with an ELF header begins an object; later mappings of
 * the same file (device and inode) belong to the last object begun from it, so a library mapped
 * twice (two dlmopen namespaces, or by hand beside ld.so's copy) is two objects.
 */
export function loadedLibraries(mappings: Mapping[], mem: MemoryReader, exePath: string): LibraryObject[] {
  const out: LibraryObject[] = [];
  const last = new Map<string, LibraryObject>();
  for (const m of mappings) {
    if (m.inode === 0n || !m.path.startsWith("/") || m.path === exePath) continue;
    const key = `${m.dev}/${m.inode}`;
    if (m.offset === 0n && startsWithElf(mem, m)) {
      const obj = { path: m.path, header: m.start, mappings: [m] };
      out.push(obj);
      last.set(key, obj);
    } else last.get(key)?.mappings.push(m);
  }
  return out;
}

/** `typeOf` lets the heuristics mark a library SHT_INJECTED, SHT_PRELOADED or SHT_DLOPEN. */
export function librarySections(libs: LibraryObject[], typeOf: (lib: LibraryObject) => number = () => SHT_SHLIB): SectionPlan[] {
  const used = new Set<string>();
  const out: SectionPlan[] = [];
  for (const lib of libs) {
    const base = lib.path.slice(lib.path.lastIndexOf("/") + 1);
    const type = typeOf(lib);
    for (const m of lib.mappings) {
      const { kind, flags } = mappingKind(m.perms);
      let name = `${base}.${kind}`;
      for (let n = 1; used.has(name); n++) name = `${base}.${kind}.${n}`;
      used.add(name);
      out.push({ name, type, flags, addr: m.start, data: { kind: "memory", addr: m.start, size: m.end - m.start }, align: 8, entsize: 0 });
    }
  }
  return out;
}
