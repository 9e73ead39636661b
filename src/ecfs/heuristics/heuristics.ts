// The forensic heuristics (`-h`, README "Heuristics"): from a captured ProcessImage and the
// dynamic linker's view of it (dynlink), which code in the process should not be there.
// Everything is read from the captured memory; the only other sources are the files behind
// mappings (opened with their device and inode checked) and /etc/ld.so.preload. Each check's
// malformed input becomes a problem in the report, never an exception: a snapshot with -h is
// never lost to the heuristics.

import { AT_PHDR, AT_SYSINFO_EHDR } from "../../elf/consts.ts";
import type { ElfFile } from "../../elf/reader.ts";
import { ElfFormatError } from "../../errors.ts";
import type { ProcessImage } from "../../model/image.ts";
import { type AuxvEntry, auxvValue, parseAuxv } from "../../proc/auxv.ts";
import type { DynamicLinking, LoadedObject } from "../dynlink/dynlink.ts";
import { RemoteMemory } from "../dynlink/remote.ts";
import { rethrowIfGone } from "../../errors.ts";
import type { HeuristicsContext } from "./context.ts";
import { checkEntries } from "./entries.ts";
import { checkExecutableMemory } from "./execmem.ts";
import { MappedFiles } from "./files.ts";
import { capFindings, type Finding, type HeuristicsReport } from "./findings.ts";
import { checkGotHooks } from "./gothooks.ts";
import { type ElfImage, findImages } from "./images.ts";
import { classifyObjects } from "./objects.ts";
import { preloadFromEnviron, readPreloadFile } from "./preload.ts";
import { hex, Symbolizer } from "./symbolize.ts";
import { checkPatchedCode } from "./textdiff.ts";

export interface HeuristicsInput {
  image: Pick<ProcessImage, "cls" | "mem" | "mappings"> & { info: Pick<ProcessImage["info"], "pid" | "auxv" | "environ" | "exe"> };
  /** The dynamic linker's view (undefined when it could not be built at all). */
  link: DynamicLinking | undefined;
  /** The executable has PT_INTERP (a link map must then exist). */
  dynamic: boolean;
  /** The executable's file as the snapshot opened it (for its .symtab names). */
  exeFile?: ElfFile;
  /** /etc/ld.so.preload's entries; read from the file when absent. */
  preloadFile?: string[];
}

export interface HeuristicsResult {
  report: HeuristicsReport;
  /** Injected images, for their sections. */
  injected: ElfImage[];
}

/** struct r_debug's r_state: RT_CONSISTENT (0), RT_ADD, RT_DELETE; it sits after r_version, r_map and r_brk. */
function linkMapBusy(rm: RemoteMemory, link: DynamicLinking): boolean {
  if (link.rDebug === undefined) return false;
  const b = rm.prefix(link.rDebug + BigInt(3 * rm.cls.word), 4, "r_state");
  return b.byteLength === 4 && (b[0]! | b[1]! | b[2]! | b[3]!) !== 0;
}

function injectedFinding(img: ElfImage, name: string): Finding {
  const m = img.headerMapping;
  const source = m.inode === 0n ? "anonymous memory" : `${m.path}${m.deleted ? " (deleted)" : ""}, device ${m.dev} inode ${m.inode}`;
  return {
    type: "injected-object", address: img.header, size: img.end - img.header, object: name,
    expected: "every ELF image in memory on the dynamic linker's link map",
    found: `${img.eType === 3 ? "ET_DYN" : "ET_EXEC"} image of ${img.loads.length} segment(s) at ${hex(img.header)}-${hex(img.end)} from ${source}`,
    detail: `ELF object at ${hex(img.header)} (${name}) was not loaded by the dynamic linker`,
  };
}

export function runHeuristics(input: HeuristicsInput): HeuristicsResult {
  const { cls, mem, mappings, info } = input.image;
  const link = input.link;
  const rm = new RemoteMemory(mem, cls);
  const problems: string[] = [];
  let auxv: AuxvEntry[] = [];
  try {
    auxv = parseAuxv(info.auxv, cls.word);
  } catch (e) {
    if (!(e instanceof ElfFormatError)) throw e;
    problems.push(`auxv: ${e.message}`);
  }
  const images = findImages(rm, cls, mappings, problems);
  const vdsoAddr = auxvValue(auxv, AT_SYSINFO_EHDR);
  const classified = classifyObjects({
    link, images, mappings, phdr: auxvValue(auxv, AT_PHDR), vdso: vdsoAddr, dynamic: input.dynamic,
    preload: [...preloadFromEnviron(info.environ), ...(input.preloadFile ?? readPreloadFile())],
  });
  problems.push(...classified.problems);
  const files = new MappedFiles(info.pid);
  const ctx: HeuristicsContext = {
    cls, rm, mem, mappings, link, loaded: classified.loaded, files,
    names: new Symbolizer(link, classified.loaded, classified.verdicts, mappings, files, input.exeFile),
    vdso: mappings.find((m) => m.path === "[vdso]"), problems, notes: [],
  };
  const findings: Finding[] = [];
  try {
    // Stopped inside dlopen/dlclose: objects after the startup scope may be half relocated.
    const skip = new Set<LoadedObject>();
    if (link && linkMapBusy(rm, link)) {
      const startup = new Set(link.scope);
      for (const l of classified.loaded) if (!startup.has(l.obj) && !l.obj.isExecutable) skip.add(l.obj);
      ctx.notes.push({ type: "inconsistent-link-map", detail: `the dynamic linker was adding or removing objects (r_state not RT_CONSISTENT): GOT, code and constructors of ${skip.size} object(s) loaded after startup not checked` });
    }
    for (const img of classified.injected) findings.push(injectedFinding(img, classified.verdicts.find((v) => v.header === img.header)?.name ?? "[anonymous]"));
    const checks: [string, () => Finding[]][] = [
      ["executable memory", () => checkExecutableMemory(ctx, images, info.exe)],
      ["GOT/PLT hooks", () => checkGotHooks(ctx, skip)],
      ["patched code", () => checkPatchedCode(ctx, images, skip)],
      ["entry points and constructors", () => checkEntries(ctx, images, auxv, skip)],
    ];
    for (const [what, run] of checks) {
      try {
        findings.push(...run());
      } catch (e) {
        rethrowIfGone(e);
        if (!(e instanceof ElfFormatError)) throw e;
        problems.push(`${what}: ${e.message}`);
      }
    }
  } finally {
    files.close();
  }
  const { kept, truncated } = capFindings(findings);
  return {
    report: { linkMap: link?.source ?? "none", objects: classified.verdicts, findings: kept, notes: ctx.notes, truncated, problems },
    injected: classified.injected,
  };
}
