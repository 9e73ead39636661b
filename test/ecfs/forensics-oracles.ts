// Outside oracles for the forensic sections: Python's struct/json/socket modules read our
// .fdinfo and .fdinfo.ext bytes, GNU tar reads .procfs.tgz, and a Python "holder" process
// keeps fds our C fixture cannot make (a path over 512 bytes at a 5 GiB offset, paths of
// exactly 511 and 512 bytes, a non-UTF-8 name). Only test code imports this.

import { spawnSync } from "node:child_process";
import { type RunningFixture, startFixture, type FixtureInfo } from "../helpers/fixtures.ts";

function python(script: string, args: string[], input: Uint8Array): string {
  const r = spawnSync("python3", ["-c", script, ...args], { input, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python oracle failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** One fd_info_t as Python's struct module unpacks it (docs/FORMAT.md 4.3 offsets, spelled as struct formats). */
export interface PyFdInfo {
  fd: number;
  /** The 512-byte path field up to its first NUL, as hex. */
  pathHex: string;
  /** Whether the path field holds a NUL at all (a C reader's strlen stops inside the field only then). */
  pathNul: boolean;
  pos: string;
  perms: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  net: number;
  /** The padding bytes, which must be zero. */
  padHex: string;
}

const FD_INFO_PY = `
import json, socket, struct, sys
# x86_64: int, char[512], 4 pad, loff_t, uint, in_addr x2, u16 x2, char, pad to 552.
# i386: loff_t is 4-aligned there, so no pad before pos; pad to 544.
fmt = "<i512s4sqI4s4sHHb7s" if sys.argv[1] == "64" else "<i512s0sqI4s4sHHb3s"
size = struct.calcsize(fmt)
data = sys.stdin.buffer.read()
assert size == (552 if sys.argv[1] == "64" else 544), size
assert len(data) % size == 0, len(data)
out = []
for off in range(0, len(data), size):
    fd, path, pad1, pos, perms, src, dst, sport, dport, net, pad2 = struct.unpack_from(fmt, data, off)
    out.append({"fd": fd, "pathHex": path.split(b"\\0", 1)[0].hex(), "pathNul": b"\\0" in path,
                "pos": str(pos), "perms": perms, "src": socket.inet_ntoa(src), "dst": socket.inet_ntoa(dst),
                "sport": sport, "dport": dport, "net": net, "padHex": (pad1 + pad2).hex()})
print(json.dumps(out))
`;

export function pyFdInfo(bits: 32 | 64, bytes: Uint8Array): PyFdInfo[] {
  return JSON.parse(python(FD_INFO_PY, [String(bits)], bytes)) as PyFdInfo[];
}

const JSON_LINES_PY = `
import json, sys
data = sys.stdin.buffer.read()
assert data.endswith(b"\\n")
lines = data[:-1].split(b"\\n")
objs = [json.loads(l.decode("utf-8")) for l in lines]
assert all(isinstance(o, dict) for o in objs)
print(json.dumps(objs))
`;

/** Each line parsed by Python's json on its own: one object per line, UTF-8, ending in "\n". */
export function pyJsonLines(bytes: Uint8Array): Record<string, unknown>[] {
  return JSON.parse(python(JSON_LINES_PY, [], bytes)) as Record<string, unknown>[];
}

export const HOLDER_POS = 5n * 2n ** 30n + 7n;

const HOLDER_PY = `
import json, os, sys, time
long_path, bad_path = os.fsencode(sys.argv[1]), bytes.fromhex(sys.argv[2])
a = os.open(long_path, os.O_RDONLY)
os.lseek(a, ${HOLDER_POS}, os.SEEK_SET)
b = os.open(bad_path, os.O_RDONLY)
more = [os.open(os.fsencode(p), os.O_RDONLY) for p in sys.argv[3:]]
print(json.dumps({"ready": True, "fixture": "holder", "pid": os.getpid(), "bits": 64, "seed": 0, "long": a, "bad": b, "more": more}), flush=True)
while True:
    time.sleep(3600)
`;

/** `more`: the fds of startHolder's `morePaths`, in order. */
export type HolderInfo = FixtureInfo & { long: number; bad: number; more: number[] };

/** A process holding `longPath` open at offset HOLDER_POS, `badPath` (raw bytes) and each of `morePaths` open. */
export function startHolder(longPath: string, badPath: Uint8Array, morePaths: string[] = []): Promise<RunningFixture<HolderInfo>> {
  return startFixture<HolderInfo>("python3", ["-c", HOLDER_PY, longPath, Buffer.from(badPath).toString("hex"), ...morePaths]);
}

/** Runs GNU tar; returns stdout and stderr, throwing on a non-zero exit. */
export function gnuTar(args: string[], input?: Uint8Array): { stdout: string; stderr: string } {
  const r = spawnSync("tar", args, { input, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  const out = { stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")} exited ${r.status}: ${out.stderr}`);
  return out;
}
