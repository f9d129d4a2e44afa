// A socket's way in: the challenge when it opens, the hello (its signature, version, group, and token if any)
// until it is a ready peer with its role and the welcome; and the deadline: sockets that never say hello are
// closed at the object's alarm, and too many waiting at once make room for the newest.
import {
  HANDSHAKE_DEADLINE_MS,
  MAX_PEERS_PER_GROUP,
  MAX_SOCKETS_PER_AGENT,
  PROTOCOL_VERSION,
  RETRY_AFTER_BUSY_SECONDS,
  agentOfSession,
  helloMessage,
  publicKeyOfAgent,
  type DocId,
  type Hello,
  type Role,
  type Welcome,
} from "../../protocol/index.ts";
import { roleOf } from "./access.ts";
import { handshakeDeadline, handshakesToDrop, nextHandshakeDeadline } from "./admission.ts";
import type { Continuation, Effect, SignatureCheck, TokenResult } from "./effects.ts";
import type { PeerRecord, ReadyPeer } from "./peer-records.ts";
import type { RelayState } from "./relay-state.ts";
import { refuse, unchanged, withPeer, type Step } from "./step-result.ts";
import type { PeerId, StoreReader } from "./store.ts";

export function onOpened(state: RelayState, peer: PeerId, nonce: string, now: number): Step {
  // Overdue handshakes go first; if the newcomer would still exceed the quota, so does the longest waiting.
  const dropped = dropHandshakes(state, now, 1);
  const record: PeerRecord = { id: peer, phase: "challenged", nonce, openedAt: now };
  return {
    state: withPeer(dropped.state, record),
    effects: [
      ...dropped.effects,
      { type: "savePeer", peer: record },
      { type: "send", peer, message: { type: "challenge", v: PROTOCOL_VERSION, nonce, now } },
      { type: "wakeAt", at: handshakeDeadline(record) },
    ],
  };
}

/** The alarm: close sockets whose handshake is overdue, and wake again for the next deadline. */
export function onAlarm(state: RelayState, now: number): Step {
  const dropped = dropHandshakes(state, now, 0);
  const next = nextHandshakeDeadline(dropped.state.peers);
  return next === undefined ? dropped : { state: dropped.state, effects: [...dropped.effects, { type: "wakeAt", at: next }] };
}

function dropHandshakes(state: RelayState, now: number, room: number): Step {
  let next = state;
  const effects: Effect[] = [];
  for (const peer of handshakesToDrop(state.peers, now, room)) {
    const overdue = handshakeDeadline(peer) <= now;
    const cut = refuse(next, peer.id, "not_ready", overdue ? `no hello within ${HANDSHAKE_DEADLINE_MS} ms` : "too many connections are waiting in the handshake");
    next = cut.state;
    effects.push(...cut.effects);
  }
  return { state: next, effects };
}

export function onHello(state: RelayState, peer: PeerId, nonce: string, hello: Hello): Step {
  if (hello.v !== PROTOCOL_VERSION) {
    return refuse(state, peer, "unsupported_version", `this relay speaks protocol v${PROTOCOL_VERSION}, not v${hello.v}`);
  }
  if (hello.group !== state.group) {
    return refuse(state, peer, "unauthorized", `hello names group ${hello.group}, this connection is to ${state.group}`);
  }
  if (agentOfSession(hello.session) !== hello.agent) {
    return refuse(state, peer, "unauthorized", "the session does not belong to the agent");
  }
  // A key of small order takes a signature made without any secret (protocol/public-key.ts).
  if (!publicKeyOfAgent(hello.agent)) {
    return refuse(state, peer, "unauthorized", "the agent id is not a public key only a secret key's holder can sign for (a point of small order, or one not encoded canonically)");
  }
  if (!hello.token && !state.access.openGroups) {
    return refuse(state, peer, "unauthorized", "this relay admits only peers with an app token");
  }
  const check: SignatureCheck = {
    publicKeyOf: hello.agent,
    message: helloMessage(state.group, hello.session, nonce),
    signature: hello.signature,
  };
  const then: Continuation = {
    kind: "hello",
    agent: hello.agent,
    session: hello.session,
    ...(hello.token ? { token: hello.token } : {}),
    // The one format the relay compresses in; other names a client lists are ignored.
    ...(hello.inflate?.includes("deflate-raw") ? { compression: "deflate-raw" as const } : {}),
    ...(hello.pings ? { pings: true as const } : {}),
  };
  return unchanged(state, [{ type: "verify", peer, checks: [check], then }]);
}

export function onHelloVerified(
  state: RelayState,
  id: PeerId,
  then: Extract<Continuation, { kind: "hello" }>,
  signatureValid: boolean,
  token: TokenResult | undefined,
  store: StoreReader,
): Step {
  if (!state.peers.has(id)) return unchanged(state);
  if (!signatureValid) return refuse(state, id, "unauthorized", "the hello signature does not verify for this agent");
  const record: ReadyPeer = {
    id,
    phase: "ready",
    agent: then.agent,
    session: then.session,
    ...(then.compression ? { compression: then.compression } : {}),
    ...(then.pings ? { pings: true as const } : {}),
  };
  if (then.token) {
    if (!token) return refuse(state, id, "unauthorized", "the token was not checked");
    if (!token.ok) return refuse(state, id, token.code, token.reason);
    if (token.agent !== then.agent) return refuse(state, id, "unauthorized", "the token names another agent");
    if (token.group !== state.group) return refuse(state, id, "unauthorized", "the token is for another group");
    record.token = { role: token.role, expiresAt: token.expiresAt };
  }
  const role = roleOf(record, store);
  if (!role) return refuse(state, id, "unauthorized", "this agent is not a member of the group");
  // Only authenticated peers count, so sockets that never say hello cannot fill the group.
  if (state.peers.readyCount >= MAX_PEERS_PER_GROUP) {
    return refuse(state, id, "too_many_peers", `this group has ${MAX_PEERS_PER_GROUP} peers connected`, { retryAfter: RETRY_AFTER_BUSY_SECONDS });
  }
  if (state.peers.readyOf(record.agent) >= MAX_SOCKETS_PER_AGENT) {
    return refuse(state, id, "too_many_peers", `this agent has ${MAX_SOCKETS_PER_AGENT} sockets connected to this group`, { retryAfter: RETRY_AFTER_BUSY_SECONDS });
  }
  const members = store.info().membersDoc;
  return {
    state: withPeer(state, record),
    effects: [
      { type: "savePeer", peer: record },
      {
        type: "send",
        peer: id,
        message: welcomeOf(role, members),
      },
    ],
  };
}

/** The welcome a peer gets at its handshake, and again when its role changes while it is connected. */
export const welcomeOf = (role: Role, members: DocId | undefined): Welcome => ({ type: "welcome", v: PROTOCOL_VERSION, role, ...(members ? { members } : {}) });
