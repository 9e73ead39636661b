// Open file descriptors of an ECFS file: the original's fixed fd_info_t records (.fdinfo) and,
// when present, ecfs-ts's .fdinfo.ext JSON lines (full link text, IPv6, UNIX sockets, states).
// Decoding and its bounds live with the encoder (ecfs/fdinfo.ts); this joins the two by fd.

import type { ElfClass } from "../elf/class.ts";
import { decodeFdInfo, decodeFdInfoExt, type FdExtRecord, NET_TCP, NET_UDP } from "../ecfs/fdinfo.ts";
import { formatIPv4 } from "../proc/inet.ts";

export interface FdInfo {
  fd: number;
  /** The fd link text: .fdinfo.ext's (never cut), else fd_info_t.path (at most 512 bytes). */
  path: string;
  pos: bigint;
  /** The open flags (fdinfo "flags:", octal in /proc, a number here). */
  flags: number;
  /** fd_info_t.socket when fd_info_t.net is NET_TCP or NET_UDP (IPv4 only, as the original). */
  inet?: { protocol: "tcp" | "udp"; srcAddr: string; srcPort: number; dstAddr: string; dstPort: number };
  /** The .fdinfo.ext record of this fd, when the file has one. */
  ext?: FdExtRecord;
}

/** Joins .fdinfo and .fdinfo.ext (either may be absent) into one list, in fd order. */
export function joinFds(cls: ElfClass, fdinfo: Uint8Array | undefined, ext: Uint8Array | undefined): FdInfo[] {
  const extByFd = new Map<number, FdExtRecord>();
  if (ext) for (const r of decodeFdInfoExt(ext)) extByFd.set(r.fd, r);
  const out: FdInfo[] = [];
  if (fdinfo) {
    for (const rec of decodeFdInfo(cls, fdinfo)) {
      const e = extByFd.get(rec.fd);
      const fd: FdInfo = { fd: rec.fd, path: e?.target ?? rec.path, pos: rec.pos, flags: rec.perms };
      if (rec.net === NET_TCP || rec.net === NET_UDP)
        fd.inet = {
          protocol: rec.net === NET_TCP ? "tcp" : "udp",
          srcAddr: formatIPv4(rec.socket.src_addr),
          srcPort: rec.socket.src_port,
          dstAddr: formatIPv4(rec.socket.dst_addr),
          dstPort: rec.socket.dst_port,
        };
      if (e) fd.ext = e;
      out.push(fd);
      extByFd.delete(rec.fd);
    }
  }
  // Records only the extension has (a file written without .fdinfo, or a longer list).
  for (const e of extByFd.values()) out.push({ fd: e.fd, path: e.target, pos: e.pos, flags: e.flagsValue, ext: e });
  return out.sort((a, b) => a.fd - b.fd);
}
