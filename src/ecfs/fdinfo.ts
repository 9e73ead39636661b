// The .fdinfo section (docs/FORMAT.md 4: an array of the original's fd_info_t) and its
// companion .fdinfo.ext (JSON Lines, for what fd_info_t cannot hold: long paths, IPv6, UNIX
// sockets, socket states). Trust model: encoding takes our own /proc readings; decoding takes
// section bytes from a file anyone may have written, so every record and line is bounded and
// checked, and malformed input is an ElfFormatError naming the record or line.

import * as v from "valibot";
import { ByteReader, ByteWriter, utf8 } from "../elf/bytes.ts";
import type { ElfClass } from "../elf/class.ts";
import { ElfFormatError, assert } from "../errors.ts";
import type { FdEntry } from "../proc/fds.ts";
import { type SocketEntry, socketInode } from "../proc/sockets.ts";

export const SEC_FDINFO_EXT = ".fdinfo.ext";

/** fd_info_t.net (ecfs.h). */
export const NET_NONE = 0;
export const NET_TCP = 1;
export const NET_UDP = 2;
/** ecfs.h MAX_PATH: size of fd_info_t.path. */
export const MAX_PATH = 512;

/** fd_info_t, field names as in ecfs.h; addresses are 4 bytes in network order. */
export interface fd_info_t {
  fd: number;
  /** Up to MAX_PATH bytes of the fd link text, up to the first NUL, decoded as UTF-8. */
  path: string;
  pos: bigint;
  perms: number;
  socket: { src_addr: Uint8Array; dst_addr: Uint8Array; src_port: number; dst_port: number };
  net: number;
}

/** Field offsets of fd_info_t per class (docs/FORMAT.md 4.3): loff_t is 8-aligned only on x86_64. */
const LAYOUT = {
  x86_64: { size: 552, fd: 0, path: 4, pos: 520, perms: 528, src_addr: 532, dst_addr: 536, src_port: 540, dst_port: 542, net: 544 },
  i386: { size: 544, fd: 0, path: 4, pos: 516, perms: 524, src_addr: 528, dst_addr: 532, src_port: 536, dst_port: 538, net: 540 },
} as const;

function layoutOf(cls: ElfClass): (typeof LAYOUT)[keyof typeof LAYOUT] {
  const l = LAYOUT[cls.name];
  assert(l.size === cls.fdInfoSize, `fd_info_t size ${l.size} != ElfClass.fdInfoSize ${cls.fdInfoSize}`);
  return l;
}

const ZERO4 = new Uint8Array(4);
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** 4 IPv4 bytes of a 4-byte address, a ::ffff:a.b.c.d address, or :: (unspecified); else undefined. */
function asIPv4(b: Uint8Array): Uint8Array | undefined {
  if (b.byteLength === 4) return b;
  if (b.byteLength !== 16) return undefined;
  if (b.every((x) => x === 0)) return ZERO4;
  return V4_MAPPED_PREFIX.every((x, i) => b[i] === x) ? b.subarray(12, 16) : undefined;
}

/** The fd_info_t.socket and .net values, when the socket is IPv4 TCP/UDP (or v4-mapped tcp6/udp6). */
function inetFields(s: SocketEntry | undefined) {
  if (s === undefined || s.protocol === "unix") return undefined;
  const src = asIPv4(s.localBytes);
  const dst = asIPv4(s.remoteBytes);
  // A v6 socket counts only if its local address is really IPv4 (:: local = a v6 listener).
  if (src === undefined || dst === undefined || (s.localBytes.byteLength === 16 && src === ZERO4)) return undefined;
  return { src, dst, srcPort: s.localPort, dstPort: s.remotePort, net: s.protocol.startsWith("tcp") ? NET_TCP : NET_UDP };
}

/**
 * The .fdinfo section: one fd_info_t per fd, in the order given (readFds: ascending). Unlike
 * the original, pos keeps all 64 bits and there is no 256-fd limit. The path is cut at 511
 * bytes so the field always ends in a NUL (C readers strcpy it); the full text is in .fdinfo.ext.
 */
export function encodeFdInfo(cls: ElfClass, fds: FdEntry[], sockets: Map<bigint, SocketEntry>): Uint8Array {
  const l = layoutOf(cls);
  const w = new ByteWriter(fds.length * l.size);
  fds.forEach((e, i) => {
    const base = i * l.size;
    const path = utf8.encode(e.target);
    w.i32(base + l.fd, e.fd).set(base + l.path, path.subarray(0, MAX_PATH - 1));
    w.u64(base + l.pos, e.pos).u32(base + l.perms, e.flags);
    const ino = socketInode(e.target);
    const inet = inetFields(ino === undefined ? undefined : sockets.get(ino));
    if (inet === undefined) return;
    w.set(base + l.src_addr, inet.src).set(base + l.dst_addr, inet.dst);
    w.u16(base + l.src_port, inet.srcPort).u16(base + l.dst_port, inet.dstPort).u8(base + l.net, inet.net);
  });
  return w.bytes;
}

const pathDecoder = new TextDecoder("utf-8");

/** Reads a .fdinfo section back; its size must be a whole number of records. */
export function decodeFdInfo(cls: ElfClass, bytes: Uint8Array): fd_info_t[] {
  const l = layoutOf(cls);
  if (bytes.byteLength % l.size !== 0) throw new ElfFormatError(0, ".fdinfo size is not a multiple of fd_info_t", bytes.byteLength);
  const r = new ByteReader(bytes);
  const out: fd_info_t[] = [];
  for (let base = 0; base < bytes.byteLength; base += l.size) {
    const raw = r.view(base + l.path, MAX_PATH, "fd_info_t.path");
    const nul = raw.indexOf(0);
    out.push({
      fd: r.i32(base + l.fd, "fd_info_t.fd"),
      path: pathDecoder.decode(nul < 0 ? raw : raw.subarray(0, nul)),
      pos: r.i64(base + l.pos, "fd_info_t.pos"),
      perms: r.u32(base + l.perms, "fd_info_t.perms"),
      socket: {
        src_addr: r.view(base + l.src_addr, 4, "fd_info_t.socket.src_addr"),
        dst_addr: r.view(base + l.dst_addr, 4, "fd_info_t.socket.dst_addr"),
        src_port: r.u16(base + l.src_port, "fd_info_t.socket.src_port"),
        dst_port: r.u16(base + l.dst_port, "fd_info_t.socket.dst_port"),
      },
      net: r.u8(base + l.net, "fd_info_t.net"),
    });
  }
  return out;
}

// ---- .fdinfo.ext: JSON Lines, format "ecfs-fdinfo-ext" version 1 (spec in README) ----

export const FDINFO_EXT_FORMAT = "ecfs-fdinfo-ext";
export const FDINFO_EXT_VERSION = 1;
/** Longest line a reader accepts: a 4096-byte d_path() target escaped as \uXXXX is ~24.6 KiB. */
export const FDINFO_EXT_LINE_MAX = 64 * 1024;

const Dec = v.pipe(v.string(), v.regex(/^(0|[1-9]\d{0,19})$/), v.transform((s: string) => BigInt(s)), v.maxValue((1n << 64n) - 1n));
const Int = (max: number) => v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(max));

const InetSchema = v.object({
  protocol: v.picklist(["tcp", "tcp6", "udp", "udp6"]),
  inode: Dec,
  localAddress: v.string(),
  localPort: Int(65535),
  remoteAddress: v.string(),
  remotePort: Int(65535),
  state: v.string(),
  uid: Int(0xffffffff),
});
const UnixSchema = v.object({ protocol: v.literal("unix"), inode: Dec, path: v.string(), sockType: v.string(), state: v.string() });
const UnknownSocketSchema = v.object({ protocol: v.literal("unknown"), inode: Dec });

export const FdExtRecordSchema = v.pipe(
  v.object({
    fd: Int(0x7fffffff),
    target: v.string(),
    type: v.picklist(["file", "pipe", "socket", "anon", "other"]),
    deleted: v.optional(v.literal(true)),
    pos: Dec,
    flags: v.pipe(v.string(), v.regex(/^0[0-7]{0,11}$/)),
    flagsValue: Int(0xffffffff),
    mntId: v.optional(Int(0xffffffff)),
    ino: v.optional(Dec),
    socket: v.optional(v.variant("protocol", [InetSchema, UnixSchema, UnknownSocketSchema])),
  }),
  v.check((r) => Number.parseInt(r.flags, 8) === r.flagsValue, "flags and flagsValue disagree"),
);
export type FdExtRecord = v.InferOutput<typeof FdExtRecordSchema>;
const HeaderSchema = v.object({ format: v.literal(FDINFO_EXT_FORMAT), version: v.literal(FDINFO_EXT_VERSION) });

/** What kind of object an fd link names (proc_fd_link(): d_path, or "<type>:[ino]" for pseudo files). */
function fdType(target: string): FdExtRecord["type"] {
  if (target.startsWith("/")) return "file";
  if (/^pipe:\[\d+\]$/.test(target)) return "pipe";
  if (/^socket:\[\d+\]$/.test(target)) return "socket";
  if (target.startsWith("anon_inode:")) return "anon";
  return "other";
}

function socketJson(ino: bigint, s: SocketEntry | undefined): Record<string, unknown> {
  if (s === undefined) return { protocol: "unknown", inode: ino.toString() };
  if (s.protocol === "unix")
    return { protocol: "unix", inode: s.inode.toString(), path: s.path, sockType: s.type, state: s.state };
  return {
    protocol: s.protocol, inode: s.inode.toString(), localAddress: s.localAddress, localPort: s.localPort,
    remoteAddress: s.remoteAddress, remotePort: s.remotePort, state: s.state, uid: s.uid,
  };
}

/** The .fdinfo.ext section: a header line, then one JSON object per fd, each ending in "\n". */
export function encodeFdInfoExt(fds: FdEntry[], sockets: Map<bigint, SocketEntry>): Uint8Array {
  const lines = [JSON.stringify({ format: FDINFO_EXT_FORMAT, version: FDINFO_EXT_VERSION })];
  for (const e of fds) {
    const type = fdType(e.target);
    const rec: Record<string, unknown> = { fd: e.fd, target: e.target, type };
    if (type === "file" && e.target.endsWith(" (deleted)")) rec.deleted = true;
    Object.assign(rec, { pos: e.pos.toString(), flags: `0${e.flags.toString(8)}`, flagsValue: e.flags });
    if (e.mntId !== undefined) rec.mntId = e.mntId;
    if (e.ino !== undefined) rec.ino = e.ino.toString();
    const ino = socketInode(e.target);
    if (ino !== undefined) rec.socket = socketJson(ino, sockets.get(ino));
    lines.push(JSON.stringify(rec));
  }
  return utf8.encode(`${lines.join("\n")}\n`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const issues = (i: [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]): string => v.summarize(i).replaceAll("\n", "; ");

/**
 * Reads a .fdinfo.ext section back. Unknown keys are ignored (later minor additions); a
 * different format or version, a bad line, or fds not strictly ascending is an ElfFormatError
 * "line N: ..." at the line's byte offset in the section.
 */
export function decodeFdInfoExt(bytes: Uint8Array): FdExtRecord[] {
  const out: FdExtRecord[] = [];
  let off = 0;
  for (let n = 1; off < bytes.byteLength; n++) {
    const nl = bytes.indexOf(0x0a, off);
    const bad = (what: string, value?: unknown): ElfFormatError =>
      new ElfFormatError(off, `${SEC_FDINFO_EXT} line ${n}: ${what}`, value);
    if (nl < 0) throw bad("no newline at the end");
    if (nl - off > FDINFO_EXT_LINE_MAX) throw bad("line too long", nl - off);
    let text: string;
    let value: unknown;
    try {
      text = strictUtf8.decode(bytes.subarray(off, nl));
    } catch (e) {
      throw bad(`not UTF-8 (${String(e)})`);
    }
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw bad(`not JSON (${String(e)})`);
    }
    if (n === 1) {
      const h = v.safeParse(HeaderSchema, value);
      if (!h.success) throw bad(`not a ${FDINFO_EXT_FORMAT} version ${FDINFO_EXT_VERSION} header: ${issues(h.issues)}`);
    } else {
      const r = v.safeParse(FdExtRecordSchema, value);
      if (!r.success) throw bad(issues(r.issues));
      const prev = out[out.length - 1];
      if (prev !== undefined && r.output.fd <= prev.fd) throw bad("fd not ascending", r.output.fd);
      out.push(r.output);
    }
    off = nl + 1;
  }
  if (off === 0) throw new ElfFormatError(0, `${SEC_FDINFO_EXT}: empty, no header line`);
  return out;
}
