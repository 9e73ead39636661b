// The /proc files whose text our ptrace stop changes, read while the target still runs, so
// that .procfs.tgz (procfs.ts) shows the process as it ran. Trust model: the texts are the
// kernel's, their number is the target's doing (one set per thread): each file and the whole
// set are capped, and what does not fit is simply read later with the rest.

import { closeSync, openSync, readdirSync, readSync } from "node:fs";

/**
 * Files whose text a ptrace stop changes, matched against the path under /proc/PID: State
 * "t (tracing stop)" and TracerPid in status, the state letter in stat, ptrace_stop in wchan
 * and stack, the stop's system call in syscall.
 */
const STOP_SENSITIVE_FILES = ["status", "stat", "wchan", "stack", "syscall"];
export const STOP_SENSITIVE = new RegExp(`^(task/\\d+/)?(${STOP_SENSITIVE_FILES.join("|")})$`);
/** Longest stop-sensitive file kept from before the stop, and all of them together. */
const BEFORE_STOP_FILE_MAX = 64 * 1024;
const BEFORE_STOP_MAX = 8 * 1024 * 1024;

/** A whole small /proc file (read through `buf`), or undefined when it cannot be read or fills `buf`. */
function readSmall(abs: string, buf: Uint8Array): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(abs, "r");
  } catch {
    return undefined;
  }
  try {
    let len = 0;
    for (let n; len < buf.byteLength && (n = readSync(fd, buf, len, buf.byteLength - len, null)) > 0; ) len += n;
    return len === buf.byteLength ? undefined : buf.slice(0, len);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The stop-sensitive files of /proc/PID and of each of its tasks, read while the process runs
 * (just before it is stopped), keyed by their path under /proc/PID. What cannot be read, or
 * does not fit the budget, is left out: the walk reads it later as any other file.
 */
export function readBeforeStop(pid: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`).filter((t) => /^\d+$/.test(t));
  } catch {
    // Gone already, or no task list: the stop will say so.
  }
  let total = 0;
  const scratch = new Uint8Array(BEFORE_STOP_FILE_MAX);
  for (const dir of ["", ...tasks.map((t) => `task/${t}/`)]) {
    for (const f of STOP_SENSITIVE_FILES) {
      if (total + BEFORE_STOP_FILE_MAX > BEFORE_STOP_MAX) return out;
      const text = readSmall(`/proc/${pid}/${dir}${f}`, scratch);
      if (text === undefined) continue;
      out.set(`${dir}${f}`, text);
      total += text.byteLength;
    }
  }
  return out;
}
