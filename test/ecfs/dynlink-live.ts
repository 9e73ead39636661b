// Test helpers for dynlink.test.ts: a DynlinkInput from a live process without the snapshot
// pipeline or ptrace (memory from /proc/PID/mem, mappings, auxv, exe), the C targets of
// test/ecfs/fixtures/ compiled at test time (cached by a hash of sources and flags), and the
// outside oracles: gdb on the live process and readelf on the files.

import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, readSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLASS32, CLASS64 } from "../../src/elf/class.ts";
import type { DynlinkInput } from "../../src/ecfs/dynlink/dynlink.ts";
import type { MemoryReader } from "../../src/model/image.ts";
import { readAuxv } from "../../src/proc/auxv.ts";
import { readMaps } from "../../src/proc/maps.ts";
import { runGdb } from "../helpers/gdb.ts";

const FIXTURES = join(import.meta.dir, "fixtures");
const CACHE = join(tmpdir(), "ecfs-ts-dynlink");
/** Part of the cache key: bump when the compile flags below change. */
const BUILD_VERSION = "2";

/** /proc/PID/mem with positioned reads; an unmapped page (EIO) ends the read: a hole. */
export class ProcMemReader implements MemoryReader {
  readonly #fd: number;
  constructor(pid: number) {
    this.#fd = openSync(`/proc/${pid}/mem`, "r");
  }
  read(addr: bigint, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.byteLength) {
      let n: number;
      try {
        n = readSync(this.#fd, dst, done, dst.byteLength - done, addr + BigInt(done));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EIO" || code === "EFAULT") break;
        throw e;
      }
      if (n <= 0) break;
      done += n;
    }
    return done;
  }
  close(): void {
    closeSync(this.#fd);
  }
}

/** What DynamicLinking.analyze needs, from a live process. Call close() when done. */
export function liveInput(pid: number): DynlinkInput & { close(): void } {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const ident = readFileSync(`/proc/${pid}/exe`).subarray(0, 5);
  const cls = ident[4] === 1 ? CLASS32 : CLASS64;
  const mem = new ProcMemReader(pid);
  return { cls, mem, mappings: readMaps(pid), info: { auxv: readAuxv(pid), exe }, close: () => mem.close() };
}

function run(argv: string[]): string {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (${p.exitCode}): ${p.stderr.toString()}`);
  return p.stdout.toString();
}

/** Compile test/ecfs/fixtures/NAME.c to `out` (its directory's name carries the content hash). */
function compile(name: string, out: string, cflags: string[], ldflags: string[] = []): string {
  if (existsSync(out)) return out;
  // Build beside the final name and rename: test files running at once never see half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  run(["cc", ...cflags, "-o", tmp, join(FIXTURES, `${name}.c`), ...ldflags]);
  renameSync(tmp, out);
  return out;
}

export interface DynlinkBuild {
  dir: string;
  target: string;
  libA: string;
  libB: string;
  preload: string;
}

export interface BuildVariant {
  m32?: boolean;
  /** Default true. */
  pie?: boolean;
  /** -z now (every GOT slot bound at start) instead of lazy binding. */
  now?: boolean;
}

/** The targets of one variant; libraries are shared by variants of the same class. */
export function buildDynlink(v: BuildVariant): DynlinkBuild {
  const h = createHash("sha256");
  for (const f of ["dynlink_target", "dynlink_a", "dynlink_b", "dynlink_preload"]) h.update(readFileSync(join(FIXTURES, `${f}.c`)));
  h.update(BUILD_VERSION);
  h.update(run(["cc", "--version"]));
  const key = h.digest("hex").slice(0, 12);
  const m = v.m32 ? ["-m32"] : [];
  const dir = join(CACHE, `${key}-${v.m32 ? "m32" : "m64"}`);
  mkdirSync(dir, { recursive: true });
  // libdynlink_b without -g: gdb's `info address getpid` must not prefer its debug info over libc's.
  // Hash styles: libdynlink_a has only DT_HASH, libdynlink_b both, everything else DT_GNU_HASH.
  const libB = compile("dynlink_b", join(dir, "libdynlink_b.so"), [...m, "-O0", "-shared", "-fPIC", "-Wl,--hash-style=both"]);
  const libA = compile("dynlink_a", join(dir, "libdynlink_a.so"), [...m, "-O0", "-shared", "-fPIC", "-Wl,--hash-style=sysv"], [
    `-L${dir}`, `-Wl,-rpath,${dir}`, "-ldynlink_b",
  ]);
  const preload = compile("dynlink_preload", join(dir, "libdynlink_preload.so"), [...m, "-g", "-O0", "-shared", "-fPIC"]);
  const pie = v.pie ?? true;
  const tag = `${pie ? "pie" : "nopie"}-${v.now ? "now" : "lazy"}`;
  const target = compile(
    "dynlink_target",
    join(dir, `dynlink_target-${tag}`),
    [...m, "-g", "-O0", "-Wall", "-Wextra", ...(pie ? ["-fPIE", "-pie"] : ["-fno-pie", "-no-pie"]), `-Wl,-z,${v.now ? "now" : "lazy"}`],
    [`-L${dir}`, `-Wl,-rpath,${dir}`, "-ldynlink_a", "-Wl,--no-as-needed", "-lm", "-l:libpthread.so.0"],
  );
  return { dir, target, libA, libB, preload };
}

/** Section start addresses of a file, from `readelf -SW`. */
export function sectionAddrs(path: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of run(["readelf", "-SW", path]).split("\n")) {
    const m = /^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s/.exec(line);
    if (m?.[1] && m[2]) out.set(m[1], BigInt(`0x${m[2]}`));
  }
  return out;
}

export interface ReadelfReloc {
  offset: bigint;
  type: string;
  sym: string;
  version: string | undefined;
}

/** Dynamic relocations of a file (`readelf -rW`), with the symbol name and version split. */
export function relocations(path: string): ReadelfReloc[] {
  const out: ReadelfReloc[] = [];
  for (const line of run(["readelf", "-rW", path]).split("\n")) {
    // " 000000003fd8  000200000006 R_X86_64_GLOB_DAT  0000000000000000 free@GLIBC_2.2.5 + 0"
    // " 00003ff0  00000206 R_386_GLOB_DAT    00000000   free@GLIBC_2.0"
    const m = /^\s*([0-9a-f]+)\s+[0-9a-f]+\s+(R_\S+)\s+[0-9a-f]+\s+(\S+)/.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) continue;
    const [sym, version] = m[3].split(/@+/) as [string, string | undefined];
    out.push({ offset: BigInt(`0x${m[1]}`), type: m[2], sym, version });
  }
  return out;
}

/** One gdb -p run: each command's output, split on markers gdb echoes between them. */
export function gdbLive(pid: number, cmds: string[]): string[] {
  const withMarks = cmds.flatMap((c, i) => [`echo @@${i}@@\\n`, c]);
  const r = runGdb(["-p", String(pid)], [...withMarks, "echo @@end@@\\n"]);
  const out: string[] = [];
  for (let i = 0; i < cmds.length; i++) {
    const start = r.stdout.indexOf(`@@${i}@@\n`);
    const end = r.stdout.indexOf(i + 1 < cmds.length ? `@@${i + 1}@@\n` : "@@end@@\n");
    if (start < 0 || end < 0) throw new Error(`gdb output lacks marker ${i}:\n${r.stdout}\n${r.stderr}`);
    out.push(r.stdout.slice(start + `@@${i}@@\n`.length, end));
  }
  return out;
}

/** The address in `info address NAME` output, undefined for "No symbol". */
export function parseInfoAddress(text: string): bigint | undefined {
  const m = /Symbol ".*" is (?:at|a function at address|static storage at address|a variable at address) (0x[0-9a-f]+)/.exec(text);
  return m?.[1] === undefined ? undefined : BigInt(m[1]);
}

export interface GdbSolib {
  from: bigint;
  to: bigint;
  name: string;
}

/** Rows of `info sharedlibrary`. */
export function parseSharedLibrary(text: string): GdbSolib[] {
  const out: GdbSolib[] = [];
  for (const line of text.split("\n")) {
    const m = /^(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+(?:\s+\(\*\))?\s+(\/\S.*)$/.exec(line);
    if (m?.[1] && m[2] && m[3]) out.push({ from: BigInt(m[1]), to: BigInt(m[2]), name: m[3].trim() });
  }
  return out;
}
