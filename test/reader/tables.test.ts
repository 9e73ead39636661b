// EcfsFile's tables on real snapshots, against binutils and the live process: sections
// (readelf -S), program headers (readelf -l), the ELF header (readelf -h), .dynsym and
// .symtab (readelf -s), PLT/GOT (the executable's relocations, its linker-written GOT, its
// <sym@plt> stubs, and the GOT slots read from /proc/PID/mem), and the descriptors of the
// sockets fixture (its own report of its fds, and /proc/PID/fd, /proc/PID/fdinfo).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shtName } from "../../src/elf/consts.ts";
import { EcfsFile } from "../../src/reader/ecfs.ts";
import { readelfHeader, readelfPhdrs, readelfSections, readelfSymbols } from "../elf/oracles.ts";
import { type BuildOptions, killAllFixtures, type SocketsInfo } from "../helpers/fixtures.ts";
import { liveMemory } from "../helpers/oracles.ts";
import { objdumpBytes, pltLabels, readelfDynSyms, readelfPltRelocs, wordAt } from "./binutils.ts";
import { type Snapshot, snapshotFixture } from "./snapshots.ts";
import { NO_I386 } from "../helpers/machine.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-reader-tables-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

const CASES: { title: string; fixture: string; opts: BuildOptions; args?: (dir: string) => string[] }[] = [
  { title: "threads x86_64", fixture: "threads", opts: { libs: ["-pthread"] } },
  { title: "threads i386", fixture: "threads", opts: { m32: true, libs: ["-pthread"] } },
  { title: "sockets x86_64", fixture: "sockets", opts: {}, args: (d) => [join(d, "sock"), join(d, "file")] },
  { title: "sockets i386", fixture: "sockets", opts: { m32: true }, args: (d) => [join(d, "sock"), join(d, "file")] },
];

/** /proc/PID/maps lines as [start, end, path]. */
function liveMaps(pid: number): { start: bigint; end: bigint; path: string }[] {
  return readFileSync(`/proc/${pid}/maps`, "utf8").trim().split("\n").map((l) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(l)!;
    return { start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), path: m[3]! };
  });
}

const le = (b: Uint8Array): bigint => b.reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);
/** readelf's letters for SHF_WRITE .. SHF_COMPRESSED, in its (bit) order. */
const FLAG_LETTERS = /[WAXMSILOGTC]/g;
const FLAG_BITS: [bigint, string][] = [[0x1n, "W"], [0x2n, "A"], [0x4n, "X"], [0x10n, "M"], [0x20n, "S"], [0x40n, "I"], [0x80n, "L"], [0x100n, "O"], [0x200n, "G"], [0x400n, "T"], [0x800n, "C"]];
const flagLetters = (f: bigint): string => FLAG_BITS.filter(([b]) => (f & b) !== 0n).map(([, l]) => l).join("");

for (const c of CASES) {
  describe.skipIf(c.opts.m32 === true && NO_I386)(`EcfsFile tables of ${c.title}`, () => {
    let s: Snapshot;
    let f: EcfsFile;
    beforeAll(async () => {
      s = await snapshotFixture(work, c.fixture, c.opts, c.args?.(mkdtempSync(join(work, "fx-"))) ?? []);
      f = EcfsFile.open(s.none);
    });
    afterAll(async () => {
      f?.close();
      await s?.fx.kill();
    });

    test("sections() are readelf -S -W's, row by row", () => {
      const re = readelfSections(s.none);
      expect(f.sections().length).toBe(re.length);
      f.sections().forEach((sh, i) => {
        const r = re[i]!;
        expect([sh.index, sh.name, sh.sh_addr, sh.sh_offset, sh.sh_size, sh.sh_entsize, sh.sh_link, sh.sh_info, sh.sh_addralign])
          .toEqual([r.index, r.name, r.addr, r.offset, r.size, r.entsize, r.link, r.info, r.align]);
        const ours = shtName(sh.sh_type).replace(/^SHT_/, "");
        if (!ours.startsWith("0x") && !["INJECTED", "PRELOADED", "DLOPEN", "LOUSER"].includes(ours)) expect(ours).toBe(r.type);
        expect([sh.name, flagLetters(sh.sh_flags)]).toEqual([sh.name, (r.flags.match(FLAG_LETTERS) ?? []).join("")]);
      });
    });

    test("section(), sectionVa() and sectionByAddr() agree with readelf", () => {
      const re = readelfSections(s.none);
      const text = re.find((r) => r.name === ".text")!;
      expect(f.sectionVa(".text")).toBe(text.addr);
      expect(f.section(".text")!.sh_offset).toBe(text.offset);
      expect(f.sectionByAddr(text.addr)!.name).toBe(re.find((r) => r.index > 0 && r.addr === text.addr)!.name);
      expect(f.section(".no-such-section")).toBeUndefined();
      expect(f.sectionVa(".no-such-section")).toBeUndefined();
    });

    test("programs() are readelf -l -W's", () => {
      const re = readelfPhdrs(s.none);
      expect(f.programs().map((p) => [p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz, p.p_align]))
        .toEqual(re.map((r) => [r.offset, r.vaddr, r.paddr, r.filesz, r.memsz, r.align]));
      const flags = (v: number) => `${v & 4 ? "R" : " "}${v & 2 ? "W" : " "}${v & 1 ? "E" : " "}`;
      expect(f.programs().map((p) => flags(p.p_flags))).toEqual(re.map((r) => r.flags));
    });

    test("the ELF header is readelf -h's", () => {
      const h = readelfHeader(s.none);
      const e = f.elf.header;
      expect([e.e_entry, e.e_phoff, e.e_shoff, BigInt(f.elf.phnum), BigInt(f.elf.shnum), BigInt(f.elf.shstrndx)]).toEqual([
        h.number("Entry point address"), h.number("Start of program headers"), h.number("Start of section headers"),
        h.number("Number of program headers"), h.number("Number of section headers"), h.number("Section header string table index"),
      ]);
    });

    test("dynamicSymbols() and localSymbols() are readelf -s's .dynsym and .symtab", () => {
      const re = readelfSymbols(s.none);
      const row = (x: { index: number; value: bigint; size: bigint; name: string; shndx: number }) =>
        [x.index, x.value, x.size, x.name, x.shndx === 0 ? "UND" : x.shndx === 0xfff1 ? "ABS" : String(x.shndx)];
      for (const [name, ours] of [[".dynsym", f.dynamicSymbols()], [".symtab", f.localSymbols()]] as const) {
        const theirs = re.get(name) ?? [];
        expect(theirs.length).toBeGreaterThan(0);
        expect(ours.map(row)).toEqual(theirs.map((t) => [t.num, t.value, t.size, t.name.replace(/@.*$/, ""), t.ndx]));
      }
    });

    test("pltGot(): sites and symbols of readelf -r, GOT values of /proc/PID/mem, stubs and lazy targets of the linker", () => {
      const w = f.cls.word;
      const base = f.loadBase();
      const relocs = readelfPltRelocs(s.exe, w);
      const initial = objdumpBytes(s.exe, [".got.plt", ".got"]);
      const stubs = pltLabels(s.exe);
      const got = f.pltGot();
      const maps = liveMaps(s.fx.pid);
      expect(relocs.length).toBeGreaterThan(3);
      expect(got.map((e) => [e.symbol, e.gotSite])).toEqual(relocs.map((r) => [r.name, r.offset + base]));
      for (const e of got) {
        const live = le(liveMemory(s.fx.pid, e.gotSite, w));
        expect([e.symbol, e.gotEntryVa]).toEqual([e.symbol, live]);
        const r = relocs.find((x) => x.name === e.symbol)!;
        expect([e.symbol, e.pltEntryVa, e.pltCallVa]).toEqual([e.symbol, wordAt(initial, r.offset, w) + base, stubs.get(e.symbol)! + base]);
        // Nothing hooks the fixtures, so nothing is "suspicious". An IFUNC import (strcpy) holds
        // the implementation its resolver chose: in the resolver's own file per /proc/PID/maps.
        const fileOf = (a: bigint) => maps.find((m) => a >= m.start && a < m.end)?.path;
        const want = live === e.pltEntryVa ? "unresolved" : e.shlEntryVa !== 0n && live === e.shlEntryVa ? "resolved"
          : e.ifunc && fileOf(live) !== undefined && (fileOf(live) === fileOf(e.shlEntryVa) || fileOf(live) === "[vdso]") ? "resolved" : "unknown";
        expect([e.symbol, e.status]).toEqual([e.symbol, want]);
      }
      // The fixtures call some imports before they park and never others (e.g. exit);
      // sockets calls strcpy, an IFUNC in glibc.
      expect(got.some((e) => e.status === "unresolved")).toBe(true);
      if (c.fixture === "sockets") expect(got.find((e) => e.symbol === "strcpy")).toMatchObject({ ifunc: true, status: "resolved" });
      expect(got.some((e) => e.status !== "unresolved")).toBe(true);
    });

    test("librarySymbols(): each <lib>.dynsym is readelf --dyn-syms of the library, defined values at its load base", () => {
      const files = f.ntFile()!.entries;
      const tables = f.librarySymbols();
      expect(tables.map((t) => t.library)).toContain("libc.so.6");
      for (const t of tables) {
        const path = files.find((e) => e.path.split("/").pop() === t.library)!.path;
        const base = files.filter((e) => e.path === path).reduce((lo, e) => (e.start < lo ? e.start : lo), 1n << 64n);
        const rows = readelfDynSyms(path);
        expect(t.symbols.map((x) => x.name)).toEqual(rows.map((r) => r.name));
        rows.forEach((r, i) => {
          // Imports are resolved elsewhere; absolute and TLS values are not addresses.
          if (r.ndx === "UND" || r.ndx === "ABS" || r.type === "TLS") return;
          expect([t.library, r.name, t.symbols[i]!.value]).toEqual([t.library, r.name, r.value + base]);
        });
      }
    });

    test("pltGot(): the IFUNC imports are those readelf types IFUNC in the defining library", () => {
      const files = f.ntFile()!.entries;
      for (const e of f.pltGot().filter((x) => x.shlEntryVa !== 0n)) {
        const lib = files.find((x) => e.shlEntryVa >= x.start && e.shlEntryVa < x.end)!.path;
        const def = readelfDynSyms(lib).find((r) => r.name === e.symbol && r.ndx !== "UND");
        expect([e.symbol, e.ifunc]).toEqual([e.symbol, def?.type === "IFUNC"]);
      }
    });

    if (c.fixture === "sockets")
      test("fdInfo(): every fd of /proc/PID/fd with its position and flags, sockets as the fixture reports them", () => {
        const pid = s.fx.pid;
        const info = s.fx.info as SocketsInfo;
        const fds = f.fdInfo();
        const live = readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
        expect(fds.map((x) => x.fd)).toEqual(live);
        for (const x of fds) {
          const fdinfo = readFileSync(`/proc/${pid}/fdinfo/${x.fd}`, "utf8");
          expect([x.fd, x.path, x.pos, x.flags]).toEqual([
            x.fd, readlinkSync(`/proc/${pid}/fd/${x.fd}`), BigInt(/^pos:\s+(\d+)/m.exec(fdinfo)![1]!), Number.parseInt(/^flags:\s+([0-7]+)/m.exec(fdinfo)![1]!, 8),
          ]);
        }
        const by = (fd: number) => fds.find((x) => x.fd === fd)!;
        expect([by(info.file.fd).path, by(info.file.fd).pos]).toEqual([info.file.path, BigInt(info.file.pos)]);
        expect(by(info.tcpListen.fd).inet).toMatchObject({ protocol: "tcp", srcAddr: "127.0.0.1", srcPort: info.tcpListen.port });
        expect(by(info.tcpClient.fd).inet).toMatchObject({ protocol: "tcp", srcPort: info.tcpClient.port, dstAddr: "127.0.0.1", dstPort: info.tcpClient.peerPort });
        expect(by(info.tcpServer.fd).inet).toMatchObject({ protocol: "tcp", srcPort: info.tcpServer.port, dstPort: info.tcpServer.peerPort });
        expect(by(info.udp.fd).inet).toMatchObject({ protocol: "udp", srcAddr: "127.0.0.1", srcPort: info.udp.port });
        expect(by(info.unix.fd).ext?.socket).toMatchObject({ protocol: "unix", path: info.unix.path });
        if (info.tcp6Listen) expect(by(info.tcp6Listen.fd).ext?.socket).toMatchObject({ protocol: "tcp6", localPort: info.tcp6Listen.port });
        expect(by(info.pipe.r).path).toMatch(/^pipe:\[\d+\]$/);
      });
  });
}
