// `ecfs read FILE` (also run as `readecfs`): readecfs's options (docs/FORMAT.md 8) in any
// order and clustered (-eS, -S -e, -eR .text), with long names, --json, and -R/-O/-X taking
// their arguments as getopt does (rest of the cluster, then the next words). citty's own
// parser cannot take two values for one option, so `args` below documents (--help) and the
// words are parsed here; -h means the ELF header, as in readecfs.

import { defineCommand } from "citty";
import { ElfFormatError, UsageError } from "../errors.ts";
import { EcfsFile } from "../reader/ecfs.ts";
import { EcfsError } from "../errors.ts";
import { checkOutputPath } from "../ecfs/outpath.ts";
import { extractSection } from "../reader/extract.ts";
import { buildReport, type ReadSelection, SELECT_ALL } from "../reader/report.ts";
import { renderJson, renderText } from "../reader/render.ts";
import { SEC_PROCFS_TGZ, unpackProcfs } from "../reader/unpack.ts";
import { EXIT_FAILURE } from "./report.ts";
import { errLine, out } from "./stdio.ts";

type Flag = Exclude<keyof ReadSelection, "hexdump">;
interface OptionDef {
  long: string;
  short?: string;
  /** Words the option takes. */
  args: string[];
  apply: (o: ReadCliOptions, values: string[]) => void;
}

export interface ReadCliOptions {
  file: string;
  sel: ReadSelection;
  json: boolean;
  extract: { section: string; out: string }[];
  /** -O may replace an existing regular file. */
  force: boolean;
  unpack?: string;
}

const flag = (long: string, short: string, part: Flag): OptionDef => ({ long, short, args: [], apply: (o) => void (o.sel[part] = true) });

const OPTIONS: OptionDef[] = [
  { long: "overview", short: "e", args: [], apply: (o) => Object.assign(o.sel, { overview: true, personality: true }) },
  { long: "all", short: "a", args: [], apply: (o) => Object.assign(o.sel, { ...SELECT_ALL, hexdump: o.sel.hexdump }) },
  flag("personality", "P", "personality"),
  flag("shlibs", "l", "shlibs"),
  flag("symbols", "s", "symbols"),
  flag("pltgot", "g", "pltgot"),
  flag("auxv", "A", "auxv"),
  flag("header", "h", "header"),
  flag("sections", "S", "sections"),
  flag("programs", "p", "programs"),
  { long: "hexdump", short: "R", args: ["SECTION"], apply: (o, [s]) => void o.sel.hexdump.push(s!) },
  { long: "extract", short: "O", args: ["SECTION", "OUTFILE"], apply: (o, [s, out]) => void o.extract.push({ section: s!, out: out! }) },
  { long: "unpack", short: "X", args: ["DIR"], apply: (o, [d]) => void (o.unpack = d) },
  { long: "json", args: [], apply: (o) => void (o.json = true) },
  { long: "force", args: [], apply: (o) => void (o.force = true) },
];

const NONE: ReadSelection = {
  overview: false, personality: false, shlibs: false, symbols: false, pltgot: false, auxv: false,
  header: false, sections: false, programs: false, hexdump: [],
};

/** getopt-style parsing of the words after `read`. UsageError for anything it cannot take. */
export function parseReadArgs(words: readonly string[]): ReadCliOptions {
  const o: ReadCliOptions = { file: "", sel: { ...NONE, hexdump: [] }, json: false, extract: [], force: false };
  const files: string[] = [];
  let i = 0;
  const take = (def: OptionDef, shown: string, first: string | undefined): void => {
    const values: string[] = [];
    for (let k = 0; k < def.args.length; k++) {
      const v = k === 0 && first !== undefined ? first : words[++i];
      if (v === undefined || v === "") throw new UsageError(`read: option ${shown} needs ${def.args.join(" ")}`);
      values.push(v);
    }
    def.apply(o, values);
  };
  for (let end = false; i < words.length; i++) {
    const w = words[i]!;
    if (end || w === "-" || !w.startsWith("-")) files.push(w);
    else if (w === "--") end = true;
    else if (w.startsWith("--")) {
      const eq = w.indexOf("=");
      const name = w.slice(2, eq < 0 ? undefined : eq);
      const def = OPTIONS.find((d) => d.long === name);
      if (!def) throw new UsageError(`read: unknown option --${name} (see ecfs read --help)`);
      if (eq >= 0 && def.args.length === 0) throw new UsageError(`read: option --${name} takes no value`);
      take(def, `--${name}`, eq < 0 ? undefined : w.slice(eq + 1));
    } else {
      for (let j = 1; j < w.length; j++) {
        const c = w[j]!;
        const def = OPTIONS.find((d) => d.short === c);
        if (!def) throw new UsageError(`read: unknown option -${c} (see ecfs read --help)`);
        if (def.args.length > 0) {
          take(def, `-${c}`, j + 1 < w.length ? w.slice(j + 1) : undefined);
          break;
        }
        def.apply(o, []);
      }
    }
  }
  if (files.length === 0) throw new UsageError("read: a file is required (ecfs read [OPTIONS] FILE)");
  if (files.length > 1) throw new UsageError(`read: one file at a time (got ${files.map((f) => JSON.stringify(f)).join(", ")})`);
  o.file = files[0]!;
  const any = Object.values({ ...o.sel, hexdump: o.sel.hexdump.length > 0 }).some(Boolean);
  if (!any && o.extract.length === 0 && o.unpack === undefined) Object.assign(o.sel, { overview: true, personality: true });
  return o;
}

/** Runs `ecfs read`; returns the exit code. Output goes through `out` (stdout) and `err` (stderr lines). */
export function runRead(o: ReadCliOptions, out: (s: string) => void, err: (line: string) => void): number {
  using f = EcfsFile.open(o.file);
  // Everything asked for by name must exist before anything is printed or written.
  for (const name of [...o.sel.hexdump, ...o.extract.map((x) => x.section)])
    if (!f.section(name)) throw new EcfsError(f.path, `no section named ${JSON.stringify(name)}`);
  if (o.unpack !== undefined && !f.section(SEC_PROCFS_TGZ)) throw new EcfsError(f.path, `no ${SEC_PROCFS_TGZ} section to unpack`);
  for (const x of o.extract) checkOutputPath(x.out, o.force);
  const report = buildReport(f, o.sel);
  const extracted = o.extract.map((x) => extractSection(f, x.section, x.out, o.force));
  const unpacked = o.unpack === undefined ? undefined : unpackProcfs(f, o.unpack);
  if (o.json) out(renderJson({ ...report, extracted, unpacked }));
  else {
    let buf = "";
    for (const line of renderText(report, f.cls.word)) {
      buf += `${line}\n`;
      if (buf.length > 1 << 20) {
        out(buf);
        buf = "";
      }
    }
    for (const x of extracted) buf += `- Wrote ${x.size} bytes of section ${x.section} to ${x.path}\n`;
    if (unpacked) buf += `- Unpacked ${SEC_PROCFS_TGZ} (${unpacked.members} members) into ${unpacked.dir}\n`;
    out(buf);
  }
  for (const p of report.problems) err(`ecfs: warning: ${o.file}: ${p.part}: ${p.message}`);
  return report.problems.length > 0 ? EXIT_FAILURE : 0;
}

export default defineCommand({
  meta: {
    name: "read",
    description: "Show what an ECFS file holds, as readecfs did (also runs as `readecfs`). Options: any order, clustered (-eS); none means -e",
  },
  args: {
    file: { type: "positional", description: "ECFS file (ET_NONE or ET_CORE, 64- or 32-bit)", required: false },
    overview: { type: "boolean", alias: "e", description: "overview: personality, process, fault location, threads with registers, signal, fds and sockets" },
    all: { type: "boolean", alias: "a", description: "all of -e -P -l -s -g -A -h -S -p" },
    personality: { type: "boolean", alias: "P", description: "personality bits (.personality): static, PIE, heuristics, stripped" },
    shlibs: { type: "boolean", alias: "l", description: "shared-library mappings (SHLIB, INJECTED, PRELOADED and DLOPEN sections)" },
    symbols: { type: "boolean", alias: "s", description: "symbols of .dynsym, of each library (<lib>.dynsym) and of .symtab" },
    pltgot: { type: "boolean", alias: "g", description: "GOT/PLT: per PLT slot its GOT site and value, PLT stub, library address, and a verdict: unresolved, resolved, suspicious (a possible hook) or unknown" },
    auxv: { type: "boolean", alias: "A", description: "auxiliary vector (.auxvector), decoded for the file's class" },
    header: { type: "boolean", alias: "h", description: "ELF header (use --help for this help)" },
    sections: { type: "boolean", alias: "S", description: "section headers" },
    programs: { type: "boolean", alias: "p", description: "program headers" },
    hexdump: { type: "string", alias: "R", valueHint: "SECTION", description: "hex dump of a section (repeatable; -R SECTION, -RSECTION, --hexdump=SECTION)" },
    extract: { type: "string", alias: "O", valueHint: "SECTION OUTFILE", description: "write a section's bytes to OUTFILE, a new name: two words, -O SECTION OUTFILE (repeatable)" },
    force: { type: "boolean", description: "let -O replace an existing regular file (never a link, device, FIFO or socket)" },
    unpack: { type: "string", alias: "X", valueHint: "DIR", description: "unpack .procfs.tgz into DIR (created; must be empty) with tar, refusing members that would land outside it" },
    json: { type: "boolean", description: "the same data as JSON (addresses and 64-bit values as \"0x...\" strings)" },
  },
  run({ rawArgs }) {
    const opts = parseReadArgs(rawArgs);
    try {
      process.exitCode = runRead(opts, out, errLine);
    } catch (e) {
      // Malformed bytes are the file's fault: say which file (cli/report.ts prints the line).
      if (e instanceof ElfFormatError) throw new EcfsError(opts.file ?? "", `malformed ELF data: ${e.message}`, { cause: e });
      throw e;
    }
  },
});
