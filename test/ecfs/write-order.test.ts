// The writer's one promise about the output: it only ever moves forward, but for the ELF header
// (its e_shoff is known only once the sections are planned from the copy), which is written
// last, once, into room nothing else wrote. Judged twice: a sink that records every write of a
// synthetic plan, and strace's log of the pwrite64 calls a real snapshot makes (a target with
// unreadable memory, so .gaps has something to say).

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLASS64 } from "../../src/elf/class.ts";
import { ET_CORE, PF_R, PF_W, SHT_PROGBITS } from "../../src/elf/consts.ts";
import { layoutCore, PAGE } from "../../src/ecfs/layout.ts";
import type { CorePlan, SectionPlan } from "../../src/ecfs/plan.ts";
import { type Sink, writeCore } from "../../src/ecfs/write.ts";
import { MAIN } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, type FixtureInfo } from "../helpers/fixtures.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-order-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

/**
 * [offset, length] pairs in call order: the last must be the ELF header (`header` bytes at 0),
 * and every other one must start at or after the end of the one before, and after the header.
 */
function backwardWrites(writes: [number, number][], header: number): string[] {
  const bad: string[] = [];
  const last = writes[writes.length - 1];
  if (last?.[0] !== 0 || last[1] !== header) bad.push(`the last write is ${JSON.stringify(last)}, not the ELF header [0, ${header}]`);
  let end = header;
  for (const [off, len] of writes.slice(0, -1)) {
    if (off < end) bad.push(`write of ${len} at ${off} after one ending at ${end}`);
    end = Math.max(end, off + len);
  }
  return bad;
}

describe("writeCore writes in file order", () => {
  test("a late section between blobs is written in its place, not after them", async () => {
    const bytes = (name: string, n: number): SectionPlan => ({
      name, type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "bytes", bytes: new Uint8Array(n).fill(1) }, align: 8, entsize: 0,
    });
    const plan: CorePlan = {
      cls: CLASS64, eType: ET_CORE, entry: 0n, notes: new Uint8Array(20),
      loads: [{ vaddr: 0x10000n, memsz: BigInt(2 * PAGE), flags: PF_R | PF_W, dumpSize: BigInt(2 * PAGE) }],
      sections: [
        bytes(".before", 100),
        { name: ".late", type: SHT_PROGBITS, flags: 0, addr: 0n, data: { kind: "late", maxSize: 64, produce: () => new Uint8Array(16).fill(2) }, align: 8, entsize: 16 },
        bytes(".after", 100),
      ],
    };
    const writes: [number, number][] = [];
    const sink: Sink = { write: (b, off) => void writes.push([off, b.byteLength]), finish: () => {} };
    const mem = { read: (_a: bigint, dst: Uint8Array) => dst.fill(7).byteLength };
    const layout = layoutCore(plan);
    await writeCore(plan, layout, sink, mem);
    expect(writes.length).toBeGreaterThan(5);
    expect(backwardWrites(writes, 64)).toEqual([]);
    // A layout whose parts are out of order is refused, not written backwards.
    layout.tail.reverse();
    await expect(writeCore(plan, layout, sink, mem)).rejects.toThrow(/at \d+ is behind the running position \d+/);
  });

  test("a real snapshot, as strace sees its pwrite64 calls", async () => {
    const fx = await startFixture<FixtureInfo & { map: bigint }>(buildFixture("unreadable"));
    const log = join(work, "strace.log");
    const out = join(work, "unreadable.ecfs");
    const r = spawnSync("strace", ["-f", "-qq", "-e", "trace=pwrite64", "-o", log, process.execPath, MAIN, "snapshot", "-p", String(fx.pid), "-o", out], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("could not be read"); // so .gaps is not empty
    const writes = [...readFileSync(log, "utf8").matchAll(/pwrite64\(\d+, .*, (\d+), (\d+)\) = \d+/g)].map((m) => [Number(m[2]), Number(m[1])] as [number, number]);
    expect(writes.length).toBeGreaterThan(5);
    expect(backwardWrites(writes, 64)).toEqual([]);
    await fx.kill();
  });
});
