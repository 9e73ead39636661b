// Real artifacts made at test time: a small threaded C program built in several ways, and
// cores of it parked in pause(), written by gdb's gcore and by the kernel itself. The program
// prints the address of a known marker so tests can find it in the core.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withCorePattern } from "../helpers/corepattern.ts";
import { syntheticI386, writeSyntheticI386 } from "../helpers/i386image.ts";
import { NO_I386 } from "../helpers/machine.ts";

export const MARKER = "ECFS-TS-MARKER-0123456789";
/** The parked program runs under these ids (via setpriv), so that uid and gid fields hold
 * distinct non-zero values and a wrong field width or offset shows. */
export const TARGET_UID = 4321;
export const TARGET_GID = 8765;
const AS_TARGET = ["setpriv", `--reuid=${TARGET_UID}`, `--regid=${TARGET_GID}`, "--clear-groups"];

const PARK_C = `
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
char marker[] = "${MARKER}";
static void *worker(void *arg) { (void)arg; for (;;) pause(); return 0; }
int main(void) {
  pthread_t t;
  pthread_create(&t, 0, worker, 0);
  printf("%p\\n", (void *)marker);
  fflush(stdout);
  for (;;) pause();
}
`;

export interface Binaries {
  dir: string;
  /** PIE, dynamically linked, 64-bit. */
  park64: string;
  /** PIE, dynamically linked, i386. */
  park32: string;
  /** -no-pie i386. */
  nopie32: string;
  /** -static 64-bit. */
  static64: string;
  /** Relocatable objects (ET_REL: sections, no segments). */
  obj64: string;
  obj32: string;
}

export interface CoreRun {
  kind: "gcore" | "kernel";
  exe: string;
  core: string;
  pid: number;
  /** Thread ids seen in /proc/PID/task just before the core was taken. */
  tids: number[];
  /** Address of MARKER in the process. */
  marker: bigint;
}

let dir: string | undefined;
function workDir(): string {
  if (!dir) {
    dir = mkdtempSync("/tmp/ecfs-ts-elf-");
    chmodSync(dir, 0o755); // the target user must reach the binaries
  }
  return dir;
}

/** Removes everything made here. bun test fires no process "exit" event, so each test file
 * calls this from afterAll; a later file simply builds afresh. */
export function cleanupFixtures(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
  built = undefined;
  cores.clear();
}

function sh(argv: string[], cwd?: string): void {
  const p = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: exit ${p.exitCode}\n${p.stderr.toString()}`);
}

let built: Binaries | undefined;
export function binaries(): Binaries {
  if (built) return built;
  const d = workDir();
  const src = join(d, "park.c");
  writeFileSync(src, PARK_C);
  const out = (n: string): string => join(d, n);
  sh(["cc", "-O0", "-g", "-pthread", "-o", out("park64"), src]);
  sh(["cc", "-m32", "-O0", "-g", "-pthread", "-o", out("park32"), src]);
  sh(["cc", "-m32", "-no-pie", "-O0", "-pthread", "-o", out("nopie32"), src]);
  sh(["cc", "-static", "-O0", "-pthread", "-o", out("static64"), src]);
  sh(["cc", "-c", "-O0", "-o", out("park64.o"), src]);
  sh(["cc", "-m32", "-c", "-O0", "-o", out("park32.o"), src]);
  built = {
    dir: d, park64: out("park64"), park32: out("park32"), nopie32: out("nopie32"), static64: out("static64"),
    obj64: out("park64.o"), obj32: out("park32.o"),
  };
  return built;
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  reader.releaseLock();
  return text.split("\n")[0] ?? "";
}

function tidsOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
}

async function parked(argv: string[], cwd: string): Promise<{ proc: Bun.Subprocess<"ignore", "pipe", "inherit">; marker: bigint; tids: number[] }> {
  const proc = Bun.spawn(argv, { cwd, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const line = await firstLine(proc.stdout);
  if (!/^0x[0-9a-f]+$/.test(line)) throw new Error(`${argv.join(" ")}: unexpected output ${JSON.stringify(line)}`);
  let tids = tidsOf(proc.pid);
  for (let i = 0; i < 100 && tids.length < 2; i++) {
    await Bun.sleep(10);
    tids = tidsOf(proc.pid);
  }
  return { proc, marker: BigInt(line), tids };
}

const cores = new Map<string, Promise<CoreRun>>();

/** gdb's gcore of the parked program (the process keeps running until we kill it). */
export function gcoreOf(exe: string): Promise<CoreRun> {
  const key = `gcore:${exe}`;
  let p = cores.get(key);
  if (!p) {
    p = (async () => {
      const d = join(workDir(), `gcore-${cores.size}`);
      mkdirSync(d);
      const { proc, marker, tids } = await parked([...AS_TARGET, exe], d);
      try {
        sh(["gcore", "-o", join(d, "core"), String(proc.pid)]);
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      return { kind: "gcore" as const, exe, core: join(d, `core.${proc.pid}`), pid: proc.pid, tids, marker };
    })();
    cores.set(key, p);
  }
  return p;
}

/**
 * Why the kernel cannot write a core for us, or undefined if it can. As root we point
 * core_pattern at our directory for each crash (and put it back), so only a non-root run lacks them.
 */
export function kernelCoreUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root: cannot set kernel.core_pattern for the crash";
  return undefined;
}


/** A core written by the kernel: the parked program, with RLIMIT_CORE raised, killed by SIGABRT. */
export function kernelCoreOf(exe: string): Promise<CoreRun> {
  const key = `kernel:${exe}`;
  let p = cores.get(key);
  if (!p) {
    p = (async () => {
      const d = join(workDir(), `kcore-${cores.size}`);
      mkdirSync(d);
      chmodSync(d, 0o777); // the kernel writes the core as the target user
      const { proc, marker, tids } = await parked([...AS_TARGET, "sh", "-c", 'ulimit -c unlimited && exec "$0"', exe], d);
      // The pattern is read when the core is written: set it just for this crash (under the
      // machine-wide lock), restore it after.
      await withCorePattern(join(d, "core.%p"), undefined, async () => {
        proc.kill("SIGABRT");
        await proc.exited;
      });
      const name = readdirSync(d)[0]; // the directory is fresh: whatever is in it is the core
      if (!name || !existsSync(join(d, name))) throw new Error(`no kernel core written in ${d}`);
      return { kind: "kernel" as const, exe, core: join(d, name), pid: proc.pid, tids, marker };
    })();
    cores.set(key, p);
  }
  return p;
}

/**
 * A 32-bit core for the note and fuzz tests: gdb's gcore of the parked i386 program where the
 * kernel runs i386, else an ET_CORE file our writer made of a synthetic i386 image
 * (test/helpers/i386image.ts: the same notes and record sizes, without running anything).
 */
export async function core32(): Promise<{ core: string; pid: number; synthetic: boolean }> {
  if (!NO_I386) {
    const run = await gcoreOf(binaries().park32);
    return { core: run.core, pid: run.pid, synthetic: false };
  }
  const s = syntheticI386();
  const core = join(workDir(), "synthetic32.core");
  if (!existsSync(core)) await writeSyntheticI386(s, core);
  return { core, pid: s.image.info.pid, synthetic: true };
}
