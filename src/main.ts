#!/usr/bin/env bun
// CLI entry. `ecfs --version` is answered here with nothing else loaded; everything else is
// src/cli/main.ts, imported only then. The executable is a CommonJS bundle (scripts/build.ts),
// where every module, node:fs included, is evaluated when it is first imported, so what a
// command does not use costs it nothing at startup.

import { PROGRAM_NAMES, VERSION } from "./version.ts";

// Run under one of PROGRAM_NAMES, the arguments are that command's. A script keeps its name in
// argv[1] (bun resolves a symlink there); a compiled binary has its build name in argv[1], how it
// was run in argv0.
const base = (a: string | undefined): string => (a ?? "").slice((a ?? "").lastIndexOf("/") + 1).replace(/\.[jt]s$/, "");
const program = [process.argv[1], process.argv0].map(base).find((n) => n in PROGRAM_NAMES);
const words = process.argv.slice(2);
if (program === undefined && words.length === 1 && (words[0] === "--version" || words[0] === "-v")) {
  // Bun's own writer: node:fs alone would cost this path a third of its time. A closed stdout
  // ends it as cli/stdio.ts ends every command.
  Bun.write(Bun.stdout, `${VERSION}\n`).catch(() => void (process.exitCode = 141));
} else void import("./cli/main.ts").then((m) => m.runCli(words, program));
