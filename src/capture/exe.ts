// The executable's own ELF headers, read from the file behind /proc/PID/exe (which works
// even when the path was deleted or replaced). The file is untrusted: ElfFile bounds it.
// A malformed or unreadable executable costs only these facts, never the snapshot.

import { ElfFile } from "../elf/reader.ts";
import { FileSource } from "../elf/source.ts";
import { ET_EXEC, PT_INTERP } from "../elf/consts.ts";
import type { ExeInfo } from "../ecfs/sections.ts";

export interface ExeProbe {
  info: ExeInfo;
  /** Why the facts are guesses, when the file could not be read. */
  problem?: string;
}

export function probeExe(path: string): ExeProbe {
  let src: FileSource | undefined;
  try {
    src = FileSource.open(path);
    const elf = ElfFile.open(src);
    const h = elf.header;
    return {
      info: {
        eType: h.e_type,
        entry: h.e_entry,
        hasInterp: elf.programs().some((p) => p.p_type === PT_INTERP),
        strippedShdrs: h.e_shnum === 0 || h.e_shoff === 0n,
      },
    };
  } catch (e) {
    return {
      info: { eType: ET_EXEC, entry: 0n, hasInterp: true, strippedShdrs: false },
      problem: `cannot read the executable ${path}: ${e instanceof Error ? e.message : String(e)}`,
    };
  } finally {
    src?.close();
  }
}
