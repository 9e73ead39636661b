// One valibot schema per command: citty hands us strings, the schema owns conversion and
// says what is wrong in a sentence. Before that, parseWords reads the command's words itself:
// citty (node's parseArgs with strict off) ignores unknown options, takes `--core=no` as true,
// keeps the last of `-p 1 -p 2` and reads `-p=7930` as "=7930", all without a word.

import * as v from "valibot";
import { isAbsolute } from "node:path";
import { UsageError } from "../errors.ts";
import { parseSize } from "../handler/storage.ts";

const Pid = v.pipe(
  v.string("a pid is required (ecfs snapshot -p PID, or ecfs snapshot PID)"),
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
  force: v.boolean(),
  heuristics: v.boolean(),
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
  file: v.pipe(v.string("flip: a file is required (ecfs flip FILE)"), v.nonEmpty("the file name is empty")),
});

/** A citty argument definition, as far as reading the words needs. */
type ArgDefs = Record<string, { type?: string; alias?: string | string[]; valueHint?: string; default?: unknown }>;

export interface Words {
  /** Option values by long name: a string option's value, a boolean's true/false (default false). */
  values: Record<string, string | boolean | undefined>;
  /** The words that are not options or their values, in order. */
  positionals: string[];
}

/**
 * Reads the words after the command name against `defs`, getopt_long's way: `--name VALUE`,
 * `--name=VALUE`, `-xVALUE`, `-x VALUE`, clustered boolean `-xy`, `--name`/`--no-name` and
 * `--name=true|false` for a boolean, `--` ending the options. UsageError, naming the form that
 * works, for an unknown option, a value a boolean does not take, a string option given twice or
 * without its value, `-x=VALUE`, and a boolean given both ways. `emptyValues` lets a string
 * option take "" (core_pattern's %F expands to nothing on a kernel without it).
 */
export function parseWords(command: string, words: readonly string[], defs: ArgDefs, opts: { emptyValues?: boolean } = {}): Words {
  const fail = (msg: string): never => {
    throw new UsageError(`${command}: ${msg}`);
  };
  const longs = new Map(Object.entries(defs).filter(([, d]) => d.type !== "positional"));
  const shorts = new Map<string, string>();
  for (const [name, d] of longs) for (const a of [d.alias ?? []].flat()) shorts.set(a, name);
  const values: Words["values"] = {};
  for (const [name, d] of longs) if (d.type === "boolean") values[name] = d.default === true;
  const given = new Map<string, string>(); // long name -> the words that gave it, for messages
  const positionals: string[] = [];
  const forms = (name: string): string => {
    const d = longs.get(name)!;
    const hint = d.valueHint ?? "VALUE";
    const short = [...shorts].find(([, n]) => n === name)?.[0];
    return `${short ? `-${short} ${hint}, -${short}${hint}, ` : ""}--${name} ${hint} or --${name}=${hint}`;
  };
  const setString = (name: string, shown: string, value: string | undefined): void => {
    // An empty value is refused, except where the kernel may expand a specifier to nothing (the handler).
    if (value === undefined || (value === "" && !opts.emptyValues) || (value.startsWith("-") && value.length > 1)) fail(`${shown} needs a value (${forms(name)})`);
    const before = given.get(name);
    if (before !== undefined) fail(`${before} and ${shown} ${value}: --${name} is given twice; give it once`);
    given.set(name, `${shown} ${value}`);
    values[name] = value;
  };
  const setBoolean = (name: string, shown: string, value: boolean): void => {
    const before = given.get(name);
    if (before !== undefined && values[name] !== value) fail(`${before} and ${shown} contradict each other; give one`);
    given.set(name, shown);
    values[name] = value;
  };

  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "--") {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (w.startsWith("--")) {
      const eq = w.indexOf("=");
      const name = w.slice(2, eq < 0 ? undefined : eq);
      const value = eq < 0 ? undefined : w.slice(eq + 1);
      const negated = !longs.has(name) && name.startsWith("no-") && longs.get(name.slice(3))?.type === "boolean";
      const base = negated ? name.slice(3) : name;
      const def = longs.get(base);
      if (!def) fail(`unknown option --${name} (see ecfs ${command} --help)`);
      if (def!.type === "boolean") {
        if (value !== undefined && (negated || (value !== "true" && value !== "false")))
          fail(`${w}: --${base} is on or off: write --${base} or --no-${base} (or --${base}=true, --${base}=false)`);
        setBoolean(base, w, negated ? false : value !== "false");
      } else setString(base, `--${base}`, value ?? words[++i]);
    } else if (w.startsWith("-") && w.length > 1) {
      for (let j = 1; j < w.length; j++) {
        const name = shorts.get(w[j]!);
        if (name === undefined) fail(`unknown option -${w[j]} (see ecfs ${command} --help)`);
        if (longs.get(name!)!.type !== "string") {
          setBoolean(name!, `-${w[j]}`, true);
          continue;
        }
        const rest = w.slice(j + 1);
        if (rest.startsWith("=")) fail(`${w}: write ${forms(name!)}`);
        setString(name!, `-${w[j]}`, rest === "" ? words[++i] : rest);
        break;
      }
    } else positionals.push(w);
  }
  return { values, positionals };
}
