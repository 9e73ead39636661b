// Trust model: cmdline, environ and comm are bytes the target wrote (even rewrote after exec);
// we return them raw and bounded, and parse only the kernel-formatted personality.

import { ProcParseError } from "../errors.ts";
import { numericEntries, readProcFile, readProcLink, readProcText } from "./read.ts";

/** cmdline/environ are capped: argv+envp at exec is limited, but a target may point arg_end far. */
export const ARGS_MAX = 16 * 1024 * 1024;

/** Raw /proc/PID/cmdline: argv NUL-separated (empty for kernel threads and zombies). */
export function readCmdline(pid: number): Uint8Array {
  return readProcFile(`/proc/${pid}/cmdline`, ARGS_MAX);
}

/** Raw /proc/PID/environ: NUL-separated NAME=value strings. */
export function readEnviron(pid: number): Uint8Array {
  return readProcFile(`/proc/${pid}/environ`, ARGS_MAX);
}

/** task->comm of the thread-group leader, without the trailing newline. */
export function readComm(pid: number): string {
  return readProcText(`/proc/${pid}/comm`, 4096).replace(/\n$/, "");
}

/** readlink /proc/PID/exe; " (deleted)" is kept as the kernel prints it (ProcessInfo.exe). */
export function readExeLink(pid: number): string {
  return readProcLink(`/proc/${pid}/exe`);
}

/** Thread ids of the process, ascending; the leader's tid equals pid unless it has exited. */
export function listTasks(pid: number): number[] {
  return numericEntries(`/proc/${pid}/task`);
}

/** /proc/PID/personality: "%08x\n" of task->personality (proc_pid_personality()). */
export function parsePersonality(text: string, source = "personality"): number {
  const t = text.trim();
  if (!/^[0-9a-f]{1,8}$/.test(t)) throw new ProcParseError(source, 1, `bad personality "${t}"`);
  return Number.parseInt(t, 16);
}

export function readPersonality(pid: number): number {
  const path = `/proc/${pid}/personality`;
  return parsePersonality(readProcText(path, 4096), path);
}

/** Splits NUL-separated strings (cmdline, environ); a missing final NUL still ends the last one. */
export function splitNul(bytes: Uint8Array): string[] {
  const dec = new TextDecoder();
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.byteLength; i++) {
    if (i === bytes.byteLength ? i > start : bytes[i] === 0) {
      out.push(dec.decode(bytes.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}
