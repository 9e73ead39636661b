// The two memory paths of the handler give the same memory: the same program, started twice
// with address space randomisation off (setarch -R, so both runs have the same layout),
// crashes once with core_pipe_limit 4 (memory read in place) and once with 0 (memory from the
// kernel's stream plus what the kernel leaves out, read first). PT_LOAD headers and data are
// compared through readelf's view of the program headers; the text of the program and of libc
// must also equal the bytes of their files on disk, which the kernel alone never dumps.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { buildFixture, killAllFixtures, startFixture } from "../helpers/fixtures.ts";
import { crashOne, handlerSetup, type Crashed, type CrasherInfo, type HandlerSetup } from "../helpers/handler.ts";

interface Load {
  offset: number;
  vaddr: bigint;
  filesz: number;
  memsz: bigint;
  flags: string;
}

/** PT_LOAD rows of `readelf -l -W`. */
function loads(path: string): Load[] {
  const out = spawnSync("readelf", ["-l", "-W", path], { encoding: "utf8" }).stdout;
  return [...out.matchAll(/^\s+LOAD\s+(0x[0-9a-f]+) (0x[0-9a-f]+) 0x[0-9a-f]+ (0x[0-9a-f]+) (0x[0-9a-f]+) (.{3})/gm)].map((m) => ({
    offset: Number(m[1]), vaddr: BigInt(m[2]!), filesz: Number(m[3]), memsz: BigInt(m[4]!), flags: m[5]!,
  }));
}

/** Mappings of a file (from the .maps section text) that start at `addr`: path and file offset. */
function mapsOf(file: string): { start: bigint; end: bigint; offset: bigint; path: string }[] {
  const r = spawnSync("readelf", ["-W", "-x", ".maps", file], { encoding: "utf8" }).stdout;
  // readelf -x prints hex + ascii; rebuild the bytes from the hex columns.
  const hex = [...r.matchAll(/^\s+0x[0-9a-f]+ ((?:[0-9a-f]{2,8} ){1,4})/gm)].map((m) => m[1]!.replace(/ /g, "")).join("");
  const text = Buffer.from(hex, "hex").toString("utf8");
  return text.split("\n").filter(Boolean).map((l) => {
    const f = l.split(/\s+/);
    const [s, e] = f[0]!.split("-");
    return { start: BigInt(`0x${s}`), end: BigInt(`0x${e}`), offset: BigInt(`0x${f[2]}`), path: f.slice(5).join(" ") };
  });
}

const setups: HandlerSetup[] = [];
const runs: { crashed: Crashed; file: string; bytes: Uint8Array; loads: Load[] }[] = [];
let exe: string;

beforeAll(async () => {
  exe = buildFixture("crasher", { libs: ["-pthread"] });
  for (const pipeLimit of [4, 0]) {
    const setup = handlerSetup();
    setups.push(setup);
    const fx = await startFixture<CrasherInfo>("setarch", ["x86_64", "-R", exe, "segv", "--threads", "--heap-mib", "16"], {}, { settle: false });
    // startFixture checked the ready line's pid against setarch's: setarch execs, so they are one.
    const crashed = await crashOne(setup, pipeLimit, { pid: fx.pid, proc: fx.proc });
    const file = join(setup.cores, `${basename(exe).slice(0, 15)}.${crashed.pid}`);
    runs.push({ crashed, file, bytes: new Uint8Array(readFileSync(file)), loads: loads(file) });
  }
});

afterAll(async () => {
  await killAllFixtures();
  for (const s of setups) rmSync(s.dir, { recursive: true, force: true });
});

test("each path is the one its core_pipe_limit selects", () => {
  expect(runs[0]!.crashed.lines[0]).toContain("direct read");
  expect(runs[1]!.crashed.lines[0]).toContain("stream read");
});

test("both files have the same PT_LOAD headers", () => {
  const strip = (l: Load[]) => l.map(({ vaddr, filesz, memsz, flags }) => ({ vaddr, filesz, memsz, flags }));
  expect(runs[0]!.loads.length).toBeGreaterThan(10);
  expect(strip(runs[1]!.loads)).toEqual(strip(runs[0]!.loads));
});

test("every mapping's bytes are the same in both files, but for a few bytes of per-run state", () => {
  const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
  const maps = mapsOf(a.file);
  let compared = 0;
  let differ = 0;
  a.loads.forEach((la, i) => {
    const lb = b.loads[i]!;
    const x = a.bytes.subarray(la.offset, la.offset + la.filesz);
    const y = b.bytes.subarray(lb.offset, lb.offset + lb.filesz);
    compared += la.filesz;
    if (Buffer.from(x).equals(Buffer.from(y))) return;
    // Code never differs (the stream path takes it from the task, the kernel leaves it out).
    expect({ at: la.vaddr.toString(16), path: maps.find((m) => m.start === la.vaddr)?.path, exec: la.flags.includes("E") }).toMatchObject({ exec: false });
    for (let k = 0; k < x.byteLength; k++) if (x[k] !== y[k]) differ++;
  });
  expect(compared).toBeGreaterThan(16 << 20);
  // Per run: the tids (thread stacks, thread control blocks, the fixture's tids[]), ld.so's
  // pointer and stack guards from AT_RANDOM (in its RELRO page), timing in malloc's state. A
  // page lost, shifted or zeroed by either path would differ in thousands of bytes.
  expect(differ).toBeLessThan(4096);
});

test("the program's and libc's text in both files are the bytes of their files on disk", () => {
  for (const r of runs) {
    const maps = mapsOf(r.file);
    const texts = maps.filter((m) => m.path === exe || /\/libc\.so\.6$/.test(m.path)).filter((m) => r.loads.find((l) => l.vaddr === m.start)?.flags.includes("E"));
    expect(texts.length).toBe(2);
    for (const m of texts) {
      const l = r.loads.find((x) => x.vaddr === m.start)!;
      expect(l.filesz).toBe(Number(m.end - m.start));
      const disk = readFileSync(m.path).subarray(Number(m.offset), Number(m.offset) + l.filesz);
      const mem = r.bytes.subarray(l.offset, l.offset + disk.byteLength);
      expect({ path: m.path, same: Buffer.from(mem).equals(disk) }).toEqual({ path: m.path, same: true });
    }
  }
});
