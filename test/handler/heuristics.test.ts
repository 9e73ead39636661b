// The crash handler with -h: a process that hooked its own GOT slot, patched a function and
// ran code from an RWX page dies through the real kernel's core_pattern path, and the ECFS file
// the handler wrote holds the same findings a live `snapshot -h` gives: judged by readelf (the
// personality bit, section types) and `ecfs read -e --json`, against what the fixture printed.

import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ecfs } from "../helpers/ecfs.ts";
import { killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { withCorePattern } from "../helpers/corepattern.ts";
import { handlerSetup, waitForLine, type HandlerSetup } from "../helpers/handler.ts";
import { brief, heurBinary, readelfSectionTypes, type HeuristicsSnapshot } from "../heuristics/helpers.ts";
import type { FixtureInfo } from "../helpers/fixtures.ts";

type HeurInfo = FixtureInfo & {
  hook?: { slot: bigint; symbol: string; target: bigint };
  patch?: { addr: bigint; len: number; fn: string };
  rwx?: { addr: bigint; len: number };
};

const setups: HandlerSetup[] = [];
afterAll(async () => {
  await killAllFixtures();
  for (const s of setups) rmSync(s.dir, { recursive: true, force: true });
});

const hex = (v: bigint) => `0x${v.toString(16)}`;

test("ecfs handler -h: the crash's ECFS file has the findings of snapshot -h, ELF_HEURISTICS set", async () => {
  const s = handlerSetup();
  setups.push(s);
  const fx = await startFixture<HeurInfo>(heurBinary("lazy", false), ["--hook", "--patch", "--rwx"]);
  const { hook, patch, rwx } = fx.info;
  if (!hook || !patch || !rwx) throw new Error(`heur did not report what it did: ${JSON.stringify(fx.info)}`);
  const lines = await withCorePattern(s.pattern(["-h"]), 4, async () => {
    process.kill(fx.pid, "SIGSEGV");
    await fx.proc.exited;
    return waitForLine(s, fx.pid);
  });
  expect(lines).toHaveLength(1);
  const files = existsSync(s.cores) ? readdirSync(s.cores) : [];
  expect(files).toHaveLength(1);
  expect(files[0]!.endsWith(".core")).toBe(false); // an ECFS file, not the raw-core fallback
  const file = join(s.cores, files[0]!);
  const read = ecfs(["read", "-e", "--json", file]);
  expect(read.stderr).toBe("");
  const report = JSON.parse(read.stdout) as HeuristicsSnapshot["report"];
  expect(report.personality.heuristics).toBe(true);
  const found = brief(report.heuristics?.findings ?? []);
  expect(found).toEqual(expect.arrayContaining([
    expect.stringContaining(`got-hook ${hex(hook.slot)}`),
    expect.stringContaining(`patched-code ${hex(patch.addr)}`),
    expect.stringContaining(`anonymous-code ${hex(rwx.addr)}`),
  ]));
  expect(found).toHaveLength(3);
  // The outside judge reads the section the findings live in.
  expect(readelfSectionTypes(file).some((x) => x.name === ".heuristics")).toBe(true);
});
