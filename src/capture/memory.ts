// MemoryReader for a live (ptrace-stopped) process: process_vm_readv first, because it is
// the fastest path; /proc/PID/mem for pages it refuses (PROT_NONE, guard pages: the kernel
// reads those with FOLL_FORCE); a short count where neither can read is a hole.

import type { MemoryReader } from "../model/image.ts";
import { ProcMem, readRanges } from "../sys/vm.ts";

export class LiveMemory implements MemoryReader {
  #procMem: ProcMem | undefined;
  constructor(readonly pid: number) {}

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
      if (m === 0) break;
    }
    return done;
  }

  close(): void {
    this.#procMem?.close();
    this.#procMem = undefined;
  }
}
