// .procfs.tgz shows the process as it ran, not as the snapshot's ptrace stop made it: the files
// whose text the stop changes (status, stat, wchan, stack, syscall, of the process and of each
// task) are read before the stop. GNU tar unpacks the section; a sleeping fixture must read as
// sleeping and untraced, in both capture modes.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProcfsTar } from "../src/capture/procfs.ts";
import { readelfSections } from "./elf/oracles.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, taskIds, type ThreadsInfo } from "./helpers/fixtures.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-procfs-stop-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

/** The .procfs.tgz section of `file`, unpacked by tar; returns proc/PID. */
function unpackProcfs(file: string, pid: number, tag: string): string {
  const s = readelfSections(file).find((x) => x.name === ".procfs.tgz")!;
  const tgz = join(work, `${tag}.tgz`);
  writeFileSync(tgz, readFileSync(file).subarray(Number(s.offset), Number(s.offset + s.size)));
  const dir = mkdtempSync(join(work, `${tag}-`));
  const r = spawnSync("tar", ["-xzf", tgz, "-C", dir], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  return join(dir, "proc", String(pid));
}

const field = (status: string, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "";

for (const lowPause of [false, true]) {
  describe(`.procfs.tgz of a sleeping process${lowPause ? " (--low-pause)" : ""}`, () => {
    test("status, stat, wchan, stack and syscall show it asleep and untraced, for every task", async () => {
      const fx = await startFixture<ThreadsInfo>(buildFixture("threads", { libs: ["-pthread"] }));
      const file = join(work, `threads${lowPause ? "-lp" : ""}.ecfs`);
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", file, ...(lowPause ? ["--low-pause"] : [])]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const root = unpackProcfs(file, fx.pid, lowPause ? "lp" : "stopped");
      // The spinner runs in user mode (R, "running"); every other thread sleeps in a system call.
      const spinner = fx.info.threads.find((t) => !t.blocks)!.tid;
      const dirs = [{ d: "", tid: fx.pid }, ...taskIds(fx.pid).map((tid) => ({ d: `task/${tid}/`, tid }))];
      for (const { d, tid } of dirs) {
        const running = tid === spinner;
        const status = readFileSync(join(root, d, "status"), "utf8");
        const stat = readFileSync(join(root, d, "stat"), "utf8");
        expect({ d, state: field(status, "State"), tracer: field(status, "TracerPid") }).toEqual({ d, state: running ? "R (running)" : "S (sleeping)", tracer: "0" });
        expect({ d, state: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] }).toEqual({ d, state: running ? "R" : "S" });
        expect({ d, wchan: readFileSync(join(root, d, "wchan"), "utf8") }).not.toEqual({ d, wchan: "ptrace_stop" });
        expect({ d, stack: readFileSync(join(root, d, "stack"), "utf8").includes("ptrace_stop") }).toEqual({ d, stack: false });
        const syscall = readFileSync(join(root, d, "syscall"), "utf8");
        expect({ d, syscall: running ? syscall.trim() : /^\d+ /.test(syscall) }).toEqual({ d, syscall: running ? "running" : true });
      }
      expect(readFileSync(join(root, ".ecfs-skipped"), "utf8")).not.toContain("while stopped");
      await fx.kill();
    });
  });
}

describe("buildProcfsTar", () => {
  test("a stop-sensitive file read while stopped, not read before the stop, is listed in .ecfs-skipped", async () => {
    const fx = await startFixture<ThreadsInfo>(buildFixture("threads", { libs: ["-pthread"] }));
    const { skipped } = buildProcfsTar(fx.pid, { beforeStop: new Map(), stopped: true });
    const listed = skipped.filter((s) => /while stopped/.test(s.reason)).map((s) => s.path);
    expect(listed).toContain("status");
    expect(listed).toContain(`task/${fx.pid}/wchan`);
    expect(listed.length).toBe(5 * (1 + taskIds(fx.pid).length));
    await fx.kill();
  });
});
