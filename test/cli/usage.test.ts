// The command line itself: booleans take only on/off spellings, an option given twice or in a
// form getopt would misread is an error naming the form that works, gcore's bare pid works,
// `ecfs help` and misplaced options get an answer, help has no colour escapes off a terminal
// or under NO_COLOR, and help run as readecfs says readecfs. A refused line takes no snapshot.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAIN, ecfs } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, type RunningFixture } from "../helpers/fixtures.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-usage-"));
let fx: RunningFixture;
beforeAll(async () => {
  fx = await startFixture(buildFixture("patterns"));
});
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

const eType = (path: string): string => /Type:\s+(\S+)/.exec(spawnSync("readelf", ["-h", path], { encoding: "utf8" }).stdout)?.[1] ?? "?";
const tracer = (): string => /^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${fx.pid}/status`, "latin1"))?.[1] ?? "?";

/** A usage error: exit 2, one line, nothing on stdout, no file. */
function usageLine(args: string[]): string {
  const r = ecfs(args, { cwd: work });
  expect([args.join(" "), r.code, r.stdout]).toEqual([args.join(" "), 2, ""]);
  expect(r.stderr.split("\n").length).toBe(2);
  expect(readdirSync(work)).toEqual([]);
  return r.stderr.trimEnd();
}

describe("snapshot options", () => {
  test("a boolean is on or off: --core=no, --low-pause=no, =yes, --no-core=false are refused with the forms that work", () => {
    const pid = String(fx.pid);
    for (const [word, name] of [["--core=no", "core"], ["--low-pause=no", "low-pause"], ["--core=yes", "core"], ["--no-core=false", "core"], ["--force=1", "force"]])
      expect(usageLine(["snapshot", "-p", pid, word!])).toBe(
        `ecfs: snapshot: ${word}: --${name} is on or off: write --${name} or --no-${name} (or --${name}=true, --${name}=false)`,
      );
    expect(usageLine(["snapshot", "-p", pid, "--core", "--no-core"])).toBe("ecfs: snapshot: --core and --no-core contradict each other; give one");
    expect(tracer()).toBe("0");
  });

  test("--core=true and --core=false mean what they say (readelf judges)", () => {
    for (const [word, type] of [["--core=true", "CORE"], ["--core=false", "NONE"], ["--no-core", "NONE"], ["--core", "CORE"]]) {
      const out = join(work, "b.ecfs");
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", out, word!]);
      expect([word, r.code, r.stderr]).toEqual([word, 0, ""]);
      expect([word, eType(out)]).toEqual([word, type]);
      rmSync(out);
    }
  });

  test("-p twice, -p=PID, -p without a value: one line naming the valid form", () => {
    const pid = String(fx.pid);
    expect(usageLine(["snapshot", "-p", "1", "-p", pid])).toBe(`ecfs: snapshot: -p 1 and -p ${pid}: --pid is given twice; give it once`);
    expect(usageLine(["snapshot", "--pid", pid, "-p", pid])).toBe(`ecfs: snapshot: --pid ${pid} and -p ${pid}: --pid is given twice; give it once`);
    expect(usageLine(["snapshot", `-p=${pid}`])).toBe(`ecfs: snapshot: -p=${pid}: write -p PID, -pPID, --pid PID or --pid=PID`);
    expect(usageLine(["snapshot", "-o", "x.ecfs", "-p"])).toBe("ecfs: snapshot: -p needs a value (-p PID, -pPID, --pid PID or --pid=PID)");
    expect(usageLine(["snapshot", "-p", "-o", "x.ecfs"])).toBe("ecfs: snapshot: -p needs a value (-p PID, -pPID, --pid PID or --pid=PID)");
    expect(tracer()).toBe("0");
  });

  test("gcore's bare pid: ecfs snapshot PID; given twice or with a stray word it is an error", () => {
    const out = join(work, "bare.ecfs");
    const r = ecfs(["snapshot", String(fx.pid), "-o", out]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toStartWith(`${out}: pid ${fx.pid}, `);
    expect(eType(out)).toBe("NONE");
    rmSync(out);
    const pid = String(fx.pid);
    expect(usageLine(["snapshot", pid, "-p", pid])).toBe(`ecfs: snapshot: the pid is given twice (-p ${pid} and ${pid}); give it once`);
    expect(usageLine(["snapshot", pid, "1"])).toBe(`ecfs: snapshot: one process at a time (got ${pid} 1); ecfs snapshot PID`);
    expect(usageLine(["snapshot", "out.ecfs", "-p", pid])).toBe('ecfs: snapshot: unexpected word "out.ecfs": the process is -p PID or a bare PID, the output -o FILE');
  });
});

describe("the ecfs line itself", () => {
  test("ecfs help [COMMAND] is ecfs [COMMAND] --help", () => {
    for (const [a, b] of [[["help"], ["--help"]], [["help", "snapshot"], ["snapshot", "--help"]], [["help", "read"], ["read", "--help"]]]) {
      const x = ecfs(a!);
      expect([a, x.code, x.stderr]).toEqual([a, 0, ""]);
      expect(x.stdout).toBe(ecfs(b!).stdout);
      expect(x.stdout).toContain("USAGE ");
    }
    expect(ecfs(["--help"]).stdout).toContain("help  ");
    expect(usageLine(["help", "nope"])).toBe('ecfs: no command "nope" to help with (commands: snapshot, flip, read, handler, install, uninstall, help)');
  });

  test("an option before the command names the command that takes it; an unknown word names the commands", () => {
    expect(usageLine(["--pid", "5"])).toBe("ecfs: --pid goes after the command: ecfs snapshot --pid 5");
    expect(usageLine(["--core"])).toBe("ecfs: --core goes after the command: ecfs snapshot --core");
    expect(usageLine(["--bogus"])).toBe("ecfs: unknown option --bogus: a command comes first (ecfs COMMAND [OPTIONS]; commands: snapshot, flip, read, handler, install, uninstall, help)");
    expect(usageLine(["5"])).toBe('ecfs: unknown command "5" (commands: snapshot, flip, read, handler, install, uninstall, help); to snapshot pid 5: ecfs snapshot 5');
    expect(usageLine(["snap"])).toBe('ecfs: unknown command "snap" (commands: snapshot, flip, read, handler, install, uninstall, help)');
  });

  test("no colour escapes off a terminal or under NO_COLOR; colour on a terminal", () => {
    const tty = (env: string) => spawnSync("script", ["-qec", `${env} '${process.execPath}' '${MAIN}' read --help`, "/dev/null"], { encoding: "utf8" }).stdout;
    for (const args of [["--help"], ["snapshot", "--help"], ["read", "--help"], ["help", "flip"]]) {
      const piped = ecfs(args, { env: { NO_COLOR: "", TERM: "xterm", CI: "", TEST: "" } });
      expect([args, piped.stdout.includes("\x1b")]).toEqual([args, false]);
    }
    expect(tty("env -u NO_COLOR -u CI -u TEST TERM=xterm")).toContain("\x1b[");
    expect(tty("env -u CI -u TEST TERM=xterm NO_COLOR=yes")).not.toContain("\x1b");
  });

  test("help run as readecfs says readecfs", () => {
    const dir = mkdtempSync(join(tmpdir(), "ecfs-usage-bin-"));
    writeFileSync(join(dir, "readecfs"), `import ${JSON.stringify(MAIN)};\n`);
    const r = spawnSync(process.execPath, [join(dir, "readecfs"), "--help"], { encoding: "utf8" });
    rmSync(dir, { recursive: true });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain("USAGE readecfs [OPTIONS] [FILE]");
    expect(r.stdout).not.toContain("ecfs read");
    expect(existsSync(dir)).toBe(false);
  });
});
