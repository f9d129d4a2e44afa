// The relay's sync logic as a pure state machine: step(state, event, store) -> { state, effects }.
// No I/O, no clock, no randomness, no await: time and nonces arrive inside events, storage is only read,
// and everything the relay does (send, store, verify a signature) leaves as an effect for the driver.
import {
  GENESIS_HASH,
  PROTOCOL_VERSION,
  MAX_PEERS_PER_GROUP,
  RETRY_AFTER_BUSY_SECONDS,
  agentOfSession,
  chainHash,
  checkpointMessage,
  closeCodeOf,
  decodeClientMessage,
  docIdOf,
  helloMessage,
  missing,
  type Content,
  type DocId,
  type ErrorCode,
  type GroupId,
  type Hello,
  type Load,
  type SessionId,
} from "../../protocol/index.ts";
import { ContentPacker } from "./content-packer.ts";
import type { Continuation, Effect, PeerRecord, RelayEvent, RelayState, SignatureCheck } from "./effects.ts";
import { assertNever } from "./effects.ts";
import type { PeerId, SessionAppend, StoreReader, Write } from "./store.ts";

export type Step = { state: RelayState; effects: Effect[] };

export const initialState = (group: GroupId, peers: readonly PeerRecord[] = []): RelayState => ({
  group,
  peers: new Map(peers.map((peer) => [peer.id, peer])),
});

export function step(state: RelayState, event: RelayEvent, store: StoreReader): Step {
  switch (event.type) {
    case "opened":
      return onOpened(state, event.peer, event.nonce, event.peerCount);
    case "closed":
      return state.peers.has(event.peer) ? { state: withoutPeer(state, event.peer), effects: [{ type: "forgetPeer", peer: event.peer }] } : unchanged(state);
    case "frame":
      return onFrame(state, event.peer, event.frame, event.now, store);
    case "verified":
      return onVerified(state, event.peer, event.then, event.valid, store);
    default:
      return assertNever(event);
  }
}

const unchanged = (state: RelayState, effects: Effect[] = []): Step => ({ state, effects });

function withPeer(state: RelayState, peer: PeerRecord): RelayState {
  const peers = new Map(state.peers);
  peers.set(peer.id, peer);
  return { ...state, peers };
}

function withoutPeer(state: RelayState, id: PeerId): RelayState {
  const peers = new Map(state.peers);
  peers.delete(id);
  return { ...state, peers };
}

/** An error frame, and for codes that end the connection, the close; the peer is forgotten at once. */
function refuse(
  state: RelayState,
  peer: PeerId,
  code: ErrorCode,
  message: string,
  extra: { doc?: DocId; session?: SessionId; retryAfter?: number } = {},
): Step {
  const effects: Effect[] = [{ type: "send", peer, message: { type: "error", code, message, ...extra } }];
  const closeCode = closeCodeOf(code);
  if (closeCode === null) return unchanged(state, effects);
  effects.push({ type: "close", peer, code: closeCode, reason: code }, { type: "forgetPeer", peer });
  return { state: withoutPeer(state, peer), effects };
}

function onOpened(state: RelayState, peer: PeerId, nonce: string, peerCount: number): Step {
  if (peerCount > MAX_PEERS_PER_GROUP) {
    return refuse(state, peer, "too_many_peers", `this group has ${MAX_PEERS_PER_GROUP} peers connected`, {
      retryAfter: RETRY_AFTER_BUSY_SECONDS,
    });
  }
  const record: PeerRecord = { id: peer, phase: "challenged", nonce };
  return {
    state: withPeer(state, record),
    effects: [
      { type: "savePeer", peer: record },
      { type: "send", peer, message: { type: "challenge", v: PROTOCOL_VERSION, nonce } },
    ],
  };
}

function onFrame(state: RelayState, id: PeerId, frame: string | ArrayBuffer, now: number, store: StoreReader): Step {
  const peer = state.peers.get(id);
  if (!peer) return unchanged(state); // a frame racing its socket's close
  const decoded = decodeClientMessage(frame);
  if (!decoded.ok) return refuse(state, id, decoded.code, decoded.reason);
  const message = decoded.message;
  if (message.type === "ping") return unchanged(state, [{ type: "send", peer: id, message: { type: "pong" } }]);
  if (peer.phase === "challenged") {
    if (message.type !== "hello") return refuse(state, id, "not_ready", `send hello before ${message.type}`);
    return onHello(state, peer.id, peer.nonce, message);
  }
  switch (message.type) {
    case "hello":
      return refuse(state, id, "bad_frame", "hello was already accepted on this connection");
    case "dir":
      return unchanged(state, [{ type: "sendDirectory", peer: id }]);
    case "load":
      return unchanged(state, onLoad(id, message, store));
    case "content":
      return onContent(state, peer.id, peer.agent, message, now, store);
    case "unsub":
      return unchanged(state, [{ type: "unsubscribe", peer: id, doc: message.doc }]);
    default:
      return assertNever(message);
  }
}

function onHello(state: RelayState, peer: PeerId, nonce: string, hello: Hello): Step {
  if (hello.v !== PROTOCOL_VERSION) {
    return refuse(state, peer, "unsupported_version", `this relay speaks protocol v${PROTOCOL_VERSION}, not v${hello.v}`);
  }
  if (hello.group !== state.group) {
    return refuse(state, peer, "unauthorized", `hello names group ${hello.group}, this connection is to ${state.group}`);
  }
  if (agentOfSession(hello.session) !== hello.agent) {
    return refuse(state, peer, "unauthorized", "the session does not belong to the agent");
  }
  const check: SignatureCheck = {
    publicKeyOf: hello.agent,
    message: helloMessage(state.group, hello.session, nonce),
    signature: hello.signature,
  };
  return unchanged(state, [{ type: "verify", peer, checks: [check], then: { kind: "hello", agent: hello.agent, session: hello.session } }]);
}

function onLoad(peer: PeerId, load: Load, store: StoreReader): Effect[] {
  const effects: Effect[] = [{ type: "subscribe", peer, doc: load.doc }];
  const relayKnown = store.knownState(load.doc);
  const delta = missing(load.known, relayKnown);
  if (delta.header || delta.ranges.length > 0) {
    effects.push({ type: "sendDelta", peer, doc: load.doc, header: delta.header, ranges: delta.ranges });
  }
  effects.push({ type: "send", peer, message: { type: "known", doc: load.doc, ...relayKnown, reason: "load" } });
  return effects;
}

function onContent(state: RelayState, peer: PeerId, agent: string, content: Content, now: number, store: StoreReader): Step {
  const doc = content.doc;
  const write: Write = { doc, appends: [], now };
  if (!store.header(doc)) {
    const header = content.header;
    if (!header) return refuse(state, peer, "unknown_doc", "send the header with the first content of a document", { doc });
    const wrong =
      docIdOf(header) !== doc
        ? "the header does not hash to the document id"
        : header.group !== state.group
          ? `the header belongs to group ${header.group}`
          : header.creator !== agent
            ? "the header names another agent as creator"
            : undefined;
    if (wrong) return refuse(state, peer, "bad_header", wrong, { doc });
    write.header = header;
  }

  const effects: Effect[] = [];
  const pending: SessionAppend[] = [];
  const checks: SignatureCheck[] = [];
  let corrected = false;
  for (const [session, chunk] of Object.entries(content.sessions) as [SessionId, (typeof content.sessions)[SessionId]][]) {
    if (agentOfSession(session) !== agent) {
      effects.push(...refuse(state, peer, "unauthorized", "only the session's own agent may write it", { doc, session }).effects);
      continue;
    }
    const head = store.sessionHead(doc, session) ?? { count: 0, lastHash: GENESIS_HASH };
    if (chunk.after !== head.count) {
      corrected = true;
      continue;
    }
    if (chunk.transactions.length === 0) continue;
    const lastHash = chainHash(head.lastHash, chunk.transactions);
    const count = chunk.after + chunk.transactions.length;
    pending.push({ session, after: chunk.after, transactions: chunk.transactions, signature: chunk.signature, lastHash });
    checks.push({ publicKeyOf: agentOfSession(session), message: checkpointMessage(doc, session, count, lastHash), signature: chunk.signature });
  }
  if (corrected) {
    effects.push({ type: "send", peer, message: { type: "known", doc, ...store.knownState(doc), reason: "correction" } });
  }
  if (checks.length > 0) effects.push({ type: "verify", peer, checks, then: { kind: "content", write, pending } });
  else if (write.header) effects.push(...commitAndFanOut(peer, write, store));
  return unchanged(state, effects);
}

function onVerified(state: RelayState, id: PeerId, then: Continuation, valid: boolean[], store: StoreReader): Step {
  const peer = state.peers.get(id);
  if (then.kind === "hello") {
    if (!peer) return unchanged(state);
    if (!valid[0]) return refuse(state, id, "unauthorized", "the hello signature does not verify for this agent");
    const record: PeerRecord = { id, phase: "ready", agent: then.agent, session: then.session };
    return {
      state: withPeer(state, record),
      effects: [
        { type: "savePeer", peer: record },
        { type: "send", peer: id, message: { type: "welcome", v: PROTOCOL_VERSION, group: state.group, agent: then.agent, session: then.session } },
      ],
    };
  }
  // Content is stored even if its sender left meanwhile: it was valid when it arrived.
  const effects: Effect[] = [];
  const appends: SessionAppend[] = [];
  then.pending.forEach((append, index) => {
    if (valid[index]) appends.push(append);
    else if (peer) {
      effects.push({
        type: "send",
        peer: id,
        message: { type: "error", code: "bad_signature", message: "the checkpoint signature does not match these transactions", doc: then.write.doc, session: append.session },
      });
    }
  });
  if (appends.length > 0 || then.write.header) effects.push(...commitAndFanOut(peer ? id : undefined, { ...then.write, appends }, store));
  return unchanged(state, effects);
}

/** Commit, then ack to the writer, then send every other subscriber exactly the new transactions. */
function commitAndFanOut(writer: PeerId | undefined, write: Write, store: StoreReader): Effect[] {
  const effects: Effect[] = [{ type: "commit", write }];
  const known = store.knownState(write.doc);
  known.header = true;
  for (const append of write.appends) known.sessions[append.session] = append.after + append.transactions.length;
  if (writer) effects.push({ type: "send", peer: writer, message: { type: "known", doc: write.doc, ...known, reason: "ack" } });

  const subscribers = store.subscribers(write.doc).filter((peer) => peer !== writer);
  if (subscribers.length === 0) return effects;
  const packer = new ContentPacker(write.doc, write.header);
  for (const append of write.appends) {
    const last = append.transactions.length - 1;
    append.transactions.forEach((transaction, offset) => {
      packer.add(append.session, { ...transaction, index: append.after + offset, ...(offset === last ? { signature: append.signature } : {}) });
    });
  }
  packer.flush();
  const frames = packer.take();
  for (const peer of subscribers) for (const message of frames) effects.push({ type: "send", peer, message });
  return effects;
}
