// Per-agent quota in a group (issue 10, item 9): one agent cannot fill a group's storage with documents,
// sessions or bytes (each transaction counts its data and STORED_BYTES_PER_TRANSACTION).
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_BYTES_PER_AGENT, MAX_DOCS_PER_AGENT, STORED_BYTES_PER_TRANSACTION, type Transaction } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { admit, closedGroup, docHeader, nextOf } from "./groups-helpers.ts";
import { snapshotOf } from "./snapshot-helpers.ts";
import { SessionWriter, allRows, closeAll, connect, groupStub, sqlRows, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const greedy = testAgent(31);
const other = testAgent(32);
/** What each transaction counts beyond its data. */
const PER_TRANSACTION = STORED_BYTES_PER_TRANSACTION;
const empties = (count: number): Transaction[] => Array.from({ length: count }, (_, i) => ({ at: 100 + i, data: "" }));

describe("per-agent quota", () => {
  it(`an agent's document past ${MAX_DOCS_PER_AGENT.toLocaleString("en")} is refused with quota_exceeded; the connection and other agents go on`, async () => {
    const group = uniqueGroup("quota-docs");
    const peer = await connect(group, greedy);
    for (let first = 0; first < MAX_DOCS_PER_AGENT; first += 2_500) {
      const docs = Array.from({ length: Math.min(2_500, MAX_DOCS_PER_AGENT - first) }, (_, i) => docHeader(greedy, group, `q-${first + i}`));
      peer.send({ type: "batch", messages: docs.map(({ id, header }) => ({ type: "content", doc: id, header, sessions: {} })) });
      await peer.next("known", (k) => k.doc === docs.at(-1)!.id, 60_000);
      peer.inbox.length = 0;
    }
    const extra = docHeader(greedy, group, "one-too-many");
    peer.send({ type: "content", doc: extra.id, header: extra.header, sessions: {} });
    expect(await nextOf(peer, (m) => m.type === "error" || (m.type === "known" && m.doc === extra.id))).toMatchObject({
      type: "error",
      code: "quota_exceeded",
      doc: extra.id,
    });
    expect(await sqlRows(group, "SELECT id FROM docs WHERE id = ?", extra.id)).toEqual([]);
    peer.send({ type: "dir", since: 1_000_000_000 });
    expect(await peer.next("dir")).toMatchObject({ docs: [] }); // still connected

    const theirs = await connect(group, other);
    const own = docHeader(other, group, "not-greedy");
    theirs.send({ type: "content", doc: own.id, header: own.header, sessions: {} });
    expect(await theirs.next("known", (k) => k.doc === own.id)).toMatchObject({ reason: "ack" });
    await Promise.all([peer.close(), theirs.close()]);
  }, 120_000);

  it("a deleted document no longer counts against its creator", async () => {
    const { group, adminPeer } = await closedGroup("quota-delete", other);
    const usage = async () => (await sqlRows<{ docs: number; sessions: number }>(group, "SELECT docs, sessions FROM agent_usage WHERE agent = ?", other.agent))[0];
    const doc = docHeader(other, group, "to-delete");
    adminPeer.send(new SessionWriter(other, doc.id).content(transactions(2), doc.header));
    await adminPeer.next("known", (k) => k.doc === doc.id);
    expect(await usage()).toEqual({ docs: 2, sessions: 1 }); // the membership log (no operations yet) and this document
    adminPeer.send({ type: "delete", doc: doc.id });
    await adminPeer.next("deleted");
    expect(await usage()).toEqual({ docs: 1, sessions: 0 });
    await adminPeer.close();
  });

  it("each write adds its data's UTF-8 bytes, and STORED_BYTES_PER_TRANSACTION a transaction, to its agent's stored bytes; deleting the document gives them back", async () => {
    const { group, adminPeer } = await closedGroup("quota-bytes", other);
    const bytes = async () => (await sqlRows<{ bytes: number }>(group, "SELECT bytes FROM agent_usage WHERE agent = ?", other.agent))[0]?.bytes ?? 0;
    const before = await bytes();
    const doc = docHeader(other, group, "counted");
    const log = new SessionWriter(other, doc.id);
    adminPeer.send(log.content([{ at: 1, data: "abc" }, { at: 2, data: "é€😀" }], doc.header)); // 3 + 2 + 3 + 4 bytes
    await adminPeer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    adminPeer.send(log.content([{ at: 3, data: "x".repeat(1_000) }]));
    await adminPeer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    expect(await bytes()).toBe(before + 1_012 + 3 * PER_TRANSACTION);
    adminPeer.send({ type: "delete", doc: doc.id });
    await adminPeer.next("deleted");
    expect(await bytes()).toBe(before);
    await adminPeer.close();
  });

  it(`a message that would take an agent past ${MAX_BYTES_PER_AGENT.toLocaleString("en")} stored bytes is refused whole with quota_exceeded; other agents go on`, async () => {
    const group = uniqueGroup("quota-bytes-limit");
    const peer = await connect(group, greedy);
    const doc = docHeader(greedy, group, "big");
    const first = new SessionWriter(greedy, doc.id);
    const second = new SessionWriter(testAgent(31, "session-two"), doc.id);
    peer.send(first.content([{ at: 1, data: "seed" }], doc.header));
    await peer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    // A gigabyte takes minutes to write: the agent's count, as the relay keeps it, is set one transaction of
    // 10 bytes short of the limit instead. The object is evicted first (its sockets stay) so it reads the count afresh.
    await evictDurableObject(groupStub(group));
    await sqlRows(group, "UPDATE agent_usage SET bytes = ? WHERE agent = ?", MAX_BYTES_PER_AGENT - 10 - PER_TRANSACTION, greedy.agent);
    const stored = await allRows(group);

    // Two sessions of a transaction of 6 bytes each do not fit in one of 10, so neither is stored.
    peer.send({ type: "content", doc: doc.id, sessions: { [first.session]: first.fork().append([{ at: 2, data: "abcdef" }]), [second.session]: second.fork().append([{ at: 2, data: "ghijkl" }]) } });
    expect(await nextOf(peer, (m) => m.type === "error" || m.type === "known")).toMatchObject({ type: "error", code: "quota_exceeded", doc: doc.id });
    expect(await allRows(group)).toEqual(stored);

    // Exactly up to the limit is stored; one byte more is refused, and the connection goes on.
    peer.send(first.content([{ at: 3, data: "0123456789" }]));
    expect(await nextOf(peer, (m) => m.type === "error" || m.type === "known")).toMatchObject({ type: "known", reason: "ack" });
    peer.send(first.fork().content([{ at: 4, data: "!" }]));
    expect(await nextOf(peer, (m) => m.type === "error" || m.type === "known")).toMatchObject({ type: "error", code: "quota_exceeded" });
    expect(await sqlRows(group, "SELECT bytes FROM agent_usage WHERE agent = ?", greedy.agent)).toEqual([{ bytes: MAX_BYTES_PER_AGENT }]);

    const theirs = await connect(group, other);
    const own = docHeader(other, group, "not-greedy");
    theirs.send(new SessionWriter(other, own.id).content(transactions(2), own.header));
    expect(await theirs.next("known", (k) => k.doc === own.id)).toMatchObject({ reason: "ack" });
    await Promise.all([peer.close(), theirs.close()]);
  });
  it(`empty transactions count ${STORED_BYTES_PER_TRANSACTION} bytes each: past the room left they are refused with quota_exceeded, nothing of the message stored, and deleting the document gives back exactly what they took`, async () => {
    const { group, adminPeer } = await closedGroup("quota-empty", other);
    const usage = async () => (await sqlRows<{ docs: number; sessions: number; bytes: number }>(group, "SELECT docs, sessions, bytes FROM agent_usage WHERE agent = ?", other.agent))[0];
    const answer = () => nextOf(adminPeer, (m) => m.type === "error" || (m.type === "known" && m.reason === "ack"));
    const doc = docHeader(other, group, "empties");
    adminPeer.send({ type: "content", doc: doc.id, header: doc.header, sessions: {} });
    await adminPeer.next("known", (k) => k.doc === doc.id);
    // Room for five empty transactions and 3 bytes, set as in the test above (a gigabyte of them takes long to write).
    const room = 5 * PER_TRANSACTION + 3;
    await evictDurableObject(groupStub(group));
    await sqlRows(group, "UPDATE agent_usage SET bytes = ? WHERE agent = ?", MAX_BYTES_PER_AGENT - room, other.agent);
    const before = await usage();

    const log = new SessionWriter(other, doc.id);
    for (let i = 0; i < 5; i++) {
      adminPeer.send(log.content(empties(1)));
      expect(await answer()).toMatchObject({ type: "known", doc: doc.id, sessions: { [other.session]: i + 1 } });
    }
    const stored = await allRows(group);
    adminPeer.send(log.fork().content(empties(1)));
    expect(await answer()).toMatchObject({
      type: "error",
      code: "quota_exceeded",
      doc: doc.id,
      message: `an agent may store at most ${MAX_BYTES_PER_AGENT} bytes in a group (each transaction counts its data and ${PER_TRANSACTION} bytes); it holds ${MAX_BYTES_PER_AGENT - 3}, and this message adds ${PER_TRANSACTION}`,
    });
    expect(await allRows(group)).toEqual(stored);
    expect(await sqlRows(group, "SELECT count, bytes FROM sessions WHERE id = ?", other.session)).toEqual([{ count: 5, bytes: 0 }]);

    adminPeer.send({ type: "delete", doc: doc.id });
    await adminPeer.next("deleted");
    expect(await usage()).toEqual({ ...before, docs: before!.docs - 1 });

    // The room is whole again, after a restart too: six at once are refused whole, five are stored.
    await evictDurableObject(groupStub(group));
    const again = docHeader(other, group, "empties-again");
    adminPeer.send({ type: "content", doc: again.id, header: again.header, sessions: {} });
    await adminPeer.next("known", (k) => k.doc === again.id);
    adminPeer.send(new SessionWriter(other, again.id).content(empties(6)));
    expect(await answer()).toMatchObject({ type: "error", code: "quota_exceeded", message: expect.stringMatching(new RegExp(`, and this message adds ${6 * PER_TRANSACTION}$`)) });
    expect(await sqlRows(group, "SELECT count(*) AS sessions FROM sessions WHERE id = ?", other.session)).toEqual([{ sessions: 0 }]);
    adminPeer.send(new SessionWriter(other, again.id).content(empties(5)));
    expect(await answer()).toMatchObject({ type: "known", doc: again.id, sessions: { [other.session]: 5 } });
    expect((await usage())!.bytes).toBe(MAX_BYTES_PER_AGENT - 3);
    await adminPeer.close();
  });

  it("a stored snapshot's data counts against its author's stored bytes: moved to the author of the one replacing it, given back when the document is deleted", async () => {
    // Greedy is an admin: a writer may snapshot only the documents it created.
    const { group, adminPeer } = await closedGroup("quota-snapshot-bytes", other, [[greedy, "admin"]]);
    const bytesOf = async (who: typeof other) => (await sqlRows<{ bytes: number }>(group, "SELECT bytes FROM agent_usage WHERE agent = ?", who.agent))[0]?.bytes ?? 0;
    const doc = docHeader(other, group, "snapshotted");
    const log = new SessionWriter(other, doc.id);
    adminPeer.send(log.content([{ at: 1, data: "abc" }], doc.header));
    await adminPeer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    const [otherBefore, greedyBefore] = [await bytesOf(other), await bytesOf(greedy)];

    adminPeer.send(snapshotOf(other, doc.id, { [other.session]: 1 }, "s".repeat(1_000)));
    expect(await adminPeer.next("snapshotted", (m) => m.doc === doc.id)).toMatchObject({ session: other.session });
    expect(await bytesOf(other)).toBe(otherBefore + 1_000);
    // Its own newer one replaces it: only the newer one counts.
    adminPeer.send(log.content([{ at: 2, data: "d" }]));
    await adminPeer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    adminPeer.send(snapshotOf(other, doc.id, { [other.session]: 2 }, "é".repeat(300))); // 600 bytes
    await adminPeer.next("snapshotted", (m) => m.doc === doc.id && m.covers[other.session] === 2);
    expect(await bytesOf(other)).toBe(otherBefore + 1 + PER_TRANSACTION + 600);
    // Another author's newer one (an admin's): its bytes leave the first author and count against the second.
    const { peer } = await admit(group, greedy);
    const theirs = new SessionWriter(greedy, doc.id);
    peer.send(theirs.content([{ at: 3, data: "g" }]));
    await peer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    peer.send(snapshotOf(greedy, doc.id, { [other.session]: 2, [greedy.session]: 1 }, Uint8Array.from({ length: 200 }, (_, i) => i)));
    expect(await nextOf(peer, (m) => m.type === "snapshotted" || m.type === "error")).toMatchObject({ type: "snapshotted", session: greedy.session });
    expect(await bytesOf(other)).toBe(otherBefore + 1 + PER_TRANSACTION);
    expect(await bytesOf(greedy)).toBe(greedyBefore + 1 + PER_TRANSACTION + 200);
    adminPeer.send({ type: "delete", doc: doc.id });
    await adminPeer.next("deleted");
    expect(await bytesOf(other)).toBe(otherBefore - 3 - PER_TRANSACTION);
    expect(await bytesOf(greedy)).toBe(greedyBefore);
    await Promise.all([adminPeer.close(), peer.close()]);
  });

  it(`a snapshot that would take its author past ${MAX_BYTES_PER_AGENT.toLocaleString("en")} stored bytes is refused with quota_exceeded, and nothing is stored`, async () => {
    const group = uniqueGroup("quota-snapshot-limit");
    const peer = await connect(group, greedy);
    const doc = docHeader(greedy, group, "big-snapshots");
    const log = new SessionWriter(greedy, doc.id);
    peer.send(log.content([{ at: 1, data: "seed" }], doc.header));
    await peer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    // A second transaction, for the newer snapshot below to cover, written before the quota is nearly used up.
    peer.send(log.content([{ at: 2, data: "" }]));
    await peer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    // As above: the agent's count set 10 bytes short of the limit, read afresh after an eviction.
    await evictDurableObject(groupStub(group));
    await sqlRows(group, "UPDATE agent_usage SET bytes = ? WHERE agent = ?", MAX_BYTES_PER_AGENT - 10, greedy.agent);
    const answer = () => nextOf(peer, (m) => (m.type === "snapshotted" || m.type === "error") && m.doc === doc.id);

    peer.send(snapshotOf(greedy, doc.id, { [greedy.session]: 1 }, "0123456789!"));
    expect(await answer()).toMatchObject({ type: "error", code: "quota_exceeded", message: expect.stringMatching(/this snapshot adds 11/) });
    expect(await sqlRows(group, "SELECT doc_num FROM snapshots")).toEqual([]);
    expect(await sqlRows(group, "SELECT bytes FROM agent_usage WHERE agent = ?", greedy.agent)).toEqual([{ bytes: MAX_BYTES_PER_AGENT - 10 }]);
    // Exactly up to the limit is stored; a newer one of the same size replaces it (its bytes are freed first).
    peer.send(snapshotOf(greedy, doc.id, { [greedy.session]: 1 }, "0123456789"));
    expect(await answer()).toMatchObject({ type: "snapshotted" });
    peer.send(snapshotOf(greedy, doc.id, { [greedy.session]: 2 }, "abcdefghij"));
    expect(await answer()).toMatchObject({ type: "snapshotted", covers: { [greedy.session]: 2 } });
    expect(await sqlRows(group, "SELECT bytes FROM agent_usage WHERE agent = ?", greedy.agent)).toEqual([{ bytes: MAX_BYTES_PER_AGENT }]);
    await peer.close();
  });
});
