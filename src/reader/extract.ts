// `ecfs read -O SECTION OUTFILE`: a section's bytes copied to a file in fixed chunks, so a
// large memory section (.heap, a library's text) never sits in memory whole. The section's
// extent is checked against the file first (elf/reader.ts sectionRange). The output goes
// through the snapshot's AtomicFile: the same rule on which names may be written
// (ecfs/outpath.ts), and a complete file or none.

import { AtomicFile } from "../ecfs/output.ts";
import type { EcfsFile } from "./ecfs.ts";
import { EcfsError } from "../errors.ts";

const CHUNK = 1 << 20;

/** Writes section `name` to `out` (a new name, or a regular file with `force`); returns the byte count. */
export function extractSection(f: EcfsFile, name: string, out: string, force = false): { section: string; path: string; size: number } {
  const sh = f.section(name);
  if (!sh) throw new EcfsError(f.path, `no section named ${JSON.stringify(name)}`);
  const { offset, size } = f.elf.sectionRange(sh);
  const file = AtomicFile.create(out, 0o644, { force });
  try {
    for (let done = 0; done < size; done += CHUNK) {
      const n = Math.min(CHUNK, size - done);
      file.write(f.elf.src.read(offset + done, n, `section ${name}`), done);
    }
    file.finish(size);
    file.commit();
  } catch (e) {
    file.abort();
    throw e;
  }
  return { section: name, path: out, size };
}
