// MemoryReader for a live (ptrace-stopped) process: process_vm_readv first, because it is
// the fastest path; /proc/PID/mem for pages it refuses (PROT_NONE, guard pages: the kernel
// reads those with FOLL_FORCE); a short count where neither can read is a hole. Pages of
// private anonymous memory that were never populated are reported (dataRuns) so that they are
// not read at all, and pages of file-backed mappings that are the file's are read from the file
// (capture/filepages.ts), without faulting them into the process.

import type { Mapping, MemoryReader } from "../model/image.ts";
import { FilePages, readFile } from "./filepages.ts";
import { SyscallError } from "../errors.ts";
import { type PageRun, UnpopulatedPages } from "../proc/pagemap.ts";
import { hasExited } from "../proc/stat.ts";
import { ESRCH } from "../sys/errno.ts";
import { ProcMem, readRanges } from "../sys/vm.ts";

/** IOV_MAX: the most ranges one process_vm_readv takes. */
const IOV_MAX = 1024;
/** Pages of one unreadable run between liveness checks: a check reads /proc/PID/stat. */
const CHECK_EVERY = 256;

export class LiveMemory implements MemoryReader {
  #procMem: ProcMem | undefined;
  /** Where the last hole ended, and how many holes in a row have ended there. */
  #holeEnd = -1n;
  #holeRun = 0;
  readonly #unpopulated: UnpopulatedPages;
  readonly #files: FilePages | undefined;
  /**
   * `anonymous`: the process's private anonymous mappings, whose unpopulated pages are not read;
   * `mappings`: all of them, for the file-backed pages read from their files.
   */
  constructor(readonly pid: number, anonymous: readonly PageRun[] = [], mappings?: readonly Mapping[]) {
    this.#unpopulated = new UnpopulatedPages(pid, anonymous);
    if (mappings) this.#files = new FilePages(pid, mappings);
  }

  dataRuns(addr: bigint, len: number): PageRun[] {
    return this.#unpopulated.dataRuns(addr, len);
  }

  read(addr: bigint, dst: Uint8Array): number {
    if (!this.#files) return this.#readProcess(addr, dst);
    let done = 0;
    for (const part of this.#files.split(addr, dst.byteLength)) {
      const len = Number(part.end - part.start);
      const sub = dst.subarray(done, done + len);
      let n = part.file ? readFile(part.file.fd, sub, part.file.offset) : 0;
      if (n < len) n += this.#readProcess(part.start + BigInt(n), sub.subarray(n));
      done += n;
      if (n < len) break;
    }
    return done;
  }

  /** Through the process: process_vm_readv, then /proc/PID/mem for what that refuses. */
  #readProcess(addr: bigint, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.byteLength) {
      const n = readRanges(this.pid, [{ addr: addr + BigInt(done), len: dst.byteLength - done }], dst.subarray(done));
      done += n;
      if (done >= dst.byteLength) break;
      // Refused (no read permission, a guard page): the kernel's FOLL_FORCE path may still read it.
      this.#procMem ??= new ProcMem(this.pid);
      const m = this.#procMem.read(addr + BigInt(done), dst.subarray(done));
      done += m;
      if (m === 0) {
        // A hole, or the process is gone (a zombie reads as nothing at all): only the latter is
        // fatal. The caller asks again one page on, so a long unreadable run is checked at its
        // first page and then every CHECK_EVERY pages; a death in its last stretch is no
        // different from one just after the snapshot.
        const at = addr + BigInt(done);
        this.#holeRun = at === this.#holeEnd ? this.#holeRun + 1 : 0;
        this.#holeEnd = (at | 0xfffn) + 1n;
        if (this.#holeRun % CHECK_EVERY === 0 && hasExited(this.pid))
          throw new SyscallError("process_vm_readv", ESRCH, "ESRCH", this.pid);
        break;
      }
    }
    return done;
  }

  readv(ranges: { addr: bigint; len: number }[], dst: Uint8Array): number {
    if (!this.#files) return readRanges(this.pid, ranges, dst);
    // The process's parts in one process_vm_readv per run of them, the files' parts in between.
    let done = 0;
    let batch: { addr: bigint; len: number }[] = [];
    let batchLen = 0;
    const flush = (): boolean => {
      if (batch.length === 0) return true;
      const n = readRanges(this.pid, batch, dst.subarray(done, done + batchLen));
      done += n;
      const whole = n === batchLen;
      batch = [];
      batchLen = 0;
      return whole;
    };
    for (const r of ranges) {
      for (const part of this.#files.split(r.addr, r.len)) {
        const len = Number(part.end - part.start);
        if (!part.file) {
          if (batch.length === IOV_MAX && !flush()) return done;
          batch.push({ addr: part.start, len });
          batchLen += len;
          continue;
        }
        if (!flush()) return done;
        const n = readFile(part.file.fd, dst.subarray(done, done + len), part.file.offset);
        done += n;
        if (n < len) return done;
      }
    }
    flush();
    return done;
  }

  close(): void {
    this.#files?.close();
    this.#procMem?.close();
    this.#procMem = undefined;
    this.#unpopulated.close();
  }
}
