// Messages name the real cause, checked against what this machine really has: EPERM from
// ptrace names the uid or the capabilities that differ (decoded by capsh, not by us), Yama
// only where the kernel has it, security modules only where they are listed; a kernel file
// system mounted anywhere is named as such, not as a socket or a permission problem.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ptraceFacts, type PtraceFacts, whyNotPermitted } from "../../src/capture/permission.ts";
import { MAIN } from "../helpers/ecfs.ts";
import { buildFixture, killAllFixtures, startFixture, type RunningFixture } from "../helpers/fixtures.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-causes-"));
let fx: RunningFixture;
beforeAll(async () => {
  fx = await startFixture(buildFixture("patterns"));
  // nobody must get as far as the ptrace call: the output check comes first.
  chmodSync(work, 0o755);
  mkdirSync(join(work, "open"));
  chmodSync(join(work, "open"), 0o1777);
});
afterAll(async () => {
  await killAllFixtures();
  for (const m of ["sys", "proc"]) spawnSync("umount", [join(work, m)]);
  rmSync(work, { recursive: true, force: true });
});

const YAMA = "/proc/sys/kernel/yama/ptrace_scope";
const yamaScope = existsSync(YAMA) ? readFileSync(YAMA, "latin1").trim() : undefined;
const lsmList = (() => {
  try {
    return readFileSync("/sys/kernel/security/lsm", "latin1").trim().split(",");
  } catch {
    return undefined;
  }
})();
const capPrm = (status: string): bigint => BigInt(`0x${/^CapPrm:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
/** capsh's names for a mask, in our spelling (CAP_SYS_PTRACE). */
const capshNames = (mask: bigint): string[] => {
  const r = spawnSync("capsh", [`--decode=0x${mask.toString(16)}`], { encoding: "utf8" });
  expect(r.status).toBe(0);
  return r.stdout.trim().split("=")[1]!.split(",").map((n) => n.toUpperCase());
};

/** The clauses about Yama and security modules this machine calls for when we lack CAP_SYS_PTRACE. */
function machineClauses(line: string): void {
  if (yamaScope === undefined || yamaScope === "0") expect(line).not.toContain("ptrace_scope");
  else expect(line).toContain(`kernel.yama.ptrace_scope is ${yamaScope}`);
  const active = (lsmList ?? []).filter((m) => ["selinux", "apparmor", "smack", "tomoyo", "landlock", "bpf"].includes(m));
  if (active.length === 0) expect(line).not.toContain("security modules that may refuse");
  else expect(line).toContain(`(${active.join(", ")}; see /sys/kernel/security/lsm)`);
}

function snapshotAs(wrapper: string[]): { line: string; status: number | null } {
  const out = join(work, "open", "denied.ecfs");
  const r = spawnSync(wrapper[0]!, [...wrapper.slice(1), process.execPath, MAIN, "snapshot", "-p", String(fx.pid), "-o", out], { encoding: "utf8" });
  expect(r.stdout).toBe("");
  expect(r.stderr.split("\n").length).toBe(2);
  expect(existsSync(out)).toBe(false);
  return { line: r.stderr.trimEnd(), status: r.status };
}

describe("not permitted to trace", () => {
  test("as nobody, a root process: the uids are named; Yama and security modules only where present", () => {
    const { line, status } = snapshotAs(["runuser", "-u", "nobody", "--"]);
    const comm = readFileSync(`/proc/${fx.pid}/comm`, "latin1").trim();
    const nobody = spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout.trim();
    expect(line).toStartWith(`ecfs: not permitted to trace pid ${fx.pid} (${comm}): it runs as root (uid 0) and this process as uid ${nobody}, without CAP_SYS_PTRACE: run as root or as that user`);
    machineClauses(line);
    expect(status).toBe(1);
  });

  test("as root without CAP_SYS_PTRACE: the capabilities the target holds and we lack, as capsh names them", () => {
    const wrapper = ["setpriv", "--bounding-set", "-sys_ptrace", "--"];
    const ours = capPrm(spawnSync(wrapper[0]!, [...wrapper.slice(1), "cat", "/proc/self/status"], { encoding: "utf8" }).stdout);
    const missing = capPrm(readFileSync(`/proc/${fx.pid}/status`, "latin1")) & ~ours;
    expect(capshNames(missing)).toEqual(["CAP_SYS_PTRACE"]);
    const { line, status } = snapshotAs(wrapper);
    expect(line).toStartWith(`ecfs: not permitted to trace pid ${fx.pid} (`);
    expect(line).toContain(`: it holds capabilities this process lacks (${capshNames(missing).join(", ")})`);
    machineClauses(line);
    expect(status).toBe(1);
  });

  test("pid 1, judged without attaching to it: its extra capabilities named, ptrace_scope only with Yama", () => {
    const facts = ptraceFacts(1);
    const line = whyNotPermitted(facts);
    const missing = capPrm(readFileSync("/proc/1/status", "latin1")) & ~capPrm(readFileSync("/proc/self/status", "latin1"));
    if (missing !== 0n) expect(line).toContain(`it holds capabilities this process lacks (${capshNames(missing).slice(0, 4).join(", ")}`);
    if (yamaScope !== "3") expect(line).not.toContain("ptrace_scope");
  });

  test("Yama and security modules, where a kernel has them (facts varied from this machine's)", () => {
    const real = ptraceFacts(fx.pid);
    const noPtrace = { ...real.us, capEff: 0n, capPrm: real.target.capPrm };
    const facts = (f: Partial<PtraceFacts>): PtraceFacts => ({ ...real, us: noPtrace, yamaScope: undefined, lsms: [], ...f });
    expect(whyNotPermitted(facts({ yamaScope: "1" }))).toBe("kernel.yama.ptrace_scope is 1: only an ancestor of the process may trace it, unless it has CAP_SYS_PTRACE");
    expect(whyNotPermitted(facts({ yamaScope: "0" }))).toBe("no cause is visible from here (no uid or capability of its that this process lacks): another user namespace may refuse it");
    expect(whyNotPermitted(facts({ yamaScope: "3", lsms: ["capability", "yama", "apparmor", "bpf"] }))).toBe(
      "kernel.yama.ptrace_scope is 3: no process may trace another (until reboot); security modules that may refuse it are active (apparmor, bpf; see /sys/kernel/security/lsm)",
    );
    expect(whyNotPermitted(facts({ lsms: undefined }))).toBe(
      "no cause is visible from here (no uid or capability of its that this process lacks, no Yama): a security module (/sys/kernel/security/lsm cannot be read) or another user namespace may refuse it",
    );
    // CAP_SYS_PTRACE lifts scopes 1 and 2.
    expect(whyNotPermitted(facts({ us: { ...noPtrace, capEff: 1n << 19n }, yamaScope: "2" }))).not.toContain("ptrace_scope");
  });
});

describe("a kernel file system as the output directory, mounted outside /proc and /sys", () => {
  for (const [type, name] of [["sysfs", "sys"], ["proc", "proc"]] as const)
    test(`${type}: named as such, not as a socket or as permissions`, () => {
      const dir = join(work, name);
      mkdirSync(dir);
      expect(spawnSync("mount", ["-t", type, type, dir]).status).toBe(0);
      const out = join(dir, "x.ecfs");
      const r = spawnSync(process.execPath, [MAIN, "snapshot", "-p", String(fx.pid), "-o", out], { encoding: "utf8" });
      expect([r.status, r.stdout, r.stderr]).toEqual([1, "", `ecfs: cannot write ${out}: ${dir} is on ${type === "proc" ? "procfs" : "sysfs"}, a kernel file system that holds no files\n`]);
    });
});
