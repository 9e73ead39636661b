// The populated pages of a process, two ways: the PAGEMAP_SCAN ioctl (sys/pagemapscan.ts, what
// the copy uses) and one pagemap entry per page read and tested here (bit 63 present, bit 62
// swapped: Documentation/admin-guide/mm/pagemap.rst). Both on the untouched fixture (three
// written pages in 64 MiB) and on the patterns fixture's whole address space.

import { afterAll, expect, test } from "bun:test";
import { closeSync, openSync, readSync } from "node:fs";
import { isPrivateAnonymous, UnpopulatedPages } from "../../src/proc/pagemap.ts";
import { readMaps } from "../../src/proc/maps.ts";
import { PAGE_IS_PRESENT, PAGE_IS_SWAPPED, scanPages } from "../../src/sys/pagemapscan.ts";
import { buildFixture, killAllFixtures, startFixture, type PatternsInfo } from "../helpers/fixtures.ts";

afterAll(killAllFixtures);

/** [start, end) runs of present or swapped pages in [from, to), from the pagemap entries. */
function byEntries(pid: number, from: bigint, to: bigint): [bigint, bigint][] {
  const fd = openSync(`/proc/${pid}/pagemap`, "r");
  const out: [bigint, bigint][] = [];
  const buf = Buffer.alloc(8);
  try {
    for (let a = from; a < to; a += 4096n) {
      readSync(fd, buf, 0, 8, Number((a / 4096n) * 8n));
      if ((buf.readBigUInt64LE(0) & (3n << 62n)) === 0n) continue;
      const last = out[out.length - 1];
      if (last && last[1] === a) last[1] = a + 4096n;
      else out.push([a, a + 4096n]);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function byScan(pid: number, from: bigint, to: bigint): [bigint, bigint][] {
  const fd = openSync(`/proc/${pid}/pagemap`, "r");
  const out: [bigint, bigint][] = [];
  try {
    expect(scanPages(fd, from, to, PAGE_IS_PRESENT | PAGE_IS_SWAPPED, 0, (s, e) => {
      const last = out[out.length - 1];
      if (last && last[1] === s) last[1] = e;
      else out.push([s, e]);
    })).toBe(true);
  } finally {
    closeSync(fd);
  }
  return out;
}

test("untouched: the scan finds the three written pages, as the entries do, and dataRuns gives them", async () => {
  const fx = await startFixture<PatternsInfo & { map: bigint; len: number }>(buildFixture("untouched"), ["64"]);
  const { map, len } = fx.info;
  const end = map + BigInt(len);
  const scan = byScan(fx.pid, map, end);
  expect(scan).toEqual(byEntries(fx.pid, map, end));
  expect(scan.length).toBe(3);
  const pages = new UnpopulatedPages(fx.pid, [{ start: map, end }]);
  try {
    expect(pages.dataRuns(map, len).map((r) => [r.start, r.end])).toEqual(scan);
    // A window inside: clipped to it.
    expect(pages.dataRuns(map + 4096n, len - 8192).map((r) => [r.start, r.end])).toEqual([scan[1]!]);
  } finally {
    pages.close();
  }
  await fx.kill();
});

test("patterns: every private anonymous mapping, scan and entries agree", async () => {
  const fx = await startFixture(buildFixture("patterns"), ["--heap-mib", "8"]);
  const anon = readMaps(fx.pid).filter(isPrivateAnonymous);
  expect(anon.length).toBeGreaterThan(2);
  for (const m of anon) expect(byScan(fx.pid, m.start, m.end)).toEqual(byEntries(fx.pid, m.start, m.end));
  await fx.kill();
});
