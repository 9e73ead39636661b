// `ecfs read` (and `readecfs`) as a user runs it, a separate process: options in any order
// and clustered, the readecfs text, --json against the library, -R against readelf -x, -O
// against objcopy --dump-section, -X against /proc/PID, and one line plus an exit code for
// every error. The files are snapshots of running fixtures made by our own CLI.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EcfsFile } from "../../src/reader/ecfs.ts";
import { renderJson } from "../../src/reader/render.ts";
import { buildReport, SELECT_ALL } from "../../src/reader/report.ts";
import { MAIN, ecfs } from "../helpers/ecfs.ts";
import { killAllFixtures, type ThreadsInfo } from "../helpers/fixtures.ts";
import { gcoreOf } from "../helpers/oracles.ts";
import { tool } from "./compile.ts";
import { type Snapshot, snapshotFixture } from "./snapshots.ts";
import { NO_I386 } from "../helpers/machine.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-reader-cli-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

/** The 64-bit fixture's arguments: one with spaces, one longer than pr_psargs' 80 bytes, an empty one. */
const ARGS = ["two words", "x".repeat(100), "", "--last"];
let s64: Snapshot<ThreadsInfo>;
let s32: Snapshot<ThreadsInfo>;
beforeAll(async () => {
  s64 = await snapshotFixture<ThreadsInfo>(work, "threads", { libs: ["-pthread"] }, ARGS);
  if (!NO_I386) s32 = await snapshotFixture<ThreadsInfo>(work, "threads", { m32: true, libs: ["-pthread"] });
});
afterAll(async () => {
  await s64?.fx.kill();
  await s32?.fx.kill();
});

const read = (...args: string[]) => ecfs(["read", ...args]);

describe("ecfs read: options", () => {
  test("any order and clustering give the same output", () => {
    const want = read("-e", "-S", s64.none);
    expect(want.code).toBe(0);
    for (const args of [["-eS", s64.none], ["-Se", s64.none], [s64.none, "-S", "-e"], ["--sections", s64.none, "--overview"]])
      expect([args, read(...args).stdout]).toEqual([args, want.stdout]);
  });

  test("-R takes its section from the rest of the cluster or the next word; -O takes two words", () => {
    const want = read("-R", ".exepath", s64.none).stdout;
    expect(want).toContain("- Hex dump of section .exepath");
    expect(read("-R.exepath", s64.none).stdout).toBe(want);
    expect(read(s64.none, "--hexdump=.exepath").stdout).toBe(want);
    const out = join(work, "arglist.bin");
    const r = read("-PO", ".arglist", out, s64.none);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`- Wrote 80 bytes of section .arglist to ${out}`);
    expect(r.stdout).toContain("- Personality (.personality)");
  });

  test("no option means -e; -h is the ELF header, --help the usage", () => {
    expect(read(s64.none).stdout).toBe(read("-e", s64.none).stdout);
    const h = read("-h", s64.none);
    expect(h.stdout).toContain("- Displaying ELF header:");
    expect(h.stdout).toContain(`e_shnum: ${tool("readelf", ["-h", s64.none]).match(/Number of section headers:\s+(\d+)/)![1]}\n`);
    const help = ecfs(["read", "--help"], { env: { NO_COLOR: "1" } }).stdout;
    for (const o of ["-e", "-a", "-P", "-l", "-s", "-g", "-A", "-h", "-S", "-p", "-R", "-O", "-X", "--json"]) expect([o, help.includes(`${o},`) || help.includes(`${o} `)]).toEqual([o, true]);
  });
});

describe("ecfs read: output", () => {
  test("-a starts like readecfs and holds exe path, command line, registers, sections and auxv", () => {
    const r = read("-a", s64.none);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const exe = readlinkSync(`/proc/${s64.fx.pid}/exe`);
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 3)).toEqual([
      `- readecfs output for file ${s64.none}`,
      `- Executable path (.exepath): ${exe}`,
      `- Command line: ${readFileSync(`/proc/${s64.fx.pid}/cmdline`, "latin1").replaceAll("\0", " ").slice(0, 79)}`,
    ]);
    using f = EcfsFile.open(s64.none);
    for (const t of f.prstatus()) {
      expect(r.stdout).toContain(`] pid: ${t.tid} `);
      expect(r.stdout).toContain(`rip      0x${t.pc.toString(16).padStart(16, "0")}`);
    }
    for (const line of tool("readelf", ["-S", "-W", s64.none]).split("\n")) {
      const m = /^\s+\[\s*\d+\] (\S+)/.exec(line);
      if (m && m[1] !== "NULL") expect(r.stdout).toContain(` ${m[1]} `);
    }
    expect(r.stdout).toContain("\tAT_PHDR:\t 0x");
    expect(r.stdout).toContain("- Printing out GOT/PLT characteristics (pltgot_info_t):");
    expect(r.stdout).toContain("- Displaying ELF program headers:");
  });

  test.skipIf(NO_I386)("-A decodes the auxv for the file's class (i386: 32-bit pairs)", () => {
    const r = read("-A", s32.none);
    const raw = new Uint8Array(readFileSync(`/proc/${s32.fx.pid}/auxv`));
    const dv = new DataView(raw.buffer);
    const want: string[] = [];
    for (let o = 0; dv.getUint32(o, true) !== 0; o += 8) want.push(`0x${dv.getUint32(o + 4, true).toString(16)}`);
    const got = r.stdout.split("\n").filter((l) => l.startsWith("\tAT_") || /^\t0x/.test(l)).map((l) => l.split("\t ").pop());
    expect(got).toEqual(want);
  });

  for (const which of ["64", "32"] as const)
    test.skipIf(which === "32" && NO_I386)(`--json -a parses and is the library's report (${which}-bit)`, () => {
      const s = which === "64" ? s64 : s32;
      const r = read("-a", "--json", s.none);
      expect(r.code).toBe(0);
      const json = JSON.parse(r.stdout);
      using f = EcfsFile.open(s.none);
      const lib = JSON.parse(renderJson(buildReport(f, SELECT_ALL)));
      expect(json).toEqual({ ...lib, extracted: [] });
      expect(json.exePath).toBe(readlinkSync(`/proc/${s.fx.pid}/exe`));
      expect(json.threads.length).toBe(f.threadCount());
      expect(json.threads[0].regs[which === "64" ? "rip" : "eip"]).toMatch(/^0x[0-9a-f]+$/);
    });

  test("--json: argv is /proc/PID/cmdline, psargs the 80-byte pr_psargs; .cmdline holds the raw bytes", () => {
    const raw = readFileSync(`/proc/${s64.fx.pid}/cmdline`);
    const json = JSON.parse(read("--json", s64.none).stdout);
    expect(json.argv).toEqual(raw.toString("utf8").split("\0").slice(0, -1));
    expect(json.argv.slice(1)).toEqual(ARGS);
    expect(json.psargs).toBe(raw.toString("latin1").replaceAll("\0", " ").slice(0, 79));
    expect(json.commandLine).toBeUndefined();
    const dumped = join(work, "cmdline.objcopy");
    tool("objcopy", ["--dump-section", `.cmdline=${dumped}`, s64.none, join(work, "objcopy.junk")]);
    expect(readFileSync(dumped)).toEqual(raw);
  });

  test("-R is readelf -x's bytes; -O is objcopy --dump-section's", () => {
    const r = read("-R", ".arglist", s64.none);
    const ours = r.stdout.split("\n").filter((l) => /^ {2}[0-9a-f]{8} /.test(l)).map((l) => l.slice(12, 59).replace(/ /g, "")).join("");
    const theirs = tool("readelf", ["-x", ".arglist", s64.none]).split("\n").filter((l) => /^\s+0x[0-9a-f]+ /.test(l))
      .map((l) => l.trim().split(/\s+/).slice(1, 5).filter((w) => /^[0-9a-f]+$/.test(w)).join("")).join("");
    expect(ours).toBe(theirs);
    for (const sec of [".prstatus", ".auxvector", ".procfs.tgz", "._TEXT"]) {
      const out = join(work, `ours${sec}`);
      const ref = join(work, `objcopy${sec}`);
      expect(read("-O", sec, out, s64.none).code).toBe(0);
      tool("objcopy", [`--dump-section`, `${sec}=${ref}`, s64.none, join(work, "objcopy.junk")]);
      expect([sec, readFileSync(out).equals(readFileSync(ref))]).toEqual([sec, true]);
    }
  });

  test("-X unpacks .procfs.tgz into DIR: the files and links of /proc/PID", () => {
    const dir = join(work, "unpacked");
    const r = read("-X", dir, s64.none);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/- Unpacked \.procfs\.tgz \(\d+ members\) into /);
    const pid = s64.fx.pid;
    const root = join(dir, "proc", String(pid));
    expect(readFileSync(join(root, "comm"), "utf8")).toBe(readFileSync(`/proc/${pid}/comm`, "utf8"));
    expect(readFileSync(join(root, "cmdline"))).toEqual(readFileSync(`/proc/${pid}/cmdline`));
    expect(readlinkSync(join(root, "cwd"))).toBe(readlinkSync(`/proc/${pid}/cwd`));
    expect(readlinkSync(join(root, "exe"))).toBe(readlinkSync(`/proc/${pid}/exe`));
    // Again into the same, now non-empty, directory: refused.
    const again = read("-X", dir, s64.none);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`ecfs: ${dir} is not empty (-X unpacks only into a new or empty directory)\n`);
  });
});

describe("ecfs read: errors are one line with an exit code", () => {
  const cases: { title: string; args: () => string[]; code: number; line: RegExp }[] = [
    { title: "missing file", args: () => [join(work, "nope")], code: 1, line: /^ecfs: \S+nope: no such file$/ },
    { title: "not an ELF file", args: () => [writeText("text", "hello\n")], code: 1, line: /^ecfs: \S+text: not an ELF file$/ },
    { title: "an executable", args: () => [s64.exe], code: 1, line: /^ecfs: \S+: not an ECFS file \(e_type ET_DYN; ECFS files are ET_NONE or ET_CORE\)$/ },
    { title: "a gdb core (no .personality)", args: () => [gcoreOf(s64.fx.pid, join(work, "gcore"))], code: 1, line: /^ecfs: \S+: not an ECFS file \(no \.personality section\)$/ },
    { title: "a core without section headers", args: () => [noSections()], code: 1, line: /^ecfs: \S+: not an ECFS file \(no section headers\)$/ },
    { title: "a truncated file", args: () => [truncated()], code: 1, line: /^ecfs: \S+: malformed ELF data: section header table out of bounds/ },
    { title: "-R of a missing section", args: () => ["-R", ".nope", s64.none], code: 1, line: /^ecfs: \S+: no section named "\.nope"$/ },
    { title: "-O of a missing section", args: () => ["-O", ".nope", join(work, "o"), s64.none], code: 1, line: /^ecfs: \S+: no section named "\.nope"$/ },
    { title: "-O into a missing directory", args: () => ["-O", ".arglist", join(work, "no/dir/o"), s64.none], code: 1, line: /^ecfs: cannot write \S+: directory \S+no\/dir does not exist$/ },
    { title: "unknown option", args: () => ["-ez", s64.none], code: 2, line: /^ecfs: read: unknown option -z \(see ecfs read --help\)$/ },
    { title: "unknown long option", args: () => ["--bogus", s64.none], code: 2, line: /^ecfs: read: unknown option --bogus/ },
    { title: "-R without its section", args: () => [s64.none, "-R"], code: 2, line: /^ecfs: read: option -R needs SECTION$/ },
    { title: "-O with one word", args: () => ["-O", ".arglist"], code: 2, line: /^ecfs: read: option -O needs SECTION OUTFILE$/ },
    { title: "no file", args: () => ["-e"], code: 2, line: /^ecfs: read: a file is required/ },
    { title: "two files", args: () => [s64.none, s64.core], code: 2, line: /^ecfs: read: one file at a time/ },
  ];
  for (const c of cases)
    test(c.title, () => {
      const r = read(...c.args());
      expect([r.code, r.stdout]).toEqual([c.code, ""]);
      expect(r.stderr.endsWith("\n") && r.stderr.split("\n").length).toBe(2);
      expect(r.stderr.trimEnd()).toMatch(c.line);
    });

  test("a malformed part is a warning after the rest of the output, exit 1", () => {
    // .prstatus with sh_entsize 7: every other part still reads.
    const bad = join(work, "bad-entsize.ecfs");
    copyFileSync(s64.none, bad);
    using f = EcfsFile.open(s64.none);
    const sh = f.section(".prstatus")!;
    const at = Number(f.elf.header.e_shoff) + sh.index * f.cls.shdrSize + 56;
    const bytes = readFileSync(bad);
    bytes.writeBigUInt64LE(7n, at);
    writeFileSync(bad, bytes);
    const r = read("-e", bad);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("- files/pipes/sockets (.fdinfo):");
    expect(r.stdout).not.toContain("- Thread info");
    expect(r.stderr).toBe(`ecfs: warning: ${bad}: .prstatus: bad .prstatus sh_entsize (7) at 0x${sh.sh_offset.toString(16)}\n`);
  });
});

describe("readecfs", () => {
  test("a script named readecfs takes read's arguments", () => {
    const dir = mkdtempSync(join(work, "bin-"));
    writeFileSync(join(dir, "readecfs"), `import ${JSON.stringify(MAIN)};\n`);
    const r = spawnSync(process.execPath, [join(dir, "readecfs"), "-hP", s64.none], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(read("-hP", s64.none).stdout);
  });

  test("a compiled ecfs run through a symlink named readecfs takes read's arguments", () => {
    const dir = mkdtempSync(join(work, "bin-"));
    const bin = join(dir, "ecfs");
    const b = spawnSync(process.execPath, ["build", "--compile", MAIN, "--outfile", bin], { encoding: "utf8" });
    expect(b.status).toBe(0);
    symlinkSync(bin, join(dir, "readecfs"));
    const r = spawnSync(join(dir, "readecfs"), ["-Ph", s64.none], { encoding: "utf8" });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(read("-Ph", s64.none).stdout);
    expect(spawnSync(bin, ["read", "-Ph", s64.none], { encoding: "utf8" }).stdout).toBe(r.stdout);
  });
});

function writeText(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

/** The snapshot with e_shoff, e_shnum and e_shstrndx zeroed: a plain core's header. */
function noSections(): string {
  const p = join(work, "nosections.core");
  const b = readFileSync(s64.core);
  b.writeBigUInt64LE(0n, 40);
  b.writeUInt16LE(0, 60);
  b.writeUInt16LE(0, 62);
  writeFileSync(p, b);
  return p;
}

/** The first half of the snapshot: the section header table is past the end. */
function truncated(): string {
  const p = join(work, "truncated.ecfs");
  const b = readFileSync(s64.none);
  writeFileSync(p, b.subarray(0, b.length >> 1));
  return p;
}
