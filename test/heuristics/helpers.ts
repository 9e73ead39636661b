// Shared by the heuristics tests: the heur fixture in its link variants, the libraries it
// loads, and a snapshot with `ecfs snapshot -h` judged two ways: the section types as readelf
// prints them (an outside tool), and the findings as `ecfs read -e --json` gives them.

import { spawnSync } from "node:child_process";
import { buildFixture } from "../helpers/fixtures.ts";
import { ecfs } from "../helpers/ecfs.ts";

/** How the heur fixture is linked: lazy binding (the default), -z now, -fno-plt, IBT (.plt.sec), non-PIE, static. */
export type Variant = "lazy" | "now" | "noplt" | "ibt" | "nopie" | "static";
export const GOT_VARIANTS: Variant[] = ["lazy", "now", "noplt", "ibt", "nopie"];

const VARIANT_FLAGS: Record<Variant, { libs?: string[]; pie?: boolean; static?: boolean }> = {
  lazy: {},
  now: { libs: ["-Wl,-z,now"] },
  noplt: { libs: ["-fno-plt"] },
  // GNU ld makes .plt.sec only when every input is IBT-marked; Debian's crt files are not, so ask for it.
  ibt: { libs: ["-fcf-protection=full", "-Wl,-z,ibtplt"] },
  nopie: { pie: false },
  static: { static: true },
};

export function heurBinary(variant: Variant, m32: boolean): string {
  return buildFixture("heur", { m32, ...VARIANT_FLAGS[variant] });
}

export type LibName = "libinject" | "libsecond" | "libtextrel";

export function library(name: LibName, m32: boolean): string {
  return buildFixture(name, { m32, shared: true, ...(name === "libtextrel" && { libs: ["-Wl,-z,notext"] }) });
}

/** One section header as `readelf -S -W` prints it; `type` is the number for the types it has no name for. */
export interface SectionType {
  name: string;
  /** "SHLIB", "PROGBITS", ... or "0x200000". */
  type: string;
  addr: bigint;
  size: bigint;
}

/** readelf -S -W, keeping what these tests need (it prints ECFS's own types as "00200000: <unknown>"). */
export function readelfSectionTypes(file: string): SectionType[] {
  const r = spawnSync("readelf", ["-S", "-W", file], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`readelf -S -W ${file}: ${r.stderr}`);
  const out: SectionType[] = [];
  const re = /^ {2}\[\s*\d+\] (\S+)\s+(?:([0-9a-f]{8}): <unknown>|(\S+))\s+([0-9a-f]+) [0-9a-f]+ ([0-9a-f]+) /;
  for (const line of r.stdout.split("\n")) {
    const m = re.exec(line);
    if (m) out.push({ name: m[1]!, type: m[2] ? `0x${BigInt(`0x${m[2]}`).toString(16)}` : m[3]!, addr: BigInt(`0x${m[4]}`), size: BigInt(`0x${m[5]}`) });
  }
  if (out.length === 0) throw new Error(`readelf -S -W ${file}: no sections parsed`);
  return out;
}

/** A finding as `ecfs read --json` prints it: addresses as "0x..." strings. */
export interface JsonFinding {
  type: string;
  address: string;
  size: string;
  object: string;
  symbol?: string;
  expected?: string;
  found?: string;
  detail: string;
}

export interface JsonHeuristics {
  linkMap: string;
  objects: { name: string; kind: string; header: string; namespace?: number }[];
  findings: JsonFinding[];
  notes: { type: string; detail: string; object?: string }[];
  problems: string[];
}

export interface HeuristicsSnapshot {
  file: string;
  /** `ecfs read -e --json`, whole. */
  report: { personality: { heuristics: boolean }; heuristics?: JsonHeuristics; problems: unknown[] };
  heuristics: JsonHeuristics;
  sections: SectionType[];
  /** The snapshot command's stdout (its heuristics summary line). */
  stdout: string;
}

/** `ecfs snapshot -h` of pid into file, then read back with `ecfs read -e --json` and readelf. */
export function snapshotWithHeuristics(pid: number, file: string, extra: string[] = []): HeuristicsSnapshot {
  const snap = ecfs(["snapshot", "-h", "-p", String(pid), "-o", file, ...extra]);
  if (snap.code !== 0) throw new Error(`ecfs snapshot -h -p ${pid}: exit ${snap.code}\n${snap.stderr}`);
  const read = ecfs(["read", "-e", "--json", file]);
  if (read.code !== 0) throw new Error(`ecfs read -e --json ${file}: exit ${read.code}\n${read.stderr}`);
  const report = JSON.parse(read.stdout) as HeuristicsSnapshot["report"];
  if (!report.heuristics) throw new Error(`${file}: no heuristics in ecfs read -e --json`);
  return { file, report, heuristics: report.heuristics, sections: readelfSectionTypes(file), stdout: snap.stdout };
}

/** "0x..." as bigint. */
export const big = (s: string): bigint => BigInt(s);

/** The findings in one line each, for a failing expect to show what there was. */
export const brief = (fs: JsonFinding[]): string[] => fs.map((f) => `${f.type} ${f.address} ${f.object} ${f.symbol ?? ""}: ${f.detail}`);
