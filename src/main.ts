#!/usr/bin/env bun
// CLI entry. Subcommands load lazily, so `ecfs flip` never loads bun:ffi or the writer.
// Errors become one line (cli/report.ts); help is rendered by citty and written here, through
// the same stdout as everything else (cli/stdio.ts), so `ecfs --help | head -1` ends quietly.

import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import { basename } from "node:path";
import { isatty } from "node:tty";
import { UsageError } from "./errors.ts";
import { EXIT_USAGE, report } from "./cli/report.ts";
import { out } from "./cli/stdio.ts";

export const VERSION = "0.1.0";

// citty's own types are too narrow for a map of lazily loaded commands of different args.
type AnyCommand = CommandDef<any>;
const COMMANDS: Record<string, () => Promise<AnyCommand>> = {
  snapshot: () => import("./cli/snapshot.ts").then((m) => m.default),
  flip: () => import("./cli/flip.ts").then((m) => m.default),
  read: () => import("./cli/read.ts").then((m) => m.default),
  handler: () => import("./cli/handler.ts").then((m) => m.default),
  install: () => import("./cli/install.ts").then((m) => m.install),
  uninstall: () => import("./cli/install.ts").then((m) => m.uninstall),
};
const LIST = `commands: ${Object.keys(COMMANDS).join(", ")}, help`;

/** Listed in the help only: `ecfs help [COMMAND]` is answered by run() below. */
const HELP = defineCommand({ meta: { name: "help", description: "This help, or a command's (ecfs help snapshot); --help after any command does the same" } });

const main = defineCommand({
  meta: { name: "ecfs", version: VERSION, description: "Extended Core File Snapshots: forensic ELF cores of Linux processes" },
  subCommands: { ...COMMANDS, help: HELP },
});

/** citty colours its help; not for a pipe or a file, nor under NO_COLOR (no-color.org). */
const colour = isatty(1) && !process.env.NO_COLOR;

async function help(cmd: AnyCommand, parent?: AnyCommand): Promise<void> {
  const text = await renderUsage(cmd, parent);
  out(`${colour ? text : text.replace(/\x1b\[[0-9;]*m/g, "")}\n`);
}

/** `ecfs --pid 5`: say which command takes the option, with the line that works. */
async function misplacedOption(words: readonly string[]): Promise<never> {
  const opt = words[0]!;
  const name = opt.replace(/^--?(no-)?/, "").split("=")[0]!;
  const owners: string[] = [];
  // The handler is the kernel's to run, not a person's: never the suggestion.
  for (const [cmd, load] of Object.entries(COMMANDS).filter(([c]) => c !== "handler")) {
    const args = Object.entries((await load()).args ?? {}) as [string, { type?: string; alias?: string | string[] }][];
    const takes = args.some(([long, d]) => d.type !== "positional" && (opt.startsWith("--") ? long === name : [d.alias ?? []].flat().includes(name)));
    if (takes) owners.push(cmd);
  }
  if (owners.length === 0) throw new UsageError(`unknown option ${opt}: a command comes first (ecfs COMMAND [OPTIONS]; ${LIST})`);
  throw new UsageError(`${opt} goes after the command: ${owners.map((c) => `ecfs ${c} ${words.join(" ")}`).join(", or ")}`);
}

/** The original tools' names, as links to this one program: each means one command. */
export const PROGRAM_NAMES: Record<string, string> = { readecfs: "read", ecfs_handler: "handler", ecfs_snapshot: "snapshot", et_flip: "flip" };
/** Commands whose -h is an option of theirs, not help: read's --header; snapshot's, the handler's and install's heuristics (as in the original tools). */
const OWN_H = new Set(["read", "snapshot", "handler", "install"]);

async function run(words: readonly string[], program?: string): Promise<number> {
  const asCommand = program === undefined ? undefined : PROGRAM_NAMES[program];
  if (asCommand !== undefined) {
    // The handler never prints (the kernel gave it no stdout or stderr): no help for it either.
    if (asCommand !== "handler" && words.includes("--help")) {
      const cmd = await COMMANDS[asCommand]!();
      await help({ ...cmd, meta: { ...(cmd.meta as object), name: program } });
      return 0;
    }
    await runCommand(main, { rawArgs: [asCommand, ...words] });
    return 0;
  }
  const [first, ...rest] = words;
  if (first === undefined) {
    await help(main);
    return EXIT_USAGE;
  }
  if (first === "--help" || first === "-h") {
    await help(main);
    return 0;
  }
  if ((first === "--version" || first === "-v") && rest.length === 0) {
    out(`${VERSION}\n`);
    return 0;
  }
  if (first === "help") {
    if (rest.length > 1) throw new UsageError(`help takes one command at most (ecfs help [COMMAND]; ${LIST})`);
    const load = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    if (rest[0] !== undefined && !load) throw new UsageError(`no command ${JSON.stringify(rest[0])} to help with (${LIST})`);
    await (load ? help(await load(), main) : help(main));
    return 0;
  }
  if (first.startsWith("-")) await misplacedOption(words);
  const load = COMMANDS[first];
  if (!load) {
    const pid = /^\d+$/.test(first) ? `; to snapshot pid ${first}: ecfs snapshot ${first}` : "";
    throw new UsageError(`unknown command ${JSON.stringify(first)} (${LIST})${pid}`);
  }
  if (first !== "handler" && (rest.includes("--help") || (!OWN_H.has(first) && rest.includes("-h")))) {
    await help(await load(), main);
    return 0;
  }
  await runCommand(main, { rawArgs: [...words] });
  return 0;
}

// Run under one of PROGRAM_NAMES, the arguments are that command's. A script keeps its name in
// argv[1] (bun resolves a symlink there); a compiled binary has its build name in argv[1], how it
// was run in argv0.
const program = [process.argv[1], process.argv0].map((a) => basename(a ?? "").replace(/\.[jt]s$/, "")).find((n) => n in PROGRAM_NAMES);
try {
  const code = await run(process.argv.slice(2), program);
  if (code !== 0) process.exitCode = code;
} catch (e) {
  process.exitCode = report(e);
}
