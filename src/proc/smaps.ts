// Trust model: /proc/PID/smaps is kernel text; only the path column is target-chosen (see maps.ts).
// Entries are checked like maps lines, and VmFlags must be two-letter mnemonics.

import { ProcParseError } from "../errors.ts";
import type { Mapping } from "../model/image.ts";
import { checkMapping, parseMaps, parseMapsLine } from "./maps.ts";
import { PROC_SMAPS_MAX, readProcText } from "./read.ts";

/** VmFlags mnemonics (show_smap_vma_flags() in fs/proc/task_mmu.c) that decide core dump contents. */
export const VM_DONTDUMP = "dd";
export const VM_IO = "io";

const VMFLAGS_PREFIX = "VmFlags:";

/**
 * Parses /proc/PID/smaps into mappings with vmFlags filled. Each entry is a maps-format header
 * followed by "Key: value" lines, VmFlags last; a header without VmFlags keeps vmFlags = [].
 */
export function parseSmaps(text: string, source = "smaps"): Mapping[] {
  const out: Mapping[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line === "" && i === lines.length - 1) break;
    if (line.startsWith(VMFLAGS_PREFIX)) {
      const cur = out[out.length - 1];
      if (cur === undefined) throw new ProcParseError(source, i + 1, "VmFlags before any mapping");
      const flags = line.slice(VMFLAGS_PREFIX.length).trim().split(/ +/).filter((f) => f !== "");
      for (const f of flags) if (!/^[a-z0-9]{2}$/.test(f)) throw new ProcParseError(source, i + 1, `bad VmFlags entry "${f}"`);
      cur.vmFlags = flags;
      continue;
    }
    const m = parseMapsLine(line);
    if (m !== undefined) {
      checkMapping(m, out[out.length - 1], source, i + 1);
      out.push(m);
      continue;
    }
    // "Rss:  12 kB", "THPeligible:  0", "ProtectionKey:  0": fields we do not keep.
    if (!/^[A-Za-z_][A-Za-z0-9_]*:/.test(line)) throw new ProcParseError(source, i + 1, "not an smaps line");
    if (out.length === 0) throw new ProcParseError(source, i + 1, "field before any mapping");
  }
  return out;
}

/**
 * Mappings of a live process with their VmFlags. Reads smaps alone (its headers are maps lines),
 * so the list and the flags come from one walk of the VMA tree and cannot disagree.
 */
export function readMapsWithFlags(pid: number): Mapping[] {
  return readSmaps(pid).mappings;
}

/**
 * The mappings with their flags and, from the same read, the text of /proc/PID/maps (the
 * smaps headers are its lines, as the kernel prints them), so the two cannot disagree.
 */
export function readSmaps(pid: number): { mappings: Mapping[]; mapsText: string } {
  const path = `/proc/${pid}/smaps`;
  const text = readProcText(path, PROC_SMAPS_MAX);
  const mappings = parseSmaps(text, path);
  const headers = text.split("\n").filter((l) => l !== "" && parseMapsLine(l) !== undefined);
  return { mappings, mapsText: headers.length ? `${headers.join("\n")}\n` : "" };
}

/** The VmFlags of each mapping, by its maps line (an smaps header is that same line). */
export type FlagsByLine = Map<string, string[]>;

/**
 * smaps read ahead, while the process still runs: reading it walks every page table of the
 * process (20-25 ms for 4 GiB of touched memory, against 0.1 ms for maps), which is no work for
 * the time it is stopped. undefined when it cannot be read (readMappings then reads it itself).
 */
export function readFlagsAhead(pid: number): FlagsByLine | undefined {
  try {
    const { mappings, mapsText } = readSmaps(pid);
    const lines = mapsText.split("\n");
    return new Map(mappings.map((m, i) => [lines[i]!, m.vmFlags]));
  } catch {
    return undefined;
  }
}

/**
 * The mappings as they are now, from /proc/PID/maps, with the VmFlags that `ahead` has for the
 * very same maps line. A mapping that is new or changed since (any field of its line) makes
 * this read smaps now instead. Flags changed by madvise on a whole unchanged mapping between the
 * two reads (MADV_DONTDUMP, MADV_DONTFORK, MADV_WIPEONFORK) are the one thing this can miss.
 */
export function readMappings(pid: number, ahead: FlagsByLine | undefined): { mappings: Mapping[]; mapsText: string } {
  if (ahead === undefined) return readSmaps(pid);
  const path = `/proc/${pid}/maps`;
  const mapsText = readProcText(path, PROC_SMAPS_MAX);
  const mappings = parseMaps(mapsText, path);
  const lines = mapsText.split("\n");
  for (let i = 0; i < mappings.length; i++) {
    const flags = ahead.get(lines[i]!);
    if (flags === undefined) return readSmaps(pid);
    mappings[i]!.vmFlags = flags;
  }
  return { mappings, mapsText };
}

/** Names of the VVAR areas on x86_64; used only when smaps was not read. */
const VVAR_NAMES = new Set(["[vvar]", "[vvar_vclock]"]);

/**
 * Whether a kernel core dump carries this mapping's contents. vma_dump_size() (fs/coredump.c)
 * gives 0 to VM_DONTDUMP areas, and VM_IO areas are either given 0 or, when always_dump_vma()
 * keeps them whole, written as zeros because get_dump_page() refuses VM_IO|VM_PFNMAP pages.
 *
 * On kernel 6.18 smaps shows "rd mr pf io de dd" for both [vvar] and [vvar_vclock]: they are not
 * dumpable. A real core still has PT_LOAD entries for them with p_filesz = the full size, but
 * every byte is zero (always_dump_vma() wins for named special mappings; measured). [vdso] is
 * "rd ex mr mw me de" and [vsyscall] just "ex": both dumpable.
 *
 * With empty vmFlags (smaps not read), only the VVAR names are known not to be dumpable.
 */
export function isDumpable(m: Mapping): boolean {
  if (m.vmFlags.length === 0) return !VVAR_NAMES.has(m.path);
  return !m.vmFlags.includes(VM_DONTDUMP) && !m.vmFlags.includes(VM_IO);
}
