// `open`: one frame subscribes a peer to the whole group and streams what it lacks of every document it may
// read, in bounded frames, then `opened`; documents created afterwards reach it live.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, batchFrame, encodeForBatch, type ClientMessage, type DocId } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { closedGroup, docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, uniqueGroup } from "./socket.ts";
import { countSql } from "./sql-count.ts";

afterEach(closeAll);

const alice = testAgent(101);
const bob = testAgent(102);

describe("open the whole group", () => {
  it("streams all 1,000 documents over one socket, no frame over MAX_FRAME_BYTES, then opened {docs: 1000}", async () => {
    const group = uniqueGroup("open-1000");
    const a = await connect(group, alice);
    const ids: DocId[] = [];
    // In batches of 100 (a frame each, as the SDK packs them: 1,000 frames at once would be closed with
    // too_many_frames), sent without waiting: the relay handles them in order, so the last ack means all are stored.
    for (let from = 0; from < 1_000; from += 100) {
      const part: ClientMessage[] = [];
      for (let i = from; i < from + 100; i++) {
        const { id, header } = docHeader(alice, group, `doc-${String(i).padStart(4, "0")}`);
        ids.push(id);
        part.push(new SessionWriter(alice, id).content([{ at: 1_700_000_000_000 + i, data: `payload-${i}` }], header) as ClientMessage);
      }
      a.sendRaw(batchFrame(part.map((message) => encodeForBatch(message))));
    }
    await a.next("known", (k) => k.doc === ids.at(-1), 60_000);
    expect(a.drain("error")).toEqual([]);
    expect(a.drain("known").filter((k) => k.reason === "ack")).toHaveLength(999);

    const b = await connect(group, bob);
    b.send({ type: "open", known: {} });
    const opened = await b.next("opened", undefined, 60_000);
    expect(opened.docs).toBe(1_000);
    expect(opened.cursor).toBeGreaterThanOrEqual(1_000);
    expect(b.undecodable).toEqual([]);
    expect(Math.max(...b.received.map((frame) => frame.bytes))).toBeLessThanOrEqual(MAX_FRAME_BYTES);

    const loads = b.drain("known");
    expect(loads.every((k) => k.reason === "load")).toBe(true);
    expect(new Set(loads.map((k) => k.doc))).toEqual(new Set(ids));
    const content = b.drain("content");
    expect(new Set(content.map((frame) => frame.doc))).toEqual(new Set(ids));
    const byDoc = new Map(content.map((frame) => [frame.doc, frame]));
    ids.forEach((id, i) => {
      const frame = byDoc.get(id)!;
      expect(frame.header?.nonce).toBe(`doc-${String(i).padStart(4, "0")}`);
      expect(frame.sessions[alice.session]?.transactions).toEqual([{ at: 1_700_000_000_000 + i, data: `payload-${i}` }]);
    });
    // Every document's content arrives before its `known`, and `opened` comes last.
    const order = b.received.map((frame) => frame.type);
    expect(order.at(-1)).toBe("opened");
    expect(order.filter((type) => type === "content")).toHaveLength(1_000);
    await Promise.all([a.close(), b.close()]);
  }, 120_000);

  it("sends only what the peer lacks, and `deleted` for what it holds that is gone", async () => {
    const { group, adminPeer: a, membersDoc, log } = await closedGroup("open-delta", alice, [[bob, "reader"]]);
    const docs = [];
    for (const nonce of ["held", "behind", "missing", "gone"]) {
      const { id, header } = docHeader(alice, group, nonce);
      const writer = new SessionWriter(alice, id);
      a.send(writer.content(transactions(4, nonce), header));
      await a.next("known", (k) => k.doc === id);
      docs.push(id);
    }
    const [held, behind, missing, gone] = docs as [DocId, DocId, DocId, DocId];
    a.send({ type: "delete", doc: gone });
    await a.next("deleted");

    const b = await connect(group, bob);
    const all = { header: true, sessions: { [alice.session]: 4 } };
    b.send({
      type: "open",
      known: { [membersDoc]: { header: true, sessions: { [alice.session]: log.writer.count } }, [held]: all, [behind]: { header: true, sessions: { [alice.session]: 1 } }, [gone]: all },
    });
    expect(await b.next("opened")).toMatchObject({ docs: 4 });
    expect(b.drain("deleted")).toEqual([{ type: "deleted", doc: gone }]);
    const frames = b.drain("content");
    expect(frames.map((m) => m.doc).sort()).toEqual([behind, missing].sort());
    const [behindFrame, missingFrame] = [behind, missing].map((id) => frames.find((m) => m.doc === id)!);
    expect(behindFrame!.header).toBeUndefined();
    expect(behindFrame!.sessions).toEqual({ [alice.session]: { after: 1, transactions: transactions(4, "behind").slice(1), signature: expect.any(String) } });
    expect(missingFrame!.header?.nonce).toBe("missing");
    expect(missingFrame!.sessions[alice.session]).toMatchObject({ after: 0, transactions: transactions(4, "missing") });
    expect(new Set(b.drain("known").map((k) => k.doc))).toEqual(new Set([membersDoc, held, behind, missing]));
    await Promise.all([a.close(), b.close()]);
  });

  it("passes tombstones without spending its slices on them: 1,000 deleted documents and 2 live ones are opened in one event", async () => {
    const { group, adminPeer: a } = await closedGroup("open-tombstones", alice, [[bob, "reader"]]);
    const docs = Array.from({ length: 1_002 }, (_, i) => docHeader(alice, group, `doc-${i}`));
    a.sendRaw(batchFrame(docs.map(({ id, header }) => encodeForBatch({ type: "content", doc: id, header, sessions: {} }))));
    await a.next("known", (k) => k.doc === docs.at(-1)!.id);
    a.sendRaw(batchFrame(docs.slice(2).map(({ id }) => encodeForBatch({ type: "delete", doc: id }))));
    for (let i = 2; i < docs.length; i++) await a.next("deleted");
    const b = await connect(group, bob);
    const cost = await countSql(group, async () => {
      b.send({ type: "open", known: {} });
      expect(await b.next("opened")).toMatchObject({ docs: 3 }); // the two, and the membership log
    });
    // One listing statement passes them all: at 200 documents a slice, the tombstones took five slices (each
    // an alarm's event) and a statement each.
    expect(cost.statements).toBeLessThanOrEqual(6);
    await Promise.all([a.close(), b.close()]);
  });

  it("a document the peer holds that is deleted while the open streams is told deleted, not as one the relay lacks", async () => {
    const { group, adminPeer: a } = await closedGroup("open-deleted-midway", alice, [[bob, "reader"]]);
    const docs = Array.from({ length: 1_000 }, (_, i) => docHeader(alice, group, `doc-${i}`));
    a.sendRaw(batchFrame(docs.map(({ id, header }) => encodeForBatch(new SessionWriter(alice, id).content(transactions(1, "t"), header) as ClientMessage))));
    await a.next("known", (k) => k.doc === docs.at(-1)!.id, 20_000);
    const ids = docs.map((doc) => doc.id).sort();
    const known = Object.fromEntries(ids.map((id) => [id, { header: true, sessions: { [alice.session]: 1 } }]));
    const b = await connect(group, bob);
    b.send({ type: "open", known });
    // The last three in id order, deleted while the first slices stream.
    const late = ids.slice(-3);
    for (const doc of late) a.send({ type: "delete", doc });
    await b.next("opened", undefined, 20_000);
    await b.sync();
    // Never "the relay has none" (the peer would push the document back); each heard as deleted.
    expect(b.drain("known").filter((k) => late.includes(k.doc) && !k.header)).toEqual([]);
    expect(new Set(b.drain("deleted").map((d) => d.doc))).toEqual(new Set(late));
    await Promise.all([a.close(), b.close()]);
  });

  it("a peer naming 3,000 deleted documents it holds is told each in slices: another member's write is acked before its open ends", async () => {
    const { group, adminPeer: a } = await closedGroup("open-held-deleted", alice, [[bob, "reader"]]);
    const docs = Array.from({ length: 3_000 }, (_, i) => docHeader(alice, group, `gone-${i}`));
    for (let from = 0; from < docs.length; from += 1_000) {
      const part = docs.slice(from, from + 1_000);
      a.sendRaw(batchFrame(part.map(({ id, header }) => encodeForBatch({ type: "content", doc: id, header, sessions: {} }))));
      await a.next("known", (k) => k.doc === part.at(-1)!.id);
      a.sendRaw(batchFrame(part.map(({ id }) => encodeForBatch({ type: "delete", doc: id }))));
      for (let i = 0; i < part.length; i++) await a.next("deleted");
    }
    const b = await connect(group, bob);
    const seen: string[] = [];
    b.send({ type: "open", known: Object.fromEntries(docs.map(({ id }) => [id, { header: true, sessions: {} }])) });
    const later = docHeader(alice, group, "written-meanwhile");
    a.send(new SessionWriter(alice, later.id).content(transactions(1, "w"), later.header));
    await Promise.all([
      a.next("known", (k) => k.doc === later.id, 30_000).then(() => seen.push("ack")),
      b.next("opened", undefined, 30_000).then(() => seen.push("opened")),
    ]);
    expect(seen).toEqual(["ack", "opened"]);
    expect(new Set(b.drain("deleted").map((d) => d.doc))).toEqual(new Set(docs.map(({ id }) => id)));
    await Promise.all([a.close(), b.close()]);
  }, 60_000);

  it("a document created and deleted while the peer's open streams, ahead of where its listing is, is told deleted", async () => {
    const { group, adminPeer: a } = await closedGroup("open-deleted-ahead", alice, [[bob, "writer"]]);
    const docs = Array.from({ length: 400 }, (_, i) => docHeader(alice, group, `doc-${i}`));
    for (let from = 0; from < docs.length; from += 30) {
      const part = docs.slice(from, from + 30);
      a.sendRaw(batchFrame(part.map(({ id, header }) => encodeForBatch(new SessionWriter(alice, id).content(transactions(60, "t"), header) as ClientMessage))));
      await a.next("known", (k) => k.doc === part.at(-1)!.id, 20_000);
    }
    // A document of bob's whose id sorts after every other: the open reaches its place last.
    const last = [...docs.map(({ id }) => id)].sort().at(-1)!;
    let nonce = 0;
    let ahead = docHeader(bob, group, `ahead-${nonce}`);
    while (ahead.id <= last) ahead = docHeader(bob, group, `ahead-${++nonce}`);
    const b = await connect(group, bob);
    b.send({ type: "open", known: {} });
    b.send(new SessionWriter(bob, ahead.id).content(transactions(1, "x"), ahead.header));
    await b.next("known", (k) => k.doc === ahead.id && k.reason === "ack", 20_000);
    a.send({ type: "delete", doc: ahead.id });
    await a.next("deleted", (d) => d.doc === ahead.id);
    const opened = await b.next("opened", undefined, 30_000);
    expect(b.inbox.some((m) => m.type === "deleted" && m.doc === ahead.id)).toBe(true);
    expect(opened).toMatchObject({ docs: 401 }); // the 400 and the membership log
    await Promise.all([a.close(), b.close()]);
  }, 60_000);

  it("answers each document named in known that the relay lacks as holding nothing, in every part, before opened", async () => {
    const { group, adminPeer: a, membersDoc } = await closedGroup("open-lacks", alice, [[bob, "writer"]]);
    const stored: DocId[] = [];
    for (const nonce of ["kept-1", "kept-2", "kept-3", "restricted", "gone"]) {
      const { id, header } = docHeader(alice, group, nonce, nonce === "restricted" ? [alice.agent] : undefined);
      a.send(new SessionWriter(alice, id).content(transactions(2, nonce), header));
      await a.next("known", (k) => k.doc === id);
      stored.push(id);
    }
    const [restricted, gone] = stored.slice(3) as [DocId, DocId];
    a.send({ type: "delete", doc: gone });
    await a.next("deleted");
    // Created offline by bob, or lost by the relay: it has never stored these.
    const lacking = ["lost-1", "lost-2", "lost-3", "lost-4", "lost-5", "lost-6"].map((nonce) => docHeader(bob, group, nonce).id);

    const b = await connect(group, bob);
    const held = { header: true, sessions: { [alice.session]: 2 } };
    const named = [...stored, ...lacking].sort();
    const middle = named[Math.floor(named.length / 2)]!;
    const knownOf = (ids: DocId[]) => Object.fromEntries(ids.map((id) => [id, lacking.includes(id) ? { header: true, sessions: { [bob.session]: 1 } } : held]));
    b.send({ type: "open", through: middle, known: knownOf(named.filter((id) => id <= middle)) });
    b.send({ type: "open", after: middle, known: knownOf(named.filter((id) => id > middle)) });
    expect(await b.next("opened")).toMatchObject({ docs: 4 });

    const answers = b.drain("known");
    expect(answers.filter((k) => !k.header).sort((x, y) => (x.doc < y.doc ? -1 : 1))).toEqual(lacking.sort().map((doc) => ({ type: "known", doc, header: false, sessions: {}, reason: "load" })));
    // What the relay holds is answered as before; the restricted one stays unmentioned, the deleted one is `deleted`.
    expect(answers.filter((k) => k.header).map((k) => k.doc).sort()).toEqual([membersDoc, ...stored.slice(0, 3)].sort());
    expect(b.received.some((frame) => "doc" in frame && frame.doc === restricted)).toBe(false);
    expect(b.drain("deleted")).toEqual([{ type: "deleted", doc: gone }]);
    expect(b.received.at(-1)?.type).toBe("opened");
    await Promise.all([a.close(), b.close()]);
  });

  it("a document larger than one frame is streamed to the opener in several frames, each under MAX_FRAME_BYTES", async () => {
    const group = uniqueGroup("open-big");
    const a = await connect(group, alice);
    const { id, header } = docHeader(alice, group, "big");
    const writer = new SessionWriter(alice, id);
    // 6 transactions of 200 KB that JSON-escape to ~300 KB each (~1.8 MB on the wire): no single frame holds them.
    const big = Array.from({ length: 6 }, (_, i) => ({ at: 1_700_000_000_000 + i, data: `${i}"`.repeat(100_000) }));
    for (const [i, transaction] of big.entries()) a.send(writer.content([transaction], i === 0 ? header : undefined));
    await a.next("known", (k) => k.sessions[alice.session] === 6, 20_000);

    const b = await connect(group, bob);
    b.send({ type: "open", known: {} });
    expect(await b.next("opened", undefined, 20_000)).toMatchObject({ docs: 1 });
    expect(b.undecodable).toEqual([]);
    const sizes = b.received.filter((frame) => frame.type === "content").map((frame) => frame.bytes);
    expect(sizes.length).toBeGreaterThan(2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const chunks = b.drain("content").flatMap((frame) => frame.sessions[alice.session] ?? []); // the header goes first, alone
    expect(chunks.flatMap((chunk) => chunk.transactions)).toEqual(big);
    await Promise.all([a.close(), b.close()]);
  }, 60_000);

  it("a document created after open reaches the opener live, header included, and so do later writes", async () => {
    const group = uniqueGroup("open-live");
    const b = await connect(group, bob);
    b.send({ type: "open", known: {} });
    expect(await b.next("opened")).toMatchObject({ docs: 0 });

    const a = await connect(group, alice);
    const { id, header } = docHeader(alice, group, "born-later");
    const writer = new SessionWriter(alice, id);
    a.send(writer.content(transactions(2, "first"), header));
    const first = await b.next("content", (m) => m.doc === id);
    expect(first.header).toEqual(header);
    expect(first.sessions[alice.session]?.transactions).toEqual(transactions(2, "first"));
    a.send(writer.content(transactions(1, "second")));
    const second = await b.next("content", (m) => m.doc === id);
    expect(second.header).toBeUndefined();
    expect(second.sessions[alice.session]).toMatchObject({ after: 2, transactions: transactions(1, "second") });
    await Promise.all([a.close(), b.close()]);
  });
});
