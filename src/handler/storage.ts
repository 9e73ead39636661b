// Storage limits of the cores directory, as systemd-coredump has them: our files together may
// use at most --max-use bytes, and at least --keep-free bytes of the file system must stay
// free. To make room the oldest of OUR files go first (ECFS files and raw .core files that
// this handler names: never anything else in the directory); a crash that still would not fit
// is refused before a byte is written.

import { closeSync, lstatSync, openSync, readdirSync, readSync, statfsSync, unlinkSync, constants } from "node:fs";
import { join } from "node:path";
import { ET_CORE, ET_NONE } from "../elf/consts.ts";

/** A size as given: bytes, or a share of the file system's size. */
export type SizeLimit = { bytes: bigint } | { percent: number };

export interface StorageLimits {
  maxUse: SizeLimit;
  keepFree: SizeLimit;
}

export const DEFAULT_LIMITS: StorageLimits = { maxUse: { percent: 10 }, keepFree: { percent: 15 } };

const UNITS: Record<string, bigint> = { "": 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/** "10%", "512M", "2G", "1048576"; undefined when malformed. */
export function parseSize(text: string): SizeLimit | undefined {
  const pct = /^(\d{1,3}(?:\.\d+)?)%$/.exec(text);
  if (pct) {
    const p = Number(pct[1]);
    return p <= 100 ? { percent: p } : undefined;
  }
  const m = /^(\d{1,15})([KMGT]?)(?:i?B)?$/i.exec(text);
  if (!m) return undefined;
  return { bytes: BigInt(m[1]!) * UNITS[m[2]!.toUpperCase()]! };
}

export function formatSize(s: SizeLimit): string {
  return "percent" in s ? `${s.percent}%` : `${s.bytes}`;
}

function resolve(s: SizeLimit, fsBytes: bigint): bigint {
  if ("bytes" in s) return s.bytes;
  return (fsBytes * BigInt(Math.round(s.percent * 100))) / 10000n;
}

/** File names this handler gives: <comm>.<pid>, a .N suffix, and .core for a raw core. */
const OUR_NAME = /^[^/]+\.\d+(\.\d+)?(\.core)?$/;

/** One of ours: a regular file (not a symlink) of root's named as we name them, an ELF core or ECFS file. */
function isOurs(dir: string, name: string): { path: string; bytes: bigint; mtimeMs: number } | undefined {
  if (!OUR_NAME.test(name)) return undefined;
  const path = join(dir, name);
  let st;
  try {
    st = lstatSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isFile() || st.uid !== 0n) return undefined;
  const head = new Uint8Array(18);
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (readSync(fd, head, 0, head.byteLength, 0) !== head.byteLength) return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const elf = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  const type = head[16]! | (head[17]! << 8);
  if (!elf || (type !== ET_CORE && type !== ET_NONE)) return undefined;
  return { path, bytes: st.blocks * 512n, mtimeMs: Number(st.mtimeMs) };
}

export interface Room {
  /** Files removed to make room, oldest first. */
  evicted: string[];
}

export class NoRoomError extends Error {
  override name = "NoRoomError";
}

/**
 * Make room for a file of `need` bytes in `dir` under `limits`, removing the oldest of our
 * files as needed. Throws NoRoomError (having removed nothing more than it must) when even
 * with all of ours gone the file would not fit.
 */
export function makeRoom(dir: string, need: bigint, limits: StorageLimits): Room {
  const fs = statfsSync(dir, { bigint: true });
  const fsBytes = fs.blocks * fs.bsize;
  const maxUse = resolve(limits.maxUse, fsBytes);
  const keepFree = resolve(limits.keepFree, fsBytes);
  const ours = readdirSync(dir)
    .map((n) => isOurs(dir, n))
    .filter((x): x is NonNullable<typeof x> => x !== undefined)
    .sort((a, b) => a.mtimeMs - b.mtimeMs);
  let used = ours.reduce((s, f) => s + f.bytes, 0n);
  let free = fs.bavail * fs.bsize;
  const fits = () => used + need <= maxUse && free - need >= keepFree;
  // Decide first, then delete: a crash that cannot fit must not cost the older files.
  let n = 0;
  while (!fits() && n < ours.length) {
    used -= ours[n]!.bytes;
    free += ours[n]!.bytes;
    n++;
  }
  if (!fits()) {
    const why = need > maxUse ? `more than --max-use (${maxUse} bytes)` : `it would leave less than --keep-free (${keepFree} bytes) free`;
    throw new NoRoomError(`${need} bytes needed in ${dir}: ${why}`);
  }
  const evicted: string[] = [];
  for (const f of ours.slice(0, n)) {
    try {
      unlinkSync(f.path);
      evicted.push(f.path);
    } catch {
      // Gone already (another handler made room too).
    }
  }
  return { evicted };
}
