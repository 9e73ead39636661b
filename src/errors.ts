// One error class per failure domain. The library throws these; only src/cli/report.ts
// turns them into a line for a person. Anything else reaching the edge is a bug.

/** Malformed bytes in an ELF file, a core, or an ELF structure read from a target. */
export class ElfFormatError extends Error {
  override name = "ElfFormatError";
  constructor(
    readonly offset: number | bigint,
    readonly what: string,
    readonly value?: unknown,
  ) {
    super(`${what}${value === undefined ? "" : ` (${String(value)})`} at 0x${offset.toString(16)}`);
  }
}

/** A libc call failed; `code` is the errno name (EPERM, ESRCH, ...). */
export class SyscallError extends Error {
  override name = "SyscallError";
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly code: string,
    readonly pid?: number,
  ) {
    super(`${call}${pid === undefined ? "" : ` pid ${pid}`}: ${code}`);
  }
}

/** The target (or the thread, or its fork) is gone: a libc call on it failed with ESRCH. */
export function isGone(e: unknown): e is SyscallError {
  return e instanceof SyscallError && e.code === "ESRCH";
}

/**
 * For catch blocks that turn a malformed structure into a reported problem: a target that is
 * gone is no "problem" to report but the end of the capture, so that error goes on.
 */
export function rethrowIfGone(e: unknown): void {
  if (isGone(e)) throw e;
}

/** Node/Bun fs errors carry `code` ("ENOENT"); this finds it on any thrown value. */
export function errorCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e && typeof e.code === "string") return e.code;
  return undefined;
}

/** A /proc file did not have the shape the kernel documents. */
export class ProcParseError extends Error {
  override name = "ProcParseError";
  constructor(
    readonly path: string,
    readonly line: number,
    readonly what: string,
  ) {
    super(`${path}:${line}: ${what}`);
  }
}

/** The user asked for something that cannot be done; the message is already the sentence to show. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The target process cannot be captured (gone, a kernel thread, a zombie, traced by another). */
export class TargetError extends Error {
  override name = "TargetError";
  constructor(
    readonly pid: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Writing the output failed (disk full, directory missing, not writable). */
export class OutputError extends Error {
  override name = "OutputError";
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A file cannot be read as an ECFS file at all, or lacks what was asked for (the reader's domain). */
export class EcfsError extends Error {
  override name = "EcfsError";
  constructor(
    readonly path: string,
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${what}`, options);
  }
}

/** We were asked to stop (SIGINT, SIGTERM, SIGHUP); the work was undone. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}: the target was resumed and no file was written`);
  }
}

/** An invariant of our own code broke: a bug, never a user error. */
export function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`internal error: ${what}`);
}
