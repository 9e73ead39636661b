// The output file: written under a temporary name in the target directory (O_EXCL, so a
// root process never follows or reuses someone else's file) and renamed over the final
// name only when complete, so a failed snapshot leaves nothing behind.

import { closeSync, existsSync, ftruncateSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { OutputError } from "../errors.ts";
import { errorCode } from "../sys/errno.ts";
import type { Sink } from "./write.ts";

function explain(path: string, e: unknown, doing: string): OutputError {
  const code = errorCode(e);
  const dir = dirname(path);
  const why: Record<string, string> = {
    ENOENT: `directory ${dir} does not exist`,
    EACCES: `directory ${dir} is not writable`,
    EPERM: `directory ${dir} is not writable`,
    EROFS: `${dir} is on a read-only file system`,
    ENOSPC: `no space left on the device of ${dir}`,
    EDQUOT: `disk quota exceeded in ${dir}`,
    EFBIG: `file too large for the file system of ${dir}`,
    ENOTDIR: `${dir} is not a directory`,
    EISDIR: `${path} is a directory`,
    EIO: `I/O error on ${dir}`,
  };
  // ENOENT with the directory present: a file system that cannot create files (procfs, sysfs).
  if (code === "ENOENT" && existsSync(dir)) why.ENOENT = `cannot create files in ${dir}`;
  const reason = (code && why[code]) ?? (e instanceof Error ? e.message : String(e));
  return new OutputError(path, `cannot ${doing} ${path}: ${reason}`, { cause: e });
}

export class AtomicFile implements Sink {
  readonly #fd: number;
  readonly tmpPath: string;
  #open = true;

  private constructor(readonly path: string, fd: number, tmpPath: string) {
    this.#fd = fd;
    this.tmpPath = tmpPath;
  }

  static create(path: string, mode = 0o600): AtomicFile {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      // Not there yet: the normal case.
    }
    if (isDir) throw new OutputError(path, `cannot write ${path}: it is a directory`);
    const tmpPath = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
    try {
      return new AtomicFile(path, openSync(tmpPath, "wx", mode), tmpPath);
    } catch (e) {
      throw explain(path, e, "write");
    }
  }

  write(bytes: Uint8Array, offset: number): void {
    try {
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(this.#fd, bytes, done, bytes.byteLength - done, offset + done);
    } catch (e) {
      throw explain(this.path, e, "write");
    }
  }

  finish(length: number): void {
    try {
      ftruncateSync(this.#fd, length);
    } catch (e) {
      throw explain(this.path, e, "write");
    }
  }

  /**
   * Close and rename into place. No fsync: like the kernel's own core dumps and gcore, the
   * file is left to the page cache (an fsync of a GiB costs more than the whole snapshot);
   * the rename still guarantees that no reader ever sees a partial file under the name.
   */
  commit(): void {
    try {
      closeSync(this.#fd);
      this.#open = false;
      renameSync(this.tmpPath, this.path);
    } catch (e) {
      this.abort();
      throw explain(this.path, e, "write");
    }
  }

  /** Close and remove the temporary file; safe to call more than once. */
  abort(): void {
    if (this.#open) {
      this.#open = false;
      try {
        closeSync(this.#fd);
      } catch {
        // Already failing: the unlink below is what matters.
      }
    }
    try {
      unlinkSync(this.tmpPath);
    } catch {
      // Gone already (renamed or never created).
    }
  }
}
