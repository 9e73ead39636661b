// The executable's own ELF file, opened through /proc/PID/exe (which works even when the
// path was deleted or replaced): its section headers and symbol table, which the process
// does not map. The file is untrusted: ElfFile bounds it. A malformed or unreadable file
// costs the sections it would have given, never the snapshot.

import { ElfFile } from "../elf/reader.ts";
import { FileSource } from "../elf/source.ts";

export interface ExeFile {
  /** The parsed file, open until close(); absent when it could not be read. */
  file?: ElfFile;
  /** Why there is no file. */
  problem?: string;
  close(): void;
}

export function openExe(path: string): ExeFile {
  let src: FileSource | undefined;
  try {
    src = FileSource.open(path);
    const file = ElfFile.open(src);
    const opened = src;
    return { file, close: () => opened.close() };
  } catch (e) {
    src?.close();
    return { problem: `cannot read the executable ${path}: ${e instanceof Error ? e.message : String(e)}`, close: () => {} };
  }
}
