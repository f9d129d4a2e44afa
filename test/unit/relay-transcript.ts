// A harness for transcript tests of the relay: the real core and driver over a MemoryStore, with a
// Transport that records every frame as one line in the words of the protocol, long ids replaced by names.
import {
  GENESIS_HASH,
  decodeClientMessage,
  decodeServerFrame,
  encodeMessage,
  signSnapshot,
  type ClientMessage,
  type KnownState,
  type DocHeader,
  type DocId,
  type ServerMessage,
  type SessionCounts,
  type SnapshotMessage,
  type Transaction,
} from "../../protocol/index.ts";
import { FrameBudgets } from "../../worker/core/frame-budget.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { initialState } from "../../worker/core/relay-core.ts";
import type { PeerRecord } from "../../worker/core/peer-records.ts";
import { Relay, type RelayOptions, type Transport } from "../../worker/core/relay.ts";
import type { PeerId } from "../../worker/core/store.ts";
import { helloFrame, signedChunk, testAgent, testHeader, type TestAgent } from "../support/identity.ts";

export const GROUP = "g1";
export const NOW = 1_700_000_100_000;

export const alice = testAgent(1);
export const bob = testAgent(2);
export const carol = testAgent(3);
export const aliceTwo = testAgent(1, "session-two");
export const doc1 = testHeader(alice, GROUP, "nonce-0001");
export const doc2 = testHeader(alice, GROUP, "nonce-0002");
export const nothingKnown = { header: false, sessions: {} };

// Sessions before agents: a session id starts with its agent id.
const names: [string, string][] = [
  [aliceTwo.session, "alice~two"],
  [alice.session, "alice"],
  [bob.session, "bob"],
  [carol.session, "carol"],
  [alice.agent, "alice"],
  [bob.agent, "bob"],
  [carol.agent, "carol"],
  [doc1.id, "doc1"],
  [doc2.id, "doc2"],
];
export const short = (text: string): string => names.reduce((out, [long, name]) => out.replaceAll(long, name), text);

const sessions = (counts: KnownState["sessions"]): string =>
  `{${Object.entries(counts).map(([session, count]) => `${session}:${count}`).join(", ")}}`;
const known = (state: KnownState): string => `${state.header ? "" : "(no header) "}${sessions(state.sessions)}`;

export function render(message: ClientMessage | ServerMessage): string {
  switch (message.type) {
    case "challenge":
      return `challenge v=${message.v} nonce=${message.nonce}`;
    case "hello":
      return `hello v=${message.v} ${message.session} ${message.group}`;
    case "welcome":
      return `welcome v=${message.v} role=${message.role}${message.members ? ` members=${message.members}` : ""}`;
    case "dir":
      return "docs" in message
        ? `dir [${message.docs.map((entry) => `${entry.id}${entry.deleted ? " deleted" : ""} ${known(entry.known)}`).join(", ")}] more=${message.more} cursor=${message.cursor}${message.inSync ? " inSync" : ""}`
        : `dir${message.since === undefined ? "" : ` since=${message.since}`}${message.digest ? " +digest" : ""}`;
    case "open":
      return `open ${Object.keys(message.known).length} docs`;
    case "opened":
      return `opened docs=${message.docs} cursor=${message.cursor}`;
    case "delete":
      return `delete ${message.doc}`;
    case "deleted":
      return `deleted ${message.doc}`;
    case "load":
      return `load ${message.doc} ${known(message.known)}`;
    case "content": {
      const chunks = Object.entries(message.sessions).map(
        ([session, chunk]) => `${session} after=${chunk!.after} n=${chunk!.transactions.length}${chunk!.signature ? "" : " unsigned"}`,
      );
      return `content ${message.doc}${message.header ? " +header" : ""} ${chunks.join(", ")}`;
    }
    case "known":
      return `known ${message.doc} ${known(message)} ${message.reason}`;
    case "unsub":
      return `unsub ${message.doc}`;
    case "error": {
      const about = [message.doc, message.session, message.retryAfter === undefined ? undefined : `retryAfter=${message.retryAfter}`];
      return ["error", message.code, ...about.filter(Boolean), JSON.stringify(message.message)].join(" ");
    }
    case "snapshot":
      return `snapshot ${message.doc} by ${message.session} covers ${sessions(message.covers)} ${typeof message.data === "string" ? `text ${message.data.length}` : `bytes ${message.data.byteLength}`}`;
    case "snapshotted":
      return `snapshotted ${message.doc} by ${message.session} covers ${sessions(message.covers)}`;
    case "presence":
      return renderPresence(message);
    case "ping":
    case "pong":
    // A mark's id is random: the transcript shows where it goes, not which.
    case "mark":
    case "marked":
      return message.type;
  }
}

/** A presence message as one line: a peer's state or its clearing, or the relay's peers (one without a state is gone). */
export function renderPresence(message: Extract<ClientMessage | ServerMessage, { type: "presence" }>): string {
  return "peers" in message
    ? `presence ${message.doc} [${message.peers.map((peer) => `${peer.session}${peer.state === undefined ? " gone" : `=${JSON.stringify(peer.state)}`}`).join(", ")}]`
    : `presence ${message.doc} ${message.state === undefined ? "clear" : JSON.stringify(message.state)}`;
}

/** A Transport that records frames as transcript lines; `failing` peers throw on send like a dead socket. */
export class RecordingTransport implements Transport {
  readonly lines: string[] = [];
  readonly frames: { peer: PeerId; text: string }[] = [];
  readonly failing = new Set<PeerId>();
  /** Marks of long answers the peers received and have not echoed yet (the scenario echoes them, as the SDK would). */
  readonly marks: { peer: PeerId; id: string }[] = [];

  send(peer: PeerId, frame: string): void {
    if (this.failing.has(peer)) throw new Error(`socket of ${peer} is gone`);
    const decoded = decodeServerFrame(frame);
    this.frames.push({ peer, text: frame });
    if (!decoded.ok) this.lines.push(short(`relay -> ${peer} | UNDECODABLE ${decoded.code}: ${decoded.reason}`));
    else {
      for (const message of decoded.message) {
        this.lines.push(short(`relay -> ${peer} | ${render(message)}`));
        if (message.type === "mark") this.marks.push({ peer, id: message.id });
      }
    }
  }

  close(peer: PeerId, code: number, reason: string): void {
    this.lines.push(`relay -x ${peer} | close ${code} ${reason}`);
  }

  savePeer(): void {}

  /** When the runtime answered each peer's ping by itself (the Durable Object's auto-response), as a test sets it. */
  readonly pings = new Map<PeerId, number>();
  pingedAt(peer: PeerId): number | undefined {
    return this.pings.get(peer);
  }

  /** Every time the relay asked to be woken. */
  readonly alarms: number[] = [];
  wakeAt(at: number): void {
    this.alarms.push(at);
  }

  /** Whether the relay asked to be woken by `now`; forgets those requests (the alarm fires once for all). */
  takeDue(now: number): boolean {
    const due = this.alarms.filter((at) => at <= now).length;
    if (due === 0) return false;
    this.alarms.splice(0, this.alarms.length, ...this.alarms.filter((at) => at > now));
    return true;
  }
}

/** A relay over a MemoryStore (or `store`); `peers` are already connected when it starts (as after a hibernation). */
export function scenario(peers: readonly PeerRecord[] = [], options: RelayOptions = {}, store: MemoryStore = new MemoryStore()) {
  const transport = new RecordingTransport();
  // Every frame of a scenario comes at one instant (NOW), so a long one would overrun the frame budget,
  // which has tests of its own (frame-budget.test.ts): here it is unbounded.
  const frames = new FrameBudgets({ perSecond: 0, burst: Infinity });
  const relay = new Relay(initialState(GROUP, peers, undefined, undefined, frames), store, transport, undefined, options);

  /** Sends a client frame from `peer`, logging it first. */
  async function send(peer: PeerId, message: ClientMessage | Record<string, unknown>): Promise<void> {
    const text = encodeMessage(message as ClientMessage);
    const decoded = decodeClientMessage(text);
    transport.lines.push(short(`${peer} -> relay | ${decoded.ok ? render(decoded.message) : text}`));
    await relay.dispatch({ type: "frame", peer, frame: text, now: NOW });
  }

  async function open(peer: PeerId, now = NOW): Promise<void> {
    await relay.dispatch({ type: "opened", peer, nonce: `nonce-${peer}`, now });
  }

  /** Opens a connection and completes the handshake as `who`; `pings`: its hello promises pings, as the SDK's does. */
  async function connect(peer: PeerId, who: TestAgent, { pings = false } = {}): Promise<void> {
    await open(peer);
    await send(peer, { ...helloFrame(who, GROUP, `nonce-${peer}`), ...(pings ? { pings: true } : {}) });
  }

  async function close(peer: PeerId): Promise<void> {
    transport.lines.push(`${peer} -x relay | closed`);
    await relay.dispatch({ type: "closed", peer });
  }

  /** The transcript so far, as one string; clears it so each step can be snapshotted on its own. */
  function transcript(): string {
    return transport.lines.splice(0).join("\n");
  }

  /**
   * Fires the alarm as long as the relay asks to be woken by `now` (long answers streaming in slices), the
   * peers echoing the marks they received before each (as the SDK does); how many times.
   */
  async function fireDueAlarms(now = NOW): Promise<number> {
    let fired = 0;
    for (;;) {
      for (const { peer, id } of transport.marks.splice(0)) await send(peer, { type: "marked", id });
      if (!transport.takeDue(now)) {
        if (transport.marks.length === 0) return fired;
        continue;
      }
      if (++fired > 10_000) throw new Error("the relay keeps asking for alarms");
      await relay.dispatch({ type: "alarm", now });
    }
  }

  return { store, transport, relay, send, open, connect, close, transcript, fireDueAlarms };
}

/** A snapshot of `doc` covering `covers`, signed by `who` for `session` (its own by default). */
export function snapshotOf(who: TestAgent, doc: DocId, covers: SessionCounts, data: SnapshotMessage["data"], session = who.session): SnapshotMessage {
  return { type: "snapshot", doc, session, covers, data, signature: signSnapshot(who.secretKey, doc, session, covers, data) };
}

/** A writer that keeps its own chain head, like the SDK does. */
export function writer(who: TestAgent, doc: { id: DocId; header: DocHeader }) {
  let count = 0;
  let lastHash = GENESIS_HASH;
  return (txs: Transaction[], options: { header?: boolean; after?: number } = {}) => {
    const { chunk, lastHash: next } = signedChunk(who, doc.id, count, txs, lastHash);
    count += txs.length;
    lastHash = next;
    const sent = options.after === undefined ? chunk : { ...chunk, after: options.after };
    // No transactions: a header-only message (a chunk carries at least one transaction).
    const sessions = txs.length > 0 ? { [who.session]: sent } : {};
    return { type: "content", doc: doc.id, ...(options.header ? { header: doc.header } : {}), sessions };
  };
}
