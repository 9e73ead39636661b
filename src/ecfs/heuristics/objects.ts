// How each ELF image in memory came there. The dynamic linker's own list is the ground truth:
// every object on a link map (DT_DEBUG -> r_debug -> link_map chain, one per dlmopen namespace)
// is legitimate. Of those, the objects of the base namespace's startup scope are SHLIB, except
// the run right after the executable that LD_PRELOAD or /etc/ld.so.preload named (PRELOADED);
// objects outside the startup scope, or in another namespace, came through dlopen/dlmopen
// (DLOPEN). An image on no link map is INJECTED. A link-map object is matched to its image by
// its load bias and the address of its .dynamic (the executable: AT_PHDR; the vDSO:
// AT_SYSINFO_EHDR), never by path, so merged /usr and symlinks change nothing. Without a link
// map (a static executable) everything but the executable and the vDSO is injected.

import { statSync } from "node:fs";
import type { DynamicLinking, LoadedObject } from "../dynlink/dynlink.ts";
import type { Mapping } from "../../model/image.ts";
import { fileKey, sameFile } from "./files.ts";
import type { ObjectKind, ObjectVerdict } from "./findings.ts";
import type { ElfImage } from "./images.ts";

/** A link-map object with the image it was matched to (undefined: its header is not in memory). */
export interface LoadedImage {
  obj: LoadedObject;
  image: ElfImage | undefined;
  kind: ObjectKind;
}

export interface Classification {
  verdicts: ObjectVerdict[];
  /** Link-map objects (the vDSO left out), in link-map order. */
  loaded: LoadedImage[];
  injected: ElfImage[];
  problems: string[];
}

export interface ClassifyInput {
  link: DynamicLinking | undefined;
  images: readonly ElfImage[];
  mappings: readonly Mapping[];
  /** AT_PHDR and AT_SYSINFO_EHDR. */
  phdr: bigint | undefined;
  vdso: bigint | undefined;
  /** The executable has PT_INTERP: a link map must exist. */
  dynamic: boolean;
  /** LD_PRELOAD entries, then /etc/ld.so.preload's. */
  preload: readonly string[];
}

const basename = (p: string): string => p.slice(p.lastIndexOf("/") + 1);

/** Whether a preload entry names this object: its file (device and inode of the entry's path), or for a bare name its file name or DT_SONAME, as ld.so searches. */
function preloadMatches(entry: string, obj: LoadedObject, image: ElfImage | undefined, soname: string | undefined): boolean {
  if (!entry.includes("/")) return basename(obj.name) === entry || soname === entry;
  if (obj.name === entry) return true;
  if (!image || image.headerMapping.inode === 0n) return false;
  try {
    return sameFile(statSync(entry, { bigint: true }), image.headerMapping);
  } catch {
    return false;
  }
}

/** The image of a link-map object: same load bias, and holding its anchor (.dynamic, AT_PHDR, AT_SYSINFO_EHDR). */
function imageOf(obj: LoadedObject, images: readonly ElfImage[], input: ClassifyInput): ElfImage | undefined {
  const anchor = obj.isVdso ? input.vdso : obj.isExecutable && input.phdr !== undefined ? input.phdr : obj.dynamicAddr;
  if (anchor === undefined || anchor === 0n) return undefined;
  return images.find((img) => img.base === obj.base && img.header <= anchor && anchor < img.end);
}

function verdict(img: ElfImage, name: string, kind: ObjectKind, namespace?: number): ObjectVerdict {
  const m = img.headerMapping;
  return { name, header: img.header, base: img.base, end: img.end, kind, ...(namespace !== undefined && { namespace }), dev: m.dev, inode: m.inode };
}

function imageName(img: ElfImage): string {
  const m = img.headerMapping;
  if (m.path === "[vdso]") return m.path;
  if (m.inode === 0n || m.path === "") return "[anonymous]";
  return m.deleted ? `${m.path} (deleted)` : m.path;
}

export function classifyObjects(input: ClassifyInput): Classification {
  const { link, images } = input;
  const problems: string[] = [];
  const loaded: LoadedImage[] = [];
  const onChain = new Set<ElfImage>();
  const verdicts: ObjectVerdict[] = [];

  if (link && (link.source !== "mappings" || !input.dynamic)) {
    const startup = new Set(link.scope);
    const objects = link.source === "mappings" ? link.objects.filter((o) => o.isExecutable || o.isVdso) : link.objects;
    // Preloads are the objects right after the executable (ld.so's do_preload runs before DT_NEEDED).
    const preloaded = new Set<LoadedObject>();
    const base = objects.filter((o) => o.namespace === 0 && !o.isVdso && !o.isExecutable);
    for (const o of base) {
      if (!startup.has(o) || !input.preload.some((e) => preloadMatches(e, o, imageOf(o, images, input), link.tables(o)?.soname))) break;
      preloaded.add(o);
    }
    for (const obj of objects) {
      const image = imageOf(obj, images, input);
      const kind: ObjectKind = obj.isVdso ? "vdso" : obj.isExecutable ? "executable" : preloaded.has(obj) ? "preloaded"
        : obj.namespace === 0 && startup.has(obj) ? "shlib" : "dlopen";
      if (image) {
        if (onChain.has(image)) continue; // listed twice (a hostile link map): one verdict
        onChain.add(image);
        const m = image.headerMapping;
        if (m.inode !== 0n && !input.mappings.some((x) => fileKey(x) === fileKey(m) && x.start <= obj.dynamicAddr && obj.dynamicAddr < x.end) && obj.dynamicAddr !== 0n)
          problems.push(`${obj.name}: its .dynamic (0x${obj.dynamicAddr.toString(16)}) is not in the file its ELF header is mapped from`);
        verdicts.push(verdict(image, obj.isExecutable || obj.isVdso ? imageName(image) : obj.name, kind, link.source === "mappings" ? undefined : obj.namespace));
      } else if (!obj.isVdso) problems.push(`${obj.name}: on the link map, but no ELF image at its load bias 0x${obj.base.toString(16)} holds its .dynamic`);
      if (!obj.isVdso) loaded.push({ obj, image, kind });
    }
  } else if (input.dynamic) {
    problems.push("injected objects: the link map could not be read, so mapped objects were not classified (see the dynamic linking problems)");
    return { verdicts: images.map((img) => verdict(img, imageName(img), "shlib")), loaded, injected: [], problems };
  }

  const injected: ElfImage[] = [];
  for (const img of images) {
    if (onChain.has(img)) continue;
    if (img.header === input.vdso) {
      verdicts.push(verdict(img, "[vdso]", "vdso"));
      continue;
    }
    if (!link && input.phdr !== undefined && img.header <= input.phdr && input.phdr < img.end) {
      verdicts.push(verdict(img, imageName(img), "executable"));
      continue;
    }
    injected.push(img);
    verdicts.push(verdict(img, imageName(img), "injected"));
  }
  verdicts.sort((a, b) => (a.header < b.header ? -1 : a.header > b.header ? 1 : 0));
  return { verdicts, loaded, injected, problems };
}
