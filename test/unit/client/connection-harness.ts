// Drives one Connection against a FakeSocket: the client under test, the relay's side of the handshake,
// and exact reconnect timing under fake timers.
import { expect, vi } from "vitest";
import { PROTOCOL_VERSION, decodeClientMessage, type Hello, type ServerMessage } from "../../../protocol/index.ts";
import { Connection, type ConnectionOptions } from "../../../client/connection.ts";
import { createIdentity, newSession } from "../../../client/identity.ts";
import type { Status } from "../../../client/status.ts";
import { FakeSocket } from "./fake-socket.ts";

export const identity = createIdentity();
export const session = newSession(identity);
export const GROUP = "notes";
export const NONCE = "bm9uY2Utb2YtdGhlLXJlbGF5";
// With random() = 0.5 the delay before reconnect attempt n is min(16 s, 1 s * 2^n) / 2.
export const BACKOFF = { baseMs: 1_000, capMs: 16_000, minUptimeMs: 5_000 };
export const HOUR = 60 * 60_000;

export function connect(options: Partial<ConnectionOptions> = {}) {
  const log = { statuses: [] as Status[], reasons: [] as (string | undefined)[], hello: 0, ready: 0, down: 0, messages: [] as ServerMessage[], failures: [] as string[] };
  const WebSocket = FakeSocket as unknown as typeof globalThis.WebSocket;
  const connection = new Connection(
    { url: "https://relay.test/", group: GROUP, identity, session, WebSocket, random: () => 0.5, backoff: BACKOFF, pingIntervalMs: HOUR, fetch: false, ...options },
    {
      onHello: () => log.hello++,
      onReady: () => log.ready++,
      onMessage: (message) => log.messages.push(message),
      onDown: () => log.down++,
      onFailure: (error) => log.failures.push(error.message),
      onStatus: (status, reason) => {
        log.statuses.push(status);
        log.reasons.push(reason);
      },
    },
  );
  return { connection, log };
}

/** Plays the relay's side of the handshake on the newest socket; returns the client's hello. */
export function handshake(socket = FakeSocket.latest): Hello {
  socket.serverOpen();
  socket.serverSend({ type: "challenge", v: PROTOCOL_VERSION, nonce: NONCE });
  const decoded = decodeClientMessage(socket.sent[socket.sent.length - 1] ?? "");
  if (!decoded.ok || decoded.message.type !== "hello") throw new Error(`expected a hello, got ${socket.sent.join(" | ")}`);
  socket.serverSend({ type: "welcome", v: PROTOCOL_VERSION, role: "writer" });
  return decoded.message;
}

/** The next socket is created exactly `ms` from now: not a millisecond before. */
export function expectNextSocketAfter(ms: number): void {
  const before = FakeSocket.instances.length;
  vi.advanceTimersByTime(ms - 1);
  expect(FakeSocket.instances, `no socket before ${ms} ms`).toHaveLength(before);
  vi.advanceTimersByTime(1);
  expect(FakeSocket.instances, `a socket at ${ms} ms`).toHaveLength(before + 1);
}

/** Each new socket fails before it opens; the next one comes after each of these delays in turn. */
export function failConnections(delays: number[]): void {
  for (const delay of delays) {
    FakeSocket.latest.serverFail();
    expectNextSocketAfter(delay);
  }
}
