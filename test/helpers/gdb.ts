// gdb as an oracle: registers and backtraces per thread, from a live attach or from a
// core, and memory read back from a core. Output is gdb 13's human format, parsed here.
//
// Calibrated (test/oracles.test.ts) against gcore cores of our fixtures, 64-bit and -m32:
// gdb -p and gdb on the gcore core agree on every register of every parked thread,
// with two documented exceptions that diffRegs() knows:
//  - orig_rax / orig_eax of a thread in a syscall that restarts through restart_block
//    (clock_nanosleep, poll): at the first ptrace stop it holds the syscall number; once
//    a tracer detached, the kernel re-enters it as restart_syscall (219 on x86-64, 0 on
//    i386), so every later stop shows that. rax/eax is -516 (-ERESTART_RESTARTBLOCK) both
//    times. Any snapshot taken after a gdb -p sees the second form.
//  - a thread spinning in userland (threads.c park_spin) keeps running between two
//    stops: only its segment registers and fs_base/gs_base are stable.
// `info registers general system` gives: the GPRs, rip/eip, eflags, cs ss ds es fs gs,
// k0-k7 (only on AVX-512 CPUs, from the XSAVE state), fs_base gs_base (64-bit only) and
// orig_rax/orig_eax. i386 processes have no fs_base/gs_base in gdb.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface GdbFrame {
  level: number;
  /** Absent for frames gdb prints without an address (inlined, or pc at a line start). */
  pc?: bigint;
  /** Function name as gdb prints it, "??" when unknown, "<signal handler called>". */
  fn: string;
  raw: string;
}

export interface GdbThread {
  /** The kernel thread id (gdb's "LWP n"). */
  lwp: number;
  regs: Map<string, bigint>;
  /** Registers gdb listed as <unavailable> (e.g. not present in a core). */
  unavailable: string[];
  frames: GdbFrame[];
  /** gdb's "Backtrace stopped: ..." reason, when it printed one. */
  btStopped?: string;
}

export interface GdbThreads {
  threads: Map<number, GdbThread>;
  /** Wall time of the gdb run. */
  ms: number;
  stdout: string;
  stderr: string;
}

const GDB_TIMEOUT_MS = 60_000;
const PREAMBLE = ["set pagination off", "set width 0", "set confirm off"];
const THREAD_CMDS = ["thread apply all info registers general system", "thread apply all bt"];

/** Run gdb -batch -nx with `target` (["-p", pid] or [exe, core]) and the commands. */
export function runGdb(target: string[], cmds: string[], timeoutMs = GDB_TIMEOUT_MS) {
  const argv = ["-batch", "-nx", ...target, ...[...PREAMBLE, ...cmds].flatMap((c) => ["-ex", c])];
  const t0 = performance.now();
  const r = spawnSync("gdb", argv, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 256 << 20 });
  const ms = performance.now() - t0;
  if (r.error) throw new Error(`gdb ${target.join(" ")}: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, ms };
}

/** Parse `thread apply all info registers` + `thread apply all bt` output. */
export function parseGdbThreads(stdout: string): Map<number, GdbThread> {
  const threads = new Map<number, GdbThread>();
  let cur: GdbThread | undefined;
  for (const line of stdout.split("\n")) {
    // "Thread 9 (Thread 0x7f.. (LWP 4976) "t64"):", "Thread 2 (LWP 77):", "Thread 1 (process 5):"
    const head = /^Thread \d+ \(.*?(?:LWP|process) (\d+)/.exec(line);
    if (head) {
      const lwp = Number(head[1]);
      cur = threads.get(lwp);
      if (!cur) threads.set(lwp, (cur = { lwp, regs: new Map(), unavailable: [], frames: [] }));
      continue;
    }
    if (!cur) continue; // the attach banner and "current frame" lines come first
    const reg = /^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+|<unavailable>)(?:\s|$)/.exec(line);
    if (reg) {
      const [, name, val] = reg as unknown as [string, string, string];
      if (val === "<unavailable>") cur.unavailable.push(name);
      else cur.regs.set(name, BigInt(val));
      continue;
    }
    const fr = /^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(.*)$/.exec(line);
    if (fr) {
      const rest = fr[3] ?? "";
      const paren = rest.indexOf(" (");
      const frame: GdbFrame = { level: Number(fr[1]), fn: paren < 0 ? rest : rest.slice(0, paren), raw: line };
      if (fr[2]) frame.pc = BigInt(fr[2]);
      cur.frames.push(frame);
      continue;
    }
    if (line.startsWith("Backtrace stopped:")) cur.btStopped = line;
  }
  return threads;
}

function threadsOrThrow(what: string, r: ReturnType<typeof runGdb>): GdbThreads {
  const threads = parseGdbThreads(r.stdout);
  if (threads.size === 0 || [...threads.values()].some((t) => t.regs.size === 0))
    throw new Error(`${what}: gdb gave no registers (exit ${r.status})\n${r.stderr}\n${r.stdout.slice(0, 4000)}`);
  return { threads, ms: r.ms, stdout: r.stdout, stderr: r.stderr };
}

function tracerOf(pid: number, tid: number): { tracer: number; state: string } {
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "latin1");
  const tracer = Number(/^TracerPid:\s*(\d+)/m.exec(status)?.[1] ?? "-1");
  const state = /^State:\s*(\S)/m.exec(status)?.[1] ?? "?";
  return { tracer, state };
}

function tasks(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

/**
 * Attach gdb to a live process and read every thread's registers and backtrace. gdb
 * detaches when it exits; this then checks that no task is still traced or stopped and
 * waits (up to 5 s) until every task that was sleeping before is sleeping again, so
 * the next look at the process finds it parked as before.
 */
export function gdbLiveThreads(pid: number, timeoutMs = GDB_TIMEOUT_MS): GdbThreads {
  const sleeping = tasks(pid).filter((t) => tracerOf(pid, t).state === "S");
  const out = threadsOrThrow(`gdb -p ${pid}`, runGdb(["-p", String(pid)], THREAD_CMDS, timeoutMs));
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = tasks(pid).map((t) => ({ t, ...tracerOf(pid, t) }));
    const traced = now.filter((x) => x.tracer !== 0 || x.state === "t" || x.state === "T");
    const awake = sleeping.filter((t) => now.find((x) => x.t === t)?.state !== "S");
    if (traced.length === 0 && awake.length === 0) return out;
    if (Date.now() > deadline)
      throw new Error(
        `pid ${pid} after gdb detached: traced/stopped ${JSON.stringify(traced)}, not back asleep ${awake.join(",")}`,
      );
    Bun.sleepSync(5);
  }
}

/** Registers and backtraces of every thread of a core file, as gdb loads it with `exe`. */
export function gdbCoreThreads(exe: string, core: string, timeoutMs = GDB_TIMEOUT_MS): GdbThreads {
  return threadsOrThrow(`gdb ${exe} ${core}`, runGdb([exe, core], THREAD_CMDS, timeoutMs));
}

/** Read several ranges of a core through gdb (`dump binary memory`), in one gdb run. */
export function gdbReadMemoryMany(exe: string, core: string, ranges: { addr: bigint; len: number }[]): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), "ecfs-gdbmem-"));
  try {
    const file = (i: number) => join(dir, `r${i}.bin`);
    const cmds = ranges.map(
      (r, i) => `dump binary memory ${file(i)} 0x${r.addr.toString(16)} 0x${(r.addr + BigInt(r.len)).toString(16)}`,
    );
    const res = runGdb([exe, core], cmds);
    return ranges.map((r, i) => {
      const size = existsSync(file(i)) ? statSync(file(i)).size : -1; // no file: gdb refused
      if (size !== r.len)
        throw new Error(`gdb could not read ${r.len} bytes at 0x${r.addr.toString(16)} from ${core}\n${res.stderr}`);
      return new Uint8Array(readFileSync(file(i)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `len` bytes at `addr` of a core, as gdb sees them. */
export function gdbReadMemory(exe: string, core: string, addr: bigint, len: number): Uint8Array {
  const [bytes] = gdbReadMemoryMany(exe, core, [{ addr, len }]);
  if (!bytes) throw new Error("gdbReadMemoryMany returned nothing");
  return bytes;
}

/** __NR_restart_syscall: arch/x86/entry/syscalls/syscall_64.tbl (219), syscall_32.tbl (0). */
const NR_RESTART_SYSCALL = { rax: 219n, eax: 0n } as const;
/** -ERESTART_RESTARTBLOCK (include/linux/errno.h 516) as gdb shows it, per register width. */
const ERESTART_RESTARTBLOCK = { rax: (1n << 64n) - 516n, eax: (1n << 32n) - 516n } as const;
/** What a thread running in userland cannot change between two stops. */
export const STABLE_WHILE_RUNNING = ["cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"];

/**
 * Registers that differ between two looks at one thread (say gdb -p, then gdb on a core),
 * as "name: a 0x.. b 0x..", leaving out the differences documented at the top of this
 * file: the restart_syscall form of orig_rax/orig_eax, and everything but
 * STABLE_WHILE_RUNNING for a thread that is `spinning`. A register shown on one side
 * only is a difference too.
 */
export function diffRegs(a: GdbThread, b: GdbThread, opts: { spinning?: boolean } = {}): string[] {
  const acc = a.regs.has("rax") ? "rax" : "eax";
  const names = opts.spinning
    ? STABLE_WHILE_RUNNING.filter((n) => a.regs.has(n) || b.regs.has(n))
    : [...new Set([...a.regs.keys(), ...b.regs.keys()])];
  const hex = (v: bigint | undefined) => (v === undefined ? "absent" : `0x${v.toString(16)}`);
  const restarted = (x: GdbThread, y: GdbThread) =>
    y.regs.get(`orig_${acc}`) === NR_RESTART_SYSCALL[acc] &&
    x.regs.get(acc) === ERESTART_RESTARTBLOCK[acc] &&
    y.regs.get(acc) === ERESTART_RESTARTBLOCK[acc];
  const out: string[] = [];
  for (const n of names) {
    const va = a.regs.get(n);
    const vb = b.regs.get(n);
    if (va === vb && va !== undefined) continue;
    if (n === `orig_${acc}` && va !== undefined && vb !== undefined && (restarted(a, b) || restarted(b, a))) continue;
    out.push(`${n}: ${hex(va)} vs ${hex(vb)}`);
  }
  return out;
}
