// bun run build [--all] [TARGET...]: single-file executables with `bun build --compile`, one per
// target (default: this machine's), in dist/, each with the original tools' names as links
// beside it (readecfs, ecfs_handler, ecfs_snapshot, et_flip: src/main.ts PROGRAM_NAMES).
// --all adds bun-linux-x64-baseline (CPUs without AVX2) and bun-linux-x64-musl (Alpine and
// other musl systems) in dist/<target>/. Other targets fetch their runtime from the npm
// registry. There is no 32-bit Bun: the x86-64 executable captures i386 processes too.

import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const ALL = ["bun-linux-x64-baseline", "bun-linux-x64-musl"];
const LINKS = ["readecfs", "ecfs_handler", "ecfs_snapshot", "et_flip"];
const argv = process.argv.slice(2);
const named = argv.filter((a) => a !== "--all");
const targets: (string | undefined)[] = argv.includes("--all") ? [undefined, ...ALL, ...named.filter((t) => !ALL.includes(t))] : named.length > 0 ? named : [undefined];
const outDir = process.env.ECFS_DIST ?? join(root, "dist");
mkdirSync(outDir, { recursive: true });

for (const target of targets) {
  const dir = target ? join(outDir, target) : outDir;
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, "ecfs");
  // CommonJS with bytecode: each module (node:fs, bun:ffi and the rest) is evaluated only when a
  // command first needs it, and nothing is parsed at startup (README "Benchmark": startup). No
  // .env or bunfig.toml from the working directory: they would change what runs (as root, too).
  const args = [
    "build", "--compile", "--minify", "--format=cjs", "--bytecode", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    join(root, "src", "main.ts"), "--outfile", outfile,
  ];
  if (target) args.push(`--target=${target}`);
  const r = Bun.spawnSync([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) {
    process.stderr.write(`build: bun build failed for ${target ?? "this machine"}\n`);
    process.exit(1);
  }
  for (const name of LINKS) {
    const link = join(dir, name);
    rmSync(link, { force: true });
    symlinkSync("ecfs", link);
  }
  process.stdout.write(`${outfile} (and ${LINKS.join(", ")} beside it)\n`);
}
