// No false positives: `ecfs snapshot -h` of real programs this machine runs, each of which must
// come out with zero findings. JIT runtimes (node, the JVM, libffi closures under ctypes) must
// be recognised and reported as notes instead. What each program gave is printed, for the
// record (README "Heuristics" quotes it). scripts/setup.sh installs every program used here.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brief, snapshotWithHeuristics } from "./helpers.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-heur-real-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();
const python3 = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

const nodeScript = join(work, "script.js");
writeFileSync(nodeScript, "const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));\nlet s = 0;\nfor (let i = 0; i < 25; i++) s += fib(i);\nsetTimeout(() => console.log(s), 120000);\n");
const fifo = join(work, "fifo");
spawnSync("mkfifo", [fifo]);
// Opened read-write here, so neither side blocks and cat sees no end of file.
const fifoFd = openSync(fifo, "r+");
afterAll(() => closeSync(fifoFd));

interface Program {
  name: string;
  argv: string[];
  /** A JIT runtime: its code is noted ("jit"), never a finding. */
  jit?: boolean;
}

const PROGRAMS: Program[] = [
  { name: "bash", argv: ["bash", "-c", "read -t 120 x"] },
  { name: "sh (dash)", argv: ["sh", "-c", "read x"] },
  { name: "python3", argv: [python3, "-c", "import sys; sys.stdin.read()"] },
  // ctypes makes a libffi closure at import and here: generated trampolines.
  { name: "python3 with ctypes", argv: [python3, "-c", "import ctypes, sys; ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 1)(); sys.stdin.read()"], jit: true },
  { name: "perl", argv: ["perl", "-e", "my $x = <STDIN>;"] },
  { name: "node running a script", argv: ["node", nodeScript], jit: true },
  { name: "gdb", argv: ["gdb", "-batch", "-nx", "-ex", "python import sys; sys.stdin.read()"] },
  { name: "sleep", argv: ["sleep", "120"] },
  { name: "cat reading a fifo", argv: ["cat", fifo] },
  { name: "ssh-agent", argv: ["ssh-agent", "-D", "-a", join(work, "agent.sock")] },
  { name: "java (rmiregistry)", argv: ["rmiregistry", "-J-Xmx32m", "-J-XX:ReservedCodeCacheSize=16m", "-J-XX:+UseSerialGC", "0"], jit: true },
  { name: "tclsh", argv: ["tclsh"] },
  { name: "sqlite3", argv: ["sqlite3"] },
  { name: "bc", argv: ["bc", "-q"] },
  { name: "mawk", argv: ["mawk", "{ print }"] },
  { name: "sed", argv: ["sed", "-n", "p"] },
  { name: "tail -f", argv: ["tail", "-f", "/dev/null"] },
  { name: "dbus-daemon", argv: ["dbus-daemon", "--session", "--nofork", "--nopidfile", `--address=unix:path=${join(work, "bus")}`] },
];

/** Until the task list has stayed the same, every thread asleep, for five looks in a row. */
async function parked(pid: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let calm = 0;
  let last = "";
  while (Date.now() < deadline) {
    const tids = readdirSync(`/proc/${pid}/task`).sort();
    const states = tids.map((t) => readFileSync(`/proc/${pid}/task/${t}/stat`, "latin1").split(") ")[1]?.[0]);
    const now = tids.join(",");
    calm = now === last && states.every((s) => s === "S") ? calm + 1 : 0;
    last = now;
    if (calm >= 5) return;
    await Bun.sleep(100);
  }
  throw new Error(`pid ${pid} did not settle with every thread asleep within 30 s`);
}

describe("no false positives on real programs", () => {
  test("at least fifteen programs", () => {
    expect(new Set(PROGRAMS.map((p) => p.argv[0])).size).toBeGreaterThanOrEqual(15);
  });

  for (const p of PROGRAMS) {
    test(`${p.name}: zero findings`, async () => {
      if (!which(p.argv[0]!)) throw new Error(`${p.argv[0]} is not installed (scripts/setup.sh installs it)`);
      const proc = Bun.spawn(p.argv, { stdin: "pipe", stdout: "ignore", stderr: "ignore", cwd: work });
      try {
        await parked(proc.pid);
        const snap = snapshotWithHeuristics(proc.pid, join(work, "real.ecfs"));
        const h = snap.heuristics;
        const kinds = h.objects.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.kind]: (acc[o.kind] ?? 0) + 1 }), {});
        const notes = [...new Set(h.notes.map((n) => n.type))];
        console.log(`heuristics: ${p.name}: ${h.findings.length} finding(s); objects ${JSON.stringify(kinds)}; notes ${JSON.stringify(notes)}; ${h.problems.length} problem(s)`);
        for (const pr of h.problems) console.log(`  not checked: ${pr}`);
        expect(brief(h.findings)).toEqual([]);
        expect(h.linkMap).toBe("DT_DEBUG");
        expect(kinds.injected ?? 0).toBe(0);
        if (p.jit) expect(notes).toContain("jit");
        rmSync(snap.file);
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    });
  }
});
