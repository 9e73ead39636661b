// The `.heuristics` section (docs/FORMAT.md 4.5), read back: JSON written by the heuristics
// (src/ecfs/heuristics/findings.ts). Trust model: the file is anyone's; the section is size-
// capped before it is decoded, must be UTF-8 JSON of the documented shape (valibot checks every
// field and type), and addresses must be "0x..." strings of at most 64 bits.

import * as v from "valibot";
import { ElfFormatError } from "../errors.ts";

/** Larger than any report we write (256 findings per type, notes and objects of a large process). */
export const MAX_HEURISTICS = 16 * 1024 * 1024;

const Hex = v.pipe(v.string(), v.regex(/^0x[0-9a-f]{1,16}$/), v.transform((s) => BigInt(s)));
const Text = v.pipe(v.string(), v.maxLength(65536));

const FindingSchema = v.object({
  type: v.picklist(["injected-object", "anonymous-code", "unattributed-code", "got-hook", "patched-code", "entry-point", "foreign-constructor"]),
  address: Hex,
  size: Hex,
  object: Text,
  symbol: v.optional(Text),
  expected: v.optional(Text),
  found: v.optional(Text),
  detail: Text,
});

const ObjectSchema = v.object({
  name: Text,
  kind: v.picklist(["executable", "vdso", "shlib", "preloaded", "dlopen", "injected"]),
  header: Hex,
  base: Hex,
  end: Hex,
  namespace: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  dev: Text,
  inode: v.pipe(v.string(), v.regex(/^\d{1,20}$/), v.transform((s) => BigInt(s))),
});

const NoteSchema = v.object({
  type: Text,
  address: v.optional(Hex),
  size: v.optional(Hex),
  object: v.optional(Text),
  detail: Text,
});

const DocumentSchema = v.object({
  format: v.literal("ecfs-heuristics"),
  version: v.literal(1),
  linkMap: Text,
  objects: v.array(ObjectSchema),
  findings: v.array(FindingSchema),
  notes: v.array(NoteSchema),
  truncated: v.record(v.string(), v.pipe(v.number(), v.integer(), v.minValue(0))),
  problems: v.array(Text),
});

export type HeuristicsDocument = v.InferOutput<typeof DocumentSchema>;
export type HeuristicsFinding = HeuristicsDocument["findings"][number];

export function decodeHeuristics(bytes: Uint8Array, base = 0): HeuristicsDocument {
  if (bytes.byteLength > MAX_HEURISTICS) throw new ElfFormatError(base, ".heuristics larger than the cap", bytes.byteLength);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ElfFormatError(base, `.heuristics is not UTF-8 JSON (${(e as Error).message})`);
  }
  const r = v.safeParse(DocumentSchema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new ElfFormatError(base, `.heuristics does not have the documented shape (${path || "document"}: ${issue.message})`);
  }
  return r.output;
}
