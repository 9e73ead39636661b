// elf_prstatus and elf_prpsinfo of both classes, every field set to a value of its own, written
// through corerecords.ts's one layout table and judged by eu-readelf -n (and gdb for the
// registers of the x86_64 record); read back through the same table, they are what went in.
// The i386 records are checked here without running an i386 process.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLASS32, CLASS64 } from "../../src/elf/class.ts";
import { ET_CORE, NT_PRPSINFO, NT_PRSTATUS, SHT_NOTE } from "../../src/elf/consts.ts";
import {
  encodePrpsinfo, encodePrstatus, parsePrpsinfo, parsePrstatus, PRSTATUS, type PrpsinfoFields, type PrstatusFields, regsSize,
} from "../../src/elf/corerecords.ts";
import { encodeNotes } from "../../src/ecfs/notes.ts";
import { buildSynthetic } from "../reader/synth.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-corerecords-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const utf8 = new TextEncoder();

function prstatusOf(word: 4 | 8): PrstatusFields {
  const regs = new Uint8Array(regsSize(word));
  const dv = new DataView(regs.buffer);
  // Register i holds 0x100 * (i + 1) + i: no two alike, none zero.
  for (let i = 0; i < regs.byteLength / word; i++) dv.setUint32(i * word, 0x100 * (i + 1) + i, true);
  return {
    pr_info: { si_signo: 11, si_code: 2, si_errno: 3 }, pr_cursig: 11, pr_sigpend: 0x5n, pr_sighold: 0x80000001n,
    pr_pid: 101, pr_ppid: 102, pr_pgrp: 103, pr_sid: 104,
    pr_utime: { tv_sec: 1n, tv_usec: 2n }, pr_stime: { tv_sec: 3n, tv_usec: 4n },
    pr_cutime: { tv_sec: 5n, tv_usec: 6n }, pr_cstime: { tv_sec: 7n, tv_usec: 8n },
    pr_reg_bytes: regs, pr_fpvalid: 1,
  };
}

const prpsinfo: PrpsinfoFields = {
  pr_state: 1, pr_sname: "S", pr_zomb: 0, pr_nice: -5, pr_flag: 0x400640n, pr_uid: 1000, pr_gid: 1001,
  pr_pid: 201, pr_ppid: 202, pr_pgrp: 203, pr_sid: 204, pr_fname: utf8.encode("fixname"), pr_psargs: utf8.encode("fixname -a b"),
};

/** eu-readelf's name of a user_regs_struct field (x86_64 spells three differently). */
const euName = (word: 4 | 8, name: string): string =>
  (word === 8 ? ({ eflags: "rflags", fs_base: "fs.base", gs_base: "gs.base" } as Record<string, string>)[name] : undefined) ?? name;

for (const cls of [CLASS64, CLASS32]) {
  describe(`${cls.name} core records`, () => {
    const pr = prstatusOf(cls.word);
    const prBytes = encodePrstatus(cls, pr);
    const psBytes = encodePrpsinfo(cls, prpsinfo);
    const notes = encodeNotes([{ name: "CORE", type: NT_PRSTATUS, desc: prBytes }, { name: "CORE", type: NT_PRPSINFO, desc: psBytes }]);
    const core = join(work, `${cls.name}.core`);
    writeFileSync(core, buildSynthetic({ cls, eType: ET_CORE, notes, sections: [{ name: ".note.core", type: SHT_NOTE, data: notes, align: 4 }] }));
    const eu = spawnSync("eu-readelf", ["-n", core], { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
    /** "name: value" pairs of one note's lines, as eu-readelf prints them. */
    const fieldsOf = (type: string): Map<string, string> => {
      const body = eu.stdout.split(new RegExp(`^  CORE\\s+\\d+\\s+${type}$`, "m"))[1]!.split(/^ {2}\S/m)[0]!;
      const out = new Map<string, string>();
      for (const line of body.split("\n")) {
        const names = /^ {4}fname: (.*), psargs: (.*)$/.exec(line);
        if (names) out.set("fname", names[1]!).set("psargs", names[2]!);
        else for (const m of line.matchAll(/([\w.]+):\s*(<[^>]*>|[^,\s]+)/g)) out.set(m[1]!, m[2]!);
      }
      return out;
    };

    test("eu-readelf reads every NT_PRSTATUS field where we put it", () => {
      expect(eu.stderr).toBe("");
      const f = fieldsOf("PRSTATUS");
      expect(Object.fromEntries([...f].filter(([k]) => !PRSTATUS[cls.word].regNames.some((r) => euName(cls.word, r) === k)))).toEqual({
        "info.si_signo": "11", "info.si_code": "2", "info.si_errno": "3", cursig: "11", sigpend: "<1,3>", sighold: "<1,32>",
        pid: "101", ppid: "102", pgrp: "103", sid: "104",
        utime: "1.000002", stime: "3.000004", cutime: "5.000006", cstime: "7.000008", fpvalid: "1",
      });
      PRSTATUS[cls.word].regNames.forEach((name, i) => {
        expect({ name, value: BigInt(f.get(euName(cls.word, name)) ?? "-1") }).toEqual({ name, value: BigInt(0x100 * (i + 1) + i) });
      });
    });

    test("eu-readelf reads every NT_PRPSINFO field where we put it", () => {
      expect(Object.fromEntries(fieldsOf("PRPSINFO"))).toEqual({
        state: "1", sname: "S", zomb: "0", nice: String(-5 & 0xff), flag: `0x${"400640".padStart(cls.word * 2, "0")}`,
        uid: "1000", gid: "1001", pid: "201", ppid: "202", pgrp: "203", sid: "204", fname: "fixname", psargs: "fixname -a b",
      });
    });

    if (cls === CLASS64) test("gdb takes the registers from pr_reg", () => {
      const g = spawnSync("gdb", ["-batch", "-nx", "-ex", "info registers rip rsp rax r15 fs_base", "-c", core], { encoding: "utf8" });
      const reg = (n: string) => BigInt(new RegExp(`^${n}\\s+(0x[0-9a-f]+)`, "m").exec(g.stdout)?.[1] ?? "-1");
      for (const n of ["rip", "rsp", "rax", "r15", "fs_base"] as const) {
        const i = PRSTATUS[8].regNames.indexOf(n);
        expect({ n, v: reg(n) }).toEqual({ n, v: BigInt(0x100 * (i + 1) + i) });
      }
    });

    test("read back through the same table, the records are what went in", () => {
      const { pr_reg, pr_reg_bytes, ...rest } = parsePrstatus(prBytes, cls);
      const { pr_reg_bytes: inRegs, ...inRest } = pr;
      expect(rest).toEqual(inRest);
      expect([...pr_reg_bytes]).toEqual([...inRegs]);
      expect(Object.keys(pr_reg)).toEqual([...PRSTATUS[cls.word].regNames]);
      const ps = parsePrpsinfo(psBytes, cls);
      expect(ps).toEqual({ ...prpsinfo, pr_fname: "fixname", pr_psargs: "fixname -a b" });
    });
  });
}
