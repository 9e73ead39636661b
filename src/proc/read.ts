// Trust model: /proc files are made by the kernel but their size is not known up front (stat says 0)
// and parts of them are chosen by the target; every read is capped, and fs errors become SyscallError.

import { closeSync, openSync, readdirSync, readlinkSync, readSync, statSync } from "node:fs";
import { constants } from "node:os";
import { ProcParseError, SyscallError } from "../errors.ts";

/** Default cap for one /proc file: far above a maps file at vm.max_map_count (65530 lines x ~200 bytes). */
export const PROC_READ_MAX = 64 * 1024 * 1024;
/** smaps prints ~25 lines per mapping, so it gets a larger cap. */
export const PROC_SMAPS_MAX = 256 * 1024 * 1024;

const CHUNK = 64 * 1024;
const ERRNO: Record<string, number | undefined> = constants.errno as Record<string, number>;

/** The pid a /proc path is about, for error messages and the "process gone" check. */
function pidOf(path: string): number | undefined {
  const m = /^\/proc\/(\d+)(?:\/|$)/.exec(path);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function procExists(pid: number): boolean {
  try {
    statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/**
 * Turns a node:fs error on `path` into a SyscallError. ENOENT under /proc/PID while /proc/PID
 * itself is gone becomes ESRCH, so callers can tell "no such process" from "no such fd".
 */
export function procError(e: unknown, call: string, path: string): Error {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return e instanceof Error ? e : new Error(String(e));
  const pid = pidOf(path);
  if (code === "ENOENT" && pid !== undefined && !procExists(pid))
    return new SyscallError(`${call} ${path}`, ERRNO.ESRCH ?? 3, "ESRCH", pid);
  return new SyscallError(`${call} ${path}`, ERRNO[code] ?? 0, code, pid);
}

/** A SyscallError with this errno name (ENOENT, EACCES, ...). */
export function hasErrno(e: unknown, code: string): e is SyscallError {
  return e instanceof SyscallError && e.code === code;
}

/**
 * Reads a /proc file to EOF in chunks (seq_file hands out about a page per read), growing the
 * buffer by doubling but never past `max` bytes; a longer file is a ProcParseError.
 */
export function readProcFile(path: string, max = PROC_READ_MAX): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw procError(e, "open", path);
  }
  try {
    let buf = new Uint8Array(Math.min(CHUNK, max + 1));
    let len = 0;
    for (;;) {
      if (len === buf.byteLength) {
        if (len > max) throw new ProcParseError(path, 0, `longer than ${max} bytes`);
        const grown = new Uint8Array(Math.min(buf.byteLength * 2, max + 1));
        grown.set(buf);
        buf = grown;
      }
      let n: number;
      try {
        n = readSync(fd, buf, len, buf.byteLength - len, null);
      } catch (e) {
        throw procError(e, "read", path);
      }
      if (n === 0) break;
      len += n;
    }
    if (len > max) throw new ProcParseError(path, 0, `longer than ${max} bytes`);
    return buf.subarray(0, len);
  } finally {
    closeSync(fd);
  }
}

const decoder = new TextDecoder();

/** readProcFile decoded as UTF-8 (invalid bytes in target-chosen names become U+FFFD). */
export function readProcText(path: string, max = PROC_READ_MAX): string {
  return decoder.decode(readProcFile(path, max));
}

/** readlink of a /proc symlink (exe, fd/N, cwd), errors mapped as for reads. */
export function readProcLink(path: string): string {
  try {
    return readlinkSync(path, "utf8");
  } catch (e) {
    throw procError(e, "readlink", path);
  }
}

/** Names in a /proc directory (fd, task), errors mapped as for reads. */
export function readProcDir(path: string): string[] {
  try {
    return readdirSync(path, "utf8");
  } catch (e) {
    throw procError(e, "readdir", path);
  }
}

/** Directory entries that are decimal numbers (pids, tids, fds), ascending. */
export function numericEntries(path: string): number[] {
  const out: number[] = [];
  for (const name of readProcDir(path)) if (/^\d+$/.test(name)) out.push(Number(name));
  return out.sort((a, b) => a - b);
}
