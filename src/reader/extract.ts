// `ecfs read -O SECTION OUTFILE`: a section's bytes copied to a file in fixed chunks, so a
// large memory section (.heap, a library's text) never sits in memory whole. The section's
// extent is checked against the file first (elf/reader.ts sectionRange).

import { closeSync, openSync, writeSync } from "node:fs";
import { OutputError } from "../errors.ts";
import { errorCode } from "../sys/errno.ts";
import type { EcfsFile } from "./ecfs.ts";
import { EcfsError } from "../errors.ts";

const CHUNK = 1 << 20;

/** Writes section `name` to `out` (created or truncated); returns the byte count. */
export function extractSection(f: EcfsFile, name: string, out: string): { section: string; path: string; size: number } {
  const sh = f.section(name);
  if (!sh) throw new EcfsError(f.path, `no section named ${JSON.stringify(name)}`);
  const { offset, size } = f.elf.sectionRange(sh);
  let fd: number;
  try {
    fd = openSync(out, "w", 0o644);
  } catch (e) {
    const code = errorCode(e);
    const why = code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code);
    throw new OutputError(out, `cannot write ${out}: ${why}`, { cause: e });
  }
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(CHUNK, size - done);
      const bytes = f.elf.src.read(offset + done, n, `section ${name}`);
      for (let w = 0; w < n; ) w += writeSync(fd, bytes, w, n - w);
      done += n;
    }
  } catch (e) {
    if (errorCode(e) === "ENOSPC") throw new OutputError(out, `cannot write ${out}: disk full`, { cause: e });
    throw e;
  } finally {
    closeSync(fd);
  }
  return { section: name, path: out, size };
}
