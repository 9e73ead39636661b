// Crashes through the real kernel into `ecfs handler`. Each setup is a short-named directory
// under /tmp (the whole core_pattern line must stay under 128 bytes) holding a wrapper script
// that runs `bun src/main.ts handler` (or a built binary), the cores directory and the log.
// A crash sets core_pattern and core_pipe_limit under the machine-wide lock
// (corepattern.ts), triggers the fixture, waits for it to die and for the handler's log line,
// and restores both.

import type { Subprocess } from "bun";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withCorePattern } from "./corepattern.ts";
import { MAIN } from "./ecfs.ts";
import type { FixtureInfo, Region } from "./fixtures.ts";
import { runGdb } from "./gdb.ts";

export interface HandlerSetup {
  dir: string;
  cores: string;
  log: string;
  /** One line per start of the handler (the wrapper appends its arguments). */
  starts: string;
  /** The program core_pattern runs. */
  program: string;
  /** The core_pattern line, with `extra` options after ours. */
  pattern(extra?: string[]): string;
}

export interface SetupOptions {
  /** ECFS_TEST_FAIL for the handler (its wrapper exports it; the kernel gives it no environment). */
  testFail?: string;
  /** Run this executable (a built dist/ecfs) instead of bun src/main.ts. */
  binary?: string;
  /** Make `cores` a mount point or leave it for the caller: created unless false. */
  createCores?: boolean;
}

export function handlerSetup(opts: SetupOptions = {}): HandlerSetup {
  const dir = mkdtempSync("/tmp/eh-");
  const cores = join(dir, "c");
  if (opts.createCores !== false) mkdirSync(cores, { mode: 0o700 });
  const log = join(dir, "log");
  const program = join(dir, "h");
  const run = opts.binary ? `exec ${opts.binary} handler "$@"` : `exec ${process.execPath} ${MAIN} handler "$@"`;
  const env = opts.testFail ? `ECFS_TEST_FAIL=${opts.testFail} ` : "";
  const starts = join(dir, "starts");
  writeFileSync(program, `#!/bin/sh\necho "$*" >> ${starts}\n${env}${run}\n`);
  chmodSync(program, 0o755);
  return {
    dir, cores, log, starts, program,
    pattern: (extra = []) => {
      // A literal "%" in core_pattern is "%%" (a lone one starts a specifier).
      const line = [`|${program}`, "-P", "%P", "-F", "%F", "-d", cores, "--log", log, ...extra.map((w) => w.replace(/%/g, "%%"))].join(" ");
      if (line.length > 127) throw new Error(`core_pattern line too long (${line.length}): ${line}`);
      return line;
    },
  };
}

export interface Crashed {
  /** Global pid of the process that crashed. */
  pid: number;
  exit: number | null;
  signal: string | null;
  /** The handler's log lines about this pid. */
  lines: string[];
  /** Files in the cores directory after the crash. */
  files: string[];
}

/** The handler's starts so far, each as its argument line. */
export function handlerStarts(setup: HandlerSetup): string[] {
  return existsSync(setup.starts) ? readFileSync(setup.starts, "utf8").split("\n").filter((l) => l !== "") : [];
}

export function logLines(setup: HandlerSetup): string[] {
  return existsSync(setup.log) ? readFileSync(setup.log, "utf8").split("\n").filter((l) => l !== "") : [];
}

/** Wait (polling) until the log has a line about `pid`, or `ms` pass. */
export async function waitForLine(setup: HandlerSetup, pid: number, ms = 60_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  const mine = () => logLines(setup).filter((l) => l.includes(`: pid ${pid} `));
  while (Date.now() < deadline) {
    const got = mine();
    if (got.length > 0) return got;
    await Bun.sleep(25);
  }
  return mine();
}

export interface Victim {
  /** Global pid to send SIGUSR1 to. */
  pid: number;
  proc: Subprocess;
}

/**
 * With core_pattern pointing at the handler (pipe limit `pipeLimit`), make every victim crash
 * (SIGUSR1) at once, wait until each has died (a crash whose process never dies is a hang: the
 * guard kills it and the test fails) and each has its log line.
 */
export async function crashAll(setup: HandlerSetup, pipeLimit: number, victims: Victim[], opts: { extra?: string[]; expectLine?: boolean; line?: string } = {}): Promise<Crashed[]> {
  return withCorePattern(opts.line ?? setup.pattern(opts.extra), pipeLimit, async () => {
    for (const v of victims) process.kill(v.pid, "SIGUSR1");
    const HANG_MS = 120_000;
    const results = await Promise.all(victims.map(async (v) => {
      const timer = setTimeout(() => v.proc.kill("SIGKILL"), HANG_MS);
      const exit = await v.proc.exited;
      clearTimeout(timer);
      const lines = opts.expectLine === false ? [] : await waitForLine(setup, v.pid);
      return { pid: v.pid, exit, signal: v.proc.signalCode === null ? null : String(v.proc.signalCode), lines, files: [] as string[] };
    }));
    const files = existsSync(setup.cores) ? readdirSync(setup.cores).sort() : [];
    for (const r of results) r.files = files;
    return results;
  });
}

export const crashOne = async (setup: HandlerSetup, pipeLimit: number, v: Victim, opts: { extra?: string[]; expectLine?: boolean } = {}): Promise<Crashed> =>
  (await crashAll(setup, pipeLimit, [v], opts))[0]!;

/** crasher.c's ready line. */
export type CrasherInfo = FixtureInfo & { regions: Region[]; how: string; crash_tid: number; bus_addr: bigint; tids: number[] };

export const SIGNALS: Record<string, { name: string; number: number }> = {
  segv: { name: "SIGSEGV", number: 11 },
  abort: { name: "SIGABRT", number: 6 },
  bus: { name: "SIGBUS", number: 7 },
  fpe: { name: "SIGFPE", number: 8 },
};

export interface GdbCrashView {
  /** LWPs in gdb's thread order (thread 1 first). */
  lwps: number[];
  /** LWP of the thread gdb selects on load (the one marked "*"). */
  current: number;
  signo: number;
  /** si_addr as gdb prints it (undefined when gdb shows none). */
  addr?: bigint;
  /** Function names of the current thread's backtrace. */
  frames: string[];
  stdout: string;
}

/** What gdb says about a crash core (ET_CORE): threads, signal, fault address, backtrace. */
export function gdbCrashView(exe: string, core: string): GdbCrashView {
  const r = runGdb([exe, core], ["info threads", "p $_siginfo.si_signo", "p $_siginfo._sifields._sigfault.si_addr", "bt"]);
  const lwps: number[] = [];
  let current = -1;
  for (const m of r.stdout.matchAll(/^(\*| ) +(\d+) +.*?\(LWP (\d+)\)/gm)) {
    lwps[Number(m[2]) - 1] = Number(m[3]);
    if (m[1] === "*") current = Number(m[3]);
  }
  const signo = Number(/^\$1 = (\d+)/m.exec(r.stdout)?.[1] ?? "-1");
  const addr = /^\$2 = \(void \*\) (0x[0-9a-f]+)/m.exec(r.stdout)?.[1];
  const frames = [...r.stdout.matchAll(/^#\d+\s+(?:0x[0-9a-f]+ in )?([\w.@]+)/gm)].map((m) => m[1]!);
  return { lwps: lwps.filter((x) => x !== undefined), current, signo, addr: addr === undefined ? undefined : BigInt(addr), frames, stdout: r.stdout };
}
