// Test helpers: compile real binaries and read them back with tools we did not write
// (readelf, objdump, nm, as). Only test code imports this.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readelfSections } from "../elf/oracles.ts";

export function run(argv: string[], cwd?: string): string {
  const p = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (${p.exitCode}): ${p.stderr.toString()}`);
  return p.stdout.toString();
}

export function hasTool(argv: string[]): boolean {
  return Bun.spawnSync(argv, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

/** A scratch directory removed by cleanup(). */
export function scratch(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface SectionInfo {
  name: string;
  addr: bigint;
  offset: number;
  size: number;
}

/** Section headers as `readelf -S -W` prints them, by name. */
export function sections(path: string): Map<string, SectionInfo> {
  return new Map(
    readelfSections(path).map((s) => [s.name, { name: s.name, addr: s.addr, offset: Number(s.offset), size: Number(s.size) }]),
  );
}

export interface OracleFde {
  offset: number;
  cieOffset: number;
  start: bigint;
  end: bigint;
}

/** FDE lines of the .eh_frame block of `readelf --debug-dump=frames` / `objdump --dwarf=frames`. */
export function oracleFdes(tool: "readelf" | "objdump", path: string): { fdes: OracleFde[]; augmentations: string[] } {
  const argv = tool === "readelf" ? ["readelf", "--debug-dump=frames", path] : ["objdump", "--dwarf=frames", path];
  const fdes: OracleFde[] = [];
  const augmentations: string[] = [];
  let inEhFrame = false;
  const fdeRe = /^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)$/;
  for (const line of run(argv).split("\n")) {
    const section = /^Contents of the (\S+) section:/.exec(line);
    if (section) inEhFrame = section[1] === ".eh_frame";
    if (!inEhFrame) continue;
    const aug = /^\s+Augmentation:\s+"(.*)"$/.exec(line);
    if (aug?.[1] !== undefined) augmentations.push(aug[1]);
    const m = fdeRe.exec(line);
    if (m?.[1] && m[2] && m[3] && m[4])
      fdes.push({
        offset: parseInt(m[1], 16),
        cieOffset: parseInt(m[2], 16),
        start: BigInt(`0x${m[3]}`),
        end: BigInt(`0x${m[4]}`),
      });
  }
  return { fdes, augmentations };
}

/** Defined function symbols from `nm`, address -> first name seen. */
export function nmFunctions(path: string): Map<bigint, string> {
  const out = new Map<bigint, string>();
  for (const line of run(["nm", "--defined-only", path]).split("\n")) {
    const m = /^([0-9a-f]+) [tTwW] (\S+)$/.exec(line);
    if (m?.[1] && m[2] && !out.has(BigInt(`0x${m[1]}`))) out.set(BigInt(`0x${m[1]}`), m[2]);
  }
  return out;
}

export function readSection(file: Uint8Array, s: { offset: number; size: number }): Uint8Array {
  return file.subarray(s.offset, s.offset + s.size);
}

export function readFile(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}
