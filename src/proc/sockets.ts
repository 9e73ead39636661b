// Trust model: /proc/PID/net/* is kernel text, except unix socket paths: raw sun_path bytes the
// target chose, newlines included (no escaping). Lines are checked; a path line break is rejoined.

import { endianness } from "node:os";
import { ProcParseError } from "../errors.ts";
import { formatIPv4, formatIPv6 } from "./inet.ts";
import { hasErrno, readProcText } from "./read.ts";

export type InetProtocol = "tcp" | "tcp6" | "udp" | "udp6";

export interface InetSocket {
  protocol: InetProtocol;
  inode: bigint;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Addresses in network byte order: 4 bytes (tcp/udp) or 16 (tcp6/udp6). */
  localBytes: Uint8Array;
  remoteBytes: Uint8Array;
  /** TCP state name (udp uses the same codes: CLOSE unconnected, ESTABLISHED connected). */
  state: string;
  stateCode: number;
  uid: number;
}

export interface UnixSocket {
  protocol: "unix";
  inode: bigint;
  /** Bound name: a path, "@name" for the abstract namespace (NULs shown as "@"), "" if unbound. */
  path: string;
  type: string;
  /** "LISTEN" for a listening socket, else the socket_state name (CONNECTED, UNCONNECTED, ...). */
  state: string;
  stateCode: number;
  flags: number;
}

export type SocketEntry = InetSocket | UnixSocket;

/** include/net/tcp_states.h. */
const TCP_STATES: Record<number, string> = {
  0x01: "ESTABLISHED", 0x02: "SYN_SENT", 0x03: "SYN_RECV", 0x04: "FIN_WAIT1", 0x05: "FIN_WAIT2",
  0x06: "TIME_WAIT", 0x07: "CLOSE", 0x08: "CLOSE_WAIT", 0x09: "LAST_ACK", 0x0a: "LISTEN", 0x0b: "CLOSING",
  0x0c: "NEW_SYN_RECV", 0x0d: "BOUND_INACTIVE",
};
/** socket_state (include/uapi/linux/net.h) and sock_type (include/linux/net.h). */
const SS_STATES: Record<number, string> = { 0: "FREE", 1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING" };
const SOCK_TYPES: Record<number, string> = { 1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 10: "PACKET" };
/** net.h: the "Flags" column is this for a listening unix socket. */
const __SO_ACCEPTCON = 1 << 16;

const hex = (v: number, width: number): string => `0x${v.toString(16).padStart(width, "0")}`;
export const tcpStateName = (v: number): string => TCP_STATES[v] ?? hex(v, 2);

/** The kernel prints each 32-bit word of the address with %08X in HOST byte order. */
const HOST_LE = endianness() === "LE";

function parseAddr(text: string, source: string, line: number): { bytes: Uint8Array; port: number } {
  const m = /^((?:[0-9A-F]{8}){1,4}):([0-9A-F]{4})$/.exec(text);
  if (m === null || m[1] === undefined || m[2] === undefined || (m[1].length !== 8 && m[1].length !== 32))
    throw new ProcParseError(source, line, `bad address "${text}"`);
  const words = m[1];
  const bytes = new Uint8Array(words.length / 2);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < words.length / 8; i++) dv.setUint32(i * 4, Number.parseInt(words.slice(i * 8, i * 8 + 8), 16), HOST_LE);
  return { bytes, port: Number.parseInt(m[2], 16) };
}

/** Parses /proc/PID/net/{tcp,tcp6,udp,udp6} (tcp4_seq_show(), udp4_format_sock(), ...). */
export function parseInetSockets(text: string, protocol: InetProtocol, source: string = protocol): InetSocket[] {
  const out: InetSocket[] = [];
  const v6 = protocol.endsWith("6");
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "") continue;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.split(/\s+/);
    if (f.length < 10 || !/^\d+:$/.test(f[0] ?? "")) throw new ProcParseError(source, i + 1, "not a socket line");
    const local = parseAddr(f[1] ?? "", source, i + 1);
    const remote = parseAddr(f[2] ?? "", source, i + 1);
    if (local.bytes.byteLength !== (v6 ? 16 : 4) || remote.bytes.byteLength !== local.bytes.byteLength)
      throw new ProcParseError(source, i + 1, "address family does not match the file");
    const st = f[3] ?? "";
    const uid = f[7] ?? "";
    const inode = f[9] ?? "";
    if (!/^[0-9A-F]{2}$/.test(st) || !/^\d+$/.test(uid) || !/^\d+$/.test(inode))
      throw new ProcParseError(source, i + 1, "bad state, uid or inode");
    const stateCode = Number.parseInt(st, 16);
    const fmt = v6 ? formatIPv6 : formatIPv4;
    out.push({
      protocol, inode: BigInt(inode),
      localAddress: fmt(local.bytes), localPort: local.port, localBytes: local.bytes,
      remoteAddress: fmt(remote.bytes), remotePort: remote.port, remoteBytes: remote.bytes,
      state: tcpStateName(stateCode), stateCode, uid: Number(uid),
    });
  }
  return out;
}

/** "%pK: %08X %08X %08X %04X %02X %5lu" then " path" (unix_seq_show() in net/unix/af_unix.c). */
const UNIX_LINE = /^[0-9a-f]+: [0-9A-F]{8} [0-9A-F]{8} ([0-9A-F]{8}) ([0-9A-F]{4}) ([0-9A-F]{2}) +(\d+)(?: (.*))?$/;

/**
 * Parses /proc/PID/net/unix. sun_path is printed raw, so a line that is not a socket line is the
 * rest of the previous path after a newline; a path crafted to look like a whole socket line
 * cannot be told from one (sock_diag would be needed), so the caller keeps the first per inode.
 */
export function parseUnixSockets(text: string, source = "unix"): UnixSocket[] {
  const out: UnixSocket[] = [];
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const m = UNIX_LINE.exec(line);
    if (m === null) {
      const prev = out[out.length - 1];
      if (i === lines.length - 1 && line === "") break;
      if (prev === undefined || prev.path === "") throw new ProcParseError(source, i + 1, "not a unix socket line");
      prev.path += `\n${line}`;
      continue;
    }
    const [, flagsHex = "", typeHex = "", stHex = "", inode = "", path = ""] = m;
    const flags = Number.parseInt(flagsHex, 16);
    const typeCode = Number.parseInt(typeHex, 16);
    const stateCode = Number.parseInt(stHex, 16);
    out.push({
      protocol: "unix", inode: BigInt(inode), path,
      type: SOCK_TYPES[typeCode] ?? hex(typeCode, 4),
      state: flags & __SO_ACCEPTCON ? "LISTEN" : (SS_STATES[stateCode] ?? hex(stateCode, 2)),
      stateCode, flags,
    });
  }
  return out;
}

const INET_FILES: InetProtocol[] = ["tcp", "tcp6", "udp", "udp6"];

/**
 * Sockets of the target's network namespace (/proc/PID/net, not ours), by inode, to join with
 * "socket:[N]" fd links. A file missing while the process exists (no IPv6) is skipped; for a
 * duplicated inode the first line wins; inode 0 entries are left out.
 */
export function readSockets(pid: number): Map<bigint, SocketEntry> {
  const out = new Map<bigint, SocketEntry>();
  const add = (e: SocketEntry): void => {
    // Inode 0: no struct socket (TIME_WAIT, a connection not yet accepted); no fd can name it.
    if (e.inode !== 0n && !out.has(e.inode)) out.set(e.inode, e);
  };
  const read = (name: string): string | undefined => {
    try {
      return readProcText(`/proc/${pid}/net/${name}`);
    } catch (e) {
      if (hasErrno(e, "ENOENT")) return undefined;
      throw e;
    }
  };
  for (const proto of INET_FILES) {
    const text = read(proto);
    if (text !== undefined) for (const s of parseInetSockets(text, proto, `/proc/${pid}/net/${proto}`)) add(s);
  }
  const unix = read("unix");
  if (unix !== undefined) for (const s of parseUnixSockets(unix, `/proc/${pid}/net/unix`)) add(s);
  return out;
}

/** The inode of an fd link "socket:[12345]". */
export function socketInode(link: string): bigint | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m?.[1] === undefined ? undefined : BigInt(m[1]);
}
