// Test targets: the C programs in test/fixtures/, compiled at test time and run as real
// processes. Binaries are cached under os.tmpdir()/ecfs-ts-fixtures, keyed by a hash of
// the sources, the options and the compiler, so every test file reuses the same build.
// Ready-line shapes: see the header comment of each fixture's .c file.

import { spawnSync } from "bun";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const FIXTURE_DIR = join(import.meta.dir, "..", "fixtures");
export const FIXTURE_CACHE = join(tmpdir(), "ecfs-ts-fixtures");

export interface BuildOptions {
  /** cc -m32: an i386 (ELFCLASS32) program. */
  m32?: boolean;
  /** Default true (-fPIE -pie); false gives -fno-pie -no-pie (ET_EXEC). */
  pie?: boolean;
  /** -static: ET_EXEC without PT_INTERP. */
  static?: boolean;
  /** -static-pie: ET_DYN without PT_INTERP, relocated by itself. */
  staticPie?: boolean;
  /** Link with -s: no .symtab, no debug info. */
  strip?: boolean;
  /** true: -z separate-code (4 PT_LOADs, the Debian default); false: -z noseparate-code (2). */
  separateCode?: boolean;
  /** -shared -fPIC: a .so (libinject). */
  shared?: boolean;
  /** Extra link arguments, e.g. ["-pthread"], ["-ldl"]. */
  libs?: string[];
}

let ccIdentity: string | undefined;

function compilerIdentity(): string {
  if (ccIdentity === undefined) {
    const r = spawnSync(["cc", "--version"]);
    if (!r.success) throw new Error(`cc --version failed: ${r.stderr.toString()}`);
    ccIdentity = r.stdout.toString().split("\n")[0] ?? "";
  }
  return ccIdentity;
}

/** Compiler flags for `opts`; -g -O0 -fno-omit-frame-pointer always, so unwinders agree. */
function flagsFor(opts: BuildOptions): string[] {
  const f = ["-g", "-O0", "-fno-omit-frame-pointer", "-Wall", "-Wextra"];
  if (opts.m32) f.push("-m32");
  if (opts.static && opts.staticPie) throw new Error("buildFixture: static and staticPie exclude each other");
  if (opts.shared) f.push("-shared", "-fPIC");
  else if (opts.staticPie) f.push("-fPIE", "-static-pie");
  else if (opts.static) f.push(...(opts.pie === false ? ["-fno-pie"] : []), "-static"); // ET_EXEC either way
  else if (opts.pie === false) f.push("-fno-pie", "-no-pie");
  else f.push("-fPIE", "-pie");
  if (opts.separateCode === true) f.push("-Wl,-z,separate-code");
  if (opts.separateCode === false) f.push("-Wl,-z,noseparate-code");
  if (opts.strip) f.push("-s");
  return f;
}

/** A short readable tag for the file name: "m32-nopie-static". */
function tagFor(opts: BuildOptions): string {
  const t: string[] = [];
  if (opts.m32) t.push("m32");
  if (opts.pie === false) t.push("nopie");
  if (opts.static) t.push("static");
  if (opts.staticPie) t.push("staticpie");
  if (opts.strip) t.push("strip");
  if (opts.separateCode !== undefined) t.push(opts.separateCode ? "sepcode" : "nosepcode");
  return t.join("-") || "default";
}

/**
 * Compile test/fixtures/NAME.c (once per source+options+compiler) and return the path of
 * the binary. Headers in test/fixtures/ are part of the key. Synchronous, so it can run
 * at the top of a describe block or in beforeAll.
 */
export function buildFixture(name: string, opts: BuildOptions = {}): string {
  const src = join(FIXTURE_DIR, `${name}.c`);
  if (!existsSync(src)) throw new Error(`no fixture source ${src}`);
  const args = [...flagsFor(opts)];
  const libs = opts.libs ?? [];
  const h = createHash("sha256");
  h.update(compilerIdentity()).update("\0").update(JSON.stringify([args, libs])).update("\0");
  h.update(readFileSync(src));
  for (const f of readdirSync(FIXTURE_DIR).filter((x) => x.endsWith(".h")).sort())
    h.update(f).update(readFileSync(join(FIXTURE_DIR, f)));
  const key = h.digest("hex").slice(0, 16);
  mkdirSync(FIXTURE_CACHE, { recursive: true });
  const out = join(FIXTURE_CACHE, `${name}-${tagFor(opts)}-${key}${opts.shared ? ".so" : ""}`);
  if (existsSync(out)) return out;
  // Build beside the final name and rename: test processes running at once never see half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  const cmd = ["cc", ...args, "-o", tmp, src, ...libs];
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (!r.success)
    throw new Error(`building fixture ${name} failed: ${cmd.join(" ")}\n${r.stderr.toString()}`);
  renameSync(tmp, out);
  return out;
}

/** One patterned region of a ready line; `addr` arrives as "0x..." and is made a bigint. */
export interface Region {
  name: string;
  addr: bigint;
  len: number;
  tag: number;
}

/** Fields every fixture prints (pattern.h json_head). */
export interface FixtureInfo {
  ready: true;
  fixture: string;
  pid: number;
  bits: 32 | 64;
  seed: number;
  regions?: Region[];
}

/** patterns.c: regions data, bss, heap, brk, stack (and big with --heap-mib). */
export type PatternsInfo = FixtureInfo & { regions: Region[] };

export interface ThreadEntry {
  tid: number;
  /** main, nanosleep, pause, condwait, read, spin, poll, mutex, sigwait */
  how: string;
  /** The fixture's function it parks in (park, park_nanosleep, ...). */
  fn: string;
  /** false for the spinner, which stays runnable (state R) and whose registers move. */
  blocks: boolean;
  /** Name of its stack region in `regions`. */
  stack: string;
}

/** threads.c: regions data, heap, stack.main, stack.<how>; one entry per thread. */
export type ThreadsInfo = FixtureInfo & { regions: Region[]; threads: ThreadEntry[] };

/** sockets.c: fds and host-order ports; tcp6Listen is null without IPv6. */
export type SocketsInfo = FixtureInfo & {
  file: { fd: number; path: string; pos: number; size: number };
  tcpListen: { fd: number; port: number };
  tcpClient: { fd: number; port: number; peerPort: number };
  tcpServer: { fd: number; port: number; peerPort: number };
  udp: { fd: number; port: number };
  tcp6Listen: { fd: number; port: number } | null;
  unix: { fd: number; path: string };
  pipe: { r: number; w: number };
};

/** dlopener.c: the loaded library, inject_answer's address, and what it returned. */
export type DlopenerInfo = FixtureInfo & { lib: string; sym: bigint; answer: number };

export { killAllFixtures, startFixture, taskIds, taskState, type RunningFixture, type StartOptions } from "./run.ts";
