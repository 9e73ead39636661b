// Outside oracles: tools we did not write, run on processes and files, returning parsed
// data. gdb lives in gdb.ts and is re-exported here; this file has /proc/PID/mem,
// readelf + eu-readelf + objdump, eu-stack and gcore (to make reference cores).
// Calibrated on gcore cores in test/oracles.test.ts: a good core gives no problems.

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readSync } from "node:fs";

export * from "./gdb.ts";

const TOOL_TIMEOUT_MS = 60_000;

function run(cmd: string, args: string[], timeoutMs = TOOL_TIMEOUT_MS) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 512 << 20 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Highest file position node:fs accepts (a signed 64-bit offset, less its own margin). */
const MAX_POSITION = 0x7fffffffffffffefn;

/**
 * `len` bytes at `addr` of a live process, from /proc/PID/mem (root, or ptrace access
 * to the target; it need not be stopped). Throws on a short read: an unmapped or
 * unreadable page. Addresses at or above 2^63 ([vsyscall]) cannot be a file position.
 */
export function liveMemory(pid: number, addr: bigint, len: number): Uint8Array {
  if (addr < 0n || addr + BigInt(len) > MAX_POSITION)
    throw new Error(`liveMemory: 0x${addr.toString(16)} is beyond what /proc/PID/mem can seek to`);
  const buf = new Uint8Array(len);
  const fd = openSync(`/proc/${pid}/mem`, "r");
  try {
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, addr + BigInt(got));
      if (n === 0) break;
      got += n;
    }
    if (got !== len)
      throw new Error(`liveMemory: pid ${pid} 0x${addr.toString(16)}: read ${got} of ${len} bytes`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/**
 * stdout lines that are not problems although they match PROBLEM_WORDS, each with why.
 * Found on gcore cores (binutils 2.40, elfutils 0.188, Debian 12).
 */
const BENIGN: RegExp[] = [
  // readelf's legend under the section table: "C (compressed), x (unknown), o (OS specific)..."
  /^\s+C \(compressed\), x \(unknown\)/,
  // readelf < 2.44 cannot print NT_FILE of an ELFCLASS64 core at all (a binutils bug).
  /NT_FILE \(mapped files\)\s+Cannot decode 64-bit note in 32-bit build$/,
  // Linux 6.12+ cores carry NT_X86_XSAVE_LAYOUT (0x205), newer than readelf 2.40 and
  // elfutils 0.188: the kernel's own cores get these lines too.
  /Unknown note type: \(0x00000205\)/,
  /^\s+LINUX\s+\d+\s+<unknown>: 517$/,
  // eu-readelf has no name for gdb's NT_GDB_TDESC (0xff000000) note that gcore adds.
  /^\s+GDB\s+\d+\s+<unknown>: 4278190080$/,
];
const PROBLEM_WORDS = /\b(warning|error|invalid|unknown|corrupt|bad|cannot|truncated|overlap)\b/i;

export interface ElfCheck {
  /** readelf -a -W, then eu-readelf -a, then objdump -h, each under a "== tool" line. */
  stdout: string;
  /** Every stderr line, every non-zero exit, and every suspicious stdout line. */
  problems: string[];
}

/** Run readelf -a -W, eu-readelf -a and objdump -h on `file`; collect what they complain of. */
export function readelfCheck(file: string): ElfCheck {
  const tools: [string, string[]][] = [
    ["readelf", ["-a", "-W", file]],
    ["eu-readelf", ["-a", file]],
    ["objdump", ["-h", file]],
  ];
  const problems: string[] = [];
  let stdout = "";
  for (const [tool, args] of tools) {
    const r = run(tool, args);
    stdout += `== ${tool}\n${r.stdout}`;
    if (r.status !== 0) problems.push(`${tool}: exit status ${r.status}`);
    for (const line of r.stderr.split("\n")) if (line.trim()) problems.push(`${tool} stderr: ${line}`);
    for (const line of r.stdout.split("\n")) {
      // Symbol table rows name symbols, and libc has one called "error".
      if (/^\s*\d+: [0-9a-f]+\s+\d+\s+(NOTYPE|FUNC|OBJECT|IFUNC|TLS|SECTION|FILE|COMMON|GNU_IFUNC)\s/.test(line)) continue;
      // Hex dumps of note payloads can spell "bad" ("0b ad" never, "bada0" does): skip numbers.
      const words = line.replace(/\b(0x)?[0-9a-f]{4,}\b/gi, "");
      if (PROBLEM_WORDS.test(words) && !BENIGN.some((re) => re.test(line)))
        problems.push(`${tool}: ${line.trim().slice(0, 300)}`);
    }
  }
  return { stdout, problems };
}

export interface EuFrame {
  level: number;
  pc: bigint;
  /** Symbol as eu-stack prints it, without a @VERSION suffix; "" when it has none. */
  fn: string;
  raw: string;
}

export interface EuStack {
  pid: number;
  threads: Map<number, EuFrame[]>;
  /** stderr lines (unwind failures) and a non-zero exit. */
  problems: string[];
  stdout: string;
}

/** Unwind every thread of a core with `eu-stack --core=CORE -e EXE`. */
export function euStack(core: string, exe: string): EuStack {
  const r = run("eu-stack", [`--core=${core}`, "-e", exe]);
  const threads = new Map<number, EuFrame[]>();
  let pid = 0;
  let cur: EuFrame[] | undefined;
  for (const line of r.stdout.split("\n")) {
    const p = /^PID (\d+)/.exec(line);
    if (p) pid = Number(p[1]);
    const t = /^TID (\d+):/.exec(line);
    if (t) threads.set(Number(t[1]), (cur = []));
    const f = /^#(\d+)\s+(0x[0-9a-f]+)(?:\s+(?:- 1\s+)?(\S+))?/.exec(line);
    if (f && cur) {
      const fn = (f[3] ?? "").replace(/@.*$/, "");
      cur.push({ level: Number(f[1]), pc: BigInt(f[2] ?? "0"), fn, raw: line });
    }
  }
  const problems = r.stderr.split("\n").filter((l) => l.trim()).map((l) => `eu-stack stderr: ${l}`);
  if (r.status !== 0) problems.push(`eu-stack: exit status ${r.status}`);
  if (threads.size === 0) problems.push("eu-stack: no threads in the output");
  return { pid, threads, problems, stdout: r.stdout };
}

/**
 * A reference core of a live process made by gdb's gcore; returns its path
 * (PREFIX.PID). The process is stopped while gcore runs and resumed afterwards.
 */
export function gcoreOf(pid: number, prefix: string): string {
  const r = run("gcore", ["-o", prefix, String(pid)], 120_000);
  const path = `${prefix}.${pid}`;
  if (r.status !== 0 || !existsSync(path)) throw new Error(`gcore ${pid} failed (exit ${r.status})\n${r.stderr}`);
  return path;
}
