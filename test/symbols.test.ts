// The snapshot's symbol tables as binutils and gdb read them. BFD (objdump, nm) reads st_value
// of an ET_NONE file relative to its section, readelf as it is; every tool must still give each
// symbol its runtime address: readelf -s, objdump -t and -T, the symbol objdump -d names at each
// call target, and gdb on the ET_CORE form (which takes symbols from the executable). PIE,
// non-PIE, and a stripped executable whose .symtab names are all sub_<hex>.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BuildOptions, killAllFixtures } from "./helpers/fixtures.ts";
import { runGdb } from "./helpers/gdb.ts";
import { readelfSymbols, type ReadelfSym } from "./elf/oracles.ts";
import { type Snapshot, snapshotFixture } from "./reader/snapshots.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-symbols-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

function tool(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: "C" } });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** `objdump -t` / `-T` rows: name -> value, as BFD computes it (st_value plus the section's vma for ET_NONE). */
function objdumpSymbols(flag: "-t" | "-T", file: string): Map<string, { value: bigint; section: string }> {
  const out = new Map<string, { value: bigint; section: string }>();
  for (const m of tool(["objdump", flag, file]).matchAll(/^([0-9a-f]{8,16}) .{7} (\S+)\t[0-9a-f]+ (?:\s*\S+\s+)?(\S+)$/gm))
    out.set(m[3]!, { value: BigInt(`0x${m[1]}`), section: m[2]! });
  return out;
}

/** The executable's own function symbols (nm on the file on disk), at link-time addresses. */
function exeFunctions(exe: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of tool(["nm", "--defined-only", exe]).matchAll(/^([0-9a-f]+) [Tt] (\S+)$/gm)) out.set(m[2]!, BigInt(`0x${m[1]}`));
  return out;
}

function mappedBase(pid: number, exe: string): bigint {
  const line = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").find((l) => l.endsWith(` ${exe}`) && l.split(/\s+/)[2] === "00000000");
  if (!line) throw new Error(`${exe} is not mapped in ${pid}`);
  return BigInt(`0x${line.split("-")[0]}`);
}

const CASES: { title: string; opts: BuildOptions }[] = [
  { title: "PIE", opts: {} },
  { title: "non-PIE", opts: { pie: false } },
  { title: "stripped PIE", opts: { strip: true } },
];

for (const c of CASES) {
  describe(`symbols of a ${c.title} snapshot`, () => {
    let s: Snapshot;
    let tables: Map<string, ReadelfSym[]>;
    let bias = 0n;
    const table = (name: string) => tables.get(name) ?? expect.unreachable(`readelf -s shows no ${name}`);

    beforeAll(async () => {
      s = await snapshotFixture(work, "patterns", c.opts);
      tables = readelfSymbols(s.none);
      bias = c.opts.pie === false ? 0n : mappedBase(s.fx.pid, s.exe);
    });
    afterAll(async () => {
      await s?.fx.kill();
    });

    test(".symtab: objdump -t gives each symbol readelf's value, the runtime address of its function", () => {
      const syms = table(".symtab").slice(1);
      expect(syms.length).toBeGreaterThan(5);
      const bfd = objdumpSymbols("-t", s.none);
      expect(syms.map((x) => [x.name, bfd.get(x.name)?.value.toString(16)])).toEqual(syms.map((x) => [x.name, x.value.toString(16)]));
      const own = exeFunctions(s.exe);
      for (const x of syms) {
        const link = own.get(x.name);
        const want = link === undefined ? BigInt(`0x${x.name.replace(/^sub_/, "")}`) : link + bias;
        expect([x.name, x.value.toString(16)]).toEqual([x.name, want.toString(16)]);
      }
      if (c.opts.strip) expect(syms.every((x) => x.name.startsWith("sub_"))).toBe(true);
      else expect(syms.map((x) => x.name)).toContain("fill_pattern");
    });

    test(".dynsym: objdump -T gives each symbol readelf's value; definitions are the executable's, at runtime addresses", () => {
      const syms = table(".dynsym").slice(1);
      const bfd = objdumpSymbols("-T", s.none);
      const defined = syms.filter((x) => x.ndx !== "UND");
      expect(defined.map((x) => x.name)).toContain("stdout"); // a copy relocation: the executable's own
      expect(defined.map((x) => [x.name, bfd.get(x.name)?.value.toString(16)])).toEqual(defined.map((x) => [x.name, x.value.toString(16)]));
      const onDisk = new Map(readelfSymbols(s.exe).get(".dynsym")!.map((x) => [x.name.replace(/@.*/, ""), x.value]));
      expect(defined.map((x) => [x.name, x.value.toString(16)])).toEqual(defined.map((x) => [x.name, (onDisk.get(x.name)! + bias).toString(16)]));
    });

    test("st_shndx: imports are UND, every definition ABS (its value is an absolute address)", () => {
      for (const name of [".symtab", ".dynsym"])
        for (const x of table(name).slice(1)) expect([name, x.name, x.ndx === "ABS" || (name === ".dynsym" && x.ndx === "UND")]).toEqual([name, x.name, true]);
    });

    test("objdump -d -j .text: every direct call target is named by the symbol at that address", () => {
      const value = new Map(table(".symtab").map((x) => [x.name, x.value]));
      const calls = [...tool(["objdump", "-d", "-j", ".text", s.none]).matchAll(/\tcall\s+([0-9a-f]+) <([^>+]+)(?:\+0x([0-9a-f]+))?>$/gm)];
      expect(calls.length).toBeGreaterThan(10);
      const wrong = calls.filter((m) => value.get(m[2]!) === undefined || value.get(m[2]!)! + BigInt(`0x${m[3] ?? "0"}`) !== BigInt(`0x${m[1]}`));
      expect(wrong.map((m) => m[0])).toEqual([]);
      // Most calls land on a function's first byte.
      expect(calls.filter((m) => m[3] === undefined).length).toBeGreaterThan(5);
    });

    test("gdb on the ET_CORE form puts the executable's functions where .symtab does", () => {
      if (c.opts.strip) return; // gdb has no names for a stripped executable
      const names = ["main", "fill_pattern", "fmix32"];
      const r = runGdb([s.exe, s.core], names.map((n) => `p/x (unsigned long)&${n}`));
      const gdb = [...r.stdout.matchAll(/^\$\d+ = 0x([0-9a-f]+)$/gm)].map((m) => m[1]);
      const value = new Map(table(".symtab").map((x) => [x.name, x.value.toString(16)]));
      expect(gdb).toEqual(names.map((n) => value.get(n)));
    });
  });
}
