// Why the kernel refused to let us trace a process (EPERM from PTRACE_SEIZE), from what this
// machine really has, in the order the kernel checks (kernel/ptrace.c __ptrace_may_access):
// a caller whose uid and gid differ from the target's needs CAP_SYS_PTRACE; then commoncap
// refuses a caller whose permitted set lacks some capability the target holds, unless it has
// CAP_SYS_PTRACE in the target's user namespace; then Yama (only when the kernel has it:
// /proc/sys/kernel/yama exists) and other security modules (listed in /sys/kernel/security/lsm
// when securityfs is mounted) add their rules. Only what is present is named.

import { readFileSync } from "node:fs";
import { readProcText } from "../proc/read.ts";
import { parseStatus, type ProcStatus, readStatus } from "../proc/status.ts";

/** linux/capability.h, by bit number. */
const CAPS = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
];
const CAP_SYS_PTRACE = 19n;
/** Named one by one up to this many; the rest are counted. */
const NAMED_MAX = 4;

/** Security modules whose rules can refuse a ptrace attach (capability and Yama are told apart). */
const PTRACE_LSMS = new Set(["selinux", "apparmor", "smack", "tomoyo", "landlock", "bpf"]);

export function capNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0n; mask >> bit !== 0n; bit++) if ((mask >> bit) & 1n) out.push(`CAP_${CAPS[Number(bit)] ?? `${bit}`}`);
  return out;
}

function listed(names: string[]): string {
  const shown = names.slice(0, NAMED_MAX).join(", ");
  return names.length > NAMED_MAX ? `${shown} and ${names.length - NAMED_MAX} more` : shown;
}

const YAMA: Record<string, string> = {
  "1": "kernel.yama.ptrace_scope is 1: only an ancestor of the process may trace it, unless it has CAP_SYS_PTRACE",
  "2": "kernel.yama.ptrace_scope is 2: only a process with CAP_SYS_PTRACE may trace",
  "3": "kernel.yama.ptrace_scope is 3: no process may trace another (until reboot)",
};

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "latin1").trim();
  } catch {
    return undefined;
  }
}

/** What this machine has that bears on tracing: read fresh, the moment the kernel said no. */
export interface PtraceFacts {
  us: ProcStatus;
  target: ProcStatus;
  /** kernel.yama.ptrace_scope, or undefined where the kernel has no Yama. */
  yamaScope?: string;
  /** /sys/kernel/security/lsm split, or undefined where it cannot be read. */
  lsms?: string[];
}

export function ptraceFacts(pid: number): PtraceFacts {
  return {
    us: parseStatus(readProcText("/proc/self/status"), "/proc/self/status"),
    target: readStatus(pid),
    yamaScope: readOptional("/proc/sys/kernel/yama/ptrace_scope"),
    lsms: readOptional("/sys/kernel/security/lsm")?.split(",").filter(Boolean),
  };
}

/** The causes, as one sentence after "not permitted to trace pid N (comm): ". */
export function whyNotPermitted(f: PtraceFacts): string {
  const causes: string[] = [];
  const canOverride = ((f.us.capEff ?? 0n) >> CAP_SYS_PTRACE) & 1n;
  const sameIds = f.target.uid.slice(0, 3).every((u) => u === f.us.uid[0]) && f.target.gid.slice(0, 3).every((g) => g === f.us.gid[0]);
  const missing = (f.target.capPrm ?? 0n) & ~(f.us.capPrm ?? 0n);
  if (!sameIds && !canOverride) {
    const who = f.target.uid[1] === 0 ? "root (uid 0)" : `uid ${f.target.uid[1]}`;
    causes.push(`it runs as ${who} and this process as uid ${f.us.uid[0]}, without CAP_SYS_PTRACE: run as root or as that user`);
  } else if (missing !== 0n) {
    causes.push(`it holds capabilities this process lacks (${listed(capNames(missing))})`);
  }
  // Scopes 1 and 2 give way to CAP_SYS_PTRACE; 3 to nothing.
  const yama = f.yamaScope === undefined ? undefined : YAMA[f.yamaScope];
  if (yama && (f.yamaScope === "3" || !canOverride)) causes.push(yama);
  const lsms = f.lsms?.filter((m) => PTRACE_LSMS.has(m)) ?? [];
  if (lsms.length > 0) causes.push(`security modules that may refuse it are active (${lsms.join(", ")}; see /sys/kernel/security/lsm)`);
  if (causes.length === 0) {
    const unknown = f.lsms === undefined ? "a security module (/sys/kernel/security/lsm cannot be read) or another user namespace" : "another user namespace";
    causes.push(`no cause is visible from here (no uid or capability of its that this process lacks${f.yamaScope === undefined ? ", no Yama" : ""}): ${unknown} may refuse it`);
  }
  return causes.join("; ");
}
