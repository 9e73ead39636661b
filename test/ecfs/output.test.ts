// The output file on a real file system: invisible while written (O_TMPFILE), named only by
// commit, never a partial file under the final name; the same with the temporary-name fallback.

import { afterAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtomicFile } from "../../src/ecfs/output.ts";
import { OutputError } from "../../src/errors.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-output-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
const freshDir = (): string => {
  const d = join(work, `d${n++}`);
  mkdirSync(d);
  return d;
};
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

for (const unnamed of [true, false]) {
  describe(unnamed ? "O_TMPFILE" : "temporary name", () => {
    test("while written, nothing is under the final name; commit names the whole file, mode 0600", () => {
      const dir = freshDir();
      const path = join(dir, "out.ecfs");
      const f = AtomicFile.create(path, 0o600, { unnamed });
      expect(f.tmpPath === undefined).toBe(unnamed);
      f.write(bytes("hello "), 0);
      f.write(bytes("world"), 6);
      f.finish(11);
      // O_TMPFILE: nothing at all in the directory; the fallback: only its dot-name.
      expect(readdirSync(dir)).toEqual(unnamed ? [] : [expect.stringMatching(/^\.out\.ecfs\.\d+\.[0-9a-z]+\.tmp$/)]);
      f.commit();
      expect(readdirSync(dir)).toEqual(["out.ecfs"]);
      expect(readFileSync(path, "utf8")).toBe("hello world");
      expect(statSync(path).mode & 0o777).toBe(0o600 & ~process.umask());
    });

    test("abort leaves the directory as it was, and may be called again", () => {
      const dir = freshDir();
      const f = AtomicFile.create(join(dir, "out.ecfs"), 0o600, { unnamed });
      f.write(bytes("partial"), 0);
      f.abort();
      f.abort();
      expect(readdirSync(dir)).toEqual([]);
    });

    test("an existing file is replaced whole only with force; a symlink at the name is refused", () => {
      const dir = freshDir();
      const path = join(dir, "out.ecfs");
      writeFileSync(path, "old contents that are longer");
      expect(() => AtomicFile.create(path, 0o600, { unnamed })).toThrow("the file exists (--force replaces it)");
      const f = AtomicFile.create(path, 0o600, { unnamed, force: true });
      f.write(bytes("new"), 0);
      f.finish(3);
      f.commit();
      expect(readFileSync(path, "utf8")).toBe("new");
      expect(readdirSync(dir)).toEqual(["out.ecfs"]);

      const victim = join(dir, "victim");
      writeFileSync(victim, "keep");
      const link = join(dir, "link.ecfs");
      symlinkSync(victim, link);
      for (const force of [false, true]) expect(() => AtomicFile.create(link, 0o600, { unnamed, force })).toThrow("it is a symbolic link");
      expect(readFileSync(victim, "utf8")).toBe("keep");
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
    });

    test("a name taken while writing: kept without force; with force a symlink that appeared there is refused, never followed", () => {
      const dir = freshDir();
      const path = join(dir, "out.ecfs");
      const f = AtomicFile.create(path, 0o600, { unnamed });
      f.write(bytes("data"), 0);
      writeFileSync(path, "someone else's");
      expect(() => f.commit()).toThrow(`${path} appeared while it was being written (--force replaces it)`);
      expect(readFileSync(path, "utf8")).toBe("someone else's");
      expect(readdirSync(dir)).toEqual(["out.ecfs"]);

      const victim = join(dir, "victim");
      writeFileSync(victim, "keep");
      const link = join(dir, "link.ecfs");
      const g = AtomicFile.create(link, 0o600, { unnamed, force: true });
      g.write(bytes("snapshot"), 0);
      symlinkSync(victim, link);
      expect(() => g.commit()).toThrow("it is a symbolic link");
      expect(readFileSync(victim, "utf8")).toBe("keep");
      expect(readdirSync(dir).sort()).toEqual(["link.ecfs", "out.ecfs", "victim"]);
    });

    test("a name taken meanwhile by a directory: commit fails with OutputError and leaves no file", () => {
      const dir = freshDir();
      const path = join(dir, "out.ecfs");
      const f = AtomicFile.create(path, 0o600, { unnamed });
      f.write(bytes("data"), 0);
      mkdirSync(path);
      expect(() => f.commit()).toThrow(OutputError);
      expect(readdirSync(dir)).toEqual(["out.ecfs"]);
      expect(statSync(path).isDirectory()).toBe(true);
    });
  });
}

test("O_TMPFILE files hold no name: /proc/self/fd shows them as (deleted) in their directory", () => {
  const dir = freshDir();
  const f = AtomicFile.create(join(dir, "out.ecfs"));
  try {
    const fds = readdirSync("/proc/self/fd").map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return "";
      }
    });
    expect(fds.some((l) => l.startsWith(`${dir}/#`) && l.endsWith(" (deleted)"))).toBe(true);
  } finally {
    f.abort();
  }
});
