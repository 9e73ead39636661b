// Where ecfs may write a file of its own (`snapshot -o`, `read -O`): a new name, or an existing
// regular file when the user said --force. Never through a symbolic link at the name (the link's
// target is someone else's file), never over a device, socket or FIFO, and never under /proc,
// /sys or /dev, where a "file" is a kernel interface (a snapshot renamed over /dev/null turned
// the device into a 0600 file). Checked before a target is stopped and before a byte is written.

import { lstatSync, realpathSync, type Stats, statfsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { OutputError } from "../errors.ts";

/** Kernel file systems: nothing ecfs makes belongs there. */
const KERNEL_TREES = ["/proc", "/sys", "/dev"];

/** Why an existing name must not be written, or undefined for a regular file. */
function refusal(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isSymbolicLink()) return "it is a symbolic link; ecfs never writes through one (name the file itself)";
  if (st.isDirectory()) return "it is a directory";
  const kind = st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device"
    : st.isFIFO() ? "a FIFO" : st.isSocket() ? "a socket" : "not a regular file";
  return `it is ${kind}; ecfs writes only to a regular file or a new name`;
}

/** statfs f_type of the kernel's pseudo file systems (linux/magic.h): they hold no files of ours. */
const KERNEL_FS: Record<number, string> = {
  0x9fa0: "procfs", 0x62656572: "sysfs", 0x27e0eb: "cgroupfs", 0x63677270: "cgroup2", 0x64626720: "debugfs",
  0x74726163: "tracefs", 0x73636673: "securityfs", 0xcafe4a11: "bpffs", 0x1cd1: "devpts", 0x62656570: "configfs",
  0x6165676c: "pstore", 0xde5e81e4: "efivarfs", 0x42494e4d: "binfmt_misc", 0x65735543: "fusectl",
};

/** The name of the kernel pseudo file system `dir` is on, if it is on one (mounted anywhere). */
export function kernelFileSystem(dir: string): string | undefined {
  try {
    return KERNEL_FS[statfsSync(dir).type];
  } catch {
    return undefined;
  }
}

const under = (path: string, tree: string): boolean => path === tree || path.startsWith(`${tree}/`);

/**
 * Throws OutputError (one sentence) unless `path` may be written: it does not exist, or it is a
 * regular file and `force` is set. A directory missing on the way is left to the writer, which
 * names it.
 */
export function checkOutputPath(path: string, force: boolean): void {
  const refuse = (why: string): never => {
    throw new OutputError(path, `cannot write ${path}: ${why}`);
  };
  let st: Stats | undefined;
  try {
    st = lstatSync(path);
  } catch {
    // Not there (the normal case), or its directory is not: the writer says which.
  }
  const bad = st && refusal(st);
  if (bad) refuse(bad);
  let real: string | undefined;
  try {
    real = join(realpathSync(dirname(resolve(path))), basename(path));
  } catch {
    // The directory is missing or unreadable: the writer reports that.
  }
  const tree = real && KERNEL_TREES.find((t) => under(real, t));
  if (tree) refuse(`${real === resolve(path) ? "it" : real} is under ${tree}, a kernel interface, not a place for files`);
  if (st && !force) refuse("the file exists (--force replaces it)");
}
