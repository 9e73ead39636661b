// The single-file executable (`bun run build`): built at test time, it snapshots a fixture and
// reads the file back, also when run through its `readecfs` link.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture } from "./helpers/fixtures.ts";
import { NO_I386 } from "./helpers/machine.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-build-"));
beforeAll(() => {
  const b = spawnSync(process.execPath, [join(import.meta.dir, "..", "scripts", "build.ts")], { encoding: "utf8", env: { ...process.env, ECFS_DIST: work } });
  if (b.status !== 0) throw new Error(`scripts/build.ts failed: ${b.stderr}`);
});
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

/** Snapshot a patterns fixture with dist/ecfs and read it with dist/readecfs, from an empty
 * directory with an empty PATH: nothing but the executable itself. */
async function roundTrip(m32: boolean): Promise<void> {
  const fx = await startFixture(buildFixture("patterns", { m32 }));
  try {
    const out = join(work, `x${m32 ? 32 : 64}.ecfs`);
    const snap = spawnSync(join(work, "ecfs"), ["snapshot", "-p", String(fx.pid), "-o", out], { encoding: "utf8", cwd: work, env: { PATH: "" } });
    expect(snap.stderr).toBe("");
    expect(snap.status).toBe(0);
    const read = spawnSync(join(work, "readecfs"), ["-P", out], { encoding: "utf8", cwd: work, env: { PATH: "" } });
    expect(read.status).toBe(0);
    expect(read.stdout).toContain(`- Executable path (.exepath): ${fx.binary}`);
    const h = spawnSync("readelf", ["-h", out], { encoding: "utf8" }).stdout;
    expect(h).toMatch(m32 ? /Class:\s+ELF32/ : /Class:\s+ELF64/);
  } finally {
    await fx.kill();
  }
}

test("bun run build makes dist/ecfs and dist/readecfs that work without Bun or the sources", () => roundTrip(false));

test.skipIf(NO_I386)("the built dist/ecfs snapshots an i386 process too", () => roundTrip(true));
