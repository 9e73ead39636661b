import { type ArgsDef, defineCommand } from "citty";
import { flipFile } from "../ecfs/flip.ts";
import { etName } from "../elf/consts.ts";
import { FlipOptionsSchema, parseWords } from "./options.ts";
import { UsageError } from "../errors.ts";
import { parseOptions } from "./report.ts";
import { out } from "./stdio.ts";

const FLIP_ARGS = {
  file: { type: "positional", description: "ECFS file to change in place (ET_NONE or ET_CORE with a .personality section; anything else is refused)", valueHint: "FILE", required: false },
} as const satisfies ArgsDef;

export default defineCommand({
  meta: { name: "flip", description: "Toggle an ECFS file's e_type between ET_NONE (for objdump) and ET_CORE (for gdb), as et_flip did; other files are refused" },
  args: FLIP_ARGS,
  run({ rawArgs }) {
    const { positionals } = parseWords("flip", rawArgs, FLIP_ARGS);
    if (positionals.length > 1) throw new UsageError(`flip: one file at a time (got ${positionals.map((w) => JSON.stringify(w)).join(", ")}); ecfs flip FILE`);
    const opts = parseOptions(FlipOptionsSchema, { file: positionals[0] });
    const r = flipFile(opts.file);
    out(`${opts.file}: ${etName(r.from)} -> ${etName(r.to)}\n`);
  },
});
