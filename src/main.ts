#!/usr/bin/env bun
// CLI entry. Subcommands load lazily, so `ecfs flip` never loads bun:ffi or the writer.
// Errors become one line (cli/report.ts); only --help goes through citty's runMain.

import { defineCommand, runCommand, runMain } from "citty";
import { basename } from "node:path";
import { report } from "./cli/report.ts";

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
// -h is read's ELF header and snapshot's heuristics (as in the original tools); elsewhere, help.
const OWN_H = new Set(["read", "snapshot"]);
if (rawArgs.length === 0 || rawArgs.includes("--help") || rawArgs.includes("--version") || (rawArgs.includes("-h") && !OWN_H.has(rawArgs[0] ?? ""))) {
  await runMain(main, { rawArgs });
} else {
  try {
    await runCommand(main, { rawArgs });
  } catch (e) {
    process.exitCode = report(e);
  }
}
