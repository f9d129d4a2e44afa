// The directory (cursor, digest, tombstones) and deleting documents, against the real object and SQLite.
import { afterEach, describe, expect, it } from "vitest";
import { batchFrame, digestOf, docIdOf, encodeForBatch, sha256, toBase64Url, utf8, type AgentId, type ClientMessage, type DirEntry, type DocId, type KnownState } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { closedGroup, docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, emptyKnown, sqlRows, storedTransactionCount, uniqueGroup, type Peer } from "./socket.ts";
import { snapshotOf } from "./snapshot-helpers.ts";
import { countSql } from "./sql-count.ts";

afterEach(closeAll);

const alice = testAgent(91);
const bob = testAgent(92);
const carol = testAgent(93);
const dave = testAgent(94);

/** `who` creates a document with `count` transactions and waits for the ack. */
async function create(peer: Peer, who: typeof alice, group: string, nonce: string, count = 2, readers?: (typeof alice)[]) {
  const { id, header } = docHeader(who, group, nonce, readers?.map((reader) => reader.agent));
  const log = new SessionWriter(who, id);
  peer.send(log.content(transactions(count, nonce), header));
  expect(await peer.next("known", (k) => k.doc === id)).toMatchObject({ reason: "ack" });
  return { id, header, log };
}

async function dir(peer: Peer, request: { since?: number; digest?: string } = {}) {
  peer.send({ type: "dir", ...request });
  return peer.next("dir");
}

/** A listing of every frame it takes (MAX_DOCS_PER_DIR_FRAME a frame). */
async function dirAll(peer: Peer, request: { since?: number } = {}) {
  peer.send({ type: "dir", ...request });
  const docs: DirEntry[] = [];
  for (;;) {
    const frame = await peer.next("dir");
    docs.push(...frame.docs);
    if (!frame.more) return { ...frame, docs };
  }
}

const held = (docs: DirEntry[]): [DocId, KnownState][] => docs.map((entry) => [entry.id, entry.known]);

describe("directory", () => {
  it("dir since a cursor lists only later changes, in the order they happened, tombstones included", async () => {
    const { group, adminPeer: a } = await closedGroup("dir-since", alice, [[bob, "writer"]]);
    const b = await connect(group, bob);
    const [one, two, three] = [await create(b, bob, group, "one"), await create(b, bob, group, "two"), await create(b, bob, group, "three")];
    const first = await dir(b);
    expect(first.docs).toHaveLength(4);

    b.send(one.log.content(transactions(1, "later")));
    await b.next("known", (k) => k.doc === one.id);
    a.send({ type: "delete", doc: two.id });
    await a.next("deleted");
    const four = await create(b, bob, group, "four");

    const changes = await dir(b, { since: first.cursor });
    expect(changes.docs.map((entry) => entry.id)).toEqual([one.id, two.id, four.id]);
    expect(changes.docs[0]!.known).toEqual({ header: true, sessions: { [bob.session]: 3 } });
    expect(changes.docs[1]).toMatchObject({ id: two.id, deleted: true, known: { header: false, sessions: {} } });
    expect(changes.docs.filter((entry) => entry.deleted)).toHaveLength(1);
    expect(changes.cursor).toBeGreaterThan(first.cursor);
    expect(changes.docs.some((entry) => entry.id === three.id)).toBe(false);

    expect(await dir(b, { since: changes.cursor })).toMatchObject({ docs: [], more: false, cursor: changes.cursor });
    await Promise.all([a.close(), b.close()]);
  });

  it("a client holding exactly what the relay holds is told inSync with no document data; one transaction behind is not", async () => {
    const group = uniqueGroup("dir-digest");
    const b = await connect(group, bob);
    for (const nonce of ["d1", "d2", "d3"]) await create(b, bob, group, nonce, 3);
    const full = await dir(b);
    expect(digestOf(held(full.docs))).toBe(full.digest);

    const sizeBefore = b.received.length;
    const answer = await dir(b, { digest: full.digest });
    expect(answer).toEqual({ type: "dir", docs: [], more: false, cursor: full.cursor, digest: full.digest, inSync: true });
    expect(b.received.slice(sizeBefore)).toEqual([{ type: "dir", bytes: expect.any(Number) }]);
    expect(b.received.at(-1)!.bytes).toBeLessThan(200);

    const behind = held(full.docs).map(([id, known], index): [DocId, KnownState] =>
      index === 0 ? [id, { header: true, sessions: { [bob.session]: 2 } }] : [id, known],
    );
    const answerBehind = await dir(b, { digest: digestOf(behind) });
    expect(answerBehind.inSync).toBe(false);
    expect(answerBehind.docs.map((entry) => entry.id).sort()).toEqual(full.docs.map((entry) => entry.id).sort());
    await b.close();
  });

  it("a reader left out of a private document is inSync once it holds everything it may read", async () => {
    const { group, adminPeer } = await closedGroup("dir-digest-private", alice, [[bob, "writer"], [carol, "reader"], [dave, "reader"]]);
    const b = await connect(group, bob);
    await create(b, bob, group, "private", 1, [carol]);
    await create(b, bob, group, "public", 1);
    const d = await connect(group, dave);
    const visible = await dir(d);
    expect(visible.docs).toHaveLength(2);
    expect(await dir(d, { digest: digestOf(held(visible.docs)) })).toMatchObject({ docs: [], inSync: true });
    await Promise.all([adminPeer.close(), b.close(), d.close()]);
  });

  it("a reader's own digest reads the private documents only, not the whole group, after every write", async () => {
    const { group, adminPeer } = await closedGroup("dir-digest-cost", alice, [[bob, "writer"], [carol, "reader"], [dave, "reader"]]);
    const b = await connect(group, bob);
    const publicDocs = Array.from({ length: 600 }, (_, i) => docHeader(bob, group, `public-${i}`));
    b.send({ type: "batch", messages: publicDocs.map(({ id, header }) => ({ type: "content", doc: id, header, sessions: {} })) });
    await b.next("known", (k) => k.doc === publicDocs.at(-1)!.id);
    await create(b, bob, group, "for-carol", 1, [carol]);
    await create(b, bob, group, "for-bob", 1, [bob]);
    // The membership log and the public documents; carol also hers, dave also the one written for carol's turn.
    for (const [reader, sees] of [[carol, 602], [dave, 602]] as const) {
      const peer = await connect(group, reader);
      const visible = await dirAll(peer);
      expect(visible.docs).toHaveLength(sees);
      // A write since: the reader's digest (which every answer carries) is taken again, reading the two
      // private documents and the one changed.
      await create(b, bob, group, `later-${reader.agent.slice(-6)}`, 1);
      let changed: DirEntry[] = [];
      const cost = await countSql(group, async () => {
        changed = (await dirAll(peer, { since: visible.cursor })).docs;
      });
      expect(cost.rowsRead).toBeLessThan(50);
      expect(await dir(peer, { digest: digestOf(held([...visible.docs, ...changed])) })).toMatchObject({ docs: [], inSync: true });
      await peer.close();
    }
    await Promise.all([adminPeer.close(), b.close()]);
  });
});

describe("a member's own digest in a group of many private documents", () => {
  it("a frame of writes and dirs from a member who is not an admin reads none of them, however many there are", async () => {
    const { group, adminPeer } = await closedGroup("dir-digest-frame", alice, [[bob, "writer"], [carol, "writer"]]);
    const b = await connect(group, bob);
    const privateDocs = Array.from({ length: 1_000 }, (_, i) => docHeader(bob, group, `private-${i}`, []));
    b.send({ type: "batch", messages: privateDocs.map(({ id, header }) => ({ type: "content", doc: id, header, sessions: {} })) });
    await b.next("known", (k) => k.doc === privateDocs.at(-1)!.id);
    const c = await connect(group, carol);
    const { log } = await create(c, carol, group, "shared", 1);
    const visible = await dirAll(c);
    expect(visible.docs.map((entry) => entry.id)).not.toContain(privateDocs[0]!.id);
    // 16 writes, each followed by a dir that carries the reader's digest: each dir takes the reader's
    // digest again after a write.
    const messages = Array.from({ length: 16 }, (_, i) => [log.content(transactions(1, `w${i}`)), { type: "dir", since: 1e9, digest: "A".repeat(43) }]).flat();
    const cost = await countSql(group, async () => {
      c.sendRaw(batchFrame(messages.map((message) => encodeForBatch(message as ClientMessage))));
      for (let i = 0; i < 16; i++) await c.next("dir", (answer) => !answer.more);
    });
    // Before, each dir read every private document (at least 16,000 rows); now it reads the reader's sum.
    expect(cost.rowsRead).toBeLessThan(400);
    // And the digest is still the reader's own: what carol holds of what she may read.
    const now = await dirAll(c);
    expect(await dir(c, { digest: digestOf(held(now.docs)) })).toMatchObject({ docs: [], inSync: true });
    await Promise.all([adminPeer.close(), b.close(), c.close()]);
  });
});

describe("a member's own digest, kept", () => {
  it("stays its own when a document names it twice (its creator among its readers), through writes and the document's delete", async () => {
    const { group, adminPeer: a } = await closedGroup("dir-named-twice", alice, [[bob, "writer"], [carol, "writer"]]);
    const b = await connect(group, bob);
    const c = await connect(group, carol);
    await create(b, bob, group, "bobs", 1, [bob]);
    /** Whether carol, holding all she was listed, is told inSync. */
    const inSync = async () => {
      const listed = (await dirAll(c)).docs.filter((entry) => !entry.deleted);
      return (await dir(c, { since: 1e12, digest: digestOf(held(listed)) })).inSync;
    };
    expect(await inSync()).toBe(true); // her share is taken now
    const mine = await create(c, carol, group, "mine", 1, [carol, bob, carol]);
    expect(await inSync()).toBe(true);
    c.send(mine.log.content(transactions(1, "more")));
    await c.next("known", (k) => k.doc === mine.id && k.reason === "ack");
    expect(await inSync()).toBe(true);
    a.send({ type: "delete", doc: mine.id });
    await a.next("deleted");
    expect(await inSync()).toBe(true);
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});

describe("readers named in headers", () => {
  it("cost nothing until one asks for its digest: 100 documents naming 64 made-up readers each are stored in a dozen statements, and no share is kept for them", async () => {
    const { group, adminPeer } = await closedGroup("dir-made-up-readers", alice, [[bob, "writer"], [carol, "writer"]]);
    const b = await connect(group, bob);
    // Any id may be named: these are not members, and will never ask.
    const madeUp = (i: number) => Array.from({ length: 64 }, (_, j) => `ag_${toBase64Url(sha256(utf8(`made-up ${i} ${j}`)))}` as AgentId);
    const docs = Array.from({ length: 100 }, (_, i) => docHeader(bob, group, `named-${i}`, madeUp(i)));
    const stored = await countSql(group, async () => {
      b.sendRaw(batchFrame(docs.map(({ id, header }) => encodeForBatch(new SessionWriter(bob, id).content(transactions(1, "x"), header) as ClientMessage))));
      await b.next("known", (k) => k.doc === docs.at(-1)!.id);
    });
    // A member asks for its digest after the writes: the sums are folded then.
    const c = await connect(group, carol);
    const asked = await countSql(group, async () => void (await dirAll(c)));
    await c.close();
    // As many statements as a frame of 100 documents that limit no one's reading (a dozen), not one per reader named.
    expect(stored.statements).toBeLessThanOrEqual(15);
    expect(asked.statements).toBeLessThanOrEqual(10);
    // Only the agent that asked has a share kept, an empty one in a few bytes; the 6,400 named ones none.
    expect(await sqlRows(group, "SELECT agent, length(sum) AS bytes FROM reader_sums")).toEqual([{ agent: carol.agent, bytes: 0 }]);
    await Promise.all([adminPeer.close(), b.close()]);
  });
});

describe("delete", () => {
  it("a writer may not delete, nor may anyone delete the membership log", async () => {
    const { group, adminPeer: a, membersDoc } = await closedGroup("del-forbidden", alice, [[bob, "writer"]]);
    const b = await connect(group, bob);
    const doc = await create(b, bob, group, "keep");
    b.send({ type: "delete", doc: doc.id });
    expect(await b.next("error")).toMatchObject({ code: "forbidden", doc: doc.id });
    a.send({ type: "delete", doc: membersDoc });
    expect(await a.next("error")).toMatchObject({ code: "forbidden", doc: membersDoc });
    expect(await sqlRows(group, "SELECT deleted FROM docs ORDER BY num")).toEqual([{ deleted: 0 }, { deleted: 0 }]);
    // The membership log's one operation (Bob's role) and the document's two transactions are all still there.
    expect(await storedTransactionCount(group)).toBe(3);
    b.send({ type: "load", doc: doc.id, known: emptyKnown });
    expect(await b.next("known", (k) => k.reason === "load")).toMatchObject({ header: true, sessions: { [bob.session]: 2 } });
    await Promise.all([a.close(), b.close()]);
  });

  it("an admin's delete frees storage, tells the deleter and every subscriber, and later writes get doc_deleted", async () => {
    const { group, adminPeer: a } = await closedGroup("del-admin", alice, [[bob, "writer"], [carol, "writer"], [dave, "reader"]]);
    const [b, c, d] = [await connect(group, bob), await connect(group, carol), await connect(group, dave)];
    const doomed = await create(b, bob, group, "doomed", 3);
    const kept = await create(b, bob, group, "kept", 1);
    const carolLog = new SessionWriter(carol, doomed.id);
    c.send(carolLog.content(transactions(2, "carol")));
    await c.next("known", (k) => k.doc === doomed.id);
    c.send({ type: "load", doc: doomed.id, known: emptyKnown });
    await c.next("known", (k) => k.reason === "load");
    d.send({ type: "open", known: {} });
    await d.next("opened");
    const docNum = (await sqlRows<{ num: number }>(group, "SELECT num FROM docs WHERE id = ?", doomed.id))[0]!.num;
    expect(await sqlRows(group, "SELECT COUNT(*) AS n FROM sessions WHERE doc_num = ?", docNum)).toEqual([{ n: 2 }]);
    const total = () => storedTransactionCount(group);
    const before = await total();

    a.send({ type: "delete", doc: doomed.id });
    for (const peer of [a, c, d]) expect(await peer.next("deleted")).toEqual({ type: "deleted", doc: doomed.id });
    expect(await sqlRows(group, "SELECT COUNT(*) AS n FROM sessions WHERE doc_num = ?", docNum)).toEqual([{ n: 0 }]);
    expect(await total()).toBe(before - 5); // Bob's 3 and Carol's 2 are gone, nothing else

    const tombstone = (await dir(d)).docs.find((entry) => entry.id === doomed.id);
    expect(tombstone).toMatchObject({ deleted: true, known: { header: false, sessions: {} } });
    b.send(doomed.log.content(transactions(1, "too-late")));
    expect(await b.next("error")).toMatchObject({ code: "doc_deleted", doc: doomed.id });
    b.send(new SessionWriter(bob, doomed.id).content(transactions(1, "again"), doomed.header));
    expect(await b.next("error")).toMatchObject({ code: "doc_deleted", doc: doomed.id });
    c.send({ type: "load", doc: doomed.id, known: emptyKnown });
    expect(await c.next("error")).toMatchObject({ code: "doc_deleted", doc: doomed.id });
    a.send({ type: "delete", doc: doomed.id });
    expect(await a.next("error")).toMatchObject({ code: "doc_deleted" });
    expect(await total()).toBe(before - 5);

    // A client that dropped the document is in sync with the relay.
    const live = (await dir(b)).docs.filter((entry) => !entry.deleted);
    expect(live.map((entry) => entry.id)).toContain(kept.id);
    expect(await dir(b, { digest: digestOf(held(live)) })).toMatchObject({ inSync: true, docs: [] });
    await Promise.all([a, b, c, d].map((peer) => peer.close()));
  });

  it("a deleted document's meta goes with its content: its tombstone keeps who may hear of it, not what the app wrote there", async () => {
    const { group, adminPeer: a } = await closedGroup("del-meta", alice, [[bob, "writer"], [carol, "reader"], [dave, "reader"]]);
    const b = await connect(group, bob);
    const header = { ...docHeader(bob, group, "meta").header, meta: { title: "Letter to my lawyer" }, readers: [carol.agent] };
    const id = docIdOf(header);
    b.send(new SessionWriter(bob, id).content(transactions(1, "draft"), header));
    expect(await b.next("known", (k) => k.doc === id)).toMatchObject({ reason: "ack" });
    a.send({ type: "delete", doc: id });
    await a.next("deleted");
    const bare = { ...header, meta: {} };
    expect((await dir(a)).docs.find((entry) => entry.id === id)).toMatchObject({ deleted: true, header: bare });
    expect(await sqlRows(group, "SELECT header FROM docs WHERE id = ?", id)).toEqual([{ header: expect.not.stringContaining("lawyer") }]);
    // Its readers still decide who is told: carol is, dave is not.
    const [c, d] = [await connect(group, carol), await connect(group, dave)];
    expect((await dir(c)).docs.find((entry) => entry.id === id)).toMatchObject({ deleted: true, header: bare });
    expect((await dir(d)).docs.map((entry) => entry.id)).not.toContain(id);
  });

  it("deleting a private document does not reveal it to openers who may not read it", async () => {
    const { group, adminPeer: a } = await closedGroup("del-private", alice, [[bob, "writer"], [carol, "reader"], [dave, "writer"]]);
    const [b, d] = [await connect(group, bob), await connect(group, dave)];
    d.send({ type: "open", known: {} });
    await d.next("opened");
    const secret = await create(b, bob, group, "secret", 1, [carol]);
    const kept = await create(b, bob, group, "kept-secret", 1, [carol]);
    a.send({ type: "delete", doc: secret.id });
    await a.next("deleted");
    await d.sync();
    expect(d.drain("deleted")).toEqual([]);
    // Dave knows its id: what he hears of it is what he would hear of it live, not that it was deleted.
    d.send({ type: "load", doc: secret.id, known: emptyKnown });
    expect(await d.next("error")).toMatchObject({ code: "forbidden", doc: secret.id });
    d.send({ type: "presence", doc: secret.id, state: { here: true } });
    expect(await d.next("error")).toMatchObject({ code: "presence_refused", message: "this agent may not read this document" });
    d.send({ type: "open", known: { [secret.id]: emptyKnown } });
    await d.next("opened");
    expect(d.drain("deleted")).toEqual([]);
    // A snapshot naming it is refused in the words one naming a live document he may not read is.
    const refusalOf = async (doc: DocId) => {
      d.send(snapshotOf(dave, doc, { [bob.session]: 1 }, "x"));
      return d.next("error", (error) => error.doc === doc);
    };
    const [gone, live] = [await refusalOf(secret.id), await refusalOf(kept.id)];
    expect(gone).toMatchObject({ code: "forbidden" });
    expect(gone.message).toBe(live.message);
    // Carol may read it: she is told.
    const c = await connect(group, carol);
    c.send({ type: "load", doc: secret.id, known: emptyKnown });
    expect(await c.next("error")).toMatchObject({ code: "doc_deleted", doc: secret.id });
    c.send({ type: "open", known: { [secret.id]: emptyKnown } });
    expect(await c.next("deleted")).toEqual({ type: "deleted", doc: secret.id });
    await Promise.all([a.close(), b.close(), c.close(), d.close()]);
  });
});
