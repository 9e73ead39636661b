// Reading another process's memory: process_vm_readv(2) with many remote iovecs per call,
// and /proc/PID/mem pread as the fallback for pages it refuses. Remote addresses go into
// iovec records as u64 values; only our own buffers are pointers.

import { ptr } from "bun:ffi";
import { openSync, closeSync } from "node:fs";
import { SyscallError } from "../errors.ts";
import { errno, libc } from "./libc.ts";
import { ESRCH, errnoName } from "./errno.ts";

/** IOV_MAX on Linux. */
const IOV_MAX = 1024;

export interface RemoteRange {
  addr: bigint;
  len: number;
}

/**
 * Read `ranges` of the target, back to back, into `dst`. Returns the bytes transferred;
 * the kernel stops at the first range it cannot read entirely, so a short count marks the
 * start of a hole. ESRCH (the process is gone) throws; EFAULT/EIO on the very first byte
 * returns 0.
 */
export function readRanges(pid: number, ranges: RemoteRange[], dst: Uint8Array): number {
  if (ranges.length === 0) return 0;
  if (ranges.length > IOV_MAX) throw new RangeError(`at most ${IOV_MAX} ranges per call`);
  let total = 0;
  for (const r of ranges) total += r.len;
  if (total > dst.byteLength) throw new RangeError("destination buffer too small");
  const local = new BigUint64Array([BigInt(ptr(dst)), BigInt(total)]);
  const remote = new BigUint64Array(ranges.length * 2);
  ranges.forEach((r, i) => {
    remote[2 * i] = r.addr;
    remote[2 * i + 1] = BigInt(r.len);
  });
  const n = libc.process_vm_readv(pid, ptr(local), 1n, ptr(remote), BigInt(ranges.length), 0n);
  if (n === -1n) {
    const e = errno();
    if (e === ESRCH) throw new SyscallError("process_vm_readv", e, errnoName(e), pid);
    return 0;
  }
  return Number(n);
}

/** /proc/PID/mem, opened once; it allows unsigned 64-bit offsets (FMODE_UNSIGNED_OFFSET). */
export class ProcMem {
  readonly #fd: number;
  constructor(readonly pid: number) {
    this.#fd = openSync(`/proc/${pid}/mem`, "r");
  }
  /** Bytes read from the start of dst; 0 when the page cannot be read. */
  read(addr: bigint, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.byteLength) {
      const n = libc.pread(this.#fd, ptr(dst, done), BigInt(dst.byteLength - done), BigInt.asIntN(64, addr + BigInt(done)));
      if (n <= 0n) break;
      done += Number(n);
    }
    return done;
  }
  close(): void {
    closeSync(this.#fd);
  }
}
