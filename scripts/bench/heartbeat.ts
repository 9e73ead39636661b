// A benchmark target that measures its own pauses: test/fixtures/heartbeat.c, whose second
// thread notes the time every 500 us and keeps the largest gap. Asked before and after a run,
// it says how long it was kept from running during that run, whoever stopped it and however
// (ptrace, a fork's page-table copy): not our tools' own estimate.

import type { Subprocess } from "bun";
import { buildFixture } from "../../test/helpers/fixtures.ts";

export interface Beat {
  /** The largest gap between two heartbeats since the previous question, in microseconds. */
  maxGapUs: number;
  beats: number;
}

export class HeartbeatTarget {
  readonly #lines: AsyncIterator<string>;
  private constructor(readonly proc: Subprocess<"pipe", "pipe", "inherit">, lines: AsyncIterator<string>) {
    this.#lines = lines;
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Starts the fixture with `mib` MiB of touched heap and waits for its ready line. */
  static async start(mib: number): Promise<HeartbeatTarget> {
    const exe = buildFixture("heartbeat", { libs: ["-pthread"] });
    const args = mib > 0 ? ["--heap-mib", String(mib)] : [];
    const proc = Bun.spawn([exe, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    const t = new HeartbeatTarget(proc, lines(proc.stdout));
    const ready = await t.#next();
    if (!ready.includes('"ready":true')) throw new Error(`heartbeat: no ready line (${ready})`);
    return t;
  }

  async #next(): Promise<string> {
    const r = await this.#lines.next();
    if (r.done) throw new Error(`heartbeat ${this.pid} ended`);
    return r.value;
  }

  /** The largest gap since the last call (or since ready), and starts over. */
  async gap(): Promise<Beat> {
    this.proc.stdin.write("gap\n");
    await this.proc.stdin.flush();
    return JSON.parse(await this.#next()) as Beat;
  }

  async stop(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}
