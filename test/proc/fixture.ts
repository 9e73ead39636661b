// Test helpers: compile the C fixtures at test time and run them as live targets that report
// what they made as one JSON line. Every spawned process is tracked and killed by killAll().

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const FIXTURES = join(import.meta.dir, "fixtures");

export function scratchDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `ecfs-proc-${tag}-`));
}

/** cc the fixture `name`.c into `dir`; throws with the compiler's output on failure. */
export function compile(name: string, dir: string, flags: string[] = []): string {
  const out = join(dir, name);
  const r = Bun.spawnSync(["cc", "-O0", "-Wall", "-o", out, join(FIXTURES, `${name}.c`), ...flags], {
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`cc ${name}.c failed:\n${r.stderr.toString()}`);
  return out;
}

export class Targets {
  readonly #procs: Subprocess[] = [];

  /** Spawns argv with stdin/stdout piped; the fixtures exit when stdin closes. */
  spawn(argv: string[], env?: Record<string, string>): Subprocess<"pipe", "pipe", "inherit"> {
    const p = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit", ...(env ? { env } : {}) });
    this.#procs.push(p);
    return p;
  }

  /** Spawns a fixture and waits for its JSON line. */
  async start<T>(argv: string[], env?: Record<string, string>): Promise<{ proc: Subprocess; info: T }> {
    const proc = this.spawn(argv, env);
    const line = await firstLine(proc.stdout);
    return { proc, info: JSON.parse(line) as T };
  }

  killAll(): void {
    for (const p of this.#procs) {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    }
  }
}

export async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) text += dec.decode(value, { stream: true });
    const nl = text.indexOf("\n");
    if (nl >= 0) {
      reader.releaseLock();
      return text.slice(0, nl);
    }
    if (done) throw new Error(`fixture exited before its JSON line: ${JSON.stringify(text)}`);
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The report of target.c. */
export interface TargetInfo {
  pid: number;
  worker: number;
  utimeTicks: number;
  stimeTicks: number;
  global: string;
  small: string;
  large: string;
  stack: string;
  spacedMap: string;
  spaced: string;
  goneMap: string;
  gone: string;
  goneFd: number;
  nodump: string;
  nodumpLen: number;
  bigFd: number;
  big: string;
  bigPos: string;
  bigGetfl: number;
  tcpListenFd: number;
  tcpListenIno: number;
  tcpPort: number;
  tcpClientFd: number;
  tcpClientIno: number;
  tcpClientPort: number;
  tcpAcceptFd: number;
  tcpAcceptIno: number;
  udpFd: number;
  udpIno: number;
  udpPort: number;
  tcp6Fd: number;
  tcp6Ino: number;
  tcp6Port: number;
  unixFd: number;
  unixIno: number;
  unixPath: string;
  abstractFd: number;
  abstractIno: number;
  abstract: string;
  pairFds: [number, number];
  pairInos: [number, number];
  pipeFds: [number, number];
  pipeIno: number;
  auxv: { phdr: string; entry: string; base: string; vdso: string; random: string; execfn: string; pagesz: number };
}

/** Compiles target.c and starts it in a fresh scratch dir (shared by one test file). */
export async function startTarget(targets: Targets, dir: string, env?: Record<string, string>) {
  const bin = compile("target", dir, ["-pthread"]);
  const work = join(dir, "work");
  mkdirSync(work);
  const { proc, info } = await targets.start<TargetInfo>([bin, work], env);
  return { proc, info, bin, work };
}
