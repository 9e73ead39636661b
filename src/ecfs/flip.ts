// et_flip: toggle e_type (offset 16, both classes) between ET_NONE and ET_CORE in place.
// Only an ECFS file is changed (ET_NONE or ET_CORE with a .personality section, as the
// reader checks it): et_flip turned any ELF into ET_NONE, so `flip /bin/ls` broke ls.
// The check and the write go through one descriptor, so they are about the same file.

import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { EcfsError, ElfFormatError, errorCode, OutputError } from "../errors.ts";
import { ET_CORE, ET_NONE } from "../elf/consts.ts";
import { type ByteSource, checkRange } from "../elf/source.ts";
import { EcfsFile } from "../reader/ecfs.ts";

/** Positioned reads on a descriptor we keep open for the write. */
class FdSource implements ByteSource {
  constructor(readonly fd: number, readonly length: number) {}
  read(off: number, n: number, what?: string): Uint8Array {
    checkRange(this.length, off, n, what);
    const out = new Uint8Array(n);
    for (let done = 0; done < n; ) {
      const got = readSync(this.fd, out, done, n - done, off + done);
      if (got === 0) throw new EcfsError("", `${what ?? "read"}: file truncated while reading`);
      done += got;
    }
    return out;
  }
}

export function flipFile(path: string): { from: number; to: number } {
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (e) {
    const code = errorCode(e);
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code);
    throw new OutputError(path, `cannot open ${path}: ${why}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new EcfsError(path, "not a regular file; flip changes only ECFS files");
    let from: number;
    try {
      from = EcfsFile.fromSource(new FdSource(fd, st.size), path).elf.header.e_type;
    } catch (e) {
      // "not an ELF file", "not an ECFS file (e_type ET_DYN; ...)", malformed headers.
      if (!(e instanceof EcfsError || e instanceof ElfFormatError)) throw e;
      const what = e instanceof EcfsError ? e.what : `not an ECFS file (malformed ELF data: ${e.message})`;
      throw new EcfsError(path, `${what}; flip changes only ECFS files, nothing was written`, { cause: e });
    }
    const to = from === ET_NONE ? ET_CORE : ET_NONE;
    writeSync(fd, new Uint8Array([to & 0xff, to >> 8]), 0, 2, 16);
    return { from, to };
  } finally {
    closeSync(fd);
  }
}
