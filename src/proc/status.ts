// Trust model: /proc/PID/status is kernel text; only Name is target-chosen (escaped by the kernel).
// Required fields must be present and numeric; signal masks are 64-bit hex and stay bigint.

import { ProcParseError } from "../errors.ts";
import { readProcText } from "./read.ts";

export interface ProcStatus {
  /** comm with the kernel's escapes ("\\n", "\\\\") undone. */
  name: string;
  /** State letter, from "S (sleeping)". */
  state: string;
  tgid: number;
  pid: number;
  ppid: number;
  tracerPid: number;
  /** Real, effective, saved, filesystem. */
  uid: [number, number, number, number];
  gid: [number, number, number, number];
  threads: number;
  sigPnd: bigint;
  shdPnd: bigint;
  sigBlk: bigint;
  sigIgn: bigint;
  sigCgt: bigint;
  /** Pid in each pid namespace, outermost first (since 4.1). */
  nspid?: number[];
  /** "Seccomp:" mode: 0 none, 1 strict, 2 filter; undefined where the kernel lacks it. */
  seccomp?: number;
  /** "Kthread:" line of recent kernels (6.18 prints it); undefined where absent. */
  kthread?: boolean;
  /** Permitted and effective capability sets, bit n = capability n (linux/capability.h). */
  capPrm?: bigint;
  capEff?: bigint;
}

/** Undoes string_escape_str(..., ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\") in proc_task_name(). */
function unescapeName(s: string): string {
  return s.replace(/\\([n\\])/g, (_, c: string) => (c === "n" ? "\n" : "\\"));
}

/** Splits status text into "Key" -> value (tab after the colon stripped, rest kept verbatim). */
function fields(text: string): Map<string, { value: string; line: number }> {
  const out = new Map<string, { value: string; line: number }>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    // Name is first: keep the first occurrence of every key so nothing later can shadow it.
    if (!out.has(key)) out.set(key, { value: line.slice(colon + 1).replace(/^\t/, ""), line: i + 1 });
  }
  return out;
}

export function parseStatus(text: string, source = "status"): ProcStatus {
  const f = fields(text);
  const get = (key: string): { value: string; line: number } => {
    const v = f.get(key);
    if (v === undefined) throw new ProcParseError(source, 0, `no ${key} field`);
    return v;
  };
  const ints = (key: string): number[] => {
    const { value, line } = get(key);
    const parts = value.trim().split(/\s+/);
    for (const p of parts) if (!/^\d+$/.test(p)) throw new ProcParseError(source, line, `${key}: bad number "${p}"`);
    return parts.map(Number);
  };
  const int = (key: string): number => {
    const [v] = ints(key);
    if (v === undefined) throw new ProcParseError(source, get(key).line, `${key}: empty`);
    return v;
  };
  const four = (key: string): [number, number, number, number] => {
    const [a, b, c, d, ...more] = ints(key);
    if (a === undefined || b === undefined || c === undefined || d === undefined || more.length > 0)
      throw new ProcParseError(source, get(key).line, `${key}: want 4 ids`);
    return [a, b, c, d];
  };
  const mask = (key: string): bigint => {
    const { value, line } = get(key);
    const v = value.trim();
    if (!/^[0-9a-f]{1,16}$/.test(v)) throw new ProcParseError(source, line, `${key}: bad mask "${v}"`);
    return BigInt(`0x${v}`);
  };

  const stateText = get("State").value.trim();
  const state = stateText.charAt(0);
  if (!/^[A-Za-z]$/.test(state)) throw new ProcParseError(source, get("State").line, `bad state "${stateText}"`);

  const out: ProcStatus = {
    name: unescapeName(get("Name").value),
    state,
    tgid: int("Tgid"),
    pid: int("Pid"),
    ppid: int("PPid"),
    tracerPid: int("TracerPid"),
    uid: four("Uid"),
    gid: four("Gid"),
    threads: int("Threads"),
    sigPnd: mask("SigPnd"),
    shdPnd: mask("ShdPnd"),
    sigBlk: mask("SigBlk"),
    sigIgn: mask("SigIgn"),
    sigCgt: mask("SigCgt"),
  };
  if (f.has("NSpid")) out.nspid = ints("NSpid");
  if (f.has("Seccomp")) out.seccomp = int("Seccomp");
  if (f.has("Kthread")) out.kthread = int("Kthread") !== 0;
  if (f.has("CapPrm")) out.capPrm = mask("CapPrm");
  if (f.has("CapEff")) out.capEff = mask("CapEff");
  return out;
}

export function readStatus(pid: number): ProcStatus {
  const path = `/proc/${pid}/status`;
  return parseStatus(readProcText(path), path);
}
