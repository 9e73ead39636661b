// binutils as the oracle for PLT/GOT facts of an executable: readelf -r (JUMP_SLOT sites and
// symbols), objdump -s (the GOT as the linker wrote it: the lazy targets) and objdump -d
// (the <sym@plt> stubs).

import { tool } from "./compile.ts";

export interface Reloc {
  offset: bigint;
  sym: number;
  name: string;
}

/** The JUMP_SLOT relocations readelf -r -W lists in .rela.plt / .rel.plt. */
export function readelfPltRelocs(bin: string, word: number): Reloc[] {
  const out: Reloc[] = [];
  let inPlt = false;
  for (const line of tool("readelf", ["-r", "-W", bin]).split("\n")) {
    if (line.startsWith("Relocation section")) inPlt = /'\.rel(a)?\.plt'/.test(line);
    const m = /^([0-9a-f]+)\s+([0-9a-f]+)\s+R_(?:X86_64|386)_JUMP_SLOT\s+[0-9a-f]+\s+(\S+)/.exec(line);
    if (inPlt && m) {
      const info = BigInt(`0x${m[2]}`);
      out.push({ offset: BigInt(`0x${m[1]}`), sym: Number(word === 8 ? info >> 32n : info >> 8n), name: m[3]!.replace(/@.*$/, "") });
    }
  }
  return out;
}

/** Section contents as objdump -s prints them: address -> byte. */
export function objdumpBytes(bin: string, sections: string[]): Map<bigint, number> {
  const bytes = new Map<bigint, number>();
  const args = ["-s", ...sections.flatMap((s) => ["-j", s]), bin];
  for (const line of tool("objdump", args).split("\n")) {
    const m = /^ ([0-9a-f]+) ((?:[0-9a-f]{2,8} ?)+)/.exec(line);
    if (!m) continue;
    const hex = m[2]!.replace(/ /g, "");
    for (let i = 0; i < hex.length / 2; i++) bytes.set(BigInt(`0x${m[1]}`) + BigInt(i), Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  }
  return bytes;
}

export function wordAt(bytes: Map<bigint, number>, addr: bigint, word: number): bigint {
  let v = 0n;
  for (let i = word - 1; i >= 0; i--) {
    const b = bytes.get(addr + BigInt(i));
    if (b === undefined) throw new Error(`objdump gave no byte at 0x${(addr + BigInt(i)).toString(16)}`);
    v = (v << 8n) | BigInt(b);
  }
  return v;
}

/** objdump -d's <name@plt> labels: the stub each symbol is called through. */
export function pltLabels(bin: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of tool("objdump", ["-d", "-j", ".plt", "-j", ".plt.sec", bin]).split("\n")) {
    const m = /^([0-9a-f]+) <([^@>+-]+)@plt>:$/.exec(line);
    if (m) out.set(m[2]!, BigInt(`0x${m[1]}`));
  }
  return out;
}

export interface DynSymRow {
  num: number;
  value: bigint;
  type: string;
  ndx: string;
  /** Without readelf's @VERSION / (index) suffixes. */
  name: string;
}

/** readelf --dyn-syms -W of a file on disk. */
export function readelfDynSyms(path: string): DynSymRow[] {
  const out: DynSymRow[] = [];
  for (const line of tool("readelf", ["--dyn-syms", "-W", path]).split("\n")) {
    const m = /^\s*(\d+): ([0-9a-f]+)\s+(?:\d+|0x[0-9a-f]+) (\S+)\s+\S+\s+\S+\s+(\S+) ?(.*)$/.exec(line);
    if (m) out.push({ num: Number(m[1]), value: BigInt(`0x${m[2]}`), type: m[3]!, ndx: m[4]!, name: m[5]!.replace(/[@ ].*$/, "") });
  }
  return out;
}
