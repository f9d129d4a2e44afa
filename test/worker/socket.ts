// Helpers for the workerd tests: real WebSockets to the real relay with a frame inbox the tests can await on,
// signed session logs that keep their own hash chain, and SQLite reads inside the group's Durable Object.
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import {
  GENESIS_HASH,
  decodeServerFrame,
  encodeMessage,
  randomBase64Url,
  utf8Length,
  type ClientMessage,
  type DocId,
  type ServerMessage,
  type SessionId,
  type Transaction,
  type TransactionData,
} from "../../protocol/index.ts";
import { helloFrame, signedChunk, testHeader, transactions, type TestAgent } from "../support/identity.ts";
import { SqliteStore } from "../../worker/sqlite-store.ts";

type Of<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export type Peer = {
  ws: WebSocket;
  /** Decoded frames not yet taken by `next` or `drain`. */
  inbox: ServerMessage[];
  /** Every message received, in order, with the UTF-8 size of the frame that carried it (a batch carries several). */
  received: { type: string; bytes: number }[];
  /** Frames received (text, and binary ones carrying bytes). */
  frames: number;
  /** Bytes of every frame received (UTF-8 of text frames). */
  bytes: number;
  /** Frames the SDK's decoder would refuse (too large, wrong shape): the relay must never send one. */
  undecodable: { bytes: number; reason: string }[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  sendRaw(frame: string | ArrayBuffer | Uint8Array): void;
  /** Resolves with the next frame matching `match` (frames before it stay in the inbox for later). */
  next<T extends ServerMessage["type"]>(type: T, match?: (m: Of<T>) => boolean, timeoutMs?: number): Promise<Of<T>>;
  /** Takes every frame of `type` now in the inbox. */
  drain<T extends ServerMessage["type"]>(type: T): Of<T>[];
  /**
   * Round trip through the relay's event queue: a ping that is not byte-equal to the auto-response pair, so
   * the object itself answers it after every earlier event. Frames caused by earlier events arrive first.
   */
  sync(): Promise<void>;
  close(): Promise<void>;
};

/** Sockets still open, closed by `closeAll` after a test that failed half-way. */
const open = new Set<Peer>();

/** A group id no other test (or earlier run on persisted storage) has used. */
export const uniqueGroup = (label: string): string => `${label}-${randomBase64Url(6)}`;

export const groupStub = (group: string) => env.GROUPS.getByName(group);

export const wsUrl = (group: string): string => `http://relay/v1/groups/${group}/ws`;

/** The ping the runtime answers by itself, without waking the object (ctx.setWebSocketAutoResponse). */
export const AUTO_PING = '{"type":"ping"}';
const RELAY_PING = '{ "type": "ping" }';

/**
 * A socket to the group's object. Like the SDK, it echoes each `mark` of the relay's long answers as it
 * reads it (the mark is not put in the inbox), unless `echoMarks` is false: a peer that never does, whose
 * marks wait in its inbox for the test to echo.
 */
export async function openSocket(group: string, { echoMarks = true } = {}): Promise<Peer> {
  const res = await exports.default.fetch(wsUrl(group), { headers: { Upgrade: "websocket" } });
  const ws = res.webSocket;
  if (!ws) throw new Error(`no socket: ${res.status} ${await res.text()}`);
  ws.accept();
  ws.binaryType = "arraybuffer"; // binary frames (data of bytes) as ArrayBuffers, not Blobs
  const inbox: ServerMessage[] = [];
  const received: Peer["received"] = [];
  const undecodable: Peer["undecodable"] = [];
  const waiters: (() => void)[] = [];
  const wakeAll = () => {
    for (const wake of waiters.splice(0)) wake();
  };
  ws.addEventListener("message", (event) => {
    const frame = event.data as string | ArrayBuffer;
    const bytes = typeof frame === "string" ? utf8Length(frame) : frame.byteLength;
    peer.frames++;
    peer.bytes += bytes;
    const decoded = decodeServerFrame(frame);
    if (decoded.ok) {
      for (const message of decoded.message) {
        received.push({ type: message.type, bytes });
        if (message.type === "mark" && echoMarks) ws.send(encodeMessage({ type: "marked", id: message.id }));
        else inbox.push(message);
      }
    } else {
      received.push({ type: "undecodable", bytes });
      undecodable.push({ bytes, reason: `${decoded.code}: ${decoded.reason}` });
    }
    wakeAll();
  });
  let isClosed = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (event) => {
      isClosed = true;
      open.delete(peer);
      resolve({ code: event.code, reason: event.reason });
      wakeAll();
    });
  });
  const peer: Peer = {
    ws,
    inbox,
    received,
    frames: 0,
    bytes: 0,
    undecodable,
    closed,
    send: (message) => ws.send(encodeMessage(message as ClientMessage)),
    sendRaw: (frame) => ws.send(frame),
    async next(type, match, timeoutMs = 4_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = inbox.findIndex((m) => m.type === type && (!match || match(m as never)));
        if (index >= 0) return inbox.splice(index, 1)[0] as never;
        const left = deadline - Date.now();
        if (isClosed || left <= 0) {
          const why = isClosed ? "socket closed" : `no frame in ${timeoutMs} ms`;
          throw new Error(`${why} while waiting for ${type}; inbox: ${JSON.stringify(inbox).slice(0, 2_000)}`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    drain(type) {
      const taken = inbox.filter((m) => m.type === type);
      inbox.splice(0, inbox.length, ...inbox.filter((m) => m.type !== type));
      return taken as never;
    },
    async sync() {
      ws.send(RELAY_PING);
      await peer.next("pong");
    },
    async close() {
      if (!isClosed) ws.close(1000, "done");
      await closed;
    },
  };
  open.add(peer);
  return peer;
}

/** Opens a socket and completes the handshake as `who`; `pings`: its hello promises pings, as the SDK's does. */
export async function connect(group: string, who: TestAgent, options: { echoMarks?: boolean; pings?: boolean } = {}): Promise<Peer> {
  const peer = await openSocket(group, options);
  const challenge = await peer.next("challenge");
  peer.send({ ...helloFrame(who, group, challenge.nonce), ...(options.pings ? { pings: true } : {}) });
  await peer.next("welcome");
  return peer;
}

/** Closes every socket a test left open (use in afterEach, so a failing test cannot hang the next file). */
export async function closeAll(): Promise<void> {
  await Promise.all([...open].map((peer) => peer.close()));
}

/** One writer's session log in one document: keeps the count and hash chain, signs each appended batch. */
export class SessionWriter {
  count = 0;
  lastHash = GENESIS_HASH;
  readonly who: TestAgent;
  readonly doc: DocId;

  constructor(who: TestAgent, doc: DocId) {
    this.who = who;
    this.doc = doc;
  }

  get session(): SessionId {
    return this.who.session;
  }

  /** A copy at the same position, for building a chunk without moving this writer on. */
  fork(who: TestAgent = this.who): SessionWriter {
    const copy = new SessionWriter(who, this.doc);
    copy.count = this.count;
    copy.lastHash = this.lastHash;
    return copy;
  }

  /** A signed chunk appending `txs` after everything appended so far; the writer's state moves on. */
  append(txs: Transaction[]) {
    const { chunk, lastHash } = signedChunk(this.who, this.doc, this.count, txs, this.lastHash);
    this.count += txs.length;
    this.lastHash = lastHash;
    return chunk;
  }

  /** A content frame for this session alone (header only when `txs` is empty: a chunk holds at least one). */
  content(txs: Transaction[], header?: unknown) {
    const sessions = txs.length > 0 ? { [this.session]: this.append(txs) } : {};
    return { type: "content", doc: this.doc, ...(header ? { header } : {}), sessions };
  }
}

export type StoredRow = { idx: number; at: number; data: TransactionData; signature: string | null };

/** Runs a query in the group's object against its real SQLite. */
export function sqlRows<T extends Record<string, SqlStorageValue>>(group: string, query: string, ...bindings: SqlStorageValue[]): Promise<T[]> {
  return runInDurableObject(groupStub(group), (_instance, state) => state.storage.sql.exec<T>(query, ...bindings).toArray());
}

/** A SqliteStore over the group's object's real SQLite, for reading what it holds. */
const storeOf = (state: DurableObjectState) => new SqliteStore(state.storage.sql, (fn) => state.storage.transactionSync(fn));

/** One session log as stored, in index order (read through SqliteStore: transactions are stored in chunks). */
export const storedLog = (group: string, doc: DocId, session: SessionId): Promise<StoredRow[]> =>
  runInDurableObject(groupStub(group), (_instance, state) =>
    [...storeOf(state).readTransactions(doc, session, 0, Number.MAX_SAFE_INTEGER)].map(({ index, at, data, signature }) => ({ idx: index, at, data, signature: signature ?? null })),
  );

/** Every stored transaction of the group (deleted documents' included, if any were left), by session and index. */
export const allRows = (group: string): Promise<{ doc: DocId; session: SessionId; idx: number; at: number; data: TransactionData }[]> =>
  runInDurableObject(groupStub(group), (_instance, state) => {
    const store = storeOf(state);
    const rows: { doc: DocId; session: SessionId; idx: number; at: number; data: TransactionData }[] = [];
    const sessions = state.storage.sql.exec<{ doc: DocId; session: SessionId }>("SELECT d.id AS doc, s.id AS session FROM sessions s JOIN docs d ON d.num = s.doc_num ORDER BY s.id").toArray();
    for (const { doc, session } of sessions) {
      for (const { index, at, data } of store.readTransactions(doc, session, 0, Number.MAX_SAFE_INTEGER)) rows.push({ doc, session, idx: index, at, data });
    }
    return rows;
  });

/** How many transactions the group's storage physically holds: every chunk's and every open chunk's. */
export const storedTransactionCount = async (group: string): Promise<number> =>
  (
    await sqlRows<{ n: number }>(
      group,
      `SELECT (SELECT coalesce(sum(json_array_length('[' || body || ']')), 0) FROM chunks)
            + (SELECT coalesce(sum(json_array_length('[' || tail || ']')), 0) FROM sessions WHERE tail <> '') AS n`,
    )
  )[0]!.n;

/** Every transaction a peer received for `doc` in `content` frames now in its inbox, per session. */
export function takeContent(peer: Peer, doc: DocId): Map<SessionId, { after: number; transactions: Transaction[]; signature?: string }[]> {
  const bySession = new Map<SessionId, { after: number; transactions: Transaction[]; signature?: string }[]>();
  for (const frame of peer.drain("content")) {
    if (frame.doc !== doc) continue;
    for (const [session, chunk] of Object.entries(frame.sessions) as [SessionId, (typeof frame.sessions)[SessionId]][]) {
      bySession.set(session, [...(bySession.get(session) ?? []), chunk]);
    }
  }
  return bySession;
}

/** The data of every transaction a peer received, by document, in order (its content frames are taken). */
export function heardByDoc(peer: Peer): Map<DocId, string[]> {
  const heard = new Map<DocId, string[]>();
  for (const message of peer.drain("content")) {
    const data = Object.values(message.sessions).flatMap((chunk) => chunk!.transactions.map((tx) => String(tx.data)));
    heard.set(message.doc, [...(heard.get(message.doc) ?? []), ...data]);
  }
  return heard;
}

export const emptyKnown = { header: false, sessions: {} };

/**
 * A group where `writer` created a document with 3 transactions and `bystander` has loaded it: the setting
 * of the bad-input tests, which then check that nothing was stored and the bystander heard nothing.
 */
export async function documentWithBystander(label: string, writer: TestAgent, bystander: TestAgent) {
  const group = uniqueGroup(label);
  const { id, header } = testHeader(writer, group);
  const log = new SessionWriter(writer, id);
  const a = await connect(group, writer);
  const b = await connect(group, bystander);
  a.send(log.content(transactions(3), header));
  await a.next("known", (k) => k.reason === "ack");
  b.send({ type: "load", doc: id, known: emptyKnown });
  await b.next("known", (k) => k.reason === "load");
  b.drain("content");
  return { group, id, header, log, a, b, before: await allRows(group) };
}
