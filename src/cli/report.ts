// Errors become one line for a person, at the edge only. Known failure domains get their
// message and exit code; anything else is a bug, so it keeps its stack.

import * as v from "valibot";
import { EcfsError, ElfFormatError, InterruptedError, OutputError, ProcParseError, SyscallError, TargetError, UsageError } from "../errors.ts";
import { errLine, EXIT_STDOUT_CLOSED, StdoutClosed } from "./stdio.ts";

export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

export function parseOptions<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (!r.success) throw new UsageError(r.issues.map((i) => i.message).join("; "));
  return r.output;
}

function isCittyError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && e.name === "CLIError";
}

/** Prints the line and returns the exit code. */
export function report(e: unknown, write: (line: string) => void = errLine): number {
  // The reader of our output went away (`| head`): nothing is wrong, nothing to say.
  if (e instanceof StdoutClosed) return EXIT_STDOUT_CLOSED;
  if (e instanceof UsageError || isCittyError(e)) {
    // citty colours its messages; a log line has no use for escape codes.
    write(`ecfs: ${e.message.replace(/\x1b\[[0-9;]*m/g, "")}`);
    return EXIT_USAGE;
  }
  if (e instanceof InterruptedError) {
    write(`ecfs: ${e.message}`);
    const num: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
    return 128 + (num[e.signal] ?? 0);
  }
  if (e instanceof TargetError || e instanceof OutputError || e instanceof EcfsError) {
    write(`ecfs: ${e.message}`);
    return EXIT_FAILURE;
  }
  if (e instanceof ElfFormatError) {
    write(`ecfs: malformed ELF data: ${e.message}`);
    return EXIT_FAILURE;
  }
  if (e instanceof SyscallError || e instanceof ProcParseError) {
    write(`ecfs: ${e.message}`);
    return EXIT_FAILURE;
  }
  write(`ecfs: internal error (a bug; please report it with this trace):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT_FAILURE;
}
