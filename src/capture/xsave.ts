// NT_X86_XSAVE_LAYOUT for our cores, as the kernel writes it for its own: which XSAVE
// features the state holds comes from the XSAVE image itself (sw_reserved.xfeatures,
// at offset 464 of the FXSAVE area), where they sit from CPUID leaf 0xD.

import { ByteWriter } from "../elf/bytes.ts";
import { xsaveLayout } from "../sys/cpuid.ts";

/**
 * asm/user.h, struct user_xstateregs: ptrace and cores put the OS-enabled feature mask
 * (XCR0) in the first 8 bytes of the FXSAVE area's software-usable bytes, at 464.
 */
const SW_XFEATURES = 464;

export function encodeXsaveLayout(xstate: Uint8Array | undefined): Uint8Array | undefined {
  if (!xstate || xstate.byteLength < SW_XFEATURES + 8) return undefined;
  const xcr0 = new DataView(xstate.buffer, xstate.byteOffset, xstate.byteLength).getBigUint64(SW_XFEATURES, true);
  const comps = xsaveLayout(xcr0);
  if (!comps || comps.length === 0) return undefined;
  const w = new ByteWriter(comps.length * 16);
  comps.forEach((c, i) => w.u32(i * 16, c.type).u32(i * 16 + 4, c.size).u32(i * 16 + 8, c.offset).u32(i * 16 + 12, 0));
  return w.bytes;
}
