// Trust model: the kernel formats /proc/PID/maps, but the path column is a file name the target
// chose (spaces, a fake " (deleted)", "\012" for newline); every field is checked, addresses stay bigint.

import { ProcParseError } from "../errors.ts";
import type { Mapping } from "../model/image.ts";
import { readProcText } from "./read.ts";

/** show_map_vma() appends this to the path of an unlinked file (fs/proc/task_mmu.c). */
export const DELETED_SUFFIX = " (deleted)";

/*
 * show_map_vma(): "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then, when there is a name,
 * padding to column 73 and the name. seq_file_path() escapes only "\n" (as "\012"); we keep
 * the name as printed, since a literal backslash is not escaped and the two cannot be told apart.
 */
const HEADER = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][sp]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$/;

/**
 * Parses one maps-format line (also the header line of each smaps entry). Returns undefined when
 * the line does not have the maps shape, so smaps can tell headers from "Key: value" lines.
 */
export function parseMapsLine(line: string): Mapping | undefined {
  const m = HEADER.exec(line);
  if (m === null) return undefined;
  const [, start, end, perms, offset, dev, inode, rest] = m;
  if (start === undefined || end === undefined || perms === undefined || offset === undefined) return undefined;
  if (dev === undefined || inode === undefined) return undefined;
  let path = rest ?? "";
  // An unlinked file's name gets the suffix; a file really named "x (deleted)" looks the same.
  const deleted = path.endsWith(DELETED_SUFFIX);
  if (deleted) path = path.slice(0, -DELETED_SUFFIX.length);
  return {
    start: BigInt(`0x${start}`),
    end: BigInt(`0x${end}`),
    perms,
    offset: BigInt(`0x${offset}`),
    dev,
    inode: BigInt(inode),
    path,
    deleted,
    vmFlags: [],
  };
}

/** Checks what every VMA satisfies: start < end, page-aligned, in ascending non-overlapping order. */
export function checkMapping(m: Mapping, prev: Mapping | undefined, source: string, line: number): void {
  if (m.start >= m.end) throw new ProcParseError(source, line, "mapping end not above start");
  if ((m.start | m.end) & 0xfffn) throw new ProcParseError(source, line, "mapping not page-aligned");
  if (prev !== undefined && m.start < prev.end) throw new ProcParseError(source, line, "mappings overlap or unsorted");
}

/** Parses the text of /proc/PID/maps; `source` names the file in errors. vmFlags stay empty. */
export function parseMaps(text: string, source = "maps"): Mapping[] {
  const out: Mapping[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line === "" && i === lines.length - 1) break;
    const m = parseMapsLine(line);
    if (m === undefined) throw new ProcParseError(source, i + 1, "not a maps line");
    checkMapping(m, out[out.length - 1], source, i + 1);
    out.push(m);
  }
  return out;
}

/** Mappings of a live process (vmFlags empty; see readMapsWithFlags in smaps.ts). */
export function readMaps(pid: number): Mapping[] {
  const path = `/proc/${pid}/maps`;
  return parseMaps(readProcText(path), path);
}

/** The mapping containing `addr`, by binary search over parseMaps output. */
export function findMapping(maps: readonly Mapping[], addr: bigint): Mapping | undefined {
  let lo = 0;
  let hi = maps.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid];
    if (m === undefined) return undefined;
    if (addr < m.start) hi = mid;
    else if (addr >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}
