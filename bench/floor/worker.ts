// A relay that does nothing: the same route, a Durable Object per group with hibernatable sockets, a
// challenge on connect, a canned welcome for hello and a canned known for load, and every "fan" frame
// sent to every socket. No storage, no checks, no JSON beyond reading the type. What the bench measures
// here is what wrangler dev and workerd cost on this machine, under every figure of the real relay.
import { DurableObject } from "cloudflare:workers";

type FloorEnv = { FLOOR: DurableObjectNamespace<FloorObject> };

const CHALLENGE = JSON.stringify({ type: "challenge", v: 1, nonce: "floor-nonce-floor-nonce-floor-no" });
const WELCOME = JSON.stringify({ type: "welcome", v: 1, role: "writer" });
const KNOWN = JSON.stringify({ type: "known", header: true, sessions: {}, reason: "load" });

export class FloorObject extends DurableObject<FloorEnv> {
  override async fetch(): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    server.send(CHALLENGE);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string") return;
    const { type } = JSON.parse(message) as { type?: string };
    if (type === "hello") ws.send(WELCOME);
    else if (type === "load") ws.send(KNOWN);
    else if (type === "fan") for (const socket of this.ctx.getWebSockets()) socket.send(message);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
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
