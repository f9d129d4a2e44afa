// A relay that does nothing: the same route, a Durable Object per group with hibernatable sockets, a
// challenge on connect, a canned welcome for hello and a canned known for load, every "fan" frame sent to
// every socket, and for "bulk" a given number of canned frames of a given size (a cold load's bytes,
// without reading or encoding anything). No storage, no checks, no JSON beyond reading the request. What the bench measures
// here is what wrangler dev and workerd cost on this machine, under every figure of the real relay.
// Like the relay (worker/group-object.ts), it declines the permessage-deflate every client offers: agreed
// to, the runtime would compress each frame once per socket and every Node client would inflate it, a
// cost the relay does not have (a fan-out to 50 sockets had a p99 of about 110 ms with it, 19 ms without).
import { DurableObject } from "cloudflare:workers";

type FloorEnv = { FLOOR: DurableObjectNamespace<FloorObject> };

const CHALLENGE = JSON.stringify({ type: "challenge", v: 1, nonce: "floor-nonce-floor-nonce-floor-no" });
const WELCOME = JSON.stringify({ type: "welcome", v: 1, role: "writer" });
const KNOWN = JSON.stringify({ type: "known", header: true, sessions: {}, reason: "load" });

/**
 * One canned frame per size, built once: a content frame of about `bytes` bytes whose data look like the
 * bench's transactions (JSON text with a stamp and padding), so it compresses as the real ones do.
 */
const bulkFrames = new Map<number, string>();
function bulkFrame(bytes: number): string {
  let frame = bulkFrames.get(bytes);
  if (!frame) {
    const at: number[] = [];
    const data: string[] = [];
    for (let i = 0, size = 0; size < bytes - 200; i++) {
      const text = JSON.stringify({ t: 1_763_780_000_000.125 + i * 0.37, i, p: "x".repeat(60) });
      at.push(i === 0 ? 1_763_780_000_000 : i % 3);
      data.push(text);
      size += text.length + 16;
    }
    frame = JSON.stringify({ type: "content", doc: "doc_floor", sessions: { "floor~session": { after: 0, at, data } } });
    bulkFrames.set(bytes, frame);
  }
  return frame;
}

export class FloorObject extends DurableObject<FloorEnv> {
  /** The sockets, kept in memory as a relay keeps its peers (getWebSockets() at every frame costs more). */
  #sockets: Set<WebSocket> | undefined;

  get #all(): Set<WebSocket> {
    return (this.#sockets ??= new Set(this.ctx.getWebSockets()));
  }

  override async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    this.#all.add(server);
    server.send(CHALLENGE);
    return new Response(null, { status: 101, webSocket: client, headers: { "Sec-WebSocket-Extensions": "none" } });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string") return;
    const { type, frames = 0, bytes = 0 } = JSON.parse(message) as { type?: string; frames?: number; bytes?: number };
    if (type === "hello") ws.send(WELCOME);
    else if (type === "load") ws.send(KNOWN);
    else if (type === "fan") for (const socket of this.#all) socket.send(message);
    else if (type === "bulk") {
      for (let i = 0; i < frames; i++) ws.send(bulkFrame(bytes));
      ws.send(KNOWN);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#all.delete(ws);
    try {
      ws.close(code, "bye");
    } catch {
      // already closed
    }
  }
}

export default {
  fetch(request: Request, env: FloorEnv): Promise<Response> | Response {
    const { pathname } = new URL(request.url);
    if (pathname === "/v1/health") return Response.json({ ok: true });
    return env.FLOOR.getByName(pathname).fetch(request);
  },
};
