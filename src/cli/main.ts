// The CLI proper, loaded by src/main.ts for anything but --version. Subcommands load lazily,
// so `ecfs flip` never loads bun:ffi or the writer. Errors become one line (cli/report.ts); help
// is rendered by citty and written here, through the same stdout as everything else
// (cli/stdio.ts), so `ecfs --help | head -1` ends quietly.

import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import { UsageError } from "../errors.ts";
import { PROGRAM_NAMES, VERSION } from "../version.ts";
import { EXIT_USAGE, report } from "./report.ts";
import { out } from "./stdio.ts";

// citty's own types are too narrow for a map of lazily loaded commands of different args.
type AnyCommand = CommandDef<any>;
const COMMANDS: Record<string, () => Promise<AnyCommand>> = {
  snapshot: () => import("./snapshot.ts").then((m) => m.default),
  flip: () => import("./flip.ts").then((m) => m.default),
  read: () => import("./read.ts").then((m) => m.default),
  handler: () => import("./handler.ts").then((m) => m.default),
  install: () => import("./install.ts").then((m) => m.install),
  uninstall: () => import("./install.ts").then((m) => m.uninstall),
};
const LIST = `commands: ${Object.keys(COMMANDS).join(", ")}, help`;

/** Listed in the help only: `ecfs help [COMMAND]` is answered by run() below. */
const HELP = defineCommand({ meta: { name: "help", description: "This help, or a command's (ecfs help snapshot); --help after any command does the same" } });

const main = defineCommand({
  meta: { name: "ecfs", version: VERSION, description: "Extended Core File Snapshots: forensic ELF cores of Linux processes" },
  subCommands: { ...COMMANDS, help: HELP },
});

async function help(cmd: AnyCommand, parent?: AnyCommand): Promise<void> {
  const text = await renderUsage(cmd, parent);
  // citty colours its help; not for a pipe or a file, nor under NO_COLOR (no-color.org).
  // node:tty only now: loading it costs more than the rest of startup (about 15 ms).
  const colour = !process.env.NO_COLOR && (await import("node:tty")).isatty(1);
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

/** Commands whose -h is an option of theirs, not help: read's --header, the handler's and install's heuristics. */
const OWN_H = new Set(["read", "snapshot", "handler", "install"]);

async function run(words: readonly string[], program: string | undefined): Promise<number> {
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

/** Runs the command line `words` (under `program`, one of PROGRAM_NAMES, if so named); sets the exit code. */
export async function runCli(words: readonly string[], program: string | undefined): Promise<void> {
  try {
    const code = await run(words, program);
    if (code !== 0) process.exitCode = code;
  } catch (e) {
    process.exitCode = report(e);
  }
}
