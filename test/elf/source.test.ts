// ByteSource: exact-length reads, range and cap checks, and pread-on-demand file access that
// never loads the file (checked with a sparse file far larger than memory we'd accept).

import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ElfFile } from "../../src/elf/reader.ts";
import { BytesSource, FileSource, MAX_READ, toIndex } from "../../src/elf/source.ts";
import { ElfFormatError } from "../../src/errors.ts";
import { binaries, cleanupFixtures } from "./fixtures.ts";

const tmp = mkdtempSync("/tmp/ecfs-ts-source-");
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  cleanupFixtures();
});
const exe = readFileSync(binaries().park64);

describe("BytesSource", () => {
  const s = new BytesSource(exe);
  test("reads are exact-length views of the same buffer", () => {
    const v = s.read(16, 8);
    expect(v.byteLength).toBe(8);
    expect(v.buffer).toBe(exe.buffer);
    expect(s.read(exe.byteLength, 0).byteLength).toBe(0);
  });
  test("out-of-range, malformed and over-cap reads throw ElfFormatError", () => {
    expect(() => s.read(exe.byteLength - 4, 8, "thing")).toThrow(
      new RegExp(`thing out of bounds \\(8\\) at 0x${(exe.byteLength - 4).toString(16)}$`),
    );
    expect(() => s.read(-1, 1)).toThrow(ElfFormatError);
    expect(() => s.read(1.5, 1)).toThrow(ElfFormatError);
    expect(() => s.read(0, Number.MAX_SAFE_INTEGER + 2)).toThrow(ElfFormatError);
    expect(() => s.read(0, MAX_READ + 1)).toThrow(/read cap/);
  });
  test("toIndex bounds a bigint before it becomes a number", () => {
    expect(toIndex(5n, 10, "x")).toBe(5);
    expect(() => toIndex(11n, 10, "e_phoff", 0x20)).toThrow(/bad e_phoff \(0xb\) at 0x20/);
    expect(() => toIndex(-1n, 10, "x")).toThrow(ElfFormatError);
  });
});

describe("FileSource", () => {
  test("a sparse 6 GiB file: opened and parsed without reading it whole", () => {
    const path = join(tmp, "sparse");
    writeFileSync(path, exe);
    truncateSync(path, 6 * 2 ** 30);
    const rss = process.memoryUsage().rss;
    const fs = FileSource.open(path);
    try {
      expect(fs.length).toBe(6 * 2 ** 30);
      const f = ElfFile.open(fs);
      const g = ElfFile.open(new BytesSource(exe));
      expect(f.header).toEqual(g.header);
      expect(f.sections()).toEqual(g.sections());
      expect(f.sectionData(f.sectionByName(".dynstr")!)).toEqual(g.sectionData(g.sectionByName(".dynstr")!));
      expect(fs.read(5 * 2 ** 30 + 3, 16)).toEqual(new Uint8Array(16)); // past 2^32: no 32-bit offsets
      expect(() => fs.read(6 * 2 ** 30 - 8, 16)).toThrow(ElfFormatError);
      expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20);
    } finally {
      fs.close();
    }
  });

  test("a file truncated after open gives ElfFormatError, not short data", () => {
    const path = join(tmp, "shrinks");
    writeFileSync(path, exe);
    const fs = FileSource.open(path);
    try {
      truncateSync(path, 100);
      expect(fs.read(0, 100)).toEqual(new Uint8Array(exe.subarray(0, 100)));
      expect(() => fs.read(64, 64)).toThrow(/file truncated while reading \(28\) at 0x64/);
    } finally {
      fs.close();
    }
  });

  test("reads span the file exactly; close is idempotent, reading after it is a bug", () => {
    const path = join(tmp, "grow");
    const fd = openSync(path, "w");
    for (let i = 0; i < 64; i++) writeSync(fd, exe.subarray(0, 4096));
    closeSync(fd);
    const fs = FileSource.open(path);
    expect(fs.read(4000, 200)).toEqual(new Uint8Array([...exe.subarray(4000, 4096), ...exe.subarray(0, 104)]));
    fs.close();
    fs.close();
    expect(() => fs.read(0, 1)).toThrow(/closed FileSource/);
  });

  test("directories are refused", () => {
    expect(() => FileSource.open(tmp)).toThrow(/not a regular file/);
  });
});
