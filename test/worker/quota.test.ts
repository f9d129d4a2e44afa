// Per-agent quota in a group (issue 10, item 9): one agent cannot fill a group's storage with documents,
// sessions or bytes.
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_BYTES_PER_AGENT, MAX_DOCS_PER_AGENT } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { closedGroup, docHeader, nextOf } from "./groups-helpers.ts";
import { SessionWriter, allRows, closeAll, connect, groupStub, sqlRows, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const greedy = testAgent(31);
const other = testAgent(32);

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

  it("each write adds its data's UTF-8 bytes to its agent's stored bytes; deleting the document gives them back", async () => {
    const { group, adminPeer } = await closedGroup("quota-bytes", other);
    const bytes = async () => (await sqlRows<{ bytes: number }>(group, "SELECT bytes FROM agent_usage WHERE agent = ?", other.agent))[0]?.bytes ?? 0;
    const before = await bytes();
    const doc = docHeader(other, group, "counted");
    const log = new SessionWriter(other, doc.id);
    adminPeer.send(log.content([{ at: 1, data: "abc" }, { at: 2, data: "é€😀" }], doc.header)); // 3 + 2 + 3 + 4 bytes
    await adminPeer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    adminPeer.send(log.content([{ at: 3, data: "x".repeat(1_000) }]));
    await adminPeer.next("known", (k) => k.doc === doc.id && k.reason === "ack");
    expect(await bytes()).toBe(before + 1_012);
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
    // A gigabyte takes minutes to write: the agent's count, as the relay keeps it, is set 10 bytes short of
    // the limit instead. The object is evicted first (its sockets stay) so it reads the count afresh.
    await evictDurableObject(groupStub(group));
    await sqlRows(group, "UPDATE agent_usage SET bytes = ? WHERE agent = ?", MAX_BYTES_PER_AGENT - 10, greedy.agent);
    const stored = await allRows(group);

    // Two sessions of 6 bytes each: 12 bytes do not fit in 10, so neither is stored.
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
});
