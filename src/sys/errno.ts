// errno numbers of x86_64/i386 Linux (asm-generic/errno-base.h, errno.h) and their names,
// so every failed call can say which errno it was.

const NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
  9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY",
  17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE",
  24: "EMFILE", 25: "ENOTTY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 32: "EPIPE",
  34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 61: "ENODATA",
  75: "EOVERFLOW", 95: "EOPNOTSUPP", 110: "ETIMEDOUT", 122: "EDQUOT",
};

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EIO = 5;
export const ECHILD = 10;
export const EFAULT = 14;
export const EINVAL = 22;
export const ENOSPC = 28;

export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}

