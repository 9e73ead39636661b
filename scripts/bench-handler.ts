// bun scripts/bench-handler.ts [MiB...]: the crash handler against the kernel's own ways of
// saving a crash, on the same program (test/fixtures/crasher.c, with N MiB of touched heap;
// default a small one and 1024 MiB), best of 3 after a warm-up:
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
const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 0);
const work = mkdtempSync("/tmp/eb-");
const RUNS = 3;

function buildEcfs(): string {
  const dist = join(work, "dist");
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

function methods(ecfs: string): Method[] {
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

async function once(exe: string, mib: number, m: Method): Promise<Sample> {
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

const exe = buildFixture("crasher", { libs: ["-pthread"] });
const ecfs = buildEcfs();
const out: string[] = ["| touched heap | method | signal to file | process waited | handler peak RSS | file size |", "|---|---|---|---|---|---|"];
try {
  for (const mib of sizes.length > 0 ? sizes : [0, 1024]) {
    for (const m of methods(ecfs)) {
      await once(exe, mib, m); // warm-up
      const samples: Sample[] = [];
      for (let i = 0; i < RUNS; i++) samples.push(await once(exe, mib, m));
      const best = samples.reduce((a, b) => (b.fileMs < a.fileMs ? b : a));
      const rss = best.rssMiB === undefined ? "-" : `${best.rssMiB} MiB`;
      const row = `| ${mib === 0 ? "small (1 MiB)" : `${mib} MiB`} | ${m.name} | ${best.fileMs.toFixed(0)} ms | ${best.exitMs.toFixed(0)} ms | ${rss} | ${(best.bytes / 1048576).toFixed(1)} MiB |`;
      out.push(row);
      process.stderr.write(`${row}\n`);
    }
  }
  process.stdout.write(`${out.join("\n")}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
