// The i386 writer and reader on every machine, also where the kernel cannot execute i386
// programs: a ProcessImage built from a -m32 -static executable that never ran
// (test/helpers/i386image.ts) is written through the normal pipeline and judged by
// readelf, eu-readelf, gdb and Python's struct module; `ecfs read --json` must give back
// the values the image was made of.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { I386_PR_REG } from "../src/elf/corerecords.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { STACK_END, STACK_START, stackByte, syntheticI386, writeSyntheticI386, type SyntheticI386 } from "./helpers/i386image.ts";
import { gdbReadMemoryMany, readelfCheck } from "./helpers/oracles.ts";
import { euReadelfNotes, gdbRegisters, readelfHeader, readelfSections } from "./elf/oracles.ts";
import { pyFdInfo } from "./ecfs/forensics-oracles.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-i386-synthetic-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a synthetic i386 process written through the normal writer", () => {
  let s: SyntheticI386;
  let file = "";
  let problems: string[] = [];
  beforeAll(async () => {
    s = syntheticI386();
    file = join(work, "i386data.ecfs");
    problems = await writeSyntheticI386(s, file);
  });

  const section = (name: string): Uint8Array => {
    const sh = readelfSections(file).find((x) => x.name === name);
    if (!sh) throw new Error(`no ${name} in ${file}`);
    return readFileSync(file).subarray(Number(sh.offset), Number(sh.offset + sh.size));
  };

  test("the planner rebuilt everything it looked for", () => {
    expect(problems).toEqual([]);
  });

  test("readelf, eu-readelf and objdump read it without a complaint: ELFCLASS32, EM_386, ET_CORE", () => {
    expect(readelfCheck(file).problems).toEqual([]);
    const h = readelfHeader(file).fields;
    expect([h.get("Class"), h.get("Machine"), h.get("Type")]).toEqual(["ELF32", "Intel 80386", "CORE (Core file)"]);
  });

  test("eu-readelf: i386 note sizes (144-byte PRSTATUS, 108-byte FPREGSET, PRXFPREG, 386_TLS), leader first", () => {
    // The kernel's owners only: eu-readelf also lists the executable's own GNU notes (in ._TEXT).
    const notes = euReadelfNotes(file).filter((n) => n.owner === "CORE" || n.owner === "LINUX");
    const of = (type: string) => notes.filter((n) => n.type === type);
    expect(of("PRSTATUS").map((n) => [n.size, Number(n.fields.get("pid"))])).toEqual([[144, s.image.threads[0]!.tid], [144, s.image.threads[1]!.tid]]);
    // The leader's record has the group's CPU times, every record the reaped children's (32-bit timevals).
    expect(of("PRSTATUS").map((n) => [n.fields.get("utime"), n.fields.get("cutime"), n.fields.get("cstime")])).toEqual([
      ["2.500000", "0.330000", "0.010000"], ["1.250000", "0.330000", "0.010000"],
    ]);
    expect(of("FPREGSET").map((n) => n.size)).toEqual([108, 108]);
    expect(of("PRXFPREG").map((n) => n.size)).toEqual([512, 512]);
    expect(of("386_TLS").map((n) => n.size)).toEqual([48, 48]);
    expect(of("PRPSINFO").map((n) => n.size)).toEqual([124]);
    expect(of("PRPSINFO")[0]!.fields.get("fname")).toBe("i386data");
  });

  test("eu-readelf: the auxv note is 4-byte words with the values the image holds", () => {
    const auxv = euReadelfNotes(file).find((n) => n.type === "AUXV")!;
    const dv = new DataView(s.image.info.auxv.buffer, s.image.info.auxv.byteOffset, s.image.info.auxv.byteLength);
    const want: string[] = [];
    for (let o = 0; o + 8 <= dv.byteLength && dv.getUint32(o, true) !== 0; o += 8) want.push(BigInt(dv.getUint32(o + 4, true)).toString());
    expect(auxv.auxv.filter((a) => a.name !== "NULL").map((a) => BigInt(a.value).toString())).toEqual(want);
    expect(section(".auxvector").byteLength).toBe(dv.byteLength);
  });

  test("gdb: info registers of both threads are the chosen values", () => {
    const gdb = gdbRegisters(s.exe, file, I386_PR_REG.filter((r) => r !== "orig_eax"));
    expect([...gdb.keys()].sort()).toEqual(s.image.threads.map((t) => t.tid).sort());
    s.image.threads.forEach((t, i) => {
      const got = gdb.get(t.tid)!;
      for (const name of I386_PR_REG) {
        if (name === "orig_eax") continue; // gdb does not show it by that name
        expect({ name, v: got.get(name) }).toEqual({ name, v: BigInt(s.regs[i]![name] >>> 0) });
      }
    });
  });

  test("gdb: x/ reads the data segment's marker and words, and the stack's pattern", () => {
    const [marker, words, stack] = gdbReadMemoryMany(s.exe, file, [
      { addr: s.marker, len: 28 },
      { addr: s.words, len: 64 },
      { addr: STACK_START, len: Number(STACK_END - STACK_START) },
    ]);
    expect(new TextDecoder().decode(marker)).toBe("ECFS-TS-I386-SYNTHETIC-DATA\0");
    const dv = new DataView(words!.buffer, words!.byteOffset, 64);
    expect([0, 1, 2, 3].map((k) => dv.getUint32(4 * k, true))).toEqual([0x01234567, 0x89abcdef, 0xdeadbeef, 0xcafef00d]);
    expect(stack!.findIndex((b, i) => b !== stackByte(i))).toBe(-1);
  });

  test(".prstatus is 144-byte records; .fpregset 108; .fdinfo is 544-byte fd_info_t as Python's struct reads it", () => {
    expect(section(".prstatus").byteLength).toBe(2 * 144);
    expect(section(".fpregset").byteLength).toBe(2 * 108);
    const fds = pyFdInfo(32, section(".fdinfo"));
    expect(fds.map((f) => f.fd)).toEqual([0, 3]);
    const sock = fds[1]!;
    expect([sock.src, sock.dst, sock.sport, sock.dport, sock.net]).toEqual([s.socket.local, s.socket.remote, s.socket.localPort, s.socket.remotePort, 1]);
  });

  test("ecfs read --json gives back the registers, FPU control words, auxv and fds", () => {
    const r = ecfs(["read", "-a", "--json", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.exePath).toBe(s.exe);
    expect(j.threads.map((t: { tid: number }) => t.tid)).toEqual(s.image.threads.map((t) => t.tid));
    j.threads.forEach((t: { regs: Record<string, string> }, i: number) => {
      for (const name of I386_PR_REG) expect({ name, v: t.regs[name] }).toEqual({ name, v: `0x${(s.regs[i]![name] >>> 0).toString(16)}` });
    });
    expect(j.threads.map((t: { fpregs: { kind: string; cwd: number } }) => [t.fpregs.kind, t.fpregs.cwd])).toEqual([["fsave", s.fcw], ["fsave", s.fcw]]);
    expect(j.fds.map((f: { fd: number }) => f.fd)).toEqual([0, 3]);
    expect(j.fds[1].inet).toEqual({ protocol: "tcp", srcAddr: s.socket.local, srcPort: s.socket.localPort, dstAddr: s.socket.remote, dstPort: s.socket.remotePort });
    const dv = new DataView(s.image.info.auxv.buffer, s.image.info.auxv.byteOffset, s.image.info.auxv.byteLength);
    const want: { type: string; value: string }[] = [];
    for (let o = 0; o + 8 <= dv.byteLength && dv.getUint32(o, true) !== 0; o += 8)
      want.push({ type: `0x${dv.getUint32(o, true).toString(16)}`, value: `0x${dv.getUint32(o + 4, true).toString(16)}` });
    expect(j.auxv.filter((a: { type: string }) => a.type !== "0x0").map((a: { type: string; value: string }) => ({ type: a.type, value: a.value }))).toEqual(want);
  });
});
