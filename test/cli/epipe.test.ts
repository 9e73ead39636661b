// A reader that closes our stdout early (`ecfs read -a x | head -1`) ends the command quietly:
// exit 141 (128 + SIGPIPE, as a shell shows for cat), nothing on stderr. Every command, run
// from the sources and as the compiled binary, through a real shell pipe.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAIN, ecfs } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, taskState, type RunningFixture } from "../helpers/fixtures.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-epipe-"));
let fx: RunningFixture;
let file: string;
beforeAll(async () => {
  const b = spawnSync(process.execPath, [join(import.meta.dir, "..", "..", "scripts", "build.ts")], { encoding: "utf8", env: { ...process.env, ECFS_DIST: join(work, "dist") } });
  expect(b.status).toBe(0);
  fx = await startFixture(buildFixture("patterns"));
  file = join(work, "x.ecfs");
  expect(ecfs(["snapshot", "-p", String(fx.pid), "-o", file]).code).toBe(0);
});
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

const quote = (w: string): string => `'${w.replaceAll("'", "'\\''")}'`;

/**
 * Runs `ecfs ARGS | READER` in bash; the exit status and stderr of ecfs alone. With `true` as
 * the reader, ecfs starts only after half a second, so the pipe is surely closed by then.
 */
function piped(ecfsCmd: string[], args: string[], reader: string): { status: number; stderr: string } {
  const err = join(work, "stderr");
  const wait = reader === "true" ? "sleep 0.5; " : "";
  const script = `{ ${wait}exec ${[...ecfsCmd, ...args].map(quote).join(" ")} 2>${quote(err)}; } | ${reader}; exit \${PIPESTATUS[0]}`;
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  return { status: r.status ?? -1, stderr: readFileSync(err, "utf8") };
}

for (const how of ["bun src/main.ts", "compiled dist/ecfs"] as const)
  describe(how, () => {
    const cmd = () => (how === "bun src/main.ts" ? [process.execPath, MAIN] : [join(work, "dist", "ecfs")]);

    test("read: the reader stops after one line, or reads nothing at all", () => {
      for (const args of [["read", "-a", file], ["read", "-s", file], ["read", "--json", "-a", file]])
        for (const reader of ["head -1 >/dev/null", "true"])
          expect([args.join(" "), reader, piped(cmd(), args, reader)]).toEqual([args.join(" "), reader, { status: 141, stderr: "" }]);
    });

    test("--help, read --help, snapshot --help, flip", () => {
      for (const args of [["--help"], ["read", "--help"], ["snapshot", "--help"], ["flip", file]])
        expect([args.join(" "), piped(cmd(), args, "true")]).toEqual([args.join(" "), { status: 141, stderr: "" }]);
    });

    test("snapshot: the file is written and the target runs on; only the summary line is lost", async () => {
      const out = join(work, `closed-${how.length}.ecfs`);
      expect(piped(cmd(), ["snapshot", "-p", String(fx.pid), "-o", out], "true")).toEqual({ status: 141, stderr: "" });
      expect(existsSync(out)).toBe(true);
      expect(spawnSync("readelf", ["-h", out], { encoding: "utf8" }).stdout).toMatch(/Type:\s+NONE/);
      // Resumed, it may still be on its way back into its sleep.
      for (const until = Date.now() + 2000; taskState(fx.pid, fx.pid) !== "S" && Date.now() < until; ) await Bun.sleep(5);
      expect(taskState(fx.pid, fx.pid)).toBe("S");
      expect(/^TracerPid:\s*0$/m.test(readFileSync(`/proc/${fx.pid}/status`, "latin1"))).toBe(true);
    });
  });
