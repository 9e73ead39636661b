import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { ProcParseError } from "../../src/errors.ts";
import type { Mapping } from "../../src/model/image.ts";
import { findMapping, parseMaps, readMaps } from "../../src/proc/maps.ts";
import { isDumpable, parseSmaps, readFlagsAhead, readMappings, readMapsWithFlags, readSmaps } from "../../src/proc/smaps.ts";
import { removeDir, scratchDir, startTarget, type TargetInfo, Targets } from "./fixture.ts";

const targets = new Targets();
const dir = scratchDir("maps");
let info: TargetInfo;
let bin: string;

beforeAll(async () => {
  ({ info, bin } = await startTarget(targets, dir));
}, 30_000);
afterAll(() => {
  targets.killAll();
  removeDir(dir);
});

describe("parseMaps on literal text", () => {
  const text = [
    "55e1ec089000-55e1ec08d000 r--p 00000000 fe:00 260638                     /usr/bin/mawk",
    "7eff454a7000-7eff454aa000 rw-p 00000000 00:00 0 ",
    "7eff454aa000-7eff454ab000 rw-s 00001000 fe:00 17                         /tmp/a b/c  d (deleted)",
    "7eff454ab000-7eff454ac000 r--p 00000000 00:05 9                          /x (deleted) y",
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
    "",
  ].join("\n");
  const maps = parseMaps(text);

  test("splits five fields and keeps the rest of the line as the path", () => {
    expect(maps.length).toBe(5);
    expect(maps[0]).toEqual({
      start: 0x55e1ec089000n, end: 0x55e1ec08d000n, perms: "r--p", offset: 0n, dev: "fe:00",
      inode: 260638n, path: "/usr/bin/mawk", deleted: false, vmFlags: [],
    });
    expect(maps[1]?.path).toBe("");
    expect(maps[3]?.path).toBe("/x (deleted) y");
    expect(maps[3]?.deleted).toBe(false);
  });
  test("strips and flags the deleted suffix; keeps inner double spaces", () => {
    expect(maps[2]?.path).toBe("/tmp/a b/c  d");
    expect(maps[2]?.deleted).toBe(true);
    expect(maps[2]?.offset).toBe(0x1000n);
  });
  test("addresses above 2^53 stay exact", () => {
    expect(maps[4]?.start).toBe(0xffffffffff600000n);
    expect(findMapping(maps, 0xffffffffff600abcn)?.path).toBe("[vsyscall]");
    expect(findMapping(maps, 0x1000n)).toBeUndefined();
  });
  test("rejects malformed, unsorted and inverted lines with the line number", () => {
    expect(() => parseMaps("garbage\n")).toThrow(ProcParseError);
    expect(() => parseMaps("2000-1000 r--p 00000000 00:00 0 \n")).toThrow(/end not above start/);
    expect(() => parseMaps("1000-3000 r--p 00000000 00:00 0 \n2000-4000 r--p 00000000 00:00 0 \n")).toThrow(
      /maps:2: mappings overlap/,
    );
  });
});

describe("readMaps on a live target", () => {
  const inMap = (maps: Mapping[], addr: string): Mapping => {
    const m = findMapping(maps, BigInt(addr));
    if (m === undefined) throw new Error(`no mapping holds ${addr}`);
    return m;
  };

  test("the target's own addresses fall into the right mappings", () => {
    const maps = readMaps(info.pid);
    const exe = realpathSync(bin);
    expect(inMap(maps, info.global)).toMatchObject({ path: exe, perms: "rw-p", deleted: false });
    expect(inMap(maps, info.small).path).toBe("[heap]");
    expect(inMap(maps, info.large)).toMatchObject({ path: "", perms: "rw-p", inode: 0n });
    expect(inMap(maps, info.stack).path).toBe("[stack]");
    expect(inMap(maps, info.auxv.vdso).path).toBe("[vdso]");
  });

  test("a path with spaces and an unlinked shared file", () => {
    const maps = readMaps(info.pid);
    const spaced = inMap(maps, info.spacedMap);
    expect(spaced).toMatchObject({ path: info.spaced, perms: "r--p", deleted: false, start: BigInt(info.spacedMap) });
    expect(spaced.end - spaced.start).toBe(8192n);
    expect(inMap(maps, info.goneMap)).toMatchObject({ path: info.gone, perms: "rw-s", deleted: true });
  });

  test("agrees line for line with cat", () => {
    const catText = Bun.spawnSync(["cat", `/proc/${info.pid}/maps`]).stdout.toString();
    const lines = catText.trimEnd().split("\n");
    const maps = readMaps(info.pid);
    expect(maps.length).toBe(lines.length);
    maps.forEach((m, i) => {
      const [range] = (lines[i] ?? "").split(" ");
      expect(`${m.start.toString(16).padStart(8, "0")}-${m.end.toString(16).padStart(8, "0")}`).toBe(range ?? "");
    });
  });
});

describe("smaps VmFlags", () => {
  test("parseSmaps attaches VmFlags to the preceding header", () => {
    const text = [
      "7eff45778000-7eff4577c000 r--p 00000000 00:00 0                          [vvar]",
      "Size:                 16 kB",
      "THPeligible:           0",
      "VmFlags: rd mr pf io de dd ",
      "7eff4577e000-7eff45780000 r-xp 00000000 00:00 0                          [vdso]",
      "Rss:                   8 kB",
      "VmFlags: rd ex mr mw me de ",
      "",
    ].join("\n");
    const maps = parseSmaps(text);
    expect(maps.map((m) => m.vmFlags)).toEqual([
      ["rd", "mr", "pf", "io", "de", "dd"],
      ["rd", "ex", "mr", "mw", "me", "de"],
    ]);
    expect(maps.map(isDumpable)).toEqual([false, true]);
    expect(() => parseSmaps("VmFlags: rd\n")).toThrow(ProcParseError);
    expect(() => parseSmaps(`${text}VmFlags: rd xyz\n`)).toThrow(/bad VmFlags/);
  });

  test("readMapsWithFlags lists the same mappings as maps, with flags", () => {
    const plain = readMaps(info.pid);
    const flagged = readMapsWithFlags(info.pid);
    expect(flagged.map((m): Mapping => ({ ...m, vmFlags: [] }))).toEqual(plain);
    for (const m of flagged) expect(m.vmFlags.length).toBeGreaterThan(0);
  });

  test("readMappings: maps now, VmFlags read ahead for the same lines; smaps now when a line changed", () => {
    const now = readSmaps(info.pid);
    const ahead = readFlagsAhead(info.pid);
    expect(ahead?.size).toBe(now.mappings.length);
    expect(readMappings(info.pid, ahead)).toEqual(now);
    // The flags come from `ahead` (so smaps was not read again) while every line is the same...
    const marked = new Map(ahead);
    const first = now.mapsText.split("\n")[0]!;
    marked.set(first, ["zz"]);
    expect(readMappings(info.pid, marked).mappings[0]!.vmFlags).toEqual(["zz"]);
    // ...and from smaps read now when one line is not there (a new or changed mapping).
    marked.delete(now.mapsText.split("\n")[1]!);
    expect(readMappings(info.pid, marked)).toEqual(now);
    expect(readMappings(info.pid, undefined)).toEqual(now);
  });

  test("MADV_DONTDUMP and [vvar] are not dumpable; heap, stack, vdso, vsyscall are", () => {
    const maps = readMapsWithFlags(info.pid);
    const nodump = findMapping(maps, BigInt(info.nodump));
    expect(nodump?.vmFlags).toContain("dd");
    expect(nodump && isDumpable(nodump)).toBe(false);
    expect(nodump?.end).toBe(BigInt(info.nodump) + BigInt(info.nodumpLen));

    const byName = (p: string) => maps.find((m) => m.path === p);
    const vvar = byName("[vvar]");
    // Kernel 6.18 marks the VVAR pages VM_IO | VM_DONTDUMP (and VM_PFNMAP: "pf").
    expect(vvar?.vmFlags).toEqual(expect.arrayContaining(["io", "dd", "pf"]));
    expect(vvar && isDumpable(vvar)).toBe(false);
    const vclock = byName("[vvar_vclock]");
    if (vclock !== undefined) expect(isDumpable(vclock)).toBe(false);
    for (const name of ["[heap]", "[stack]", "[vdso]", "[vsyscall]"]) {
      const m = byName(name);
      expect(m, name).toBeDefined();
      if (m) expect(isDumpable(m), name).toBe(true);
    }
  });

  test("isDumpable without smaps falls back on the VVAR names", () => {
    const maps = readMaps(info.pid);
    const vvar = maps.find((m) => m.path === "[vvar]");
    expect(vvar && isDumpable(vvar)).toBe(false);
    expect(maps.filter(isDumpable).length).toBe(maps.filter((m) => !m.path.startsWith("[vvar")).length);
  });
});
