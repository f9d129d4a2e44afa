// Objects that hold nothing of a group keep no storage. The token travels in the hello, inside the socket, so
// anyone can upgrade to any group name, and the object writes its tables, the name and a handshake alarm
// before anyone says who they are: once its last socket is gone (closed, refused, or timed out in the
// handshake) an object that stored no document, member or snapshot deletes it all. The same instance then
// serves the next visit from fresh storage.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HANDSHAKE_DEADLINE_MS } from "../../protocol/index.ts";
import { helloFrame, testAgent, transactions } from "../support/identity.ts";
import { docHeader } from "./groups-helpers.ts";
import { countSql } from "./sql-count.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, openSocket, sqlRows, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(111);
const bob = testAgent(112);

type Stored = { tables: string[]; alarm: number | null; instance: object };

/** The object's own tables (the platform's _cf_* left out) and its alarm, read in the object itself. */
const storedIn = (group: string): Promise<Stored> =>
  runInDurableObject(groupStub(group), async (instance, state) => ({
    tables: state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name NOT LIKE '!_cf!_%' ESCAPE '!'")
      .toArray()
      .map((row) => row.name),
    alarm: await state.storage.getAlarm(),
    instance,
  }));

/** Waits (at most 5 s) for the object to be left with no tables and no alarm: its last socket's close is handled after the client saw it. */
async function storageGone(group: string): Promise<Stored> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const stored = await storedIn(group);
    if ((stored.tables.length === 0 && stored.alarm === null) || Date.now() > deadline) return stored;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits (at most 5 s) until the runtime lists no socket of the object: their closes have reached it (a socket
 * the relay closed stays listed until its far end answers), and one more event has run after them.
 */
async function socketsGone(group: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await runInDurableObject(groupStub(group), (_instance, state) => state.getWebSockets().length)) > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await runInDurableObject(groupStub(group), () => undefined);
}

/** A socket that gets its challenge and never says hello; the object has written its tables and set the handshake alarm by then. */
async function silentVisit(group: string): Promise<Peer & { nonce: string }> {
  const peer = await openSocket(group);
  const { nonce } = await peer.next("challenge");
  const stored = await storedIn(group);
  expect(stored.tables).toContain("meta");
  expect(stored.alarm).not.toBeNull();
  return Object.assign(peer, { nonce });
}

/** The handshake alarm run as if HANDSHAKE_DEADLINE_MS had passed (the object's clock set forward). */
async function pastHandshakeDeadline(group: string): Promise<void> {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + HANDSHAKE_DEADLINE_MS + 1_000);
  try {
    await runDurableObjectAlarm(groupStub(group));
  } finally {
    vi.useRealTimers();
  }
}

describe("objects that hold nothing of a group", () => {
  it("a socket that never says hello and closes leaves no tables, rows or alarm behind", async () => {
    const group = uniqueGroup("bare-closed");
    const peer = await silentVisit(group);
    await peer.close();
    expect(await storageGone(group)).toMatchObject({ tables: [], alarm: null });
  });

  it("one closed at the handshake deadline (not_ready) leaves nothing either", async () => {
    const group = uniqueGroup("bare-deadline");
    const peer = await silentVisit(group);
    await pastHandshakeDeadline(group);
    expect(await peer.next("error")).toMatchObject({ code: "not_ready" });
    expect((await peer.closed).code).toBe(1008);
    expect(await storageGone(group)).toMatchObject({ tables: [], alarm: null });
  });

  it("one whose hello is refused leaves nothing either", async () => {
    const group = uniqueGroup("bare-refused");
    const peer = await silentVisit(group);
    peer.send(helloFrame(alice, "another-group", peer.nonce));
    expect(await peer.next("error")).toMatchObject({ code: "unauthorized" });
    expect((await peer.closed).code).toBe(1008);
    expect(await storageGone(group)).toMatchObject({ tables: [], alarm: null });
  });

  it("a refused visit writes no more rows than a silent one: the close its client answers after the deletion opens no new store", async () => {
    const silentGroup = uniqueGroup("bare-rows-silent");
    const silentCost = await countSql(silentGroup, async () => {
      await (await silentVisit(silentGroup)).close();
      await socketsGone(silentGroup);
    });
    const group = uniqueGroup("bare-rows-refused");
    const refusedCost = await countSql(group, async () => {
      const peer = await silentVisit(group);
      peer.send(helloFrame(alice, "another-group", peer.nonce));
      expect((await peer.closed).code).toBe(1008);
      await socketsGone(group);
    });
    expect(silentCost.rowsWritten).toBeGreaterThan(0);
    expect(refusedCost.rowsWritten).toBeLessThanOrEqual(silentCost.rowsWritten);
    expect(await storageGone(group)).toMatchObject({ tables: [], alarm: null });
  });

  it("after its storage is deleted, the same instance times out the next silent visit and serves a writer: create, write, reload", async () => {
    const group = uniqueGroup("bare-then-used");
    await (await silentVisit(group)).close();
    const { instance } = await storageGone(group);

    // The handshake alarm is set again (none is remembered from before) and closes the next silent socket.
    const silent = await silentVisit(group);
    await pastHandshakeDeadline(group);
    expect(await silent.next("error")).toMatchObject({ code: "not_ready" });
    expect(await storageGone(group)).toMatchObject({ tables: [], alarm: null, instance });

    const doc = docHeader(alice, group, "after");
    const log = new SessionWriter(alice, doc.id);
    const writer = await connect(group, alice);
    writer.send(log.content(transactions(2, "first"), doc.header));
    expect(await writer.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack" });
    writer.send(log.content(transactions(1, "second")));
    expect(await writer.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack", sessions: { [alice.session]: 3 } });
    await writer.close();

    // Its last socket gone, the group's document stays; a new visit reads it back from the same instance.
    const reader = await connect(group, bob);
    reader.send({ type: "load", doc: doc.id, known: emptyKnown });
    const content = await reader.next("content", (c) => c.doc === doc.id);
    expect(content.sessions[alice.session]!.transactions.map((tx) => tx.data)).toEqual(["first-0", "first-1", "second-0"]);
    await reader.close();
    expect((await storedIn(group)).instance).toBe(instance);
    expect(await sqlRows(group, "SELECT id FROM docs")).toEqual([{ id: doc.id }]);
  });

  it("a reader waiting for a document no one wrote yet keeps its subscription while silent visits come and go, and hears the document", async () => {
    const group = uniqueGroup("bare-waiting");
    const doc = docHeader(alice, group, "soon");
    const waiter = await connect(group, bob);
    waiter.send({ type: "load", doc: doc.id, known: emptyKnown });
    await waiter.next("known", (k) => k.doc === doc.id);
    await (await silentVisit(group)).close();
    await waiter.sync();
    expect(await sqlRows(group, "SELECT doc FROM subscriptions")).toEqual([{ doc: doc.id }]);

    const writer = await connect(group, alice);
    writer.send(new SessionWriter(alice, doc.id).content(transactions(1), doc.header));
    await writer.next("known", (k) => k.doc === doc.id);
    expect(await waiter.next("content", (c) => c.doc === doc.id)).toMatchObject({ header: doc.header });
    await Promise.all([waiter.close(), writer.close()]);
    expect(await sqlRows(group, "SELECT id FROM docs")).toEqual([{ id: doc.id }]);
  });

  it("a reader that waited for a document no one wrote leaves nothing once it is gone", async () => {
    const group = uniqueGroup("bare-waited");
    const waiter = await connect(group, bob);
    waiter.send({ type: "load", doc: docHeader(alice, group, "never").id, known: emptyKnown });
    await waiter.next("known");
    waiter.send({ type: "dir" });
    await waiter.next("dir");
    await waiter.close();
    expect(await storageGone(group)).toMatchObject({ tables: [], alarm: null });
  });
});
