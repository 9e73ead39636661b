// The handler's one line per crash: appended to its log file and sent to syslog. The handler
// has no stdout or stderr (the kernel starts it without them), so this is all anyone sees.
// A log that cannot be written costs nothing else: the crash file matters more.

import { closeSync, constants, openSync, writeSync } from "node:fs";
import { LOG_ERR, LOG_USER, LOG_WARNING, syslogSend } from "../sys/syslog.ts";

export interface LogTarget {
  /** Appended to (created 0600); never through a symlink. */
  file: string;
  /** The syslog socket, normally /dev/log; skipped when absent. */
  syslog: string;
}

export const SYSLOG_TAG = "ecfs";

/** Writes `line` to both places; `failed` marks it an error rather than a warning. */
export function logLine(target: LogTarget, line: string, failed: boolean): void {
  const text = line.replace(/[\r\n]+/g, " ");
  syslogSend(target.syslog, LOG_USER | (failed ? LOG_ERR : LOG_WARNING), SYSLOG_TAG, text);
  let fd: number | undefined;
  try {
    fd = openSync(target.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    // One write per line: O_APPEND keeps lines of handlers running at once whole.
    writeSync(fd, `${new Date().toISOString()} ${SYSLOG_TAG}[${process.pid}]: ${text}\n`);
  } catch {
    // Nowhere left to say it.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
