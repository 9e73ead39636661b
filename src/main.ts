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
  for (const [cmd, load] of Object.entries(COMMANDS)) {
    const args = Object.entries((await load()).args ?? {}) as [string, { type?: string; alias?: string | string[] }][];
    const takes = args.some(([long, d]) => d.type !== "positional" && (opt.startsWith("--") ? long === name : [d.alias ?? []].flat().includes(name)));
    if (takes) owners.push(cmd);
  }
  if (owners.length === 0) throw new UsageError(`unknown option ${opt}: a command comes first (ecfs COMMAND [OPTIONS]; ${LIST})`);
  throw new UsageError(`${opt} goes after the command: ${owners.map((c) => `ecfs ${c} ${words.join(" ")}`).join(", or ")}`);
}

async function run(words: readonly string[], asReadecfs: boolean): Promise<number> {
  if (asReadecfs) {
    if (words.includes("--help")) {
      const read = await COMMANDS.read!();
      await help({ ...read, meta: { ...(read.meta as object), name: "readecfs" } });
      return 0;
    }
    await runCommand(main, { rawArgs: ["read", ...words] });
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
  if (rest.includes("--help") || (first !== "read" && rest.includes("-h"))) {
    await help(await load(), main);
    return 0;
  }
  await runCommand(main, { rawArgs: [...words] });
  return 0;
}

// Run as `readecfs`, the arguments are those of `read`. A script keeps its name in argv[1] (bun
// resolves a symlink there); a compiled binary has its build name in argv[1], how it was run in argv0.
const asReadecfs = [process.argv[1], process.argv0].some((a) => /^readecfs(\.[jt]s)?$/.test(basename(a ?? "")));
try {
  const code = await run(process.argv.slice(2), asReadecfs);
  if (code !== 0) process.exitCode = code;
} catch (e) {
  process.exitCode = report(e);
}
