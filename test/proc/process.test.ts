import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, realpathSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import {
  AT_BASE, AT_ENTRY, AT_EXECFN, AT_PAGESZ, AT_PHDR, AT_RANDOM, AT_SYSINFO_EHDR,
} from "../../src/elf/consts.ts";
import { ElfFormatError, SyscallError } from "../../src/errors.ts";
import { auxvValue, parseAuxv, readAuxv } from "../../src/proc/auxv.ts";
import { findMapping, readMaps } from "../../src/proc/maps.ts";
import {
  listTasks, parsePersonality, readCmdline, readComm, readEnviron, readExeLink, readPersonality, splitNul,
} from "../../src/proc/process.ts";
import { readProcFile, readProcLink, readProcText } from "../../src/proc/read.ts";
import { isGone } from "../../src/errors.ts";
import { compile, firstLine, removeDir, scratchDir, startTarget, type TargetInfo, Targets } from "./fixture.ts";
import { NO_I386 } from "../helpers/machine.ts";

const targets = new Targets();
const dir = scratchDir("process");
let info: TargetInfo;
let bin: string;
let work: string;

beforeAll(async () => {
  ({ info, bin, work } = await startTarget(targets, dir, { ECFS_TEST_VAR: "a value with spaces", PATH: "/usr/bin:/bin" }));
}, 30_000);
afterAll(() => {
  targets.killAll();
  removeDir(dir);
});

describe("read.ts", () => {
  test("reads past the first chunk to EOF, byte for byte what cat sees", () => {
    // /proc/kallsyms is megabytes and does not change while we look: many chunks, many doublings.
    const big = readProcFile("/proc/kallsyms");
    const cat = Bun.spawnSync(["cat", "/proc/kallsyms"], { stdout: "pipe" }).stdout;
    expect(big.byteLength).toBeGreaterThan(1024 * 1024);
    expect(Buffer.compare(Buffer.from(big.buffer, big.byteOffset, big.byteLength), cat)).toBe(0);
    for (const name of ["maps", "status"]) { // smaps Pss moves as cat itself maps libc
      const path = `/proc/${info.pid}/${name}`;
      expect(readProcText(path)).toBe(Bun.spawnSync(["cat", path]).stdout.toString());
    }
  });
  test("the size cap is enforced", () => {
    expect(() => readProcFile(`/proc/${info.pid}/maps`, 100)).toThrow(/longer than 100 bytes/);
    expect(readProcFile(`/proc/${info.pid}/comm`, 9).byteLength).toBe(9); // "t) (x y)\n"
  });
  test("a gone process is ESRCH; a missing entry of a live one stays ENOENT", async () => {
    const p = Bun.spawn(["true"]);
    await p.exited;
    let err: unknown;
    try {
      readProcText(`/proc/${p.pid}/maps`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).toMatchObject({ code: "ESRCH", errno: 3, pid: p.pid });
    expect(isGone(err)).toBe(true);
    expect(() => readMaps(p.pid)).toThrow(/ESRCH/);
    expect(() => readProcLink(`/proc/${info.pid}/fd/999`)).toThrow(expect.objectContaining({ code: "ENOENT", pid: info.pid }));
  });
});

describe("auxv", () => {
  test("64-bit target: values agree with its getauxval()", () => {
    const raw = readAuxv(info.pid);
    expect(raw.byteLength % 16).toBe(0);
    const aux = parseAuxv(raw, 8);
    const want: [number, string | number][] = [
      [AT_PHDR, info.auxv.phdr], [AT_ENTRY, info.auxv.entry], [AT_BASE, info.auxv.base],
      [AT_SYSINFO_EHDR, info.auxv.vdso], [AT_RANDOM, info.auxv.random], [AT_EXECFN, info.auxv.execfn],
      [AT_PAGESZ, info.auxv.pagesz],
    ];
    for (const [type, v] of want) expect(auxvValue(aux, type)).toBe(BigInt(v));
    expect(aux.some((e) => e.type === 0)).toBe(false);
  });

  test.skipIf(NO_I386)("32-bit target: 4-byte words", async () => {
    const bin32 = compile("auxv32", dir, ["-m32"]);
    const { info: i32 } = await targets.start<{ pid: number; global: string; phdr: string; entry: string; base: string; vdso: string; pagesz: number; random: string }>([bin32]);
    const aux = parseAuxv(readAuxv(i32.pid), 4);
    expect(auxvValue(aux, AT_PHDR)).toBe(BigInt(i32.phdr));
    expect(auxvValue(aux, AT_ENTRY)).toBe(BigInt(i32.entry));
    expect(auxvValue(aux, AT_BASE)).toBe(BigInt(i32.base));
    expect(auxvValue(aux, AT_SYSINFO_EHDR)).toBe(BigInt(i32.vdso));
    expect(auxvValue(aux, AT_RANDOM)).toBe(BigInt(i32.random));
    expect(auxvValue(aux, AT_PAGESZ)).toBe(BigInt(i32.pagesz));
    expect(findMapping(readMaps(i32.pid), BigInt(i32.global))?.path).toBe(realpathSync(bin32));
  }, 30_000);

  test("bounded: stops at AT_NULL, ignores what follows, rejects a partial pair", () => {
    const b = new Uint8Array(48);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, 6n, true);
    dv.setBigUint64(8, 4096n, true);
    dv.setBigUint64(32, 9n, true); // after AT_NULL: ignored
    expect(parseAuxv(b, 8)).toEqual([{ type: 6, value: 4096n }]);
    expect(parseAuxv(b.subarray(0, 16), 8)).toEqual([{ type: 6, value: 4096n }]); // no AT_NULL
    expect(() => parseAuxv(b.subarray(0, 20), 8)).toThrow(ElfFormatError);
    dv.setBigUint64(0, 1n << 40n, true);
    expect(() => parseAuxv(b, 8)).toThrow(/a_type out of range/);
    expect(parseAuxv(new Uint8Array(0), 4)).toEqual([]);
  });
});

describe("cmdline, environ, comm, exe, tasks, personality", () => {
  test("cmdline and environ are the raw NUL-separated bytes", () => {
    expect(splitNul(readCmdline(info.pid))).toEqual([bin, work]);
    const env = splitNul(readEnviron(info.pid));
    expect(env).toContain("ECFS_TEST_VAR=a value with spaces");
    expect(readEnviron(info.pid).at(-1)).toBe(0);
    expect(splitNul(new Uint8Array([97, 0, 0, 98]))).toEqual(["a", "", "b"]);
  });
  test("comm, exe link and the sorted task list", () => {
    expect(readComm(info.pid)).toBe("t) (x y)");
    expect(readExeLink(info.pid)).toBe(realpathSync(bin));
    expect(listTasks(info.pid)).toEqual([info.pid, info.worker].sort((a, b) => a - b));
    expect(listTasks(2)).toEqual([2]);
    expect(readCmdline(2).byteLength).toBe(0);
  });
  test("a deleted executable keeps the kernel's suffix", async () => {
    const copy = join(dir, "sleep copy");
    copyFileSync("/bin/sleep", copy);
    Bun.spawnSync(["chmod", "755", copy]);
    const p = targets.spawn([copy, "60"]);
    while (readComm(p.pid) !== "sleep copy") await Bun.sleep(5); // exec has happened
    unlinkSync(copy);
    expect(readExeLink(p.pid)).toBe(`${copy} (deleted)`);
  });
  test("personality: setarch -R sets ADDR_NO_RANDOMIZE", async () => {
    const p = targets.spawn(["setarch", "-R", "sh", "-c", "echo ready; exec sleep 60"]);
    await firstLine(p.stdout);
    expect(readPersonality(p.pid)).toBe(0x0040000);
    expect(readPersonality(info.pid)).toBe(0);
    expect(parsePersonality("00400000\n")).toBe(0x400000);
    expect(() => parsePersonality("xyz")).toThrow(/bad personality/);
  });
});
