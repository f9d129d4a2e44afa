// A subscriber that falls LAGGING_UNREAD_BYTES behind (it has not echoed the relay's marks) is sent no more
// live content; each document written meanwhile is caught up from storage once it reads again, as a load
// from where the live content stopped: every transaction exactly once and in order, whichever sessions
// wrote, with no `known` at its end (as live content has none), and nothing for a document it stopped
// following meanwhile. The real core and driver over a MemoryStore (relay-transcript.ts).
import { describe, expect, it } from "vitest";
import { LAGGING_UNREAD_BYTES, MEMBERS_KIND, decodeServerFrame, docIdOf, type DocHeader, type DocId, type ServerMessage, type SessionId } from "../../protocol/index.ts";
import type { PeerId } from "../../worker/core/store.ts";
import { GROUP, NOW, alice, bob, carol, doc1, doc2, nothingKnown, scenario, writer } from "./relay-transcript.ts";

const membersHeader: DocHeader = { group: GROUP, kind: MEMBERS_KIND, creator: alice.agent, createdAt: NOW, nonce: "members", meta: {} };
const members = { id: docIdOf(membersHeader), header: membersHeader };

/** Transactions of 200,000 characters: twelve of them are more than the lag. */
const BIG = 200_000;
const big = (label: string, count: number, from = 0) => Array.from({ length: count }, (_, i) => ({ at: 1_700_000_000_000 + from + i, data: `${label}-${from + i}:`.padEnd(BIG, "x") }));
const PER_WRITE = 2;
/** Writes of PER_WRITE transactions each writer makes: over twice the lag between them. */
const WRITES = Math.ceil(LAGGING_UNREAD_BYTES / (BIG * PER_WRITE));

/** What `peer` was sent, in order, from frame `from` on. */
function sentTo(frames: readonly { peer: PeerId; text: string }[], peer: PeerId, from = 0): ServerMessage[] {
  return frames.slice(from).flatMap((frame) => {
    if (frame.peer !== peer) return [];
    const decoded = decodeServerFrame(frame.text);
    return decoded.ok ? decoded.message : [];
  });
}

/** The labels of the transactions of `doc` in `messages`, by session, in the order sent; and the index each chunk began at. */
function heard(messages: readonly ServerMessage[], doc: DocId): Map<SessionId, { labels: string[]; starts: number[] }> {
  const bySession = new Map<SessionId, { labels: string[]; starts: number[] }>();
  for (const message of messages) {
    if (message.type !== "content" || message.doc !== doc) continue;
    for (const [session, chunk] of Object.entries(message.sessions) as [SessionId, { after: number; transactions: { data: unknown }[] }][]) {
      let heardOf = bySession.get(session);
      if (!heardOf) bySession.set(session, (heardOf = { labels: [], starts: [] }));
      heardOf.starts.push(chunk.after);
      heardOf.labels.push(...chunk.transactions.map((tx) => String(tx.data).split(":")[0]!));
    }
  }
  return bySession;
}

/**
 * In a group alice founded (so she, its admin, may delete), alice and carol write doc1; bob, a reader who
 * does not echo the marks he is sent, and carol subscribe to it.
 */
async function laggingBob() {
  const setting = scenario();
  const { connect, send, transport } = setting;
  await connect("alice", alice);
  const byAdmin = writer(alice, members);
  await send("alice", byAdmin([{ at: NOW, data: JSON.stringify({ op: "set", agent: bob.agent, role: "reader" }) }, { at: NOW + 1, data: JSON.stringify({ op: "set", agent: carol.agent, role: "writer" }) }], { header: true }));
  await connect("bob", bob);
  await connect("carol", carol);
  const byAlice = writer(alice, doc1);
  const byCarol = writer(carol, doc1);
  await send("alice", byAlice([], { header: true }));
  await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
  await send("carol", { type: "load", doc: doc1.id, known: nothingKnown });
  const start = transport.frames.length;
  /** Bob reads again: he echoes every mark he was sent, and the alarms fire, until nothing more is due. */
  const bobReads = async () => {
    for (let round = 0; round < 1_000; round++) {
      const marks = transport.marks.splice(0);
      if (marks.length === 0 && !transport.takeDue(Number.MAX_SAFE_INTEGER)) return;
      for (const { peer, id } of marks) await send(peer, { type: "marked", id });
      await setting.relay.dispatch({ type: "alarm", now: Date.now() });
    }
    throw new Error("bob is never caught up");
  };
  /** Others' marks are echoed as they come; bob's wait. */
  const othersRead = async () => {
    const marks = transport.marks.splice(0);
    transport.marks.push(...marks.filter(({ peer }) => peer === "bob"));
    for (const { peer, id } of marks) if (peer !== "bob") await send(peer, { type: "marked", id });
  };
  return { ...setting, byAlice, byCarol, start, bobReads, othersRead };
}

describe("a subscriber that falls behind", () => {
  it("is caught up with two sessions' writes exactly once and in order, without a known, once it reads", async () => {
    const { send, transport, byAlice, byCarol, start, bobReads, othersRead } = await laggingBob();
    for (let i = 0; i < WRITES; i++) {
      await send("alice", byAlice(big("alice", PER_WRITE, i * PER_WRITE)));
      await send("carol", byCarol(big("carol", PER_WRITE, i * PER_WRITE)));
      await othersRead();
    }
    const live = sentTo(transport.frames, "bob", start);
    const liveBytes = transport.frames.slice(start).filter((frame) => frame.peer === "bob").reduce((sum, frame) => sum + frame.text.length, 0);
    // Live content stopped about at the lag: a write past it, not all of them.
    expect(liveBytes).toBeGreaterThanOrEqual(LAGGING_UNREAD_BYTES);
    expect(liveBytes).toBeLessThan(LAGGING_UNREAD_BYTES + 2 * PER_WRITE * BIG);
    expect(live.filter((message) => message.type === "error")).toEqual([]);

    const before = transport.frames.length;
    await bobReads();
    const caughtUp = sentTo(transport.frames, "bob", before);
    const all = heard([...live, ...caughtUp], doc1.id);
    const expected = (label: string) => Array.from({ length: WRITES * PER_WRITE }, (_, i) => `${label}-${i}`);
    expect(all.get(alice.session)?.labels).toEqual(expected("alice"));
    expect(all.get(carol.session)?.labels).toEqual(expected("carol"));
    // Each chunk begins where the one before it ended: nothing sent twice, nothing skipped.
    for (const session of [alice.session, carol.session]) {
      const { starts } = heard([...live, ...caughtUp], doc1.id).get(session)!;
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    }
    expect(caughtUp.filter((message) => message.type === "known" || message.type === "error")).toEqual([]);
    // Carol, who read throughout, was sent alice's writes live.
    expect(heard(sentTo(transport.frames, "carol", start), doc1.id).get(alice.session)?.labels).toEqual(expected("alice"));
  });

  it("is sent nothing more of a document it stopped following meanwhile (unsub), and only the deletion of one deleted", async () => {
    const { send, transport, byAlice, start, bobReads, othersRead } = await laggingBob();
    const byAliceTwo = writer(alice, doc2);
    await send("alice", byAliceTwo([], { header: true }));
    await send("bob", { type: "load", doc: doc2.id, known: nothingKnown });
    for (let i = 0; i < WRITES; i++) {
      await send("alice", byAlice(big("one", PER_WRITE, i * PER_WRITE)));
      await send("alice", byAliceTwo(big("two", PER_WRITE, i * PER_WRITE)));
      await othersRead();
    }
    await send("bob", { type: "unsub", doc: doc1.id });
    await send("alice", { type: "delete", doc: doc2.id });
    const before = transport.frames.length;
    await bobReads();
    const caughtUp = sentTo(transport.frames, "bob", before);
    expect(caughtUp.filter((message) => message.type === "content")).toEqual([]);
    expect(sentTo(transport.frames, "bob", start).filter((message) => message.type === "deleted")).toEqual([{ type: "deleted", doc: doc2.id }]);
  });
});
