// A stand-in for the browser WebSocket, for the client's own unit tests only (the relay is not under
// test there). It behaves like the real one where the client can tell: events are dispatched with
// addEventListener, send() throws while CONNECTING and is dropped once closing, and close() moves to
// CLOSING at once while its `close` event arrives later, on a microtask. The test plays the relay.
import { encodeMessage, type ServerMessage } from "../../../protocol/index.ts";

export class FakeSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  /** Every socket the client created, oldest first. */
  static instances: FakeSocket[] = [];

  readonly url: string;
  readyState = FakeSocket.CONNECTING;
  /** Frames the client sent, in order. */
  readonly sent: string[] = [];
  /** Bytes sent and not yet handed to the network, as a slow link leaves them (the test sets it). */
  bufferedAmount = 0;
  /** How the client closed this socket, if it did. */
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(url: string) {
    super();
    this.url = url;
    FakeSocket.instances.push(this);
  }

  static get latest(): FakeSocket {
    const socket = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!socket) throw new Error("the client has not created a socket");
    return socket;
  }

  send(data: string): void {
    if (this.readyState === FakeSocket.CONNECTING) throw new DOMException("still connecting", "InvalidStateError");
    if (this.readyState === FakeSocket.OPEN) this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    // As the WebSocket standard says: an app may close with 1000 or a code of 3000–4999, nothing else.
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) throw new DOMException(`close code ${code} is not allowed`, "InvalidAccessError");
    if (this.readyState >= FakeSocket.CLOSING) return;
    this.readyState = FakeSocket.CLOSING;
    this.closedByClient = { code, reason };
    queueMicrotask(() => this.#closed(code ?? 1005, reason ?? ""));
  }

  // The relay's side.

  serverOpen(): void {
    this.readyState = FakeSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  serverSend(message: ServerMessage | string): void {
    const data = typeof message === "string" ? message : encodeMessage(message);
    this.dispatchEvent(Object.assign(new Event("message"), { data }));
  }

  /** The relay (or the network) closes the connection. */
  serverClose(code = 1006, reason = ""): void {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.#closed(code, reason);
  }

  /** A failed connection: browsers fire `error`, then `close` with 1006. */
  serverFail(): void {
    this.dispatchEvent(new Event("error"));
    this.serverClose(1006);
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.dispatchEvent(Object.assign(new Event("close"), { code, reason, wasClean: code !== 1006 }));
  }
}
