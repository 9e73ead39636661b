// The .procfs.tgz section: a gzip'd tar of /proc/PID as `tar -czf x /proc/PID` would make it,
// except that regular files hold their real contents (procfs stats them as size 0, so the
// original's tar stored empty files: docs/FORMAT.md 9). Built in memory. The files
// whose text our ptrace stop changes are read before the stop (beforestop.ts), so the archive
// shows the process as it ran, not "t (tracing stop)" with ecfs as its tracer.
// Trust model: /proc is the kernel's, but contents, link texts and the number of entries are
// the target's doing; every file, the log of what was left out and the archive are capped, the
// walk never follows a symlink, and what was skipped or cut short is listed in the archive.

import { closeSync, existsSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
import { SyscallError } from "../errors.ts";
import { procError } from "../proc/read.ts";
import { STOP_SENSITIVE } from "./beforestop.ts";
import { TarBuilder } from "./tar.ts";

/** Largest regular file stored whole; longer ones are cut here (smaps of a huge process). */
export const PROCFS_FILE_MAX = 4 * 1024 * 1024;
/** Largest uncompressed tar (so also the largest .tgz): bounds the memory we hold. */
export const PROCFS_ARCHIVE_MAX = 64 * 1024 * 1024;
/** The member (under proc/PID/) listing what is missing or truncated, one "path\treason" a line. */
export const PROCFS_SKIPPED_NAME = ".ecfs-skipped";

export interface ProcfsOptions {
  fileMax?: number;
  archiveMax?: number;
  /** gzip level, 0-9 (default 6). */
  level?: number;
  /** Texts of stop-sensitive files read before the process was stopped (beforestop.ts), stored instead of reading them now. */
  beforeStop?: ReadonlyMap<string, Uint8Array>;
  /** The process is stopped by us now: a stop-sensitive file not in beforeStop is read anyway, and listed as read while stopped. */
  stopped?: boolean;
}

/** One entry left out or cut short; `path` is relative to /proc/PID. */
export interface ProcfsSkip {
  path: string;
  reason: string;
  /** true for the fixed exclusion policy, false for errors, truncation and the archive cap. */
  policy: boolean;
}

export interface ProcfsTar {
  tar: Uint8Array<ArrayBuffer>;
  members: number;
  skipped: ProcfsSkip[];
}

/** Never read, matched against the path under /proc/PID (fs/proc/base.c tgid_base_stuff, tid_base_stuff). */
const EXCLUDE: { re: RegExp; why: string }[] = [
  { re: /^(task\/\d+\/)?mem$/, why: "process memory (the core holds it)" },
  { re: /^(task\/\d+\/)?pagemap$/, why: "binary page-table dump, 8 bytes per virtual page" },
  { re: /(^|\/)kpage[a-z]*$/, why: "physical page tables" },
  { re: /^task\/\d+\/(smaps|smaps_rollup|numa_maps)$/, why: "same as the process-wide file (threads share one mm)" },
  { re: /^task\/\d+\/net$/, why: "same as net/ unless the thread left the netns (compare its ns/net)" },
];
/** Read errors that leave one entry out; anything else (or the process gone) is thrown. */
const SKIP_ERRNO = new Set(["EACCES", "EPERM", "EIO", "EINVAL", "ENOENT", "ESRCH", "ENXIO", "EOPNOTSUPP", "ENODATA"]);
/** Deepest path under /proc/PID walked (task/T/net/dev_snmp6/x is 4); guards a kernel surprise. */
const MAX_DEPTH = 6;
const MIN_ARCHIVE = 16 * 1024;
const CHUNK = 64 * 1024;

/** Byte budget for the skip log: 1/8 of the archive, at most 256 KiB, whole 512-byte blocks. */
const skipLogMax = (archiveMax: number): number => Math.min(256 * 1024, Math.floor(archiveMax / 8 / 512) * 512);

/** Numeric names (fd, task, fdinfo) in numeric order, the rest by code unit; `task` last at the top. */
function order(top: boolean) {
  const key = (n: string): number => (top && n === "task" ? 1 : 0);
  return (a: string, b: string): number => {
    if (key(a) !== key(b)) return key(a) - key(b);
    if (/^\d+$/.test(a) && /^\d+$/.test(b)) return Number(a) - Number(b);
    return a < b ? -1 : a > b ? 1 : 0;
  };
}

// ---- tar writer, GNU format (GNU tar's default, so what `tar -czf` gives), one growing buffer ----
class ProcWalk {
  readonly tar: TarBuilder;
  readonly skipped: ProcfsSkip[] = [];
  full = false;
  #scratch = new Uint8Array(CHUNK);

  constructor(
    readonly pid: number,
    readonly fileMax: number,
    readonly archiveMax: number,
    readonly beforeStop: ReadonlyMap<string, Uint8Array>,
    readonly stopped: boolean,
  ) {
    // The skip log and the two end blocks always fit: entries only get what is left.
    this.tar = new TarBuilder(archiveMax, 512 + skipLogMax(archiveMax));
  }

  skip(path: string, reason: string, policy = false): void {
    this.skipped.push({ path, reason, policy });
  }

  /** Runs an fs call; a skippable errno records `rel` and gives undefined. */
  attempt<T>(call: string, abs: string, rel: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      const err = e instanceof SyscallError ? e : procError(e, call, abs);
      if (!(err instanceof SyscallError) || !SKIP_ERRNO.has(err.code)) throw err;
      if (!existsSync(`/proc/${this.pid}`)) throw new SyscallError(`${call} ${abs}`, err.errno, "ESRCH", this.pid);
      this.skip(rel, `${call}: ${err.code}`);
      return undefined;
    }
  }

  /** Adds a member unless the archive is full; the first that does not fit ends the walk. */
  add(rel: string, fn: () => boolean): void {
    if (this.full) return;
    if (fn()) return;
    this.full = true;
    this.skip(rel, `archive cap of ${this.archiveMax} bytes reached: this and every later entry left out`);
  }

  /** Reads a /proc file to EOF, at most fileMax + 1 bytes, into the reused scratch buffer. */
  readCapped(abs: string): Uint8Array {
    const fd = openSync(abs, "r");
    try {
      let len = 0;
      for (;;) {
        if (len === this.#scratch.byteLength) {
          if (len > this.fileMax) break;
          const grown = new Uint8Array(Math.min(len * 2, this.fileMax + 1));
          grown.set(this.#scratch);
          this.#scratch = grown;
        }
        const n = readSync(fd, this.#scratch, len, this.#scratch.byteLength - len, null);
        if (n === 0) break;
        len += n;
      }
      return this.#scratch.subarray(0, len);
    } finally {
      closeSync(fd);
    }
  }

  entry(abs: string, rel: string, name: string, depth: number): void {
    const why = EXCLUDE.find((x) => x.re.test(rel))?.why;
    if (why !== undefined) return this.skip(rel, `excluded: ${why}`, true);
    const st = this.attempt("lstat", abs, rel, () => lstatSync(abs));
    if (st === undefined) return;
    if (st.isDirectory()) {
      this.add(rel, () => this.tar.directory(`${name}/`, st));
      if (depth >= MAX_DEPTH) return this.skip(rel, `contents not walked: deeper than ${MAX_DEPTH}`);
      return this.dir(abs, rel, name, depth + 1);
    }
    if (st.isSymbolicLink()) {
      const link = this.attempt("readlink", abs, rel, () => readlinkSync(abs, "buffer"));
      if (link !== undefined) this.add(rel, () => this.tar.symlink(name, link, st));
      return;
    }
    if (!st.isFile()) return this.skip(rel, "not a regular file, directory or symlink");
    if ((st.mode & 0o444) === 0) return this.skip(rel, "excluded: write-only", true);
    const sensitive = STOP_SENSITIVE.test(rel);
    const early = sensitive ? this.beforeStop.get(rel) : undefined;
    const data = early ?? this.attempt("read", abs, rel, () => this.readCapped(abs));
    if (data === undefined) return;
    const cut = data.byteLength > this.fileMax;
    this.add(rel, () => this.tar.file(name, cut ? data.subarray(0, this.fileMax) : data, st));
    if (cut && !this.full) this.skip(rel, `truncated at ${this.fileMax} bytes`);
    // A thread that appeared after readBeforeStop: its text is the stop's.
    if (sensitive && early === undefined && this.stopped && !this.full) this.skip(rel, "read while stopped by ecfs (ptrace): its state, TracerPid, wchan and stack show the stop");
  }

  dir(abs: string, rel: string, name: string, depth: number): void {
    const names = this.attempt("readdir", abs, rel, () => readdirSync(abs, "utf8"));
    if (names === undefined) return;
    for (const n of names.sort(order(rel === ""))) {
      if (this.full) return;
      this.entry(`${abs}/${n}`, rel === "" ? n : `${rel}/${n}`, `${name}/${n}`, depth);
    }
  }
}

function skipLog(pid: number, skipped: ProcfsSkip[], max: number): Uint8Array {
  // Errors, truncation and the cap first: if the log is cut, the policy lines go.
  const lines = [...skipped.filter((s) => !s.policy), ...skipped.filter((s) => s.policy)].map((s) => `${s.path}\t${s.reason}\n`);
  const parts = [`# ecfs-ts .procfs.tgz of /proc/${pid}: entries left out, cut short, or read while ecfs had the process stopped\n# <path under proc/${pid}>\\t<reason>\n`];
  let len = Buffer.byteLength(parts[0] ?? "");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const tail = `... ${lines.length - i} more lines\n`;
    // Room for this line and a later "... N more" (whose N only shrinks) must both remain.
    if (len + Buffer.byteLength(line) + tail.length > max) {
      parts.push(tail);
      break;
    }
    parts.push(line);
    len += Buffer.byteLength(line);
  }
  return new TextEncoder().encode(parts.join(""));
}

/** The uncompressed tar of /proc/PID, members named proc/PID/..., and what was left out. */
export function buildProcfsTar(pid: number, opts: ProcfsOptions = {}): ProcfsTar {
  const fileMax = opts.fileMax ?? PROCFS_FILE_MAX;
  const archiveMax = opts.archiveMax ?? PROCFS_ARCHIVE_MAX;
  if (!Number.isSafeInteger(pid) || pid < 1) throw new RangeError(`bad pid ${pid}`);
  if (!Number.isSafeInteger(fileMax) || fileMax < 0) throw new RangeError(`bad fileMax ${fileMax}`);
  if (!Number.isSafeInteger(archiveMax) || archiveMax < MIN_ARCHIVE)
    throw new RangeError(`archiveMax ${archiveMax} is below ${MIN_ARCHIVE}`);
  const abs = `/proc/${pid}`;
  let st: Stats;
  try {
    st = lstatSync(abs);
  } catch (e) {
    throw procError(e, "lstat", abs);
  }
  const w = new ProcWalk(pid, fileMax, archiveMax, opts.beforeStop ?? new Map(), opts.stopped ?? false);
  const top = `proc/${pid}`;
  w.add("", () => w.tar.directory(`${top}/`, st));
  w.dir(abs, "", top, 1);
  const log = skipLog(pid, w.skipped, skipLogMax(archiveMax));
  const me = { mode: 0o100444, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtimeMs: Date.now() };
  w.tar.file(`${top}/${PROCFS_SKIPPED_NAME}`, log, me, true);
  return { tar: w.tar.finish(), members: w.tar.members, skipped: w.skipped };
}

/** The .procfs.tgz bytes: buildProcfsTar, gzip'd. */
export function buildProcfsTarball(pid: number, opts: ProcfsOptions = {}): Uint8Array {
  const level = opts.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`bad gzip level ${level}`);
  return Bun.gzipSync(buildProcfsTar(pid, opts).tar, { level: level as Bun.ZlibCompressionOptions["level"] });
}

