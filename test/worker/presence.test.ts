// Presence inside workerd, with the real object: fanned out to a document's readers, a snapshot for
// newcomers, cleared on close and on unsub, kept across eviction (socket attachments), rate limited,
// never written to SQLite, and only for those who may read the document.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PRESENCE_BURST, PRESENCE_MAX_BYTES, PRESENCE_MAX_DOCS_PER_PEER, PRESENCE_SILENT_MS, docIdOf, type DocHeader, type DocId, type Json } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions, type TestAgent } from "../support/identity.ts";
import { AUTO_PING, SessionWriter, closeAll, connect, emptyKnown, groupStub, sqlRows, uniqueGroup, type Peer } from "./socket.ts";
import { changeMembers, closedGroup, setRole } from "./groups-helpers.ts";
import { countSql } from "./sql-count.ts";

afterEach(closeAll);

const alice = testAgent(61);
const bob = testAgent(62);
const carol = testAgent(63);
const dave = testAgent(64);

/** `who` creates a document (optionally readable only by `readers`) and gets the ack. */
async function created(peer: Peer, who: TestAgent, group: string, options: { nonce?: string; readers?: TestAgent[] } = {}): Promise<DocId> {
  const base = testHeader(who, group, options.nonce ?? "nonce-0000").header;
  const header: DocHeader = options.readers ? { ...base, readers: options.readers.map((reader) => reader.agent) } : base;
  const id = docIdOf(header);
  peer.send(new SessionWriter(who, id).content(transactions(1), header));
  await peer.next("known", (known) => known.doc === id && known.reason === "ack");
  return id;
}

async function loaded(peer: Peer, doc: DocId): Promise<void> {
  peer.send({ type: "load", doc, known: emptyKnown });
  await peer.next("known", (known) => known.doc === doc && known.reason === "load");
  peer.drain("content");
}

/** Every peer state a socket has been sent for `doc`, merged in order as the SDK does, by session. */
function heard(peer: Peer, doc: DocId, into: Record<string, Json> = {}): Record<string, Json> {
  for (const message of peer.drain("presence")) {
    if (message.doc !== doc) continue;
    for (const shown of message.peers) {
      if (shown.state === undefined) delete into[shown.session];
      else into[shown.session] = shown.state as Json;
    }
  }
  return into;
}

async function hibernate(group: string): Promise<void> {
  await evictDurableObject(groupStub(group));
  await expect(evictDurableObject(groupStub(group))).rejects.toThrow(/not currently running/);
}

describe("presence", () => {
  it("reaches the document's readers only, a newcomer gets the snapshot, and a close clears it", async () => {
    const group = uniqueGroup("presence-fanout");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const c = await connect(group, carol);
    const doc = await created(a, alice, group);
    await loaded(b, doc);

    a.send({ type: "presence", doc, state: { cursor: 3, name: "Alice" } });
    expect(await b.next("presence")).toEqual({ type: "presence", doc, peers: [{ agent: alice.agent, session: alice.session, state: { cursor: 3, name: "Alice" } }] });
    b.send({ type: "presence", doc, state: { cursor: 9 } });
    expect((await a.next("presence")).peers).toEqual([{ agent: bob.agent, session: bob.session, state: { cursor: 9 } }]);

    // Carol has not loaded the document: she hears nothing of it until she does, then gets everyone at once.
    await c.sync();
    expect(c.drain("presence")).toEqual([]);
    c.send({ type: "load", doc, known: emptyKnown });
    await c.next("known", (known) => known.reason === "load");
    expect(heard(c, doc)).toEqual({ [alice.session]: { cursor: 3, name: "Alice" }, [bob.session]: { cursor: 9 } });
    // Nobody hears their own state back.
    await Promise.all([a.sync(), b.sync()]);
    expect(a.drain("presence")).toEqual([]);
    expect(b.drain("presence")).toEqual([]);

    // Alice's socket closes: the others hear she is gone.
    await a.close();
    const gone = [{ agent: alice.agent, session: alice.session }];
    expect((await b.next("presence")).peers).toEqual(gone);
    expect((await c.next("presence")).peers).toEqual(gone);
    // A whole-group open gets the snapshot too: Bob only, now.
    const d = await connect(group, dave);
    d.send({ type: "open", known: {} });
    await d.next("opened");
    expect(heard(d, doc)).toEqual({ [bob.session]: { cursor: 9 } });
    // Leaving the document (unsub) clears Bob's state for the others.
    b.send({ type: "unsub", doc });
    expect((await c.next("presence")).peers).toEqual([{ agent: bob.agent, session: bob.session }]);
    await d.sync();
    expect(heard(d, doc, { [bob.session]: { cursor: 9 } })).toEqual({});
    await Promise.all([b.close(), c.close(), d.close()]);
  });

  it("survives eviction of the object: the woken instance still knows every state, in the largest size allowed", async () => {
    const group = uniqueGroup("presence-evict");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const docs: DocId[] = [];
    for (let i = 0; i < PRESENCE_MAX_DOCS_PER_PEER; i++) docs.push(await created(a, alice, group, { nonce: `nonce-${i}000` }));
    const [doc] = docs as [DocId];
    await loaded(b, doc);
    // Alice's attachment at its fullest: every document, the whole byte budget, in text that is not Latin-1.
    const share = Math.floor(PRESENCE_MAX_BYTES / docs.length);
    const stateOf = (i: number) => "é".repeat((share - 2) / 2 - 1) + String(i); // UTF-8: 2 bytes per é, 2 quotes
    for (const [i, each] of docs.entries()) a.send({ type: "presence", doc: each, state: stateOf(i) });
    await a.sync();
    expect(a.drain("error")).toEqual([]);
    expect(heard(b, doc)).toEqual({ [alice.session]: stateOf(0) });
    b.send({ type: "presence", doc, state: { cursor: 1 } });
    await a.next("presence");

    const tag = await runInDurableObject(groupStub(group), (instance) => ((instance as unknown as { tag?: string }).tag = "before"));
    await hibernate(group);

    // A newcomer after eviction gets both states; a change after eviction reaches Bob.
    const c = await connect(group, carol);
    await loaded(c, doc);
    expect(heard(c, doc)).toEqual({ [alice.session]: stateOf(0), [bob.session]: { cursor: 1 } });
    await hibernate(group);
    a.send({ type: "presence", doc, state: "after" });
    expect((await b.next("presence")).peers).toEqual([{ agent: alice.agent, session: alice.session, state: "after" }]);
    await c.sync();
    expect(heard(c, doc)).toEqual({ [alice.session]: "after" });
    // Closing after eviction still clears it for the others.
    await hibernate(group);
    await a.close();
    expect((await c.next("presence")).peers).toEqual([{ agent: alice.agent, session: alice.session }]);
    expect(await runInDurableObject(groupStub(group), (instance) => (instance as unknown as { tag?: string }).tag)).not.toBe(tag);
    await Promise.all([b.close(), c.close()]);
  });

  it("drops messages over the rate with one rate_limited error; the connection and the last accepted state stand", async () => {
    const group = uniqueGroup("presence-rate");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const doc = await created(a, alice, group);
    await loaded(b, doc);
    // One frame: the relay handles it at one instant, so no budget comes back in between.
    const messages = Array.from({ length: PRESENCE_BURST + 10 }, (_, i) => ({ type: "presence", doc, state: i }));
    a.send({ type: "batch", messages });
    await a.sync();
    const errors = a.drain("error");
    expect(errors).toEqual([{ type: "error", code: "rate_limited", doc, message: expect.any(String), retryAfter: 1 }]);
    await b.sync();
    const passed = b.drain("presence").map((message) => message.peers[0]!.state);
    expect(passed).toEqual(Array.from({ length: PRESENCE_BURST }, (_, i) => i));
    // A newcomer sees the last state that got through, and the writer's socket still works.
    const c = await connect(group, carol);
    await loaded(c, doc);
    expect(heard(c, doc)).toEqual({ [alice.session]: PRESENCE_BURST - 1 });
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it("a second socket of the same session (a reconnect) keeps showing when the old one closes", async () => {
    const group = uniqueGroup("presence-same-session");
    const old = await connect(group, alice);
    const b = await connect(group, bob);
    const doc = await created(old, alice, group);
    await loaded(b, doc);
    old.send({ type: "presence", doc, state: "old socket" });
    await b.next("presence");
    // The client reconnected before the relay noticed its old socket go: readers key presence by session.
    const fresh = await connect(group, alice);
    await loaded(fresh, doc);
    fresh.send({ type: "presence", doc, state: "new socket" });
    expect((await b.next("presence")).peers[0]?.state).toBe("new socket");
    await old.close();
    expect((await b.next("presence")).peers).toEqual([{ agent: alice.agent, session: alice.session, state: "new socket" }]);
    await fresh.close();
    expect((await b.next("presence")).peers).toEqual([{ agent: alice.agent, session: alice.session }]);
    await b.close();
  });

  it("is never written to SQLite, and a presence message runs no SQL statement at all", async () => {
    const group = uniqueGroup("presence-unstored");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const doc = await created(a, alice, group);
    await loaded(b, doc);
    const marker = "presence-marker-7f3a";
    // Not one SQL statement: no write, and no row read (billed) for a fan-out to the document's readers.
    const counted = await countSql(group, async () => {
      a.send({ type: "presence", doc, state: { marker } });
      await b.next("presence");
      b.send({ type: "presence", doc });
      a.send({ type: "presence", doc, state: { marker, cursor: 2 } });
      await b.next("presence");
      await a.sync();
    });
    expect(counted).toEqual({ statements: 0, rowsRead: 0, rowsWritten: 0 });
    await hibernate(group);
    a.send({ type: "presence", doc, state: { marker: `${marker}-again` } });
    await b.next("presence");
    const tables = await sqlRows<{ name: string }>(group, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'");
    expect(tables.length).toBeGreaterThan(0);
    for (const { name } of tables) {
      const rows = await sqlRows(group, `SELECT * FROM "${name}"`);
      expect(JSON.stringify(rows), `table ${name}`).not.toContain(marker);
    }
    await Promise.all([a.close(), b.close()]);
  });

  it("follows the document's read access: refused to non-readers, never shown to them; oversize refused without closing", async () => {
    const group = uniqueGroup("presence-access");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const c = await connect(group, carol);
    const secret = await created(a, alice, group, { readers: [carol] });
    // Bob and Carol open the whole group: Bob is subscribed to everything but may not read the secret.
    for (const peer of [b, c]) {
      peer.send({ type: "open", known: {} });
      await peer.next("opened");
    }
    a.send({ type: "presence", doc: secret, state: "alice here" });
    expect((await c.next("presence")).peers[0]?.state).toBe("alice here");
    await b.sync();
    expect(b.drain("presence")).toEqual([]);

    b.send({ type: "presence", doc: secret, state: "bob here" });
    expect(await b.next("error")).toMatchObject({ code: "presence_refused", doc: secret });
    const unknown = docIdOf({ ...testHeader(bob, group).header, nonce: "nobody-has-it" });
    b.send({ type: "presence", doc: unknown, state: 1 });
    expect(await b.next("error")).toMatchObject({ code: "presence_refused", doc: unknown });
    // A newcomer that may not read it gets no snapshot of it either.
    const d = await connect(group, dave);
    d.send({ type: "open", known: {} });
    await d.next("opened");
    expect(d.drain("presence")).toEqual([]);

    c.send({ type: "presence", doc: secret, state: "x".repeat(PRESENCE_MAX_BYTES) });
    expect(await c.next("error")).toMatchObject({ code: "presence_too_large", doc: secret });
    await Promise.all([a.sync(), c.sync()]);
    expect(a.drain("presence")).toEqual([]);
    // Nothing closed; Carol's later state goes through.
    c.send({ type: "presence", doc: secret, state: "carol here" });
    expect((await a.next("presence")).peers[0]?.state).toBe("carol here");
    await Promise.all([a.close(), b.close(), c.close(), d.close()]);
  });

  it("is cleared for the others when a role change means its peer may no longer read the document", async () => {
    const { group, adminPeer: a, log } = await closedGroup("presence-role", alice, [[bob, "admin"], [carol, "writer"]]);
    const b = await connect(group, bob);
    const c = await connect(group, carol);
    const secret = await created(c, carol, group, { readers: [carol] });
    const open = await created(c, carol, group, { nonce: "open-to-all" });
    for (const doc of [secret, open]) await loaded(b, doc);
    // Bob, an admin, may read Carol's document and shows himself in both.
    b.send({ type: "presence", doc: secret, state: "bob in the secret" });
    b.send({ type: "presence", doc: open, state: "bob in the open one" });
    await b.sync();
    await c.sync();
    expect(heard(c, secret)).toEqual({ [bob.session]: "bob in the secret" }); // (both documents' messages drained)
    // Alice makes him a writer: the secret is no longer his to read, and Carol hears he is gone from it.
    expect(await changeMembers(a, log, [setRole(bob, "writer")])).toMatchObject({ reason: "ack" });
    await Promise.all([b.sync(), c.sync()]);
    const atCarol = c.drain("presence");
    expect(atCarol.filter((message) => message.doc === secret)).toEqual([{ type: "presence", doc: secret, peers: [{ agent: bob.agent, session: bob.session }] }]);
    // Where he may still read, his state stands; a newcomer to the secret gets no snapshot of him.
    expect(atCarol.filter((message) => message.doc === open)).toEqual([]);
    const c2 = await connect(group, testAgent(63, "carol-second-tab"));
    await loaded(c2, open);
    expect(heard(c2, open)).toEqual({ [bob.session]: "bob in the open one" });
    await loaded(c2, secret);
    await c2.sync();
    expect(heard(c2, secret)).toEqual({});
    // And he cannot show himself there again.
    b.send({ type: "presence", doc: secret, state: "back?" });
    expect(await b.next("error")).toMatchObject({ code: "presence_refused", doc: secret });
    await Promise.all([a.close(), b.close(), c.close(), c2.close()]);
  });
});

/** The object's alarm, as its storage holds it (null: none set). */
const alarmOf = (group: string): Promise<number | null> => runInDurableObject(groupStub(group), (_instance, state) => state.storage.getAlarm());

describe("peers gone without a close", () => {
  it("one that shows presence and goes PRESENCE_SILENT_MS without a frame or a ping is closed at the alarm, and its readers hear it left; one that pings or talks stays", async () => {
    const group = uniqueGroup("presence-silent");
    const silent = await connect(group, alice, { pings: true });
    const pinging = await connect(group, bob, { pings: true });
    const talking = await connect(group, carol, { pings: true });
    const reader = await connect(group, dave);
    const doc = await created(silent, alice, group);
    for (const peer of [pinging, talking, reader]) await loaded(peer, doc);
    silent.send({ type: "presence", doc, state: "a" });
    pinging.send({ type: "presence", doc, state: "b" });
    talking.send({ type: "presence", doc, state: "c" });
    await Promise.all([silent.sync(), pinging.sync(), talking.sync(), reader.sync()]);
    expect(heard(reader, doc)).toEqual({ [alice.session]: "a", [bob.session]: "b", [carol.session]: "c" });
    const shownBy = Date.now();

    // Later, one peer pings (the runtime answers, the object never sees it) and one sends a frame it sees.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    pinging.sendRaw(AUTO_PING);
    await pinging.next("pong");
    await talking.sync();

    // The alarm PRESENCE_SILENT_MS after the presence was shown (the object's clock set forward to it): the
    // silent peer is due, the other two not yet.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(shownBy + PRESENCE_SILENT_MS + 1_000);
    try {
      await runDurableObjectAlarm(groupStub(group));
    } finally {
      vi.useRealTimers();
    }
    expect((await reader.next("presence")).peers).toEqual([{ agent: alice.agent, session: alice.session }]);
    expect(await silent.closed).toEqual({ code: 1001, reason: `no frame or ping in ${PRESENCE_SILENT_MS / 1000} s` });
    // The others are still shown: a newcomer's snapshot has them.
    const newcomer = await connect(group, dave);
    await loaded(newcomer, doc);
    expect(heard(newcomer, doc)).toEqual({ [bob.session]: "b", [carol.session]: "c" });
    expect(pinging.ws.readyState).toBe(WebSocket.OPEN);
    expect(talking.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("sets no alarm while no peer shows presence: an idle group is never woken", async () => {
    const group = uniqueGroup("presence-alarm");
    const a = await connect(group, alice, { pings: true });
    const b = await connect(group, bob, { pings: true });
    const doc = await created(a, alice, group);
    await loaded(b, doc);
    await runDurableObjectAlarm(groupStub(group)); // the handshakes' deadlines: both said hello
    expect(await alarmOf(group)).toBeNull();

    // Shown: watched for silence.
    a.send({ type: "presence", doc, state: "here" });
    await b.next("presence");
    await a.sync();
    expect(await alarmOf(group)).not.toBeNull();

    // Cleared: the alarm then due finds no one to watch, and asks for none.
    a.send({ type: "presence", doc });
    await b.next("presence");
    expect(await runDurableObjectAlarm(groupStub(group))).toBe(true);
    expect(await alarmOf(group)).toBeNull();
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
  });
});
