// The one file-system call node:fs lacks: linkat(2), to give an O_TMPFILE file its name.

import { SyscallError } from "../errors.ts";
import { errnoName } from "./errno.ts";
import { errno, libc } from "./libc.ts";

const AT_FDCWD = -100;
const AT_SYMLINK_FOLLOW = 0x400;
/** open(2): __O_TMPFILE | O_DIRECTORY, as <fcntl.h> defines O_TMPFILE on x86. */
export const O_TMPFILE = 0o20000000 | 0o200000;

const cString = (s: string): Uint8Array => new TextEncoder().encode(`${s}\0`);

/** Links the open file `fd` (typically O_TMPFILE, which has no name yet) at `path`; EEXIST if taken. */
export function linkFd(fd: number, path: string): void {
  // /proc/self/fd/N followed, as open(2) documents for O_TMPFILE; AT_EMPTY_PATH would need
  // CAP_DAC_READ_SEARCH, which an unprivileged user does not have.
  if (libc.linkat(AT_FDCWD, cString(`/proc/self/fd/${fd}`), AT_FDCWD, cString(path), AT_SYMLINK_FOLLOW) === 0) return;
  const e = errno();
  throw new SyscallError(`linkat ${path}`, e, errnoName(e));
}
