// `ecfs flip` changes only ECFS files (ET_NONE or ET_CORE with .personality), back and forth;
// any other file is refused with one line and left byte for byte as it was; extra arguments
// are an error. e_type is judged by readelf, not by our reader.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ecfs } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, type RunningFixture } from "../helpers/fixtures.ts";
import { gcoreOf } from "../helpers/oracles.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-flip-"));
let fx: RunningFixture;
let ecfsFile: string;
beforeAll(async () => {
  fx = await startFixture(buildFixture("patterns"));
  ecfsFile = join(work, "x.ecfs");
  expect(ecfs(["snapshot", "-p", String(fx.pid), "-o", ecfsFile]).code).toBe(0);
});
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

const eType = (path: string): string => /Type:\s+(\S+)/.exec(spawnSync("readelf", ["-h", path], { encoding: "utf8" }).stdout)?.[1] ?? "?";

test("an ECFS file goes ET_NONE -> ET_CORE -> ET_NONE, and only e_type changes", () => {
  const before = readFileSync(ecfsFile);
  expect(eType(ecfsFile)).toBe("NONE");
  for (const [from, to] of [["NONE", "CORE"], ["CORE", "NONE"], ["NONE", "CORE"]]) {
    const r = ecfs(["flip", ecfsFile]);
    expect([r.code, r.stderr, r.stdout]).toEqual([0, "", `${ecfsFile}: ET_${from} -> ET_${to}\n`]);
    expect(eType(ecfsFile)).toBe(to!);
  }
  const after = readFileSync(ecfsFile);
  after.writeUInt16LE(before.readUInt16LE(16), 16);
  expect(after.equals(before)).toBe(true);
  expect(ecfs(["flip", ecfsFile]).code).toBe(0);
});

test("any other file is refused with one line and left as it was: executable, library, object, gdb core, text", () => {
  const obj = join(work, "o.o");
  writeFileSync(join(work, "o.c"), "int x = 1;\n");
  expect(spawnSync("cc", ["-c", "-o", obj, join(work, "o.c")]).status).toBe(0);
  const libc = spawnSync("sh", ["-c", "ldd /bin/ls | sed -n 's/.*libc.so.6 => \\([^ ]*\\).*/\\1/p'"], { encoding: "utf8" }).stdout.trim();
  const cases = [
    { src: "/bin/ls", name: "ls", why: "not an ECFS file (e_type ET_DYN; ECFS files are ET_NONE or ET_CORE)" },
    { src: libc, name: "libc.so.6", why: "not an ECFS file (e_type ET_DYN; ECFS files are ET_NONE or ET_CORE)" },
    { src: obj, name: "copy.o", why: "not an ECFS file (e_type ET_REL; ECFS files are ET_NONE or ET_CORE)" },
    { src: gcoreOf(fx.pid, join(work, "gcore")), name: "gcore.core", why: "not an ECFS file (no .personality section)" },
    { src: "/etc/passwd", name: "passwd", why: "not an ELF file" },
  ];
  for (const c of cases) {
    const path = join(work, c.name);
    copyFileSync(c.src, path);
    const type = eType(path);
    const r = ecfs(["flip", path]);
    expect([c.name, r.code, r.stdout, r.stderr]).toEqual([c.name, 1, "", `ecfs: ${path}: ${c.why}; flip changes only ECFS files, nothing was written\n`]);
    expect([c.name, readFileSync(path).equals(readFileSync(c.src))]).toEqual([c.name, true]);
    expect(eType(path)).toBe(type);
  }
  // The copied ls still runs.
  expect(spawnSync(join(work, "ls"), ["/"], { encoding: "utf8" }).status).toBe(0);
});

test("extra arguments are an error, and neither file is touched", () => {
  const second = join(work, "second.ecfs");
  copyFileSync(ecfsFile, second);
  const r = ecfs(["flip", ecfsFile, second]);
  expect([r.code, r.stdout, r.stderr]).toEqual([2, "", `ecfs: flip: one file at a time (got ${JSON.stringify(ecfsFile)}, ${JSON.stringify(second)}); ecfs flip FILE\n`]);
  expect([eType(ecfsFile), eType(second)]).toEqual(["NONE", "NONE"]);
  const none = ecfs(["flip"]);
  expect([none.code, none.stderr]).toEqual([2, "ecfs: flip: a file is required (ecfs flip FILE)\n"]);
});
