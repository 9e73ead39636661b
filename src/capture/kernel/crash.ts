// A crashing process as a ProcessImage: registers, signal and notes from the kernel's core on
// stdin, mappings and metadata from /proc/PID (readable while the kernel waits for us), and
// memory from one of two places (README "Crash capture"):
//  - direct (core_pipe_limit > 0): the kernel keeps the task until we close stdin, so its
//    memory is read in place (process_vm_readv, /proc/PID/mem), every mapping whole;
//  - stream (core_pipe_limit 0): the kernel lets the task go once the core is written, so
//    /proc and the memory the kernel omits are read first, while it is blocked on the full
//    pipe, and the rest comes from the core itself, spooled as it arrives.

import { closeSync, openSync } from "node:fs";
import { rethrowIfGone } from "../../errors.ts";
import type { Phdr } from "../../elf/records.ts";
import type { MemoryReader, ProcessImage, ProcessInfo } from "../../model/image.ts";
import { readFds } from "../../proc/fds.ts";
import { readCmdline, readEnviron, readExeLink, readPersonality } from "../../proc/process.ts";
import { isDumpable, readSmaps } from "../../proc/smaps.ts";
import { readSockets } from "../../proc/sockets.ts";
import { readStat } from "../../proc/stat.ts";
import { readStatus } from "../../proc/status.ts";
import { LiveMemory } from "../memory.ts";
import { buildProcfsTarball } from "../procfs.ts";
import type { KernelCoreHead } from "./head.ts";
import type { CoreInput } from "./input.ts";
import { decodeKernelNotes, type KernelNotes } from "./notes.ts";
import { SpoolFile, SpoolMemory, type OmittedRange } from "./spool.ts";

export type MemoryPath = "direct" | "stream";

export interface Crash {
  image: ProcessImage;
  decoded: KernelNotes;
  path: MemoryPath;
  /** Stream path: the raw core as the kernel wrote it (complete once the image is returned). */
  spool?: SpoolFile;
  /**
   * The executable, opened while the process still existed (its /proc/PID/exe is gone once a
   * stream-path crash has been written), as a path that reopens that same file.
   */
  exePath: string;
  /** Releases the memory reader and the spool files. */
  close(): void;
}

const CHUNK = 8 << 20;

/** What /proc says of the dying process; fds, sockets and the tarball cost only a problem line if they fail. */
function readInfo(pid: number, mapsText: string, auxv: Uint8Array, problems: string[]): ProcessInfo {
  const stat = readStat(pid);
  const status = readStatus(pid);
  const { utimeUs, stimeUs, cutimeUs, cstimeUs } = stat;
  const info: ProcessInfo = {
    pid, ppid: stat.ppid, pgrp: stat.pgrp, sid: stat.session, uid: status.uid[0], gid: status.gid[0],
    state: stat.state, nice: stat.nice, flags: stat.flags, comm: stat.comm, groupTimes: { utimeUs, stimeUs, cutimeUs, cstimeUs },
    cmdline: readCmdline(pid), environ: readEnviron(pid), exe: readExeLink(pid), auxv,
    mapsText, personality: readPersonality(pid), fds: [], sockets: new Map(),
  };
  const attempt = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      rethrowIfGone(e);
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  attempt("open files", () => void (info.fds = readFds(pid)));
  attempt("sockets", () => void (info.sockets = readSockets(pid)));
  attempt(".procfs.tgz", () => void (info.procfsTgz = buildProcfsTarball(pid)));
  return info;
}

/** Ranges of dumpable mappings the kernel writes short (p_filesz < p_memsz): read them from the task now. */
function readOmitted(loads: Phdr[], image: ProcessImage, mem: MemoryReader, extras: SpoolFile): OmittedRange[] {
  const out: OmittedRange[] = [];
  const buf = new Uint8Array(CHUNK);
  for (const l of loads) {
    if (l.p_filesz >= l.p_memsz) continue;
    const m = image.mappings.find((x) => x.start === l.p_vaddr);
    if (!m || !isDumpable(m) || (m.path === "[vsyscall]" && !m.perms.startsWith("r"))) continue;
    const addr = l.p_vaddr + l.p_filesz;
    const len = l.p_memsz - l.p_filesz;
    const range: OmittedRange = { addr, got: 0, at: extras.length };
    for (let done = 0n; done < len; ) {
      const want = len - done < BigInt(buf.byteLength) ? Number(len - done) : buf.byteLength;
      const n = mem.read(addr + done, buf.subarray(0, want));
      if (n > 0) extras.write(buf.subarray(0, n), range.at + range.got);
      range.got += n;
      done += BigInt(n);
      if (n < want) break; // the rest of this range is a hole
    }
    if (range.got > 0) out.push(range);
  }
  return out;
}

/** Can the dying process's memory be read in place? Tried on the first byte of a readable mapping the kernel dumps. */
function readsInPlace(image: ProcessImage, mem: MemoryReader): boolean {
  const m = image.mappings.find((x) => x.perms.startsWith("r") && isDumpable(x));
  return m === undefined || mem.read(m.start, new Uint8Array(1)) === 1;
}

/**
 * Build the image of the crashing `pid` whose core head was just read from `input`. The stream
 * path needs `spoolDir` (the cores directory) for its unnamed files and reads stdin to EOF.
 */
export function captureCrash(input: CoreInput, head: KernelCoreHead, pid: number, path: MemoryPath, spoolDir: string): Crash {
  const decoded = decodeKernelNotes(head.cls, head.notes);
  const problems: string[] = [];
  let exeFd: number | undefined;
  try {
    exeFd = openSync(`/proc/${pid}/exe`, "r");
  } catch (e) {
    problems.push(`the executable: ${(e as Error).message}`);
  }
  const exePath = exeFd === undefined ? `/proc/${pid}/exe` : `/proc/self/fd/${exeFd}`;
  const closeExe = () => {
    if (exeFd !== undefined) closeSync(exeFd);
    exeFd = undefined;
  };
  const live = new LiveMemory(pid);
  let spool: SpoolFile | undefined;
  let extras: SpoolFile | undefined;
  try {
    const { mappings, mapsText } = readSmaps(pid);
    const image: ProcessImage = {
      cls: head.cls, info: readInfo(pid, mapsText, decoded.auxv, problems), threads: decoded.threads, mappings, mem: live, problems,
      kernelNotes: head.notes.map((n) => ({ name: n.name, type: n.type, desc: n.desc })),
    };
    if (path === "direct" && readsInPlace(image, live)) return { image, decoded, path, exePath, close: () => (live.close(), closeExe()) };
    if (path === "direct") problems.push("the process's memory could not be read in place (ptrace_scope, a security module?): taken from the kernel's core");

    spool = new SpoolFile(spoolDir);
    extras = new SpoolFile(spoolDir);
    const omitted = readOmitted(head.loads, image, live, extras);
    live.close();
    spool.write(input.kept(), 0);
    input.pump((chunk, at) => spool!.write(chunk, at));
    spool.finish();
    extras.finish();
    image.mem = new SpoolMemory(spool, head.loads, extras, omitted);
    const [sp, ex] = [spool, extras];
    return { image, decoded, path: "stream", spool: sp, exePath, close: () => (sp.close(), ex.close(), closeExe()) };
  } catch (e) {
    live.close();
    closeExe();
    extras?.close();
    spool?.close();
    throw e;
  }
}
