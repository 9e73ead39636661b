// Running a fixture: spawn it, wait for its one JSON ready line, then wait until every
// thread that is meant to block really sits in the kernel (state S), so that two looks
// at the process (gdb now, a snapshot later) see the same registers.

import type { Subprocess } from "bun";
import { readdirSync, readFileSync } from "node:fs";
import type { FixtureInfo } from "./fixtures.ts";

export interface StartOptions {
  /** How long to wait for the ready line and for the threads to park (default 10 s). */
  timeoutMs?: number;
  /** Wait for every blocking thread to be in state S (default true). */
  settle?: boolean;
}

export interface RunningFixture<T extends FixtureInfo = FixtureInfo> {
  pid: number;
  binary: string;
  /** The ready line; every "0x..." string in it became a bigint. */
  info: T;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** What the fixture wrote to stderr so far. */
  stderr(): string;
  /** SIGKILL and reap; safe to call twice. */
  kill(): Promise<void>;
}

const running = new Set<RunningFixture>();

/** Kill every fixture still running (for afterAll). */
export async function killAllFixtures(): Promise<void> {
  await Promise.all([...running].map((f) => f.kill()));
}

// A test that throws past its finally still must not leave spinners behind.
process.on("exit", () => {
  for (const f of running) f.proc.kill("SIGKILL");
});

/** JSON.parse reviver: fixture addresses are "0x..." strings; make them bigint. */
function hexToBigint(_key: string, value: unknown): unknown {
  return typeof value === "string" && /^0x[0-9a-f]+$/i.test(value) ? BigInt(value) : value;
}

/** Start `binary` and resolve once it printed its ready line and its threads are parked. */
export async function startFixture<T extends FixtureInfo = FixtureInfo>(
  binary: string,
  args: string[] = [],
  env: Record<string, string> = {},
  opts: StartOptions = {},
): Promise<RunningFixture<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const proc = Bun.spawn([binary, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  let errText = "";
  let killed = false;
  const fixture: RunningFixture<T> = {
    pid: proc.pid,
    binary,
    info: undefined as unknown as T,
    proc,
    stderr: () => errText,
    async kill() {
      running.delete(fixture as RunningFixture);
      if (!killed) {
        killed = true;
        proc.kill("SIGKILL");
      }
      await proc.exited;
    },
  };
  running.add(fixture as RunningFixture);
  // Drain stderr all along, so a chatty fixture (LD_DEBUG) never blocks on a full pipe.
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) errText += dec.decode(chunk, { stream: true });
  })();

  const fail = async (why: string): Promise<never> => {
    await fixture.kill();
    await Bun.sleep(20); // let the stderr drain catch the last words
    throw new Error(`fixture ${binary} ${args.join(" ")} (pid ${proc.pid}): ${why}\nstderr:\n${errText}`);
  };

  const line = await readReadyLine(proc, deadline).catch((e: unknown) => fail(String(e)));
  let info: T;
  try {
    info = JSON.parse(line, hexToBigint) as T;
  } catch (e) {
    return fail(`ready line is not JSON (${String(e)}): ${line}`);
  }
  if (info.ready !== true || info.pid !== proc.pid)
    return fail(`ready line has ready=${String(info.ready)} pid=${info.pid}: ${line}`);
  fixture.info = info;
  if (opts.settle ?? true) {
    const spinning = new Set(
      ((info as { threads?: { tid: number; blocks: boolean }[] }).threads ?? [])
        .filter((t) => !t.blocks)
        .map((t) => t.tid),
    );
    const err = await waitParked(proc.pid, spinning, deadline).catch((e: unknown) => `parking: ${String(e)}`);
    if (err) return fail(err);
  }
  return fixture;
}

/** Read stdout up to the first newline; later output is drained and dropped. */
async function readReadyLine(proc: Subprocess<"ignore", "pipe", "pipe">, deadline: number): Promise<string> {
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no ready line before the timeout")), deadline - Date.now());
  });
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), timeout]);
      if (r.done) {
        const code = await Promise.race([proc.exited, Bun.sleep(200).then(() => "still running")]);
        throw new Error(`stdout closed before a ready line (exit ${String(code)}), got ${JSON.stringify(buf)}`);
      }
      buf += dec.decode(r.value, { stream: true });
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        void (async () => {
          while (!(await reader.read()).done);
        })();
        return buf.slice(0, nl);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Kernel state letter of one task: the field after the ")" that closes comm (proc(5)). */
export function taskState(pid: number, tid: number): string {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}

/** Every thread id of `pid`, from /proc/PID/task. */
export function taskIds(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
}

/**
 * Poll until every task outside `spinning` is in S, twice in a row 10 ms apart. A thread
 * announces itself just before its blocking call, so the ready line alone can come a
 * few instructions early. Returns an error sentence, or undefined when parked.
 */
async function waitParked(pid: number, spinning: Set<number>, deadline: number): Promise<string | undefined> {
  let calm = 0;
  let last = "";
  while (Date.now() < deadline) {
    const states = taskIds(pid).map((tid) => [tid, taskState(pid, tid)] as const);
    last = states.map(([t, s]) => `${t}:${s}`).join(" ");
    const parked = states.every(([tid, s]) => spinning.has(tid) || s === "S");
    calm = parked ? calm + 1 : 0;
    if (calm >= 2) return undefined;
    await Bun.sleep(10);
  }
  return `threads did not all park before the timeout (tid:state ${last})`;
}
