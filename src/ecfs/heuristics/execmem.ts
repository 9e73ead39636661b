// Executable memory that belongs to no ELF image: anonymous mappings with execute permission
// (shellcode), and files mapped executable outside every loaded object. What legitimately
// makes such memory is recognised and reported as a note instead:
// - JIT compilers: the process runs one (its executable or a loaded object is node, libnode or
//   libv8, java's libjvm, .NET's libcoreclr/libclrjit, LuaJIT, PyPy, pcre2's JIT, LLVM, Mono,
//   SpiderMonkey, JavaScriptCore, QEMU, or libffi, whose closures are generated trampolines);
// - a second mapping of a loaded object's own file (V8 maps node's embedded builtins again near
//   its code range, libffi's static trampolines a page of libffi.so); textdiff.ts compares it
//   with the file like the rest of the object's code;
// - an executable [stack] when an object asks for one (PT_GNU_STACK with PF_X);
// - the kernel's [vdso], [vsyscall] and [uprobes] pages;
// - a bss-like anonymous tail of an object's executable segment (p_memsz > p_filesz).
// An anonymous executable mapping whose bytes are all zero holds no code yet: a note, not a finding.

import { PF_X, PT_GNU_STACK } from "../../elf/consts.ts";
import type { Mapping } from "../../model/image.ts";
import type { HeuristicsContext } from "./context.ts";
import { fileKey } from "./files.ts";
import type { Finding } from "./findings.ts";
import { belongsTo, type ElfImage, pageDown, pageUp } from "./images.ts";
import { hex } from "./symbolize.ts";

/** File names of JIT runtimes, matched against the executable's and every loaded object's. */
const JIT_RUNTIMES: [RegExp, string][] = [
  [/^(node|nodejs)$|^libnode\.so/, "node (V8)"],
  [/^libv8(_libbase)?\.so/, "V8"],
  [/^libjvm\.so$/, "the Java HotSpot VM"],
  [/^lib(coreclr|clrjit)\.so$/, ".NET"],
  [/^libmono/, "Mono"],
  [/^(luajit.*|libluajit.*)$/, "LuaJIT"],
  [/^(pypy.*|libpypy.*)$/, "PyPy"],
  [/^libpcre2-(8|16|32)\.so/, "PCRE2's JIT"],
  [/^libLLVM/, "LLVM"],
  [/^libmozjs/, "SpiderMonkey"],
  [/^libjavascriptcoregtk/, "JavaScriptCore"],
  [/^qemu-/, "QEMU"],
  [/^libffi\.so/, "libffi closures"],
];
const KERNEL_PAGES = new Set(["[vdso]", "[vsyscall]", "[uprobes]"]);
/** Bytes of an anonymous executable mapping read to tell code from zeros. */
const PROBE = 1 << 20;

const basename = (p: string): string => p.slice(p.lastIndexOf("/") + 1);

/** The JIT runtimes this process has loaded, by file name ("node (V8)", ...). */
export function jitRuntimes(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names) for (const [re, what] of JIT_RUNTIMES) if (re.test(basename(n))) out.add(what);
  return [...out];
}

function allZero(ctx: HeuristicsContext, m: Mapping): boolean {
  const n = Number(m.end - m.start < BigInt(PROBE) ? m.end - m.start : BigInt(PROBE));
  const buf = new Uint8Array(n);
  const got = ctx.mem.read(m.start, buf);
  return buf.subarray(0, got).every((b) => b === 0);
}

/** An anonymous tail of an executable segment (its p_memsz beyond p_filesz). */
function segmentTail(img: ElfImage, m: Mapping): boolean {
  return img.loads.some((p) => {
    if ((p.p_flags & PF_X) === 0 || p.p_memsz <= p.p_filesz) return false;
    const lo = pageDown(img.base + p.p_vaddr + p.p_filesz);
    return m.start >= lo && m.end <= pageUp(img.base + p.p_vaddr + p.p_memsz);
  });
}

/** Whether some loaded object asks for an executable stack (PT_GNU_STACK with PF_X). */
function wantsExecStack(ctx: HeuristicsContext): boolean {
  return ctx.loaded.some((l) => l.image?.phdrs.some((p) => p.p_type === PT_GNU_STACK && (p.p_flags & PF_X) !== 0) ?? false);
}

/** Anonymous and unattributed executable memory; `images` are all ELF images found (loaded and injected). */
export function checkExecutableMemory(ctx: HeuristicsContext, images: readonly ElfImage[], exePath: string): Finding[] {
  const out: Finding[] = [];
  const jit = jitRuntimes([exePath, ...ctx.loaded.map((l) => l.obj.name)]);
  const loadedFiles = new Map<string, string>();
  for (const l of ctx.loaded) if (l.image && l.image.headerMapping.inode !== 0n) loadedFiles.set(fileKey(l.image.headerMapping), l.obj.name);
  let execStack: boolean | undefined;
  for (const m of ctx.mappings) {
    if (m.perms[2] !== "x" || KERNEL_PAGES.has(m.path)) continue;
    const img = images.find((i) => belongsTo(i, m));
    const size = m.end - m.start;
    if (img) {
      // A loaded object's code is checked against its file; an injected one is its own finding.
      if (m.inode !== 0n || segmentTail(img, m) || ctx.loaded.every((l) => l.image !== img)) continue;
    } else if (m.inode !== 0n) {
      const owner = loadedFiles.get(fileKey(m));
      if (owner !== undefined) {
        ctx.notes.push({ type: "code-alias", address: m.start, size, object: owner, detail: `${m.path} mapped executable again outside its image (file offset ${hex(m.offset)}): the object's own code remapped, as V8 does with its embedded builtins and libffi with its static trampolines (compared with the file like the rest of its code)` });
        continue;
      }
    }
    if (m.inode === 0n && m.path.startsWith("[stack")) {
      execStack ??= wantsExecStack(ctx);
      if (execStack) {
        ctx.notes.push({ type: "execstack", address: m.start, size, object: m.path, detail: "executable stack: a loaded object asks for one (PT_GNU_STACK with PF_X)" });
        continue;
      }
    }
    if (jit.length > 0) {
      ctx.notes.push({ type: "jit", address: m.start, size, object: m.inode === 0n ? "[anonymous]" : m.path, detail: `executable ${m.perms} memory of a JIT runtime (${jit.join(", ")}): not flagged` });
      continue;
    }
    if (m.inode !== 0n) {
      out.push({
        type: "unattributed-code", address: m.start, size, object: m.deleted ? `${m.path} (deleted)` : m.path,
        expected: "executable file mappings only inside loaded objects", found: `${m.perms} at file offset ${hex(m.offset)}, device ${m.dev} inode ${m.inode}`,
        detail: `${m.path} is mapped executable at ${hex(m.start)} but belongs to no loaded ELF object`,
      });
      continue;
    }
    if (allZero(ctx, m)) {
      ctx.notes.push({ type: "empty-executable", address: m.start, size, object: m.path || "[anonymous]", detail: `anonymous ${m.perms} mapping holding only zeros (no code yet)` });
      continue;
    }
    out.push({
      type: "anonymous-code", address: m.start, size, object: m.path || "[anonymous]",
      expected: "no executable memory without a file", found: `${m.perms} mapping of ${size} bytes with code in it`,
      detail: `anonymous ${m.perms} memory at ${hex(m.start)}-${hex(m.end)} holds code and belongs to no loaded object`,
    });
  }
  return out;
}
