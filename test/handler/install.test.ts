// The single-file executable end to end: built by scripts/build.ts, `ecfs install` into a
// temporary prefix sets core_pattern, core_pipe_limit and /etc/sysctl.d/50-ecfs.conf, a real
// crash then leaves an ECFS file that gdb reads, and `ecfs uninstall` puts all three back byte
// for byte. The machine's own values (and 50-ecfs.conf, present or not) are saved first and
// restored whatever happens, under the core_pattern lock. The musl build runs the same crash
// where this machine can execute it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { withCoreSettingsLocked, CORE_PATTERN, CORE_PIPE_LIMIT } from "../helpers/corepattern.ts";
import { buildFixture, killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { crashOne, gdbCrashView, handlerSetup, type CrasherInfo, type HandlerSetup } from "../helpers/handler.ts";
import { SKIP_PREFIX } from "../helpers/machine.ts";
import { readelfCheck } from "../helpers/oracles.ts";

const SYSCTL_FILE = "/etc/sysctl.d/50-ecfs.conf";
const root = join(import.meta.dir, "..", "..");
const dist = mkdtempSync("/tmp/ed-");
chmodSync(dist, 0o755); // nobody must reach the binary for the refusal test

function build(targets: string[]): { ok: boolean; err: string } {
  const b = spawnSync(process.execPath, [join(root, "scripts", "build.ts"), ...targets], { encoding: "utf8", env: { ...process.env, ECFS_DIST: dist } });
  return { ok: b.status === 0, err: b.stderr };
}

/** Can the musl build run here? Debian's musl package gives the loader, not musl's libstdc++. */
function probeMusl(): string | undefined {
  const b = build(["bun-linux-x64-musl"]);
  if (!b.ok) return `bun build --target=bun-linux-x64-musl failed: ${b.err.trim().split("\n").pop()}`;
  const r = spawnSync(join(dist, "bun-linux-x64-musl", "ecfs"), ["--version"], { encoding: "utf8" });
  if (r.status === 0) return undefined;
  const why = r.error ? r.error.message : (r.stderr.trim().split("\n")[0] ?? `exit ${r.status}`);
  return `the musl build cannot run on this machine (${why}); it needs musl's loader and libstdc++ (Alpine: apk add libstdc++)`;
}
const NO_MUSL = probeMusl();
if (NO_MUSL) console.error(`${SKIP_PREFIX} ${NO_MUSL}`);

const exe = buildFixture("crasher", { libs: ["-pthread"] });
const COMM = basename(exe).slice(0, 15);
const setups: HandlerSetup[] = [];
beforeAll(() => {
  const b = build([]);
  if (!b.ok) throw new Error(`scripts/build.ts failed: ${b.err}`);
});
afterAll(async () => {
  await killAllFixtures();
  rmSync(dist, { recursive: true, force: true });
  for (const s of setups) rmSync(s.dir, { recursive: true, force: true });
});

const run = (args: string[]) => spawnSync(join(dist, "ecfs"), args, { encoding: "utf8", cwd: "/", env: { PATH: "/usr/bin:/bin" } });
const sysctls = () => ({ pattern: readFileSync(CORE_PATTERN, "utf8"), pipeLimit: readFileSync(CORE_PIPE_LIMIT, "utf8") });

/** Run `fn` with the machine's core settings and 50-ecfs.conf saved, and restored afterwards. */
async function guarded(fn: () => Promise<void>): Promise<void> {
  await withCoreSettingsLocked(async () => {
    const conf = existsSync(SYSCTL_FILE) ? readFileSync(SYSCTL_FILE) : undefined;
    try {
      await fn();
    } finally {
      if (conf === undefined) rmSync(SYSCTL_FILE, { force: true });
      else writeFileSync(SYSCTL_FILE, conf);
    }
  });
}

test("install refuses without root, with one clear line", () => {
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", join(dist, "ecfs"), "install", "--prefix", "/tmp/ecfs-never"], { encoding: "utf8", cwd: "/" });
  expect(r.stderr.trim()).toBe("ecfs: install must run as root: it writes /proc/sys/kernel/core_pattern and /etc/sysctl.d");
  expect(r.status).toBe(2);
  expect(existsSync("/tmp/ecfs-never")).toBe(false);
});

test("install refuses bad options through valibot: a bad --pipe-limit, a relative --prefix", () => {
  expect(run(["install", "--pipe-limit", "0"]).stderr).toContain("--pipe-limit must be 1 or more");
  expect(run(["install", "--prefix", "opt"]).stderr).toContain("--prefix must be an absolute path");
  expect(run(["install", "--max-use", "lots"]).stderr).toContain("--max-use must be bytes");
});

describe.each([
  ["no 50-ecfs.conf before", undefined],
  ["a 50-ecfs.conf of someone else's before", "# kept byte for byte\nkernel.core_pattern=core\n\n"],
] as const)("install, install again, crash, uninstall (%s)", (_name, before) => {
  test("the compiled binary captures the crash; uninstall restores core_pattern, core_pipe_limit and sysctl.d exactly", async () => {
    await guarded(async () => {
      if (before === undefined) rmSync(SYSCTL_FILE, { force: true });
      else writeFileSync(SYSCTL_FILE, before);
      const was = sysctls();
      const prefix = mkdtempSync("/tmp/ei-");
      try {
        const i1 = run(["install", "--prefix", prefix, "--pipe-limit", "8", "--max-use", "25%"]);
        expect(i1.stderr).toBe("");
        expect(i1.status).toBe(0);
        const pattern = `|${prefix}/bin/ecfs handler -P %P -F %F -d ${prefix}/cores --log ${prefix}/ecfs.log --max-use 25%%`;
        expect(i1.stdout).toContain(`core_pattern    was: ${was.pattern.trimEnd()}\n                now: ${pattern}\n`);
        expect(sysctls()).toEqual({ pattern: `${pattern}\n`, pipeLimit: "8\n" });
        expect(readFileSync(SYSCTL_FILE, "utf8")).toContain(`kernel.core_pattern = ${pattern}\nkernel.core_pipe_limit = 8\n`);
        for (const n of ["ecfs_handler", "ecfs_snapshot", "readecfs", "et_flip"]) expect(readlinkSync(join(prefix, "bin", n))).toBe("ecfs");

        const i2 = run(["install", "--prefix", prefix, "--pipe-limit", "8", "--max-use", "25%"]);
        expect(i2.status).toBe(0);
        expect(i2.stdout).toContain("already installed: the values saved by the first install are kept");
        expect(sysctls()).toEqual({ pattern: `${pattern}\n`, pipeLimit: "8\n" });

        // A crash, captured by the installed binary (through the kernel, as on a user's machine).
        const fx = await startFixture<CrasherInfo>(exe, ["segv", "--threads"]);
        process.kill(fx.pid, "SIGUSR1");
        await fx.proc.exited;
        const file = join(prefix, "cores", `${COMM}.${fx.pid}`);
        for (let i = 0; i < 600 && !readFileSync(join(prefix, "ecfs.log"), { flag: "a+" }).toString().includes(`pid ${fx.pid} `); i++) await Bun.sleep(50);
        expect(readFileSync(join(prefix, "ecfs.log"), "utf8")).toContain(`-> ${file}`);
        const core = join(prefix, "flipped");
        writeFileSync(core, readFileSync(file));
        expect(spawnSync(join(prefix, "bin", "et_flip"), [core], { encoding: "utf8" }).status).toBe(0);
        const g = gdbCrashView(exe, core);
        expect({ first: g.lwps[0], signo: g.signo, addr: g.addr, threads: g.lwps.length }).toEqual({ first: fx.info.crash_tid, signo: 11, addr: 0x10n, threads: 9 });
        expect(g.frames).toContain("crash_segv");
        expect(readelfCheck(core).problems).toEqual([]);
        const read = spawnSync(join(prefix, "bin", "readecfs"), ["-e", "--json", file], { encoding: "utf8" });
        expect((JSON.parse(read.stdout) as { siginfo: { signo: number } }).siginfo.signo).toBe(11);

        const u1 = run(["uninstall", "--prefix", prefix]);
        expect(u1.stderr).toBe("");
        expect(u1.status).toBe(0);
        expect(u1.stdout).toContain(`core_pattern    was: ${pattern}\n                now: ${was.pattern.trimEnd()}\n`);
        expect(sysctls()).toEqual(was);
        if (before === undefined) expect(existsSync(SYSCTL_FILE)).toBe(false);
        else expect(readFileSync(SYSCTL_FILE, "utf8")).toBe(before);
        // The user's crash files and log stay; the program and its state go.
        expect(readdirSync(prefix).sort()).toEqual(["cores", "ecfs.log", "flipped"]);

        const u2 = run(["uninstall", "--prefix", prefix]);
        expect(u2.status).toBe(0);
        expect(u2.stdout).toContain("nothing to uninstall");
        expect(sysctls()).toEqual(was);
      } finally {
        rmSync(prefix, { recursive: true, force: true });
      }
    });
  });
});

test.skipIf(NO_MUSL !== undefined)("the musl build captures a crash end to end", async () => {
  const s = handlerSetup({ binary: join(dist, "bun-linux-x64-musl", "ecfs") });
  setups.push(s);
  const fx = await startFixture<CrasherInfo>(exe, ["segv"]);
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc });
  expect(c.files).toEqual([`${COMM}.${fx.pid}`]);
  expect(readelfCheck(join(s.cores, c.files[0]!)).problems.filter((p) => !/Unknown note type|<unknown>/.test(p))).toEqual([]);
});

test("the compiled binary run as ecfs_snapshot snapshots, and as et_flip flips", async () => {
  const fx = await startFixture<CrasherInfo>(exe, ["segv"]);
  try {
    const out = join(dist, "snap.ecfs");
    const r = spawnSync(join(dist, "ecfs_snapshot"), ["-p", String(fx.pid), "-o", out], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(spawnSync(join(dist, "et_flip"), [out], { encoding: "utf8" }).stdout).toContain("ET_NONE -> ET_CORE");
    expect(spawnSync("readelf", ["-h", out], { encoding: "utf8" }).stdout).toMatch(/Type:\s+CORE/);
  } finally {
    await fx.kill();
  }
});

test("the compiled binary run as ecfs_handler takes the handler's arguments (argv[0])", async () => {
  expect(readlinkSync(join(dist, "ecfs_handler"))).toBe("ecfs");
  const s = handlerSetup();
  setups.push(s);
  // Called by that name, the arguments are the handler's own: no "handler" word before them.
  writeFileSync(s.program, `#!/bin/sh\necho "$*" >> ${s.starts}\nexec ${join(dist, "ecfs_handler")} "$@"\n`);
  const fx = await startFixture<CrasherInfo>(exe, ["abort"]);
  const c = await crashOne(s, 4, { pid: fx.pid, proc: fx.proc });
  expect(c.files).toEqual([`${COMM}.${fx.pid}`]);
  expect(c.lines[0]).toContain("SIGABRT");
});
