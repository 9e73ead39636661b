// The file behind a mapping, opened for the patched-code and lazy-GOT checks. A path in
// /proc/PID/maps is only a name: the file there may have been replaced, deleted or be a memfd.
// So a file counts only when its device and inode are the mapping's (README, "Heuristics"):
// first the path itself, then /proc/PID/map_files/START-END, which opens the very file the
// kernel mapped (deleted files and memfds included) while the process exists. Reads then go
// through FileSource, bounded by the file's length.

import type { BigIntStats } from "node:fs";
import { FileSource } from "../../elf/source.ts";
import type { Mapping } from "../../model/image.ts";

/** "fe:01" as /proc/PID/maps prints it (major:minor, hex) -> [major, minor]. */
export function parseDev(dev: string): [bigint, bigint] | undefined {
  const m = /^([0-9a-f]+):([0-9a-f]+)$/i.exec(dev);
  return m ? [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)] : undefined;
}

/** st_dev as the kernel encodes it for stat (huge_encode_dev) -> [major, minor]. */
export function splitDev(dev: bigint): [bigint, bigint] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [major, minor];
}

/** Whether a stat result is the file a mapping maps: same device and inode. */
export function sameFile(st: BigIntStats, m: Mapping): boolean {
  const want = parseDev(m.dev);
  if (!want || st.ino !== m.inode) return false;
  const [major, minor] = splitDev(st.dev);
  return major === want[0] && minor === want[1];
}

/** The identity of a file-backed mapping, as a map key. */
export const fileKey = (m: Mapping): string => `${m.dev}/${m.inode}`;

/** Opens files behind mappings once per (device, inode); close() releases them all. */
export class MappedFiles {
  readonly #open = new Map<string, FileSource | undefined>();
  /** Why a file could not be opened, per (device, inode), for the report. */
  readonly failures = new Map<string, string>();

  constructor(readonly pid: number | undefined) {}

  /** The file `m` maps, or undefined (anonymous, unreadable, or no candidate has its identity). */
  open(m: Mapping): FileSource | undefined {
    if (m.inode === 0n) return undefined;
    const key = fileKey(m);
    if (this.#open.has(key)) return this.#open.get(key);
    const candidates: string[] = [];
    if (!m.deleted && m.path.startsWith("/")) candidates.push(m.path);
    if (this.pid !== undefined) candidates.push(`/proc/${this.pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`);
    let found: FileSource | undefined;
    const why: string[] = [];
    for (const c of candidates) {
      try {
        found = FileSource.openIf(c, (st) => sameFile(st, m));
        if (found) break;
        why.push(`${c}: another file (device or inode differ)`);
      } catch (e) {
        why.push(`${c}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (!found) this.failures.set(key, why.join("; ") || "no path to open");
    this.#open.set(key, found);
    return found;
  }

  close(): void {
    for (const f of this.#open.values()) f?.close();
    this.#open.clear();
  }
}
