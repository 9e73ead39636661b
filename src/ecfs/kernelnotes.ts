// The notes of a crash come from the kernel's own core (ProcessImage.kernelNotes) and are
// carried through byte for byte, in the kernel's order, whatever they are (a newer kernel's
// note types included). Only the ECFS sections that repeat them (.prstatus, .fpregset,
// .arglist, .auxvector, .siginfo) are cut out of them here.

import type { ElfClass } from "../elf/class.ts";
import { NT_AUXV, NT_PRPSINFO, NT_PRSTATUS, NT_SIGINFO } from "../elf/consts.ts";
import type { ThreadState } from "../model/image.ts";
import { ELF_PRARGSZ, PRPSINFO } from "../elf/corerecords.ts";
import { SIGINFO_SIZE, fitTo, trimAuxv, type CoreNotes, type Note } from "./notes.ts";

export function coreNotesFromKernel(cls: ElfClass, notes: Note[], threads: ThreadState[]): CoreNotes {
  const core = notes.filter((n) => n.name === "CORE");
  const first = (type: number) => core.find((n) => n.type === type)?.desc;
  const prpsinfo = first(NT_PRPSINFO);
  const psargs = prpsinfo && prpsinfo.byteLength === cls.prpsinfoSize
    ? prpsinfo.slice(PRPSINFO[cls.word].pr_psargs, PRPSINFO[cls.word].pr_psargs + ELF_PRARGSZ)
    : new Uint8Array(ELF_PRARGSZ);
  return {
    notes,
    prstatus: core.filter((n) => n.type === NT_PRSTATUS).map((n) => fitTo(n.desc, cls.prstatusSize)),
    fpregset: threads.map((t) => fitTo(t.fpregs, cls.fpregsetSize)),
    psargs,
    auxv: trimAuxv(cls, first(NT_AUXV) ?? new Uint8Array(0)),
    siginfo: fitTo(first(NT_SIGINFO) ?? new Uint8Array(0), SIGINFO_SIZE),
  };
}
