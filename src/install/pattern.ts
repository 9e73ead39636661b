// The core_pattern line `ecfs install` writes. Kept short (the kernel stores at most 127
// bytes of it and silently cuts the rest: CORENAME_MAX_SIZE in fs/coredump.c), so options the
// handler defaults to are left out. %P is the pid in the initial namespace (the one /proc here
// shows), %F the pidfd the kernel installs as fd 3 (Linux 6.16+; an older kernel expands an
// unknown specifier to nothing, which the handler takes as "no pidfd").

import { join } from "node:path";
import { DEFAULT_CORES, DEFAULT_LOG } from "../handler/defaults.ts";
import { formatSize, type SizeLimit } from "../handler/storage.ts";

/** The most bytes of core_pattern the kernel keeps. */
export const CORE_PATTERN_MAX = 127;

export interface PatternOptions {
  prefix: string;
  cores: string;
  pidfd: boolean;
  heuristics: boolean;
  text: boolean;
  maxUse?: SizeLimit;
  keepFree?: SizeLimit;
}

export const binPath = (prefix: string): string => join(prefix, "bin", "ecfs");
export const logPath = (prefix: string): string => join(prefix, "ecfs.log");

/** A literal word of the line: the kernel reads "%" as the start of a specifier, "%%" as "%". */
export const literal = (word: string): string => word.replace(/%/g, "%%");

export function handlerPattern(o: PatternOptions): string {
  const words = [`|${literal(binPath(o.prefix))}`, "handler", "-P", "%P"];
  if (o.pidfd) words.push("-F", "%F");
  if (o.cores !== DEFAULT_CORES) words.push("-d", literal(o.cores));
  if (logPath(o.prefix) !== DEFAULT_LOG) words.push("--log", literal(logPath(o.prefix)));
  if (o.maxUse) words.push("--max-use", literal(formatSize(o.maxUse)));
  if (o.keepFree) words.push("--keep-free", literal(formatSize(o.keepFree)));
  if (o.heuristics) words.push("-h");
  if (o.text) words.push("-t");
  return words.join(" ");
}
