// A real WebSocket to the real relay inside workerd, with a frame inbox the tests can await on.
import { exports } from "cloudflare:workers";
import { decodeServerMessage, type ServerMessage } from "../../protocol/index.ts";
import { helloFrame, type TestAgent } from "../support/identity.ts";

export type Peer = {
  ws: WebSocket;
  inbox: ServerMessage[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  sendRaw(frame: string | ArrayBuffer): void;
  /** Resolves with the next frame matching `match` (frames before it stay in the inbox for later). */
  next<T extends ServerMessage["type"]>(type: T, match?: (m: Extract<ServerMessage, { type: T }>) => boolean): Promise<Extract<ServerMessage, { type: T }>>;
  close(): Promise<void>;
};

export async function openSocket(group: string): Promise<Peer> {
  const res = await exports.default.fetch(`http://relay/v1/groups/${group}/ws`, { headers: { Upgrade: "websocket" } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`no socket: ${res.status}`);
  ws.accept();
  const inbox: ServerMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.addEventListener("message", (event) => {
    const decoded = decodeServerMessage(event.data as string);
    if (!decoded.ok) throw new Error(`relay sent a bad frame: ${decoded.reason}`);
    inbox.push(decoded.message);
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (event) => {
      resolve({ code: event.code, reason: event.reason });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  const peer: Peer = {
    ws,
    inbox,
    closed,
    send: (message) => ws.send(JSON.stringify(message)),
    sendRaw: (frame) => ws.send(frame),
    async next(type, match) {
      for (;;) {
        const index = inbox.findIndex((m) => m.type === type && (!match || match(m as never)));
        if (index >= 0) return inbox.splice(index, 1)[0] as never;
        if (isClosed) throw new Error(`socket closed while waiting for ${type}; inbox: ${JSON.stringify(inbox)}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async close() {
      if (!isClosed) ws.close(1000, "done");
      await closed;
    },
  };
  return peer;
}

/** Opens a socket and completes the handshake as `who`. */
export async function connect(group: string, who: TestAgent): Promise<Peer> {
  const peer = await openSocket(group);
  const challenge = await peer.next("challenge");
  peer.send(helloFrame(who, group, challenge.nonce));
  await peer.next("welcome");
  return peer;
}
