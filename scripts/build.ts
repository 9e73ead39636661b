// bun run build [TARGET...]: single-file executables with `bun build --compile`, one per
// target (default: this machine's), in dist/, each with a `readecfs` link beside it.
// Other targets (bun-linux-x64-musl, bun-linux-arm64, ...) fetch their runtime from the npm
// registry. There is no 32-bit Bun: the x86-64 executable snapshots i386 processes too.

import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const targets = process.argv.slice(2);
const outDir = process.env.ECFS_DIST ?? join(root, "dist");
mkdirSync(outDir, { recursive: true });

for (const target of targets.length > 0 ? targets : [undefined]) {
  const dir = target ? join(outDir, target) : outDir;
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, "ecfs");
  const args = ["build", "--compile", "--minify", join(root, "src", "main.ts"), "--outfile", outfile];
  if (target) args.push(`--target=${target}`);
  const r = Bun.spawnSync([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) {
    process.stderr.write(`build: bun build failed for ${target ?? "this machine"}\n`);
    process.exit(1);
  }
  const link = join(dir, "readecfs");
  rmSync(link, { force: true });
  symlinkSync("ecfs", link);
  process.stdout.write(`${outfile} (and ${link})\n`);
}
