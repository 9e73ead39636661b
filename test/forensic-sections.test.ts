// The forensic sections of a snapshot, judged by tools we did not write: .fdinfo records read
// at the original's fixed offsets, .fdinfo.ext parsed as JSON Lines, .procfs.tgz unpacked by
// GNU tar, all compared with what the fixture opened and with /proc.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, killAllFixtures, startFixture, type RunningFixture, type SocketsInfo } from "./helpers/fixtures.ts";
import { ecfs } from "./helpers/ecfs.ts";
import { NO_I386 } from "./helpers/machine.ts";
import { readelfSections, type ReadelfSection } from "./elf/oracles.ts";

const work = mkdtempSync(join(tmpdir(), "ecfs-forensic-"));
afterAll(async () => {
  await killAllFixtures();
  rmSync(work, { recursive: true, force: true });
});

for (const m32 of [false, true]) {
  describe.skipIf(m32 && NO_I386)(`forensic sections of the sockets fixture (${m32 ? "i386" : "x86_64"})`, () => {
    let fx: RunningFixture<SocketsInfo>;
    let file = "";
    let shdrs: ReadelfSection[] = [];
    const bytesOf = (name: string) => {
      const s = shdrs.find((x) => x.name === name);
      if (!s) throw new Error(`no ${name} section`);
      return readFileSync(file).subarray(Number(s.offset), Number(s.offset + s.size));
    };

    beforeAll(async () => {
      fx = await startFixture<SocketsInfo>(buildFixture("sockets", { m32 }), [join(work, `sock${m32 ? 32 : 64}`), join(work, `file${m32 ? 32 : 64}`)]);
      file = join(work, `sockets${m32 ? 32 : 64}.ecfs`);
      const r = ecfs(["snapshot", "-p", String(fx.pid), "-o", file]);
      if (r.code !== 0) throw new Error(r.stderr);
      shdrs = readelfSections(file);
    });
    afterAll(async () => {
      await fx?.kill();
    });

    test(".fdinfo: one fd_info_t per open fd, at the original's offsets", () => {
      const size = m32 ? 544 : 552;
      const off = m32 ? { pos: 516, perms: 524, src: 528, dst: 532, sport: 536, dport: 538, net: 540 } : { pos: 520, perms: 528, src: 532, dst: 536, sport: 540, dport: 542, net: 544 };
      const sec = shdrs.find((s) => s.name === ".fdinfo")!;
      expect(Number(sec.entsize)).toBe(size);
      const b = Buffer.from(bytesOf(".fdinfo"));
      const n = b.length / size;
      const liveFds = spawnSync("ls", [`/proc/${fx.pid}/fd`], { encoding: "utf8" }).stdout.trim().split("\n").map(Number).sort((a, c) => a - c);
      expect(n).toBe(liveFds.length);
      const recs = [...Array(n).keys()].map((i) => {
        const r = b.subarray(i * size, (i + 1) * size);
        const path = r.subarray(4, 516).toString("latin1").replace(/\0.*$/s, "");
        return {
          fd: r.readInt32LE(0), path, pos: r.readBigInt64LE(off.pos), perms: r.readUInt32LE(off.perms),
          src: [...r.subarray(off.src, off.src + 4)].join("."), dst: [...r.subarray(off.dst, off.dst + 4)].join("."),
          sport: r.readUInt16LE(off.sport), dport: r.readUInt16LE(off.dport), net: r.readInt8(off.net),
        };
      });
      expect(recs.map((r) => r.fd)).toEqual(liveFds);
      for (const r of recs) expect(r.path).toBe(readlinkSync(`/proc/${fx.pid}/fd/${r.fd}`));
      const by = (fd: number) => recs.find((r) => r.fd === fd)!;
      expect(by(fx.info.file.fd).pos).toBe(BigInt(fx.info.file.pos));
      expect(by(fx.info.tcpListen.fd)).toMatchObject({ src: "127.0.0.1", sport: fx.info.tcpListen.port, net: 1 });
      expect(by(fx.info.tcpClient.fd)).toMatchObject({ src: "127.0.0.1", sport: fx.info.tcpClient.port, dst: "127.0.0.1", dport: fx.info.tcpClient.peerPort, net: 1 });
      expect(by(fx.info.udp.fd)).toMatchObject({ src: "127.0.0.1", sport: fx.info.udp.port, net: 2 });
    });

    test(".fdinfo.ext: IPv6, UNIX sockets and pipes, as JSON Lines", () => {
      const lines = Buffer.from(bytesOf(".fdinfo.ext")).toString("utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
      expect(lines[0]).toEqual({ format: "ecfs-fdinfo-ext", version: 1 });
      const by = (fd: number) => lines.find((l) => l.fd === fd);
      if (fx.info.tcp6Listen) expect(by(fx.info.tcp6Listen.fd).socket).toMatchObject({ protocol: "tcp6", localAddress: "::1", localPort: fx.info.tcp6Listen.port, state: "LISTEN" });
      expect(by(fx.info.unix.fd).socket).toMatchObject({ protocol: "unix", path: fx.info.unix.path });
      expect(by(fx.info.pipe.r).type).toBe("pipe");
    });

    test(".procfs.tgz: GNU tar unpacks /proc/PID with real contents", () => {
      const sec = shdrs.find((s) => s.name === ".procfs.tgz")!;
      expect(sec.type).toBe("LOUSER+0"); // readelf spells SHT_LOUSER (0x80000000) so
      const tgz = join(work, `p${m32 ? 32 : 64}.tgz`);
      writeFileSync(tgz, bytesOf(".procfs.tgz"));
      const dir = mkdtempSync(join(work, "x-"));
      const r = spawnSync("tar", ["-xzf", tgz, "-C", dir], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const root = join(dir, "proc", String(fx.pid));
      expect(readFileSync(join(root, "cmdline"))).toEqual(readFileSync(`/proc/${fx.pid}/cmdline`));
      expect(readFileSync(join(root, "maps"), "utf8")).toBe(readFileSync(`/proc/${fx.pid}/maps`, "utf8"));
      expect(readlinkSync(join(root, "fd", String(fx.info.file.fd)))).toBe(readlinkSync(`/proc/${fx.pid}/fd/${fx.info.file.fd}`));
      expect(readFileSync(join(root, "status"), "utf8")).toMatch(new RegExp(`^Pid:\\s+${fx.pid}$`, "m"));
    });
  });
}
