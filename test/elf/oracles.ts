// Outside oracles for the ELF reader: binutils readelf, elfutils eu-readelf and gdb, run on the
// same files and parsed into plain values. Nothing here uses our own reader.

function run(argv: string[]): string {
  const p = Bun.spawnSync(argv, { env: { ...process.env, LC_ALL: "C" }, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${p.exitCode}: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

const num = (s: string): bigint => BigInt(s.startsWith("0x") ? s : /^[0-9a-f]+$/.test(s) && /[a-f]/.test(s) ? `0x${s}` : s);
const hex = (s: string): bigint => BigInt(`0x${s}`);

// ---- readelf -h ----

export interface ReadelfHeader {
  fields: Map<string, string>;
  /** "Number of program headers: 65535 (70000)" -> [65535, 70000] */
  counted(key: string): [number, number | undefined];
  number(key: string): bigint;
}

export function readelfHeader(path: string): ReadelfHeader {
  const fields = new Map<string, string>();
  for (const line of run(["readelf", "-h", "-W", path]).split("\n")) {
    const m = /^ {2}([^:]+):\s+(.*?)\s*$/.exec(line);
    if (!m) continue;
    // "Version" appears twice: e_ident[EI_VERSION] first, then e_version as "Version#2".
    fields.set(fields.has(m[1]!) ? `${m[1]!}#2` : m[1]!, m[2]!);
  }
  const get = (k: string): string => {
    const v = fields.get(k);
    if (v === undefined) throw new Error(`readelf -h: no "${k}" in ${path}`);
    return v;
  };
  return {
    fields,
    counted(key) {
      const m = /^(\d+)(?: \((\d+)\))?/.exec(get(key));
      if (!m) throw new Error(`readelf -h: bad ${key}: ${get(key)}`);
      return [Number(m[1]), m[2] === undefined ? undefined : Number(m[2])];
    },
    number(key) {
      const m = /^(0x[0-9a-f]+|\d+)/.exec(get(key));
      if (!m) throw new Error(`readelf -h: bad ${key}: ${get(key)}`);
      return num(m[1]!);
    },
  };
}

// ---- readelf -l ----

export interface ReadelfPhdr {
  type: string;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  flags: string;
  align: bigint;
}

export function readelfPhdrs(path: string): ReadelfPhdr[] {
  const out: ReadelfPhdr[] = [];
  const re = /^ {2}(\S+)\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) (.{3}) 0x([0-9a-f]+)$/;
  for (const line of run(["readelf", "-l", "-W", path]).split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    out.push({
      type: m[1]!, offset: hex(m[2]!), vaddr: hex(m[3]!), paddr: hex(m[4]!), filesz: hex(m[5]!),
      memsz: hex(m[6]!), flags: m[7]!, align: hex(m[8]!),
    });
  }
  return out;
}

// ---- readelf -S ----

export interface ReadelfSection {
  index: number;
  name: string;
  type: string;
  addr: bigint;
  offset: bigint;
  size: bigint;
  entsize: bigint;
  flags: string;
  link: number;
  info: number;
  align: bigint;
}

export function readelfSections(path: string): ReadelfSection[] {
  const out: ReadelfSection[] = [];
  const re =
    /^ {2}\[\s*(\d+)\] (.*?)\s+(\S+)\s+([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+)\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)$/;
  for (const line of run(["readelf", "-S", "-W", path]).split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    out.push({
      index: Number(m[1]), name: m[2]!.trim(), type: m[3]!, addr: hex(m[4]!), offset: hex(m[5]!), size: hex(m[6]!),
      entsize: hex(m[7]!), flags: m[8]!.trim(), link: Number(m[9]), info: Number(m[10]), align: BigInt(m[11]!),
    });
  }
  return out;
}

// ---- readelf -n ----

export interface ReadelfNoteGroup {
  /** "section .note.gnu.property" or "offset 0x..." */
  where: string;
  notes: { owner: string; size: number; description: string; file?: ReadelfNtFile }[];
}
export interface ReadelfNtFile {
  pageSize: bigint;
  entries: { start: bigint; end: bigint; pageOffset: bigint; path: string }[];
}

export function readelfNotes(path: string): ReadelfNoteGroup[] {
  const groups: ReadelfNoteGroup[] = [];
  const lines = run(["readelf", "-n", "-W", path]).split("\n");
  let file: ReadelfNtFile | undefined;
  for (const line of lines) {
    let m = /^Displaying notes found (?:in: (\S+)|at file offset (0x[0-9a-f]+))/.exec(line);
    if (m) {
      groups.push({ where: m[1] ? `section ${m[1]}` : `offset ${m[2]}`, notes: [] });
      continue;
    }
    m = /^ {2}(\S*)\s+0x([0-9a-f]{8})\t([^\t]*)/.exec(line);
    if (m) {
      const g = groups.at(-1);
      if (!g) throw new Error("readelf -n: note before group header");
      file = undefined;
      const note: ReadelfNoteGroup["notes"][number] = { owner: m[1]!, size: Number(hex(m[2]!)), description: m[3]!.trim() };
      const ps = /Page size: (\d+)/.exec(line);
      if (ps) note.file = file = { pageSize: BigInt(ps[1]!), entries: [] };
      g.notes.push(note);
      continue;
    }
    if (!file) continue;
    m = /^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)$/.exec(line);
    if (m) {
      file.entries.push({ start: hex(m[1]!), end: hex(m[2]!), pageOffset: hex(m[3]!), path: "" });
      continue;
    }
    m = /^ {8}(\S.*)$/.exec(line);
    const last = file.entries.at(-1);
    if (m && last && last.path === "") last.path = m[1]!;
  }
  return groups;
}

/** readelf's note description -> n_type. */
export function readelfNoteType(description: string): number {
  const m = /^Unknown note type: \(0x([0-9a-f]+)\)/.exec(description);
  if (m) return Number(hex(m[1]!));
  const name = description.split(/[ \t]/)[0]!;
  const t = NOTE_TYPES[name];
  if (t === undefined) throw new Error(`oracle table lacks readelf note type ${name}`);
  return t;
}
const NOTE_TYPES: Record<string, number> = {
  NT_PRSTATUS: 1, NT_FPREGSET: 2, NT_PRPSINFO: 3, NT_AUXV: 6, NT_FILE: 0x46494c45, NT_SIGINFO: 0x53494749,
  NT_PRXFPREG: 0x46e62b7f, NT_386_TLS: 0x200, NT_X86_XSTATE: 0x202, NT_GDB_TDESC: 0xff000000,
  NT_GNU_ABI_TAG: 1, NT_GNU_HWCAP: 2, NT_GNU_BUILD_ID: 3, NT_GNU_GOLD_VERSION: 4, NT_GNU_PROPERTY_TYPE_0: 5,
};

// ---- readelf -s / -d ----

export interface ReadelfSym {
  num: number;
  value: bigint;
  size: bigint;
  ndx: string;
  name: string;
  /** FUNC, OBJECT, NOTYPE, IFUNC, ... */
  type: string;
}

export function readelfSymbols(path: string): Map<string, ReadelfSym[]> {
  const tables = new Map<string, ReadelfSym[]>();
  let cur: ReadelfSym[] | undefined;
  for (const line of run(["readelf", "-s", "-W", path]).split("\n")) {
    const t = /^Symbol table '([^']+)' contains/.exec(line);
    if (t) {
      cur = [];
      tables.set(t[1]!, cur);
      continue;
    }
    const m = /^\s*(\d+): ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+) (\S+)\s+\S+\s+\S+\s+(?:\[[^\]]*\]\s+)?(\S+) ?(.*)$/.exec(line);
    if (m && cur) cur.push({ num: Number(m[1]), value: hex(m[2]!), size: num(m[3]!), type: m[4]!, ndx: m[5]!, name: m[6]! });
  }
  return tables;
}

export function readelfDynamic(path: string): { tag: bigint; value: string }[] {
  const out: { tag: bigint; value: string }[] = [];
  for (const line of run(["readelf", "-d", "-W", path]).split("\n")) {
    const m = /^ 0x([0-9a-f]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (m) out.push({ tag: hex(m[1]!), value: m[2]!.trim() });
  }
  return out;
}

// ---- eu-readelf -n (core notes decoded by elfutils) ----

export interface EuNote {
  owner: string;
  size: number;
  type: string;
  /** key: value pairs of the detail lines (registers excluded). */
  fields: Map<string, string>;
  /** FILE: start, end, offset in bytes (eu-readelf multiplies by page_size), path. */
  files: { start: bigint; end: bigint; offset: bigint; path: string }[];
  /** AUXV: one (name, value text) per entry, AT_NULL included as ("NULL", ""). */
  auxv: { name: string; value: string }[];
}

export function euReadelfNotes(path: string): EuNote[] {
  const out: EuNote[] = [];
  for (const line of run(["eu-readelf", "-n", path]).split("\n")) {
    const head = /^ {2}(\S+)\s+(\d+)\s+(\S.*)$/.exec(line);
    if (head) {
      out.push({ owner: head[1]!, size: Number(head[2]), type: head[3]!, fields: new Map(), files: [], auxv: [] });
      continue;
    }
    const note = out.at(-1);
    if (!note || !line.startsWith("    ")) continue;
    if (note.type === "AUXV") {
      const a = /^ {4}(\w+)(?:: (\S+))?/.exec(line);
      if (a) note.auxv.push({ name: a[1]!, value: a[2] ?? "" });
      continue;
    }
    const f = /^ {6}([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) \d+\s+(\S.*)$/.exec(line);
    if (f) {
      note.files.push({ start: hex(f[1]!), end: hex(f[2]!), offset: hex(f[3]!), path: f[4]! });
      continue;
    }
    const ps = /^ {4}fname: (.*), psargs: (.*)$/.exec(line);
    if (ps) {
      note.fields.set("fname", ps[1]!);
      note.fields.set("psargs", ps[2]!);
      continue;
    }
    for (const kv of line.trim().matchAll(/([A-Za-z_.]+): ([^,]*)(?:,|$)/g)) note.fields.set(kv[1]!, kv[2]!.trim());
  }
  return out;
}

// ---- gdb: registers of every thread in a core ----

/** LWP -> register name -> value, from `thread apply all info registers <names>`. */
export function gdbRegisters(exe: string, core: string, names: readonly string[]): Map<number, Map<string, bigint>> {
  const out = run([
    "gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", `thread apply all info registers ${names.join(" ")}`,
    exe, core,
  ]);
  const threads = new Map<number, Map<string, bigint>>();
  let cur: Map<string, bigint> | undefined;
  for (const line of out.split("\n")) {
    const t = /^Thread \d+ \(.*LWP (\d+)\)/.exec(line);
    if (t) {
      cur = new Map();
      threads.set(Number(t[1]), cur);
      continue;
    }
    const r = /^(\w+)\s+0x([0-9a-f]+)\s/.exec(line);
    if (r && cur) cur.set(r[1]!, hex(r[2]!));
  }
  return threads;
}
