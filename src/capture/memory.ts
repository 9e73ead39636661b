// MemoryReader for a live (ptrace-stopped) process: process_vm_readv first, because it is
// the fastest path; /proc/PID/mem for pages it refuses (PROT_NONE, guard pages: the kernel
// reads those with FOLL_FORCE); a short count where neither can read is a hole. Pages of
// private anonymous memory that were never populated are reported (dataRuns) so that they are
// not read at all.

import type { MemoryReader } from "../model/image.ts";
import { SyscallError } from "../errors.ts";
import { type PageRun, UnpopulatedPages } from "../proc/pagemap.ts";
import { hasExited } from "../proc/stat.ts";
import { ESRCH } from "../sys/errno.ts";
import { ProcMem, readRanges } from "../sys/vm.ts";

/** Pages of one unreadable run between liveness checks: a check reads /proc/PID/stat. */
const CHECK_EVERY = 256;

export class LiveMemory implements MemoryReader {
  #procMem: ProcMem | undefined;
  /** Where the last hole ended, and how many holes in a row have ended there. */
  #holeEnd = -1n;
  #holeRun = 0;
  readonly #unpopulated: UnpopulatedPages;
  /** `anonymous`: the process's private anonymous mappings, whose unpopulated pages are not read. */
  constructor(readonly pid: number, anonymous: readonly PageRun[] = []) {
    this.#unpopulated = new UnpopulatedPages(pid, anonymous);
  }

  dataRuns(addr: bigint, len: number): PageRun[] {
    return this.#unpopulated.dataRuns(addr, len);
  }

  read(addr: bigint, dst: Uint8Array): number {
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
    return readRanges(this.pid, ranges, dst);
  }

  close(): void {
    this.#procMem?.close();
    this.#procMem = undefined;
    this.#unpopulated.close();
  }
}
