// One valibot schema per command: citty hands us strings, the schema owns conversion and
// says what is wrong in a sentence.

import * as v from "valibot";

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
  heuristics: v.boolean(),
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
