// Which process is dying. The kernel names it three ways: the pidfd it installs for %F (Linux
// 6.16+: immune to pid reuse), %P (its pid in the initial namespace, which /proc here uses), and
// %p (its pid inside its own pid namespace: what the original passed, wrong for containers).
// Whichever is used, /proc/PID/status must agree with the kernel's own core: the innermost
// NSpid is the pid the core's NT_PRPSINFO holds (task_tgid_vnr of the dumping task).

import { readFileSync } from "node:fs";
import { TargetError } from "../errors.ts";
import { readStatus } from "../proc/status.ts";

/** The pid a pidfd refers to, from the "Pid:" line of its fdinfo (-1 once the process is gone). */
export function pidOfPidfd(fd: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  } catch {
    return undefined;
  }
  const m = /^Pid:\s*(-?\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function findPid(opts: { pid?: number; nsPid?: number; pidfd?: number }, corePid: number): number {
  const fromFd = opts.pidfd === undefined ? undefined : pidOfPidfd(opts.pidfd);
  if (fromFd !== undefined && fromFd <= 0) throw new TargetError(corePid, `the pidfd ${opts.pidfd} names no live process (Pid: ${fromFd})`);
  const pid = fromFd ?? opts.pid ?? opts.nsPid;
  if (pid === undefined) throw new TargetError(corePid, "no pid given (-P %P, -F %F or -p %p)");
  const status = readStatus(pid);
  const inner = status.nspid?.[status.nspid.length - 1] ?? status.tgid;
  if (status.tgid !== pid || inner !== corePid)
    throw new TargetError(pid, `/proc/${pid} is not the dying process (its pid in its namespace is ${inner}, the core says ${corePid})`);
  return pid;
}
