// The small pure parts of the heuristics: LD_PRELOAD and /etc/ld.so.preload splitting as
// glibc's rtld.c does it, device numbers as /proc/PID/maps and stat(2) give them (judged
// against the real /proc/self/maps and stat), the cap on findings, and the .heuristics
// document round trip with the reader refusing what does not have the documented shape.

import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { parseMaps } from "../../src/proc/maps.ts";
import { parseDev, sameFile, splitDev } from "../../src/ecfs/heuristics/files.ts";
import { capFindings, encodeHeuristics, type Finding, type HeuristicsReport, MAX_FINDINGS_PER_TYPE } from "../../src/ecfs/heuristics/findings.ts";
import { preloadFromEnviron, preloadFromFile } from "../../src/ecfs/heuristics/preload.ts";
import { decodeHeuristics } from "../../src/reader/heuristics.ts";
import { ElfFormatError } from "../../src/errors.ts";

const env = (...vars: string[]) => new TextEncoder().encode(vars.map((v) => `${v}\0`).join(""));

describe("preload lists", () => {
  test("LD_PRELOAD splits at spaces and colons, empty entries dropped; the last LD_PRELOAD= wins", () => {
    expect(preloadFromEnviron(env("HOME=/root", "LD_PRELOAD=/a/libx.so:liby.so  /b/libz.so::"))).toEqual(["/a/libx.so", "liby.so", "/b/libz.so"]);
    expect(preloadFromEnviron(env("LD_PRELOAD=one.so", "LD_PRELOAD=two.so"))).toEqual(["two.so"]);
    expect(preloadFromEnviron(env("PATH=/bin", "MY_LD_PRELOAD=x.so"))).toEqual([]);
  });

  test("/etc/ld.so.preload: whitespace, colons and # comments", () => {
    expect(preloadFromFile("# hooks\n/usr/lib/libhook.so\tlibother.so:libthird.so # trailing\n\n")).toEqual(["/usr/lib/libhook.so", "libother.so", "libthird.so"]);
  });
});

describe("device numbers", () => {
  test("maps' major:minor and stat's st_dev name the same file (this process's own mappings)", () => {
    const maps = parseMaps(readFileSync("/proc/self/maps", "utf8"));
    const files = maps.filter((m) => m.inode !== 0n && m.path.startsWith("/") && !m.deleted);
    expect(files.length).toBeGreaterThan(0);
    for (const m of files) expect(sameFile(statSync(m.path, { bigint: true }), m)).toBe(true);
    // A different inode on the same device is another file.
    const m = files[0]!;
    expect(sameFile(statSync(m.path, { bigint: true }), { ...m, inode: m.inode + 1n })).toBe(false);
  });

  test("huge_encode_dev's layout: 12-bit major and 20-bit minor split across the word", () => {
    expect(splitDev(0xfe00n)).toEqual([0xfen, 0n]);
    expect(splitDev(0x803n)).toEqual([8n, 3n]);
    // major 0x123 (bits 8-19), minor 0x45678 (bits 0-7 and 20-31).
    expect(splitDev((0x456n << 20n) | (0x123n << 8n) | 0x78n)).toEqual([0x123n, 0x45678n]);
    expect(parseDev("fe:01")).toEqual([0xfen, 1n]);
    expect(parseDev("bogus")).toBeUndefined();
  });
});

const finding = (i: number): Finding => ({ type: "got-hook", address: BigInt(i), size: 8n, object: "/x", detail: "d" });

function report(findings: Finding[]): HeuristicsReport {
  const { kept, truncated } = capFindings(findings);
  return {
    linkMap: "DT_DEBUG",
    objects: [{ name: "/bin/x", header: 0x400000n, base: 0n, end: 0x401000n, kind: "executable", namespace: 0, dev: "fe:00", inode: 12n }],
    findings: kept, notes: [{ type: "jit", address: 0x1000n, detail: "n" }], truncated, problems: ["p"],
  };
}

describe(".heuristics", () => {
  test("findings beyond the cap per type are counted, not kept", () => {
    const r = report(Array.from({ length: MAX_FINDINGS_PER_TYPE + 3 }, (_, i) => finding(i)));
    expect(r.findings.length).toBe(MAX_FINDINGS_PER_TYPE);
    expect(r.truncated).toEqual({ "got-hook": 3 });
  });

  test("what the writer encodes, the reader decodes (addresses as bigint again)", () => {
    const d = decodeHeuristics(encodeHeuristics(report([finding(0x7fff00001234)])));
    expect(d.findings[0]!.address).toBe(0x7fff00001234n);
    expect(d.objects[0]!.inode).toBe(12n);
    expect(d.notes[0]!.address).toBe(0x1000n);
    expect(d.problems).toEqual(["p"]);
  });

  test("anything else is an ElfFormatError naming what is wrong", () => {
    const good = JSON.parse(new TextDecoder().decode(encodeHeuristics(report([finding(1)]))));
    const bad: [unknown, RegExp][] = [
      ["not json", /not UTF-8 JSON/],
      [{ ...good, version: 2 }, /version/],
      [{ ...good, findings: [{ ...good.findings[0], type: "nonsense" }] }, /findings\.0\.type/],
      [{ ...good, findings: [{ ...good.findings[0], address: "0x1234567890abcdef0" }] }, /findings\.0\.address/],
      [{ ...good, objects: [{ ...good.objects[0], inode: -1 }] }, /objects\.0\.inode/],
      [{ ...good, problems: "p" }, /problems/],
    ];
    for (const [doc, why] of bad) {
      const bytes = new TextEncoder().encode(typeof doc === "string" ? doc : JSON.stringify(doc));
      expect(() => decodeHeuristics(bytes)).toThrow(ElfFormatError);
      expect(() => decodeHeuristics(bytes)).toThrow(why);
    }
    expect(() => decodeHeuristics(new Uint8Array([0xff, 0xfe]))).toThrow(/not UTF-8/);
  });
});
