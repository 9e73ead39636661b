import { defineCommand } from "citty";
import { flipFile } from "../ecfs/flip.ts";
import { etName } from "../elf/consts.ts";
import { FlipOptionsSchema } from "./options.ts";
import { parseOptions } from "./report.ts";

export default defineCommand({
  meta: { name: "flip", description: "Toggle e_type between ET_NONE (ECFS, for objdump) and ET_CORE (for gdb), as et_flip did" },
  args: { file: { type: "positional", description: "ECFS file to change in place", valueHint: "FILE", required: true } },
  run({ args }) {
    const opts = parseOptions(FlipOptionsSchema, { file: args.file });
    const r = flipFile(opts.file);
    process.stdout.write(`${opts.file}: ${etName(r.from)} -> ${etName(r.to)}\n`);
  },
});
