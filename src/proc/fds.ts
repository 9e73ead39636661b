// Trust model: fd links and fdinfo are kernel text, but link targets name files the target chose
// and the table changes under us; an fd that vanishes mid-walk is skipped, anything else is thrown.

import { ProcParseError } from "../errors.ts";
import { hasErrno, numericEntries, readProcLink, readProcText } from "./read.ts";

export interface FdEntry {
  fd: number;
  /** readlink of /proc/PID/fd/N: a path (maybe " (deleted)"), "pipe:[ino]", "socket:[ino]", "anon_inode:[eventfd]", ... */
  target: string;
  /** File position (loff_t, 64-bit). */
  pos: bigint;
  /** f_flags | O_CLOEXEC if close-on-exec, from the octal "flags:" line. */
  flags: number;
  mntId?: number;
  ino?: bigint;
}

export interface FdInfo {
  pos: bigint;
  flags: number;
  mntId?: number;
  ino?: bigint;
}

/** Parses /proc/PID/fdinfo/N (seq_show() in fs/proc/fd.c); type-specific lines after these are ignored. */
export function parseFdinfo(text: string, source = "fdinfo"): FdInfo {
  let pos: bigint | undefined;
  let flags: number | undefined;
  const out: Partial<FdInfo> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\w+):\s*(.*)$/.exec(lines[i] ?? "");
    if (m === null) continue;
    const [, key, value = ""] = m;
    const bad = (): never => {
      throw new ProcParseError(source, i + 1, `${key}: bad value "${value}"`);
    };
    if (key === "pos" && pos === undefined) pos = /^\d+$/.test(value) ? BigInt(value) : bad();
    else if (key === "flags" && flags === undefined) flags = /^[0-7]{1,11}$/.test(value) ? Number.parseInt(value, 8) : bad();
    else if (key === "mnt_id" && out.mntId === undefined) out.mntId = /^\d+$/.test(value) ? Number(value) : bad();
    else if (key === "ino" && out.ino === undefined) out.ino = /^\d+$/.test(value) ? BigInt(value) : bad();
  }
  if (pos === undefined) throw new ProcParseError(source, 0, "no pos field");
  if (flags === undefined) throw new ProcParseError(source, 0, "no flags field");
  return { ...out, pos, flags };
}

/**
 * Open fds of a process in ascending order. An fd closed between readdir and readlink/fdinfo
 * (ENOENT while the process still exists) is skipped; a gone process is ESRCH from read.ts.
 */
export function readFds(pid: number): FdEntry[] {
  const out: FdEntry[] = [];
  for (const fd of numericEntries(`/proc/${pid}/fd`)) {
    let target: string;
    let info: FdInfo;
    try {
      target = readProcLink(`/proc/${pid}/fd/${fd}`);
      const path = `/proc/${pid}/fdinfo/${fd}`;
      info = parseFdinfo(readProcText(path), path);
    } catch (e) {
      if (hasErrno(e, "ENOENT")) continue;
      throw e;
    }
    out.push({ fd, target, ...info });
  }
  return out;
}
