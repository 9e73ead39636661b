// Run our own CLI the way a user does: a separate `bun src/main.ts ...` process, so exit
// codes, stderr lines and signal handling are the real ones.

import { spawnSync } from "node:child_process";
import { join } from "node:path";

export const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

export interface EcfsRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function ecfs(args: string[], opts: { timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {}): EcfsRun {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 120_000,
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`ecfs ${args.join(" ")}: ${r.error.message}`);
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** Start the CLI without waiting (for signal tests). */
export function ecfsAsync(args: string[]) {
  return Bun.spawn([process.execPath, MAIN, ...args], { stdout: "pipe", stderr: "pipe" });
}
