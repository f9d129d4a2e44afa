// One WebSocket to one group, kept alive: handshake, keep-alive pings, and reconnect with backoff.
// It knows nothing of documents; the group above it decides what to send once the socket is ready.
import {
  CHUNK_TARGET_BYTES,
  CONNECT_TIMEOUT_MS,
  MAX_FRAME_BYTES,
  PRESENCE_PING_MS,
  MAX_LISTINGS_PER_FRAME,
  MAX_TRANSACTIONS_PER_FRAME,
  PROTOCOL_VERSION,
  canInflate,
  decodeServerFrame,
  transactionsIn,
  inflateFrame,
  inflateFrameNow,
  isCompressedFrame,
  packBatches,
  encodeForBatch,
  encodeMessage,
  helloMessage,
  sign,
  toBase64Url,
  utf8Length,
  type ClientMessage,
  type EncodedMessage,
  type ErrorMessage,
  type ServerMessage,
  type SessionId,
  type Welcome,
} from "../protocol/index.ts";
import { DEFAULT_BACKOFF, jitterDraw, type BackoffOptions } from "./backoff.ts";
import { missingSocketMethod } from "./client-options.ts";
import { badFrameDecision, closedFailure, initialReconnect, probeFailure, reconnectDelay, relayErrorDecision, siblingWelcomed, unopenedFailure, welcomed, wentLive } from "./core/reconnect.ts";
import { ConnectionError, RelayError, describeFailure, type ConnectionFailure } from "./errors.ts";
import { FramePace } from "./frame-pace.ts";
import type { Identity } from "./identity.ts";
import { checkRelayUrl, describe, tokenProblem } from "./local-checks.ts";
import { RelayClock } from "./relay-clock.ts";
import { StatusError, canTransition, type Status } from "./status.ts";
import { TokenSource, type GetToken } from "./token-source.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

// Exactly the frame the relay's runtime answers without waking the object.
const PING = encodeMessage({ type: "ping" });
/** WebSocket.OPEN, which an app's own WebSocket class (options.WebSocket) need not define as a static. */
const SOCKET_OPEN = 1;

/**
 * The close code of a socket the client gave up on because the relay broke the protocol (a bad frame).
 * WebSocket's 1002 is the runtime's alone: an app may close only with 1000 or 3000–4999, or close() throws.
 */
export const PROTOCOL_ERROR_CLOSE = 4002;

export type ConnectionOptions = {
  url: string;
  group: string;
  identity: Identity;
  session: SessionId;
  backoff?: Partial<BackoffOptions>;
  /** Send a ping after this long without traffic, in ms (and at least every PRESENCE_PING_MS whatever is heard). */
  pingIntervalMs?: number;
  /** Give up on a connection that answers nothing for this long after a ping, in ms. */
  pingTimeoutMs?: number;
  /** Give up on a socket that has not opened this long after it was made, in ms (CONNECT_TIMEOUT_MS by default). */
  connectTimeoutMs?: number;
  /** The WebSocket class to use: the runtime's by default; on Node 20, the `ws` package's (`import { WebSocket } from "ws"`). */
  WebSocket?: WebSocketClass;
  /**
   * The draw from 0 to 1 that jitters each reconnect delay (Math.random by default; a constant makes tests
   * exact, and 0 retries at once). A draw that is no number from 0 to 1, or a throw, is Math.random()'s instead.
   */
  random?: () => number;
  /**
   * A token from the app's backend for this group (a JWT the relay is configured to check); undefined for
   * none. Called before every handshake, and again when the relay says the token expired. One that throws
   * or rejects fails that attempt only (onError hears it); the next asks again. `signal` aborts when the
   * attempt gives up on it (GET_TOKEN_WAIT_MS) or the group closes; a call still unanswered then is not
   * made again: the next attempt waits for its answer, or takes it if it came meanwhile (token-source.ts).
   */
  getToken?: GetToken;
  /**
   * Offer the relay to send large frames compressed (answers to loads and resumes: a fraction of the bytes),
   * where the runtime can inflate them (DecompressionStream "deflate-raw": current browsers, Node 20 and later). Default true.
   */
  compression?: boolean;
  /**
   * Used to find out why a connection failed before it opened (connection refused, HTTP status and
   * body): one plain GET of the same URL. `false` turns the probe off. Defaults to the global fetch.
   */
  fetch?: typeof fetch | false;
};

/**
 * Messages of one tick that may share frames: at most MAX_LISTINGS_PER_FRAME `dir` and `open` messages and
 * MAX_TRANSACTIONS_PER_FRAME transactions, the relay's bounds per frame (a frame over one is refused whole,
 * and would be sent again at every reconnect).
 */
type Outgoing = { messages: EncodedMessage[]; listings: number; transactions: number };

/**
 * A WebSocket class: the runtime's, or one of its shape. Only the constructor is typed, so the `ws`
 * package's class fits too: its declarations differ from the DOM's in events the SDK does not use.
 */
export type WebSocketClass = new (url: string) => object;

/** Why a connection the app closed (close() without a reason) is closed. */
export const CLOSED_BY_APP = "closed by the app";
/** The reason status listeners hear while the app keeps a group offline (Group.disconnect). */
export const DISCONNECTED_BY_APP = "disconnected by the app";

/** How long the probe of a failed connection may take before the failure is reported without its detail. */
const PROBE_TIMEOUT_MS = 5_000;

export interface ConnectionHandler {
  /**
   * The hello is on its way: send what follows it (loads, opens) now, without waiting a round trip for the
   * welcome. The relay handles a socket's frames in order, so they are judged after the hello.
   */
  onHello(): void;
  /** The relay accepted the handshake, or (a later welcome on the same socket) tells that the agent's role changed. */
  onReady(welcome: Welcome): void;
  onMessage(message: Exclude<ServerMessage, { type: "challenge" | "welcome" | "pong" | "mark" }>): void;
  /** The socket went away; anything sent and not acknowledged may be lost. */
  onDown(): void;
  onStatus(status: Status, reason?: string): void;
  /**
   * A connection attempt failed, the relay closed the group for good, or (the first of a run of each) it
   * speaks another protocol version or sent a frame this client cannot take, and why (also the status's reason).
   */
  onFailure(error: ConnectionError | RelayError): void;
}

export class Connection {
  readonly options: ConnectionOptions;
  readonly #handler: ConnectionHandler;
  readonly #backoff: BackoffOptions;
  readonly #WebSocket: WebSocketClass;
  #status: Status = "idle";
  #socket: WebSocket | undefined;
  /** The socket's bytes not yet handed to the network when the last ping went out, or at its last check. */
  #unsentAtPing = 0;
  /** The hello went out on the current socket: frames may follow it. */
  #helloSent = false;
  /** Messages sent in the current tick: they leave together, in as few frames as fit, when it ends. */
  #outgoing: Outgoing[] | undefined;
  /** The pace of the current socket's frames (frame-pace.ts): the relay closes a socket that floods it. */
  #pace = new FramePace();
  /** Backoff and token-refresh bookkeeping (core/reconnect.ts decides with it). */
  readonly #reconnect = initialReconnect();
  readonly #url: string;
  /** The app's getToken, asked once per attempt at most, if it gave one. */
  readonly #tokens: TokenSource | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** The socket's deadline to open until it opens (connectTimeoutMs), then its keep-alive pings. */
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #awaitingPong = false;
  /** When the socket last showed life (opened, or a frame arrived): the ping waits for that much silence. */
  #lastHeard = 0;
  /** When the last ping went out on this socket (or it opened): the relay hears one at least every PRESENCE_PING_MS. */
  #lastPinged = 0;
  #removeNetworkListeners: (() => void) | undefined;
  /** The app keeps the connection down (disconnect) until it says otherwise (connect): nothing opens a socket. */
  #disconnected = false;
  /** start() was called: the group's first attempt is due (or made). */
  #started = false;
  /** Why the connection closed for good, if it did. */
  closeReason: string | undefined;
  /**
   * Frames of the current socket waiting for a compressed frame before them to be inflated, and the end of
   * that line: while any wait, every frame joins it, so messages keep the relay's order.
   */
  #inflating: { socket: WebSocket; waiting: number; done: Promise<void> } | undefined;
  /** Bytes received as they travelled (a compressed frame's compressed size), for measuring what a sync costs. */
  bytesReceived = 0;
  /** Frames received, for the same reason. */
  framesReceived = 0;
  /** The relay's clock, as the last challenge (of any of the client's groups) told it. */
  readonly #clock: RelayClock;

  constructor(options: ConnectionOptions, handler: ConnectionHandler, clock = new RelayClock()) {
    this.options = options;
    this.#handler = handler;
    this.#clock = clock;
    const url = checkRelayUrl(options.url);
    url.protocol = url.protocol.replace(/^http/, "ws");
    // The group's path goes after the relay's own path; a query the app gave stays a query.
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/groups/${encodeURIComponent(options.group)}/ws`;
    this.#url = url.href;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    const Socket = options.WebSocket ?? globalThis.WebSocket;
    if (!Socket) throw new ArgumentError("no WebSocket in this runtime (Node 20): pass one as createClient's WebSocket option, the ws package's (import { WebSocket } from \"ws\"); Node 22+ and browsers have it");
    this.#WebSocket = Socket;
    this.#tokens = options.getToken ? new TokenSource(options.getToken, options.group) : undefined;
    this.#watchNetwork();
  }

  get status(): Status {
    return this.#status;
  }

  /**
   * Why the relay refuses this SDK (`unsupported_version: ...`, naming the relay's protocol version) while
   * it does: the connection is offline, trying again every UNSUPPORTED_VERSION_RETRY_MS, until a welcome.
   */
  get versionRefusal(): string | undefined {
    return this.#reconnect.versionRefusal;
  }

  /**
   * The time by the relay's clock, as last heard (this device's until then): transactions are stamped by it,
   * so a device whose clock is off does not write times the relay refuses (MAX_CLOCK_AHEAD_MS) or that sort
   * its writes ahead of, or behind, everyone else's.
   */
  relayNow(): number {
    return this.#clock.now();
  }

  /** The relay refused a time relayNow() gave as too far ahead: the device's clock was set forward (relay-clock.ts). */
  timeRefused(): void {
    this.#clock.distrustWall();
  }

  start(): void {
    this.#started = true;
    if (this.#status === "idle") this.#open();
  }

  /**
   * Keeps the connection down until connect(): the socket closes (status offline, or idle before the first
   * attempt) and no attempt is made, neither after the backoff nor at reconnectNow(), a sibling's welcome
   * or the browser's `online`.
   */
  disconnect(): void {
    if (this.#status === "closed" || this.#disconnected) return;
    this.#disconnected = true;
    clearTimeout(this.#reconnectTimer);
    this.drop(DISCONNECTED_BY_APP);
  }

  /** Ends disconnect(): connects at once (after start, where the group has not started yet). */
  connect(): void {
    if (!this.#disconnected) return;
    this.#disconnected = false;
    if (this.#status === "offline" || (this.#status === "idle" && this.#started)) this.#open();
  }

  /** Whether `send` would send: the hello is out and the socket is still up. */
  get canSend(): boolean {
    return this.#helloSent && this.#socket !== undefined && (this.#status === "authenticating" || this.#status === "syncing" || this.#status === "live");
  }

  /** Sends a message if the hello is out; returns false otherwise (the group sends it again on the next hello). */
  send(message: ClientMessage): boolean {
    if (!this.canSend) return false;
    this.#enqueue(encodeForBatch(message), message.type === "dir" || message.type === "open", transactionsIn(message));
    return true;
  }

  /**
   * Queues a message for this tick's frames; a listing (`dir`, `open`) or transactions past the relay's
   * bounds per frame start another run.
   */
  #enqueue(frame: EncodedMessage, listing = false, transactions = 0): void {
    if (!this.#outgoing) {
      const runs: Outgoing[] = (this.#outgoing = [{ messages: [], listings: 0, transactions: 0 }]);
      const socket = this.#socket;
      // Sent already (the hello flushes at once), or given up with its socket: the flush is not this one's.
      const flush = () => this.#outgoing === runs && this.#flushOutgoing(socket);
      const waitMs = this.#pace.waitMs(performance.now());
      if (waitMs > 0) setTimeout(flush, waitMs);
      else queueMicrotask(flush);
    }
    let run = this.#outgoing[this.#outgoing.length - 1]!;
    const full = (listing && run.listings === MAX_LISTINGS_PER_FRAME) || (run.transactions > 0 && run.transactions + transactions > MAX_TRANSACTIONS_PER_FRAME);
    if (full) this.#outgoing.push((run = { messages: [], listings: 0, transactions: 0 }));
    run.messages.push(frame);
    if (listing) run.listings++;
    run.transactions += transactions;
  }

  /** Sends what this tick queued, if the socket it was queued for is still the current one. */
  #flushOutgoing(socket: WebSocket | undefined): void {
    const runs = this.#outgoing;
    this.#outgoing = undefined;
    if (!runs || !socket || socket !== this.#socket) return;
    if (this.#dropIfClosing(socket)) return;
    let frames = 0;
    for (const run of runs) {
      for (const frame of packBatches(run.messages, CHUNK_TARGET_BYTES)) {
        socket.send(frame);
        frames++;
      }
    }
    this.#pace.sent(frames, performance.now());
  }

  /**
   * A socket that is no longer open (its close frame read, its close event not yet come: `ws` waits 30 s for
   * the TCP connection to end, which after a relay's close to a device that slept may not) drops what is
   * sent into it without a word. Taken for down at once: the client connects again, and what it was to
   * send goes on the next socket.
   */
  #dropIfClosing(socket: WebSocket): boolean {
    if (socket.readyState === SOCKET_OPEN) return false;
    this.drop("the socket is closing");
    return true;
  }

  /** Every load is answered: the group is in sync with the relay. */
  markLive(): void {
    if (this.#status !== "syncing") return;
    wentLive(this.#reconnect, Date.now());
    this.#setStatus("live");
  }

  /** Back to syncing (new documents opened while live). */
  markSyncing(): void {
    if (this.#status === "live") this.#setStatus("syncing");
  }

  close(reason = CLOSED_BY_APP): void {
    if (this.#status === "closed") return;
    this.closeReason = reason;
    this.#tokens?.close();
    this.#clearTimers();
    this.#removeNetworkListeners?.();
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000, "bye");
    this.#setStatus("closed", reason);
  }

  /** Drops the socket as if the network failed (tests, the browser's `offline` event, a refused frame). */
  drop(reason?: string): void {
    if (this.#status === "idle" || this.#status === "closed" || this.#status === "offline") return;
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(4000, "dropped");
    this.#down(reason);
  }

  /**
   * Connects again now instead of waiting out the backoff (after a relay restart, say). An attempt under
   * way is left to finish or to fail (CONNECT_TIMEOUT_MS bounds one stuck opening): giving it up here had a
   * status listener that calls this at every status but live restart it for ever, within one task.
   */
  reconnectNow(): void {
    if (this.#status !== "offline") return;
    clearTimeout(this.#reconnectTimer);
    this.#open();
  }

  /**
   * Another group of this client was welcomed by the relay: if waiting to reconnect, try now, backoff reset
   * (core/reconnect.ts). A socket still opening gets its deadline again: the relay answers, and browsers
   * open one socket to a host at a time, so a page opening hundreds of groups has sockets waiting their turn.
   */
  siblingWelcomed(): void {
    if (this.#status === "connecting" && this.#socket) return this.#armOpenDeadline();
    if (this.#status !== "offline" || !siblingWelcomed(this.#reconnect)) return;
    clearTimeout(this.#reconnectTimer);
    this.#open();
  }

  #open(): void {
    if (this.#disconnected) return;
    this.#setStatus("connecting");
    let socket: WebSocket;
    try {
      socket = new this.#WebSocket(this.#url) as WebSocket;
      // What the app's class made may be no socket (its constructor returned another object): a failed
      // attempt, told like the others, rather than a throw from the listeners below or a later timer.
      const missing = missingSocketMethod(socket);
      if (missing) throw new TypeError(`the WebSocket option made an object without ${missing}`);
    } catch (error) {
      // Some runtimes throw at once (a URL they refuse, too many sockets): a failed attempt like any other.
      const failure: ConnectionFailure = { kind: "unreachable", detail: (error as Error).message };
      this.#handler.onFailure(new ConnectionError(failure));
      return this.#down(describeFailure(failure));
    }
    // Binary frames (data of bytes) arrive as ArrayBuffers; browsers would hand over Blobs by default.
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    this.#helloSent = false;
    // The relay counts each socket's frames afresh; what the last one queued is not sent on this one.
    this.#outgoing = undefined;
    this.#pace = new FramePace();
    let opened = false;
    let failed = false;
    const fail = (code: number, reason: string) => {
      if (this.#socket !== socket || failed) return;
      failed = true;
      clearTimeout(this.#pingTimer); // the probe says why, within its own bound
      const fetchUrl = this.options.fetch === undefined ? globalThis.fetch : this.options.fetch;
      if (opened || !fetchUrl) {
        const failure = opened ? closedFailure(code, reason) : unopenedFailure(reason);
        this.#handler.onFailure(new ConnectionError(failure));
        return this.#down(describeFailure(failure));
      }
      // Closed before it opened: the socket says nothing useful (1006, no reason), so ask the URL why.
      void this.#probe(fetchUrl).then((failure) => {
        if (this.#socket !== socket) return; // closed or dropped meanwhile
        this.#handler.onFailure(new ConnectionError(failure));
        this.#down(describeFailure(failure));
      });
    };
    socket.addEventListener("open", () => {
      if (this.#socket === socket) {
        opened = true;
        this.#setStatus("authenticating");
        this.#lastHeard = this.#lastPinged = Date.now();
        this.#schedulePing();
      }
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) this.#receive(socket, event.data);
    });
    socket.addEventListener("close", (event) => fail(event.code, event.reason));
    socket.addEventListener("error", () => fail(1006, ""));
    this.#armOpenDeadline();
  }

  /**
   * Nothing bounds the opening otherwise: a proxy that takes the connection and never answers would keep
   * the group connecting for good. Opened, the socket's pings take over this timer.
   */
  #armOpenDeadline(): void {
    const timeout = this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    clearTimeout(this.#pingTimer);
    this.#pingTimer = setTimeout(() => this.#unanswered(`the WebSocket did not open within ${timeout} ms`), timeout);
  }

  /** The relay (or what stands before it) answered nothing in time: a failed attempt, told like the others. */
  #unanswered(detail: string): void {
    const failure: ConnectionFailure = { kind: "unreachable", detail };
    this.#handler.onFailure(new ConnectionError(failure));
    this.drop(describeFailure(failure));
  }

  /** Why a connection failed before it opened: one GET of the same URL, bounded in time. */
  async #probe(fetchUrl: typeof fetch): Promise<ConnectionFailure> {
    const url = this.#url.replace(/^ws/, "http");
    const host = new URL(url).host;
    try {
      const response = await fetchUrl(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      // The app's own fetch (createClient's option) may answer anything.
      if (typeof response?.status !== "number" || typeof response.text !== "function") return { kind: "unreachable", detail: `createClient's fetch gave ${describe(response)}, not a Response` };
      return probeFailure({ status: response.status, body: await response.text() }, host);
    } catch (error) {
      return probeFailure({ error: error as Error & { cause?: { code?: string; message?: string } } }, host);
    }
  }

  #receive(socket: WebSocket, data: unknown): void {
    const frame = typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data : "";
    this.bytesReceived += typeof frame === "string" ? utf8Length(frame) : frame.byteLength;
    this.framesReceived++;
    // A frame is a sign of life: the ping timer sees it when it fires, rather than being re-armed per frame.
    this.#lastHeard = Date.now();
    if (this.#awaitingPong) {
      this.#awaitingPong = false;
      this.#schedulePing();
    }
    const bytes = typeof frame === "string" ? undefined : frame instanceof ArrayBuffer ? new Uint8Array(frame) : new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
    const compressed = bytes !== undefined && isCompressedFrame(bytes);
    const line = this.#inflating?.socket === socket ? this.#inflating : undefined;
    // Nothing inflating ahead of a plain frame: it is handled now, as it always was.
    if (!compressed && !line) return this.#decode(socket, frame);
    // Nothing ahead of a compressed frame either, and a runtime that inflates at once (Node): the same.
    const now = compressed && !line ? inflateFrameNow(bytes, MAX_FRAME_BYTES) : undefined;
    if (now) return "error" in now ? this.#fail(now.error) : this.#decode(socket, now.frame);
    const inflated = compressed ? inflateFrame(bytes, MAX_FRAME_BYTES) : undefined;
    const queue = line ?? (this.#inflating = { socket, waiting: 0, done: Promise.resolve() });
    queue.waiting++;
    queue.done = queue.done.then(async () => {
      const result = inflated ? await inflated : { frame };
      if (--queue.waiting === 0 && this.#inflating === queue) this.#inflating = undefined;
      // A socket closed or replaced meanwhile: what it carried is stale.
      if (this.#socket !== socket) return;
      if ("error" in result) return this.#fail(result.error);
      this.#decode(socket, result.frame);
    });
    // A listener that throws must not stop the frames behind it: its error surfaces as it would have
    // from the socket's own event.
    queue.done = queue.done.catch((error: unknown) => queueMicrotask(() => {
      throw error;
    }));
  }

  #decode(socket: WebSocket, frame: string | ArrayBuffer | ArrayBufferView): void {
    const decoded = decodeServerFrame(frame);
    if (!decoded.ok) return this.#fail(decoded.reason);
    for (const message of decoded.message) {
      if (this.#socket !== socket) return; // a message of the batch closed or dropped the connection
      this.#handle(message);
    }
  }

  #handle(message: ServerMessage): void {
    switch (message.type) {
      case "challenge":
        if (message.now !== undefined) this.#clock.heard(message.now);
        // A relay older than this SDK (rolled back) may not read its frames at all (v1 read no batch): met
        // as the refusal of this version it would be, before anything is sent. A newer one says for itself.
        if (message.v < PROTOCOL_VERSION) {
          return this.#onError({ type: "error", code: "unsupported_version", message: `this relay speaks protocol v${message.v}, not v${PROTOCOL_VERSION}` });
        }
        return void this.#hello(message.nonce);
      case "welcome":
        // The first welcome ends the handshake; a later one tells a role changed while connected.
        if (this.#status === "authenticating") {
          welcomed(this.#reconnect, Date.now());
          this.#setStatus("syncing");
        }
        return this.#handler.onReady(message);
      case "pong":
        return;
      case "mark":
        // Read: the relay may send more of its long answers (ANSWER_WINDOW_BYTES). Echoed with this tick's
        // frames, so a frame's own answers (loads it asks for) go no later than they would have.
        return void this.send({ type: "marked", id: message.id });
      case "error":
        return this.#onError(message);
      default:
        return this.#handler.onMessage(message);
    }
  }

  async #hello(nonce: string): Promise<void> {
    const socket = this.#socket;
    const { group, session, identity } = this.options;
    let token: string | undefined;
    try {
      token = this.#tokens ? await this.#tokens.next() : undefined;
    } catch (error) {
      // Its backend out of reach for a moment must not end the group: this attempt fails, the next asks again.
      if (this.#socket !== socket) return;
      const failure = new ConnectionError({ kind: "token", detail: error instanceof Error ? error.message : String(error) });
      this.#handler.onFailure(failure);
      return this.drop(failure.message);
    }
    // Dropped while the app fetched a token: the next attempt takes it.
    if (this.#socket !== socket) return this.#tokens?.putBack(token);
    // What the relay would refuse (and the client then ask for again, forever) closes the group instead.
    const refused = tokenProblem(token);
    if (refused) {
      this.#handler.onFailure(new ConnectionError({ kind: "token", detail: refused }));
      return this.close(`getToken: ${refused}`);
    }
    const signature = toBase64Url(sign(helloMessage(group, session, nonce), identity.secretKey));
    if (!socket || this.#status !== "authenticating") return;
    // The hello and what the group sends behind it (a resume's loads) leave at once, as one batch: one
    // event at the relay.
    this.#helloSent = true;
    const inflate = this.options.compression !== false && canInflate() ? { inflate: ["deflate-raw"] } : {};
    // `pings`: this client keeps the promise #schedulePing makes, so the relay may take its silence for death.
    this.#enqueue(encodeMessage({ type: "hello", v: PROTOCOL_VERSION, agent: identity.agent, session, group, signature, ...(token ? { token } : {}), ...inflate, pings: true }));
    try {
      this.#handler.onHello();
    } finally {
      this.#flushOutgoing(socket);
    }
  }

  #onError(error: ErrorMessage): void {
    const decision = relayErrorDecision(this.#reconnect, error, { status: this.#status, canRefresh: this.options.getToken !== undefined });
    switch (decision.type) {
      case "close":
        // Closed for good: the app hears why through onError too, not only through the status.
        this.#handler.onFailure(new RelayError(error));
        return this.close(decision.reason);
      case "wait":
        // Offline, not closed: writes are kept, and go once a relay of this version answers.
        if (decision.report) this.#handler.onFailure(new RelayError(error));
        return this.drop(decision.reason);
      case "refresh":
        // Routine: a fresh token and the next socket mend it, so the app is not told (it is if that fails).
        // Drop now rather than wait for the relay's close: this socket is no longer fanned out to.
        if (error.code === "unauthorized") this.#tokens?.refusedWith(`${error.code}: ${error.message}`);
        return this.drop(decision.reason);
      case "pass":
        this.#handler.onMessage(error);
        // Down now (the next attempt waits for the relay's retryAfter): the group told the app.
        if (decision.drop) this.drop(`${error.code}: ${error.message}`);
        return;
    }
  }

  /**
   * The relay sent a frame this client cannot take (`detail` says how): the socket is given up and the
   * next tried after the backoff. The app hears it through onError, once a run (core/reconnect.ts).
   */
  #fail(detail: string): void {
    const failure: ConnectionFailure = { kind: "bad_frame", detail };
    this.#socket?.close(PROTOCOL_ERROR_CLOSE, "protocol error");
    if (badFrameDecision(this.#reconnect, { now: Date.now(), minUptimeMs: this.#backoff.minUptimeMs }).report) this.#handler.onFailure(new ConnectionError(failure));
    this.#down(describeFailure(failure));
  }

  /** The socket is gone; `reason` (the relay's close reason, or what went wrong) reaches status listeners. */
  #down(reason?: string): void {
    if (this.#status === "closed" || this.#status === "offline") return;
    const from = this.#status;
    this.#socket = undefined;
    this.#tokens?.giveUp();
    this.#clearTimers();
    this.#setStatus("offline", reason || undefined);
    this.#handler.onDown();
    if ((this.#status as Status) !== "offline" || this.#disconnected) return; // a listener closed the client meanwhile, or the app keeps it down
    // A browser that knows it is offline waits for its `online` event instead of dialling into nothing.
    if ((globalThis as { navigator?: Navigator }).navigator?.onLine === false && this.#removeNetworkListeners) return;
    const delay = reconnectDelay(this.#reconnect, { from, now: Date.now(), random: jitterDraw(this.options.random), backoff: this.#backoff });
    this.#reconnectTimer = setTimeout(() => this.#open(), delay);
  }

  /**
   * Pings after pingIntervalMs of silence (is the relay still there?), and at least every PRESENCE_PING_MS
   * however busy the socket is (the relay's sign that this client is still there: without one for
   * PRESENCE_SILENT_MS it closes the socket, and the others stop seeing this client's presence). The runtime
   * answers these pings without waking the relay's object, so they cost it nothing.
   */
  #schedulePing(delay?: number): void {
    clearTimeout(this.#pingTimer);
    const interval = this.#awaitingPong ? (this.options.pingTimeoutMs ?? 10_000) : (this.options.pingIntervalMs ?? 20_000);
    this.#pingTimer = setTimeout(() => {
      if (this.#awaitingPong) {
        // A slow link still sending what went before the ping (a large write): the ping has not left yet,
        // and the link moves. Only a link that stopped moving, or a ping that left unanswered, is dead.
        const unsent = this.#socket?.bufferedAmount ?? 0;
        if (unsent > 0 && unsent < this.#unsentAtPing) {
          this.#unsentAtPing = unsent;
          return this.#schedulePing();
        }
        return this.#unanswered(`no answer to a ping within ${interval} ms`); // the connection is dead
      }
      const now = Date.now();
      const due = Math.min(this.#lastHeard + interval, this.#lastPinged + PRESENCE_PING_MS);
      if (now < due) return this.#schedulePing(due - now); // heard from, and pinged, lately: wait out the rest
      if (this.#socket && this.#dropIfClosing(this.#socket)) return;
      this.#awaitingPong = true;
      this.#lastPinged = now;
      this.#socket?.send(PING);
      this.#unsentAtPing = this.#socket?.bufferedAmount ?? 0;
      this.#schedulePing();
    }, delay ?? (this.#awaitingPong ? interval : Math.min(interval, PRESENCE_PING_MS)));
  }

  #clearTimers(): void {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#pingTimer);
    this.#awaitingPong = false;
  }

  /** In browsers, follow the OS: drop at once when offline, retry at once when back online. */
  #watchNetwork(): void {
    const target = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener; navigator?: Navigator };
    if (typeof target.addEventListener !== "function" || typeof target.navigator?.onLine !== "boolean") return;
    const offline = () => this.drop();
    const online = () => {
      if (this.#status !== "offline") return;
      clearTimeout(this.#reconnectTimer);
      this.#open();
    };
    target.addEventListener("offline", offline);
    target.addEventListener("online", online);
    this.#removeNetworkListeners = () => {
      target.removeEventListener?.("offline", offline);
      target.removeEventListener?.("online", online);
    };
  }

  #setStatus(status: Status, reason?: string): void {
    if (status === this.#status) return;
    if (!canTransition(this.#status, status)) throw new StatusError(this.#status, status);
    this.#status = status;
    this.#handler.onStatus(status, reason);
  }
}
