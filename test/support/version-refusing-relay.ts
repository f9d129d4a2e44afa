// A relay of the next protocol version, as an app's SDK meets one deployed ahead of the app's bundle: it
// challenges every socket, answers the hello with `unsupported_version` and closes 1002, as the real one
// does (worker/core/handshake.ts). Stop it and start the real relay on its port for "a relay of this
// version comes back".
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createIdentity, type Client, type Identity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { PROTOCOL_VERSION } from "../../protocol/index.ts";
import { acceptUpgrade, closeFrame, textFrame } from "./websocket-server.ts";

export type VersionRefusingRelay = {
  /** `http://127.0.0.1:<port>`, the `url` to give `createClient`. */
  url: string;
  port: number;
  /** Hellos refused so far (frames, for a relay of an older version). */
  refusals: number;
  /** Sockets challenged so far. */
  challenges: number;
  /** The message its errors carry. */
  message: string;
  stop(): Promise<void>;
};

/**
 * A relay that refuses every hello as one of the next protocol version would; or, given an older
 * `version`, one from before this SDK's frames (protocol v1 read no batch frame), which refuses the first
 * frame as `bad_frame` and closes 1007.
 */
export async function startVersionRefusingRelay(version = PROTOCOL_VERSION + 1): Promise<VersionRefusingRelay> {
  const server: Server = createServer((_request, response) => response.writeHead(426).end());
  const sockets = new Set<Socket>();
  const older = version < PROTOCOL_VERSION;
  server.on("upgrade", (request, socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    acceptUpgrade(request, socket);
    relay.challenges++;
    socket.write(textFrame({ type: "challenge", v: version, nonce: "bm9uY2Utb2YtdGhlLW5leHQtcmVsYXk", now: Date.now() }));
    // The client's first frame carries its hello (and the loads behind it): refused whole.
    socket.on("data", function refuse(data: Buffer) {
      // A close frame (opcode 8) is the client leaving, not a frame it sent to be read.
      if ((data[0]! & 0x0f) === 8) return;
      socket.off("data", refuse);
      relay.refusals++;
      if (older) {
        socket.write(textFrame({ type: "error", code: "bad_frame", message: "unreadable frame" }));
        return void socket.end(closeFrame(1007, "bad_frame"));
      }
      socket.write(textFrame({ type: "error", code: "unsupported_version", message: relay.message }));
      socket.end(closeFrame(1002, "unsupported_version"));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const relay: VersionRefusingRelay = {
    url: `http://127.0.0.1:${port}`,
    port,
    refusals: 0,
    challenges: 0,
    message: `this relay speaks protocol v${version}, not v${PROTOCOL_VERSION}`,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return relay;
}

/**
 * What a test of a refused SDK needs: a refusing relay, clients on one FileLocalStore folder behind it
 * (each closed at cleanup), then the real relay on its port. `cleanup` stops whatever runs.
 */
export function versionRefusalScene(prefix: string) {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  const clients: Client[] = [];
  let refusing: VersionRefusingRelay | undefined;
  let relay: LocalRelay | undefined;
  return {
    async refuse(): Promise<VersionRefusingRelay> {
      return (refusing = await startVersionRefusingRelay());
    },
    /** A client of `identity` on the folder, through the refusing relay. */
    async client(identity: Identity): Promise<Client> {
      const client = await createClient({ url: refusing!.url, identity, store: new FileLocalStore(folder, { fsync: false }) });
      clients.push(client);
      return client;
    },
    /** The refusing relay goes; the real one serves its port. */
    async comeBack(): Promise<LocalRelay> {
      await refusing!.stop();
      relay = await startRelay({ port: refusing!.port });
      refusing = undefined;
      return relay;
    },
    /** A fresh client of another agent on the real relay. */
    async reader(): Promise<Client> {
      const reader = await createClient({ url: relay!.url, identity: createIdentity() });
      clients.push(reader);
      return reader;
    },
    async cleanup(): Promise<void> {
      for (const client of clients) await client.close();
      await refusing?.stop();
      await relay?.stop();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
