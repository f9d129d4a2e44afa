// Transcript tests of the relay core and its driver: each scenario drives the real Relay over a MemoryStore
// and reads back what every peer received, line by line, as the protocol spec would write it.
import { describe, expect, it } from "vitest";
import { HANDSHAKE_DEADLINE_MS, MAX_PEERS_PER_GROUP, MAX_PENDING_HANDSHAKES, MAX_SOCKETS_PER_AGENT, batchFrame, encodeForBatch, type ClientMessage } from "../../protocol/index.ts";
import { helloFrame, signedChunk, transactions } from "../support/identity.ts";
import type { PeerRecord } from "../../worker/core/peer-records.ts";
import { GROUP, NOW, alice, bob, carol, doc1, doc2, nothingKnown, scenario, writer } from "./relay-transcript.ts";
import { withoutRepeatedLoads } from "../../worker/core/relay.ts";

describe("handshake", () => {
  it("challenges, then welcomes a hello signed over the nonce", async () => {
    const { open, send, transcript } = scenario();
    await open("alice");
    await send("alice", helloFrame(alice, GROUP, "nonce-alice"));
    await send("alice", { type: "ping" });
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> alice | challenge v=4 nonce=nonce-alice
      alice -> relay | hello v=4 alice g1
      relay -> alice | welcome v=4 role=writer
      alice -> relay | ping
      relay -> alice | pong"
    `);
  });

  it("refuses another protocol version (v3, whose clients never echo the marks of long answers) and closes with 1002", async () => {
    const { open, send, transcript } = scenario();
    await open("alice");
    await send("alice", { ...helloFrame(alice, GROUP, "nonce-alice"), v: 3 });
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> alice | challenge v=4 nonce=nonce-alice
      alice -> relay | hello v=3 alice g1
      relay -> alice | error unsupported_version "this relay speaks protocol v4, not v3"
      relay -x alice | close 1002 unsupported_version"
    `);
  });

  it("refuses a hello signed over another nonce and closes with 1008", async () => {
    const { open, send, transcript } = scenario();
    await open("alice");
    await send("alice", helloFrame(alice, GROUP, "nonce-replayed"));
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> alice | challenge v=4 nonce=nonce-alice
      alice -> relay | hello v=4 alice g1
      relay -> alice | error unauthorized "the hello signature does not verify for this agent"
      relay -x alice | close 1008 unauthorized"
    `);
  });

  it("refuses anything but hello (and ping) before the handshake", async () => {
    const { open, send, transcript } = scenario();
    await open("alice");
    await send("alice", { type: "ping" });
    await send("alice", { type: "load", doc: doc1.id, known: nothingKnown });
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> alice | challenge v=4 nonce=nonce-alice
      alice -> relay | ping
      relay -> alice | pong
      alice -> relay | load doc1 (no header) {}
      relay -> alice | error not_ready "send hello before load"
      relay -x alice | close 1008 not_ready"
    `);
  });

  it("counts only authenticated peers against MAX_PEERS_PER_GROUP; the next hello is refused with a retry hint", async () => {
    const members = Array.from({ length: MAX_PEERS_PER_GROUP }, (_, i): PeerRecord => ({ id: `member${i}`, phase: "ready", agent: alice.agent, session: alice.session }));
    const { open, connect, transcript, relay } = scenario(members);
    for (let i = 0; i < MAX_PENDING_HANDSHAKES; i++) await open(`silent${i}`);
    expect([...relay.state.peers.values()].filter((peer) => peer.phase === "ready")).toHaveLength(MAX_PEERS_PER_GROUP);
    transcript();
    await connect("bob", bob);
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> silent0 | error not_ready "too many connections are waiting in the handshake"
      relay -x silent0 | close 1008 not_ready
      relay -> bob | challenge v=4 nonce=nonce-bob
      bob -> relay | hello v=4 bob g1
      relay -> bob | error too_many_peers retryAfter=5 "this group has 32512 peers connected"
      relay -x bob | close 1013 too_many_peers"
    `);
  });

  it("counts an agent's sockets, those rebuilt after a wake included, against MAX_SOCKETS_PER_AGENT; other agents connect", async () => {
    const tabs = Array.from({ length: MAX_SOCKETS_PER_AGENT }, (_, i): PeerRecord => ({ id: `tab${i}`, phase: "ready", agent: alice.agent, session: alice.session }));
    const { connect, transcript } = scenario(tabs);
    await connect("alice", alice);
    await connect("bob", bob);
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> alice | challenge v=4 nonce=nonce-alice
      alice -> relay | hello v=4 alice g1
      relay -> alice | error too_many_peers retryAfter=5 "this agent has 64 sockets connected to this group"
      relay -x alice | close 1013 too_many_peers
      relay -> bob | challenge v=4 nonce=nonce-bob
      bob -> relay | hello v=4 bob g1
      relay -> bob | welcome v=4 role=writer"
    `);
  });

  it("a socket silent past the handshake deadline is closed by the alarm; too many waiting push out the oldest", async () => {
    const { open, connect, transcript, relay, transport } = scenario();
    await open("early", NOW);
    for (let i = 1; i < MAX_PENDING_HANDSHAKES; i++) await open(`silent${i}`, NOW + 1);
    transcript();
    await connect("alice", alice); // one more waiting than the quota: the one that waited longest goes
    expect(transcript().split("\n").slice(0, 3).join("\n")).toMatchInlineSnapshot(`
      "relay -> early | error not_ready "too many connections are waiting in the handshake"
      relay -x early | close 1008 not_ready
      relay -> alice | challenge v=4 nonce=nonce-alice"
    `);
    await relay.dispatch({ type: "alarm", now: NOW + HANDSHAKE_DEADLINE_MS + 1 });
    const lines = transcript().split("\n");
    expect(lines.filter((line) => line.includes("close 1008 not_ready"))).toHaveLength(MAX_PENDING_HANDSHAKES - 1);
    expect(lines.some((line) => line.includes("alice"))).toBe(false);
    expect([...relay.state.peers.keys()]).toEqual(["alice"]);
    expect(transport.alarms.at(-1)).toBe(NOW + HANDSHAKE_DEADLINE_MS);
  });
});

describe("writing and fan-out", () => {
  it("stores new content, acks the writer without echo, and sends subscribers exactly the new transactions", async () => {
    const { connect, send, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    transcript();
    const write = writer(alice, doc1);
    await send("alice", { type: "load", doc: doc1.id, known: nothingKnown });
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    await send("alice", write(transactions(3), { header: true }));
    await send("alice", write(transactions(2, "more")));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | load doc1 (no header) {}
      relay -> alice | known doc1 (no header) {} load
      bob -> relay | load doc1 (no header) {}
      relay -> bob | known doc1 (no header) {} load
      alice -> relay | content doc1 +header alice after=0 n=3
      relay -> alice | known doc1 {alice:3} ack
      relay -> bob | content doc1 +header alice after=0 n=3
      alice -> relay | content doc1 alice after=3 n=2
      relay -> alice | known doc1 {alice:5} ack
      relay -> bob | content doc1 alice after=3 n=2"
    `);
  });

  it("sends a late joiner exactly the range it lacks, then its known state", async () => {
    const { connect, send, transcript } = scenario();
    await connect("alice", alice);
    await connect("carol", carol);
    const write = writer(alice, doc1);
    await send("alice", write(transactions(3), { header: true }));
    await send("alice", write(transactions(2, "more")));
    transcript();
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 2 } } });
    await send("carol", { type: "load", doc: doc1.id, known: nothingKnown });
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 5 } } });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | load doc1 {alice:2}
      relay -> carol | content doc1 alice after=2 n=3
      relay -> carol | known doc1 {alice:5} load
      carol -> relay | load doc1 (no header) {}
      relay -> carol | content doc1 +header alice after=0 n=5
      relay -> carol | known doc1 {alice:5} load
      carol -> relay | load doc1 {alice:5}
      relay -> carol | known doc1 {alice:5} load"
    `);
  });

  it("answers a wrong `after` with a correction and stores nothing", async () => {
    const { connect, send, store, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    await send("alice", write(transactions(3), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 3 } } });
    transcript();
    await send("alice", write(transactions(2, "gap"), { after: 5 }));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | content doc1 alice after=5 n=2
      relay -> alice | known doc1 {alice:3} correction"
    `);
    expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 3 } });
  });

  it("refuses a forged checkpoint signature: nothing stored, nothing fanned out", async () => {
    const { connect, send, store, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    await send("alice", writer(alice, doc1)(transactions(3), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 3 } } });
    transcript();
    const forged = signedChunk({ ...alice, secretKey: bob.secretKey }, doc1.id, 3, transactions(1, "forged")).chunk;
    await send("alice", { type: "content", doc: doc1.id, sessions: { [alice.session]: forged } });
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | content doc1 alice after=3 n=1
      relay -> alice | error bad_signature doc1 alice "the checkpoint signature does not match these transactions; nothing of this message was stored""
    `);
    expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 3 } });
  });

  it("refuses writes to another agent's session: nothing stored, nothing fanned out", async () => {
    const { connect, send, store, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    await send("alice", writer(alice, doc1)(transactions(1), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 1 } } });
    transcript();
    // Bob's own valid signature, replayed by alice: only the session's owner may write it.
    const bobs = signedChunk(bob, doc1.id, 0, transactions(1, "bob")).chunk;
    await send("alice", { type: "content", doc: doc1.id, sessions: { [bob.session]: bobs } });
    const lines = transcript().split("\n");
    expect(lines).toContain(`relay -> alice | error forbidden doc1 bob "only the session's own agent may write it"`);
    expect(lines.filter((line) => line.includes("-> bob"))).toEqual([]);
    expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 1 } });
  });

  it("refuses a whole frame when one of its sessions is another agent's, and keeps the writer connected", async () => {
    const { connect, send, store, relay, transcript } = scenario();
    await connect("alice", alice);
    const own = signedChunk(alice, doc1.id, 0, transactions(1)).chunk;
    const bobs = signedChunk(bob, doc1.id, 0, transactions(1, "bob")).chunk;
    transcript();
    await send("alice", { type: "content", doc: doc1.id, header: doc1.header, sessions: { [alice.session]: own, [bob.session]: bobs } });
    expect(store.knownState(doc1.id)).toEqual({ header: false, sessions: {} });
    expect(transcript()).toBe(
      [
        "alice -> relay | content doc1 +header alice after=0 n=1, bob after=0 n=1",
        `relay -> alice | error forbidden doc1 bob "only the session's own agent may write it"`,
      ].join("\n"),
    );
    expect(relay.state.peers.get("alice")?.phase).toBe("ready");
  });

  it("refuses a header that does not hash to the document id", async () => {
    const { connect, send, store, transcript } = scenario();
    await connect("alice", alice);
    transcript();
    const chunk = signedChunk(alice, doc1.id, 0, transactions(1)).chunk;
    await send("alice", { type: "content", doc: doc1.id, header: doc2.header, sessions: { [alice.session]: chunk } });
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | content doc1 +header alice after=0 n=1
      relay -> alice | error bad_header doc1 "the header does not hash to the document id""
    `);
    expect(store.header(doc1.id)).toBeUndefined();
  });

  it("refuses content for a document it has never seen the header of", async () => {
    const { connect, send, store, transcript } = scenario();
    await connect("alice", alice);
    transcript();
    await send("alice", writer(alice, doc1)(transactions(1)));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | content doc1 alice after=0 n=1
      relay -> alice | error unknown_doc doc1 "send the header with the first content of a document""
    `);
    expect(store.knownState(doc1.id)).toEqual(nothingKnown);
  });
});

describe("subscriptions", () => {
  it("stops fan-out after unsub", async () => {
    const { connect, send, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    await send("alice", write(transactions(1), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 1 } } });
    transcript();
    await send("alice", write(transactions(1, "seen")));
    await send("bob", { type: "unsub", doc: doc1.id });
    await send("alice", write(transactions(1, "unseen")));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | content doc1 alice after=1 n=1
      relay -> alice | known doc1 {alice:2} ack
      relay -> bob | content doc1 alice after=1 n=1
      bob -> relay | unsub doc1
      alice -> relay | content doc1 alice after=2 n=1
      relay -> alice | known doc1 {alice:3} ack"
    `);
  });

  it("sends nothing more to a peer that closed, and ignores its late frames", async () => {
    const { connect, send, close, relay, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    await send("alice", write(transactions(1), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 1 } } });
    transcript();
    await close("bob");
    await send("alice", write(transactions(1, "after-close")));
    await send("bob", { type: "ping" });
    expect(transcript()).toMatchInlineSnapshot(`
      "bob -x relay | closed
      alice -> relay | content doc1 alice after=1 n=1
      relay -> alice | known doc1 {alice:2} ack
      bob -> relay | ping"
    `);
    expect(relay.state.peers.has("bob")).toBe(false);
  });

  it("closes a peer whose send fails with 1011, and still fans out to the others", async () => {
    const { connect, send, transport, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    await connect("carol", carol);
    const write = writer(alice, doc1);
    await send("alice", write(transactions(1), { header: true }));
    const upToDate = { header: true, sessions: { [alice.session]: 1 } };
    await send("bob", { type: "load", doc: doc1.id, known: upToDate });
    await send("carol", { type: "load", doc: doc1.id, known: upToDate });
    transcript();
    transport.failing.add("bob");
    await send("alice", write(transactions(2, "first")));
    await send("alice", write(transactions(1, "second")));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | content doc1 alice after=1 n=2
      relay -> alice | known doc1 {alice:3} ack
      relay -x bob | close 1011 send failed
      relay -> carol | content doc1 alice after=1 n=2
      alice -> relay | content doc1 alice after=3 n=1
      relay -> alice | known doc1 {alice:4} ack
      relay -> carol | content doc1 alice after=3 n=1"
    `);
  });

  it("a peer whose socket fails in the middle of its own frame: what it wrote before reaches the others, the rest of the frame goes unhandled", async () => {
    const { connect, send, transport, transcript, store, relay } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    await send("alice", write(transactions(1), { header: true }));
    await send("alice", writer(alice, doc2)(transactions(1, "x".repeat(60_000)), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 1 } } });
    transcript();
    // Alice's frame: a write (stored before the load is judged), a load whose answer is large enough to go at
    // once (her socket fails then), and a second write, never judged.
    transport.failing.add("alice");
    const messages = [write(transactions(1, "kept")), { type: "load", doc: doc2.id, known: nothingKnown }, write(transactions(1, "unhandled"))] as ClientMessage[];
    await relay.dispatch({ type: "frame", peer: "alice", frame: batchFrame(messages.map((message) => encodeForBatch(message))), now: NOW });
    const lines = transcript();
    expect(lines).toContain("relay -x alice | close 1011 send failed");
    expect(lines).toContain("relay -> bob | content doc1 alice after=1 n=1");
    expect(lines).not.toContain("after=2");
    expect(store.knownState(doc1.id).sessions[alice.session]).toBe(2);
  });
});

describe("reading", () => {
  it("lists every document with its known state in a dir", async () => {
    const { connect, send, transcript } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    await send("alice", writer(alice, doc1)(transactions(3), { header: true }));
    await send("alice", writer(alice, doc2)([], { header: true }));
    transcript();
    await send("bob", { type: "dir" });
    expect(transcript()).toMatchInlineSnapshot(`
      "bob -> relay | dir
      relay -> bob | dir [doc1 {alice:3}, doc2 {}] more=false cursor=2"
    `);
  });
});

describe("a frame's repeated loads", () => {
  const load = (doc: typeof doc1, count: number) => ({ type: "load" as const, doc: doc.id, known: { header: true, sessions: { [alice.session]: count } } });
  const content = { type: "content" as const, doc: doc1.id, sessions: {} };

  it("are answered once, by the last load of the document; another document's load and the order stay", () => {
    const frame = [load(doc1, 0), load(doc2, 0), load(doc1, 1), load(doc1, 2)];
    expect(withoutRepeatedLoads(frame)).toEqual([load(doc2, 0), load(doc1, 2)]);
  });

  it("a write to the document between two loads keeps both: the second asks after it", () => {
    const frame = [load(doc1, 0), content, load(doc1, 1)];
    expect(withoutRepeatedLoads(frame)).toBe(frame);
  });
});
