// Compile a C file of test/reader/ with given flags, once per source, flags and compiler
// (cached like test/helpers/fixtures.ts buildFixture, whose sources live in test/fixtures/).

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE_CACHE } from "../helpers/fixtures.ts";

export function compile(name: string, flags: string[]): string {
  const src = join(import.meta.dir, `${name}.c`);
  const cc = spawnSync("cc", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0] ?? "";
  const key = createHash("sha256").update(cc).update(JSON.stringify(flags)).update(readFileSync(src)).digest("hex").slice(0, 16);
  mkdirSync(FIXTURE_CACHE, { recursive: true });
  const out = join(FIXTURE_CACHE, `reader-${name}-${key}`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync("cc", ["-O0", ...flags, "-o", tmp, src], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cc ${flags.join(" ")} ${src} failed:\n${r.stderr}`);
  renameSync(tmp, out);
  return out;
}

/** stdout of a tool, or an Error with its stderr. */
export function tool(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}
