// A raw WebSocket from the `ws` package (Node's own cannot stop reading), for tests that play a peer which
// stops reading its socket, and the resident memory of the relay's workerd, to see what such a peer costs.
import { readFileSync } from "node:fs";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { childProcesses } from "./processes.ts";

/** The `ws` package's socket, as far as tests use it (a specifier resolved at run time: the package has no types here). */
export type RawSocket = {
  on(event: "message", listener: (data: Buffer) => void): void;
  on(event: "open", listener: () => void): void;
  on(event: "close", listener: (code: number) => void): void;
  send(data: string): void;
  terminate(): void;
  /** The TCP socket below: paused, the peer reads nothing more. */
  _socket: { pause(): void };
};
export type RawSocketClass = new (url: string) => RawSocket;

/** The `ws` package's WebSocket class. */
export async function rawWebSocket(): Promise<RawSocketClass> {
  return ((await import("ws" as string)) as { WebSocket: RawSocketClass }).WebSocket;
}

/** The resident memory of process `pid`, in KiB (0 once it is gone). */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : 0;
}

/** weft/dev's relay, with the pid of the one workerd process it started (whose memory rssKiB reads). */
export async function startRelayWithWorkerd(): Promise<{ relay: LocalRelay; workerd: number }> {
  const before = new Set(childProcesses(process.pid).map(({ pid }) => pid));
  const relay = await startRelay();
  const started = childProcesses(process.pid).filter(({ pid, command }) => !before.has(pid) && command.includes("workerd"));
  if (started.length !== 1) {
    await relay.stop();
    throw new Error(`expected one workerd process, found ${started.length}`);
  }
  return { relay, workerd: started[0]!.pid };
}
