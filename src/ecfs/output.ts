// The output file: written as an unnamed O_TMPFILE in the target directory and linked under
// its name only when complete, so a failed snapshot leaves nothing behind, even one killed by
// SIGKILL. Where the file system has no O_TMPFILE, a temporary name (O_EXCL, so a root process
// never follows or reuses someone else's file) linked or renamed to the final name does the
// same, except that a SIGKILL leaves the temporary file. Which names may be written at all is
// ecfs/outpath.ts's rule; without `force` the final name is only ever linked, never replaced.

import { closeSync, constants, existsSync, ftruncateSync, linkSync, lstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { errorCode, OutputError } from "../errors.ts";

import { linkFd, O_TMPFILE } from "../sys/fs.ts";
import { checkOutputPath, kernelFileSystem } from "./outpath.ts";
import type { ReadableSink } from "./write.ts";

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
    EEXIST: `${path} appeared while it was being written (--force replaces it)`,
    ENOTSUP: `the file system of ${dir} cannot hold files`,
    EOPNOTSUPP: `the file system of ${dir} cannot hold files`,
  };
  // procfs, sysfs and the like refuse a new file with EACCES, ENOENT or ENOTSUP even to root:
  // the file system is the cause, not the directory's permissions (nor a socket, as Bun's
  // text for ENOTSUP has it).
  const fs = code === "EEXIST" || code === "ENOSPC" ? undefined : kernelFileSystem(dir);
  if (fs) why[code ?? ""] = `${dir} is on ${fs}, a kernel file system that holds no files`;
  else if (code === "ENOENT" && existsSync(dir)) why.ENOENT = `cannot create files in ${dir}`;
  // Never Bun's own message: its errno texts can name the wrong cause.
  const reason = (code && why[code]) ?? code ?? (e instanceof Error ? e.message : String(e));
  return new OutputError(path, `cannot ${doing} ${path}: ${reason}`, { cause: e });
}

/** File systems without O_TMPFILE say so with one of these (open(2); Bun names 95 ENOTSUP). */
const NO_TMPFILE = new Set(["EOPNOTSUPP", "ENOTSUP", "EISDIR", "EINVAL"]);

const tempName = (path: string): string => join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);

export class AtomicFile implements ReadableSink {
  readonly #fd: number;
  #open = true;

  /** `tmpPath`: the temporary name while writing, or undefined for an unnamed O_TMPFILE file. */
  private constructor(readonly path: string, fd: number, readonly tmpPath: string | undefined, readonly force: boolean) {
    this.#fd = fd;
  }

  /**
   * OutputError at once if `path` may not be written (ecfs/outpath.ts): an existing regular
   * file only with `force`. `unnamed: false` skips O_TMPFILE and uses the temporary name from the start.
   * `suffixed`: the file will be named by commitNew, which takes `path` or the first free
   * `path.N` and never replaces or follows anything, so whatever is at `path` now is no reason
   * to refuse (the crash handler's cores directory).
   */
  static create(path: string, mode = 0o600, { unnamed = true, force = false, suffixed = false }: { unnamed?: boolean; force?: boolean; suffixed?: boolean } = {}): AtomicFile {
    if (!suffixed) checkOutputPath(path, force);
    const dir = dirname(path);
    try {
      // Naming it later goes through /proc/self/fd; without /proc, use a temporary name.
      // Read and write: the sections are planned from the memory image read back (ecfs/copied.ts).
      if (unnamed && existsSync("/proc/self/fd")) return new AtomicFile(path, openSync(dir, O_TMPFILE | constants.O_RDWR, mode), undefined, force);
    } catch (e) {
      if (!NO_TMPFILE.has(errorCode(e) ?? "")) throw explain(path, e, "write");
    }
    const tmpPath = tempName(path);
    try {
      return new AtomicFile(path, openSync(tmpPath, "wx+", mode), tmpPath, force);
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

  /** What was written at `offset` (holes read as zeros); short only at the end of the file. */
  read(dst: Uint8Array, offset: number): number {
    try {
      let done = 0;
      while (done < dst.byteLength) {
        const n = readSync(this.#fd, dst, done, dst.byteLength - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    } catch (e) {
      throw explain(this.path, e, "read back");
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
   * Name the file and close it. No fsync: like the kernel's own core dumps and gcore, the
   * file is left to the page cache (an fsync of a GiB costs more than the whole snapshot);
   * the link or rename still guarantees that no reader ever sees a partial file under the name.
   * link(2) never replaces a name, and rename(2) replaces a symbolic link, never its target.
   */
  commit(): void {
    let named: string | undefined;
    try {
      if (this.tmpPath === undefined) {
        try {
          linkFd(this.#fd, this.path);
          named = this.path;
        } catch (e) {
          if (errorCode(e) !== "EEXIST" || !this.force) throw e;
          // Replace only what --force was given for: a regular file (the name may have changed since create).
          this.#checkReplaceable();
          named = tempName(this.path);
          linkFd(this.#fd, named);
          renameSync(named, this.path);
          named = this.path;
        }
        this.#open = false;
        closeSync(this.#fd); // a late write error (NFS) shows here, and undoes the name below
      } else {
        this.#open = false;
        closeSync(this.#fd);
        if (this.force) {
          this.#checkReplaceable();
          renameSync(this.tmpPath, this.path);
        } else {
          linkSync(this.tmpPath, this.path);
          unlinkQuietly(this.tmpPath);
        }
      }
    } catch (e) {
      if (e instanceof OutputError) {
        this.abort();
        throw e;
      }
      if (named !== undefined) unlinkQuietly(named);
      this.abort();
      throw explain(this.path, e, "write");
    }
  }

  #checkReplaceable(): void {
    let st;
    try {
      st = lstatSync(this.path);
    } catch {
      return; // gone meanwhile: nothing to replace
    }
    if (!st.isFile()) checkOutputPath(this.path, true);
  }

  /**
   * Name the file without replacing anything (linkNew); closes it and returns the name given.
   */
  commitNew(maxSuffix = 999): string {
    try {
      const name = this.tmpPath === undefined ? linkNew(this.path, (p) => linkFd(this.#fd, p), maxSuffix) : linkNew(this.path, (p) => linkSync(this.tmpPath!, p), maxSuffix);
      this.abort(); // the data stays under its name; the descriptor and any temporary name go
      return name;
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Close and remove what was written; safe to call more than once. */
  abort(): void {
    this.#close();
    // An O_TMPFILE file vanishes with its last descriptor.
    if (this.tmpPath !== undefined) unlinkQuietly(this.tmpPath);
  }

  #close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      closeSync(this.#fd);
    } catch {
      // Already failing or discarding: the file is dropped either way.
    }
  }
}

/**
 * Give a file the name `path`, else `path.1`, `path.2`, ... up to maxSuffix, through `link`
 * (linkat(2) or link(2): both fail with EEXIST on any existing name, a symlink included, and
 * never follow the new name), so nothing is ever replaced or written through. Returns the name.
 */
export function linkNew(path: string, link: (name: string) => void, maxSuffix = 999): string {
  for (let i = 0; i <= maxSuffix; i++) {
    const name = i === 0 ? path : `${path}.${i}`;
    try {
      link(name);
      return name;
    } catch (e) {
      if (errorCode(e) === "EEXIST") continue;
      throw explain(path, e, "write");
    }
  }
  throw new OutputError(path, `cannot write ${path}: it and ${maxSuffix} suffixed names exist already`);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already (renamed or never created).
  }
}
