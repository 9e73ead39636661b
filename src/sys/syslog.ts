// One message to the system log through its socket (/dev/log: AF_UNIX, SOCK_DGRAM), in the
// format syslog(3) sends: "<PRI>TAG[PID]: MESSAGE". syslog(3) itself is variadic, so it is not
// called through FFI; the socket is all it does anyway.

import { ptr } from "bun:ffi";
import { existsSync } from "node:fs";
import { libc } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un): sa_family_t then 108 bytes of path. */
const SOCKADDR_UN = 110;

export const LOG_USER = 1 << 3;
export const LOG_ERR = 3;
export const LOG_WARNING = 4;
export const LOG_NOTICE = 5;

/** Sends `message`; false when there is no log socket or it refused the datagram. Never throws. */
export function syslogSend(socketPath: string, priority: number, tag: string, message: string): boolean {
  const path = new TextEncoder().encode(socketPath);
  if (path.byteLength >= SOCKADDR_UN - 2 || !existsSync(socketPath)) return false;
  const addr = new Uint8Array(SOCKADDR_UN);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(path, 2);
  const body = new TextEncoder().encode(`<${priority}>${tag}[${process.pid}]: ${message}`);
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    return libc.sendto(fd, ptr(body), BigInt(body.byteLength), MSG_NOSIGNAL, ptr(addr), 2 + path.byteLength + 1) === BigInt(body.byteLength);
  } finally {
    libc.close(fd);
  }
}
