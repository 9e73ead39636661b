import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ProcParseError } from "../../src/errors.ts";
import { readFds } from "../../src/proc/fds.ts";
import { formatIPv6 } from "../../src/proc/inet.ts";
import {
  type InetSocket, parseInetSockets, parseUnixSockets, readSockets, type SocketEntry, socketInode, type UnixSocket,
} from "../../src/proc/sockets.ts";
import { compile, removeDir, scratchDir, startTarget, type TargetInfo, Targets } from "./fixture.ts";

const targets = new Targets();
const dir = scratchDir("sockets");
let info: TargetInfo;
let socks: Map<bigint, SocketEntry>;

beforeAll(async () => {
  ({ info } = await startTarget(targets, dir));
  socks = readSockets(info.pid);
}, 30_000);
afterAll(() => {
  targets.killAll();
  removeDir(dir);
});

const inet = (ino: number): InetSocket => {
  const s = socks.get(BigInt(ino));
  if (s === undefined || s.protocol === "unix") throw new Error(`no inet socket ${ino}`);
  return s;
};
const unix = (ino: number): UnixSocket => {
  const s = socks.get(BigInt(ino));
  if (s === undefined || s.protocol !== "unix") throw new Error(`no unix socket ${ino}`);
  return s;
};

describe("sockets of the live target", () => {
  test("TCP listener, the connected pair, UDP", () => {
    expect(inet(info.tcpListenIno)).toMatchObject({
      protocol: "tcp", localAddress: "127.0.0.1", localPort: info.tcpPort, remoteAddress: "0.0.0.0", remotePort: 0,
      state: "LISTEN", stateCode: 0x0a, uid: 0,
    });
    expect([...inet(info.tcpListenIno).localBytes]).toEqual([127, 0, 0, 1]);
    expect(inet(info.tcpClientIno)).toMatchObject({
      protocol: "tcp", localPort: info.tcpClientPort, remoteAddress: "127.0.0.1", remotePort: info.tcpPort,
      state: "ESTABLISHED",
    });
    expect(inet(info.tcpAcceptIno)).toMatchObject({
      protocol: "tcp", localPort: info.tcpPort, remotePort: info.tcpClientPort, state: "ESTABLISHED",
    });
    expect(inet(info.udpIno)).toMatchObject({
      protocol: "udp", localAddress: "127.0.0.1", localPort: info.udpPort, state: "CLOSE", stateCode: 7,
    });
  });

  test("IPv6 listener on ::1", () => {
    const s = inet(info.tcp6Ino);
    expect(s).toMatchObject({ protocol: "tcp6", localAddress: "::1", localPort: info.tcp6Port, remoteAddress: "::", state: "LISTEN" });
    expect(s.localBytes.byteLength).toBe(16);
    expect(s.localBytes[15]).toBe(1);
  });

  test("unix: path with a space, abstract, socketpair", () => {
    expect(unix(info.unixIno)).toMatchObject({ path: info.unixPath, type: "STREAM", state: "LISTEN" });
    expect(unix(info.abstractIno)).toMatchObject({ path: `@${info.abstract}`, type: "DGRAM", state: "UNCONNECTED" });
    for (const ino of info.pairInos) expect(unix(ino)).toMatchObject({ path: "", type: "SEQPACKET", state: "CONNECTED" });
  });

  test("every socket fd of the target resolves through socketInode", () => {
    const fds = readFds(info.pid);
    const fdSocks = fds.flatMap((e) => {
      const ino = socketInode(e.target);
      return ino === undefined ? [] : [{ fd: e.fd, ino }];
    });
    expect(fdSocks.filter((s) => s.fd > 2).length).toBe(9);
    // Including stdin/stdout, which Bun.spawn makes from unix socketpairs.
    for (const { ino } of fdSocks) expect(socks.has(ino)).toBe(true);
  });

  test("agrees with ss (sock_diag, not /proc) on the listeners", () => {
    const out = Bun.spawnSync(["ss", "-Hltnpe"]).stdout.toString();
    const line4 = out.split("\n").find((l) => l.includes(`ino:${info.tcpListenIno} `));
    const line6 = out.split("\n").find((l) => l.includes(`ino:${info.tcp6Ino} `));
    expect(line4).toContain(`127.0.0.1:${info.tcpPort}`);
    expect(line6).toContain(`[::1]:${info.tcp6Port}`);
  });
});

describe("parsers on literal text", () => {
  test("tcp6 words are host-order u32s", () => {
    const text =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
      "   0: B80D0120000000000000000001000000:0016 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 30 10 -1\n";
    const [s] = parseInetSockets(text, "tcp6");
    expect(s).toMatchObject({
      localAddress: "2001:db8::1", localPort: 22, remoteAddress: "::ffff:127.0.0.1", remotePort: 0xd431,
      state: "ESTABLISHED", uid: 1000, inode: 4242n,
    });
    expect(() => parseInetSockets(text, "tcp")).toThrow(/address family/);
    expect(() => parseInetSockets("hdr\n   0: zz\n", "tcp")).toThrow(ProcParseError);
  });

  test("unix: a newline in sun_path continues the previous entry", () => {
    const text =
      "Num       RefCount Protocol Flags    Type St Inode Path\n" +
      "0000000000000000: 00000002 00000000 00010000 0001 01  1001 /tmp/a\n" +
      "b c\n" +
      "0000000000000000: 00000002 00000000 00000000 0005 03  1002\n" +
      "0000000000000000: 00000002 00000000 00000000 0002 01  1003  lead space\n";
    expect(parseUnixSockets(text)).toEqual([
      { protocol: "unix", inode: 1001n, path: "/tmp/a\nb c", type: "STREAM", state: "LISTEN", stateCode: 1, flags: 0x10000 },
      { protocol: "unix", inode: 1002n, path: "", type: "SEQPACKET", state: "CONNECTED", stateCode: 3, flags: 0 },
      { protocol: "unix", inode: 1003n, path: " lead space", type: "DGRAM", state: "UNCONNECTED", stateCode: 1, flags: 0 },
    ]);
    expect(() => parseUnixSockets("hdr\nnonsense\n")).toThrow(/not a unix socket line/);
  });

  test("socketInode", () => {
    expect(socketInode("socket:[12345]")).toBe(12345n);
    expect(socketInode("pipe:[12345]")).toBeUndefined();
    expect(socketInode("/tmp/socket:[1]")).toBeUndefined();
  });
});

describe("formatIPv6 against glibc inet_ntop", () => {
  test("edge cases and random addresses print identically", () => {
    const ntop = compile("ntop", dir);
    const cases: string[] = [
      "00000000000000000000000000000000", "00000000000000000000000000000001", "00000000000000000000ffff7f000001",
      "000000000000000000000000c0000201", "00000000000000000000ffff00000000", "20010db8000000000000000000000001",
      "20010db8000000010000000000000001", "20010db8000000000001000000000001", "fe800000000000000000000000000000",
      "00010000000000000000000000000000", "00010000000100000000000000000001", "ffffffffffffffffffffffffffffffff",
      "00000000000000000000000100000000", "00000000000000000000000000010000", "20010000000000010000000000000000",
    ];
    // Random addresses with many zero words, so compression choices are exercised.
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 400; i++) {
      let h = "";
      for (let w = 0; w < 8; w++) h += rnd() % 3 === 0 ? (rnd() & 0xffff).toString(16).padStart(4, "0") : "0000";
      cases.push(h);
    }
    const want = Bun.spawnSync([ntop], { stdin: Buffer.from(`${cases.join("\n")}\n`) }).stdout.toString().trimEnd().split("\n");
    expect(want.length).toBe(cases.length);
    cases.forEach((hex, i) => {
      const bytes = Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
      expect(formatIPv6(bytes)).toBe(want[i] ?? "");
    });
  });
});
