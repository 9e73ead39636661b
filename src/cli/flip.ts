import { type ArgsDef, defineCommand } from "citty";
import { flipFile } from "../ecfs/flip.ts";
import { etName } from "../elf/consts.ts";
import { FlipOptionsSchema, unknownOption } from "./options.ts";
import { UsageError } from "../errors.ts";
import { parseOptions } from "./report.ts";

const FLIP_ARGS = {
  file: { type: "positional", description: "ECFS file to change in place", valueHint: "FILE", required: true },
} as const satisfies ArgsDef;

export default defineCommand({
  meta: { name: "flip", description: "Toggle e_type between ET_NONE (ECFS, for objdump) and ET_CORE (for gdb), as et_flip did" },
  args: FLIP_ARGS,
  run({ args, rawArgs }) {
    const bad = unknownOption(rawArgs, FLIP_ARGS);
    if (bad) throw new UsageError(`flip: unknown option ${bad} (see ecfs flip --help)`);
    const opts = parseOptions(FlipOptionsSchema, { file: args.file });
    const r = flipFile(opts.file);
    process.stdout.write(`${opts.file}: ${etName(r.from)} -> ${etName(r.to)}\n`);
  },
});
