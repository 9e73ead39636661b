// parseReadArgs: readecfs's flags in any order, clustered, with long names; -R/-O/-X taking
// their words getopt's way. No process needed.

import { describe, expect, test } from "bun:test";
import { parseReadArgs } from "../../src/cli/read.ts";
import { UsageError } from "../../src/errors.ts";
import { SELECT_ALL } from "../../src/reader/report.ts";

const NONE = {
  overview: false, personality: false, shlibs: false, symbols: false, pltgot: false, auxv: false,
  header: false, sections: false, programs: false, hexdump: [] as string[],
};

describe("parseReadArgs", () => {
  test("clusters and separate flags in any order mean the same", () => {
    const want = parseReadArgs(["-e", "-S", "-g", "F"]);
    for (const words of [["-eSg", "F"], ["F", "-gSe"], ["-S", "F", "-ge"], ["--overview", "--sections", "--pltgot", "F"]])
      expect(parseReadArgs(words)).toEqual(want);
    expect(want.sel).toEqual({ ...NONE, overview: true, personality: true, sections: true, pltgot: true });
  });

  test("each flag selects its part", () => {
    const cases: [string, Partial<typeof NONE>][] = [
      ["-P", { personality: true }], ["-l", { shlibs: true }], ["-s", { symbols: true }], ["-g", { pltgot: true }],
      ["-A", { auxv: true }], ["-h", { header: true }], ["-S", { sections: true }], ["-p", { programs: true }],
    ];
    for (const [flag, sel] of cases) expect([flag, parseReadArgs([flag, "F"]).sel]).toEqual([flag, { ...NONE, ...sel }]);
    expect(parseReadArgs(["-a", "F"]).sel).toEqual(SELECT_ALL);
    expect(parseReadArgs(["-R", ".x", "-a", "F"]).sel).toEqual({ ...SELECT_ALL, hexdump: [".x"] });
  });

  test("no selection means -e, unless -O or -X is the whole request", () => {
    expect(parseReadArgs(["F"]).sel).toEqual({ ...NONE, overview: true, personality: true });
    expect(parseReadArgs(["-O", ".a", "out", "F"]).sel).toEqual(NONE);
    expect(parseReadArgs(["-X", "dir", "F"]).sel).toEqual(NONE);
  });

  test("option words: rest of the cluster first, then the next words", () => {
    expect(parseReadArgs(["-eR.text", "F"]).sel.hexdump).toEqual([".text"]);
    expect(parseReadArgs(["-eR", ".text", "F"]).sel.hexdump).toEqual([".text"]);
    expect(parseReadArgs(["--hexdump=.a", "--hexdump", ".b", "F"]).sel.hexdump).toEqual([".a", ".b"]);
    expect(parseReadArgs(["-O.text", "out", "F"]).extract).toEqual([{ section: ".text", out: "out" }]);
    expect(parseReadArgs(["F", "-PO", ".text", "out", "-O", ".data", "d"]).extract).toEqual([{ section: ".text", out: "out" }, { section: ".data", out: "d" }]);
    expect(parseReadArgs(["-X", "dir", "F"]).unpack).toBe("dir");
    expect(parseReadArgs(["--unpack=dir", "F"]).unpack).toBe("dir");
    expect(parseReadArgs(["--json", "F"]).json).toBe(true);
  });

  test("-- ends the options; a lone - is a file name", () => {
    expect(parseReadArgs(["-e", "--", "-weird"]).file).toBe("-weird");
    expect(parseReadArgs(["-"]).file).toBe("-");
  });

  test("usage errors", () => {
    const bad: [string[], RegExp][] = [
      [["-z", "F"], /unknown option -z/],
      [["-eqS", "F"], /unknown option -q/],
      [["--nope", "F"], /unknown option --nope/],
      [["--json=1", "F"], /option --json takes no value/],
      [["F", "-R"], /option -R needs SECTION/],
      [["-O", ".text"], /option -O needs SECTION OUTFILE/],
      [["--hexdump=", "F"], /option --hexdump needs SECTION/],
      [["-e"], /a file is required/],
      [["A", "B"], /one file at a time/],
    ];
    for (const [words, re] of bad) {
      expect(() => parseReadArgs(words)).toThrow(UsageError);
      expect(() => parseReadArgs(words)).toThrow(re);
    }
  });
});
