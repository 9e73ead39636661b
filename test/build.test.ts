// The single-file executable (`bun run build`): built at test time, it snapshots a fixture and
// reads the file back, also when run through its `readecfs` link.

import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture } from "./helpers/fixtures.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-build-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

test("bun run build makes dist/ecfs and dist/readecfs that work without Bun or the sources", async () => {
  const b = spawnSync(process.execPath, [join(import.meta.dir, "..", "scripts", "build.ts")], { encoding: "utf8", env: { ...process.env, ECFS_DIST: work } });
  expect(b.status).toBe(0);
  const fx = await startFixture(buildFixture("patterns", { m32: true }));
  const out = join(work, "x.ecfs");
  // Run from an empty directory with an empty PATH: nothing but the executable itself.
  const snap = spawnSync(join(work, "ecfs"), ["snapshot", "-p", String(fx.pid), "-o", out], { encoding: "utf8", cwd: work, env: { PATH: "" } });
  expect(snap.stderr).toBe("");
  expect(snap.status).toBe(0);
  const read = spawnSync(join(work, "readecfs"), ["-P", out], { encoding: "utf8", cwd: work, env: { PATH: "" } });
  expect(read.status).toBe(0);
  expect(read.stdout).toContain(`- Executable path (.exepath): ${fx.binary}`);
  const h = spawnSync("readelf", ["-h", out], { encoding: "utf8" }).stdout;
  expect(h).toMatch(/Class:\s+ELF32/);
  await fx.kill();
});
