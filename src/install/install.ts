// `ecfs install` and `ecfs uninstall`. Install copies this single-file executable to
// PREFIX/bin/ecfs with the original tools' names as links beside it, creates the cores
// directory, points kernel.core_pattern at the handler, sets kernel.core_pipe_limit (so the
// kernel waits for the handler, and at most that many run at once), and writes
// /etc/sysctl.d/50-ecfs.conf so both survive a reboot. What was there before (both sysctl
// values, and whether 50-ecfs.conf existed and its bytes) is saved in PREFIX/install-state.json
// by the first install only, and uninstall puts exactly that back.

import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { errorCode, UsageError } from "../errors.ts";
import { binPath, CORE_PATTERN_MAX, handlerPattern, type PatternOptions } from "./pattern.ts";

export const CORE_PATTERN = "/proc/sys/kernel/core_pattern";
export const CORE_PIPE_LIMIT = "/proc/sys/kernel/core_pipe_limit";
export const SYSCTL_FILE = "/etc/sysctl.d/50-ecfs.conf";
export const STATE_FILE = "install-state.json";
/** The names install links to bin/ecfs: each runs one command (src/main.ts PROGRAM_NAMES). */
export const LINK_NAMES = ["ecfs_handler", "ecfs_snapshot", "readecfs", "et_flip"];

interface SavedState {
  corePattern: string;
  corePipeLimit: string;
  /** 50-ecfs.conf before the first install: its bytes (base64), or null when there was none. */
  sysctlConf: string | null;
}

export interface InstallOptions extends Omit<PatternOptions, "pidfd" | "cores"> {
  cores?: string;
  pipeLimit: number;
  /** The single-file executable to copy (this process's own). */
  executable: string;
}

export interface InstallReport {
  previousPattern: string;
  pattern: string;
  previousPipeLimit: string;
  pipeLimit: string;
  /** Why %F was left out, when it was. */
  pidfdNote?: string;
  firstInstall: boolean;
}

const readSysctl = (path: string): string => readFileSync(path, "utf8").replace(/\n$/, "");

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new UsageError(`${what} must run as root: it writes ${CORE_PATTERN} and ${dirname(SYSCTL_FILE)}`);
}

/** Write a file under a temporary name and rename it into place. */
function replaceFile(path: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${path}.ecfs-tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Write a sysctl and read it back; a kernel that refuses or cuts the value throws. */
function setSysctl(path: string, value: string): void {
  writeFileSync(path, value);
  const back = readSysctl(path);
  if (back !== value) throw new UsageError(`${path}: wrote "${value}" but the kernel kept "${back}"`);
}

function loadState(prefix: string): SavedState | undefined {
  const path = join(prefix, STATE_FILE);
  if (!existsSync(path)) return undefined;
  const s = JSON.parse(readFileSync(path, "utf8")) as SavedState;
  if (typeof s.corePattern !== "string" || typeof s.corePipeLimit !== "string" || (s.sysctlConf !== null && typeof s.sysctlConf !== "string"))
    throw new UsageError(`${path} is not an ecfs install state: remove it and restore core_pattern by hand`);
  return s;
}

export function install(o: InstallOptions): InstallReport {
  requireRoot("install");
  const cores = o.cores ?? join(o.prefix, "cores");
  for (const [what, p] of [["--prefix", o.prefix], ["--cores", cores]] as const)
    if (/\s/.test(p)) throw new UsageError(`${what} ${p}: core_pattern is split at spaces, so the path may not contain any`);
  let pattern = handlerPattern({ ...o, cores, pidfd: true });
  if (pattern.length > CORE_PATTERN_MAX)
    throw new UsageError(`the core_pattern line would be ${pattern.length} bytes, the kernel keeps ${CORE_PATTERN_MAX}: choose a shorter --prefix or --cores\n  ${pattern}`);

  const previousPattern = readSysctl(CORE_PATTERN);
  const previousPipeLimit = readSysctl(CORE_PIPE_LIMIT);
  const saved = loadState(o.prefix);
  mkdirSync(join(o.prefix, "bin"), { recursive: true, mode: 0o755 });
  if (!saved) {
    const state: SavedState = {
      corePattern: previousPattern,
      corePipeLimit: previousPipeLimit,
      sysctlConf: existsSync(SYSCTL_FILE) ? readFileSync(SYSCTL_FILE).toString("base64") : null,
    };
    replaceFile(join(o.prefix, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, 0o600);
  }

  const bin = binPath(o.prefix);
  if (o.executable !== bin) {
    const tmp = `${bin}.ecfs-tmp-${process.pid}`;
    copyFileSync(o.executable, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, bin);
  }
  for (const name of LINK_NAMES) {
    const link = join(o.prefix, "bin", name);
    try {
      unlinkSync(link);
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
    }
    symlinkSync("ecfs", link);
  }
  mkdirSync(cores, { recursive: true, mode: 0o700 });
  if (lstatSync(cores).isSymbolicLink()) throw new UsageError(`${cores} is a symlink: the cores directory must be a real directory`);

  setSysctl(CORE_PIPE_LIMIT, String(o.pipeLimit));
  let pidfdNote: string | undefined;
  try {
    setSysctl(CORE_PATTERN, pattern);
  } catch (e) {
    // A kernel that refuses the pattern with %F: the handler works without it (no pid-reuse guard).
    pidfdNote = `the kernel refused %F (${e instanceof Error ? e.message : String(e)}); installed without the pidfd`;
    pattern = handlerPattern({ ...o, cores, pidfd: false });
    setSysctl(CORE_PATTERN, pattern);
  }
  replaceFile(SYSCTL_FILE, `# Written by ecfs install (${bin}); ecfs uninstall restores what was here.\nkernel.core_pattern = ${pattern}\nkernel.core_pipe_limit = ${o.pipeLimit}\n`, 0o644);
  return { previousPattern, pattern, previousPipeLimit, pipeLimit: String(o.pipeLimit), pidfdNote, firstInstall: !saved };
}

export interface UninstallReport {
  previousPattern: string;
  pattern: string;
  pipeLimit: string;
  sysctl: "restored" | "removed";
  /** What was left in place (the cores and the log belong to the user). */
  kept: string[];
}

export function uninstall(prefix: string): UninstallReport | undefined {
  requireRoot("uninstall");
  const state = loadState(prefix);
  if (!state) return undefined;
  const previousPattern = readSysctl(CORE_PATTERN);
  setSysctl(CORE_PATTERN, state.corePattern);
  setSysctl(CORE_PIPE_LIMIT, state.corePipeLimit);
  if (state.sysctlConf === null) {
    try {
      unlinkSync(SYSCTL_FILE);
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
    }
  } else replaceFile(SYSCTL_FILE, Buffer.from(state.sysctlConf, "base64"), 0o644);

  const bin = join(prefix, "bin");
  for (const name of [...LINK_NAMES, "ecfs"]) {
    try {
      unlinkSync(join(bin, name));
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
    }
  }
  unlinkSync(join(prefix, STATE_FILE));
  for (const dir of [bin, prefix]) {
    try {
      if (readdirSync(dir).length === 0) rmdirSync(dir);
    } catch {
      // Not there, or not empty: left as it is.
    }
  }
  const kept = existsSync(prefix) ? readdirSync(prefix).map((n) => join(prefix, n)) : [];
  return { previousPattern, pattern: state.corePattern, pipeLimit: state.corePipeLimit, sysctl: state.sysctlConf === null ? "removed" : "restored", kept };
}
