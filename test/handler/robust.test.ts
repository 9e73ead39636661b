// Nothing is lost, nothing is overwritten, nothing hangs: the raw-core fallback, a planted
// symlink and an existing file at the name, a full file system, a crash of the handler itself,
// sixteen crashes at once, and eviction under --max-use. Every crash goes through the real
// kernel; every crashing process must die (crashAll kills and fails a hung one).

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ecfs } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { crashAll, crashOne, gdbCrashView, handlerSetup, handlerStarts, logLines, type CrasherInfo, type HandlerSetup } from "../helpers/handler.ts";
import { readelfCheck } from "../helpers/oracles.ts";

const exe = buildFixture("crasher", { libs: ["-pthread"] });
const COMM = basename(exe).slice(0, 15);
const setups: HandlerSetup[] = [];
const mounts: string[] = [];
const setup = (opts: Parameters<typeof handlerSetup>[0] = {}) => {
  const s = handlerSetup(opts);
  setups.push(s);
  return s;
};
const start = (args: string[] = ["segv"]) => startFixture<CrasherInfo>(exe, args);

afterAll(async () => {
  await killAllFixtures();
  for (const m of mounts) spawnSync("umount", [m]);
  for (const s of setups) rmSync(s.dir, { recursive: true, force: true });
});

describe("the raw-core fallback (ECFS_TEST_FAIL=layout makes the layout throw)", () => {
  test("the kernel's core is saved as <name>.core, gdb and readelf read it, the log says why", async () => {
    const s = setup({ testFail: "layout" });
    const fx = await start();
    const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc });
    expect(c.files).toEqual([`${COMM}.${fx.pid}.core`]);
    expect(c.lines).toHaveLength(1);
    expect(c.lines[0]).toContain(`pid ${fx.pid} (${COMM}) SIGSEGV at 0x10`);
    expect(c.lines[0]).toContain(`ECFS not written (test switch ECFS_TEST_FAIL=layout); raw core`);
    const core = join(s.cores, c.files[0]!);
    expect(statSync(core).mode & 0o777).toBe(0o600);
    expect(readelfCheck(core).problems).toEqual([]);
    const g = gdbCrashView(exe, core);
    expect(g.signo).toBe(11);
    expect(g.addr).toBe(0x10n);
    expect(g.frames).toContain("crash_segv");
  });

  test("with core_pipe_limit 0 too (the spooled stream becomes the .core)", async () => {
    const s = setup({ testFail: "layout" });
    const fx = await start();
    const c = await crashOne(s, 0, { pid: fx.pid, proc: fx.proc });
    expect(c.files).toEqual([`${COMM}.${fx.pid}.core`]);
    const core = join(s.cores, c.files[0]!);
    expect(readelfCheck(core).problems).toEqual([]);
    expect(gdbCrashView(exe, core).signo).toBe(11);
  });
});

test("a planted symlink and an existing file at the name are neither followed nor overwritten: .2 is used", async () => {
  const s = setup();
  const fx = await start();
  const name = `${COMM}.${fx.pid}`;
  const victim = join(s.dir, "precious");
  writeFileSync(victim, "precious\n");
  symlinkSync(victim, join(s.cores, name));
  writeFileSync(join(s.cores, `${name}.1`), "existing\n");
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc });
  expect(readFileSync(victim, "utf8")).toBe("precious\n");
  expect(readlinkSync(join(s.cores, name))).toBe(victim);
  expect(readFileSync(join(s.cores, `${name}.1`), "utf8")).toBe("existing\n");
  expect(c.files).toEqual([name, `${name}.1`, `${name}.2`]);
  expect(c.lines[0]).toContain(`-> ${join(s.cores, `${name}.2`)}`);
  expect(readelfCheck(join(s.cores, `${name}.2`)).problems.filter((p) => !/Unknown note type|<unknown>/.test(p))).toEqual([]);
});

describe("a full file system (a 4 MiB tmpfs as the cores directory)", () => {
  const mounted = (extra = "") => {
    const s = setup();
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=4m,mode=0700${extra}`, "tmpfs", s.cores], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
    mounts.push(s.cores);
    return s;
  };

  test("with the default limits the crash is refused before a byte is written, and logged", async () => {
    const s = mounted();
    const fx = await start(["segv", "--heap-mib", "32"]);
    const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc });
    expect(c.signal).toBe("SIGSEGV");
    expect(c.files).toEqual([]);
    expect(c.lines[0]).toMatch(/: not written: \d+ bytes needed in .*: more than --max-use/);
  });

  test("with the limits off, spooling the stream (core_pipe_limit 0) hits ENOSPC: nothing is left half written", async () => {
    const s = mounted();
    const fx = await start(["segv", "--heap-mib", "32"]);
    const c = await crashOne(s, 0, { pid: fx.pid, proc: fx.proc }, { extra: ["--max-use", "1T", "--keep-free", "0"] });
    expect(c.signal).toBe("SIGSEGV");
    expect(c.files).toEqual([]);
    expect(c.lines[0]).toMatch(/ECFS not written \(.*no space left.*\); raw core not written either/i);
    expect(spawnSync("df", ["--output=used", s.cores], { encoding: "utf8" }).stdout).toMatch(/\n\s*0\n/);
  });

  test("with no inode left, neither file can be created (direct path): both failures are logged", async () => {
    const s = mounted(",nr_inodes=1");
    const fx = await start();
    const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { extra: ["--max-use", "1T", "--keep-free", "0"] });
    expect(c.signal).toBe("SIGSEGV");
    expect(c.files).toEqual([]);
    expect(c.lines[0]).toMatch(/ECFS not written \(cannot write .*: no space left on the device of .*\); raw core not written either \(.*ENOSPC/);
  });
});

test("a crash of the handler itself starts no second handler and leaves the crashing process free", async () => {
  const s = setup({ testFail: "crash" });
  const fx = await start();
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { expectLine: false });
  expect(c.signal).toBe("SIGSEGV");
  // A handler for the handler would be started through the same wrapper (and, crashing the
  // same way, start another, up to core_pipe_limit deep).
  await Bun.sleep(2000);
  expect(handlerStarts(s)).toEqual([expect.stringContaining(`-P ${fx.pid} `)]);
  expect(readdirSync(s.cores)).toEqual([]);
  expect(logLines(s)).toEqual([]);
});

test("a handler stuck for good is ended by its --timeout alarm, and the crashing process goes", async () => {
  const s = setup({ testFail: "hang" });
  const fx = await start();
  const t0 = performance.now();
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { extra: ["--timeout", "2"], expectLine: false });
  const ms = performance.now() - t0;
  expect(c.signal).toBe("SIGSEGV");
  expect(ms).toBeGreaterThan(1900); // held by the stuck handler until the alarm
  expect(handlerStarts(s)).toHaveLength(1);
  expect(c.files).toEqual([]);
});

test("sixteen processes crashing at once are all captured (core_pipe_limit 16)", async () => {
  const s = setup();
  const fxs = await Promise.all(Array.from({ length: 16 }, () => start()));
  const crashed = await crashAll(s, 16, fxs.map((f) => ({ pid: f.pid, proc: f.proc })));
  expect(crashed.map((c) => c.signal)).toEqual(fxs.map(() => "SIGSEGV"));
  expect(readdirSync(s.cores).sort()).toEqual(fxs.map((f) => `${COMM}.${f.pid}`).sort());
  expect(logLines(s)).toHaveLength(16);
  for (const f of fxs) {
    const r = ecfs(["read", "-e", "--json", join(s.cores, `${COMM}.${f.pid}`)]);
    const j = JSON.parse(r.stdout) as { process: { pid: number }; siginfo: { signo: number } };
    expect({ pid: j.process.pid, signo: j.siginfo.signo }).toEqual({ pid: f.pid, signo: 11 });
  }
});

test("--max-use: the oldest of our files go first, and nothing that is not ours", async () => {
  const s = setup();
  const first = await start();
  await crashOne(s, 4, { pid: first.pid, proc: first.proc });
  const sample = join(s.cores, `${COMM}.${first.pid}`);
  const size = statSync(sample).size;
  // Three files of ours, oldest first; three that are not: text, another ELF, a symlink.
  const now = Date.now() / 1000;
  const ours = ["old.1", "older.2", "oldest.3"].map((n, i) => {
    const p = join(s.cores, n);
    copyFileSync(sample, p);
    utimesSync(p, now - 3600 * (i + 1), now - 3600 * (i + 1));
    return p;
  });
  rmSync(sample);
  const blocks = Number(statSync(ours[0]!).blocks) * 512;
  const others = { text: join(s.cores, "notes.7"), elf: join(s.cores, "true.8"), link: join(s.cores, "link.9") };
  writeFileSync(others.text, "not a core\n");
  copyFileSync("/bin/true", others.elf);
  symlinkSync(ours[0]!, others.link);
  // Room for the new file and one and a half of ours: the two oldest must go.
  const maxUse = size + blocks + Math.floor(blocks / 2);
  const fx = await start();
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { extra: ["--max-use", String(maxUse), "--keep-free", "0"] });
  expect(c.lines[0]).toContain("removed the oldest to make room: oldest.3 older.2");
  expect(ours.map((p) => existsSync(p))).toEqual([true, false, false]);
  for (const p of Object.values(others)) expect(lstatSync(p)).toBeDefined();
  expect(existsSync(join(s.cores, `${COMM}.${fx.pid}`))).toBe(true);
});

describe("options on the core_pattern line", () => {
  test("the original's line (-t -h -e %e -p %p -o DIR/%e.%p) keeps working", async () => {
    const s = setup();
    const fx = await start();
    const c = await crashAll(s, 4, [{ pid: fx.pid, proc: fx.proc }], { extra: [], line: `|${s.program} -t -h -e %e -p %p -o ${s.cores}/%e.%p --log ${s.log}` });
    expect(c[0]!.files).toEqual([`${COMM}.${fx.pid}`]);
    const j = JSON.parse(ecfs(["read", "-P", "--json", join(s.cores, c[0]!.files[0]!)]).stdout) as { personality: { heuristics: boolean } };
    expect(j.personality.heuristics).toBe(true);
  });

  test("--core writes ET_CORE, which gdb opens as it is", async () => {
    const s = setup();
    const fx = await start();
    const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { extra: ["--core"] });
    const file = join(s.cores, c.files[0]!);
    expect(spawnSync("readelf", ["-h", file], { encoding: "utf8" }).stdout).toMatch(/Type:\s+CORE/);
    expect(gdbCrashView(exe, file).signo).toBe(11);
  });

  test("an unknown option is logged, nothing is written, and the process is not held", async () => {
    const s = setup();
    const fx = await start();
    const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { extra: ["--bogus"], expectLine: false });
    expect(c.signal).toBe("SIGSEGV");
    expect(c.files).toEqual([]);
    for (let i = 0; i < 200 && logLines(s).length === 0; i++) await Bun.sleep(25);
    expect(logLines(s)).toEqual([expect.stringContaining("unknown option --bogus; no file written")]);
  });
});

test("the log line goes to syslog too: one datagram to the --syslog socket, as syslog(3) sends it", async () => {
  const s = setup();
  const sock = join(s.dir, "log.sock");
  const got = join(s.dir, "datagrams");
  // An outside listener: Python's socket module binds the AF_UNIX datagram socket.
  const py = Bun.spawn(["python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(60)
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "wb") as f: f.write(s.recv(65536))
`, sock, got], { stdout: "ignore", stderr: "pipe" });
  for (let i = 0; i < 400 && !existsSync(`${got}.ready`); i++) await Bun.sleep(10);
  const fx = await start();
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc }, { extra: ["--syslog", sock] });
  await py.exited;
  const dgram = readFileSync(got, "utf8");
  // <PRI> = LOG_USER (8) | LOG_WARNING (4); then the tag, the handler's pid, and the line.
  expect(dgram).toMatch(/^<12>ecfs\[\d+\]: pid \d+ /);
  expect(c.lines[0]).toContain(dgram.slice(dgram.indexOf("]: ") + 3));
});
