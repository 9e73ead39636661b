// `ecfs handler`: what the kernel runs through core_pattern for every crash. Reads the head of
// the kernel's core from stdin, builds the ECFS file of the dying process through the same
// pipeline as a snapshot (ecfs/pipeline.ts), names it <comm>.<pid> in the cores directory
// without replacing anything, and logs one line. Whatever fails, the raw kernel core is saved
// as <name>.core instead and the log says why; stdin is always drained or closed, so the
// crashing process never hangs; nothing is ever written to fds 1 or 2.

import { lstatSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { captureCrash, type Crash, type MemoryPath } from "../capture/kernel/crash.ts";
import { readCoreHead, type KernelCoreHead } from "../capture/kernel/head.ts";
import { CoreInput } from "../capture/kernel/input.ts";
import { decodeKernelNotes, signalOf, type KernelNotes } from "../capture/kernel/notes.ts";
import { SpoolFile } from "../capture/kernel/spool.ts";
import { AtomicFile, linkNew } from "../ecfs/output.ts";
import { writeEcfs } from "../ecfs/pipeline.ts";
import type { ElfClass } from "../elf/class.ts";
import { ET_CORE, ET_NONE } from "../elf/consts.ts";
import { signalName } from "../reader/threads.ts";
import { linkFd } from "../sys/fs.ts";
import { libc } from "../sys/libc.ts";
import { forbidCoreDumps, occupyStdio } from "../sys/selfguard.ts";
import { logLine, type LogTarget } from "./log.ts";
import { findPid } from "./pid.ts";
import { makeRoom, NoRoomError, type StorageLimits } from "./storage.ts";

export interface HandlerOptions {
  /** -P: the crashing process's pid in the initial pid namespace (%P). */
  pid?: number;
  /** -p: its pid in its own namespace (%p), as the original's line passed it. */
  nsPid?: number;
  /** -F: the pidfd the kernel installed for %F (Linux 6.16+). */
  pidfd?: number;
  /** -o: the original's output FILE (its directory becomes the cores directory). */
  out?: string;
  cores: string;
  log: LogTarget;
  limits: StorageLimits;
  heuristics: boolean;
  core: boolean;
  /** Seconds after which the kernel kills us (SIGALRM), however stuck we are; 0 for none. */
  timeout: number;
  /** ECFS_TEST_FAIL, read from the environment only by the CLI: "layout", "crash" or "hang". */
  testFail?: string;
}

const PIPE_LIMIT = "/proc/sys/kernel/core_pipe_limit";

/** A file name from a comm: printable ASCII, no "/", never "." or "..". */
export function safeName(comm: string): string {
  const s = comm.replace(/[^\x21-\x7e]|\//g, "_");
  return s === "" || s === "." || s === ".." ? "_" : s;
}

function memoryPath(): MemoryPath {
  try {
    return Number(readFileSync(PIPE_LIMIT, "utf8").trim()) > 0 ? "direct" : "stream";
  } catch {
    return "stream";
  }
}

const mib = (n: number | bigint) => `${(Number(n) / 1048576).toFixed(1)} MiB`;

/** Our peak resident set so far (VmHWM), for the log line. */
function peakRss(): string {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return kb === undefined ? "?" : `${(Number(kb) / 1024).toFixed(0)} MiB`;
  } catch {
    return "?";
  }
}

/** The directory must be a real directory, not a symlink someone planted. */
function checkDir(dir: string): void {
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory${st.isSymbolicLink() ? " (a symlink)" : ""}`);
}

/** Pointer, fault address and signal of the crash, for the log line. */
function describe(cls: ElfClass, d: KernelNotes): string {
  const s = signalOf(cls, d.siginfo);
  const regs = new DataView(d.threads[0]!.regs.buffer, d.threads[0]!.regs.byteOffset);
  const ip = cls.word === 8 ? regs.getBigUint64(16 * 8, true) : BigInt(regs.getUint32(12 * 4, true));
  const at = s.addr === undefined ? "" : ` at 0x${s.addr.toString(16)}`;
  return `${s.signo === 0 ? "no signal" : signalName(s.signo)}${at} ip 0x${ip.toString(16)}, ${d.threads.length} thread(s)`;
}

/** Save the raw kernel core as <base>.core: the spool when it holds the whole core, else head + rest of stdin. */
function saveRawCore(dir: string, base: string, input: CoreInput, crash: Crash | undefined, limits: StorageLimits, size: bigint | undefined): string {
  makeRoom(dir, size ?? 0n, limits);
  const path = join(dir, `${base}.core`);
  if (crash?.spool && input.atEof) {
    const fd = crash.spool.fd;
    return linkNew(path, (p) => linkFd(fd, p));
  }
  const spool = new SpoolFile(dir);
  try {
    spool.write(input.kept(), 0);
    input.pump((chunk, at) => spool.write(chunk, at));
    spool.finish();
    return linkNew(path, (p) => linkFd(spool.fd, p));
  } finally {
    spool.close();
  }
}

/** Runs the handler; returns the exit status. Never throws, never prints. */
export async function runHandler(opts: HandlerOptions): Promise<number> {
  const t0 = performance.now();
  const setupProblems: string[] = [];
  for (const step of [occupyStdio, forbidCoreDumps]) {
    try {
      step();
    } catch (e) {
      setupProblems.push((e as Error).message);
    }
  }
  if (opts.timeout > 0) libc.alarm(opts.timeout);
  if (opts.testFail === "crash") libc.kill(process.pid, 11); // SIGSEGV: not dumpable (selfguard.ts), so no core of us and no second handler

  const input = new CoreInput(0);
  let head: KernelCoreHead | undefined;
  let crash: Crash | undefined;
  let file: AtomicFile | undefined;
  let who = `pid ${opts.pid ?? opts.nsPid ?? "?"}`;
  let what = "";
  const dir = opts.out ? dirname(opts.out) : opts.cores;
  let base = opts.out ? basename(opts.out) : "";
  try {
    head = readCoreHead(input);
    if (opts.testFail === "hang") for (;;); // stuck with the process held: only the alarm ends this
    const d = decodeKernelNotes(head.cls, head.notes);
    what = describe(head.cls, d);
    const comm = d.prpsinfo.pr_fname;
    const pid = findPid(opts, d.prpsinfo.pr_pid);
    who = `pid ${pid} (${comm})`;
    base ||= `${safeName(comm)}.${pid}`;
    checkDir(dir);
    crash = captureCrash(input, head, pid, memoryPath(), dir);
    const path = crash.path;
    file = AtomicFile.create(join(dir, base), 0o600, { suffixed: true });
    const out = file;
    let evicted: string[] = [];
    const w = await writeEcfs(crash.image, out, {
      eType: opts.core ? ET_CORE : ET_NONE,
      heuristics: opts.heuristics,
      exePath: crash.exePath,
      beforeWrite: ({ memoryBytes }) => {
        if (opts.testFail === "layout") throw new Error("test switch ECFS_TEST_FAIL=layout");
        evicted = makeRoom(dir, BigInt(memoryBytes), opts.limits).evicted;
      },
    });
    const name = out.commitNew();
    crash.close();
    crash = undefined;
    input.close(); // the kernel lets the task go now
    const ms = (performance.now() - t0).toFixed(0);
    const warnings = [...setupProblems, ...w.warnings];
    const gaps = w.gaps.length > 0 ? `, ${w.gaps.length} unreadable range(s)` : "";
    const warned = warnings.length > 0 ? `; warnings: ${warnings.slice(0, 3).map((x) => x.slice(0, 200)).join("; ")}${warnings.length > 3 ? ` (+${warnings.length - 3})` : ""}` : "";
    const made = evicted.length > 0 ? `; removed the oldest to make room: ${evicted.map((e) => basename(e)).join(" ")}` : "";
    logLine(opts.log, `${who} ${what}: ECFS ${mib(w.bytes)} (${mib(w.bytesOfMemory)} of memory, ${path} read${gaps}) in ${ms} ms, peak RSS ${peakRss()} -> ${name}${made}${warned}`, false);
    return 0;
  } catch (e) {
    file?.abort();
    const reason = e instanceof Error ? e.message : String(e);
    let outcome: string;
    if (e instanceof NoRoomError) {
      outcome = `not written: ${reason}`;
      input.close();
    } else {
      try {
        if (!base) base = `${safeName("unknown")}.${opts.pid ?? opts.nsPid ?? process.pid}`;
        const raw = saveRawCore(dir, base, input, crash, opts.limits, head?.size);
        outcome = `ECFS not written (${reason}); raw core ${mib(input.position)} -> ${raw}`;
      } catch (e2) {
        outcome = `ECFS not written (${reason}); raw core not written either (${e2 instanceof Error ? e2.message : String(e2)})`;
      }
    }
    crash?.close();
    input.close();
    logLine(opts.log, `${who}${what ? ` ${what}` : ""}: ${outcome} in ${(performance.now() - t0).toFixed(0)} ms`, true);
    return 1;
  } finally {
    input.close();
  }
}
