// Snapshots of programs this machine really runs (bash, python3, node, gdb itself), not
// only our fixtures: each snapshot opens in gdb with every thread, eu-stack unwinds it, and
// `ecfs read -a --json` reads it whole with no PLT/GOT slot taken for a hook.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ecfs } from "./helpers/ecfs.ts";
import { gdbCoreThreads } from "./helpers/oracles.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-system-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();

/** `threads`: how many threads the program is known to start (the snapshot must not race them). */
const PROGRAMS: { name: string; argv: string[]; threads?: number }[] = [
  { name: "bash", argv: ["bash", "-c", "read -t 120 x"], threads: 1 },
  { name: "python3", argv: ["python3", "-c", "import time, threading; threading.Thread(target=time.sleep, args=(120,)).start(); time.sleep(120)"], threads: 2 },
  { name: "node", argv: [process.env.NODE ?? "node", "-e", "setTimeout(() => {}, 120000)"] },
  // gdb waits in its own python, so killing it leaves no child behind.
  { name: "gdb", argv: ["gdb", "-batch", "-nx", "-ex", "python import time; time.sleep(120)"] },
];

/**
 * Wait until the program has started the threads it is known to start, and then until its
 * task list has stayed the same, every thread asleep, for five looks in a row (programs such as
 * node start helper threads of their own on a schedule we do not know).
 */
async function parked(pid: number, threads = 1): Promise<void> {
  const deadline = Date.now() + 15_000;
  let calm = 0;
  let last = "";
  while (Date.now() < deadline) {
    const tids = readdirSync(`/proc/${pid}/task`);
    const states = tids.map((t) => readFileSync(`/proc/${pid}/task/${t}/stat`, "latin1").split(") ")[1]?.[0]);
    const now = tids.sort().join(",");
    calm = tids.length >= threads && now === last && states.every((s) => s === "S") ? calm + 1 : 0;
    last = now;
    if (calm >= 5) return;
    await Bun.sleep(50);
  }
  throw new Error(`pid ${pid} did not settle with ${threads} or more threads asleep within 15 s`);
}

for (const p of PROGRAMS) {
  describe(`snapshot of ${p.name}`, () => {
    test("gdb loads it with every thread, and ecfs read -a reads it with no suspected hook", async () => {
      if (!which(p.argv[0]!)) throw new Error(`${p.argv[0]} is not installed (.ci/run installs it)`);
      const proc = Bun.spawn(p.argv, { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
      try {
        await parked(proc.pid, p.threads);
        const tids = readdirSync(`/proc/${proc.pid}/task`).map(Number).sort((a, b) => a - b);
        const exe = readlinkSync(`/proc/${proc.pid}/exe`);
        const file = join(work, `${p.name}.ecfs`);
        // Both ways; --low-pause must not fall back (node's V8 reserves 0.5 GiB with MADV_DONTFORK).
        for (const extra of [["--low-pause"], []]) {
          rmSync(file, { force: true }); // snapshot never replaces a file without --force
          const snap = ecfs(["snapshot", "-p", String(proc.pid), "-o", file, "--core", ...extra]);
          expect(snap.stderr).toBe("");
          expect(snap.code).toBe(0);
          const core = gdbCoreThreads(exe, file);
          expect([...core.threads.keys()].sort((a, b) => a - b)).toEqual(tids);
          for (const t of core.threads.values()) expect(t.frames.length).toBeGreaterThan(0);
          expect(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "latin1").trim()).toBe("");
        }
        const read = ecfs(["read", "-a", "--json", file]);
        expect(read.stderr).toBe("");
        expect(read.code).toBe(0);
        const report = JSON.parse(read.stdout);
        const text = JSON.stringify(report);
        expect(text).not.toContain('"suspicious"');
        expect(text).toContain(exe);
        rmSync(file);
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    });
  });
}
