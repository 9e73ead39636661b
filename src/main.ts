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
    handler: () => import("./cli/handler.ts").then((m) => m.default),
    install: () => import("./cli/install.ts").then((m) => m.install),
    uninstall: () => import("./cli/install.ts").then((m) => m.uninstall),
  },
});

/** The original tools' names, as links to this one program: each means one command. */
export const PROGRAM_NAMES: Record<string, string> = { readecfs: "read", ecfs_handler: "handler", ecfs_snapshot: "snapshot", et_flip: "flip" };

// Run under one of those names, the arguments are that command's. A script keeps its name in
// argv[1] (bun resolves a symlink there); a compiled binary has its build name in argv[1], how
// it was run in argv0.
const asCommand = [process.argv[1], process.argv0]
  .map((a) => PROGRAM_NAMES[basename(a ?? "").replace(/\.[jt]s$/, "")])
  .find((c) => c !== undefined);
const rawArgs = asCommand ? [asCommand, ...process.argv.slice(2)] : process.argv.slice(2);
/** Commands whose -h is an option of theirs, not help: read's --header, the handler's and install's heuristics. */
const OWN_H = new Set(["read", "handler", "install"]);
// The handler never prints (the kernel gave it no stdout or stderr): no help for it either.
const wantsHelp = rawArgs[0] !== "handler" &&
  (rawArgs.length === 0 || rawArgs.includes("--help") || rawArgs.includes("--version") || (rawArgs.includes("-h") && !OWN_H.has(rawArgs[0] ?? "")));
if (wantsHelp) {
  await runMain(main, { rawArgs });
} else {
  try {
    await runCommand(main, { rawArgs });
  } catch (e) {
    process.exitCode = report(e);
  }
}
