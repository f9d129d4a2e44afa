// A subscriber on a raw WebSocket to a group's relay socket, without the SDK: it says hello, opens the whole
// group and counts the content that reaches it. Shared by fanout-many-sockets.ts (sockets over TCP from Node)
// and bench/socket-holder/worker.ts (sockets held inside the relay's workerd).
import { decodeServerFrame, encodeMessage } from "../../protocol/index.ts";
import { helloFrame, type TestAgent } from "../../test/support/identity.ts";

/** Says hello as `who` on `ws` (a socket to `group` just made) and opens the group; resolves once live, then calls `onContent` for each content message. */
export function subscribe(ws: WebSocket, who: TestAgent, group: string, onContent: () => void): Promise<WebSocket> {
  let phase: "hello" | "welcome" | "opened" | "live" = "hello";
  return new Promise((resolve, reject) => {
    ws.addEventListener("error", () => reject(new Error(`socket error in phase ${phase}`)));
    ws.addEventListener("close", (event) => reject(new Error(`socket closed in phase ${phase}: ${event.code} ${event.reason}`)));
    ws.addEventListener("message", (event) => {
      const decoded = decodeServerFrame(event.data as string);
      if (!decoded.ok) return;
      for (const message of decoded.message) {
        if (message.type === "challenge" && phase === "hello") {
          phase = "welcome";
          ws.send(encodeMessage(helloFrame(who, group, message.nonce) as never));
        } else if (message.type === "welcome") {
          phase = "opened";
          ws.send(encodeMessage({ type: "open", known: {} }));
        } else if (message.type === "opened") {
          phase = "live";
          resolve(ws);
        } else if (message.type === "content" && phase === "live") onContent();
        else if (message.type === "error") reject(new Error(`${message.code}: ${message.message}`));
      }
    });
  });
}
