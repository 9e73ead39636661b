// `ecfs snapshot -h` as a user runs it, and what `ecfs read -e` shows of the findings: one
// fixture run doing three suspicious things at once, taken with --low-pause (the heuristics
// then read the fork), read back as text and as JSON; a damaged .heuristics costs only itself.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FixtureInfo, killAllFixtures, type RunningFixture, startFixture } from "../helpers/fixtures.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { heurBinary, readelfSectionTypes, snapshotWithHeuristics, type HeuristicsSnapshot } from "./helpers.ts";

type Info = FixtureInfo & { hook: { slot: bigint }; patch: { addr: bigint }; rwx: { addr: bigint } };

const work = mkdtempSync(join(tmpdir(), "ecfs-heur-cli-"));
const hex = (v: bigint) => `0x${v.toString(16)}`;
let fx: RunningFixture<Info>;
let snap: HeuristicsSnapshot;

beforeAll(async () => {
  fx = await startFixture<Info>(heurBinary("lazy", false), ["--hook", "--patch", "--rwx"]);
  snap = snapshotWithHeuristics(fx.pid, join(work, "three.ecfs"), ["--low-pause"]);
});
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

describe("ecfs snapshot -h", () => {
  test("-h is the heuristics, not the help: without a pid it asks for one", () => {
    const r = ecfs(["snapshot", "-h"]);
    expect(r.stderr.trim()).toBe("ecfs: a pid is required (ecfs snapshot -p PID, or ecfs snapshot PID)");
    expect(r.code).toBe(2);
    const help = ecfs(["snapshot", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--heuristics");
  });

  test("the summary line, and the three findings where the fixture made them (--low-pause)", () => {
    expect(snap.stdout).toContain("heuristics: 3 finding(s) (1 anonymous-code, 1 got-hook, 1 patched-code)");
    const got = snap.heuristics.findings.map((f) => `${f.type} ${f.address}`).sort();
    expect(got).toEqual([`anonymous-code ${hex(fx.info.rwx.addr)}`, `got-hook ${hex(fx.info.hook.slot)}`, `patched-code ${hex(fx.info.patch.addr)}`].sort());
  });

  test("clustered and long spellings: -hp PID, --heuristics", () => {
    for (const args of [[`-hp${fx.pid}`], ["--heuristics", "-p", String(fx.pid)]]) {
      const file = join(work, "spelling.ecfs");
      const r = ecfs(["snapshot", ...args, "-o", file]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(readelfSectionTypes(file).some((s) => s.name === ".heuristics")).toBe(true);
      rmSync(file);
    }
  });
});

describe("ecfs read -e", () => {
  test("text: each finding with its address, object, symbol, expected and found", () => {
    const r = ecfs(["read", "-e", snap.file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("- Heuristics (.heuristics): 3 finding(s), link map from DT_DEBUG");
    expect(r.stdout).toContain(`[got-hook] ${hex(fx.info.hook.slot)} (8 bytes) in ${fx.binary} at getppid@GLIBC_2.2.5`);
    expect(r.stdout).toContain(`[patched-code] ${hex(fx.info.patch.addr)} (5 bytes) in ${fx.binary} at victim`);
    expect(r.stdout).toMatch(/\t\texpected: 0x[0-9a-f]+ \(\S*libc\.so\.6 getppid\) or its lazy PLT stub\n/);
    expect(r.stdout).toMatch(/\t\tfound: {4}0x[0-9a-f]+ \(\S+ my_getppid\)\n/);
    expect(r.stdout).toContain("malware heuristics: yes");
  });

  test("a damaged .heuristics: one warning naming it, exit 1, the rest still shown", () => {
    const sec = readelfSectionTypes(snap.file).find((s) => s.name === ".heuristics")!;
    const text = Bun.spawnSync(["readelf", "-S", "-W", snap.file]).stdout.toString();
    const fileOff = Number.parseInt(/\.heuristics\s+PROGBITS\s+[0-9a-f]+ ([0-9a-f]+)/.exec(text)![1]!, 16);
    const bytes = readFileSync(snap.file);
    const damaged = join(work, "damaged.ecfs");
    bytes.fill(0x7b, fileOff, fileOff + Number(sec.size)); // "{{{{..."
    writeFileSync(damaged, bytes);
    const r = ecfs(["read", "-e", damaged]);
    expect(r.stderr.trim()).toMatch(/^ecfs: warning: \S+damaged\.ecfs: \.heuristics: \.heuristics is not UTF-8 JSON/);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("- Thread count (.prstatus): 1");
    expect(r.stdout).not.toContain("- Heuristics");
  });
});
