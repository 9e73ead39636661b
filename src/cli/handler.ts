// `ecfs handler` (also run as `ecfs_handler`): the core_pattern helper. Takes the original's
// options (-t -h -e NAME -p PID -o FILE) and ours; prints nothing, ever: errors go to the log.

import { type ArgsDef, defineCommand } from "citty";
import * as v from "valibot";
import { DEFAULT_CORES, DEFAULT_LOG, DEFAULT_SYSLOG, DEFAULT_TIMEOUT } from "../handler/defaults.ts";
import { runHandler } from "../handler/handler.ts";
import { logLine } from "../handler/log.ts";
import { DEFAULT_LIMITS } from "../handler/storage.ts";
import { HandlerOptionsSchema, parseWords, type Words } from "./options.ts";

export const HANDLER_ARGS = {
  pid: { type: "string", alias: "P", description: "pid of the crashing process in the initial pid namespace (%P)", valueHint: "PID" },
  "ns-pid": { type: "string", alias: "p", description: "its pid in its own namespace (%p; the original's option)", valueHint: "PID" },
  pidfd: { type: "string", alias: "F", description: "the pidfd the kernel passes for %F (Linux 6.16+); empty: none", valueHint: "FD" },
  exe: { type: "string", alias: "e", description: "accepted for the original's lines (%e); the name comes from the core", valueHint: "NAME" },
  out: { type: "string", alias: "o", description: "the original's output FILE: write there (its directory is the cores directory)", valueHint: "FILE" },
  cores: { type: "string", alias: "d", description: `cores directory (default ${DEFAULT_CORES})`, valueHint: "DIR" },
  log: { type: "string", description: `log file (default ${DEFAULT_LOG})`, valueHint: "FILE" },
  syslog: { type: "string", description: `syslog socket (default ${DEFAULT_SYSLOG})`, valueHint: "PATH" },
  "max-use": { type: "string", description: "most bytes our files may use in the cores directory (default 10%)", valueHint: "SIZE" },
  "keep-free": { type: "string", description: "bytes of the file system to keep free (default 15%)", valueHint: "SIZE" },
  timeout: { type: "string", description: `seconds after which the handler gives up (default ${DEFAULT_TIMEOUT}; 0: never)`, valueHint: "S" },
  heuristics: { type: "boolean", alias: "h", description: "forensic heuristics, as snapshot -h: injected objects, anonymous code, PLT/GOT hooks, patched code, foreign entry points", default: false },
  text: { type: "boolean", alias: "t", description: "accepted for the original's lines: all text is always captured", default: false },
  core: { type: "boolean", description: "write e_type ET_CORE instead of ET_NONE", default: false },
} as const satisfies ArgsDef;

/** --log and --syslog of a line that does not parse, so the complaint still reaches the right log. */
function logOptions(words: readonly string[]): Record<string, string | undefined> {
  const found: Record<string, string | undefined> = {};
  words.forEach((w, i) => {
    for (const name of ["log", "syslog"]) {
      if (w === `--${name}`) found[name] = words[i + 1];
      else if (w.startsWith(`--${name}=`)) found[name] = w.slice(name.length + 3);
    }
  });
  return found;
}

export default defineCommand({
  meta: { name: "handler", description: "Write an ECFS file of a crashing process (run by the kernel through core_pattern)" },
  args: HANDLER_ARGS,
  async run({ rawArgs }) {
    let words: Words | undefined;
    let bad: string | undefined;
    try {
      words = parseWords("handler", rawArgs, HANDLER_ARGS, { emptyValues: true });
      if (words.positionals.length > 0) bad = `unexpected word ${JSON.stringify(words.positionals[0])}`;
    } catch (e) {
      bad = (e as Error).message.replace(/^handler: /, "").replace(/ \(see ecfs handler --help\)$/, "");
    }
    const args = (words?.values ?? logOptions(rawArgs)) as Record<string, string | undefined> & { heuristics?: boolean; core?: boolean };
    const fallbackLog = { file: args.log ?? DEFAULT_LOG, syslog: args.syslog ?? DEFAULT_SYSLOG };
    const parsed = v.safeParse(HandlerOptionsSchema, {
      pid: args.pid, nsPid: args["ns-pid"], pidfd: args.pidfd, out: args.out, cores: args.cores ?? DEFAULT_CORES,
      logFile: fallbackLog.file, syslog: fallbackLog.syslog, maxUse: args["max-use"], keepFree: args["keep-free"],
      timeout: args.timeout ?? String(DEFAULT_TIMEOUT), heuristics: args.heuristics ?? false, core: args.core ?? false,
    });
    if (bad || !parsed.success) {
      // No stdout or stderr here: the log is the only voice. Exiting closes stdin, so the kernel goes on.
      const why = bad ?? parsed.issues!.map((i) => i.message).join("; ");
      logLine(fallbackLog, `handler ${rawArgs.join(" ")}: ${why}; no file written`, true);
      process.exitCode = 2;
      return;
    }
    const o = parsed.output;
    process.exitCode = await runHandler({
      pid: o.pid, nsPid: o.nsPid, pidfd: o.pidfd, out: o.out, cores: o.cores,
      log: { file: o.logFile, syslog: o.syslog },
      limits: { maxUse: o.maxUse ?? DEFAULT_LIMITS.maxUse, keepFree: o.keepFree ?? DEFAULT_LIMITS.keepFree },
      heuristics: o.heuristics, core: o.core, timeout: o.timeout,
      testFail: process.env.ECFS_TEST_FAIL,
    });
  },
});
