// The one dlopen of libc (docs/DESIGN.md "Facts"): exact C signatures, nothing else. Target
// addresses are u64 values, never pointers; only our own buffers become `ptr`.
// The library is the C library this process already runs on (libcPath: glibc's libc.so.6, or
// musl's loader, which doubles as its libc), so errno and everything else are that library's.

import { dlopen, toArrayBuffer } from "bun:ffi";
import { readFileSync } from "node:fs";

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
  // int prctl(int option, ...): variadic, but integer arguments only, as ptrace above.
  prctl: { args: ["i32", "u64", "u64", "u64", "u64"], returns: "i32" },
  setrlimit: { args: ["i32", "ptr"], returns: "i32" },
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
  alarm: { args: ["u32"], returns: "u32" },
  // int ioctl(int fd, unsigned long request, ...): one pointer argument here (PAGEMAP_SCAN).
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
} as const;

const CANDIDATES = ["libc.so.6", "libc.musl-x86_64.so.1", "/lib/ld-musl-x86_64.so.1"];

/** A C library's file name: glibc's libc.so.6, musl's libc.musl-<arch>.so.1 / ld-musl-<arch>.so.1 / libc.so. */
const LIBC_NAME = /\/(libc\.so\.6|libc\.musl-[\w-]+\.so\.1|ld-musl-[\w-]+\.so\.1|libc\.so)$/;

/**
 * The C library mapped into this process, from the text of /proc/self/maps: the runtime itself
 * is linked against it, so opening that very file cannot pick a second, different libc (a glibc
 * compatibility libc.so.6 on a musl system, say).
 */
export function libcPath(maps: string): string | undefined {
  for (const line of maps.split("\n")) {
    const path = line.split(/\s+/).slice(5).join(" ");
    if (LIBC_NAME.test(path)) return path;
  }
  return undefined;
}

function mappedLibc(): string | undefined {
  try {
    return libcPath(readFileSync("/proc/self/maps", "utf8"));
  } catch {
    return undefined; // no /proc: fall back to the names
  }
}

function open() {
  const failures: string[] = [];
  const mapped = mappedLibc();
  for (const name of mapped ? [mapped, ...CANDIDATES] : CANDIDATES) {
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

