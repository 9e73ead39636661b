// siginfo() and faultAddress() on the signal a process really died of: the kernel's own core
// of test/reader/fault.c (SIGSEGV at 0xdead010), 64-bit and i386. Our writer snapshots live
// processes (no signal), so the ECFS file is built here from that core's notes, and the
// oracle is gdb's $_siginfo on the kernel core itself.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NOTE_NAME_CORE, NT_PRFPREG, NT_PRSTATUS, NT_SIGINFO } from "../../src/elf/consts.ts";
import { ElfFile } from "../../src/elf/reader.ts";
import { FileSource } from "../../src/elf/source.ts";
import { EcfsFile } from "../../src/reader/ecfs.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { kernelCore } from "../helpers/kernelcore.ts";
import { NO_I386 } from "../helpers/machine.ts";
import { compile, tool } from "./compile.ts";
import { basicSections, buildSynthetic } from "./synth.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-reader-fault-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface FaultCase {
  want: { signo: number; code: number; addr: bigint };
  file: string;
  f: EcfsFile;
}

/** Crash test/reader/fault.c, read gdb's $_siginfo from the kernel core, build the ECFS file. */
function crash(m32: boolean): FaultCase {
  const exe = compile("fault", m32 ? ["-m32"] : []);
  const dir = mkdtempSync(join(work, "core-"));
  const core = kernelCore(exe, dir);
  const gdb = tool("gdb", ["-batch", "-nx", "-ex", "p $_siginfo.si_signo", "-ex", "p $_siginfo.si_code", "-ex", "p $_siginfo._sifields._sigfault.si_addr", exe, core]);
  const want = {
    signo: Number(/^\$1 = (\d+)/m.exec(gdb)![1]),
    code: Number(/^\$2 = (\d+)/m.exec(gdb)![1]),
    addr: BigInt(/^\$3 = \(void \*\) (0x[0-9a-f]+)/m.exec(gdb)![1]!),
  };
  const src = FileSource.open(core);
  const elf = ElfFile.open(src);
  const note = (type: number) => [...elf.notes()].find((n) => n.name === NOTE_NAME_CORE && n.type === type)!.desc;
  const file = join(dir, "fault.ecfs");
  writeFileSync(file, buildSynthetic({
    cls: elf.cls,
    sections: [
      ...basicSections({ exe }),
      { name: ".siginfo", data: note(NT_SIGINFO), entsize: 128 },
      { name: ".prstatus", data: note(NT_PRSTATUS), entsize: elf.cls.prstatusSize },
      { name: ".fpregset", data: note(NT_PRFPREG), entsize: elf.cls.fpregsetSize },
    ],
  }));
  src.close();
  return { want, file, f: EcfsFile.open(file) };
}

for (const m32 of [false, true]) {
  describe.skipIf(m32 && NO_I386)(`a SIGSEGV at 0xdead010 (${m32 ? "i386" : "x86_64"}, from a kernel core)`, () => {
    let c: FaultCase;
    beforeAll(() => {
      c = crash(m32);
    });
    afterAll(() => c?.f.close());

    test("gdb sees SIGSEGV at 0xdead010 in the kernel core", () => {
      expect(c.want).toEqual({ signo: 11, code: 1, addr: 0xdead010n });
    });

    test("siginfo() and faultAddress() are gdb's $_siginfo", () => {
      const { f, want } = c;
      expect(f.siginfo()).toEqual({ signo: want.signo, errno: 0, code: want.code, addr: want.addr });
      expect(f.faultAddress()).toBe(want.addr);
      expect(f.prstatus()[0]!.cursig).toBe(want.signo);
    });

    test("ecfs read -e shows the fault location and the signal", () => {
      const r = ecfs(["read", "-e", c.file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("- Fault location: 0xdead010\n");
      expect(r.stdout).toContain("- Exited on signal (.siginfo): 11 SIGSEGV code 1 addr 0xdead010\n");
    });
  });
}
