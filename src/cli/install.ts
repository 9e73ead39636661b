// `ecfs install` and `ecfs uninstall`: the crash handler put in place and taken out again.

import { type ArgsDef, defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { install as doInstall, uninstall as doUninstall } from "../install/install.ts";
import { DEFAULT_PREFIX } from "../handler/defaults.ts";
import { InstallOptionsSchema, parseWords, UninstallOptionsSchema } from "./options.ts";
import { parseOptions } from "./report.ts";
import { out as write } from "./stdio.ts";

const INSTALL_ARGS = {
  prefix: { type: "string", description: `where bin/ecfs, cores/ and ecfs.log go (default ${DEFAULT_PREFIX})`, valueHint: "DIR" },
  cores: { type: "string", description: "cores directory (default PREFIX/cores)", valueHint: "DIR" },
  "pipe-limit": { type: "string", description: "kernel.core_pipe_limit: crashes handled at once (default 16)", valueHint: "N" },
  "max-use": { type: "string", description: "most our files may use in the cores directory (default 10% of its file system)", valueHint: "SIZE" },
  "keep-free": { type: "string", description: "space to keep free on that file system (default 15%)", valueHint: "SIZE" },
  heuristics: { type: "boolean", alias: "h", description: "the handler marks injected libraries (-h)", default: false },
  text: { type: "boolean", alias: "t", description: "accepted as the original's -t (all text is always captured)", default: false },
} as const satisfies ArgsDef;

/**
 * A standalone executable runs its bundled sources from Bun's embedded file system. (Bun.main,
 * not import.meta.path: the CommonJS bundle of scripts/build.ts bakes the latter in at build time.)
 */
const isCompiled = (): boolean => Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");

export const install = defineCommand({
  meta: { name: "install", description: "Install the crash handler: every crash on this machine leaves an ECFS file" },
  args: INSTALL_ARGS,
  run({ rawArgs }) {
    const { values: args, positionals } = parseWords("install", rawArgs, INSTALL_ARGS);
    if (positionals.length > 0) throw new UsageError(`install: unexpected word ${JSON.stringify(positionals[0])} (see ecfs install --help)`);
    const o = parseOptions(InstallOptionsSchema, {
      prefix: args.prefix ?? DEFAULT_PREFIX, cores: args.cores, pipeLimit: args["pipe-limit"] ?? "16",
      maxUse: args["max-use"], keepFree: args["keep-free"], heuristics: args.heuristics, text: args.text,
    });
    if (!isCompiled()) throw new UsageError("install copies the single-file executable: build it (bun run build) and run dist/ecfs install");
    const r = doInstall({ ...o, executable: process.execPath });
    const out = (s: string) => write(`${s}\n`);
    out(`core_pattern    was: ${r.previousPattern}`);
    out(`                now: ${r.pattern}`);
    out(`core_pipe_limit was: ${r.previousPipeLimit}, now: ${r.pipeLimit}`);
    if (r.pidfdNote) out(`note: ${r.pidfdNote}`);
    out(r.firstInstall ? `previous values saved in ${o.prefix}/install-state.json` : `already installed: the values saved by the first install are kept`);
  },
});

const UNINSTALL_ARGS = {
  prefix: { type: "string", description: `where install put it (default ${DEFAULT_PREFIX})`, valueHint: "DIR" },
} as const satisfies ArgsDef;

export const uninstall = defineCommand({
  meta: { name: "uninstall", description: "Put back the core_pattern, core_pipe_limit and sysctl.d file that were there before install" },
  args: UNINSTALL_ARGS,
  run({ rawArgs }) {
    const { values: args, positionals } = parseWords("uninstall", rawArgs, UNINSTALL_ARGS);
    if (positionals.length > 0) throw new UsageError(`uninstall: unexpected word ${JSON.stringify(positionals[0])} (see ecfs uninstall --help)`);
    const o = parseOptions(UninstallOptionsSchema, { prefix: args.prefix ?? DEFAULT_PREFIX });
    const r = doUninstall(o.prefix);
    const out = (s: string) => write(`${s}\n`);
    if (!r) {
      out(`nothing to uninstall: no ${o.prefix}/install-state.json`);
      return;
    }
    out(`core_pattern    was: ${r.previousPattern}`);
    out(`                now: ${r.pattern}`);
    out(`core_pipe_limit now: ${r.pipeLimit}`);
    out(`/etc/sysctl.d/50-ecfs.conf ${r.sysctl}`);
    if (r.kept.length > 0) out(`kept (yours): ${r.kept.join(" ")}`);
  },
});
