// The one way tests change /proc/sys/kernel/core_pattern and core_pipe_limit. Both are
// machine-wide, and test runs of other worktrees on this machine set them too, so every change
// happens under an exclusive flock(2) on LOCK_PATH (shared by every process that sets the
// pattern), and the old values are put back in a `finally`, and also on SIGINT/SIGTERM/exit
// should the run be interrupted while a pattern is set.

import { dlopen } from "bun:ffi";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";

export const CORE_PATTERN = "/proc/sys/kernel/core_pattern";
export const CORE_PIPE_LIMIT = "/proc/sys/kernel/core_pipe_limit";
export const LOCK_PATH = "/tmp/ecfs-core-pattern.lock";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** Longest wait for another process's crash test to finish. */
const LOCK_TIMEOUT_MS = 300_000;

const { symbols: c } = dlopen("libc.so.6", { flock: { args: ["i32", "i32"], returns: "i32" } });

interface Saved {
  pattern: string;
  pipeLimit: string;
}

/** What to put back if the process is stopped while a pattern of ours is in force. */
let pending: Saved | undefined;

function restore(s: Saved): void {
  writeFileSync(CORE_PATTERN, s.pattern);
  writeFileSync(CORE_PIPE_LIMIT, s.pipeLimit);
}

function onInterrupt(sig: NodeJS.Signals): void {
  if (pending) restore(pending);
  pending = undefined;
  process.exit(128 + (sig === "SIGINT" ? 2 : 15));
}
process.on("exit", () => {
  if (pending) restore(pending);
});
process.on("SIGINT", onInterrupt);
process.on("SIGTERM", onInterrupt);

/** Try the lock without blocking the JS thread (another async user in this process may hold it). */
function tryLock(fd: number): boolean {
  return c.flock(fd, LOCK_EX | LOCK_NB) === 0;
}

function openLock(): number {
  return openSync(LOCK_PATH, "a", 0o666);
}

const timedOut = (fd: number): Error => {
  closeSync(fd);
  return new Error(`${LOCK_PATH}: another process kept core_pattern for ${LOCK_TIMEOUT_MS / 1000} s`);
};

/** The locked fd; polls, so another async holder in this process can finish meanwhile. */
async function acquire(): Promise<number> {
  const fd = openLock();
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  while (!tryLock(fd)) {
    if (Date.now() > deadline) throw timedOut(fd);
    await Bun.sleep(20);
  }
  return fd;
}

function acquireSync(): number {
  const fd = openLock();
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  while (!tryLock(fd)) {
    if (Date.now() > deadline) throw timedOut(fd);
    Bun.sleepSync(20);
  }
  return fd;
}

function save(): Saved {
  return { pattern: readFileSync(CORE_PATTERN, "utf8").replace(/\n$/, ""), pipeLimit: readFileSync(CORE_PIPE_LIMIT, "utf8").trim() };
}

function apply(pattern: string, pipeLimit: number | undefined, saved: Saved): void {
  pending = saved;
  writeFileSync(CORE_PATTERN, pattern);
  if (pipeLimit !== undefined) writeFileSync(CORE_PIPE_LIMIT, String(pipeLimit));
}

function release(fd: number, saved: Saved | undefined): void {
  try {
    if (saved) restore(saved);
  } finally {
    pending = undefined;
    c.flock(fd, LOCK_UN);
    closeSync(fd);
  }
}

/**
 * Run `fn` with core_pattern (and core_pipe_limit, when given) set, holding the lock; both are
 * restored afterwards whatever happens. Only one such block runs at a time on the machine.
 */
export async function withCorePattern<T>(pattern: string, pipeLimit: number | undefined, fn: () => Promise<T>): Promise<T> {
  const fd = await acquire();
  let saved: Saved | undefined;
  try {
    saved = save();
    apply(pattern, pipeLimit, saved);
    return await fn();
  } finally {
    release(fd, saved);
  }
}

/**
 * Run `fn` holding the lock, for code that sets core_pattern itself (ecfs install): both values
 * are saved first and put back afterwards whatever happens.
 */
export async function withCoreSettingsLocked<T>(fn: () => Promise<T>): Promise<T> {
  const fd = await acquire();
  let saved: Saved | undefined;
  try {
    saved = save();
    pending = saved;
    return await fn();
  } finally {
    release(fd, saved);
  }
}

/** The same for synchronous callers (test/helpers/kernelcore.ts). */
export function withCorePatternSync<T>(pattern: string, pipeLimit: number | undefined, fn: () => T): T {
  const fd = acquireSync();
  let saved: Saved | undefined;
  try {
    saved = save();
    apply(pattern, pipeLimit, saved);
    return fn();
  } finally {
    release(fd, saved);
  }
}
