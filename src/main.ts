#!/usr/bin/env bun
// CLI entry. Subcommands load lazily, so `ecfs flip` never loads bun:ffi or the writer.
// Errors become one line (cli/report.ts); help is rendered by citty and written here, through
// the same stdout as everything else (cli/stdio.ts), so `ecfs --help | head -1` ends quietly.

import { defineCommand, renderUsage, runCommand } from "citty";
import { basename } from "node:path";
import { report } from "./cli/report.ts";
import { out } from "./cli/stdio.ts";

export const VERSION = "0.1.0";

const main = defineCommand({
  meta: { name: "ecfs", version: VERSION, description: "Extended Core File Snapshots: forensic ELF cores of Linux processes" },
  subCommands: {
    snapshot: () => import("./cli/snapshot.ts").then((m) => m.default),
    flip: () => import("./cli/flip.ts").then((m) => m.default),
    read: () => import("./cli/read.ts").then((m) => m.default),
  },
});

// Run as `readecfs`, the arguments are those of `read`. A script keeps its name in argv[1] (bun
// resolves a symlink there); a compiled binary has its build name in argv[1], how it was run in argv0.
const asReadecfs = [process.argv[1], process.argv0].some((a) => /^readecfs(\.[jt]s)?$/.test(basename(a ?? "")));
const rawArgs = asReadecfs ? ["read", ...process.argv.slice(2)] : process.argv.slice(2);

async function help(words: readonly string[]): Promise<void> {
  const subs = main.subCommands as Record<string, () => Promise<Parameters<typeof renderUsage>[0]>>;
  const load = subs[words[0] ?? ""];
  out(`${await (load ? renderUsage(await load(), main) : renderUsage(main))}\n`);
}

try {
  if (rawArgs.length === 0 || rawArgs.includes("--help") || (rawArgs.includes("-h") && rawArgs[0] !== "read")) await help(rawArgs);
  else if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) out(`${VERSION}\n`);
  else await runCommand(main, { rawArgs });
} catch (e) {
  process.exitCode = report(e);
}
