// CPUID through the kernel's cpuid driver (/dev/cpu/N/cpuid: a pread at offset
// leaf | subleaf << 32 returns eax, ebx, ecx, edx). Used for the XSAVE layout that the
// kernel records in its cores as NT_X86_XSAVE_LAYOUT; absent driver, absent answer.

import { closeSync, openSync, readSync } from "node:fs";

export interface XfeatComponent {
  type: number;
  size: number;
  offset: number;
}

/**
 * The standard-format offset and size of every extended XSAVE feature set in `xcr0`
 * (CPUID leaf 0xD, sub-leaf = feature number), as the kernel's dump_xsave_layout_desc()
 * lists them. undefined when /dev/cpu/0/cpuid cannot be read.
 */
export function xsaveLayout(xcr0: bigint): XfeatComponent[] | undefined {
  let fd: number;
  try {
    fd = openSync("/dev/cpu/0/cpuid", "r");
  } catch {
    return undefined; // no cpuid driver (CONFIG_X86_CPUID) or no permission: the note is optional
  }
  try {
    const out: XfeatComponent[] = [];
    const regs = new Uint8Array(16);
    const dv = new DataView(regs.buffer);
    for (let i = 2; i < 64; i++) {
      if (((xcr0 >> BigInt(i)) & 1n) === 0n) continue;
      if (readSync(fd, regs, 0, 16, 0xd + i * 2 ** 32) !== 16) return undefined;
      out.push({ type: i, size: dv.getUint32(0, true), offset: dv.getUint32(4, true) });
    }
    return out;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
