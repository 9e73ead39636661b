// The CLI's stdout and stderr: synchronous writes to fd 1 and 2, so a reader that goes away
// (`ecfs read -a x | head`) is noticed at the write that fails, not later as an unhandled
// 'error' event with a trace, and a large report is never queued whole in memory.
// process.stdout is not used at all: Bun makes its pipe non-blocking, so plain writes may meet
// EAGAIN (waited out here). Bun ignores SIGPIPE, so a closed pipe shows up as EPIPE.

import { writeSync } from "node:fs";
import { errorCode, OutputError } from "../errors.ts";

/** Exit status of a command whose stdout was closed: 128 + SIGPIPE, what a shell shows for `cat`. */
export const EXIT_STDOUT_CLOSED = 141;

/** Whoever read our stdout has gone; the command ends quietly (cli/report.ts). */
export class StdoutClosed extends Error {
  override name = "StdoutClosed";
  constructor() {
    super("standard output was closed (EPIPE)");
  }
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  for (let done = 0; done < bytes.length; ) {
    try {
      done += writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      if (errorCode(e) !== "EAGAIN") throw e;
      Bun.sleepSync(1); // a non-blocking pipe that is full: let the reader catch up
    }
  }
}

/** Writes to stdout; StdoutClosed once the reader is gone, OutputError for any other failure. */
export function out(text: string): void {
  try {
    writeAll(1, text);
  } catch (e) {
    if (errorCode(e) === "EPIPE") throw new StdoutClosed();
    throw new OutputError("<stdout>", `cannot write to standard output: ${errorCode(e) ?? String(e)}`, { cause: e });
  }
}

/** Writes one line to stderr. Nowhere is left to report a failure of stderr itself: it is dropped. */
export function errLine(line: string): void {
  try {
    writeAll(2, `${line}\n`);
  } catch {
    // stderr closed or full beyond repair: the exit status still tells.
  }
}
