import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ProcParseError } from "../../src/errors.ts";
import { parseFdinfo, readFds } from "../../src/proc/fds.ts";
import { readMaps } from "../../src/proc/maps.ts";
import { readExeLink } from "../../src/proc/process.ts";
import { readSockets } from "../../src/proc/sockets.ts";
import { readStat } from "../../src/proc/stat.ts";
import { compile, removeDir, scratchDir, startTarget, type TargetInfo, Targets } from "./fixture.ts";

const targets = new Targets();
const dir = scratchDir("fds");
let info: TargetInfo;

beforeAll(async () => {
  ({ info } = await startTarget(targets, dir));
}, 30_000);
afterAll(() => {
  targets.killAll();
  removeDir(dir);
});

/** <asm-generic/fcntl.h>, octal as the kernel prints them. */
const O_CLOEXEC = 0o2000000;
const O_APPEND = 0o2000;
const O_RDWR = 2;

describe("parseFdinfo", () => {
  test("octal flags, 64-bit pos, optional mnt_id and ino, extra lines ignored", () => {
    const text = "pos:\t18446744073709551615\nflags:\t02102002\nmnt_id:\t27\nino:\t2146408\neventfd-count:  0\n";
    expect(parseFdinfo(text)).toEqual({ pos: 0xffffffffffffffffn, flags: 0o2102002, mntId: 27, ino: 2146408n });
    expect(parseFdinfo("pos:\t0\nflags:\t00\n")).toEqual({ pos: 0n, flags: 0 });
    expect(() => parseFdinfo("pos:\t0\nflags:\t09\n")).toThrow(ProcParseError);
    expect(() => parseFdinfo("flags:\t02\n")).toThrow(/no pos/);
  });
});

describe("readFds on the target", () => {
  test("exactly the fds it opened, ascending, with their targets", () => {
    const fds = readFds(info.pid);
    const byFd = new Map(fds.map((e) => [e.fd, e]));
    const want = new Map<number, string>([
      [info.goneFd, `${info.gone} (deleted)`],
      [info.bigFd, info.big],
      [info.tcpListenFd, `socket:[${info.tcpListenIno}]`],
      [info.tcpClientFd, `socket:[${info.tcpClientIno}]`],
      [info.tcpAcceptFd, `socket:[${info.tcpAcceptIno}]`],
      [info.udpFd, `socket:[${info.udpIno}]`],
      [info.tcp6Fd, `socket:[${info.tcp6Ino}]`],
      [info.unixFd, `socket:[${info.unixIno}]`],
      [info.abstractFd, `socket:[${info.abstractIno}]`],
      [info.pairFds[0], `socket:[${info.pairInos[0]}]`],
      [info.pairFds[1], `socket:[${info.pairInos[1]}]`],
      [info.pipeFds[0], `pipe:[${info.pipeIno}]`],
      [info.pipeFds[1], `pipe:[${info.pipeIno}]`],
    ]);
    expect(fds.map((e) => e.fd)).toEqual([0, 1, 2, ...want.keys()].sort((a, b) => a - b));
    for (const [fd, target] of want) expect(byFd.get(fd)?.target).toBe(target);
    expect(byFd.get(0)?.target).toMatch(/^socket:\[\d+\]$/); // Bun.spawn pipes are socketpairs
  });

  test("pos beyond 4 GiB and flags = F_GETFL | O_CLOEXEC", () => {
    const big = readFds(info.pid).find((e) => e.fd === info.bigFd);
    expect(big?.pos).toBe(BigInt(info.bigPos));
    expect(big?.pos).toBeGreaterThan(0xffffffffn);
    expect(big?.flags).toBe(info.bigGetfl | O_CLOEXEC);
    expect((big?.flags ?? 0) & (O_APPEND | O_RDWR)).toBe(O_APPEND | O_RDWR);
    expect(big?.mntId).toBeGreaterThan(0);
    expect(big?.ino).toBeGreaterThan(0n);
    const pipeIn = readFds(info.pid).find((e) => e.fd === info.pipeFds[0]);
    expect(pipeIn?.ino).toBe(BigInt(info.pipeIno));
    expect((pipeIn?.flags ?? -1) & O_CLOEXEC).toBe(0);
  });

  test("fds closed mid-walk are skipped, never an error", async () => {
    const bin = compile("churn", dir);
    const { info: c } = await targets.start<{ pid: number }>([bin]);
    let seen = 0;
    for (let i = 0; i < 300; i++) {
      const fds = readFds(c.pid);
      for (const e of fds) expect(e.target.length).toBeGreaterThan(0);
      seen = Math.max(seen, fds.length);
    }
    expect(seen).toBeGreaterThanOrEqual(3);
  }, 30_000);

  test("a zombie has no fds, maps or sockets; a reaped process is ESRCH", async () => {
    const { info: z } = await targets.start<{ zombie: number }>([compile("zombie", dir)]);
    const zombie = z.zombie;
    expect(readStat(zombie).state).toBe("Z");
    expect(readFds(zombie)).toEqual([]);
    expect(readMaps(zombie)).toEqual([]);
    expect(readSockets(zombie).size).toBe(0); // no nsproxy: every net file is ENOENT
    expect(() => readExeLink(zombie)).toThrow(expect.objectContaining({ code: "ENOENT" }));

    const gone = Bun.spawn(["true"]);
    await gone.exited;
    expect(() => readFds(gone.pid)).toThrow(expect.objectContaining({ code: "ESRCH", pid: gone.pid }));
  });
});
