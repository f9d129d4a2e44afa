// App tokens against the membership log, in the pure core over a MemoryStore: the log may lower or revoke
// what a token grants, never raise it. A removed token holder is cut off at once and refused on return; a
// demoted one writes no more from its next message on; an agent the log never named keeps its token's role.
import { describe, expect, it } from "vitest";
import {
  MEMBERS_KIND,
  batchFrame,
  docIdOf,
  encodeForBatch,
  encodeMessage,
  type ClientMessage,
  type DocHeader,
  type MemberOp,
  type Role,
} from "../../protocol/index.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { initialState } from "../../worker/core/relay-core.ts";
import { Relay, type TokenVerifier } from "../../worker/core/relay.ts";
import type { PeerId } from "../../worker/core/store.ts";
import { helloFrame, testAgent, transactions, type TestAgent } from "../support/identity.ts";
import { GROUP, NOW, RecordingTransport, alice, bob, carol, doc1, short, writer } from "./relay-transcript.ts";

const tess = testAgent(4); // never named by the log: in by token only

const membersDoc = (() => {
  const header: DocHeader = { group: GROUP, kind: MEMBERS_KIND, creator: alice.agent, createdAt: NOW, nonce: "members", meta: {} };
  return { id: docIdOf(header), header };
})();

/** A token is `<role> <agent>` here: the verifier (worker/tokens.ts in the Worker) is not what is tested. */
const tokenFor = (who: TestAgent, role: Role): string => `${role} ${who.agent}`;
const verifyToken: TokenVerifier = async (token) => {
  const [role, agent] = token.split(" ") as [Role, TestAgent["agent"]];
  return { ok: true, agent, group: GROUP, role, expiresAt: NOW + 3_600_000 };
};

function relayWithTokens() {
  const store = new MemoryStore();
  const transport = new RecordingTransport();
  const relay = new Relay(initialState(GROUP), store, transport, verifyToken);
  let nextAt = NOW;
  const log = writer(alice, membersDoc);
  const doc = writer(alice, doc1);

  async function send(peer: PeerId, message: ClientMessage | Record<string, unknown>): Promise<void> {
    await relay.dispatch({ type: "frame", peer, frame: encodeMessage(message as ClientMessage), now: NOW });
  }
  async function connect(peer: PeerId, who: TestAgent, token?: string): Promise<void> {
    await relay.dispatch({ type: "opened", peer, nonce: `nonce-${peer}`, now: NOW });
    await send(peer, { ...helloFrame(who, GROUP, `nonce-${peer}`), ...(token ? { token } : {}) });
  }
  /** Alice's membership operations, in the log's order; the first call founds the log. */
  let founded = false;
  async function members(...ops: MemberOp[]): Promise<void> {
    await send("alice", log(ops.map((op) => ({ at: nextAt++, data: JSON.stringify(op) })), { header: !founded }));
    founded = true;
  }
  /** The lines each peer received since the last call, long ids replaced by names. */
  function heard(peer: PeerId): string[] {
    const lines = transport.lines.filter((line) => line.startsWith(`relay -> ${peer} |`) || line.startsWith(`relay -x ${peer} |`));
    transport.lines.length = 0;
    return lines.map((line) => short(line.replace(`${membersDoc.id}`, "members")));
  }
  return { store, relay, send, connect, members, heard, doc };
}

const set = (who: TestAgent, role: Role): MemberOp => ({ op: "set", agent: who.agent, role });
const remove = (who: TestAgent): MemberOp => ({ op: "remove", agent: who.agent });

/** Bob's session in doc1, writing one transaction at a time. */
function bobWrites() {
  const next = writer(bob, doc1);
  let n = 0;
  return () => next(transactions(1, `bob-${n++}`));
}

/** `who`'s membership log for GROUP, founding it with `who` as admin. */
function foundingLog(who: TestAgent) {
  const header: DocHeader = { group: GROUP, kind: MEMBERS_KIND, creator: who.agent, createdAt: NOW, nonce: `members-${who.agent}`, meta: {} };
  const next = writer(who, { id: docIdOf(header), header });
  return () => next([{ at: NOW, data: JSON.stringify({ op: "set", agent: who.agent, role: "admin" }) }], { header: true });
}

describe("founding a group where anyone may (WEFT_FOUNDERS=anyone) on a relay with tokens", () => {
  it("is refused to a peer whose token makes it less than admin: the token would cap it there, and no one could manage the group", async () => {
    const { connect, send, heard } = relayWithTokens();
    await connect("bob", bob, tokenFor(bob, "writer"));
    await send("bob", foundingLog(bob)());
    expect(heard("bob").filter((line) => line.includes("error"))).toEqual([
      expect.stringMatching(/^relay -> bob \| error forbidden doc_\S+ "a peer whose token makes it a writer may not found a group: the token would cap it at writer there, and no one could manage the group; found it with an admin token"$/),
    ]);
  });

  it("is taken from a peer with an admin token, or without a token, which is then the group's admin", async () => {
    const { connect, send, heard } = relayWithTokens();
    await connect("tess", tess, tokenFor(tess, "admin"));
    await send("tess", foundingLog(tess)());
    expect(heard("tess").filter((line) => line.includes("error"))).toEqual([]);
    const other = relayWithTokens();
    await other.connect("alice", alice);
    await other.send("alice", foundingLog(alice)());
    expect(other.heard("alice").filter((line) => line.includes("error"))).toEqual([]);
  });
});

describe("tokens under a membership log", () => {
  it("a removed token holder is cut off at once, its writes are not stored or fanned out, and its token no longer admits it", async () => {
    const { store, send, connect, members, heard, doc } = relayWithTokens();
    await connect("alice", alice);
    await members(set(bob, "writer"));
    await send("alice", doc(transactions(1, "hello"), { header: true }));
    await connect("bob", bob, tokenFor(bob, "writer"));
    await send("bob", { type: "load", doc: doc1.id, known: { header: false, sessions: {} } });
    const bobWrite = bobWrites();
    await send("bob", bobWrite());
    expect(heard("bob")).toContain(`relay -> bob | known doc1 {bob:1} ack`);

    await members(remove(bob));
    expect(heard("bob")).toEqual([`relay -> bob | error unauthorized "this agent was removed from the group"`, "relay -x bob | close 1008 unauthorized"]);
    // The socket is gone: a frame racing the close changes nothing.
    await send("bob", bobWrite());
    expect(store.knownState(doc1.id).sessions[bob.session]).toBe(1);

    // The same, still valid, token: refused like any non-member.
    await connect("bob2", bob, tokenFor(bob, "writer"));
    expect(heard("bob2")).toEqual([
      "relay -> bob2 | challenge v=4 nonce=nonce-bob2",
      `relay -> bob2 | error unauthorized "this agent is not a member of the group"`,
      "relay -x bob2 | close 1008 unauthorized",
    ]);

    // Until an admin sets a role for it again: then the lower of the two.
    await members(set(bob, "reader"));
    await connect("bob3", bob, tokenFor(bob, "writer"));
    expect(heard("bob3")).toContain("relay -> bob3 | welcome v=4 role=reader members=members");
  });

  it("a demoted token holder is a reader from its next message on: its write is refused and reaches no one", async () => {
    const { store, send, connect, members, heard, doc } = relayWithTokens();
    await connect("alice", alice);
    await members(set(bob, "writer"));
    await send("alice", { ...doc(transactions(1, "hello"), { header: true }) });
    await connect("bob", bob, tokenFor(bob, "writer"));
    expect(heard("bob")).toContain("relay -> bob | welcome v=4 role=writer members=members");
    await send("bob", { type: "load", doc: doc1.id, known: { header: false, sessions: {} } });

    await members(set(bob, "reader"));
    heard("bob");
    const bobWrite = bobWrites();
    await send("bob", bobWrite());
    expect(heard("bob")).toEqual([`relay -> bob | error forbidden doc1 "a reader may not write"`]);
    expect(store.knownState(doc1.id).sessions[bob.session]).toBeUndefined();
    // Still a reader: it hears alice's next write.
    await send("alice", doc(transactions(1, "more", NOW + 10)));
    expect(heard("bob")).toEqual(["relay -> bob | content doc1 alice after=1 n=1"]);
  });

  it("a demoted token holder's frame of several writes is refused, each judged as a reader's", async () => {
    const { store, relay, connect, members, heard } = relayWithTokens();
    await connect("alice", alice);
    await members(set(bob, "writer"));
    await connect("bob", bob, tokenFor(bob, "writer"));
    await members(set(bob, "reader"));
    heard("bob");
    const headers = ["b1", "b2"].map((nonce): DocHeader => ({ group: GROUP, kind: "json", creator: bob.agent, createdAt: NOW, nonce, meta: {} }));
    const messages = headers.map((header) => writer(bob, { id: docIdOf(header), header })(transactions(1, "x"), { header: true }) as ClientMessage);
    await relay.dispatch({ type: "frame", peer: "bob", frame: batchFrame(messages.map(encodeForBatch)), now: NOW });
    expect(heard("bob").filter((line) => line.includes("error forbidden"))).toHaveLength(2);
    for (const header of headers) expect(store.header(docIdOf(header))).toBeUndefined();
  });

  it("an agent removed before it was ever a member is refused with its token; one the log never named keeps its token's role", async () => {
    const { connect, members, heard } = relayWithTokens();
    await connect("alice", alice);
    await members(remove(carol));
    await connect("carol", carol, tokenFor(carol, "admin"));
    expect(heard("carol")).toContain(`relay -> carol | error unauthorized "this agent is not a member of the group"`);
    await connect("tess", tess, tokenFor(tess, "writer"));
    expect(heard("tess")).toContain("relay -> tess | welcome v=4 role=writer members=members");
  });

  it("the log lowers a token's role: an admin token for a writer member is a writer, and may not delete", async () => {
    const { store, send, connect, members, heard, doc } = relayWithTokens();
    await connect("alice", alice);
    await members(set(bob, "writer"));
    await send("alice", doc(transactions(1, "hello"), { header: true }));
    await connect("bob", bob, tokenFor(bob, "admin"));
    expect(heard("bob")).toContain("relay -> bob | welcome v=4 role=writer members=members");
    await send("bob", { type: "delete", doc: doc1.id });
    expect(heard("bob")).toEqual([`relay -> bob | error forbidden doc1 "only an admin may delete documents"`]);
    expect(store.deleted(doc1.id)).toBe(false);
  });
});
