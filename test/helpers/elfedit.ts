// Small edits of real binaries for fixtures the toolchain cannot produce directly.

import { copyFileSync, existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";

/**
 * A copy of `exe` without section headers (e_shoff, e_shnum, e_shstrndx zeroed): what
 * sstrip makes, and what malware often ships. The kernel runs it unchanged.
 */
export function withoutSectionHeaders(exe: string): string {
  const out = `${exe}.noshdr`;
  if (existsSync(out)) return out;
  const b = Buffer.from(readFileSync(exe));
  if (b[4] === 2) {
    b.writeBigUInt64LE(0n, 40);
    b.writeUInt16LE(0, 60);
    b.writeUInt16LE(0, 62);
  } else {
    b.writeUInt32LE(0, 32);
    b.writeUInt16LE(0, 48);
    b.writeUInt16LE(0, 50);
  }
  const tmp = `${out}.${process.pid}`;
  writeFileSync(tmp, b);
  chmodSync(tmp, 0o755);
  copyFileSync(tmp, out);
  chmodSync(out, 0o755);
  return out;
}
