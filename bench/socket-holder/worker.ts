// A Worker that holds subscribers' WebSockets to the relay from inside the relay's own workerd, through a
// service binding to the relay's Worker: the relay's object accepts and hibernates real sockets, which cost
// no file descriptor, so a group's sockets are not bounded by this machine's open-file limit
// (fanout-many-sockets.ts --subscribers in-process). Bundled and run beside the relay by that script.
//
// Node drives it over one control socket at /holder, in JSON:
//   { op: "connect", group, from, count } → { op: "connected", total } once sockets from..from+count are live
//   { op: "expect", total }               → { op: "received", total } once that many content messages arrived
//   { op: "close" }                       → closes every socket
// Every other request goes on to the relay, so the writer reaches it at the same URL.
import { agentIdOf, publicKeyOf } from "../../protocol/index.ts";
import type { TestAgent } from "../../test/support/identity.ts";
import { subscribe } from "../measure/group-subscriber.ts";

type Env = { RELAY: { fetch(input: string | Request, init?: RequestInit): Promise<Response> } };
type Order = { op: "connect"; group: string; from: number; count: number } | { op: "expect"; total: number } | { op: "close" };

/** Subscriber `i`'s own agent (so no agent reaches the relay's limit of sockets per agent). */
function subscriberAgent(i: number): TestAgent {
  const secretKey = new Uint8Array(32).fill(0x5b);
  secretKey[0] = i & 0xff;
  secretKey[1] = (i >> 8) & 0xff;
  secretKey[2] = (i >> 16) & 0xff;
  const agent = agentIdOf(publicKeyOf(secretKey));
  return { secretKey, agent, session: `${agent}~subscriber` };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (new URL(request.url).pathname !== "/holder") return env.RELAY.fetch(request);
    const [client, control] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    control.accept();
    const say = (message: object) => control.send(JSON.stringify(message));
    const sockets: WebSocket[] = [];
    let received = 0;
    let expected = Number.POSITIVE_INFINITY;
    const onContent = () => {
      if (++received === expected) say({ op: "received", total: received });
    };

    /** Opens subscriber `i`'s socket through the relay's Worker and subscribes it to the group. */
    async function connect(group: string, i: number): Promise<WebSocket> {
      const response = await env.RELAY.fetch(`http://relay/v1/groups/${group}/ws`, { headers: { Upgrade: "websocket" } });
      const ws = response.webSocket;
      if (!ws) throw new Error(`subscriber ${i}: upgrade answered ${response.status} ${await response.text()}`);
      ws.accept();
      return subscribe(ws, subscriberAgent(i), group, onContent).catch((error: Error) => Promise.reject(new Error(`subscriber ${i}: ${error.message}`)));
    }

    control.addEventListener("message", async (event) => {
      const order = JSON.parse(event.data as string) as Order;
      try {
        if (order.op === "connect") {
          const batch = [];
          for (let i = order.from; i < order.from + order.count; i++) batch.push(connect(order.group, i));
          sockets.push(...(await Promise.all(batch)));
          say({ op: "connected", total: sockets.length });
        } else if (order.op === "expect") {
          expected = order.total;
          if (received >= expected) say({ op: "received", total: received });
        } else if (order.op === "close") {
          for (const socket of sockets) socket.close(1000, "done");
          control.close(1000, "done");
        }
      } catch (error) {
        say({ op: "failed", message: error instanceof Error ? error.message : String(error) });
      }
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};
