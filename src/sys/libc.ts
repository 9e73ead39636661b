// The one dlopen of libc (docs/DESIGN.md "Facts"): exact C signatures, nothing else. Target
// addresses are u64 values, never pointers; only our own buffers become `ptr`.
// glibc names itself libc.so.6; musl's dynamic loader doubles as its libc.

import { dlopen, toArrayBuffer } from "bun:ffi";

const SYMBOLS = {
  // long ptrace(enum __ptrace_request, pid_t, void *addr, void *data): variadic in glibc,
  // but every argument is an integer register, so a fixed 4-argument call is ABI-safe.
  ptrace: { args: ["i64", "i32", "u64", "u64"], returns: "i64" },
  waitpid: { args: ["i32", "ptr", "i32"], returns: "i32" },
  process_vm_readv: { args: ["i32", "ptr", "u64", "ptr", "u64", "u64"], returns: "i64" },
  pread: { args: ["i32", "ptr", "u64", "i64"], returns: "i64" },
  kill: { args: ["i32", "i32"], returns: "i32" },
  // int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags):
  // node:fs has no way to give an O_TMPFILE file a name.
  linkat: { args: ["i32", "ptr", "i32", "ptr", "i32"], returns: "i32" },
  getpid: { args: [], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

const CANDIDATES = ["libc.so.6", "libc.musl-x86_64.so.1", "/lib/ld-musl-x86_64.so.1"];

function open() {
  const failures: string[] = [];
  for (const name of CANDIDATES) {
    try {
      return dlopen(name, SYMBOLS);
    } catch (e) {
      failures.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`cannot load the C library (${failures.join("; ")})`);
}

const lib = open();
export const libc = lib.symbols;

let errnoView: Int32Array | undefined;

/** errno is thread-local: resolve its address once (we only ever call libc from the JS thread). */
function errnoCell(): Int32Array {
  if (errnoView === undefined) {
    const p = libc.__errno_location();
    if (p === null) throw new Error("__errno_location returned NULL");
    errnoView = new Int32Array(toArrayBuffer(p, 0, 4));
  }
  return errnoView;
}

/** errno of the calling thread; read it right after the failing call, before any other. */
export function errno(): number {
  return errnoCell()[0] ?? 0;
}

