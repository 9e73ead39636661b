// What the heuristics conclude, and the `.heuristics` section that carries it (docs/FORMAT.md
// 4.5): a JSON document with the objects found in memory and how each came there, the
// findings (each with its evidence: address, object, symbol, expected and found), notes that
// explain what was seen but is not a finding (a JIT runtime's code, a second mapping of a
// library's code), and what could not be checked.

import { utf8 } from "../../elf/bytes.ts";

export const HEURISTICS_FORMAT = "ecfs-heuristics";
export const HEURISTICS_VERSION = 1;
/** Findings of one type kept in the file; more are counted in `truncated`. */
export const MAX_FINDINGS_PER_TYPE = 256;

export type FindingType =
  /** An ELF image in memory that no link map lists. */
  | "injected-object"
  /** Executable memory with no file behind it, outside any ELF image. */
  | "anonymous-code"
  /** A file mapped executable that belongs to no loaded object. */
  | "unattributed-code"
  /** A GOT slot holding neither its symbol's definition, nor its lazy stub, nor an IFUNC choice. */
  | "got-hook"
  /** Code bytes in memory that differ from the file, after the relocations that touch text. */
  | "patched-code"
  /** e_entry (or AT_ENTRY) outside the executable's code. */
  | "entry-point"
  /** DT_INIT/DT_FINI or an .init_array/.fini_array/.preinit_array entry outside its object's code. */
  | "foreign-constructor";

export const FINDING_TYPES: readonly FindingType[] = [
  "injected-object", "anonymous-code", "unattributed-code", "got-hook", "patched-code", "entry-point", "foreign-constructor",
];

export interface Finding {
  type: FindingType;
  /** Where: the object's ELF header, the mapping, the GOT slot, the first modified byte. */
  address: bigint;
  /** How many bytes the finding covers. */
  size: bigint;
  /** The object the address belongs to (its path), or "[anonymous]". */
  object: string;
  /** The symbol concerned (a GOT slot's import, the function holding a patched range). */
  symbol?: string;
  /** What a clean process has there. */
  expected?: string;
  /** What this one has. */
  found?: string;
  /** One sentence for a person. */
  detail: string;
}

/** Seen and explained, not a finding. */
export interface HeuristicsNote {
  /** "jit", "code-alias", "execstack", "empty-executable", "unchecked", "inconsistent-link-map". */
  type: string;
  address?: bigint;
  size?: bigint;
  object?: string;
  detail: string;
}

export type ObjectKind = "executable" | "vdso" | "shlib" | "preloaded" | "dlopen" | "injected";

/** An ELF image found in memory, and how it came there. */
export interface ObjectVerdict {
  /** Its path (l_name, or the mapping's path), "[vdso]", or "[anonymous]". */
  name: string;
  /** Address of its ELF header. */
  header: bigint;
  /** Load bias (runtime minus link-time address). */
  base: bigint;
  /** One past its highest segment. */
  end: bigint;
  kind: ObjectKind;
  /** Link-map namespace (0 the base one); absent for objects on no link map. */
  namespace?: number;
  /** "major:minor" of the file behind its header mapping, and the inode ("0": anonymous). */
  dev: string;
  inode: bigint;
}

export interface HeuristicsReport {
  /** Where the list of loaded objects came from: "DT_DEBUG", "_r_debug", or "mappings" (static). */
  linkMap: string;
  objects: ObjectVerdict[];
  findings: Finding[];
  notes: HeuristicsNote[];
  /** Findings left out, per type, beyond MAX_FINDINGS_PER_TYPE. */
  truncated: Partial<Record<FindingType, number>>;
  /** What could not be checked, and why. */
  problems: string[];
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** Keeps at most MAX_FINDINGS_PER_TYPE of each type, counting the rest. */
export function capFindings(findings: Finding[]): { kept: Finding[]; truncated: Partial<Record<FindingType, number>> } {
  const counts = new Map<FindingType, number>();
  const left = new Map<FindingType, number>();
  const kept: Finding[] = [];
  for (const f of findings) {
    const n = (counts.get(f.type) ?? 0) + 1;
    counts.set(f.type, n);
    if (n <= MAX_FINDINGS_PER_TYPE) kept.push(f);
    else left.set(f.type, (left.get(f.type) ?? 0) + 1);
  }
  return { kept, truncated: Object.fromEntries(left) };
}

/** The `.heuristics` section: UTF-8 JSON, addresses as "0x..." strings, inodes as decimal strings. */
export function encodeHeuristics(r: HeuristicsReport): Uint8Array {
  const doc = {
    format: HEURISTICS_FORMAT,
    version: HEURISTICS_VERSION,
    linkMap: r.linkMap,
    objects: r.objects.map((o) => ({
      name: o.name, kind: o.kind, header: hex(o.header), base: hex(o.base), end: hex(o.end),
      ...(o.namespace !== undefined && { namespace: o.namespace }), dev: o.dev, inode: o.inode.toString(),
    })),
    findings: r.findings.map((f) => ({
      type: f.type, address: hex(f.address), size: hex(f.size), object: f.object,
      ...(f.symbol !== undefined && { symbol: f.symbol }),
      ...(f.expected !== undefined && { expected: f.expected }),
      ...(f.found !== undefined && { found: f.found }),
      detail: f.detail,
    })),
    notes: r.notes.map((n) => ({
      type: n.type, ...(n.address !== undefined && { address: hex(n.address) }), ...(n.size !== undefined && { size: hex(n.size) }),
      ...(n.object !== undefined && { object: n.object }), detail: n.detail,
    })),
    truncated: r.truncated,
    problems: r.problems,
  };
  return utf8.encode(`${JSON.stringify(doc)}\n`);
}
