// `ecfs read -X DIR`: hostile .procfs.tgz archives, made by GNU tar itself from staged trees
// (".." and absolute names with -P, a member written through a symlink member, hard links,
// FIFOs, a symlink twice) are refused before anything is written; a benign one unpacks.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLASS64 } from "../../src/elf/class.ts";
import { SHT_LOUSER } from "../../src/elf/consts.ts";
import { parseListingLine, unsafeMember } from "../../src/reader/unpack.ts";
import { ecfs } from "../helpers/ecfs.ts";
import { basicSections, buildSynthetic } from "./synth.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-reader-unpack-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A fresh directory under work. */
const fresh = (what: string): string => {
  const d = join(work, `${what}-${n++}`);
  mkdirSync(d);
  return d;
};

/** An ECFS file whose .procfs.tgz is `tar -cz ARGS` run in `cwd`. */
function ecfsWithTar(cwd: string, args: string[]): string {
  const r = spawnSync("tar", ["-cz", "-f", "-", ...args], { cwd });
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")}: ${r.stderr.toString()}`);
  const file = join(work, `procfs-${n++}.ecfs`);
  writeFileSync(file, buildSynthetic({ cls: CLASS64, sections: [...basicSections(), { name: ".procfs.tgz", type: SHT_LOUSER, data: new Uint8Array(r.stdout), entsize: 1 }] }));
  return file;
}

describe("ecfs read -X refuses archives that could write outside DIR", () => {
  const outside = fresh("outside");
  const cases: { title: string; make: () => string; why: RegExp }[] = [
    {
      title: "a member named ../x",
      make: () => {
        const d = fresh("dotdot");
        mkdirSync(join(d, "sub"));
        writeFileSync(join(d, "evil"), "x");
        return ecfsWithTar(join(d, "sub"), ["-P", "../evil"]);
      },
      why: /member "\.\.\/evil" has a "\.\." component/,
    },
    {
      title: "an absolute member name",
      make: () => {
        const d = fresh("abs");
        writeFileSync(join(d, "evil"), "x");
        return ecfsWithTar(d, ["-P", join(d, "evil")]);
      },
      why: /member "\/\S+evil" has an absolute or empty name/,
    },
    {
      title: "a member below a symlink member (link -> outside, then link/pwned)",
      make: () => {
        const a = fresh("link-a");
        const b = fresh("link-b");
        symlinkSync(outside, join(a, "link"));
        mkdirSync(join(b, "link"));
        writeFileSync(join(b, "link", "pwned"), "x");
        return ecfsWithTar(a, ["link", "-C", b, "link/pwned"]);
      },
      why: /member "link\/pwned" lies below the symlink "link"/,
    },
    {
      title: "a hard link",
      make: () => {
        const d = fresh("hard");
        writeFileSync(join(d, "a"), "x");
        linkSync(join(d, "a"), join(d, "b"));
        return ecfsWithTar(d, ["a", "b"]);
      },
      why: /member "b" is neither a file, a directory nor a symlink \(type h\)/,
    },
    {
      title: "a FIFO",
      make: () => {
        const d = fresh("fifo");
        spawnSync("mkfifo", [join(d, "p")]);
        return ecfsWithTar(d, ["p"]);
      },
      why: /member "p" is neither a file, a directory nor a symlink \(type p\)/,
    },
    {
      title: "one symlink name twice",
      make: () => {
        const d = fresh("twice");
        symlinkSync("/", join(d, "l"));
        return ecfsWithTar(d, ["l", "l"]);
      },
      why: /symlink "l" appears more than once/,
    },
  ];
  for (const c of cases)
    test(c.title, () => {
      const file = c.make();
      const dir = join(work, `x-${n++}`);
      const r = ecfs(["read", "-X", dir, file]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(new RegExp(`^ecfs: \\S+: \\.procfs\\.tgz is unsafe to unpack: ${c.why.source}\\n$`));
      expect(existsSync(dir)).toBe(false);
      expect(readdirSync(outside)).toEqual([]);
    });

  test("bytes that are not a tar.gz", () => {
    const file = join(work, "garbage.ecfs");
    writeFileSync(file, buildSynthetic({ cls: CLASS64, sections: [...basicSections(), { name: ".procfs.tgz", type: SHT_LOUSER, data: new Uint8Array(64).fill(7) }] }));
    const r = ecfs(["read", "-X", join(work, "never"), file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ecfs: \S+: \.procfs\.tgz is not a readable tar\.gz \(tar: .*\)\n$/);
  });

  test("a file without .procfs.tgz", () => {
    const file = join(work, "none.ecfs");
    writeFileSync(file, buildSynthetic({ cls: CLASS64, sections: basicSections() }));
    const r = ecfs(["read", "-X", join(work, "never"), file]);
    expect([r.code, r.stderr]).toEqual([1, `ecfs: ${file}: no .procfs.tgz section to unpack\n`]);
  });
});

test("ecfs read -X unpacks a benign archive with symlinks pointing anywhere, into DIR only", () => {
  const d = fresh("benign");
  mkdirSync(join(d, "proc", "1", "fd"), { recursive: true });
  writeFileSync(join(d, "proc", "1", "comm"), "init\n");
  symlinkSync("/", join(d, "proc", "1", "root"));
  symlinkSync("socket:[1234]", join(d, "proc", "1", "fd", "3"));
  const file = ecfsWithTar(d, ["proc"]);
  const dir = join(work, "benign-out");
  const r = ecfs(["read", "-X", dir, file]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(r.stdout).toContain(`- Unpacked .procfs.tgz (6 members) into ${dir}\n`);
  expect(readFileSync(join(dir, "proc", "1", "comm"), "utf8")).toBe("init\n");
  expect(readlinkSync(join(dir, "proc", "1", "root"))).toBe("/");
  expect(readlinkSync(join(dir, "proc", "1", "fd", "3"))).toBe("socket:[1234]");
});

describe("the tar listing parser", () => {
  test("C-quoted names with quotes, newlines, arrows and octal escapes", () => {
    expect(parseListingLine(String.raw`-rw-r--r-- 0/0               3 2024-01-01 00:00 "a/we\"ird\nname -> x"`)).toEqual({ type: "-", name: 'a/we"ird\nname -> x' });
    expect(parseListingLine(String.raw`lrwxrwxrwx 0/0               0 2024-01-01 00:00 "l" -> "/t\303\251"`)).toEqual({ type: "l", name: "l", target: "/té" });
    expect(parseListingLine(String.raw`hrw-r--r-- 0/0               0 2024-01-01 00:00 "b" link to "a"`)).toEqual({ type: "h", name: "b", target: "a" });
    expect(parseListingLine(String.raw`-rw-r--r-- 0/0 3 2024-01-01 00:00 "unterminated`)).toBeUndefined();
    expect(parseListingLine(String.raw`-rw-r--r-- 0/0 3 2024-01-01 00:00 "a" trailing`)).toBeUndefined();
    expect(parseListingLine("tar: something")).toBeUndefined();
  });

  test("unsafeMember: directories may repeat, a directory below a symlink may not", () => {
    expect(unsafeMember([{ type: "d", name: "a/" }, { type: "d", name: "a/" }, { type: "-", name: "a/f" }])).toBeUndefined();
    expect(unsafeMember([{ type: "l", name: "a", target: "/" }, { type: "d", name: "a/b/" }])).toMatch(/below the symlink "a"/);
    expect(unsafeMember([{ type: "-", name: "" }])).toMatch(/absolute or empty/);
  });
});
