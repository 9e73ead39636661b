// What a core_pattern helper does for itself before anything else: no core dump of its own (a
// crash of the handler must never start another handler), and fds 1 and 2 taken, so that no
// file opened later becomes stdout or stderr and receives a stray write.

import { ptr } from "bun:ffi";
import { fstatSync, openSync } from "node:fs";
import { SyscallError } from "../errors.ts";
import { errnoName } from "./errno.ts";
import { errno, libc } from "./libc.ts";

const PR_SET_DUMPABLE = 4;
const RLIMIT_CORE = 4;

/**
 * prctl(PR_SET_DUMPABLE, 0): the kernel dumps nothing of a process that is not dumpable. And
 * RLIMIT_CORE 1 (soft and hard), not 0: the kernel starts pipe helpers with 1 because it is the
 * one value that stops both kinds of dump (fs/coredump.c: a pipe pattern ignores the limit
 * except for 1, which it takes as a helper crashing; a file pattern needs more than 1 byte),
 * so a 0 would undo the kernel's own guard for pipe patterns.
 */
export function forbidCoreDumps(): void {
  if (libc.prctl(PR_SET_DUMPABLE, 0n, 0n, 0n, 0n) !== 0) {
    const e = errno();
    throw new SyscallError("prctl(PR_SET_DUMPABLE)", e, errnoName(e));
  }
  const one = new BigUint64Array([1n, 1n]);
  if (libc.setrlimit(RLIMIT_CORE, ptr(one)) !== 0) {
    const e = errno();
    throw new SyscallError("setrlimit(RLIMIT_CORE)", e, errnoName(e));
  }
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens /dev/null onto fds 0-2 where they are closed (Bun does this at start-up too; this makes
 * it a fact rather than a property of the runtime's version). open(2) takes the lowest free
 * number, so the loop stops once the opened fd lands above the ones that were free.
 */
export function occupyStdio(): void {
  for (const fd of [0, 1, 2]) {
    if (isOpen(fd)) continue;
    for (;;) {
      const got = openSync("/dev/null", "r+");
      if (got >= fd) break;
    }
  }
}
