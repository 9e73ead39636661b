// The writer streams: the snapshot process's peak RSS must not grow with the target. A
// target with 768 MiB of touched heap is snapshot, and the snapshot's own peak RSS (from the
// kernel's rusage) stays far below the size of what it copied.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture, type PatternsInfo } from "./helpers/fixtures.ts";
import { MAIN } from "./helpers/ecfs.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-rss-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

test("peak RSS of a snapshot of 768 MiB stays under 200 MiB", async () => {
  const fx = await startFixture<PatternsInfo>(buildFixture("patterns"), ["--heap-mib", "768"], {}, { timeoutMs: 60_000 });
  const out = join(work, "big.ecfs");
  const p = Bun.spawn([process.execPath, MAIN, "snapshot", "-p", String(fx.pid), "-o", out], { stdout: "ignore", stderr: "pipe" });
  expect(await p.exited).toBe(0);
  expect(statSync(out).size).toBeGreaterThan(768 << 20);
  const rss = p.resourceUsage()!.maxRSS;
  expect(rss).toBeLessThan(200 << 20);
  await fx.kill();
});
