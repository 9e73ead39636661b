// `ecfs snapshot --low-pause`: the stopped target forks, runs on at once, and the fork is
// copied. Judged from outside: the target's blocked syscalls come back exactly as the kernel
// restarts them (a wrong restart or a stray SIGCHLD makes the sleeper fixture return and exit
// 3), the target has no child left, a target that wrote all through the copy is captured at
// one instant (gdb dumps the buffer from the file), and where a fork must not be made the
// snapshot says so and stops the target as usual.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture, taskIds, type FixtureInfo, type PatternsInfo, type RunningFixture } from "../helpers/fixtures.ts";
import { liveMemory } from "../helpers/oracles.ts";
import { patternMismatch } from "../helpers/pattern.ts";
import { ecfs, ecfsAsync } from "../helpers/ecfs.ts";
import { NO_I386 } from "../helpers/machine.ts";
import { populatedRuns } from "../../src/proc/pagemap.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-lowpause-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

const syscallLine = (pid: number): string => readFileSync(`/proc/${pid}/syscall`, "latin1").trim();
const children = (pid: number): string[] =>
  taskIds(pid).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, "latin1").trim().split(/\s+/).filter(Boolean));
const stillRunning = (fx: RunningFixture): boolean => fx.proc.exitCode === null && fx.proc.signalCode === null;

/** restart_syscall: how an interrupted nanosleep goes on (-ERESTART_RESTARTBLOCK). */
const RESTART_SYSCALL = { 64: "219", 32: "0" } as const;

describe("blocked syscalls are restarted as the kernel would, and no SIGCHLD reaches the target", () => {
  for (const bits of [64, 32] as const) {
    for (const how of ["pause", "sigsuspend", "read", "nanosleep"]) {
      for (const lowPause of [true, false]) {
        test.skipIf(bits === 32 && NO_I386)(`${bits}-bit, ${how}${lowPause ? ", --low-pause" : ""}`, async () => {
          const fx = await startFixture(buildFixture("sleeper", bits === 32 ? { m32: true } : {}), [how]);
          const before = syscallLine(fx.pid);
          const out = join(work, `sleeper-${bits}-${how}-${lowPause}.ecfs`);
          const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, ...(lowPause ? ["--low-pause"] : [])]);
          expect(r.stderr).toBe("");
          expect(r.code).toBe(0);
          await Bun.sleep(150);
          // Had the syscall returned (-ERESTART* leaking out, or EINTR for a SIGCHLD), it would have exited 3.
          expect(stillRunning(fx)).toBe(true);
          const after = syscallLine(fx.pid);
          if (how === "nanosleep") expect([before.split(" ")[0], RESTART_SYSCALL[bits]]).toContain(after.split(" ")[0]!);
          else expect(after).toBe(before);
          expect(children(fx.pid)).toEqual([]);
          rmSync(out);
          await fx.kill();
        });
      }
    }
  }
});

/** The buffer as gdb reads it from the ET_CORE file: gdb's `dump binary memory`. */
function gdbDump(exe: string, core: string, addr: bigint, len: number): Uint8Array {
  const bin = join(work, "dump.bin");
  const r = spawnSync("gdb", ["-nx", "-q", "-batch", "-ex", `dump binary memory ${bin} 0x${addr.toString(16)} 0x${(addr + BigInt(len)).toString(16)}`, exe, core], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gdb dump failed: ${r.stderr}`);
  const b = new Uint8Array(readFileSync(bin));
  rmSync(bin);
  return b;
}

test("a target that writes all through the copy is captured at one instant", async () => {
  type ChurnInfo = FixtureInfo & { buf: bigint; words: number; gen: bigint };
  const exe = buildFixture("churn", {});
  const fx = await startFixture<ChurnInfo>(exe, [], {}, { settle: false });
  const out = join(work, "churn.ecfs");
  const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, "--core", "--low-pause"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const genAt = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
  const g = genAt(gdbDump(exe, out, fx.info.gen, 8));
  const words = new BigUint64Array(gdbDump(exe, out, fx.info.buf, fx.info.words * 8).buffer);
  // g+1 in front (the fill under way), g behind it; nothing else, in no other order.
  let i = 0;
  while (i < words.length && words[i] === g + 1n) i++;
  while (i < words.length && words[i] === g) i++;
  expect({ g, firstOther: i, of: words.length }).toEqual({ g, firstOther: words.length, of: words.length });
  // And the target did run on meanwhile: it is generations further now.
  expect(genAt(liveMemory(fx.pid, fx.info.gen, 8))).toBeGreaterThan(g);
  expect(children(fx.pid)).toEqual([]);
  await fx.kill();
});

test("a target under seccomp is not forked: a warning, and the usual stopped copy", async () => {
  const fx = await startFixture(buildFixture("sleeper", {}), ["pause", "seccomp"]);
  expect(readFileSync(`/proc/${fx.pid}/status`, "latin1")).toMatch(/^Seccomp:\s+2$/m);
  const out = join(work, "seccomp.ecfs");
  const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, "--low-pause"]);
  expect(r.code).toBe(0);
  expect(r.stderr.trim()).toBe("ecfs: warning: low-pause mode not used, the target stays stopped for the copy: the target runs under seccomp, which may forbid or punish a fork");
  await Bun.sleep(100);
  expect(stillRunning(fx)).toBe(true);
  expect(children(fx.pid)).toEqual([]);
  await fx.kill();
});

test("SIGKILL of the snapshot while it copies the fork: the fork dies with it, the target runs on", async () => {
  const fx = await startFixture<PatternsInfo>(buildFixture("patterns"), ["--heap-mib", "1024"], {}, { timeoutMs: 60_000 });
  const dir = join(work, "killed");
  require("node:fs").mkdirSync(dir);
  const snap = ecfsAsync(["snapshot", "-p", String(fx.pid), "-o", join(dir, "killed.ecfs"), "--low-pause"]);
  // The copy is under way once the target has a child and is no longer traced. (A SIGKILL
  // during the injection itself, a window of well under a millisecond, would leave a thread of
  // the target at the injected registers: README, known limits.)
  const tracer = () => /^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${fx.pid}/status`, "latin1"))?.[1];
  const deadline = Date.now() + 20_000;
  let child: string | undefined;
  while (Date.now() < deadline && (child === undefined || tracer() !== "0")) {
    child = children(fx.pid)[0];
    await Bun.sleep(1);
  }
  expect(child).toBeDefined();
  expect(tracer()).toBe("0");
  snap.kill("SIGKILL");
  await snap.exited;
  // PTRACE_O_EXITKILL: the kernel killed the fork with its tracer. Its zombie stays the
  // target's child (nobody is left to reap it; README, known limits), but it never runs.
  const until = Date.now() + 5000;
  const state = () => {
    try {
      const s = readFileSync(`/proc/${child}/stat`, "latin1");
      return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3);
    } catch {
      return "gone";
    }
  };
  while (Date.now() < until && !["Z", "gone"].includes(state())) await Bun.sleep(5);
  expect(["Z", "gone"]).toContain(state());
  expect(tracer()).toBe("0");
  for (const tid of taskIds(fx.pid)) expect(readFileSync(`/proc/${fx.pid}/task/${tid}/stat`, "latin1")).toMatch(/\) S /);
  expect(readdirSync(dir)).toEqual([]);
  await fx.kill();
});

test("fds and sockets come from the fork's fd table: the same as a stopped snapshot shows", async () => {
  const fx = await startFixture(buildFixture("sockets", {}), [join(work, "sock"), join(work, "file")]);
  const fds = (extra: string[]) => {
    const out = join(work, `fds${extra.length}.ecfs`);
    const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, ...extra]);
    expect(r.stderr).toBe("");
    const j = ecfs(["read", "-e", "--json", out]);
    expect(j.code).toBe(0);
    rmSync(out);
    return (JSON.parse(j.stdout) as { fds: unknown[] }).fds;
  };
  const stopped = fds([]);
  expect(stopped.length).toBeGreaterThan(8);
  expect(fds(["--low-pause"])).toEqual(stopped);
  await fx.kill();
});

test("memory a fork does not copy (MADV_DONTFORK, MADV_WIPEONFORK) is kept aside: gdb reads it from the file", async () => {
  // 512 MiB of DONTFORK reservation with one page written and every page read: only
  // populated pages are kept. Whether a read fault maps the shared zero page is the kernel's
  // choice (some machines of this kind populate a real page instead): pagemap and
  // kpageflags on the fixture's first, only-read page tell which, and so what to expect.
  type ForkFlagsInfo = PatternsInfo & { untouched: bigint };
  const exe = buildFixture("forkflags", {});
  const fx = await startFixture<ForkFlagsInfo>(exe);
  const readFaultsPopulate = populatedRuns(fx.pid, [{ start: fx.info.untouched, end: fx.info.untouched + 4096n }]).length > 0;
  const out = join(work, "forkflags.ecfs");
  const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, "--core", "--low-pause"]);
  if (readFaultsPopulate) {
    // Every read page is real memory: the 512 MiB (and the two 64 KiB mappings) would have to
    // be copied while stopped, so the stopped copy is made instead, and the warning says why.
    const m = /^ecfs: warning: low-pause mode not used, the target stays stopped for the copy: (\d+) bytes of MADV_DONTFORK\/MADV_WIPEONFORK memory would have to be copied while stopped\n$/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(512 * 2 ** 20);
  } else {
    expect(r.stderr).toBe(""); // no fallback, no unreadable memory
  }
  expect(r.code).toBe(0);
  for (const g of fx.info.regions) {
    const bytes = gdbDump(exe, out, g.addr, g.len);
    expect({ region: g.name, at: patternMismatch(bytes, fx.info.seed, g) }).toEqual({ region: g.name, at: -1 });
  }
  expect([...gdbDump(exe, out, fx.info.untouched, 4096)].every((b) => b === 0)).toBe(true);
  expect(children(fx.pid)).toEqual([]);
  await fx.kill();
});

test("a clone the target may not make (RLIMIT_NPROC): a warning, the stopped copy, the target as it was", async () => {
  // nobody, limited to one process: the injected clone gets EAGAIN. setpriv and prlimit exec in place.
  const exe = buildFixture("sleeper", {});
  const fx = await startFixture("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "prlimit", "--nproc=1:1", exe, "pause"]);
  expect(readFileSync(`/proc/${fx.pid}/status`, "latin1")).toMatch(/^Uid:\s+65534\s/m);
  const before = syscallLine(fx.pid);
  const out = join(work, "nproc.ecfs");
  const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, "--core", "--low-pause"]);
  expect(r.stderr.trim()).toBe(`ecfs: warning: low-pause mode not used, the target stays stopped for the copy: clone (injected into the target) pid ${fx.pid}: EAGAIN`);
  expect(r.code).toBe(0);
  // The file is whole: gdb sees the thread parked in pause().
  const bt = spawnSync("gdb", ["-nx", "-q", "-batch", "-ex", "bt", exe, out], { encoding: "utf8" }).stdout;
  expect(bt).toContain("main");
  await Bun.sleep(100);
  expect(stillRunning(fx)).toBe(true);
  expect(syscallLine(fx.pid)).toBe(before);
  await fx.kill();
});

test("a target stopped by job control is not forked (a pause costs it nothing) and stays stopped", async () => {
  const fx = await startFixture(buildFixture("sleeper", {}), ["pause"]);
  process.kill(fx.pid, "SIGSTOP");
  const state = () => {
    const s = readFileSync(`/proc/${fx.pid}/stat`, "latin1");
    return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3);
  };
  const deadline = Date.now() + 5000;
  while (state() !== "T" && Date.now() < deadline) await Bun.sleep(5);
  const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", join(work, "stopped.ecfs"), "--low-pause"]);
  expect(r.stderr.trim()).toBe("ecfs: warning: low-pause mode not used, the target stays stopped for the copy: the target is stopped (job control), so a pause costs it nothing");
  expect(r.code).toBe(0);
  await Bun.sleep(50);
  expect(state()).toBe("T");
  process.kill(fx.pid, "SIGCONT");
  await Bun.sleep(100);
  expect(stillRunning(fx)).toBe(true); // SIGCONT has no handler: pause() goes on
  expect(children(fx.pid)).toEqual([]);
  await fx.kill();
});
