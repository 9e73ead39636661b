// The executable's own ELF file, opened through /proc/PID/exe (which works even when the
// path was deleted or replaced). The file is untrusted: ElfFile bounds it. A malformed or
// unreadable executable costs the facts it would have given, never the snapshot.

import { ElfFile } from "../elf/reader.ts";
import { FileSource } from "../elf/source.ts";
import { ET_EXEC, PT_INTERP } from "../elf/consts.ts";
import type { ExeInfo } from "../ecfs/sections.ts";

export interface ExeProbe {
  info: ExeInfo;
  /** The parsed file, open until close(); absent when it could not be read. */
  file?: ElfFile;
  /** Why the facts are guesses, when the file could not be read. */
  problem?: string;
  close(): void;
}

export function probeExe(path: string): ExeProbe {
  let src: FileSource | undefined;
  try {
    src = FileSource.open(path);
    const file = ElfFile.open(src);
    const h = file.header;
    const opened = src;
    return {
      info: {
        eType: h.e_type,
        entry: h.e_entry,
        hasInterp: file.programs().some((p) => p.p_type === PT_INTERP),
        strippedShdrs: h.e_shnum === 0 || h.e_shoff === 0n,
      },
      file,
      close: () => opened.close(),
    };
  } catch (e) {
    src?.close();
    return {
      info: { eType: ET_EXEC, entry: 0n, hasInterp: true, strippedShdrs: false },
      problem: `cannot read the executable ${path}: ${e instanceof Error ? e.message : String(e)}`,
      close: () => {},
    };
  }
}
