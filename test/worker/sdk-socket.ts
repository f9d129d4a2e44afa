// The SDK inside workerd, for tests of what it makes of the relay's frames: a client whose WebSocket is a
// real socket to the relay Worker under test, opened as the upgrade of a fetch to it (workerd's
// `new WebSocket(url)` would dial the network, where no relay listens). It runs as it does in a browser.
import { exports } from "cloudflare:workers";
import type { DocId, TransactionData } from "../../protocol/index.ts";

/**
 * The part of the SDK these tests use, typed here: the client's sources need the DOM's types (timers,
 * `navigator.onLine`, `pagehide`), which the worker's tsconfig, with workerd's, cannot have, so they are
 * imported by a name TypeScript does not follow.
 */
type Sdk = {
  createClient(options: { url: string; identity: unknown; WebSocket: typeof RelaySocket; fetch: false }): Promise<SdkClient>;
  createIdentity(): unknown;
};
export type SdkClient = {
  group(id: string): {
    open(id: DocId, options?: { signal?: AbortSignal }): Promise<{ transactions(): { data: TransactionData }[] }>;
    onError(listener: (error: Error) => void): () => void;
  };
  close(): Promise<void>;
};

const SDK = "../../client/index.ts";

/** A client of a new identity on the relay under test. */
export async function sdkClient(): Promise<SdkClient> {
  const sdk = (await import(/* @vite-ignore */ SDK)) as Sdk;
  return sdk.createClient({ url: "http://relay", identity: sdk.createIdentity(), WebSocket: RelaySocket, fetch: false });
}

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** The SDK's WebSocket: a socket to the relay under test. */
export class RelaySocket extends EventTarget {
  readyState = 0;
  binaryType = "arraybuffer";
  #socket: WebSocket | undefined;

  constructor(url: string) {
    super();
    void this.#connect(url.replace(/^ws/, "http"));
  }

  async #connect(url: string): Promise<void> {
    const response = await exports.default.fetch(url, { headers: { Upgrade: "websocket" } });
    const socket = response.webSocket;
    if (!socket) return this.#closed(1006, "");
    socket.accept();
    // Binary frames (data of bytes, compressed frames) as ArrayBuffers, as the SDK asks of every socket.
    socket.binaryType = "arraybuffer";
    if (this.readyState >= CLOSING) return socket.close(1000, "closed before it opened");
    this.#socket = socket;
    socket.addEventListener("message", (event) => this.dispatchEvent(Object.assign(new Event("message"), { data: event.data })));
    socket.addEventListener("close", (event) => this.#closed(event.code, event.reason));
    socket.addEventListener("error", () => this.dispatchEvent(new Event("error")));
    this.readyState = OPEN;
    this.dispatchEvent(new Event("open"));
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason }));
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState === OPEN) this.#socket?.send(data as string | ArrayBuffer);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSING;
    this.#socket?.close(code, reason);
    // Closed before it opened: that socket is closed as soon as it is there (#connect).
    if (!this.#socket) this.#closed(code ?? 1005, reason ?? "");
  }
}
