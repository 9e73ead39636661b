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
});

export const FlipOptionsSchema = v.object({
  file: v.pipe(v.string("a file is required"), v.nonEmpty("the file name is empty")),
});
