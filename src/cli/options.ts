// One valibot schema per command: citty hands us strings, the schema owns conversion and
// says what is wrong in a sentence.

import * as v from "valibot";
import { isAbsolute } from "node:path";
import { parseSize } from "../handler/storage.ts";

const Pid = v.pipe(
  v.string("a pid is required (-p PID)"),
  v.trim(),
  v.regex(/^\d+$/, "the pid must be a positive whole number"),
  v.transform(Number),
  v.integer(),
  v.minValue(1, "the pid must be 1 or more (0 is not a process)"),
  v.maxValue(4194304, "the pid is larger than any Linux pid (4194304)"),
);

export const SnapshotOptionsSchema = v.object({
  pid: Pid,
  out: v.optional(v.pipe(v.string(), v.nonEmpty("the output path is empty"))),
  core: v.boolean(),
  lowPause: v.boolean(),
});

/** A pid the kernel put on the handler's command line; absent or empty means "not given". */
const OptionalPid = v.optional(v.union([v.literal(""), Pid]));
const blankToUndefined = <T>(x: T | "" | undefined): T | undefined => (x === "" ? undefined : x);

const Size = (what: string) =>
  v.optional(v.pipe(
    v.string(),
    v.transform((s) => parseSize(s.trim())),
    v.check((s) => s !== undefined, `${what} must be bytes with an optional K, M, G or T, or a percentage (e.g. 2G, 10%)`),
    v.transform((s) => s!),
  ));

const AbsolutePath = (what: string) =>
  v.pipe(v.string(`${what} is required`), v.nonEmpty(`${what} is empty`), v.check((p) => isAbsolute(p), `${what} must be an absolute path (the handler runs in /)`));

export const HandlerOptionsSchema = v.object({
  pid: v.pipe(OptionalPid, v.transform(blankToUndefined)),
  nsPid: v.pipe(OptionalPid, v.transform(blankToUndefined)),
  pidfd: v.pipe(
    v.optional(v.string()),
    v.check((s) => s === undefined || /^\d{0,9}$/.test(s.trim()), "the pidfd must be a descriptor number (or empty)"),
    v.transform((s) => (s === undefined || s.trim() === "" ? undefined : Number(s))),
  ),
  out: v.optional(AbsolutePath("the output file")),
  cores: AbsolutePath("the cores directory"),
  logFile: AbsolutePath("the log file"),
  syslog: v.string(),
  maxUse: Size("--max-use"),
  keepFree: Size("--keep-free"),
  timeout: v.pipe(v.string(), v.regex(/^\d{1,7}$/, "--timeout must be whole seconds"), v.transform(Number)),
  heuristics: v.boolean(),
  core: v.boolean(),
});

/** core_pipe_limit: how many crashes the kernel lets handlers run for at once. */
const PipeLimit = v.pipe(
  v.string(),
  v.regex(/^\d{1,4}$/, "--pipe-limit must be a whole number"),
  v.transform(Number),
  v.minValue(1, "--pipe-limit must be 1 or more: with 0 the kernel does not wait for the handler, which then copies memory from the slower stream"),
  v.maxValue(1024, "--pipe-limit above 1024 lets too many handlers run at once"),
);

export const InstallOptionsSchema = v.object({
  prefix: AbsolutePath("--prefix"),
  cores: v.optional(AbsolutePath("--cores")),
  pipeLimit: PipeLimit,
  maxUse: Size("--max-use"),
  keepFree: Size("--keep-free"),
  heuristics: v.boolean(),
  text: v.boolean(),
});

export const UninstallOptionsSchema = v.object({
  prefix: AbsolutePath("--prefix"),
});

export const FlipOptionsSchema = v.object({
  file: v.pipe(v.string("a file is required"), v.nonEmpty("the file name is empty")),
});

/** A citty argument definition, as far as telling options apart needs. */
type ArgDefs = Record<string, { type?: string; alias?: string | string[] }>;

/**
 * citty ignores options it does not know; a mistyped flag must not be silently dropped (a
 * snapshot without the `--low-pause` the user meant to give, say). Checks the words after the
 * command name against `defs`: `--name`, `--name=value`, `--no-name`, `-x`, clustered boolean
 * `-xy`, and `-xVALUE` for a string option. Returns the first unknown option, or undefined.
 */
export function unknownOption(words: readonly string[], defs: ArgDefs): string | undefined {
  const longs = new Map(Object.entries(defs).filter(([, d]) => d.type !== "positional"));
  const shorts = new Map<string, string>();
  for (const [name, d] of longs) for (const a of [d.alias ?? []].flat()) shorts.set(a, name);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "--") return undefined;
    if (w.startsWith("--")) {
      const name = w.slice(2).split("=")[0]!;
      const def = longs.get(name) ?? (name.startsWith("no-") ? longs.get(name.slice(3)) : undefined);
      if (!def) return `--${name}`;
      if (def.type === "string" && !w.includes("=")) i++; // its value
    } else if (w.startsWith("-") && w.length > 1) {
      for (let j = 1; j < w.length; j++) {
        const name = shorts.get(w[j]!);
        if (name === undefined) return `-${w[j]}`;
        if (longs.get(name)!.type === "string") {
          if (j === w.length - 1) i++; // its value is the next word
          break;
        }
      }
    }
  }
  return undefined;
}
