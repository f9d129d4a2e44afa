// The relay's sync logic as a pure state machine: step(state, event, store) -> { state, effects }.
// No I/O, no clock, no randomness, no await: time and nonces arrive inside events, storage is only read,
// and everything the relay does (send, store, verify a signature) leaves as an effect for the driver. A
// socket's handshake is handshake.ts; this file takes what a ready peer sends, and what it writes.
import {
  FRAMES_PER_SECOND_PER_PEER,
  FRAME_BURST_PER_PEER,
  GENESIS_HASH,
  MEMBERS_KIND,
  MAX_BYTES_PER_AGENT,
  MAX_DOCS_PER_AGENT,
  MAX_LISTINGS_PER_FRAME,
  MAX_SESSIONS_PER_AGENT,
  MAX_WAITING_LOADS_PER_PEER,
  MAX_CLOCK_AHEAD_MS,
  MAX_SESSIONS_PER_AGENT_PER_DOCUMENT,
  MAX_SESSIONS_PER_DOCUMENT,
  RETRY_AFTER_TOO_MANY_FRAMES_SECONDS,
  STORED_BYTES_PER_TRANSACTION,
  agentOfSession,
  can,
  chainHash,
  checkpointMessage,
  clientMessageProblem,
  decodeClientFrame,
  docIdOf,
  mayRead,
  type AgentId,
  type ClientMessage,
  type Content,
  type DocHeader,
  type DocId,
  type GroupId,
  type KnownState,
  type Role,
  type SessionId,
} from "../../protocol/index.ts";
import { OPEN_ACCESS, type AccessPolicy } from "../config.ts";
import { deletionRefusal, membershipChanges, roleOf, roleUnderLog } from "./access.ts";
import { PresenceTable } from "./presence.ts";
import { ContentPacker } from "./content-packer.ts";
import { PeerTable } from "./peer-table.ts";
import { FrameBudgets } from "./frame-budget.ts";
import { snapshotVerified, takeSnapshot } from "./snapshot-taking.ts";
import type { Effect, RelayEvent, SignatureCheck } from "./effects.ts";
import type { PeerRecord, ReadyPeer, SavedPresence } from "./peer-records.ts";
import type { RelayState } from "./relay-state.ts";
import { assertNever } from "./effects.ts";
import { appendQuotaBytes, knownChanged, storedDataBytes, type PeerId, type SessionAppend, type StoreReader, type Write } from "./store.ts";
import { onAlarm, onHello, onHelloVerified, onOpened, welcomeOf } from "./handshake.ts";
import { dropSilentPeers } from "./silent-peers.ts";
import { errorEffect, refuse, unchanged, withPeer, withoutPeer, type Step } from "./step-result.ts";

export const initialState = (
  group: GroupId,
  peers: readonly PeerRecord[] = [],
  access: AccessPolicy = OPEN_ACCESS,
  presence: ReadonlyMap<PeerId, SavedPresence> = new Map(),
  frames: FrameBudgets = new FrameBudgets(),
): RelayState => ({
  group,
  access,
  peers: new PeerTable(peers),
  presence: PresenceTable.restore(peers, presence),
  frames,
});

export function step(state: RelayState, event: RelayEvent, store: StoreReader): Step {
  switch (event.type) {
    case "opened":
      return onOpened(state, event.peer, event.nonce, event.now);
    case "alarm": {
      const handshakes = onAlarm(state, event.now);
      const silent = dropSilentPeers(handshakes.state, event.now, event.pingedAt ?? new Map());
      return { state: silent.state, effects: [...handshakes.effects, ...silent.effects] };
    }
    case "closed": {
      // Its presence is cleared for its readers, also when it was cut off earlier in this event (refuse).
      const left = state.presence.leave(event.peer, undefined, state.peers, store);
      if (!state.peers.has(event.peer)) return unchanged(state, left);
      return { state: withoutPeer(state, event.peer), effects: [...left, { type: "forgetPeer", peer: event.peer }] };
    }
    case "frame":
      return onFrame(state, event.peer, event.frame, event.now, store);
    case "message":
      return onMessage(state, event.peer, event.message, event.now, store);
    case "verified":
      switch (event.then.kind) {
        case "hello":
          return onHelloVerified(state, event.peer, event.then, event.valid[0] === true, event.token, store);
        case "content":
          return onContentVerified(state, event.peer, event.then.write, event.then.pending, event.valid, store);
        case "snapshot":
          return unchanged(state, snapshotVerified(state, event.peer, event.then.snapshot, event.valid[0] === true, store));
        default:
          return assertNever(event.then);
      }
    default:
      return assertNever(event);
  }
}

function onFrame(state: RelayState, id: PeerId, frame: string | ArrayBuffer | Uint8Array, now: number, store: StoreReader): Step {
  if (!state.peers.has(id)) return unchanged(state); // a frame racing its socket's close
  // Before anything else is spent on it: a flood of frames costs the object a count each, then nothing.
  if (!state.frames.take(id, now)) {
    return refuse(state, id, "too_many_frames", `this connection sent more than ${FRAMES_PER_SECOND_PER_PEER} frames a second (after a burst of ${FRAME_BURST_PER_PEER}), so it is closed`, {
      retryAfter: RETRY_AFTER_TOO_MANY_FRAMES_SECONDS,
    });
  }
  state.presence.heard(id, now);
  const decoded = decodeClientFrame(frame);
  if (!decoded.ok) return refuse(state, id, decoded.code, decoded.reason);
  // Each dir or open starts a listing of the whole group: a frame may start only a few.
  const listings = decoded.message.filter((message) => message.type === "dir" || message.type === "open").length;
  if (listings > MAX_LISTINGS_PER_FRAME) {
    return refuse(state, id, "bad_frame", `a frame may hold at most ${MAX_LISTINGS_PER_FRAME} dir and open messages, not ${listings}`);
  }
  const [first, ...rest] = decoded.message;
  if (rest.length > 0) return unchanged(state, [{ type: "handleEach", peer: id, messages: decoded.message, now }]);
  return onMessage(state, id, first!, now, store);
}

function onMessage(state: RelayState, id: PeerId, message: ClientMessage, now: number, store: StoreReader): Step {
  const peer = state.peers.get(id);
  if (!peer) return unchanged(state); // closed by an earlier message of the same batch, or racing the close
  if (message.type === "ping") return unchanged(state, [{ type: "send", peer: id, message: { type: "pong" } }]);
  if (peer.phase === "challenged") {
    if (message.type !== "hello") return refuse(state, id, "not_ready", `send hello before ${message.type}`);
    return onHello(state, peer.id, peer.nonce, message);
  }
  if (peer.token && now >= peer.token.expiresAt) return refuse(state, id, "token_expired", "the token has expired; connect again with a fresh one");
  const role = roleOf(peer, store);
  if (!role) return refuse(state, id, "unauthorized", "this agent is no longer a member of the group");
  // Over a limit of its own (a transaction's or a snapshot's size, a header's): this message alone is refused.
  const problem = clientMessageProblem(message);
  if (problem) return refuse(state, id, problem.code, problem.reason, "doc" in message ? { doc: message.doc } : {});
  return onRequest(state, peer, role, message, now, store);
}

function onRequest(state: RelayState, peer: ReadyPeer, role: Role, message: Exclude<ClientMessage, { type: "ping" }>, now: number, store: StoreReader): Step {
  const id = peer.id;
  const reader = { agent: peer.agent, role };
  switch (message.type) {
    case "hello":
      return refuse(state, id, "bad_frame", "hello was already accepted on this connection");
    case "dir": {
      const info = store.info();
      // A peer that may not see every document has a digest of its own: the driver computes it by a scan.
      const sharesGroupDigest = role === "admin" || !store.hasRestrictedDocs();
      if (sharesGroupDigest && message.digest !== undefined && message.digest === info.digest) {
        return unchanged(state, [{ type: "send", peer: id, message: { type: "dir", docs: [], more: false, cursor: info.cursor, digest: info.digest, inSync: true } }]);
      }
      const digest = sharesGroupDigest ? undefined : message.digest;
      return unchanged(state, [{ type: "sendDirectory", peer: id, since: message.since ?? 0, reader, ...(sharesGroupDigest ? {} : { ownDigest: true, digest }) }]);
    }
    case "load": {
      const gone = deletionRefusal(role, peer.agent, message.doc, store);
      if (gone) return refuse(state, id, gone.code, gone.reason, { doc: message.doc });
      const header = store.header(message.doc);
      if (header && !mayRead(role, peer.agent, header)) return refuse(state, id, "forbidden", "this agent may not read this document", { doc: message.doc });
      // What the peer lacks, then the relay's known state; streamed in slices when the document is long.
      const effects: Effect[] = [{ type: "sendLoad", peer: id, doc: message.doc, known: message.known }];
      // Subscribe last: frames sent after a storage write wait for it to be durable (the output gate), and
      // a subscription is not data. No other event runs in between, so nothing live is missed. A peer waits
      // for at most MAX_WAITING_LOADS_PER_PEER documents the relay does not have (a frame of made-up ids
      // would otherwise write a row each); past that it is answered but not subscribed, and its creator is
      // subscribed anyway once the header is stored.
      if (header) {
        // Who else is here, right away: presence is not data, it need not wait for the load's slices.
        effects.unshift(...state.presence.snapshot(message.doc, id));
        effects.push({ type: "subscribe", peer: id, doc: message.doc });
        return unchanged(state, effects);
      }
      // Loaded before and still waited for (its own subscription): counted once. Subscribed again all the
      // same, in case an unsub earlier in this frame, not stored yet, ended it.
      if (store.docSubscribers(message.doc).includes(id)) return unchanged(state, [...effects, { type: "subscribe", peer: id, doc: message.doc }]);
      const waiting = peer.waitingLoads ?? 0;
      if (waiting >= MAX_WAITING_LOADS_PER_PEER) return unchanged(state, effects);
      const record: ReadyPeer = { ...peer, waitingLoads: waiting + 1 };
      effects.push({ type: "savePeer", peer: record }, { type: "subscribe", peer: id, doc: message.doc });
      return { state: withPeer(state, record), effects };
    }
    case "open":
      // Subscribed last, as a load is: its first part and the presence go before the write.
      return unchanged(state, [
        {
          type: "sendGroup",
          peer: id,
          known: message.known,
          reader,
          ...(message.after === undefined ? {} : { after: message.after }),
          ...(message.through === undefined ? {} : { through: message.through }),
        },
        ...state.presence.snapshotsForOpen(id, reader, message.after, message.through, store),
        { type: "subscribe", peer: id, doc: "*" },
      ]);
    case "content":
      return onContent(state, peer, role, message, now, store);
    case "delete":
      return onDelete(state, id, role, message.doc, now, store);
    case "unsub":
      return unchanged(state, [...state.presence.leave(id, [message.doc], state.peers, store), { type: "unsubscribe", peer: id, doc: message.doc }]);
    case "presence":
      return unchanged(state, state.presence.receive(peer, role, message, now, state.peers, store));
    case "marked":
      // The window of its long answers lives with them, in the driver (answer-window.ts).
      return unchanged(state, [{ type: "marked", peer: id, id: message.id }]);
    case "snapshot": {
      const taken = takeSnapshot(peer, message, now, store, role);
      return Array.isArray(taken) ? unchanged(state, taken) : refuse(state, id, taken.code, taken.reason, { doc: message.doc });
    }
    default:
      return assertNever(message);
  }
}

function onDelete(state: RelayState, peer: PeerId, role: Role, doc: DocId, now: number, store: StoreReader): Step {
  if (!can(role, "delete")) return refuse(state, peer, "forbidden", "only an admin may delete documents", { doc });
  if (store.deleted(doc)) return refuse(state, peer, "doc_deleted", "this document was already deleted", { doc });
  if (!store.header(doc)) return refuse(state, peer, "unknown_doc", "no such document", { doc });
  if (doc === store.info().membersDoc) return refuse(state, peer, "forbidden", "the membership log cannot be deleted", { doc });
  const effects: Effect[] = [{ type: "deleteDoc", doc, now }, ...state.presence.forgetDoc(doc)];
  const expired: PeerId[] = [];
  const header = store.header(doc)!;
  for (const subscriber of new Set([peer, ...store.subscribers(doc)])) {
    const record = state.peers.get(subscriber);
    if (record?.phase !== "ready") continue;
    if (record.token !== undefined && now >= record.token.expiresAt) expired.push(subscriber);
    else if (mayRead(roleOf(record, store), record.agent, header)) effects.push({ type: "send", peer: subscriber, message: { type: "deleted", doc } });
  }
  let next = state;
  for (const id of expired) {
    const cut = refuse(next, id, "token_expired", "the token has expired; connect again with a fresh one");
    next = cut.state;
    effects.push(...cut.effects);
  }
  return { state: next, effects };
}

/** Checks a header for a document the relay does not have yet; returns why it is refused, if it is. */
function headerProblem(state: RelayState, agent: AgentId, doc: DocId, header: DocHeader): string | undefined {
  if (docIdOf(header) !== doc) return "the header does not hash to the document id";
  if (header.group !== state.group) return `the header belongs to group ${header.group}`;
  if (header.creator !== agent) return "the header names another agent as creator";
  return undefined;
}

/**
 * A `content` message commits whole or not at all: its header and every session, or nothing. The answer
 * says which: one ack of everything it stored, or one refusal (an error naming the first refused session,
 * or a correction with the relay's count of every session it named) and nothing stored or forwarded.
 */
function onContent(state: RelayState, peer: ReadyPeer, role: Role, content: Content, now: number, store: StoreReader): Step {
  const { id, agent } = peer;
  const doc = content.doc;
  const gone = deletionRefusal(role, agent, doc, store);
  if (gone) return refuse(state, id, gone.code, gone.reason, { doc });
  const write: Write = { doc, appends: [], now };
  const info = store.info();
  let header = store.header(doc);
  let genesis = false;
  if (!header) {
    header = content.header;
    if (!header) return refuse(state, id, "unknown_doc", "send the header with the first content of a document", { doc });
    const problem = headerProblem(state, agent, doc, header);
    if (problem) return refuse(state, id, "bad_header", problem, { doc });
    if (!can(role, "create")) return refuse(state, id, "forbidden", `a ${role} may not create documents`, { doc });
    if (header.kind === MEMBERS_KIND) {
      if (info.membersDoc) return refuse(state, id, "bad_header", "this group already has a membership log", { doc });
      if (state.access.founders === "token-admins" && peer.token?.role !== "admin") {
        return refuse(state, id, "forbidden", "on this relay only a peer whose token makes it admin may found a group", { doc });
      }
      // Anyone may found one, but a token caps its holder's role under the log (access.ts): a founder its
      // token makes a writer would be no admin of its own group, and no one could manage it.
      if (peer.token && peer.token.role !== "admin") {
        const capped = peer.token.role;
        return refuse(state, id, "forbidden", `a peer whose token makes it a ${capped} may not found a group: the token would cap it at ${capped} there, and no one could manage the group; found it with an admin token`, { doc });
      }
      genesis = true;
    }
    write.header = header;
  } else if (!mayRead(role, agent, header)) {
    return refuse(state, id, "forbidden", "this agent may not read this document", { doc });
  } else if (doc === info.membersDoc ? !can(role, "manage") : !can(role, "write")) {
    return refuse(state, id, "forbidden", doc === info.membersDoc ? "only an admin may change membership" : `a ${role} may not write`, { doc });
  } else if (content.header && docIdOf(content.header) !== doc) {
    return refuse(state, id, "bad_header", "the header does not hash to the document id", { doc });
  }

  const chunks = Object.entries(content.sessions) as [SessionId, (typeof content.sessions)[SessionId]][];
  const foreign = chunks.find(([session]) => agentOfSession(session) !== agent);
  if (foreign) return refuse(state, id, "forbidden", "only the session's own agent may write it", { doc, session: foreign[0] });
  // The membership log's operations go strictly forward in time: one holding a time past the bound (stored
  // before the relay refused such times) takes operations right after it, a millisecond apiece, or no admin
  // could change membership again.
  const opsAfter = doc === info.membersDoc ? info.membersLast.at + chunks.reduce((sum, [, chunk]) => sum + chunk.transactions.length, 0) : 0;
  const latest = Math.max(now + MAX_CLOCK_AHEAD_MS, opsAfter);
  const ahead = chunks.find(([, chunk]) => chunk.transactions.some((transaction) => transaction.at > latest));
  if (ahead) return refuse(state, id, "bad_time", `a transaction's time is more than ${MAX_CLOCK_AHEAD_MS} ms ahead of the relay's clock`, { doc, session: ahead[0] });

  const pending: SessionAppend[] = [];
  const checks: SignatureCheck[] = [];
  const held: KnownState["sessions"] = {};
  let corrected = false;
  let newSessions = 0;
  let writeBytes = 0;
  for (const [session, chunk] of chunks) {
    const head = store.sessionHead(doc, session);
    const { count, lastHash: previous } = head ?? { count: 0, lastHash: GENESIS_HASH };
    held[session] = count;
    if (chunk.after !== count) {
      corrected = true;
      continue;
    }
    if (!head) newSessions++;
    const lastHash = chainHash(previous, chunk.transactions);
    const after = count + chunk.transactions.length;
    const bytes = chunk.transactions.reduce((sum, transaction) => sum + storedDataBytes(transaction.data), 0);
    const append = { session, after: chunk.after, transactions: chunk.transactions, signature: chunk.signature, lastHash, bytes };
    // Empty transactions count too: each takes room stored whatever its data.
    writeBytes += appendQuotaBytes(append);
    pending.push(append);
    checks.push({ publicKeyOf: agent, message: checkpointMessage(doc, session, after, lastHash), signature: chunk.signature });
  }
  // The relay's count of every session the message named, so the writer resends from there.
  if (corrected) return unchanged(state, [{ type: "send", peer: id, message: { type: "known", doc, header: !write.header, sessions: held, reason: "correction" } }]);
  const sessionsAfter = newSessions > 0 ? store.sessionCount(doc) + newSessions : 0;
  if (sessionsAfter > MAX_SESSIONS_PER_DOCUMENT) {
    return refuse(state, id, "too_many_sessions", `a document holds at most ${MAX_SESSIONS_PER_DOCUMENT} sessions`, { doc });
  }
  // The agent's own are counted (a statement) only where the document holds enough sessions to be over.
  if (sessionsAfter > MAX_SESSIONS_PER_AGENT_PER_DOCUMENT && store.agentSessionCount(doc, agent) + newSessions > MAX_SESSIONS_PER_AGENT_PER_DOCUMENT) {
    return refuse(state, id, "too_many_sessions", `an agent may write at most ${MAX_SESSIONS_PER_AGENT_PER_DOCUMENT} sessions of one document`, { doc });
  }
  // The agent's usage is one cached row (the store keeps it current), so every write can be held to it.
  const usage = store.usage(agent);
  if (write.header && usage.docs >= MAX_DOCS_PER_AGENT) {
    return refuse(state, id, "quota_exceeded", `an agent may create at most ${MAX_DOCS_PER_AGENT} documents in a group`, { doc });
  }
  if (usage.sessions + newSessions > MAX_SESSIONS_PER_AGENT) {
    return refuse(state, id, "quota_exceeded", `an agent may write at most ${MAX_SESSIONS_PER_AGENT} sessions in a group`, { doc });
  }
  if (usage.bytes + writeBytes > MAX_BYTES_PER_AGENT) {
    return refuse(
      state,
      id,
      "quota_exceeded",
      `an agent may store at most ${MAX_BYTES_PER_AGENT} bytes in a group (each transaction counts its data and ${STORED_BYTES_PER_TRANSACTION} bytes); it holds ${usage.bytes}, and this message adds ${writeBytes}`,
      { doc },
    );
  }

  if (genesis || doc === info.membersDoc) {
    const members = membershipChanges(header.creator, genesis, agent, pending, store);
    if (typeof members === "string") return refuse(state, id, "forbidden", members, { doc });
    write.members = members;
  }
  if (checks.length > 0) return unchanged(state, [{ type: "verify", peer: id, checks, then: { kind: "content", write, pending } }]);
  if (!write.header) {
    // The header of a document the relay already holds, sent again: nothing changes, and it is stored.
    return unchanged(state, [{ type: "send", peer: id, message: { type: "known", doc, header: true, sessions: {}, reason: "ack" } }]);
  }
  return applyWrite(state, id, write, store, []);
}

function onContentVerified(state: RelayState, id: PeerId, write: Write, pending: SessionAppend[], valid: boolean[], store: StoreReader): Step {
  const writer = state.peers.has(id) ? id : undefined;
  const forged = pending.findIndex((_, index) => !valid[index]);
  if (forged >= 0) {
    if (!writer) return unchanged(state);
    const session = pending[forged]!.session;
    return unchanged(state, [errorEffect(id, "bad_signature", "the checkpoint signature does not match these transactions; nothing of this message was stored", { doc: write.doc, session })]);
  }
  // Stored even if its sender left meanwhile: it was valid when it arrived.
  return applyWrite(state, writer, { ...write, appends: pending }, store, []);
}

/** Commit; ack the writer; send every other subscriber that may read it exactly the new transactions; cut off removed members. */
function applyWrite(state: RelayState, writer: PeerId | undefined, write: Write, store: StoreReader, effects: Effect[]): Step {
  effects.push({ type: "commit", write });
  // The creator hears later writes to its document, whether or not it loaded it first (one row per document).
  if (writer && write.header) effects.push({ type: "subscribe", peer: writer, doc: write.doc });
  // The ack says what this write changed, not the document's whole known state: its size follows the write.
  if (writer) effects.push({ type: "send", peer: writer, message: { type: "known", doc: write.doc, ...knownChanged(write), reason: "ack" } });

  // Roles as they are once this write is committed: a just-removed member receives nothing more.
  const changed = new Map((write.members?.changes ?? []).map((change) => [change.agent, change.role]));
  const info = store.info();
  const groupIsOpen = !info.membersDoc && !write.members?.genesis;
  // The log may lower or revoke what a token grants, never raise it (access.ts): token holders included.
  const roleAfter = (peer: ReadyPeer): Role | undefined => {
    if (peer.token && write.now >= peer.token.expiresAt) return undefined;
    if (groupIsOpen) return peer.token?.role ?? "writer";
    const logged = changed.has(peer.agent) ? (changed.get(peer.agent) ?? undefined) : store.role(peer.agent);
    const removed = changed.has(peer.agent) ? changed.get(peer.agent) === null : logged === undefined && info.removed.has(peer.agent);
    return roleUnderLog(peer.token?.role, logged, removed);
  };

  const header = write.header ?? store.header(write.doc)!;
  const readers: PeerId[] = [];
  const expired: PeerId[] = [];
  // Created now: the peers that loaded it before (their own subscription, not a whole group's) no longer wait for it.
  const waited: ReadyPeer[] = [];
  for (const id of write.header ? store.docSubscribers(write.doc) : []) {
    const peer = state.peers.get(id);
    if (peer?.phase === "ready" && (peer.waitingLoads ?? 0) > 0) waited.push(peer);
  }
  for (const id of store.subscribers(write.doc)) {
    const peer = state.peers.get(id);
    // A subscriber with no socket lost it in a restart (a close forgets its subscriptions): forgotten now.
    if (!peer) effects.push({ type: "forgetPeer", peer: id });
    if (id === writer || peer?.phase !== "ready") continue;
    if (peer.token && write.now >= peer.token.expiresAt) expired.push(id);
    else if (mayRead(roleAfter(peer), peer.agent, header)) readers.push(id);
  }
  if (readers.length > 0) {
    const packer = new ContentPacker(write.doc, write.header);
    for (const append of write.appends) {
      const last = append.transactions.length - 1;
      append.transactions.forEach((transaction, offset) => {
        packer.add(append.session, { ...transaction, index: append.after + offset, ...(offset === last ? { signature: append.signature } : {}) });
      });
    }
    packer.flush();
    const frames = packer.take();
    for (const peer of readers) for (const message of frames) effects.push({ type: "send", peer, message });
  }

  // A peer whose role changed hears its new role at once (a welcome again, as at its handshake), and no
  // longer shows itself where it may not read now.
  for (const peer of changed.size > 0 ? state.peers.values() : []) {
    if (peer.phase !== "ready" || !changed.has(peer.agent)) continue;
    const role = roleAfter(peer);
    if (role && role !== roleOf(peer, store)) effects.push({ type: "send", peer: peer.id, message: welcomeOf(role, info.membersDoc ?? write.doc) });
    effects.push(...state.presence.roleChanged(peer, role, state.peers, store));
  }

  let next = state;
  for (const peer of waited) {
    const record: ReadyPeer = { ...peer, waitingLoads: peer.waitingLoads! - 1 };
    next = withPeer(next, record);
    effects.push({ type: "savePeer", peer: record });
  }
  // A peer first left out of fan-out because its token expired hears so, rather than going stale silently.
  for (const id of expired) {
    const cut = refuse(next, id, "token_expired", "the token has expired; connect again with a fresh one");
    next = cut.state;
    effects.push(...cut.effects);
  }
  const founding = write.members?.genesis === true;
  for (const peer of changed.size > 0 ? next.peers.values() : []) {
    if (peer.phase !== "ready") continue; // those cut off for an expired token are gone from next.peers
    // A token does not keep a removed agent in: it is cut off like any removed member. Nor one the new log
    // does not name: the peers of the open group it closes that are not members get in no more than at a
    // handshake, rather than stay connected with a role the relay no longer gives them.
    const removed = changed.has(peer.agent) ? changed.get(peer.agent) === null : founding && roleAfter(peer) === undefined;
    if (!removed) continue;
    const reason = founding ? "this agent is not a member of the group: its membership log was just created" : "this agent was removed from the group";
    const cut = refuse(next, peer.id, "unauthorized", reason);
    next = cut.state;
    effects.push(...cut.effects);
  }
  return { state: next, effects };
}
