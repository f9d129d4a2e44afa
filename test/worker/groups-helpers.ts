// Helpers for the group tests: documents with a `readers` list, the membership log (genesis and signed
// member operations), closed groups set up in one call, app tokens, and handshakes that are refused.
import { sign as signJwt } from "hono/jwt";
import { expect } from "vitest";
import { MEMBERS_KIND, docIdOf, type AgentId, type DocHeader, type DocId, type MemberOp, type Role, type ServerMessage } from "../../protocol/index.ts";
import { helloFrame, type TestAgent } from "../support/identity.ts";
import { SessionWriter, connect, openSocket, uniqueGroup, type Peer } from "./socket.ts";

/** The secret vitest.config.ts binds as WEFT_TOKEN_SECRET for the worker project. */
export const TOKEN_SECRET = "test-token-secret-long-enough-for-hs256";

/** `at` of the first membership operation; later ones count up from here. */
export const MEMBERS_EPOCH = 1_700_000_000_000;

/** A document header, optionally visible only to `readers` (with its creator and the admins). */
export function docHeader(who: TestAgent, group: string, nonce: string, readers?: AgentId[]): { id: DocId; header: DocHeader } {
  const header: DocHeader = { group, kind: "json", creator: who.agent, createdAt: 1_700_000_000_000, nonce, meta: {}, ...(readers ? { readers } : {}) };
  return { id: docIdOf(header), header };
}

export function membersHeader(who: TestAgent, group: string, nonce = "members-0001"): { id: DocId; header: DocHeader } {
  const header: DocHeader = { group, kind: MEMBERS_KIND, creator: who.agent, createdAt: 1_700_000_000_000, nonce, meta: {} };
  return { id: docIdOf(header), header };
}

/** One agent's session in the membership log: each call signs the next operations; `at` counts up unless given. */
export class MemberLog {
  readonly writer: SessionWriter;
  readonly header: DocHeader;
  nextAt = MEMBERS_EPOCH;

  constructor(who: TestAgent, doc: DocId, header: DocHeader) {
    this.writer = new SessionWriter(who, doc);
    this.header = header;
  }

  #undo = { count: 0, lastHash: "", nextAt: MEMBERS_EPOCH };

  /** Forgets the last `ops` frame, which the relay refused, so the next one follows what it stored. */
  rollback(): void {
    this.writer.count = this.#undo.count;
    this.writer.lastHash = this.#undo.lastHash;
    this.nextAt = this.#undo.nextAt;
  }

  get doc(): DocId {
    return this.writer.doc;
  }

  /** A content frame appending `ops` (with the header if `withHeader`), each at `at` or the next instant. */
  ops(ops: MemberOp[], options: { at?: number; withHeader?: boolean } = {}) {
    this.#undo = { count: this.writer.count, lastHash: this.writer.lastHash, nextAt: this.nextAt };
    const txs = ops.map((op) => {
      const at = options.at ?? this.nextAt++;
      return { at, data: JSON.stringify(op) };
    });
    return this.writer.content(txs, options.withHeader ? this.header : undefined);
  }
}

export const setRole = (agent: TestAgent, role: Role): MemberOp => ({ op: "set", agent: agent.agent, role });
export const remove = (agent: TestAgent): MemberOp => ({ op: "remove", agent: agent.agent });

/**
 * A group closed by `admin`'s genesis, with `members` given their roles in the same frame.
 * Returns the admin's live peer (open group writer turned admin) and its membership log.
 */
export async function closedGroup(label: string, admin: TestAgent, members: [TestAgent, Role][] = []) {
  const group = uniqueGroup(label);
  const { id, header } = membersHeader(admin, group);
  const log = new MemberLog(admin, id, header);
  const adminPeer = await connect(group, admin);
  adminPeer.send(log.ops(members.map(([who, role]) => setRole(who, role)), { withHeader: true }));
  const ack = await adminPeer.next("known", (k) => k.doc === id);
  expect(ack.reason).toBe("ack");
  return { group, membersDoc: id, log, adminPeer };
}

/** Sends a membership change as the log's agent and waits for the relay's answer: the ack, or an error (then rolled back). */
export async function changeMembers(peer: Peer, log: MemberLog, ops: MemberOp[], at?: number): Promise<ServerMessage> {
  peer.send(log.ops(ops, at === undefined ? {} : { at }));
  const answer = await nextOf(peer, (m) => (m.type === "known" && m.doc === log.doc) || m.type === "error");
  if (answer.type === "error") log.rollback();
  return answer;
}

/** The next frame matching `match`, of any type (frames before it stay in the inbox). */
export async function nextOf(peer: Peer, match: (message: ServerMessage) => boolean, timeoutMs = 4_000): Promise<ServerMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const index = peer.inbox.findIndex(match);
    if (index >= 0) return peer.inbox.splice(index, 1)[0]!;
    if (Date.now() > deadline) throw new Error(`no matching frame in ${timeoutMs} ms; inbox: ${JSON.stringify(peer.inbox).slice(0, 2_000)}`);
    if (peer.ws.readyState !== WebSocket.OPEN) throw new Error(`socket closed while waiting; inbox: ${JSON.stringify(peer.inbox).slice(0, 2_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Claims for an app token; `expiresIn` in seconds from now (negative: already expired). */
export type TokenClaims = { sub: string; group: string; role: string; expiresIn?: number; exp?: number; nbf?: number; iat?: number };

export function mintToken(claims: TokenClaims, secret = TOKEN_SECRET): Promise<string> {
  const { expiresIn = 600, exp, ...rest } = claims;
  return signJwt({ ...rest, exp: exp ?? Math.floor(Date.now() / 1000) + expiresIn }, secret, "HS256");
}

/** Opens a socket and sends a signed hello (with `token` if given); the answer is left in the inbox. */
export async function sendHello(group: string, who: TestAgent, token?: string): Promise<Peer> {
  const peer = await openSocket(group);
  const { nonce } = await peer.next("challenge");
  peer.send({ ...helloFrame(who, group, nonce), ...(token ? { token } : {}) });
  return peer;
}

/** Connects (with a token if given) and returns the peer with its welcome. */
export async function admit(group: string, who: TestAgent, token?: string) {
  const peer = await sendHello(group, who, token);
  const welcome = await peer.next("welcome");
  return { peer, welcome };
}

/** Frames that carry a group's data or admit the peer: a refused peer must see none of them. */
const ADMITTING = new Set(["welcome", "content", "known", "dir", "opened", "deleted"]);

/** Asserts the hello was refused with `code` and close 1008, and nothing but that error arrived after the challenge. */
export async function expectHelloRefused(group: string, who: TestAgent, code: "unauthorized" | "token_expired", token?: string) {
  const peer = await sendHello(group, who, token);
  const error = await peer.next("error");
  expect(error.code).toBe(code);
  expect((await peer.closed).code).toBe(1008);
  expect(peer.received.filter((frame) => ADMITTING.has(frame.type))).toEqual([]);
  return error;
}

/** Asserts a socket was cut off: `code` then close 1008. */
export async function expectCutOff(peer: Peer, code: "unauthorized" | "token_expired") {
  expect(await peer.next("error")).toMatchObject({ code });
  expect((await peer.closed).code).toBe(1008);
}
