// .fdinfo, .fdinfo.ext and .procfs.tgz built from live processes: the sockets fixture (one of
// each fd kind), the threads fixture (9 tasks) and a Python holder (a >512-byte path at a
// 5 GiB offset, a non-UTF-8 name). Checked against what the fixtures report, against /proc
// read here, and with outside readers: Python struct/json/socket and GNU tar.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { buildProcfsTar, buildProcfsTarball, PROCFS_SKIPPED_NAME } from "../../src/capture/procfs.ts";
import { decodeFdInfo, decodeFdInfoExt, encodeFdInfo, encodeFdInfoExt, MAX_PATH, NET_NONE, NET_TCP, NET_UDP } from "../../src/ecfs/fdinfo.ts";
import { CLASS32, CLASS64 } from "../../src/elf/class.ts";
import { ElfFormatError, SyscallError } from "../../src/errors.ts";
import { type FdEntry, readFds } from "../../src/proc/fds.ts";
import { readSockets, type SocketEntry } from "../../src/proc/sockets.ts";
import {
  buildFixture, killAllFixtures, type RunningFixture, type SocketsInfo, startFixture, taskIds, type ThreadsInfo,
} from "../helpers/fixtures.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { scratch, sections } from "./binutils.ts";
import { gnuTar, HOLDER_POS, type HolderInfo, type PyFdInfo, pyFdInfo, pyJsonLines, startHolder } from "./forensics-oracles.ts";

const tmp = scratch("ecfs-forensics-");
let sock: RunningFixture<SocketsInfo>;
let holder: RunningFixture<HolderInfo>;
let fds: FdEntry[];
let socks: Map<bigint, SocketEntry>;
const longPath = join(tmp.dir, "a".repeat(200), "b".repeat(200), `${"c".repeat(150)}.dat`);

/** A file path of exactly `n` bytes under `root`, in directory names of at most 200 bytes. */
function pathOfLength(root: string, n: number): string {
  let p = root;
  while (n - p.length - 1 > 200) p = join(p, "d".repeat(200));
  const last = n - p.length - 1;
  if (last < 1) throw new Error(`no path of ${n} bytes under ${root}`);
  return join(p, "f".repeat(last));
}
/** Link texts at the edge of fd_info_t.path: 511 bytes fit with their NUL, 512 do not. */
const edgePaths = [511, 512].map((n) => pathOfLength(join(tmp.dir, `edge${n}`), n));
const badPath = Buffer.concat([Buffer.from(join(tmp.dir, "bad-")), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from(" name")]);

beforeAll(async () => {
  const bin = buildFixture("sockets");
  sock = await startFixture<SocketsInfo>(bin, [join(tmp.dir, "ux.sock"), join(tmp.dir, "data.bin")]);
  fds = readFds(sock.pid);
  socks = readSockets(sock.pid);
  mkdirSync(join(longPath, ".."), { recursive: true });
  writeFileSync(longPath, "");
  writeFileSync(badPath, "x");
  for (const p of edgePaths) {
    mkdirSync(join(p, ".."), { recursive: true });
    writeFileSync(p, "");
  }
  holder = await startHolder(longPath, badPath, edgePaths);
});
afterAll(async () => {
  await killAllFixtures();
  tmp.cleanup();
});

const hex = (s: string): string => Buffer.from(s).toString("hex");
/** The octal "flags:" text of /proc/PID/fdinfo/N, read here rather than by src/proc. */
const fdinfoFlags = (pid: number, fd: number): string =>
  /^flags:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1] ?? "missing";

describe(".fdinfo (fd_info_t)", () => {
  test("x86_64 records, read by Python struct, are exactly the fixture's fds", () => {
    const bytes = encodeFdInfo(CLASS64, fds, socks);
    expect(bytes.byteLength).toBe(fds.length * 552);
    const py = pyFdInfo(64, bytes);
    // One record per entry of /proc/PID/fd, ascending, path = the link text.
    const live = readdirSync(`/proc/${sock.pid}/fd`).map(Number).sort((a, b) => a - b);
    expect(py.map((r) => r.fd)).toEqual(live);
    for (const r of py) {
      expect(r.pathHex).toBe(hex(readlinkSync(`/proc/${sock.pid}/fd/${r.fd}`)));
      expect(r.perms).toBe(Number.parseInt(fdinfoFlags(sock.pid, r.fd), 8));
      expect(r.padHex).toMatch(/^0+$/);
    }
    const at = (fd: number) => py.find((r) => r.fd === fd) ?? expect.unreachable(`no record for fd ${fd}`);
    const { file, tcpListen, tcpClient, tcpServer, udp, tcp6Listen, unix, pipe } = sock.info;
    expect(at(file.fd)).toMatchObject({ pathHex: hex(file.path), pathNul: true, pos: String(file.pos), net: NET_NONE, src: "0.0.0.0" });
    expect(at(file.fd).perms & 3).toBe(2); // O_RDWR
    expect(at(tcpListen.fd)).toMatchObject({ src: "127.0.0.1", sport: tcpListen.port, dst: "0.0.0.0", dport: 0, net: NET_TCP });
    expect(at(tcpClient.fd)).toMatchObject({ src: "127.0.0.1", sport: tcpClient.port, dst: "127.0.0.1", dport: tcpClient.peerPort, net: NET_TCP });
    expect(at(tcpServer.fd)).toMatchObject({ src: "127.0.0.1", sport: tcpServer.port, dst: "127.0.0.1", dport: tcpServer.peerPort, net: NET_TCP });
    expect(at(udp.fd)).toMatchObject({ src: "127.0.0.1", sport: udp.port, dst: "0.0.0.0", dport: 0, net: NET_UDP });
    // ::1 has no IPv4 form and a unix socket no address: the socket fields stay zero.
    for (const fd of [tcp6Listen?.fd, unix.fd].filter((x) => x !== undefined))
      expect(at(fd)).toMatchObject({ src: "0.0.0.0", dst: "0.0.0.0", sport: 0, dport: 0, net: NET_NONE });
    expect(tcp6Listen).not.toBeNull(); // the test machine has IPv6 on lo
    expect(Buffer.from(at(pipe.r).pathHex, "hex").toString()).toMatch(/^pipe:\[\d+\]$/);
    expect(at(pipe.w).pathHex).toBe(at(pipe.r).pathHex);
    expect(at(pipe.w).perms & 3).toBe(1); // O_WRONLY
  });

  test("raw bytes at the fixed offsets of docs/FORMAT.md 4, both classes", () => {
    const { tcpClient } = sock.info;
    const i = fds.findIndex((e) => e.fd === tcpClient.fd);
    for (const [cls, o] of [
      [CLASS64, { size: 552, pos: 520, perms: 528, src: 532, dst: 536, sport: 540, dport: 542, net: 544 }],
      [CLASS32, { size: 544, pos: 516, perms: 524, src: 528, dst: 532, sport: 536, dport: 538, net: 540 }],
    ] as const) {
      const b = encodeFdInfo(cls, fds, socks);
      expect(b.byteLength).toBe(fds.length * o.size);
      const dv = new DataView(b.buffer, b.byteOffset + i * o.size, o.size);
      expect(dv.getInt32(0, true)).toBe(tcpClient.fd);
      expect([...b.subarray(i * o.size + o.src, i * o.size + o.src + 4)]).toEqual([127, 0, 0, 1]);
      expect([...b.subarray(i * o.size + o.dst, i * o.size + o.dst + 4)]).toEqual([127, 0, 0, 1]);
      expect(dv.getUint16(o.sport, true)).toBe(tcpClient.port);
      expect(dv.getUint16(o.dport, true)).toBe(tcpClient.peerPort);
      expect(dv.getInt8(o.net)).toBe(NET_TCP);
      expect(dv.getBigInt64(o.pos, true)).toBe(0n);
      expect(dv.getUint32(o.perms, true)).toBe(Number.parseInt(fdinfoFlags(sock.pid, tcpClient.fd), 8));
      // i386 through Python too, with its own struct format.
      const noPad = ({ padHex, ...r }: PyFdInfo) => (expect(padHex).toMatch(/^0+$/), r);
      if (cls === CLASS32) expect(pyFdInfo(32, b).map(noPad)).toEqual(pyFdInfo(64, encodeFdInfo(CLASS64, fds, socks)).map(noPad));
    }
  });

  test("our decoder agrees with Python on both classes", () => {
    for (const [cls, bits] of [[CLASS64, 64], [CLASS32, 32]] as const) {
      const b = encodeFdInfo(cls, fds, socks);
      const ours = decodeFdInfo(cls, b);
      const py = pyFdInfo(bits, b);
      expect(ours.map((r) => ({
        fd: r.fd, pathHex: hex(r.path), pos: String(r.pos), perms: r.perms,
        src: [...r.socket.src_addr].join("."), dst: [...r.socket.dst_addr].join("."),
        sport: r.socket.src_port, dport: r.socket.dst_port, net: r.net,
      }))).toEqual(py.map(({ pathNul: _n, padHex: _p, ...r }) => r));
    }
  });

  test("paths of 512 bytes or more are cut at 511 and NUL-terminated; pos keeps all 64 bits (5 GiB)", () => {
    const hfds = readFds(holder.pid);
    const b = encodeFdInfo(CLASS64, hfds, new Map());
    const py = pyFdInfo(64, b);
    const r = py.find((x) => x.fd === holder.info.long) ?? expect.unreachable();
    expect(Buffer.byteLength(longPath)).toBeGreaterThan(MAX_PATH);
    expect(edgePaths.map((p) => Buffer.byteLength(p))).toEqual([MAX_PATH - 1, MAX_PATH]);
    const fdOf: [string, number][] = [[longPath, holder.info.long], ...edgePaths.map((p, i): [string, number] => [p, holder.info.more[i]!])];
    for (const [p, fd] of fdOf) {
      const x = py.find((y) => y.fd === fd) ?? expect.unreachable(`no record for ${p.length} bytes`);
      expect([p.length, x.pathNul, x.pathHex]).toEqual([p.length, true, hex(p).slice(0, 2 * (MAX_PATH - 1))]);
    }
    expect(BigInt(r.pos)).toBe(HOLDER_POS);
    expect(decodeFdInfo(CLASS64, b).find((x) => x.fd === holder.info.long)?.pos).toBe(HOLDER_POS);
    const bytes32 = encodeFdInfo(CLASS32, hfds, new Map());
    expect(BigInt(pyFdInfo(32, bytes32).find((x) => x.fd === holder.info.long)?.pos ?? -1)).toBe(HOLDER_POS);
  });

  test("in a snapshot file: every path field ends in a NUL, long ones cut at 511 bytes", () => {
    const out = join(tmp.dir, "holder.ecfs");
    const r = ecfs(["snapshot", "-p", String(holder.pid), "-o", out]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const sec = sections(out).get(".fdinfo") ?? expect.unreachable("no .fdinfo");
    const py = pyFdInfo(64, readFileSync(out).subarray(sec.offset, sec.offset + sec.size));
    expect(py.filter((x) => !x.pathNul).map((x) => x.fd)).toEqual([]);
    for (const fd of [holder.info.long, ...holder.info.more]) {
      const want = readlinkSync(`/proc/${holder.pid}/fd/${fd}`, "buffer");
      expect(py.find((x) => x.fd === fd)?.pathHex).toBe(want.subarray(0, MAX_PATH - 1).toString("hex"));
    }
  });

  test("a v4-mapped tcp6 socket is stored as IPv4; other v6 leaves zeros", () => {
    const mapped = (last: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, last]);
    const s = (ino: bigint, local: Uint8Array, remote: Uint8Array): SocketEntry => ({
      protocol: "tcp6", inode: ino, localAddress: "", localPort: 80, remoteAddress: "", remotePort: 4000,
      localBytes: local, remoteBytes: remote, state: "ESTABLISHED", stateCode: 1, uid: 0,
    });
    const any6 = new Uint8Array(16);
    const sockets = new Map([[1n, s(1n, mapped(1), mapped(2))], [2n, s(2n, any6, any6)], [3n, s(3n, mapped(1), any6)]]);
    const entries: FdEntry[] = [1, 2, 3].map((n) => ({ fd: n, target: `socket:[${n}]`, pos: 0n, flags: 2 }));
    const py = pyFdInfo(64, encodeFdInfo(CLASS64, entries, sockets));
    expect(py[0]).toMatchObject({ src: "10.0.0.1", dst: "10.0.0.2", sport: 80, dport: 4000, net: NET_TCP });
    expect(py[1]).toMatchObject({ src: "0.0.0.0", dst: "0.0.0.0", sport: 0, net: NET_NONE });
    expect(py[2]).toMatchObject({ src: "10.0.0.1", dst: "0.0.0.0", net: NET_TCP });
  });

  test("decodeFdInfo rejects a size that is not whole records", () => {
    const b = encodeFdInfo(CLASS64, fds, socks);
    expect(() => decodeFdInfo(CLASS64, b.subarray(0, b.byteLength - 1))).toThrow(ElfFormatError);
    expect(() => decodeFdInfo(CLASS32, b)).toThrow(ElfFormatError); // 552 * n is rarely 544 * m
    expect(decodeFdInfo(CLASS64, new Uint8Array(0))).toEqual([]);
  });
});

describe(".fdinfo.ext (JSON Lines)", () => {
  const rec = (fd: number) => decodeFdInfoExt(encodeFdInfoExt(fds, socks)).find((r) => r.fd === fd) ?? expect.unreachable(`fd ${fd}`);

  test("Python reads a header line and one object per fd", () => {
    const py = pyJsonLines(encodeFdInfoExt(fds, socks));
    expect(py[0]).toEqual({ format: "ecfs-fdinfo-ext", version: 1 });
    expect(py.slice(1).map((o) => o.fd)).toEqual(fds.map((e) => e.fd));
    for (const o of py.slice(1)) {
      const fd = o.fd as number;
      expect(o.target).toBe(readlinkSync(`/proc/${sock.pid}/fd/${fd}`));
      expect(o.flags).toBe(fdinfoFlags(sock.pid, fd)); // the kernel's own "0%o" text
      expect(o.flagsValue).toBe(Number.parseInt(o.flags as string, 8));
    }
  });

  test("file, IPv4 and IPv6 sockets, the UNIX socket and the pipe", () => {
    const { file, tcpListen, tcpClient, udp, tcp6Listen, unix, pipe } = sock.info;
    expect(rec(file.fd)).toMatchObject({ type: "file", target: file.path, pos: BigInt(file.pos) });
    expect(rec(tcpListen.fd).socket).toMatchObject({ protocol: "tcp", localAddress: "127.0.0.1", localPort: tcpListen.port, state: "LISTEN" });
    expect(rec(tcpClient.fd).socket).toMatchObject({ protocol: "tcp", remotePort: tcpClient.peerPort, state: "ESTABLISHED" });
    expect(rec(udp.fd).socket).toMatchObject({ protocol: "udp", localAddress: "127.0.0.1", localPort: udp.port });
    if (tcp6Listen === null) throw new Error("no IPv6 listener: the test machine needs IPv6 on lo");
    expect(rec(tcp6Listen.fd)).toMatchObject({ type: "socket", socket: { protocol: "tcp6", localAddress: "::1", localPort: tcp6Listen.port, remoteAddress: "::", state: "LISTEN" } });
    expect(rec(unix.fd)).toMatchObject({ type: "socket", socket: { protocol: "unix", path: unix.path, sockType: "STREAM", state: "LISTEN" } });
    expect(rec(pipe.r)).toMatchObject({ type: "pipe", target: readlinkSync(`/proc/${sock.pid}/fd/${pipe.r}`) });
    expect(rec(pipe.w).flagsValue & 3).toBe(1);
    // ss (sock_diag, not /proc) sees the same IPv6 listener.
    const ss = Bun.spawnSync(["ss", "-Hltn6"]).stdout.toString();
    expect(ss).toContain(`[::1]:${tcp6Listen.port}`);
  });

  test("the full >512-byte path and the 64-bit pos", () => {
    const r = decodeFdInfoExt(encodeFdInfoExt(readFds(holder.pid), new Map())).find((x) => x.fd === holder.info.long);
    expect(r).toMatchObject({ type: "file", target: longPath, pos: HOLDER_POS });
  });

  test("malformed lines are errors naming the line", () => {
    const good = new TextDecoder().decode(encodeFdInfoExt(fds, socks));
    const lines = good.split("\n");
    const bad = (mutate: (l: string[]) => string[]): string => {
      try {
        decodeFdInfoExt(new TextEncoder().encode(mutate([...lines]).join("\n")));
      } catch (e) {
        expect(e).toBeInstanceOf(ElfFormatError);
        return (e as Error).message;
      }
      throw new Error("no error");
    };
    expect(bad((l) => { l[2] = l[2]!.replace(/"pos":"\d+"/, '"pos":12'); return l; })).toMatch(/^\.fdinfo\.ext line 3: .*pos/);
    expect(bad((l) => { l[3] = "{not json"; return l; })).toMatch(/line 4: not JSON/);
    expect(bad((l) => { l[0] = '{"format":"ecfs-fdinfo-ext","version":2}'; return l; })).toMatch(/line 1: not a ecfs-fdinfo-ext version 1 header/);
    expect(bad((l) => { [l[1], l[2]] = [l[2]!, l[1]!]; return l; })).toMatch(/line 3: fd not ascending/);
    expect(bad((l) => { l[1] = l[1]!.replace(/"flagsValue":\d+/, '"flagsValue":7'); return l; })).toMatch(/line 2: .*flags and flagsValue disagree/);
    expect(bad((l) => l.slice(0, -1))).toMatch(/no newline at the end/);
    expect(bad((l) => { l[1] = `{"fd":1,"x":"${"a".repeat(70_000)}"}`; return l; })).toMatch(/line 2: line too long/);
    expect(bad(() => ["", ""])).toMatch(/line 1: not JSON/);
    expect(() => decodeFdInfoExt(new Uint8Array(0))).toThrow(ElfFormatError);
    const nonUtf8 = new TextEncoder().encode(good);
    nonUtf8[nonUtf8.indexOf(0x22, 60)] = 0xff; // a quote inside line 2
    expect(() => decodeFdInfoExt(nonUtf8)).toThrow(/not UTF-8|not JSON/);
    // Unknown keys are ignored: a newer minor writer stays readable.
    const extra = lines.map((l, i) => (i === 1 ? l.replace(/^\{/, '{"future":[1,2],') : l)).join("\n");
    expect(decodeFdInfoExt(new TextEncoder().encode(extra)).length).toBe(fds.length);
  });

  test("fuzz: mutated sections only ever raise ElfFormatError", () => {
    const seed = encodeFdInfoExt(fds, socks);
    let rng = 0x2545f491;
    const next = (n: number): number => {
      rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5;
      return (rng >>> 0) % n;
    };
    const deadline = Date.now() + 3000;
    for (let i = 0; i < 3000 && Date.now() < deadline; i++) {
      const b = seed.slice();
      for (let k = 1 + next(4); k > 0; k--) b[next(b.byteLength)] = next(256);
      const cut = next(4) === 0 ? b.subarray(0, next(b.byteLength)) : b;
      try {
        decodeFdInfoExt(cut);
      } catch (e) {
        if (!(e instanceof ElfFormatError)) throw e;
      }
      try {
        decodeFdInfo(CLASS64, cut);
      } catch (e) {
        if (!(e instanceof ElfFormatError)) throw e;
      }
    }
  });
});

/** Extracts a .tgz with GNU tar into a new directory; returns it. */
function extract(tgz: Uint8Array, tag: string): string {
  const dir = join(tmp.dir, tag);
  mkdirSync(dir);
  const file = join(tmp.dir, `${tag}.tgz`);
  writeFileSync(file, tgz);
  expect(gnuTar(["-xzf", file, "-C", dir]).stderr).toBe("");
  return dir;
}

const statusLines = (text: string): string[] => text.split("\n").filter((l) => /^(Name|Pid|PPid|Uid|Gid|Tgid):/.test(l));

describe(".procfs.tgz", () => {
  test("GNU tar lists and extracts it cleanly, with the real contents", () => {
    const pid = sock.pid;
    const tgz = buildProcfsTarball(pid);
    const file = join(tmp.dir, "sock.tgz");
    writeFileSync(file, tgz);
    const list = gnuTar(["-tzvf", file]);
    expect(list.stderr).toBe("");
    const lines = list.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(new RegExp(`^d.* proc/${pid}/$`));
    // Regular files have their real sizes now (docs/FORMAT.md 9: the original's were all 0).
    expect(lines.find((l) => l.endsWith(` proc/${pid}/status`))).toMatch(/^-r--r--r-- 0\/0 +[1-9]\d* /);

    const root = join(extract(tgz, "sock"), "proc", String(pid));
    const here = (rel: string) => join(root, rel);
    expect(statusLines(readFileSync(here("status"), "utf8"))).toEqual(statusLines(readFileSync(`/proc/${pid}/status`, "utf8")));
    expect(statusLines(readFileSync(here("status"), "utf8")).length).toBe(6);
    expect(readFileSync(here("cmdline"))).toEqual(readFileSync(`/proc/${pid}/cmdline`));
    expect(readFileSync(here("maps"), "utf8").length).toBeGreaterThan(0);
    expect(readFileSync(here("maps"), "utf8")).toBe(readFileSync(`/proc/${pid}/maps`, "utf8"));
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      expect(lstatSync(here(`fd/${fd}`)).isSymbolicLink()).toBe(true);
      expect(readlinkSync(here(`fd/${fd}`))).toBe(readlinkSync(`/proc/${pid}/fd/${fd}`));
      expect(readFileSync(here(`fdinfo/${fd}`), "utf8")).toMatch(/^pos:\s+\d+\nflags:/);
    }
    for (const link of ["exe", "cwd", "root", "ns/net", "ns/pid"])
      expect(readlinkSync(here(link))).toBe(readlinkSync(`/proc/${pid}/${link}`));
    expect(lstatSync(here("net")).isDirectory()).toBe(true);
    expect(readFileSync(here("net/tcp"), "utf8")).toContain(`:${sock.info.tcpListen.port.toString(16).toUpperCase().padStart(4, "0")} `);
    // Left out by policy, and said so.
    for (const gone of ["mem", "pagemap", "clear_refs"]) expect(() => lstatSync(here(gone))).toThrow();
    const skipped = readFileSync(here(PROCFS_SKIPPED_NAME), "utf8");
    for (const gone of ["mem", "pagemap", "clear_refs"]) expect(skipped).toMatch(new RegExp(`^${gone}\texcluded: `, "m"));
  });

  test("every member is one GNU tar itself archives, with the same type; what it has more is listed as skipped", () => {
    const pid = sock.pid;
    const raw = join(tmp.dir, "gnu.tar");
    Bun.spawnSync(["tar", "-cf", raw, `/proc/${pid}`], { stderr: "ignore" }); // warns on EINVAL files; exit 1 is fine
    const kinds = (text: string) => new Map(text.trimEnd().split("\n").map((l) => [l.slice(l.indexOf(`proc/${pid}`)).split(" -> ")[0]!, l[0]!]));
    const theirs = kinds(gnuTar(["-tvf", raw]).stdout);
    const { tar, skipped } = buildProcfsTar(pid);
    writeFileSync(join(tmp.dir, "ours.tar"), tar);
    const ours = kinds(gnuTar(["-tvf", join(tmp.dir, "ours.tar")]).stdout);
    ours.delete(`proc/${pid}/${PROCFS_SKIPPED_NAME}`);
    expect(ours.size).toBeGreaterThan(100);
    for (const [name, kind] of ours) expect(`${name} ${theirs.get(name)}`).toBe(`${name} ${kind}`);
    const left = new Set(skipped.map((s) => `proc/${pid}/${s.path}`));
    const missing = [...theirs.keys()].filter((n) => !ours.has(n) && !left.has(n.replace(/\/$/, "")));
    // Only the insides of excluded directories (task/T/net/...) are not named one by one.
    expect(missing.filter((n) => ![...left].some((d) => n.startsWith(`${d}/`)))).toEqual([]);
  });

  test("task/<tid>/ for every thread of a 9-thread process", async () => {
    const thr = await startFixture<ThreadsInfo>(buildFixture("threads", { libs: ["-pthread"] }));
    try {
      const tids = taskIds(thr.pid);
      expect(tids.length).toBe(9);
      const root = join(extract(buildProcfsTarball(thr.pid), "threads"), "proc", String(thr.pid));
      expect(readdirSync(join(root, "task")).map(Number).sort((a, b) => a - b)).toEqual(tids);
      for (const tid of tids) {
        const stat = readFileSync(join(root, `task/${tid}/stat`), "utf8");
        const live = readFileSync(`/proc/${thr.pid}/task/${tid}/stat`, "utf8");
        expect(stat.slice(0, stat.indexOf(")") + 1)).toBe(live.slice(0, live.indexOf(")") + 1)); // "tid (comm)"
        expect(lstatSync(join(root, `task/${tid}/fd`)).isDirectory()).toBe(true);
      }
      for (const t of thr.info.threads) expect(tids).toContain(t.tid);
    } finally {
      await thr.kill();
    }
  });

  test("link texts over 100 bytes and not UTF-8 come back byte for byte", () => {
    const root = join(extract(buildProcfsTarball(holder.pid), "holder"), "proc", String(holder.pid));
    for (const fd of [holder.info.long, holder.info.bad]) {
      const want = readlinkSync(`/proc/${holder.pid}/fd/${fd}`, "buffer");
      expect(want.byteLength).toBeGreaterThan(fd === holder.info.long ? 512 : 0);
      expect(readlinkSync(join(root, `fd/${fd}`), "buffer")).toEqual(want);
    }
    expect(readlinkSync(join(root, `fd/${holder.info.bad}`), "buffer")).toEqual(badPath);
  });

  test("caps: a file cut at fileMax, the archive stopped at archiveMax, both recorded", () => {
    const pid = sock.pid;
    const cut = buildProcfsTar(pid, { fileMax: 100 });
    expect(cut.skipped).toContainEqual({ path: "status", reason: "truncated at 100 bytes", policy: false });
    const root = join(extract(Bun.gzipSync(cut.tar), "cut"), "proc", String(pid));
    expect(readFileSync(join(root, "status"))).toEqual(readFileSync(`/proc/${pid}/status`).subarray(0, 100));
    expect(readFileSync(join(root, PROCFS_SKIPPED_NAME), "utf8")).toMatch(/^status\ttruncated at 100 bytes$/m);

    const cap = 16 * 1024;
    const small = buildProcfsTar(pid, { archiveMax: cap });
    expect(small.tar.byteLength).toBeLessThanOrEqual(cap);
    expect(buildProcfsTarball(pid, { archiveMax: cap }).byteLength).toBeLessThanOrEqual(cap);
    const capped = small.skipped.filter((s) => s.reason.startsWith(`archive cap of ${cap} bytes reached`));
    expect(capped.length).toBe(1);
    const file = join(tmp.dir, "small.tar");
    writeFileSync(file, small.tar);
    const listing = gnuTar(["-tvf", file]);
    expect(listing.stderr).toBe("");
    const names = listing.stdout.trimEnd().split("\n");
    expect(names.length).toBe(small.members);
    expect(names.at(-1)).toEndWith(`proc/${pid}/${PROCFS_SKIPPED_NAME}`);
    const dir = join(tmp.dir, "small");
    mkdirSync(dir);
    gnuTar(["-xf", file, "-C", dir]);
    expect(readFileSync(join(dir, `proc/${pid}/${PROCFS_SKIPPED_NAME}`), "utf8")).toContain(`\tarchive cap of ${cap} bytes reached`);

    expect(() => buildProcfsTar(pid, { archiveMax: 1000 })).toThrow(RangeError);
  });

  test("a process that does not exist is ESRCH", () => {
    let pid = 4194304;
    while (readdirSync("/proc").includes(String(pid))) pid--;
    expect(() => buildProcfsTarball(pid)).toThrow(SyscallError);
    try {
      buildProcfsTarball(pid);
    } catch (e) {
      expect((e as SyscallError).code).toBe("ESRCH");
    }
  });
});
