// The kernel's core notes, decoded into the model: one ThreadState per NT_PRSTATUS (the
// thread that took the signal first, as fs/binfmt_elf.c writes it), its other register sets
// from the notes that follow it up to the next NT_PRSTATUS, and the process-wide notes
// (NT_PRPSINFO, NT_SIGINFO, NT_AUXV). Sizes are checked against the kernel structs; a note of
// the wrong size is a malformed core, not something to guess around.

import { ElfFormatError } from "../../errors.ts";
import type { ElfClass } from "../../elf/class.ts";
import { NT_386_TLS, NT_AUXV, NT_PRFPREG, NT_PRPSINFO, NT_PRSTATUS, NT_PRXFPREG, NT_SIGINFO, NT_X86_XSTATE } from "../../elf/consts.ts";
import { parsePrpsinfo, parsePrstatus, type ElfPrpsinfo } from "../../elf/corerecords.ts";
import type { Note } from "../../elf/notes.ts";
import type { ThreadState } from "../../model/image.ts";

export const SIGINFO_SIZE = 128;

export interface KernelNotes {
  threads: ThreadState[];
  prpsinfo: ElfPrpsinfo;
  /** NT_SIGINFO of the thread that took the signal (128 bytes). */
  siginfo: Uint8Array;
  auxv: Uint8Array;
}

const copy = (b: Uint8Array): Uint8Array => b.slice();

const timevalUs = (t: { tv_sec: bigint; tv_usec: bigint }): bigint => t.tv_sec * 1_000_000n + t.tv_usec;

/** Only "CORE" and "LINUX" notes carry the register sets (elf_core_dump's names). */
const owner = (n: Note): boolean => n.name === "CORE" || n.name === "LINUX";

export function decodeKernelNotes(cls: ElfClass, notes: readonly Note[]): KernelNotes {
  const threads: ThreadState[] = [];
  let prpsinfo: ElfPrpsinfo | undefined;
  let siginfo: Uint8Array | undefined;
  let auxv: Uint8Array | undefined;
  for (const n of notes) {
    if (!owner(n)) continue;
    const cur = threads[threads.length - 1];
    switch (n.type) {
      case NT_PRSTATUS: {
        const pr = parsePrstatus(n.desc, cls, n.offset);
        threads.push({
          tid: pr.pr_pid, regs: copy(pr.pr_reg_bytes), fpregs: new Uint8Array(cls.fpregsetSize), siginfo: new Uint8Array(SIGINFO_SIZE),
          cursig: pr.pr_cursig, sigpend: pr.pr_sigpend, sighold: pr.pr_sighold,
          utimeUs: timevalUs(pr.pr_utime), stimeUs: timevalUs(pr.pr_stime),
        });
        break;
      }
      case NT_PRPSINFO:
        prpsinfo ??= parsePrpsinfo(n.desc, cls, n.offset);
        break;
      case NT_SIGINFO:
        if (n.desc.byteLength !== SIGINFO_SIZE) throw new ElfFormatError(n.offset, "bad NT_SIGINFO size", n.desc.byteLength);
        siginfo ??= copy(n.desc);
        break;
      case NT_AUXV:
        auxv ??= copy(n.desc);
        break;
      case NT_PRFPREG:
        if (!cur) throw new ElfFormatError(n.offset, "NT_PRFPREG before any NT_PRSTATUS");
        if (n.desc.byteLength !== cls.fpregsetSize) throw new ElfFormatError(n.offset, `bad NT_PRFPREG size for ${cls.name}`, n.desc.byteLength);
        cur.fpregs = copy(n.desc);
        break;
      case NT_X86_XSTATE:
        if (cur) cur.xstate = copy(n.desc);
        break;
      case NT_PRXFPREG:
        if (cur) cur.fxregs = copy(n.desc);
        break;
      case NT_386_TLS:
        if (cur) cur.tls = copy(n.desc);
        break;
    }
  }
  if (threads.length === 0) throw new ElfFormatError(0, "the kernel's core has no NT_PRSTATUS note");
  if (!prpsinfo) throw new ElfFormatError(0, "the kernel's core has no NT_PRPSINFO note");
  const first = threads[0]!;
  first.siginfo = siginfo ?? new Uint8Array(SIGINFO_SIZE);
  return { threads, prpsinfo, siginfo: first.siginfo, auxv: auxv ?? new Uint8Array(0) };
}

/** si_signo, si_code and (for the fault signals) si_addr of a 128-byte siginfo_t. */
export function signalOf(cls: ElfClass, siginfo: Uint8Array): { signo: number; code: number; addr?: bigint } {
  const dv = new DataView(siginfo.buffer, siginfo.byteOffset, siginfo.byteLength);
  const signo = dv.getInt32(0, true);
  const code = dv.getInt32(8, true);
  // SIGILL 4, SIGBUS 7, SIGFPE 8, SIGSEGV 11: _sigfault.si_addr after the three ints (and,
  // on x86_64, 4 bytes of padding).
  if (![4, 7, 8, 11].includes(signo)) return { signo, code };
  const addr = cls.word === 8 ? dv.getBigUint64(16, true) : BigInt(dv.getUint32(12, true));
  return { signo, code, addr };
}
