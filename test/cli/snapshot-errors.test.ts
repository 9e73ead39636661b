// Bad input to `ecfs snapshot`: one line naming the cause, a non-zero exit, no stack
// trace, no file left behind, and the target running as before.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture, taskIds, taskState, type FixtureInfo, type PatternsInfo } from "../helpers/fixtures.ts";
import { liveMemory } from "../helpers/oracles.ts";
import { patternMismatch } from "../helpers/pattern.ts";
import { MAIN, ecfs, ecfsAsync } from "../helpers/ecfs.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-errors-"));
afterAll(async () => {
  await killAllFixtures();
  spawnSync("umount", [join(work, "full")]);
  rmSync(work, { recursive: true, force: true });
});

function oneLine(r: { stderr: string; stdout: string }): string {
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.length).toBe(1);
  expect(r.stderr).not.toContain("    at ");
  expect(r.stdout).toBe("");
  return lines[0]!;
}

function tracerOf(pid: number): string {
  return /^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? "?";
}

/**
 * The fixture is as it was: every thread asleep, untraced, patterns intact. A thread resumed
 * a moment ago may still be on its way back into its sleep (R on a loaded machine): wait for it.
 */
async function untouched(pid: number, info: PatternsInfo): Promise<void> {
  const asleep = () => taskIds(pid).every((tid) => taskState(pid, tid) === "S");
  for (const until = Date.now() + 5000; !asleep() && Date.now() < until; ) await Bun.sleep(5);
  for (const tid of taskIds(pid)) expect(taskState(pid, tid)).toBe("S");
  expect(tracerOf(pid)).toBe("0");
  for (const r of info.regions) expect(patternMismatch(liveMemory(pid, r.addr, r.len), info.seed, r)).toBe(-1);
}

function noFilesIn(dir: string): void {
  expect(readdirSync(dir).filter((f) => f.includes(".ecfs") || f.endsWith(".tmp"))).toEqual([]);
}

describe("pids that cannot be snapshot", () => {
  test("no such process", () => {
    const r = ecfs(["snapshot", "-p", "4000000", "-o", join(work, "x.ecfs")]);
    expect(oneLine(r)).toBe("ecfs: no such process: 4000000");
    expect(r.code).toBe(1);
  });

  test("pid 0, a word, a negative number and no pid at all are usage errors", () => {
    for (const [args, msg] of [
      [["-p", "0"], "0 is not a process"],
      [["-p", "abc"], "positive whole number"],
      [["-p", "-5"], ""],
      [[], "a pid is required"],
    ] as const) {
      const r = ecfs(["snapshot", ...args, "-o", join(work, "x.ecfs")]);
      expect(oneLine(r)).toContain(msg);
      expect(r.code).toBe(2);
    }
    noFilesIn(work);
  });

  test("an unknown or mistyped option is refused, not ignored: no snapshot is taken", async () => {
    const fx = await startFixture<PatternsInfo>(buildFixture("patterns"));
    for (const [args, bad] of [[["--low-pauses"], "--low-pauses"], [["-x"], "-x"], [["--core", "-cq"], "-c"]] as const) {
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", join(work, "x.ecfs"), ...args]);
      expect(oneLine(r)).toBe(`ecfs: snapshot: unknown option ${bad} (see ecfs snapshot --help)`);
      expect(r.code).toBe(2);
    }
    // Every accepted spelling still works: -pPID, --out=FILE, --no-core, --low-pause=true.
    const ok = ecfs(["snapshot", `-p${fx.pid}`, `--out=${join(work, "y.ecfs")}`, "--no-core", "--low-pause=true"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    rmSync(join(work, "y.ecfs"));
    const f = ecfs(["flip", "-q", join(work, "x.ecfs")]);
    expect(oneLine(f)).toBe("ecfs: flip: unknown option -q (see ecfs flip --help)");
    expect(f.code).toBe(2);
    noFilesIn(work);
    await untouched(fx.pid, fx.info);
    await fx.kill();
  });

  test("our own pid", () => {
    const r = spawnSync("sh", ["-c", `exec "${process.execPath}" "${MAIN}" snapshot -p $$ -o ${join(work, "self.ecfs")}`], { encoding: "utf8" });
    expect(oneLine(r)).toMatch(/^ecfs: pid \d+ is this snapshot process itself$/);
    expect(r.status).toBe(1);
  });

  test("a kernel thread (kthreadd)", () => {
    const r = ecfs(["snapshot", "-p", "2", "-o", join(work, "k.ecfs")]);
    expect(oneLine(r)).toBe("ecfs: pid 2 (kthreadd) is a kernel thread: it has no user memory to capture");
    expect(r.code).toBe(1);
  });

  test("a zombie", async () => {
    const exe = join(work, "zombie");
    expect(spawnSync("cc", ["-o", exe, join(import.meta.dir, "..", "proc", "fixtures", "zombie.c")]).status).toBe(0);
    const parent = Bun.spawn([exe], { stdin: "pipe", stdout: "pipe" });
    try {
      const reader = parent.stdout.getReader();
      const { value } = await reader.read();
      const zombie = JSON.parse(new TextDecoder().decode(value)).zombie as number;
      const r = ecfs(["snapshot", "-p", String(zombie), "-o", join(work, "z.ecfs")]);
      expect(oneLine(r)).toMatch(new RegExp(`^ecfs: pid ${zombie} \\(zombie\\) is a zombie: it has exited and its memory is gone$`));
      expect(r.code).toBe(1);
    } finally {
      parent.kill("SIGKILL");
      await parent.exited;
    }
  });

  test("not permitted: another user's process, as nobody", async () => {
    const fx = await startFixture<PatternsInfo>(buildFixture("patterns"));
    const r = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, MAIN, "snapshot", "-p", String(fx.pid), "-o", "/tmp/nobody-denied.ecfs"], { encoding: "utf8" });
    // The rest of the line depends on what the machine has (Yama, security modules): test/cli/causes.test.ts.
    expect(oneLine(r)).toStartWith(`ecfs: not permitted to trace pid ${fx.pid} (${readFileSync(`/proc/${fx.pid}/comm`, "latin1").trim()}): it runs as root (uid 0) and this process as uid `);
    expect(r.status).toBe(1);
    expect(existsSync("/tmp/nobody-denied.ecfs")).toBe(false);
    await untouched(fx.pid, fx.info);
    await fx.kill();
  });

  test("already traced: names the tracer", async () => {
    const fx = await startFixture<PatternsInfo>(buildFixture("patterns"));
    // gdb waits in its own python, so killing gdb leaves no child behind.
    const gdb = Bun.spawn(["gdb", "-batch", "-nx", "-p", String(fx.pid), "-ex", "python import time; time.sleep(30)"], { stdout: "ignore", stderr: "ignore" });
    try {
      const deadline = Date.now() + 10_000;
      while (tracerOf(fx.pid) === "0" && Date.now() < deadline) await Bun.sleep(20);
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", join(work, "t.ecfs")]);
      expect(oneLine(r)).toBe(`ecfs: pid ${fx.pid} is already traced by pid ${gdb.pid} (gdb); a process can have only one tracer`);
      expect(r.code).toBe(1);
    } finally {
      gdb.kill("SIGKILL");
      await gdb.exited;
    }
    noFilesIn(work);
    await fx.kill();
  });
});

describe("outputs that cannot be written: the target is never stopped", () => {
  let fx: Awaited<ReturnType<typeof startFixture<PatternsInfo>>>;

  test("directory missing", async () => {
    fx = await startFixture<PatternsInfo>(buildFixture("patterns"));
    const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", join(work, "no", "such", "dir", "x.ecfs")]);
    expect(oneLine(r)).toBe(`ecfs: cannot write ${join(work, "no/such/dir/x.ecfs")}: directory ${join(work, "no/such/dir")} does not exist`);
    expect(r.code).toBe(1);
    await untouched(fx.pid, fx.info);
  });

  test("output path is a directory", () => {
    const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", work]);
    expect(oneLine(r)).toBe(`ecfs: cannot write ${work}: it is a directory`);
    expect(r.code).toBe(1);
  });

  test("directory not writable (as nobody, snapshotting its own process)", async () => {
    // setpriv execs sleep in place (runuser would fork and leave it orphaned when killed).
    const own = Bun.spawn(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sleep", "60"], { stdout: "ignore", stderr: "ignore" });
    try {
      const deadline = Date.now() + 5000;
      while (!readFileSync(`/proc/${own.pid}/cmdline`, "latin1").startsWith("sleep") && Date.now() < deadline) await Bun.sleep(10);
      const sleeper = String(own.pid);
      const dir = join(work, "rootonly");
      mkdirSync(dir, { mode: 0o755 });
      const r = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, MAIN, "snapshot", "-p", sleeper, "-o", join(dir, "x.ecfs")], { encoding: "utf8" });
      expect(oneLine(r)).toBe(`ecfs: cannot write ${join(dir, "x.ecfs")}: directory ${dir} is not writable`);
      expect(r.status).toBe(1);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      own.kill("SIGKILL");
      await own.exited;
    }
  });

  test("disk full: a clear message and no partial file", async () => {
    const full = join(work, "full");
    mkdirSync(full);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", full], { encoding: "utf8" });
    expect(m.stderr).toBe("");
    const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", join(full, "x.ecfs")]);
    expect(oneLine(r)).toBe(`ecfs: cannot write ${join(full, "x.ecfs")}: no space left on the device of ${full}`);
    expect(r.code).toBe(1);
    expect(readdirSync(full)).toEqual([]);
    await untouched(fx.pid, fx.info);
  });

  afterAll(async () => {
    await fx?.kill();
  });
});

describe("targets in unusual states", () => {
  test("a stopped process (SIGSTOP) is snapshot and left stopped; SIGCONT resumes it", async () => {
    const fx = await startFixture<PatternsInfo>(buildFixture("patterns"));
    process.kill(fx.pid, "SIGSTOP");
    const deadline = Date.now() + 5000;
    while (taskState(fx.pid, fx.pid) !== "T" && Date.now() < deadline) await Bun.sleep(5);
    const out = join(work, "stopped.ecfs");
    const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out]);
    expect(r.code).toBe(0);
    expect(taskState(fx.pid, fx.pid)).toBe("T");
    expect(tracerOf(fx.pid)).toBe("0");
    process.kill(fx.pid, "SIGCONT");
    while (taskState(fx.pid, fx.pid) !== "S" && Date.now() < deadline + 5000) await Bun.sleep(5);
    await untouched(fx.pid, fx.info);
    rmSync(out);
    await fx.kill();
  });
});

describe("threads that come and go during a snapshot", () => {
  test("the snapshot succeeds, gdb loads it, and the target goes on making threads", async () => {
    const fx = await startFixture<FixtureInfo & { joined: bigint }>(buildFixture("spawner", { libs: ["-pthread"] }), [], {}, { settle: false });
    const joined = () => new DataView(liveMemory(fx.pid, fx.info.joined, 8).buffer).getBigUint64(0, true);
    for (let i = 0; i < 5; i++) {
      const out = join(work, `spawner${i}.ecfs`);
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, "--core"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const g = spawnSync("gdb", ["-batch", "-nx", "-ex", "info threads", fx.binary, out], { encoding: "utf8" });
      expect(g.stdout).toMatch(/\* 1 +Thread/);
      rmSync(out);
    }
    const before = joined();
    await Bun.sleep(200);
    expect(joined()).toBeGreaterThan(before);
    expect(tracerOf(fx.pid)).toBe("0");
    await fx.kill();
  });
});

describe("signals sent during a snapshot", () => {
  for (const lowPause of [false, true])
  test(`are all delivered afterwards: none is lost while the target is stopped${lowPause ? " (--low-pause: or while it forks)" : ""}`, async () => {
    const fx = await startFixture<FixtureInfo & { counter: bigint; signal: number }>(buildFixture("signals"), ["256"], {}, { timeoutMs: 30_000 });
    const out = join(work, "signals.ecfs");
    const snap = ecfsAsync(["snapshot", "-p", String(fx.pid), "-o", out, ...(lowPause ? ["--low-pause"] : [])]);
    let sent = 0;
    // Before, during and after the stop: spread over the snapshot's whole run.
    while (snap.exitCode === null && sent < 2000) {
      spawnSync("kill", [`-${fx.info.signal}`, String(fx.pid)]);
      sent++;
    }
    expect(await snap.exited).toBe(0);
    const count = () => new DataView(liveMemory(fx.pid, fx.info.counter, 8).buffer).getBigUint64(0, true);
    const deadline = Date.now() + 5000;
    while (count() < BigInt(sent) && Date.now() < deadline) await Bun.sleep(10);
    expect(sent).toBeGreaterThan(5);
    expect(count()).toBe(BigInt(sent));
    expect(tracerOf(fx.pid)).toBe("0");
    rmSync(out);
    await fx.kill();
  });
});

describe("memory nobody can read", () => {
  test("is zero-filled, reported on stderr, and listed in .gaps", async () => {
    const fx = await startFixture<FixtureInfo & { map: bigint }>(buildFixture("unreadable"));
    const out = join(work, "gaps.ecfs");
    const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out]);
    expect(r.code).toBe(0);
    const first = fx.info.map + 4096n;
    expect(r.stderr.trim()).toBe(`ecfs: warning: 8192 bytes in 1 ranges could not be read and are zero-filled (first at 0x${first.toString(16)})`);
    const sec = spawnSync("readelf", ["-S", "-W", out], { encoding: "utf8" }).stdout.split("\n").find((l) => / \.gaps /.test(l))!;
    const [off, size] = sec.trim().split(/\s+/).slice(4, 6).map((x) => Number.parseInt(x, 16));
    const bytes = readFileSync(out).subarray(off!, off! + size!);
    expect(size).toBe(16);
    expect(bytes.readBigUInt64LE(0)).toBe(first);
    expect(bytes.readBigUInt64LE(8)).toBe(8192n);
    rmSync(out);
    await fx.kill();
  });
});

describe("interruptions", () => {
  const dying = [
    { title: "the target dies mid-snapshot: a clear message, no file", fixture: "patterns", args: ["--heap-mib", "1024"] },
    // Liveness is checked at an unreadable run's first page and every 256 pages after, not at every page.
    { title: "the target dies during a long unreadable run (256 MiB): noticed, no file", fixture: "unreadable", args: ["65536"] },
  ];
  for (const d of dying)
    test(d.title, async () => {
      const fx = await startFixture(buildFixture(d.fixture), d.args, {}, { timeoutMs: 60_000 });
      const out = join(work, "dies.ecfs");
      const snap = ecfsAsync(["snapshot", "-p", String(fx.pid), "-o", out]);
      // Kill the target once the snapshot has it stopped (TracerPid set), i.e. mid-copy.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && tracerOf(fx.pid) === "0") await Bun.sleep(1);
      process.kill(fx.pid, "SIGKILL");
      const code = await snap.exited;
      const stderr = await new Response(snap.stderr).text();
      expect(stderr.trim()).toBe(`ecfs: process ${fx.pid} exited during the snapshot`);
      expect(code).toBe(1);
      noFilesIn(work);
      await fx.kill();
    });

  test("SIGKILL of the snapshot mid-copy: the kernel detaches, the target runs on, no file is left", async () => {
    const fx = await startFixture<PatternsInfo>(buildFixture("patterns"), ["--heap-mib", "1024"], {}, { timeoutMs: 60_000 });
    const dir = join(work, "killed");
    mkdirSync(dir);
    const snap = ecfsAsync(["snapshot", "-p", String(fx.pid), "-o", join(dir, "killed.ecfs")]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && tracerOf(fx.pid) === "0") await Bun.sleep(1);
    snap.kill("SIGKILL");
    await snap.exited;
    const until = Date.now() + 5000;
    while (Date.now() < until && (tracerOf(fx.pid) !== "0" || taskState(fx.pid, fx.pid) !== "S")) await Bun.sleep(5);
    await untouched(fx.pid, fx.info);
    // The output was an unnamed O_TMPFILE file: the kernel freed it with the killed process.
    expect(readdirSync(dir)).toEqual([]);
    await fx.kill();
  });

  test("SIGINT mid-copy: the target is resumed, no file is written", async () => {
    const fx = await startFixture<PatternsInfo>(buildFixture("patterns"), ["--heap-mib", "1024"], {}, { timeoutMs: 60_000 });
    const out = join(work, "interrupted.ecfs");
    const snap = ecfsAsync(["snapshot", "-p", String(fx.pid), "-o", out]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && tracerOf(fx.pid) === "0") await Bun.sleep(1);
    snap.kill("SIGINT");
    const code = await snap.exited;
    const stderr = await new Response(snap.stderr).text();
    expect(stderr.trim()).toBe("ecfs: interrupted by SIGINT: the target was resumed and no file was written");
    expect(code).toBe(130);
    noFilesIn(work);
    await untouched(fx.pid, fx.info);
    await fx.kill();
  });
});
