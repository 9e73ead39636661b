// What the dynamic linker was asked to preload: LD_PRELOAD from the environment the process
// started with (/proc/PID/environ, which is what ld.so read), and /etc/ld.so.preload. Entries
// are split as glibc's rtld.c splits them: LD_PRELOAD at spaces and colons
// (handle_preload_list), the file at spaces, tabs, newlines and colons, with `#` comments.

import { readFileSync } from "node:fs";

export const LD_SO_PRELOAD = "/etc/ld.so.preload";
/** More than any sane preload file; the rest is ignored. */
const MAX_PRELOAD_FILE = 64 * 1024;

const decoder = new TextDecoder();

/** LD_PRELOAD's entries; ld.so's environment walk keeps the last LD_PRELOAD= it meets. */
export function preloadFromEnviron(environ: Uint8Array): string[] {
  let value: string | undefined;
  for (const entry of decoder.decode(environ).split("\0")) if (entry.startsWith("LD_PRELOAD=")) value = entry.slice("LD_PRELOAD=".length);
  return value === undefined ? [] : value.split(/[ :]/).filter((e) => e !== "");
}

export function preloadFromFile(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join("\n")
    .split(/[ \t\n:]/)
    .filter((e) => e !== "");
}

/** /etc/ld.so.preload's entries, [] when there is no such file (the usual case). */
export function readPreloadFile(path = LD_SO_PRELOAD): string[] {
  try {
    const bytes = readFileSync(path);
    return preloadFromFile(decoder.decode(bytes.subarray(0, MAX_PRELOAD_FILE)));
  } catch {
    return [];
  }
}
