// `ecfs read -X DIR`: unpack .procfs.tgz into DIR with the system's GNU tar (readecfs ran tar
// in the current directory instead, docs/FORMAT.md 9). Trust model: the archive is
// untrusted, so the same tar first lists it (numeric owners, C-quoted names) and the listing
// must show only regular files, directories and symlinks, with relative names free of "..",
// none below a symlink member and no symlink named twice, so nothing can be written through a
// link. DIR must be new or empty, so no link already in it can be followed either. tar then
// extracts without restoring owners or permission bits beyond the umask.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { OutputError } from "../errors.ts";
import type { EcfsFile } from "./ecfs.ts";
import { EcfsError } from "../errors.ts";

export const SEC_PROCFS_TGZ = ".procfs.tgz";
const TAR_TIMEOUT_MS = 120_000;
const MAX_LISTING = 256 << 20;

export interface TarMember {
  /** '-' regular file, 'd' directory, 'l' symlink (anything else is refused before this). */
  type: string;
  name: string;
  /** Symlink target. */
  target?: string;
}

const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"', "?": "?" };

/** A C-quoted string (GNU --quoting-style=c) starting at s[at] === '"'; returns it and where it ended. */
function unquote(s: string, at: number): { text: string; end: number } | undefined {
  if (s[at] !== '"') return undefined;
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') return { text: new TextDecoder().decode(new Uint8Array(bytes)), end: i + 1 };
    if (c !== "\\") {
      bytes.push(...enc.encode(c));
      continue;
    }
    const oct = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4));
    if (oct) {
      bytes.push(Number.parseInt(oct[0], 8) & 0xff);
      i += oct[0].length;
    } else {
      const e = ESCAPES[s[i + 1] ?? ""];
      if (e === undefined) return undefined;
      bytes.push(e.charCodeAt(0));
      i++;
    }
  }
  return undefined;
}

/** One line of `tar -tv --numeric-owner --quoting-style=c`; undefined when it has another shape. */
export function parseListingLine(line: string): TarMember | undefined {
  const q = line.indexOf('"');
  if (q < 0 || !/^[-dlhcbpCDMNSV][^ ]* \d+\/\d+ /.test(line)) return undefined;
  const name = unquote(line, q);
  if (!name) return undefined;
  const rest = line.slice(name.end);
  const member: TarMember = { type: line[0]!, name: name.text };
  if (rest === "") return member;
  const arrow = rest.startsWith(" -> ") ? 4 : rest.startsWith(" link to ") ? 9 : -1;
  const target = arrow < 0 ? undefined : unquote(rest, arrow);
  if (!target || target.end !== rest.length) return undefined;
  member.target = target.text;
  return member;
}

function runTar(args: string[], input: Uint8Array) {
  const r = spawnSync("tar", args, { input, timeout: TAR_TIMEOUT_MS, maxBuffer: MAX_LISTING, env: { ...process.env, LC_ALL: "C" } });
  if (r.error) throw new OutputError("tar", `cannot run tar: ${r.error.message}`, { cause: r.error });
  return { status: r.status, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8").trim() };
}

/** Why this listing must not be extracted, or undefined when it is safe. */
export function unsafeMember(members: TarMember[]): string | undefined {
  const links = new Set<string>();
  const names = new Map<string, number>();
  for (const m of members) {
    const name = m.name.replace(/\/+$/, "");
    names.set(name, (names.get(name) ?? 0) + 1);
    if (m.type === "l") links.add(name);
  }
  for (const m of members) {
    const name = m.name.replace(/\/+$/, "");
    const show = JSON.stringify(m.name);
    if (m.type !== "-" && m.type !== "d" && m.type !== "l") return `member ${show} is neither a file, a directory nor a symlink (type ${m.type})`;
    if (name === "" || name.startsWith("/")) return `member ${show} has an absolute or empty name`;
    const parts = name.split("/");
    if (parts.includes("..")) return `member ${show} has a ".." component`;
    for (let i = 1; i < parts.length; i++)
      if (links.has(parts.slice(0, i).join("/"))) return `member ${show} lies below the symlink ${JSON.stringify(parts.slice(0, i).join("/"))}`;
    if (m.type === "l" && names.get(name) !== 1) return `symlink ${show} appears more than once`;
  }
  return undefined;
}

/** Lists the archive and checks every member; EcfsError when it is unreadable or unsafe. */
export function listProcfs(path: string, tgz: Uint8Array): TarMember[] {
  const r = runTar(["--list", "--verbose", "--numeric-owner", "--quoting-style=c", "-z", "-f", "-"], tgz);
  if (r.status !== 0) throw new EcfsError(path, `${SEC_PROCFS_TGZ} is not a readable tar.gz (tar: ${r.stderr.split("\n")[0] ?? `exit ${r.status}`})`);
  const members: TarMember[] = [];
  for (const line of r.stdout.split("\n")) {
    if (line === "") continue;
    const m = parseListingLine(line);
    if (!m) throw new EcfsError(path, `${SEC_PROCFS_TGZ}: tar listed a member this reader cannot check: ${JSON.stringify(line.slice(0, 200))}`);
    members.push(m);
  }
  const why = unsafeMember(members);
  if (why) throw new EcfsError(path, `${SEC_PROCFS_TGZ} is unsafe to unpack: ${why}`);
  return members;
}

/** Unpacks .procfs.tgz into `dir` (created if missing, else it must be an empty directory). */
export function unpackProcfs(f: EcfsFile, dir: string): { dir: string; members: number } {
  const sh = f.section(SEC_PROCFS_TGZ);
  if (!sh) throw new EcfsError(f.path, `no ${SEC_PROCFS_TGZ} section`);
  const tgz = f.elf.sectionData(sh);
  const members = listProcfs(f.path, tgz);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new OutputError(dir, `${dir} exists and is not a directory`);
    if (readdirSync(dir).length > 0) throw new OutputError(dir, `${dir} is not empty (-X unpacks only into a new or empty directory)`);
  } else {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new OutputError(dir, `cannot create ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }
  const r = runTar(["--extract", "-z", "-f", "-", "-C", dir, "--no-same-owner", "--no-same-permissions"], tgz);
  if (r.status !== 0) throw new OutputError(dir, `tar could not unpack ${SEC_PROCFS_TGZ} into ${dir}: ${r.stderr.split("\n")[0] ?? `exit ${r.status}`}`);
  return { dir, members: members.length };
}
