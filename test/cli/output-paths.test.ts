// Where `snapshot -o` and `read -O` may write: a new name, or a regular file with --force.
// Never through a symbolic link, never over a device, FIFO or socket, never under /proc, /sys
// or /dev, and the target is refused before it is stopped. Devices here are nodes made in a
// scratch directory (the same major/minor as /dev/null), so a regression cannot break /dev.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ecfs } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, taskIds, taskState, type PatternsInfo, type RunningFixture } from "../helpers/fixtures.ts";
import { liveMemory } from "../helpers/oracles.ts";
import { patternMismatch } from "../helpers/pattern.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-outpaths-"));
const inDevShm = `/dev/shm/ecfs-outpaths-${process.pid}.ecfs`;
let fx: RunningFixture<PatternsInfo>;
let socket: Server;
/** An ECFS file of the fixture, for read -O. */
let ecfsFile: string;

beforeAll(async () => {
  fx = await startFixture<PatternsInfo>(buildFixture("patterns"));
  ecfsFile = join(work, "source.ecfs");
  expect(ecfs(["snapshot", "-p", String(fx.pid), "-o", ecfsFile]).code).toBe(0);
  expect(spawnSync("mknod", [join(work, "null"), "c", "1", "3"]).status).toBe(0);
  expect(spawnSync("mkfifo", [join(work, "fifo")]).status).toBe(0);
  socket = createServer();
  await new Promise<void>((r) => socket.listen(join(work, "sock"), r));
  writeFileSync(join(work, "victim"), "keep");
  symlinkSync(join(work, "victim"), join(work, "link"));
  symlinkSync(`/proc/${process.pid}`, join(work, "procdir"));
});
afterAll(async () => {
  socket?.close();
  await killAllFixtures();
  rmSync(inDevShm, { force: true });
  rmSync(work, { recursive: true, force: true });
});

function oneLine(r: { stderr: string; stdout: string; code: number | null }): string {
  expect(r.stdout).toBe("");
  expect(r.stderr).not.toContain("    at ");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.length).toBe(1);
  expect(r.code).toBe(1);
  return lines[0]!;
}

/** Every thread asleep, untraced, the memory patterns intact: the target was left alone. */
function untouched(): void {
  for (const tid of taskIds(fx.pid)) expect(taskState(fx.pid, tid)).toBe("S");
  expect(/^TracerPid:\s*0$/m.test(readFileSync(`/proc/${fx.pid}/status`, "latin1"))).toBe(true);
  for (const r of fx.info.regions) expect(patternMismatch(liveMemory(fx.pid, r.addr, r.len), fx.info.seed, r)).toBe(-1);
}

/** What each kind of name looks like afterwards: the same kind as before. */
function kind(path: string): string {
  const st = lstatSync(path);
  return st.isSymbolicLink() ? "link" : st.isCharacterDevice() ? "chardev" : st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : st.isFile() ? "file" : "other";
}

const snapshot = (out: string, ...more: string[]) => ecfs(["snapshot", "-p", String(fx.pid), "-o", out, ...more]);
const extract = (out: string, ...more: string[]) => ecfs(["read", "-O", ".arglist", out, ...more, ecfsFile]);

const refusals = [
  { name: "null", kind: "chardev", why: "it is a character device; ecfs writes only to a regular file or a new name" },
  { name: "fifo", kind: "fifo", why: "it is a FIFO; ecfs writes only to a regular file or a new name" },
  { name: "sock", kind: "socket", why: "it is a socket; ecfs writes only to a regular file or a new name" },
  { name: "link", kind: "link", why: "it is a symbolic link; ecfs never writes through one (name the file itself)" },
];

for (const [command, run] of [["snapshot -o", snapshot], ["read -O", extract]] as const)
  describe(`${command}`, () => {
    for (const r of refusals)
      test(`refuses a ${r.kind}, with or without --force, and leaves it as it was`, () => {
        const path = join(work, r.name);
        for (const force of [[], ["--force"]]) {
          expect(oneLine(run(path, ...force))).toBe(`ecfs: cannot write ${path}: ${r.why}`);
          expect(kind(path)).toBe(r.kind);
        }
        expect(readFileSync(join(work, "victim"), "utf8")).toBe("keep");
        untouched();
      });

    test("refuses anything under /proc, /sys or /dev, also through a symlinked directory", () => {
      const real = `/proc/${process.pid}/x.ecfs`;
      for (const [path, line] of [
        ["/proc/x.ecfs", "it is under /proc, a kernel interface, not a place for files"],
        ["/sys/kernel/x.ecfs", "it is under /sys, a kernel interface, not a place for files"],
        [inDevShm, "it is under /dev, a kernel interface, not a place for files"],
        [join(work, "procdir", "x.ecfs"), `${real} is under /proc, a kernel interface, not a place for files`],
      ] as const) {
        expect(oneLine(run(path))).toBe(`ecfs: cannot write ${path}: ${line}`);
        expect(existsSync(path)).toBe(false);
      }
      untouched();
    });

    test("an existing regular file is replaced only with --force, as a new file (hard links keep the old one)", () => {
      const path = join(work, `existing-${command.split(" ")[0]}`);
      writeFileSync(path, "old contents");
      const other = `${path}.hardlink`;
      linkSync(path, other);
      expect(oneLine(run(path))).toBe(`ecfs: cannot write ${path}: the file exists (--force replaces it)`);
      expect(readFileSync(path, "utf8")).toBe("old contents");
      untouched();
      const r = run(path, "--force");
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(readFileSync(path).subarray(0, 4)).toEqual(command === "snapshot -o" ? Buffer.from("\x7fELF", "latin1") : readFileSync(`/proc/${fx.pid}/cmdline`).subarray(0, 4));
      expect(readFileSync(other, "utf8")).toBe("old contents");
      expect(readdirSync(work).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    });
  });

test("snapshot's default name ./<comm>.<pid> is not replaced either without --force", () => {
  const dir = join(work, "cwd");
  mkdirSync(dir);
  const path = join(dir, `${readFileSync(`/proc/${fx.pid}/comm`, "utf8").trim()}.${fx.pid}`);
  writeFileSync(path, "someone's file");
  const r = ecfs(["snapshot", "-p", String(fx.pid)], { cwd: dir });
  expect(oneLine(r)).toBe(`ecfs: cannot write ${path}: the file exists (--force replaces it)`);
  expect(readFileSync(path, "utf8")).toBe("someone's file");
  const f = ecfs(["snapshot", "-p", String(fx.pid), "--force"], { cwd: dir });
  expect([f.code, f.stderr]).toEqual([0, ""]);
  expect(spawnSync("readelf", ["-h", path], { encoding: "utf8" }).stdout).toMatch(/Type:\s+NONE/);
  untouched();
});
