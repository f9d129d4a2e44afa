// The Durable Object for one group: a thin shell that turns WebSocket events into relay-core events and
// carries out the effects on SQLite and sockets. It keeps no timers, so it hibernates whenever it is idle;
// all it must remember of a peer lives in the socket's attachment (its record, its presence and where its
// answers last paused) and the subscriptions table. An object left with no socket and nothing of a group stored deletes its storage.
import { DurableObject } from "cloudflare:workers";
import { COMPRESSION_LEVEL, encodeMessage, randomBase64Url } from "../protocol/index.ts";
import type { PeerRecord, SavedPresence } from "./core/peer-records.ts";
import { initialState } from "./core/relay-core.ts";
import { Relay, type Transport } from "./core/relay.ts";
import type { PeerId } from "./core/store.ts";
import { SqlMeter } from "./sql-meter.ts";
import { SqliteStore } from "./sqlite-store.ts";
import { AlarmScheduler } from "./alarm-scheduler.ts";
import { DEFAULT_SNAPSHOT_RETENTION_SECONDS, configFromEnv, logOnce, reportProblems, withKeysChecked, type ConfigEnv, type RelayConfig } from "./config.ts";
import { tokenVerifier } from "./tokens.ts";

/** Header the Worker uses to tell the object which group it is (an object cannot read its own name). */
export const GROUP_HEADER = "x-weft-group";

/** Path suffix of the bench's request for the object's SQL counts (answered only with WEFT_SQL_STATS=true). */
export const SQL_STATS_PATH = "/sql-stats";

/**
 * Path suffix of the health check's question to an object (routes.ts): 204 when the object can keep a
 * group, else the 500 `misconfigured` every socket gets. It opens nothing and writes nothing.
 */
export const STORAGE_CHECK_PATH = "/storage-check";

/** Keep-alive answered by the runtime itself, without waking a hibernated object. */
export const PING_FRAME = encodeMessage({ type: "ping" });
export const PONG_FRAME = encodeMessage({ type: "pong" });

/** The meta key of the group's name, written by the first visit (an object cannot read its own name). */
const GROUP_KEY = "group";

/**
 * What a socket's attachment keeps beside the peer's record, never written to SQLite: its presence, and the
 * mark where its answers last paused (for the instance woken after an eviction: answer-window.ts).
 */
type Beside = { presence?: SavedPresence; pausedAt?: string };
/** A socket's attachment: the peer's record and what is kept beside it. At most 2,048 bytes. */
type Attachment = PeerRecord & Beside;

// Close codes the runtime reports for closes that carried no Close frame; there is nothing to echo. (1005 is
// a Close frame without a code: it is answered with one without a code, or the client waits out its timeout.)
const UNECHOED_CLOSE_CODES = new Set([1006, 1015]);
const NO_STATUS = 1005;

// Typed by the bindings it reads (the WEFT_* settings), not the Worker's whole Env, so an app's Worker that
// binds it under another name, or configures it in code (weft/worker), fits it too.
/**
 * Frames go uncompressed. Browsers and Node offer permessage-deflate, and the runtime would agree to it on
 * its own, compressing every frame once per subscriber (a fan-out's frame is otherwise encoded once for all)
 * and making each client inflate every frame: in the yjs_typing bench that inflate was the largest cost of
 * the clients (README, "Typing, measured"). A 101 response that names its agreed extensions overrides the
 * runtime's choice; naming none that the client offered agrees to none, and the header is not sent.
 */
const NO_COMPRESSION = { "Sec-WebSocket-Extensions": "none" };

/**
 * What the relay compresses large frames with, for clients that can inflate them: node:zlib's
 * deflateRawSync, where the runtime has it (workerd with the nodejs_compat flag, as wrangler.toml sets).
 * Synchronous, so a compressed frame takes its place on the socket like any other. An app's Worker without
 * the flag sends every frame as it is; its clients read both.
 */
const zlib = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.("node:zlib") as
  | { deflateRawSync(bytes: Uint8Array, options: { level: number }): Uint8Array }
  | undefined;
const deflateRaw = zlib ? (bytes: Uint8Array) => zlib.deflateRawSync(bytes, { level: COMPRESSION_LEVEL }) : undefined;

export class GroupObject extends DurableObject<ConfigEnv & { WEFT_SQL_STATS?: string }> {
  /** Opened by the first event that needs it (#openStore); dropped with the storage (#deleteStorageIfBare). */
  #store: SqliteStore | undefined;
  /** Set when WEFT_SQL_STATS is "true": counts statements and rows for the bench. */
  readonly #meter: SqlMeter | undefined;
  /** Tells one in-memory instance from the next (the meter's counts start again in each). */
  readonly #instance = crypto.randomUUID();
  readonly #sockets = new Map<PeerId, WebSocket>();
  /** Each socket's peer, read from its attachment once per instance rather than at every frame. */
  readonly #peerIds = new WeakMap<WebSocket, PeerId>();
  #relay: Relay | undefined;
  /**
   * Why the object cannot keep a group (storageProblem), once asked: its class's binding does not change while
   * it runs, and the question costs a call into SQLite, at every socket's upgrade otherwise.
   */
  #storageProblem: { problem: string | undefined } | undefined;
  #alarm: AlarmScheduler;
  readonly #config: RelayConfig;

  constructor(ctx: DurableObjectState, env: ConfigEnv & { WEFT_SQL_STATS?: string }) {
    super(ctx, env);
    this.#config = withKeysChecked(this.relayConfig());
    reportProblems(this.#config);
    this.#meter = env.WEFT_SQL_STATS === "true" ? new SqlMeter(ctx.storage.sql) : undefined;
    this.#alarm = new AlarmScheduler(ctx.storage);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /** Where the relay's keys and policies come from: the Worker's bindings, unless a subclass says otherwise. */
  protected relayConfig(): RelayConfig {
    return configFromEnv(this.env);
  }

  override async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path.endsWith(SQL_STATS_PATH)) {
      if (!this.#meter) return new Response("not found", { status: 404 });
      return Response.json({ instance: this.#instance, ...this.#meter.settle() });
    }
    const { problem } = (this.#storageProblem ??= { problem: storageProblem(this.ctx.storage) });
    if (problem) {
      logOnce(`weft: ${problem}`);
      return Response.json({ error: "misconfigured", message: problem }, { status: 500 });
    }
    if (path.endsWith(STORAGE_CHECK_PATH)) return new Response(null, { status: 204 });
    const group = request.headers.get(GROUP_HEADER);
    if (!group) return new Response("missing group", { status: 400 });
    const store = this.#openStore();
    if (store.meta(GROUP_KEY) === undefined) store.setMeta(GROUP_KEY, group);

    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    const peer = crypto.randomUUID();
    this.ctx.acceptWebSocket(server, [peer]);
    const relay = this.#wake();
    this.#sockets.set(peer, server);
    await relay.dispatch({ type: "opened", peer, nonce: randomBase64Url(24), now: Date.now() });
    return new Response(null, { status: 101, webSocket: client, headers: NO_COMPRESSION });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const peer = this.#peerOf(ws);
    if (!peer) return ws.close(1011, "unknown peer");
    try {
      await this.#wake().dispatch({ type: "frame", peer, frame: message, now: Date.now() });
      this.#meter?.settle();
    } catch (error) {
      // A throw here would only be logged by the runtime and the sender would hear nothing.
      console.error("weft: frame failed", error);
      try {
        ws.send(encodeMessage({ type: "error", code: "internal", message: "the relay failed to handle this frame; nothing of it was stored" }));
        ws.close(1011, "internal");
      } catch {
        // the socket is already gone
      }
      await this.#wake().dispatch({ type: "closed", peer });
    }
    await this.#deleteStorageIfBare();
  }

  /**
   * Set by `wakeAt`: closes sockets whose handshake is overdue or whose peer went silent with presence
   * shown (silent-peers.ts), and sends the next slices of long answers (a timer would keep the object
   * awake). It does not throw: the platform would retry it, with backoff, while a failed slice is better
   * reported once; whatever is still due has asked for the next alarm.
   */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    try {
      await this.#wake().dispatch({ type: "alarm", now: Date.now() });
    } catch (error) {
      console.error("weft: alarm failed", error);
    }
    await this.#alarm.settled();
    await this.#deleteStorageIfBare();
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // The hibernation API does not answer a Close frame by itself.
    if (!UNECHOED_CLOSE_CODES.has(code)) {
      try {
        if (code === NO_STATUS) ws.close();
        else ws.close(code, reason);
      } catch {
        // A code that may not be sent back (1004, 999, 5000): the close is answered as the protocol error it is.
        try {
          ws.close(1002, "invalid close code");
        } catch {
          // already closed
        }
      }
    }
    await this.#dropped(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#dropped(ws);
  }

  async #dropped(ws: WebSocket): Promise<void> {
    const peer = this.#peerOf(ws);
    // A socket the relay closed lost its attachment then (the transport's close), and the relay forgot its
    // peer: the far end's answer has nothing left to drop (the storage may be gone since, too).
    if (!peer || ws.deserializeAttachment() === null) return;
    // Woken by this close, the object no longer lists the socket: its attachment still says what it showed.
    const relay = this.#wake(ws);
    this.#sockets.delete(peer);
    await relay.dispatch({ type: "closed", peer });
    await this.#deleteStorageIfBare();
  }

  #openStore(): SqliteStore {
    return (this.#store ??= new SqliteStore(this.#meter?.sql ?? this.ctx.storage.sql, (fn) => this.ctx.storage.transactionSync(fn)));
  }

  /**
   * Deletes the object's storage, its alarm included, once no socket is left and nothing of a group is
   * stored: only what opening the store and a visit wrote (the tables, the group's name, a handshake's
   * alarm). The token travels in the hello, inside the socket, so anyone can open one to any group name; each
   * visit that never said hello, was refused, or only waited for documents no one wrote would otherwise
   * leave a database behind for good. Run after every event handled so far (a write still queued counts),
   * and the instance stays in use: its next event opens a new store and relay.
   */
  async #deleteStorageIfBare(): Promise<void> {
    const relay = this.#relay;
    if (!relay || this.#sockets.size > 0) return;
    await relay.afterQueued(async () => {
      // An alarm still being set would outlive the deletion.
      await this.#alarm.settled();
      try {
        if (this.#relay !== relay || this.#sockets.size > 0 || this.#store?.holdsGroupData([GROUP_KEY]) !== false) return;
        this.#store = undefined;
        this.#relay = undefined;
        this.#alarm = new AlarmScheduler(this.ctx.storage); // the alarm it remembers is gone
        // deleteAll deletes the alarm too only from compatibility date 2026-02-24: an app's Worker may be older.
        await this.ctx.storage.deleteAlarm();
        await this.ctx.storage.deleteAll();
      } catch (error) {
        // Kept, the storage is only what it was; the next event opens a store on whatever is left.
        console.error("weft: storage not deleted", error);
      }
    });
  }

  #peerOf(ws: WebSocket): PeerId | undefined {
    let peer = this.#peerIds.get(ws);
    if (peer === undefined) {
      peer = (ws.deserializeAttachment() as Attachment | null)?.id;
      if (peer !== undefined) this.#peerIds.set(ws, peer);
    }
    return peer;
  }

  /** Rewrites a socket's attachment: the record, the presence and the pause mark are saved apart, each keeping the others. */
  #attach(peer: PeerId, next: (current: Attachment | null) => Attachment | null): void {
    const ws = this.#sockets.get(peer);
    if (!ws) return;
    const attachment = next(ws.deserializeAttachment() as Attachment | null);
    if (attachment) ws.serializeAttachment(attachment);
  }

  /** The relay of this instance, rebuilt from attachments after the object was evicted from memory. */
  #wake(closing?: WebSocket): Relay {
    if (this.#relay) return this.#relay;
    const peers: PeerRecord[] = [];
    const presence = new Map<PeerId, SavedPresence>();
    const lostPauses = new Map<PeerId, string>();
    const sockets = new Set(this.ctx.getWebSockets());
    if (closing) sockets.add(closing);
    for (const ws of sockets) {
      const attachment = ws.deserializeAttachment() as Attachment | null;
      if (!attachment) continue;
      const { presence: saved, pausedAt, ...record } = attachment;
      peers.push(record);
      if (saved) presence.set(record.id, saved);
      if (pausedAt) lostPauses.set(record.id, pausedAt);
      this.#sockets.set(record.id, ws);
    }
    // After a restart (not a hibernation) the old sockets are gone without a close. With none left, every
    // subscription is a dead peer's and goes at once (a document never written again would keep them);
    // with some left, a dead peer's are forgotten when a write next finds them (relay-core's applyWrite).
    const store = this.#openStore();
    if (peers.length === 0) store.forgetAllPeers();
    const group = store.meta(GROUP_KEY) ?? "";
    this.#relay = new Relay(initialState(group, peers, this.#config.access, presence), store, this.#transport, tokenVerifier(this.#config), {
      snapshotRetentionSeconds: this.#config.snapshotRetentionSeconds ?? DEFAULT_SNAPSHOT_RETENTION_SECONDS,
      lostPauses,
    });
    return this.#relay;
  }

  readonly #transport: Transport = {
    ...(deflateRaw ? { deflateRaw } : {}),
    send: (peer, frame) => {
      const ws = this.#sockets.get(peer);
      if (!ws) throw new Error(`no socket for peer ${peer}`);
      ws.send(frame);
    },
    close: (peer, code, reason) => {
      const ws = this.#sockets.get(peer);
      this.#sockets.delete(peer);
      try {
        // The runtime lists the socket until its far end answers the close, which one asleep or stopped
        // never does: without its attachment, an instance woken meanwhile does not take it for a peer.
        ws?.serializeAttachment(null);
        ws?.close(code, reason);
      } catch {
        // already closed
      }
    },
    savePeer: (peer, record) => this.#attach(peer, (current) => ({ ...(record as PeerRecord), ...besideOf(current) })),
    savePresence: (peer, presence) => this.#attach(peer, (current) => (current ? { ...current, presence } : null)),
    // One attachment write where a slow reader's answers pause (about once per half a window sent it): no storage.
    savePause: (peer, mark) => this.#attach(peer, (current) => (current ? { ...current, pausedAt: mark } : null)),
    pingedAt: (peer) => {
      const ws = this.#sockets.get(peer);
      return ws ? this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() : undefined;
    },
    wakeAt: (at) => this.#alarm.wakeAt(at),
    // A turn of the event loop: the runtime writes the frames it was handed to their sockets, before a
    // storage write would hold them until durable (a load's last frame waited 0.5 ms for its subscription
    // row here, and a round of replication in production). It ends within the event: nothing stays
    // scheduled that would keep the object from hibernating.
    flushOutput: () => new Promise((resolve) => setTimeout(resolve, 0)),
  };
}

/**
 * Why this object cannot keep a group, if it cannot: its class was bound without SQLite storage (under
 * `new_classes` where `new_sqlite_classes` was meant). Read without running a statement.
 */
function storageProblem(storage: DurableObjectStorage): string | undefined {
  try {
    void storage.sql.databaseSize;
    return undefined;
  } catch {
    return "the relay's Durable Object class has no SQLite storage: bind it under new_sqlite_classes, not new_classes, in the migrations of the Worker's wrangler config (a class already deployed without it cannot gain it: migrate to a class of another name)";
  }
}

/** What an attachment keeps beside the peer's record, for a new record to keep too. */
function besideOf(current: Attachment | null): Beside {
  return { ...(current?.presence ? { presence: current.presence } : {}), ...(current?.pausedAt ? { pausedAt: current.pausedAt } : {}) };
}
