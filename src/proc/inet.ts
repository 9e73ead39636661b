// Trust model: pure formatting of 4- or 16-byte addresses we already parsed and length-checked;
// no input text is read here.

/** Dotted quad of 4 bytes in network order. */
export function formatIPv4(b: Uint8Array): string {
  if (b.byteLength !== 4) throw new RangeError(`IPv4 address of ${b.byteLength} bytes`);
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * Text of a 16-byte IPv6 address exactly as glibc inet_ntop() (resolv/inet_ntop.c) writes it, so it
 * matches ss and netstat: the first longest run of two or more zero groups becomes "::", hex is
 * lowercase without leading zeros, and ::ffff:a.b.c.d / ::a.b.c.d end in a dotted quad.
 */
export function formatIPv6(b: Uint8Array): string {
  if (b.byteLength !== 16) throw new RangeError(`IPv6 address of ${b.byteLength} bytes`);
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));

  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      cur = cur.base === -1 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };

  let out = "";
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses.
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff))) {
      out += formatIPv4(b.subarray(12, 16));
      return out;
    }
    out += (words[i] ?? 0).toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ":";
  return out;
}
