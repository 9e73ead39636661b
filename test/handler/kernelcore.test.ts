// The handler's reading of a kernel core from stdin, without a crash in flight: a core the
// kernel wrote to a file (64-bit), and an i386 ET_CORE written by our own writer from the
// synthetic image (test/helpers/i386image.ts; this machine may not run i386 programs), fed in
// through a file descriptor as stdin would be. The notes must come out whole and in order,
// registers must match readelf's and the synthetic values, and malformed heads must fail with
// an ElfFormatError before anything sized by them is allocated.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCoreHead, NOTES_MAX, type KernelCoreHead } from "../../src/capture/kernel/head.ts";
import { CoreInput } from "../../src/capture/kernel/input.ts";
import { decodeKernelNotes, signalOf } from "../../src/capture/kernel/notes.ts";
import { coreNotesFromKernel } from "../../src/ecfs/kernelnotes.ts";
import { encodeNotes } from "../../src/ecfs/notes.ts";
import { planEcfs } from "../../src/ecfs/build.ts";
import { CLASS32, CLASS64 } from "../../src/elf/class.ts";
import { I386_PR_REG } from "../../src/elf/corerecords.ts";
import { ElfFormatError } from "../../src/errors.ts";
import { libcPath } from "../../src/sys/libc.ts";
import { buildFixture } from "../helpers/fixtures.ts";
import { syntheticI386, writeSyntheticI386, type SyntheticI386 } from "../helpers/i386image.ts";
import { kernelCore } from "../helpers/kernelcore.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-kcore-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Parse `bytes` as the handler parses stdin. */
function headOf(bytes: Uint8Array): { head: KernelCoreHead; input: CoreInput } {
  const path = join(work, `in-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, bytes);
  const fd = openSync(path, "r");
  const input = new CoreInput(fd);
  try {
    return { head: readCoreHead(input), input };
  } finally {
    closeSync(fd);
  }
}

/** readelf -n lines "Owner Data size Description", in order. */
function readelfNotes(path: string): { owner: string; size: number }[] {
  const out = spawnSync("readelf", ["-n", "-W", path], { encoding: "utf8" }).stdout;
  return [...out.matchAll(/^\s+(CORE|LINUX)\s+(0x[0-9a-f]+)\s/gm)].map((m) => ({ owner: m[1]!, size: Number(m[2]) }));
}

describe("a 64-bit core written by the kernel", () => {
  let path: string;
  let bytes: Uint8Array;
  beforeAll(() => {
    const dir = mkdtempSync(join(work, "k-"));
    path = kernelCore(buildFixture("crash"), dir);
    bytes = new Uint8Array(readFileSync(path));
  });

  test("every note in order, every PT_LOAD, and the core's size, as readelf sees them", () => {
    const { head, input } = headOf(bytes);
    expect(head.cls).toBe(CLASS64);
    expect(head.notes.map((n) => ({ owner: n.name, size: n.desc.byteLength }))).toEqual(readelfNotes(path));
    const loads = spawnSync("readelf", ["-l", "-W", path], { encoding: "utf8" }).stdout.match(/^\s+LOAD\s/gm) ?? [];
    expect(head.loads.length).toBe(loads.length);
    expect(head.size).toBe(BigInt(bytes.byteLength));
    // Only the head was read: the ELF header, program headers and notes.
    expect(input.position).toBe(head.end);
    expect(input.kept()).toEqual(bytes.subarray(0, head.end));
  });

  test("the thread, its registers and the signal decode as readelf and gdb know them", () => {
    const { head } = headOf(bytes);
    const d = decodeKernelNotes(head.cls, head.notes);
    expect(d.threads).toHaveLength(1);
    expect(signalOf(head.cls, d.siginfo)).toEqual({ signo: 11, code: 1, addr: 0n });
    expect(d.prpsinfo.pr_fname).toBe(buildFixture("crash").split("/").pop()!.slice(0, 15));
    expect(d.threads[0]!.fpregs.byteLength).toBe(512);
    expect(d.threads[0]!.xstate?.byteLength).toBeGreaterThan(512);
  });

  test("the notes are carried into the plan byte for byte, in order, unknown types included", () => {
    const { head } = headOf(bytes);
    const d = decodeKernelNotes(head.cls, head.notes);
    const notes = [...head.notes.map((n) => ({ name: n.name, type: n.type, desc: n.desc })), { name: "LINUX", type: 0x9999, desc: new Uint8Array([1, 2, 3]) }];
    const core = coreNotesFromKernel(head.cls, notes, d.threads);
    expect(encodeNotes(core.notes)).toEqual(encodeNotes(notes));
    expect(core.prstatus[0]!.byteLength).toBe(336);
    expect(core.siginfo).toEqual(d.siginfo);
  });

  test("malformed heads fail with an ElfFormatError naming what is wrong", () => {
    const edit = (f: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
      const b = bytes.slice(0, 64 * 1024);
      f(b, new DataView(b.buffer));
      return b;
    };
    const fails = (b: Uint8Array, what: RegExp) => {
      let err: unknown;
      try {
        headOf(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ElfFormatError);
      expect((err as Error).message).toMatch(what);
    };
    fails(edit((b) => (b[0] = 0)), /not an ELF file/);
    fails(edit((b) => (b[4] = 7)), /bad ELF class/);
    fails(edit((_b, dv) => dv.setUint16(16, 2, true)), /not a core file/);
    fails(edit((_b, dv) => dv.setUint16(18, 3, true)), /e_machine does not match/);
    fails(edit((_b, dv) => dv.setUint16(56, 0, true)), /bad e_phnum/);
    fails(edit((_b, dv) => dv.setUint32(64, 1, true)), /first program header is not PT_NOTE/);
    fails(edit((_b, dv) => dv.setBigUint64(64 + 32, BigInt(NOTES_MAX) + 1n, true)), /PT_NOTE larger than/);
    fails(edit((_b, dv) => dv.setBigUint64(64 + 8, 1n << 40n, true)), /PT_NOTE not right after/);
    fails(edit((_b, dv) => (dv.setUint16(56, 0xffff, true), dv.setBigUint64(64 + 8, dv.getBigUint64(64 + 8, true) + 1n, true))), /PN_XNUM core whose notes do not follow/);
    fails(bytes.slice(0, 100), /ends inside the program headers/);
    const { head } = headOf(bytes);
    fails(bytes.slice(0, head.end - 8), /ends inside the notes/);
    // PN_XNUM (more than 65534 headers): the real count follows from where the notes start.
    const xnum = edit((_b, dv) => dv.setUint16(56, 0xffff, true));
    expect(headOf(xnum).head.loads.length).toBe(head.loads.length);
    // A note header whose n_descsz runs past PT_NOTE.
    fails(edit((_b, dv) => dv.setUint32(head.notes[0]!.offset + 4, 1 << 30, true)), /bad note n_descsz/);
  });
});

describe("an i386 core (ELFCLASS32, written by our writer from the synthetic image)", () => {
  let s: SyntheticI386;
  let bytes: Uint8Array;
  beforeAll(async () => {
    s = syntheticI386();
    const path = join(work, "i386.core");
    await writeSyntheticI386(s, path);
    bytes = new Uint8Array(readFileSync(path));
  });

  test("the class, both threads and their i386 register layouts (144-byte prstatus, 108-byte FSAVE)", () => {
    const { head } = headOf(bytes);
    expect(head.cls).toBe(CLASS32);
    const d = decodeKernelNotes(head.cls, head.notes);
    expect(d.threads.map((t) => t.tid)).toEqual(s.image.threads.map((t) => t.tid));
    d.threads.forEach((t, i) => {
      const dv = new DataView(t.regs.buffer, t.regs.byteOffset, t.regs.byteLength);
      const regs = Object.fromEntries(I386_PR_REG.map((n, k) => [n, dv.getUint32(4 * k, true)]));
      expect(regs).toEqual(Object.fromEntries(I386_PR_REG.map((n) => [n, s.regs[i]![n] >>> 0])));
      expect(t.fpregs).toEqual(s.image.threads[i]!.fpregs);
      expect(t.fxregs).toEqual(s.image.threads[i]!.fxregs);
      expect(t.tls).toEqual(s.image.threads[i]!.tls);
    });
    const core = coreNotesFromKernel(head.cls, head.notes, d.threads);
    expect(core.prstatus.map((p) => p.byteLength)).toEqual([144, 144]);
    expect(core.fpregset.map((p) => p.byteLength)).toEqual([108, 108]);
  });

  test("an image carrying these notes plans a file whose PT_NOTE is exactly them", () => {
    const { head } = headOf(bytes);
    const d = decodeKernelNotes(head.cls, head.notes);
    const image = { ...s.image, threads: d.threads, kernelNotes: head.notes.map((n) => ({ name: n.name, type: n.type, desc: n.desc })) };
    const { plan } = planEcfs(image, {});
    expect(plan.notes).toEqual(encodeNotes(head.notes));
  });
});

test("the C library FFI opens is the one mapped into the process: glibc or musl", () => {
  const line = (p: string) => `7f0000000000-7f0000001000 r-xp 00000000 fd:01 1234                       ${p}`;
  expect(libcPath([line("/usr/lib/x86_64-linux-gnu/libm.so.6"), line("/usr/lib/x86_64-linux-gnu/libc.so.6")].join("\n"))).toBe("/usr/lib/x86_64-linux-gnu/libc.so.6");
  expect(libcPath(line("/lib/ld-musl-x86_64.so.1"))).toBe("/lib/ld-musl-x86_64.so.1");
  expect(libcPath(line("/usr/lib/libc.musl-x86_64.so.1"))).toBe("/usr/lib/libc.musl-x86_64.so.1");
  expect(libcPath(line("/usr/lib/x86_64-linux-musl/libc.so"))).toBe("/usr/lib/x86_64-linux-musl/libc.so");
  expect(libcPath([line("/opt/libc.so.6.bak"), line("/usr/lib/libcrypto.so.3")].join("\n"))).toBeUndefined();
  expect(libcPath(readFileSync("/proc/self/maps", "utf8"))).toMatch(/\/libc\.so\.6$|ld-musl/);
});
