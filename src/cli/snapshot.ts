import { type ArgsDef, defineCommand } from "citty";
import { join } from "node:path";
import { snapshot } from "../snapshot.ts";
import { SnapshotOptionsSchema, unknownOption } from "./options.ts";
import { UsageError } from "../errors.ts";
import { parseOptions } from "./report.ts";
import { heuristicsSummary } from "../ecfs/heuristics/summary.ts";

const SNAPSHOT_ARGS = {
  pid: { type: "string", alias: "p", description: "process to snapshot", valueHint: "PID" },
  out: { type: "string", alias: "o", description: "output file (default ./<comm>.<pid>)", valueHint: "FILE" },
  core: { type: "boolean", description: "write e_type ET_CORE (opens in gdb at once) instead of ECFS's ET_NONE", default: false },
  heuristics: {
    type: "boolean",
    alias: "h",
    description: "forensic heuristics: injected objects, anonymous code, PLT/GOT hooks, patched code, foreign entry points (sections and .heuristics; see README). --help is the help",
    default: false,
  },
  "low-pause": {
    type: "boolean",
    description: "fork the stopped target and copy the fork, so the target runs on after a few ms instead of waiting for the copy",
    default: false,
  },
} as const satisfies ArgsDef;

export default defineCommand({
  meta: { name: "snapshot", description: "Write an ECFS file of a running process without killing it" },
  args: SNAPSHOT_ARGS,
  async run({ args, rawArgs }) {
    const bad = unknownOption(rawArgs, SNAPSHOT_ARGS);
    if (bad) throw new UsageError(`snapshot: unknown option ${bad} (see ecfs snapshot --help)`);
    const opts = parseOptions(SnapshotOptionsSchema, { pid: args.pid, out: args.out, core: args.core, lowPause: args["low-pause"], heuristics: args.heuristics });
    const r = await snapshot({
      pid: opts.pid,
      core: opts.core,
      lowPause: opts.lowPause,
      heuristics: opts.heuristics,
      out: (comm, pid) => opts.out ?? join(process.cwd(), `${comm.replace(/[/\0]/g, "_")}.${pid}`),
    });
    for (const w of r.warnings) process.stderr.write(`ecfs: warning: ${w}\n`);
    if (r.gaps.length > 0) {
      const total = r.gaps.reduce((s, g) => s + g.len, 0);
      process.stderr.write(`ecfs: warning: ${total} bytes in ${r.gaps.length} ranges could not be read and are zero-filled (first at 0x${r.gaps[0]!.addr.toString(16)})\n`);
    }
    process.stdout.write(
      `${r.path}: pid ${r.pid}, ${r.threads} thread(s), ${r.mappings} mappings, ${(r.bytesOfMemory / 1048576).toFixed(1)} MiB of memory, ` +
        `target paused ${r.pausedMs.toFixed(0)} ms\n`,
    );
    if (r.heuristics) process.stdout.write(`${r.path}: heuristics: ${heuristicsSummary(r.heuristics)}\n`);
  },
});
