// The crash handler against the kernel's own ways of saving a crash, on the same program
// (test/fixtures/crasher.c, with N MiB of touched heap), best of N after a warm-up; part of
// `bun run bench` (scripts/bench.ts), or alone: bun scripts/bench-handler.ts [MiB...] (default
// a small one and 1024 MiB), which builds dist/ecfs into a temporary directory first:
//   kernel file   core_pattern = a file (the kernel writes the core itself)
//   cat pipe      core_pattern = |script that runs `cat > file`, core_pipe_limit 4
//   ecfs direct   ecfs handler (the built dist binary), core_pipe_limit 4: memory read in place
//   ecfs stream   the same with core_pipe_limit 0: memory from the stream
// For each: signal to file complete, how long the crashing process took to die (signal to
// exit: what the kernel made it wait), the handler's peak RSS (ecfs logs its own), and the file
// size. Needs root; core_pattern is set under the tests' lock and restored afterwards.

import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withCorePattern } from "../test/helpers/corepattern.ts";
import { buildFixture } from "../test/helpers/fixtures.ts";

const root = join(import.meta.dir, "..");

/** `bun run build` into `dir`/dist; returns the executable. */
export function buildEcfs(dir: string): string {
  const dist = join(dir, "dist");
  const b = spawnSync(process.execPath, [join(root, "scripts", "build.ts")], { encoding: "utf8", env: { ...process.env, ECFS_DIST: dist } });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  return join(dist, "ecfs");
}

interface Method {
  name: string;
  pattern: (dir: string) => string;
  pipeLimit: number;
  /** When the file is complete: the process's exit, or the handler's log line. */
  doneBy: "exit" | "log";
}

function methods(ecfs: string, work: string): Method[] {
  const cat = join(work, "cat.sh");
  writeFileSync(cat, `#!/bin/sh\nexec cat > "$1/core.$2"\n`);
  chmodSync(cat, 0o755);
  const handler = (dir: string) => `|${ecfs} handler -P %P -F %F -d ${dir} --log ${dir}/log --max-use 1T --keep-free 0`;
  return [
    { name: "kernel file", pattern: (dir) => join(dir, "core.%p"), pipeLimit: 0, doneBy: "exit" },
    { name: "cat pipe", pattern: (dir) => `|${cat} ${dir} %P`, pipeLimit: 4, doneBy: "exit" },
    { name: "ecfs direct", pattern: handler, pipeLimit: 4, doneBy: "log" },
    { name: "ecfs stream", pattern: handler, pipeLimit: 0, doneBy: "log" },
  ];
}

interface Sample {
  fileMs: number;
  exitMs: number;
  rssMiB?: number;
  bytes: number;
}

export interface HandlerRow extends Sample {
  /** Touched heap of the crashing program; 0 for a small one. */
  mib: number;
  method: string;
}

async function once(exe: string, mib: number, m: Method, work: string): Promise<Sample> {
  const dir = join(work, "c");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o777 });
  const args = ["segv", ...(mib > 0 ? ["--heap-mib", String(mib)] : [])];
  const proc = Bun.spawn(["sh", "-c", 'ulimit -c unlimited; exec "$0" "$@"', exe, ...args], { stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) throw new Error("crasher: no ready line");
    text += new TextDecoder().decode(r.value);
  }
  const pid = (JSON.parse(text.slice(0, text.indexOf("\n"))) as { pid: number }).pid;
  return withCorePattern(m.pattern(dir), m.pipeLimit, async () => {
    const t0 = performance.now();
    process.kill(pid, "SIGUSR1");
    await proc.exited;
    const exitMs = performance.now() - t0;
    let fileMs = exitMs;
    let rssMiB: number | undefined;
    if (m.doneBy === "log") {
      const log = join(dir, "log");
      for (;;) {
        const line = existsSync(log) ? readFileSync(log, "utf8") : "";
        if (line.includes(`pid ${pid} `)) {
          fileMs = performance.now() - t0;
          rssMiB = Number(/peak RSS (\d+) MiB/.exec(line)?.[1] ?? Number.NaN);
          if (!line.includes("ECFS ")) throw new Error(`handler failed: ${line}`);
          break;
        }
        if (performance.now() - t0 > 120_000) throw new Error(`no log line for ${pid}`);
        await Bun.sleep(2);
      }
    } else {
      // A pipe helper may still be flushing after the process is gone.
      for (let i = 0; i < 100 && !readdirSync(dir).some((f) => f.startsWith("core.")); i++) await Bun.sleep(5);
    }
    const file = readdirSync(dir).find((f) => f.startsWith("core.") || /\.\d+$/.test(f));
    const bytes = file ? statSync(join(dir, file)).size : 0;
    return { fileMs, exitMs, rssMiB, bytes };
  });
}

/** Each method on a crash of each size: the best of `runs` after a warm-up (by signal to file). */
export async function benchHandler(ecfs: string, sizes: number[], runs: number, onRow?: (r: HandlerRow) => void): Promise<HandlerRow[]> {
  const exe = buildFixture("crasher", { libs: ["-pthread"] });
  const work = mkdtempSync("/tmp/eb-");
  const rows: HandlerRow[] = [];
  try {
    for (const mib of sizes) {
      for (const m of methods(ecfs, work)) {
        await once(exe, mib, m, work); // warm-up
        const samples: Sample[] = [];
        for (let i = 0; i < runs; i++) samples.push(await once(exe, mib, m, work));
        const best = samples.reduce((a, b) => (b.fileMs < a.fileMs ? b : a));
        const row = { mib, method: m.name, ...best };
        rows.push(row);
        onRow?.(row);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

export function handlerTable(rows: HandlerRow[]): string {
  const out = ["| touched heap | method | signal to file | process waited | handler peak RSS | file size |", "|---|---|---|---|---|---|"];
  for (const r of rows) {
    const rss = r.rssMiB === undefined ? "-" : `${r.rssMiB} MiB`;
    out.push(`| ${r.mib === 0 ? "small (1 MiB)" : `${r.mib} MiB`} | ${r.method} | ${r.fileMs.toFixed(0)} ms | ${r.exitMs.toFixed(0)} ms | ${rss} | ${(r.bytes / 1048576).toFixed(1)} MiB |`);
  }
  return out.join("\n");
}

if (import.meta.main) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 0);
  const work = mkdtempSync("/tmp/eb-build-");
  try {
    const rows = await benchHandler(buildEcfs(work), sizes.length > 0 ? sizes : [0, 1024], 3, (r) => process.stderr.write(`${handlerTable([r]).split("\n")[2]}\n`));
    process.stdout.write(`${handlerTable(rows)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
