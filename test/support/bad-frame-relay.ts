// A relay that sends a frame no client can take, as one did that stored a transaction it could not send
// on: it challenges every socket, welcomes the hello (a group with nothing in it), and then sends a text
// frame over MAX_FRAME_BYTES, until `mend()` (a deploy that fixed it). `breakAgain()` sends one on every
// socket open then, and on every new one.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../../protocol/index.ts";
import { acceptUpgrade, textFrame } from "./websocket-server.ts";

export type BadFrameRelay = {
  /** `http://127.0.0.1:<port>`, the `url` to give `createClient`. */
  url: string;
  /** Hellos welcomed so far. */
  hellos: number;
  /** Bad frames sent so far. */
  badFrames: number;
  /** The bytes of the bad frame. */
  readonly badFrameBytes: number;
  mend(): void;
  breakAgain(): void;
  stop(): Promise<void>;
};

/** A message a few bytes over what a frame may hold, well-formed otherwise. */
const OVERSIZE_TEXT = `{"type":"pong","pad":"${"x".repeat(MAX_FRAME_BYTES - 20)}"}`;
const OVERSIZE = textFrame(OVERSIZE_TEXT);

export async function startBadFrameRelay(): Promise<BadFrameRelay> {
  const server: Server = createServer((_request, response) => response.writeHead(426).end());
  const sockets = new Set<Socket>();
  const welcomed = new Set<Socket>();
  let broken = true;
  const sendBad = (socket: Socket) => {
    relay.badFrames++;
    socket.write(OVERSIZE);
  };
  server.on("upgrade", (request, socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      welcomed.delete(socket);
    });
    socket.on("error", () => {});
    acceptUpgrade(request, socket);
    socket.write(textFrame({ type: "challenge", v: PROTOCOL_VERSION, nonce: "bm9uY2Utb2YtYSBicm9rZW4tcmVsYXk", now: Date.now() }));
    // The client's first frame carries its hello; what it sends after (pings, the echo of a close) goes unread.
    socket.once("data", () => {
      relay.hellos++;
      welcomed.add(socket);
      socket.write(textFrame({ type: "welcome", v: PROTOCOL_VERSION, role: "writer" }));
      if (broken) sendBad(socket);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const relay: BadFrameRelay = {
    url: `http://127.0.0.1:${port}`,
    hellos: 0,
    badFrames: 0,
    badFrameBytes: Buffer.byteLength(OVERSIZE_TEXT),
    mend: () => {
      broken = false;
    },
    breakAgain: () => {
      broken = true;
      for (const socket of welcomed) sendBad(socket);
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return relay;
}
