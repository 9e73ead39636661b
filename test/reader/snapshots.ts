// Real ECFS files for the reader tests: a fixture started, parked, and snapshotted by our own
// CLI (a separate process), in ET_CORE form for gdb and eu-readelf, plus an ET_NONE copy.
// The fixture keeps running, so /proc/PID is there to compare with.

import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { ecfs } from "../helpers/ecfs.ts";
import { type BuildOptions, buildFixture, type FixtureInfo, type RunningFixture, startFixture } from "../helpers/fixtures.ts";

export interface Snapshot<T extends FixtureInfo = FixtureInfo> {
  fx: RunningFixture<T>;
  exe: string;
  /** e_type ET_CORE (snapshot --core). */
  core: string;
  /** The same file flipped to ET_NONE, as ECFS files are by default. */
  none: string;
}

export async function snapshotFixture<T extends FixtureInfo = FixtureInfo>(
  dir: string, fixture: string, opts: BuildOptions, args: string[] = [],
): Promise<Snapshot<T>> {
  const exe = buildFixture(fixture, opts);
  const fx = await startFixture<T>(exe, args);
  const core = join(dir, `${fixture}-${fx.pid}.core.ecfs`);
  const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", core, "--core"]);
  if (r.code !== 0) {
    await fx.kill();
    throw new Error(`ecfs snapshot of ${fixture} failed (exit ${r.code}):\n${r.stderr}`);
  }
  const none = join(dir, `${fixture}-${fx.pid}.ecfs`);
  copyFileSync(core, none);
  const f = ecfs(["flip", none]);
  if (f.code !== 0) throw new Error(`ecfs flip failed:\n${f.stderr}`);
  return { fx, exe, core, none };
}
