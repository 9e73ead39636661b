// Test helper: build .eh_frame bytes by hand, for encodings no compiler here emits, and emit them
// as a gas source so readelf (an outside decoder) can check what it can decode.

export const u16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
export const u32 = (v: number): number[] => [...u16(v & 0xffff), ...u16((v >>> 16) & 0xffff)];
export const s32 = (v: number | bigint): number[] => u32(Number(BigInt.asUintN(32, BigInt(v))));
export const u64 = (v: bigint): number[] => {
  const x = BigInt.asUintN(64, v);
  return [...u32(Number(x & 0xffffffffn)), ...u32(Number(x >> 32n))];
};
export const word = (w: 4 | 8, v: bigint): number[] => (w === 8 ? u64(v) : s32(v));

export function uleb(v: bigint | number): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  do {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x ? b | 0x80 : b);
  } while (x);
  return out;
}

export function sleb(v: bigint | number): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    const done = (x === 0n && !(b & 0x40)) || (x === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

export const cstr = (s: string): number[] => [...s].map((c) => c.charCodeAt(0)).concat(0);

export interface CieOptions {
  version?: number;
  augmentation?: string;
  /** Bytes after the 'z' length (R/P/L operands). */
  augData?: number[];
  /** Replaces the generated 'z' length + data. */
  rawAug?: number[];
  /** g++ 2.x "eh" pointer. */
  ehPtr?: boolean;
  /** Version 4 address_size and segment_selector_size. */
  v4?: [number, number];
  returnRegister?: number;
  ext64?: boolean;
}

export class EhBuilder {
  readonly out: number[] = [];
  constructor(readonly wordSize: 4 | 8) {}

  #record(ext64: boolean, id: number[], body: number[]): void {
    const len = id.length + body.length;
    this.out.push(...(ext64 ? [...u32(0xffffffff), ...u64(BigInt(len))] : u32(len)), ...id, ...body);
  }

  /** Appends a CIE; returns its offset. */
  cie(o: CieOptions = {}): number {
    const at = this.out.length;
    const version = o.version ?? 1;
    const aug = o.augmentation ?? "zR";
    const ra = o.returnRegister ?? (this.wordSize === 8 ? 16 : 8);
    const body = [
      version,
      ...cstr(aug),
      ...(o.ehPtr ? new Array<number>(this.wordSize).fill(0) : []),
      ...(o.v4 ?? []),
      ...uleb(1),
      ...sleb(this.wordSize === 8 ? -8 : -4),
      ...(version === 1 ? [ra] : uleb(ra)),
      ...(o.rawAug ?? (aug.startsWith("z") ? [...uleb((o.augData ?? []).length), ...(o.augData ?? [])] : [])),
      0x0c, 0x07, this.wordSize, // DW_CFA_def_cfa r7 ofs word
    ];
    this.#record(o.ext64 ?? false, o.ext64 ? u64(0n) : u32(0), body);
    return at;
  }

  /** Appends an FDE for the CIE at `cie`; `body` gets the offset of the initial-location field. */
  fde(cie: number, body: (at: number) => number[], ext64 = false): number {
    const at = this.out.length;
    const idAt = at + (ext64 ? 12 : 4);
    const id = ext64 ? u64(BigInt(idAt - cie)) : s32(idAt - cie);
    this.#record(ext64, id, body(idAt + id.length));
    return at;
  }

  raw(bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }

  bytes(terminate = true): Uint8Array {
    return new Uint8Array(terminate ? [...this.out, 0, 0, 0, 0] : this.out);
  }
}

/** A gas source whose .eh_frame holds exactly these bytes. */
export function gasSource(bytes: Uint8Array): string {
  const lines = ['\t.section .eh_frame,"a",@progbits'];
  for (let i = 0; i < bytes.length; i += 16) lines.push(`\t.byte ${[...bytes.subarray(i, i + 16)].join(",")}`);
  return `${lines.join("\n")}\n`;
}
