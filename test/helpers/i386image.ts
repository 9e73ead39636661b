// A ProcessImage of an i386 program that never ran, for machines whose kernel cannot
// execute i386 code (and for every other machine too): test/fixtures/i386data.c built
// -m32 -static supplies the memory (its PT_LOAD segments laid out as the kernel maps them),
// a stack page holds a known pattern, and two threads carry register values chosen here.
// The image goes through the normal pipeline (planEcfs -> layoutCore -> writeCore), so the
// i386 writer (ELFCLASS32, 144-byte prstatus, 108-byte FSAVE, NT_PRXFPREG, NT_386_TLS,
// 544-byte .fdinfo, 4-byte auxv words) is judged by readelf, eu-readelf and gdb.

import { readFileSync, statSync } from "node:fs";
import { planEcfs } from "../../src/ecfs/build.ts";
import { layoutCore } from "../../src/ecfs/layout.ts";
import { AtomicFile } from "../../src/ecfs/output.ts";
import { writeCore } from "../../src/ecfs/write.ts";
import { ByteWriter } from "../../src/elf/bytes.ts";
import { CLASS32 } from "../../src/elf/class.ts";
import {
  AT_EGID, AT_ENTRY, AT_EUID, AT_GID, AT_NULL, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_SECURE, AT_UID, ET_CORE, PT_LOAD,
} from "../../src/elf/consts.ts";
import { I386_PR_REG } from "../../src/elf/corerecords.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { BytesSource } from "../../src/elf/source.ts";
import type { ProcessImage, ThreadState } from "../../src/model/image.ts";
import { parseMaps } from "../../src/proc/maps.ts";
import type { SocketEntry } from "../../src/proc/sockets.ts";
import { buildFixture } from "./fixtures.ts";
import { FakeMemory } from "./fakemem.ts";

const PAGE = 0x1000n;
export const STACK_START = 0xff800000n;
export const STACK_END = 0xff802000n;
/** The stack's bytes: byte i is (i * 7 + 3) & 0xff, so a shifted or zeroed page shows. */
export const stackByte = (i: number): number => (i * 7 + 3) & 0xff;

export type I386Regs = Record<(typeof I386_PR_REG)[number], number>;

export interface SyntheticI386 {
  /** The -m32 -static executable whose segments are the memory. */
  exe: string;
  image: ProcessImage;
  /** Registers of thread 0 (the leader) and thread 1, as written into pr_reg. */
  regs: I386Regs[];
  /** Address of `marker` and `words` (from the executable's symbol table). */
  marker: bigint;
  words: bigint;
  /** FSAVE control word of every thread, and the FXSAVE MXCSR. */
  fcw: number;
  mxcsr: number;
  /** The socket behind fd 3 (.fdinfo: 544-byte records on i386). */
  socket: { local: string; localPort: number; remote: string; remotePort: number };
}

const PID = 31337;

function regsFor(i: number, entry: bigint): I386Regs {
  return {
    ebx: 0x11223344 + i, ecx: 0x55667788 + i, edx: 0x99aabbcc + i, esi: 0x0badf00d + i, edi: 0x13572468 + i,
    ebp: Number(STACK_END) - 0x100 - 0x40 * i, eax: 0xfffffe00 + i, ds: 0x2b, es: 0x2b, fs: 0, gs: 0x63,
    orig_eax: 0xffffffff, eip: Number(entry) + i, cs: 0x23, eflags: 0x246, esp: Number(STACK_END) - 0x200 - 0x40 * i, ss: 0x2b,
  };
}

function thread(tid: number, regs: I386Regs, fcw: number, mxcsr: number): ThreadState {
  const r = new ByteWriter(4 * I386_PR_REG.length);
  I386_PR_REG.forEach((name, k) => r.u32(4 * k, regs[name] >>> 0));
  // user_i387_struct (FSAVE, 108 bytes): cwd, swd, twd, fip, fcs, foo, fos, then st0-st7.
  const fsave = new ByteWriter(108).u32(0, fcw).u32(4, 0).u32(8, 0xffff);
  // FXSAVE: fcw @0, mxcsr @24, mxcsr_mask @28.
  const fxsave = new ByteWriter(512).u16(0, fcw).u32(24, mxcsr).u32(28, 0xffff);
  // NT_386_TLS: three struct user_desc (entry_number, base_addr, limit, flags), GDT 12-14.
  const tls = new ByteWriter(48);
  for (let k = 0; k < 3; k++) tls.u32(16 * k, 12 + k).u32(16 * k + 4, k === 0 ? 0x0804c000 + tid : 0).u32(16 * k + 8, 0xfffff).u32(16 * k + 12, 0x51);
  return {
    tid, regs: r.bytes, fpregs: fsave.bytes, fxregs: fxsave.bytes, tls: tls.bytes, siginfo: new Uint8Array(128),
    cursig: 0, sigpend: 0n, sighold: 0n, utimeUs: 1_250_000n, stimeUs: 500_000n,
  };
}

/** The synthetic image; memory comes from the executable's segments, page-aligned as mmap maps them. */
export function syntheticI386(): SyntheticI386 {
  const exe = buildFixture("i386data", { m32: true, static: true });
  const raw = new Uint8Array(readFileSync(exe));
  const elf = ElfFile.open(new BytesSource(raw));
  if (elf.cls !== CLASS32) throw new Error(`${exe} is not ELFCLASS32`);
  const st = statSync(exe);
  const dev = `${(st.dev >> 8).toString(16).padStart(2, "0")}:${(st.dev & 0xff).toString(16).padStart(2, "0")}`;
  const mem = new FakeMemory();
  const lines: string[] = [];
  const hex = (v: bigint, w = 8) => v.toString(16).padStart(w, "0");
  for (const p of elf.programs().filter((x) => x.p_type === PT_LOAD)) {
    const start = p.p_vaddr & ~(PAGE - 1n);
    const end = (p.p_vaddr + p.p_memsz + PAGE - 1n) & ~(PAGE - 1n);
    const fileStart = p.p_offset - (p.p_vaddr - start);
    const bytes = new Uint8Array(Number(end - start));
    const filePart = raw.subarray(Number(fileStart), Number(p.p_offset + p.p_filesz));
    bytes.set(filePart);
    mem.add(start, bytes);
    const perms = `${p.p_flags & 4 ? "r" : "-"}${p.p_flags & 2 ? "w" : "-"}${p.p_flags & 1 ? "x" : "-"}p`;
    lines.push(`${hex(start)}-${hex(end)} ${perms} ${hex(fileStart)} ${dev} ${st.ino} ${exe}`);
  }
  const stack = new Uint8Array(Number(STACK_END - STACK_START));
  for (let i = 0; i < stack.length; i++) stack[i] = stackByte(i);
  mem.add(STACK_START, stack);
  lines.push(`${hex(STACK_START)}-${hex(STACK_END)} rw-p 00000000 00:00 0 [stack]`);
  const mapsText = `${lines.join("\n")}\n`;

  const first = elf.programs().find((x) => x.p_type === PT_LOAD)!;
  const entry = elf.header.e_entry;
  const auxvPairs: [number, bigint][] = [
    [AT_PHDR, first.p_vaddr + elf.header.e_phoff], [AT_PHENT, 32n], [AT_PHNUM, BigInt(elf.phnum)],
    [AT_PAGESZ, 4096n], [AT_ENTRY, entry], [AT_UID, 1000n], [AT_EUID, 1000n], [AT_GID, 1000n], [AT_EGID, 1000n],
    [AT_SECURE, 0n], [AT_NULL, 0n],
  ];
  const auxv = new ByteWriter(8 * auxvPairs.length);
  auxvPairs.forEach(([t, v], k) => auxv.u32(8 * k, t).u32(8 * k + 4, Number(v)));

  const symbol = (name: string): bigint => {
    const symtab = elf.sectionByName(".symtab");
    const s = symtab && elf.symbols(symtab).find((x) => x.name === name);
    if (!s) throw new Error(`${exe}: no symbol ${name}`);
    return s.st_value;
  };
  const fcw = 0x037f;
  const mxcsr = 0x1f80;
  const regs = [regsFor(0, entry), regsFor(1, entry)];
  const socket = { local: "127.0.0.1", localPort: 8080, remote: "127.0.0.1", remotePort: 40000 };
  const sockInode = 777_001n;
  const sockets = new Map<bigint, SocketEntry>([[sockInode, {
    protocol: "tcp", inode: sockInode, localAddress: socket.local, localPort: socket.localPort,
    remoteAddress: socket.remote, remotePort: socket.remotePort, localBytes: new Uint8Array([127, 0, 0, 1]),
    remoteBytes: new Uint8Array([127, 0, 0, 1]), state: "ESTABLISHED", stateCode: 1, uid: 1000,
  }]]);
  const enc = new TextEncoder();
  const image: ProcessImage = {
    cls: CLASS32,
    info: {
      pid: PID, ppid: 1, pgrp: PID, sid: PID, uid: 1000, gid: 1000, state: "S", nice: 0, flags: 0x400000,
      groupTimes: { utimeUs: 2_500_000n, stimeUs: 1_000_000n, cutimeUs: 330_000n, cstimeUs: 10_000n },
      comm: "i386data", cmdline: enc.encode(`${exe}\0--synthetic\0`), environ: enc.encode("LANG=C\0"),
      exe, auxv: auxv.bytes, mapsText, personality: 0,
      fds: [
        { fd: 0, target: "/dev/null", pos: 0n, flags: 0o100000 },
        { fd: 3, target: `socket:[${sockInode}]`, pos: 0n, flags: 0o2 },
      ],
      sockets,
    },
    threads: [thread(PID, regs[0]!, fcw, mxcsr), thread(PID + 1, regs[1]!, fcw, mxcsr)],
    mappings: parseMaps(mapsText),
    mem,
    problems: [],
  };
  return { exe, image, regs, marker: symbol("marker"), words: symbol("words"), fcw, mxcsr, socket };
}

/** Write the image as an ET_CORE ECFS file at `path` through the normal pipeline; returns the planner's problems. */
export async function writeSyntheticI386(s: SyntheticI386, path: string, opts: { heuristics?: boolean } = {}): Promise<string[]> {
  const exeFile = ElfFile.open(new BytesSource(new Uint8Array(readFileSync(s.exe))));
  const { plan, problems } = planEcfs(s.image, { file: exeFile }, { eType: ET_CORE, ...opts });
  const layout = layoutCore(plan);
  const out = AtomicFile.create(path);
  try {
    await writeCore(plan, layout, out, s.image.mem);
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
  return problems;
}
