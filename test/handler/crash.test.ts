// Real crashes through the real kernel into `ecfs handler` (core_pipe_limit 4: the direct memory
// path). Every file is judged by tools we did not write: gdb on the flipped file names the
// crashing thread first with the right signal and fault address, lists every thread and
// backtraces into the crashing function; the fixture's patterns read back through gdb; readelf,
// eu-readelf and objdump read both forms cleanly; `ecfs read -e --json` agrees with gdb.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { buildFixture, killAllFixtures, startFixture, type BuildOptions } from "../helpers/fixtures.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { crashOne, gdbCrashView, handlerSetup, SIGNALS, type Crashed, type CrasherInfo, type GdbCrashView, type HandlerSetup, type Victim } from "../helpers/handler.ts";
import { NO_I386 } from "../helpers/machine.ts";
import { gdbReadMemoryMany, readelfCheck } from "../helpers/oracles.ts";
import { patternMismatch } from "../helpers/pattern.ts";

const setups: HandlerSetup[] = [];
afterAll(async () => {
  await killAllFixtures();
  for (const s of setups) rmSync(s.dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  how: keyof typeof SIGNALS;
  build?: BuildOptions;
  threads?: boolean;
  /** Run inside its own pid namespace (unshare --pid --fork). */
  pidns?: boolean;
  skip?: boolean;
}

/** Start the crasher; in a new pid namespace, find its global pid through unshare's child. */
async function startVictim(c: Case, exe: string): Promise<{ victim: Victim; info: CrasherInfo }> {
  const args = [c.how, ...(c.threads ? ["--threads"] : [])];
  if (!c.pidns) {
    const fx = await startFixture<CrasherInfo>(exe, args);
    return { victim: { pid: fx.pid, proc: fx.proc }, info: fx.info };
  }
  // sh stays pid 1 of the namespace and exits normally: unshare would re-raise a signal that
  // killed its own child, and so crash (into the handler) itself.
  const proc = Bun.spawn(["unshare", "--pid", "--fork", "sh", "-c", `"$0" "$@"; exit 0`, exe, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) throw new Error(`unshare ${exe}: no ready line`);
    text += new TextDecoder().decode(r.value);
  }
  const info = JSON.parse(text.slice(0, text.indexOf("\n")), (_k, v: unknown) => (typeof v === "string" && /^0x[0-9a-f]+$/.test(v) ? BigInt(v) : v)) as CrasherInfo;
  const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  const child = children(children(proc.pid)[0]!)[0]!; // unshare -> sh (pid 1 inside) -> crasher
  return { victim: { pid: child, proc }, info };
}

function crashCase(c: Case): void {
  describe.skipIf(c.skip === true)(`crash: ${c.name}`, () => {
    let setup: HandlerSetup;
    let exe: string;
    let info: CrasherInfo;
    let crashed: Crashed;
    let file: string;
    let comm: string;
    let flipped: string;
    let gdb: GdbCrashView;
    const sig = SIGNALS[c.how]!;

    beforeAll(async () => {
      setup = handlerSetup();
      setups.push(setup);
      exe = buildFixture("crasher", { ...c.build, libs: ["-pthread"] });
      const v = await startVictim(c, exe);
      info = v.info;
      crashed = await crashOne(setup, 4, v.victim);
      comm = basename(exe).slice(0, 15); // the kernel's comm: the file name, cut to 15 bytes
      file = join(setup.cores, `${comm}.${crashed.pid}`);
      flipped = join(setup.dir, "flipped");
      copyFileSync(file, flipped);
      expect(ecfs(["flip", flipped]).code).toBe(0);
      gdb = gdbCrashView(exe, flipped);
    });

    test("the process dies of its signal, and one log line names pid, comm, signal, place, time, size and file", () => {
      // In a namespace, the process we started is unshare, whose sh (pid 1 there) outlives the crash.
      expect(crashed.signal).toBe(c.pidns ? null : sig.name);
      expect(crashed.lines).toHaveLength(1);
      const line = crashed.lines[0]!;
      expect(line).toContain(`pid ${crashed.pid} (${comm}) ${sig.name}`);
      expect(line).toMatch(/ ip 0x[0-9a-f]+, \d+ thread\(s\): ECFS [\d.]+ MiB \([\d.]+ MiB of memory, direct read(, \d+ unreadable range\(s\))?\) in \d+ ms, peak RSS \d+ MiB -> /);
      expect(line).toContain(`-> ${file}`);
      expect(crashed.files).toEqual([`${comm}.${crashed.pid}`]);
      const st = statSync(file);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(0);
    });

    test("gdb: the crashing thread first, with the signal and fault address, every thread, a backtrace into crash_<how>", () => {
      expect(gdb.lwps[0]).toBe(info.crash_tid);
      expect(gdb.current).toBe(info.crash_tid);
      expect(new Set(gdb.lwps)).toEqual(new Set(info.tids));
      expect(gdb.signo).toBe(sig.number);
      if (c.how === "segv") expect(gdb.addr).toBe(0x10n);
      if (c.how === "bus") expect(gdb.addr).toBe(info.bus_addr);
      expect(gdb.frames).toContain(`crash_${c.how}`);
      expect(gdb.frames).toContain("run_crash");
    });

    test("the fixture's patterns read back through gdb", () => {
      const regions = info.regions;
      const got = gdbReadMemoryMany(exe, flipped, regions.map((r) => ({ addr: r.addr, len: r.len })));
      regions.forEach((r, i) => expect({ region: r.name, mismatch: patternMismatch(got[i]!, info.seed, r) }).toEqual({ region: r.name, mismatch: -1 }));
    });

    test("readelf, eu-readelf and objdump read both forms without complaint", () => {
      expect(readelfCheck(flipped).problems).toEqual([]);
      // With ET_NONE readelf does not know core note types: those lines are not problems.
      const none = readelfCheck(file);
      expect(none.problems.filter((p) => !/Unknown note type|<unknown>: (1|2|3|4|6|512|514|517|1313358925|1397311305|1179208773|1189489535)$/.test(p))).toEqual([]);
      for (const s of ["._TEXT", ".prstatus", ".fpregset", ".siginfo", ".stack", ".procfs.tgz", ".shstrtab"]) expect(none.stdout).toContain(s);
    });

    test("ecfs read -e --json agrees with gdb", () => {
      const r = ecfs(["read", "-e", "--json", file]);
      expect(r.stderr).toBe("");
      const j = JSON.parse(r.stdout) as { siginfo: { signo: number }; faultAddress?: string; threads: { tid: number; pc: string }[]; process: { comm: string; pid: number } };
      expect(j.siginfo.signo).toBe(gdb.signo);
      expect(j.threads.map((t) => t.tid)).toEqual(gdb.lwps);
      if (gdb.addr !== undefined && c.how !== "abort") expect(BigInt(j.faultAddress ?? "-1")).toBe(gdb.addr);
      if (c.how === "fpe") expect(BigInt(j.threads[0]!.pc)).toBe(gdb.addr!);
      expect(j.process.comm).toBe(comm);
      // The kernel's own NT_PRPSINFO: the pid inside the process's namespace.
      expect(j.process.pid).toBe(c.pidns ? info.pid : crashed.pid);
    });
  });
}

crashCase({ name: "SIGSEGV from a NULL write (PIE)", how: "segv" });
crashCase({ name: "SIGABRT from abort()", how: "abort" });
crashCase({ name: "SIGBUS past the end of a file mapping", how: "bus" });
crashCase({ name: "SIGFPE from an integer division by zero", how: "fpe" });
crashCase({ name: "SIGSEGV in the 4th of 8 threads", how: "segv", threads: true });
crashCase({ name: "SIGSEGV in a static program", how: "segv", build: { static: true } });
crashCase({ name: "SIGSEGV in a non-PIE program", how: "segv", build: { pie: false } });
crashCase({ name: "SIGSEGV in its own pid namespace", how: "segv", pidns: true });
crashCase({ name: "SIGSEGV in an i386 program", how: "segv", build: { m32: true }, skip: NO_I386 });
crashCase({ name: "SIGSEGV in the 4th of 8 threads of an i386 program", how: "segv", build: { m32: true }, threads: true, skip: NO_I386 });

test("the cores directories hold nothing but the crash files", () => {
  for (const s of setups) expect(readdirSync(s.cores).every((f) => /^crasher-[\w-]*\.\d+$/.test(f))).toBe(true);
});

test("a crash and a snapshot of the same program give the same sections", async () => {
  const setup = handlerSetup();
  setups.push(setup);
  const exe = buildFixture("crasher", { libs: ["-pthread"] });
  const fx = await startFixture<CrasherInfo>(exe, ["segv", "--threads"]);
  const snap = join(setup.dir, "snapshot.ecfs");
  expect(ecfs(["snapshot", "-p", String(fx.pid), "-o", snap]).code).toBe(0);
  const crashed = await crashOne(setup, 4, { pid: fx.pid, proc: fx.proc });
  const file = join(setup.cores, `${basename(exe).slice(0, 15)}.${crashed.pid}`);
  const names = (f: string) =>
    [...spawnSync("readelf", ["-S", "-W", f], { encoding: "utf8" }).stdout.matchAll(/^\s+\[\s*\d+\]\s+(\S+)\s+(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
  expect(names(file).length).toBeGreaterThan(40);
  // The same sections; only the .stack.<tid> follow the thread order (a crash: the faulting thread first).
  expect(names(file).sort()).toEqual(names(snap).sort());
});
