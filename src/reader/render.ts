// A ReadReport as readecfs-style text ("- readecfs output for file F",
// "- Executable path (.exepath): ...", then one block per part) or as JSON with every bigint a
// "0x..." string and every byte array a hex string. Text comes as lines, so a hex dump of a
// large section is written as it is made.

import type { FdInfo } from "./fds.ts";
import type { HeuristicsDocument } from "./heuristics.ts";
import type { HexDump, ReadReport, SectionRow, ThreadReport } from "./report.ts";
import { signalName } from "./threads.ts";

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const pad = (v: bigint | number, width: number): string => v.toString(16).padStart(width, "0");
const yes = (b: boolean): string => (b ? "yes" : "no");

function hexBytes(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/**
 * The value as JSON data: bigint -> "0x...", Uint8Array -> hex string, undefined members left
 * out. A plain copy first is about twice as fast as a JSON.stringify replacer on big symbol tables.
 */
export function toPlain(value: unknown): unknown {
  if (typeof value === "bigint") return hex(value);
  if (value instanceof Uint8Array) return hexBytes(value);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined && typeof v !== "function") out[k] = toPlain(v);
  return out;
}

export function renderJson(value: unknown): string {
  return `${JSON.stringify(toPlain(value), null, 2)}\n`;
}

const SHF_LETTERS: [number, string][] = [
  [0x1, "W"], [0x2, "A"], [0x4, "X"], [0x10, "M"], [0x20, "S"], [0x40, "I"], [0x80, "L"], [0x100, "O"],
  [0x200, "G"], [0x400, "T"], [0x800, "C"],
];
const shfText = (f: bigint): string => SHF_LETTERS.filter(([b]) => (f & BigInt(b)) !== 0n).map(([, l]) => l).join("");
const pfText = (f: number): string => `${f & 4 ? "R" : " "}${f & 2 ? "W" : " "}${f & 1 ? "E" : " "}`;

function* threadLines(t: ThreadReport, word: number): Generator<string> {
  const stack = t.stack ? ` stack: ${t.stack.section}` : "";
  yield `\t[thread ${t.index + 1}] pid: ${t.tid} signal: ${t.cursig}${stack}`;
  const regs = Object.entries(t.regs as Record<string, bigint>);
  for (let i = 0; i < regs.length; i += 3)
    yield `\t\t${regs.slice(i, i + 3).map(([n, v]) => `${n.padEnd(8)} 0x${pad(v, 2 * word)}`).join("   ")}`;
  const fp = t.fpregs;
  if (fp?.kind === "fxsave") yield `\t\tfpu: fctrl 0x${pad(fp.cwd, 4)} fstat 0x${pad(fp.swd, 4)} mxcsr 0x${pad(fp.mxcsr, 8)}`;
  else if (fp?.kind === "fsave") yield `\t\tfpu: fctrl 0x${pad(fp.cwd, 4)} fstat 0x${pad(fp.swd, 4)} ftag 0x${pad(fp.twd, 4)}`;
}

function* fdLines(fd: FdInfo): Generator<string> {
  yield `\t[fd: ${fd.fd}:${fd.pos}] perms: ${hex(fd.flags)} path: ${fd.path}`;
  const s = fd.ext?.socket;
  if (s && s.protocol === "unix") yield `\t\tPROTOCOL: UNIX ${s.sockType} ${s.state}${s.path ? ` path: ${s.path}` : ""}`;
  else if (s && s.protocol !== "unknown") {
    yield `\t\tPROTOCOL: ${s.protocol.toUpperCase()} ${s.state}`;
    yield `\t\tSRC: ${s.localAddress}:${s.localPort}`;
    yield `\t\tDST: ${s.remoteAddress}:${s.remotePort}`;
  } else if (fd.inet) {
    yield `\t\tPROTOCOL: ${fd.inet.protocol.toUpperCase()}`;
    yield `\t\tSRC: ${fd.inet.srcAddr}:${fd.inet.srcPort}`;
    yield `\t\tDST: ${fd.inet.dstAddr}:${fd.inet.dstPort}`;
  }
}

/** The heuristics: findings first (what an analyst looks for), then how objects came, notes, problems. */
function* heuristicsLines(h: HeuristicsDocument): Generator<string> {
  const truncated = Object.values(h.truncated).reduce((a, b) => a + b, 0);
  yield `- Heuristics (.heuristics): ${h.findings.length + truncated} finding(s), link map from ${h.linkMap}`;
  for (const f of h.findings) {
    yield `	[${f.type}] ${hex(f.address)} (${f.size} bytes) in ${f.object}${f.symbol ? ` at ${f.symbol}` : ""}`;
    yield `		${f.detail}`;
    if (f.expected !== undefined) yield `		expected: ${f.expected}`;
    if (f.found !== undefined) yield `		found:    ${f.found}`;
  }
  if (truncated > 0) yield `	(${truncated} more finding(s) not kept: ${JSON.stringify(h.truncated)})`;
  for (const o of h.objects.filter((x) => x.kind !== "shlib" && x.kind !== "executable" && x.kind !== "vdso"))
    yield `	object: ${o.kind} ${o.name} at ${hex(o.header)}${o.namespace ? ` (namespace ${o.namespace})` : ""}`;
  for (const n of h.notes) yield `	note: [${n.type}]${n.address !== undefined ? ` ${hex(n.address)}` : ""} ${n.detail}`;
  for (const p of h.problems) yield `	not checked: ${p}`;
}

function* sectionLines(rows: SectionRow[], word: number): Generator<string> {
  const w = 2 * word;
  yield `\t[Nr] ${"Name".padEnd(24)} ${"Type".padEnd(14)} ${"Address".padEnd(w + 2)} ${"Offset".padEnd(10)} ${"Size".padEnd(10)} ES   Flg Lk  Inf Al`;
  for (const s of rows)
    yield `\t[${String(s.index).padStart(2)}] ${s.name.padEnd(24)} ${s.typeName.replace(/^SHT_/, "").padEnd(14)} 0x${pad(s.addr, w)} ` +
      `0x${pad(s.offset, 8)} 0x${pad(s.size, 8)} ${pad(s.entsize, 3)} ${shfText(s.flags).padStart(3)} ${String(s.link).padStart(2)} ${String(s.info).padStart(4)} ${s.align}`;
}

/** 16 bytes a line: the address (sh_addr + i, or i for a section without one), hex, ASCII. */
function* hexLines(d: HexDump): Generator<string> {
  const start = d.addr;
  yield `- Hex dump of section ${d.section} (${d.bytes.byteLength} bytes at file offset ${hex(d.offset)}${d.addr ? `, address ${hex(d.addr)}` : ""}):`;
  for (let i = 0; i < d.bytes.byteLength; i += 16) {
    const row = d.bytes.subarray(i, i + 16);
    const hx = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const asc = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    yield `  ${pad(start + BigInt(i), 8)}  ${hx.padEnd(47)}  ${asc}`;
  }
}

export function* renderText(r: ReadReport, word: 4 | 8): Generator<string> {
  yield `- readecfs output for file ${r.file}`;
  yield `- Executable path (.exepath): ${r.exePath ?? "(missing)"}`;
  yield `- Command line: ${r.psargs ?? "(missing)"}`;
  if (r.personality) {
    const p = r.personality;
    yield `- Personality (.personality): ${hex(p.raw)}`;
    yield `\tdynamically linked: ${yes(!p.static)}`;
    yield `\tcompiled as PIE: ${yes(p.pie)}`;
    yield `\tlocal symtab reconstruction: ${yes(p.locsym)}`;
    yield `\tmalware heuristics: ${yes(p.heuristics)}`;
    yield `\tstripped section headers: ${yes(p.stripped)}`;
  }
  if (r.process) {
    const p = r.process;
    yield `- Process (NT_PRPSINFO): pid ${p.pid} ppid ${p.ppid} uid ${p.uid} gid ${p.gid} state ${p.state} comm ${JSON.stringify(p.comm)}`;
  }
  if (r.faultAddress !== undefined) yield `- Fault location: ${r.faultAddress === null ? "none" : hex(r.faultAddress)}`;
  if (r.gaps && r.gaps.length > 0) {
    yield `- Unreadable memory, zeros in the file (.gaps): ${r.gaps.length} range(s)`;
    for (const g of r.gaps) yield `\t${hex(g.addr)}-${hex(g.addr + g.len)} (${g.len} bytes)`;
  }
  if (r.threads) {
    yield `- Thread count (.prstatus): ${r.threads.length}`;
    yield "- Thread info (.prstatus):";
    for (const t of r.threads) yield* threadLines(t, word);
  }
  if (r.siginfo) {
    const s = r.siginfo;
    const detail = s.signo === 0 ? " (none)" : ` ${signalName(s.signo)} code ${s.code}${s.addr !== undefined ? ` addr ${hex(s.addr)}` : ""}${s.pid !== undefined ? ` from pid ${s.pid} uid ${s.uid}` : ""}`;
    yield `- Exited on signal (.siginfo): ${s.signo}${detail}`;
  }
  if (r.fds) {
    yield "- files/pipes/sockets (.fdinfo):";
    for (const fd of r.fds) yield* fdLines(fd);
  }
  if (r.heuristics) yield* heuristicsLines(r.heuristics);
  if (r.shlibs) {
    yield "- Printing shared library mappings:";
    for (const l of r.shlibs) yield `\tshlib:\t${l.name}\t${l.kind}\t${hex(l.addr)}\tsize ${hex(l.size)}`;
  }
  if (r.dynamicSymbols) {
    yield "- Dynamic Symbol section -";
    for (const s of r.dynamicSymbols) yield `\t.dynsym:\t${s.name} -\t ${s.value.toString(16)}`;
  }
  for (const t of r.librarySymbols ?? []) {
    yield `- Dynamic Symbol section of ${t.library} (${t.section}) -`;
    for (const s of t.symbols) yield `\t${t.section}:\t${s.name} -\t ${s.value.toString(16)}`;
  }
  if (r.localSymbols) {
    yield "- Symbol Table section -";
    for (const s of r.localSymbols) yield `\t.symtab:\t ${s.name} -\t ${s.value.toString(16)}`;
  }
  if (r.pltGot) {
    yield "- Printing out GOT/PLT characteristics (pltgot_info_t):";
    for (const e of r.pltGot)
      yield `\tgotsite: ${e.gotSite.toString(16)} gotvalue: ${e.gotEntryVa === undefined ? "?" : e.gotEntryVa.toString(16)} ` +
        `gotshlib: ${e.shlEntryVa.toString(16)} pltval: ${e.pltEntryVa.toString(16)} symbol: ${e.symbol || "?"} ${e.status}${e.ifunc ? " (ifunc)" : ""}`;
  }
  if (r.auxv) {
    yield "- Printing auxiliary vector (.auxvector):";
    for (const a of r.auxv) yield `\t${a.name}:\t ${hex(a.value)}`;
  }
  if (r.header) {
    const h = r.header;
    yield "- Displaying ELF header:";
    yield `\tclass: ${h.class} type: ${h.typeName} machine: ${h.machineName}`;
    yield `\te_entry: ${hex(h.entry)}`;
    yield `\te_phnum: ${h.phnum}`;
    yield `\te_shnum: ${h.shnum}`;
    yield `\te_shoff: ${hex(h.shoff)}`;
    yield `\te_phoff: ${hex(h.phoff)}`;
    yield `\te_shstrndx: ${h.shstrndx}`;
  }
  if (r.sections) {
    yield "- Displaying ELF section headers:";
    yield* sectionLines(r.sections, word);
  }
  if (r.programs) {
    yield "- Displaying ELF program headers:";
    yield `\t${"Type".padEnd(16)} ${"Offset".padEnd(10)} ${"VirtAddr".padEnd(2 * word + 2)} ${"FileSiz".padEnd(10)} ${"MemSiz".padEnd(10)} Flg Align`;
    for (const p of r.programs)
      yield `\t${p.typeName.replace(/^PT_/, "").padEnd(16)} 0x${pad(p.offset, 8)} 0x${pad(p.vaddr, 2 * word)} 0x${pad(p.filesz, 8)} 0x${pad(p.memsz, 8)} ${pfText(p.flags)} ${hex(p.align)}`;
  }
  for (const d of r.hexdumps ?? []) yield* hexLines(d);
}
