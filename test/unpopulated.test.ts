// A snapshot does not make untouched memory resident. On this machine's kernel a read of a
// never-populated anonymous page allocates a real page (no shared zero page), so reading a
// 256 MiB reservation with three written pages would add 256 MiB to the target's RSS. Judges:
// the target's own smaps (Rss of that mapping), the file's holes as lseek(SEEK_DATA) sees them
// (Python's os module), and gdb reading the written pages and zeros between them.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readelfPhdrs } from "./elf/oracles.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, type PatternsInfo } from "./helpers/fixtures.ts";
import { gdbReadMemoryMany } from "./helpers/gdb.ts";
import { patternMismatch } from "./helpers/pattern.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-unpopulated-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

type UntouchedInfo = PatternsInfo & { map: bigint; len: number };
const MIB = 256;

/** Rss of the mapping starting at `start`, in kB, from /proc/PID/smaps. */
function mappingRssKb(pid: number, start: bigint): number {
  const text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  const head = text.split("\n").findIndex((l) => l.startsWith(`${start.toString(16)}-`));
  if (head < 0) throw new Error(`no mapping at 0x${start.toString(16)} in smaps`);
  const rss = text.split("\n").slice(head + 1).find((l) => l.startsWith("Rss:"));
  return Number(/(\d+) kB/.exec(rss ?? "")?.[1] ?? Number.NaN);
}

/** The next file offset at or after `from` that holds data (lseek SEEK_DATA), by Python. */
function nextData(file: string, from: number): number {
  const r = spawnSync("python3", ["-c", "import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(os.lseek(fd, int(sys.argv[2]), os.SEEK_DATA))", file, String(from)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

for (const lowPause of [false, true]) {
  describe(`a ${MIB} MiB reservation with three written pages${lowPause ? " (--low-pause)" : ""}`, () => {
    test("stays unresident in the target, is a hole in the file, and reads as zeros in gdb", async () => {
      const exe = buildFixture("untouched");
      const fx = await startFixture<UntouchedInfo>(exe, [String(MIB)]);
      const { map, len } = fx.info;
      expect(mappingRssKb(fx.pid, map)).toBe(12);
      const file = join(work, `untouched${lowPause ? "-lp" : ""}.core`);
      const r = ecfs(["snapshot", "--core", "-p", String(fx.pid), "-o", file, ...(lowPause ? ["--low-pause"] : [])]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // The target: still only the three written pages.
      expect(mappingRssKb(fx.pid, map)).toBe(12);

      // The file: the whole mapping is dumped (p_filesz), and between the written pages is a hole.
      const load = readelfPhdrs(file).find((p) => p.type === "LOAD" && p.vaddr === map)!;
      expect(load.filesz).toBe(BigInt(len));
      const off = Number(load.offset);
      expect(nextData(file, off + 4096)).toBe(off + len / 2);
      expect(nextData(file, off + len / 2 + 4096)).toBe(off + len - 4096);

      // gdb: the patterns where they were written, zeros around them.
      const zeroAt = [map + 4096n, map + BigInt(len / 2) - 4096n, map + BigInt(len) - 8192n];
      const got = gdbReadMemoryMany(exe, file, [...fx.info.regions.map((x) => ({ addr: x.addr, len: x.len })), ...zeroAt.map((addr) => ({ addr, len: 4096 }))]);
      fx.info.regions.forEach((x, i) => expect({ region: x.name, at: patternMismatch(got[i]!, fx.info.seed, x) }).toEqual({ region: x.name, at: -1 }));
      for (const z of got.slice(fx.info.regions.length)) expect(z.every((b) => b === 0)).toBe(true);
      await fx.kill();
    });
  });
}
