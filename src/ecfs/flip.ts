// et_flip: toggle e_type (offset 16, both classes) between ET_NONE and ET_CORE in place.
// Like the original, any other value becomes ET_NONE; running it twice restores the file.

import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { ElfFormatError, OutputError } from "../errors.ts";
import { ET_CORE, ET_NONE } from "../elf/consts.ts";
import { errorCode } from "../sys/errno.ts";

export function flipFile(path: string): { from: number; to: number } {
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (e) {
    const code = errorCode(e);
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code);
    throw new OutputError(path, `cannot open ${path}: ${why}`, { cause: e });
  }
  try {
    const head = new Uint8Array(18);
    if (readSync(fd, head, 0, 18, 0) < 18) throw new ElfFormatError(0, `${path}: too short for an ELF header`);
    if (head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) throw new ElfFormatError(0, `${path}: not an ELF file (bad magic)`);
    const from = head[16]! | (head[17]! << 8);
    const to = from === ET_NONE ? ET_CORE : ET_NONE;
    writeSync(fd, new Uint8Array([to & 0xff, to >> 8]), 0, 2, 16);
    return { from, to };
  } finally {
    closeSync(fd);
  }
}
