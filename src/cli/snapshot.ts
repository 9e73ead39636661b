import { type ArgsDef, defineCommand } from "citty";
import { join } from "node:path";
import { snapshot } from "../snapshot.ts";
import { parseWords, SnapshotOptionsSchema } from "./options.ts";
import { UsageError } from "../errors.ts";
import { parseOptions } from "./report.ts";
import { errLine, out } from "./stdio.ts";
import { heuristicsSummary } from "../ecfs/heuristics/summary.ts";

const SNAPSHOT_ARGS = {
  PID: { type: "positional", description: "the process, as gcore takes it: the same as -p PID", required: false },
  pid: { type: "string", alias: "p", description: "process to snapshot", valueHint: "PID" },
  out: { type: "string", alias: "o", description: "output file, a new name (default ./<comm>.<pid>)", valueHint: "FILE" },
  force: { type: "boolean", description: "replace an existing regular file at the output path (never a link, device, FIFO or socket)", default: false },
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

/** -p PID or gcore's bare PID, once. */
function pidWord(given: string | undefined, positionals: string[]): string | undefined {
  if (positionals.length > 1) throw new UsageError(`snapshot: one process at a time (got ${positionals.join(" ")}); ecfs snapshot PID`);
  const bare = positionals[0];
  if (bare === undefined) return given;
  if (!/^\d+$/.test(bare)) throw new UsageError(`snapshot: unexpected word ${JSON.stringify(bare)}: the process is -p PID or a bare PID, the output -o FILE`);
  if (given !== undefined) throw new UsageError(`snapshot: the pid is given twice (-p ${given} and ${bare}); give it once`);
  return bare;
}

export default defineCommand({
  meta: { name: "snapshot", description: "Write an ECFS file of a running process without killing it" },
  args: SNAPSHOT_ARGS,
  async run({ rawArgs }) {
    const { values, positionals } = parseWords("snapshot", rawArgs, SNAPSHOT_ARGS);
    const opts = parseOptions(SnapshotOptionsSchema, {
      pid: pidWord(values.pid as string | undefined, positionals),
      out: values.out,
      core: values.core,
      lowPause: values["low-pause"],
      force: values.force,
      heuristics: values.heuristics,
    });
    const r = await snapshot({
      pid: opts.pid,
      core: opts.core,
      lowPause: opts.lowPause,
      force: opts.force,
      heuristics: opts.heuristics,
      out: (comm, pid) => opts.out ?? join(process.cwd(), `${comm.replace(/[/\0]/g, "_")}.${pid}`),
    });
    for (const w of r.warnings) errLine(`ecfs: warning: ${w}`);
    if (r.gaps.length > 0) {
      const total = r.gaps.reduce((s, g) => s + g.len, 0);
      errLine(`ecfs: warning: ${total} bytes in ${r.gaps.length} ranges could not be read and are zero-filled (first at 0x${r.gaps[0]!.addr.toString(16)})`);
    }
    out(
      `${r.path}: pid ${r.pid}, ${r.threads} thread(s), ${r.mappings} mappings, ${(r.bytesOfMemory / 1048576).toFixed(1)} MiB of memory, ` +
        `target paused ${r.pausedMs.toFixed(0)} ms\n`,
    );
    if (r.heuristics) out(`${r.path}: heuristics: ${heuristicsSummary(r.heuristics)}\n`);
  },
});
