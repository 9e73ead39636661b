// What the smallest entry point needs (src/main.ts): the version, and the names the original
// tools had, each a link to this one program that means one command.

export const VERSION = "0.1.0";

export const PROGRAM_NAMES: Record<string, string> = { readecfs: "read", ecfs_handler: "handler", ecfs_snapshot: "snapshot", et_flip: "flip" };
