// CPU times in NT_PRSTATUS, judged by a kernel core of the same process: the reaper fixture
// (a reaped busy child, a thread that burnt CPU) is snapshot, then killed with SIGABRT so that
// the kernel writes its own core, and eu-readelf -n reads both. fs/binfmt_elf.c fill_prstatus()
// puts the whole group's time in the leader's record and the reaped children's in every record.
// /proc/PID/stat counts in 1/100 s where the kernel writes microseconds, and a little time
// passes between the snapshot and the crash, hence the tolerances. utime and stime differ in
// kind too: the core has the raw tick-sampled times (thread_group_cputime, task_cputime), /proc
// the times scaled to the real runtime (cputime_adjust). Where ticks are lost (a loaded virtual
// machine: steal time) the raw ones fall short of the runtime, and only then do the two part.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { euReadelfNotes, type EuNote } from "./elf/oracles.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, type FixtureInfo } from "./helpers/fixtures.ts";
import { crashIntoCore } from "./helpers/kernelcore.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-times-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

/** One /proc/PID/stat tick (USER_HZ 100) in microseconds. */
const TICK_US = 10_000;

/** "0.320000" -> 320000 */
const us = (s: string | undefined): number => {
  const m = /^(\d+)\.(\d{6})$/.exec(s ?? "");
  if (!m) throw new Error(`not a time: ${s}`);
  return Number(m[1]) * 1_000_000 + Number(m[2]);
};

function prstatusByPid(notes: EuNote[]): Map<number, EuNote["fields"]> {
  return new Map(notes.filter((n) => n.owner === "CORE" && n.type === "PRSTATUS").map((n) => [Number(n.fields.get("pid")), n.fields]));
}

describe("NT_PRSTATUS times agree with a kernel core of the same process", () => {
  test("children's times in every record, the group's in the leader's", async () => {
    const fx = await startFixture<FixtureInfo & { worker: number }>(buildFixture("reaper", { libs: ["-pthread"] }));
    const file = join(work, "reaper.core");
    // The group's real runtime (sum_exec_runtime, schedstat's first field), to tell whether the
    // kernel's tick-sampled times can be compared at all.
    const runtimeUs = readdirSync(`/proc/${fx.pid}/task`)
      .map((t) => Number(readFileSync(`/proc/${fx.pid}/task/${t}/schedstat`, "latin1").split(" ")[0]) / 1000)
      .reduce((a, b) => a + b, 0);
    const r = ecfs(["snapshot", "--core", "-p", String(fx.pid), "-o", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const kernelCore = await crashIntoCore(fx.pid, fx.proc.exited, work);
    const ours = prstatusByPid(euReadelfNotes(file));
    const kernel = prstatusByPid(euReadelfNotes(kernelCore));
    expect([...ours.keys()].sort()).toEqual([fx.pid, fx.info.worker].sort());
    expect([...kernel.keys()].sort()).toEqual([...ours.keys()].sort());

    const rows = [...kernel].map(([pid, k]) => {
      const o = ours.get(pid)!;
      const field = (name: string) => ({ kernel: us(k.get(name)), ours: us(o.get(name)) });
      return { pid, utime: field("utime"), stime: field("stime"), cutime: field("cutime"), cstime: field("cstime") };
    });
    const leader = rows.find((x) => x.pid === fx.pid)!;
    // The fixture did what it says: the child burnt 0.3 s (the kernel's word), the group 0.2 s
    // (its real runtime, and ours: the leader's record holds the group's, not its own).
    expect(leader.cutime.kernel + leader.cstime.kernel).toBeGreaterThan(350_000);
    expect(runtimeUs).toBeGreaterThan(180_000);
    expect(leader.utime.ours + leader.stime.ours).toBeGreaterThan(150_000);
    for (const x of rows) {
      // Nothing was reaped in between: equal but for /proc's truncation to whole ticks.
      for (const f of [x.cutime, x.cstime]) expect({ pid: x.pid, ...f, off: f.kernel - f.ours >= 0 && f.kernel - f.ours < TICK_US }).toMatchObject({ off: true });
    }
    const sampled = leader.utime.kernel + leader.stime.kernel;
    if (sampled < 0.9 * runtimeUs) {
      console.error(`ecfs-ts: prstatus-times: the kernel sampled ${sampled} us of ${Math.round(runtimeUs)} us run (ticks lost, a loaded VM): its utime/stime are not compared`);
      return;
    }
    for (const x of rows) {
      // Summed from the threads by the kernel, scaled to the scheduler's runtime by /proc: a few ticks apart.
      for (const f of [x.utime, x.stime]) expect({ pid: x.pid, ...f, near: Math.abs(f.kernel - f.ours) <= 4 * TICK_US }).toMatchObject({ near: true });
    }
  });
});
