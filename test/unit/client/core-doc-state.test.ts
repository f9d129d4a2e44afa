// The client core's state of one document (client/core/doc-state.ts, client/core/push.ts): what it pushes
// (saved first, signed, batched, bounded in flight), how it resumes from the relay's known state, how it
// merges other sessions, and how a restart continues its chain. Pure functions, driven directly.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  GENESIS_HASH,
  MAX_CLOCK_AHEAD_MS,
  MAX_FRAME_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  chainHash,
  countOf,
  decodeClientMessage,
  docIdOf,
  encodeMessage,
  frameBytes,
  newHeader,
  verifyCheckpoint,
  type Content,
  type KnownState,
  type SessionId,
  type Transaction,
} from "../../../protocol/index.ts";
import {
  appendOwn,
  applyKnown,
  hasUnsynced,
  knownOf,
  markSaved,
  newDocState,
  resetInFlight,
  restoreDoc,
  unsavedOf,
  type DocState,
  type DocTransaction,
} from "../../../client/core/doc-state.ts";
import { orderedTransactions } from "../../../client/core/ordered-view.ts";
import { discardRefused, refuseWrites } from "../../../client/core/held-back.ts";
import { checkOwnCount, checkOwnHead, loadKnown, takeOwnContent } from "../../../client/core/own-content.ts";
import { adoptTails, applyContent } from "../../../client/core/received.ts";
import { RelayError } from "../../../client/errors.ts";
import { MAX_IN_FLIGHT, PUSH_BATCH, pacedPushAt, takeOwn, type Pace } from "../../../client/core/push.ts";
import { createIdentity, newSession } from "../../../client/identity.ts";
import type { DocChanges, StoredDoc } from "../../../client/storage/local-store.ts";
import { testAgent, transactions } from "../../support/identity.ts";

const identity = createIdentity();
const session = newSession(identity);
const header = newHeader({ group: "team", kind: "json", creator: identity.agent, createdAt: 1_700_000_000_000 });
const id = docIdOf(header);
const other = testAgent(3, "aaaa-device").session;
const another = testAgent(3, "bbbb-device").session; // sorts after `other`

/** The pure functions of one document's state, under the names of the calls that drive them. */
class CoreDoc {
  readonly state: DocState;
  /** What each applied content added, in order. */
  readonly added: DocTransaction[][] = [];
  /** What each applied content removed (held writes of another tab of this agent that it discarded). */
  readonly removed: DocTransaction[][] = [];

  constructor(initial: typeof header | undefined = header) {
    this.state = newDocState(id, initial);
  }
  get header() {
    return this.state.header;
  }
  get known() {
    return knownOf(this.state);
  }
  get hasUnsynced() {
    return hasUnsynced(this.state, session);
  }
  append(data: string): DocTransaction {
    return appendOwn(this.state, session, data, Date.now());
  }
  unsaved(): DocChanges | undefined {
    return unsavedOf(this.state, session);
  }
  markSaved(changes: DocChanges): void {
    markSaved(this.state, changes);
  }
  /** `head`: a load's answer naming the chain hash at its count of the own session. */
  onKnown(relay: KnownState, reason: "load" | "ack" | "correction", head?: string): void {
    if (head !== undefined) checkOwnHead(this.state, { agent: identity.agent, session }, relay.sessions[session] ?? 0, head);
    applyKnown(this.state, session, checkOwnCount(this.state, session, relay, reason), reason);
  }
  /** False when the content does not follow what is held (a gap). */
  onContent(content: Parameters<typeof applyContent>[2]): boolean {
    const ownChunk = content.sessions[session];
    const ownTaken = ownChunk ? takeOwnContent(this.state, session, ownChunk) : undefined;
    const { added, removed, gap } = applyContent(this.state, session, content);
    const all = [...(ownTaken?.added ?? []), ...added];
    if (all.length > 0) this.added.push(all);
    if (removed.length > 0) this.removed.push(removed);
    return !gap && !ownTaken?.gap;
  }
  /** What another client of this agent left in the shared store, read again. */
  adoptTails(stored: StoredDoc): void {
    const { added, removed } = adoptTails(this.state, { agent: identity.agent, session }, stored);
    if (added.length > 0) this.added.push(added);
    if (removed.length > 0) this.removed.push(removed);
  }
  /** What a load of the document says it holds. */
  get loadKnown() {
    return loadKnown(this.state, session);
  }
  takePush(pace?: Pace): Content[] {
    return takeOwn(this.state, { agent: identity.agent, secretKey: identity.secretKey, session }, pace);
  }
  pacedPushAt(pace: Pace): number | undefined {
    return pacedPushAt(this.state, { agent: identity.agent, secretKey: identity.secretKey, session }, pace);
  }
  resetInFlight(): void {
    resetInFlight(this.state, session);
  }
  restore(stored: StoredDoc): void {
    restoreDoc(this.state, session, stored);
  }
  sessionTransactions(of: SessionId): readonly Transaction[] {
    return this.state.sessions.get(of) ?? [];
  }
  transactions(): DocTransaction[] {
    return orderedTransactions(this.state);
  }
}

const newDoc = () => new CoreDoc();
const relayHolds = (own: number, headerHeld = true): KnownState => ({ header: headerHeld, sessions: own > 0 ? { [session]: own } : {} });

function saveAll(doc: CoreDoc): void {
  const changes = doc.unsaved();
  if (changes) doc.markSaved(changes);
}

/** A document with `count` own transactions, saved locally, whose load the relay answered with `relay`. */
function loadedDoc(count: number, relay = relayHolds(0, false)): CoreDoc {
  const doc = newDoc();
  for (let i = 0; i < count; i++) doc.append(`op-${i}`);
  saveAll(doc);
  doc.onKnown(relay, "load");
  return doc;
}

const chunkOf = (frame: Content) => frame.sessions[session]!;
const sentCount = (frames: Content[]) => frames.reduce((sum, frame) => sum + (frame.sessions[session]?.transactions.length ?? 0), 0);
const afters = (frames: Content[]) => frames.map((frame) => chunkOf(frame).after);

afterEach(() => {
  vi.useRealTimers();
});

describe("pushing own transactions", () => {
  it("pushes only what is saved locally, and only once the relay answered the load", () => {
    const doc = newDoc();
    const first = doc.append("a");
    doc.append("b");
    const changes = doc.unsaved()!;
    expect(changes.header).toEqual(header);
    expect(changes.appends).toEqual([{ session, after: 0, transactions: [{ at: first.at, data: "a" }, expect.objectContaining({ data: "b" })] }]);
    doc.markSaved(changes);
    expect(doc.unsaved()).toBeUndefined();
    expect(doc.takePush()).toEqual([]); // saved, but the relay has not answered the load yet
    doc.onKnown(relayHolds(0, false), "load");
    const frames = doc.takePush();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.header).toEqual(header);
    expect(chunkOf(frames[0]!).transactions.map((transaction) => transaction.data)).toEqual(["a", "b"]);
    doc.append("c");
    expect(doc.takePush()).toEqual([]); // loaded, but "c" is not saved yet
    saveAll(doc);
    expect(doc.takePush()).toEqual([]); // saved, but a partial frame waits while "a" and "b" are in flight
    doc.append("d");
    saveAll(doc);
    doc.onKnown(relayHolds(2), "ack");
    // The ack releases everything gathered meanwhile, as one frame.
    expect(doc.takePush().map(chunkOf)).toEqual([expect.objectContaining({ after: 2, transactions: [expect.objectContaining({ data: "c" }), expect.objectContaining({ data: "d" })] })]);
    expect(doc.takePush()).toEqual([]); // already in flight
  });

  it("signs every frame as a checkpoint over the whole own log up to its end", async () => {
    const doc = loadedDoc(2 * PUSH_BATCH + 200);
    const own = doc.sessionTransactions(session);
    const frames = doc.takePush();
    expect(afters(frames)).toEqual([0, PUSH_BATCH, 2 * PUSH_BATCH]);
    for (const frame of frames) {
      const { after, transactions: sent, signature } = chunkOf(frame);
      const count = after + sent.length;
      expect(sent).toEqual(own.slice(after, count));
      expect(await verifyCheckpoint(signature, id, session, count, chainHash(GENESIS_HASH, own.slice(0, count)))).toBe(true);
      expect(await verifyCheckpoint(signature, id, session, count, chainHash(GENESIS_HASH, sent))).toBe(after === 0);
    }
  });

  it("keeps every frame within the relay's limits", () => {
    const many = loadedDoc(4_500).takePush();
    const large = newDoc();
    for (let i = 0; i < 12; i++) large.append(String(i % 10).repeat(200_000));
    saveAll(large);
    large.onKnown(relayHolds(0, false), "load");
    const frames = [...many, ...large.takePush()];
    expect(sentCount(frames)).toBe(4_512);
    for (const frame of frames) {
      expect(chunkOf(frame).transactions.length).toBeLessThanOrEqual(MAX_TRANSACTIONS_PER_FRAME);
      expect(frameBytes(encodeMessage(frame))).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      expect(decodeClientMessage(encodeMessage(frame)).ok).toBe(true);
    }
  });

  it("keeps frames within MAX_FRAME_BYTES when the data is not ASCII", () => {
    const doc = newDoc();
    for (let i = 0; i < 6; i++) doc.append("€".repeat(87_000));
    saveAll(doc);
    doc.onKnown(relayHolds(0, false), "load");
    for (const frame of doc.takePush()) expect(decodeClientMessage(encodeMessage(frame))).toMatchObject({ ok: true });
  });

  it("paces partial frames: one leaves at once, the next no sooner than the interval after it, with all gathered meanwhile", () => {
    const doc = loadedDoc(1, relayHolds(0));
    const at = (now: number): Pace => ({ now, intervalMs: 10 });
    expect(afters(doc.takePush(at(1_000)))).toEqual([0]); // the first after a pause is not held back
    doc.onKnown(relayHolds(1), "ack");
    doc.append("b");
    saveAll(doc);
    expect(doc.takePush(at(1_004))).toEqual([]); // acked, but within the interval of the last frame
    expect(doc.pacedPushAt(at(1_004))).toBe(1_010); // when the shell should push again
    doc.append("c");
    saveAll(doc);
    expect(doc.takePush(at(1_009))).toEqual([]);
    const next = doc.takePush(at(1_010));
    expect(next.map(chunkOf)).toEqual([expect.objectContaining({ after: 1, transactions: [expect.objectContaining({ data: "b" }), expect.objectContaining({ data: "c" })] })]);
    expect(doc.pacedPushAt(at(1_010))).toBeUndefined(); // in flight: its ack wakes the next push, not the clock
  });

  it("does not pace full frames, nor wake the shell for what an ack will release", () => {
    const doc = loadedDoc(1, relayHolds(0));
    const at = (now: number): Pace => ({ now, intervalMs: 10 });
    doc.takePush(at(1_000));
    doc.onKnown(relayHolds(1), "ack");
    for (let i = 0; i < PUSH_BATCH + 3; i++) doc.append(`full-${i}`);
    saveAll(doc);
    // Within the interval a full frame leaves; the 3 behind it wait, for the ack rather than the clock.
    expect(doc.takePush(at(1_001)).map((frame) => chunkOf(frame).transactions.length)).toEqual([PUSH_BATCH]);
    expect(doc.pacedPushAt(at(1_001))).toBeUndefined();
    doc.onKnown(relayHolds(1 + PUSH_BATCH), "ack");
    expect(doc.pacedPushAt(at(1_002))).toBe(1_011);
    expect(sentCount(doc.takePush(at(1_011)))).toBe(3);
  });

  it("bounds what is in flight, and sends more as acks come back", () => {
    const doc = loadedDoc(MAX_IN_FLIGHT * 3);
    const first = doc.takePush();
    expect(sentCount(first)).toBe(MAX_IN_FLIGHT);
    expect(doc.takePush()).toEqual([]);
    doc.onKnown(relayHolds(2 * PUSH_BATCH), "ack");
    const next = doc.takePush();
    expect(afters(next)).toEqual([MAX_IN_FLIGHT, MAX_IN_FLIGHT + PUSH_BATCH]);
    expect(sentCount(next)).toBe(2 * PUSH_BATCH);
  });

  it("starts again at the relay-confirmed count after resetInFlight", () => {
    const doc = loadedDoc(PUSH_BATCH + 700);
    doc.takePush();
    doc.onKnown(relayHolds(500), "ack");
    doc.resetInFlight();
    const frames = doc.takePush();
    expect(afters(frames)).toEqual([500, 500 + PUSH_BATCH]);
    expect(sentCount(frames)).toBe(PUSH_BATCH + 200);
    expect(frames.some((frame) => frame.header)).toBe(false); // the relay has it
  });

  it("sends the header again when it was lost in flight", () => {
    const doc = loadedDoc(0);
    expect(doc.takePush()).toEqual([{ type: "content", doc: id, header, sessions: {} }]);
    expect(doc.takePush()).toEqual([]);
    doc.resetInFlight();
    expect(doc.takePush()).toEqual([{ type: "content", doc: id, header, sessions: {} }]);
  });

  it("resends from the relay's count on a correction, but not on an ack", () => {
    const doc = loadedDoc(1_200);
    doc.takePush();
    doc.onKnown(relayHolds(500), "ack");
    expect(doc.takePush()).toEqual([]);
    doc.onKnown(relayHolds(500), "correction");
    expect(afters(doc.takePush())).toEqual([500]);
    expect(sentCount(doc.takePush())).toBe(0);
  });

  it("counts as synced only once the relay acked everything", () => {
    const doc = loadedDoc(3);
    doc.takePush();
    doc.onKnown(relayHolds(2), "ack");
    expect(doc.hasUnsynced).toBe(true);
    doc.onKnown(relayHolds(3), "ack");
    expect(doc.hasUnsynced).toBe(false);
  });
});

describe("content from other sessions", () => {
  const content = (sessions: Record<SessionId, { after: number; transactions: Transaction[] }>) => ({ type: "content" as const, doc: id, sessions });
  const theirs = transactions(6, "theirs");

  it("applies overlapping transactions once", () => {
    const doc = newDoc();
    const added = doc.added;
    expect(doc.onContent(content({ [other]: { after: 0, transactions: theirs.slice(0, 3) } }))).toBe(true);
    expect(doc.onContent(content({ [other]: { after: 1, transactions: theirs.slice(1, 5) } }))).toBe(true);
    expect(doc.onContent(content({ [other]: { after: 2, transactions: theirs.slice(2, 4) } }))).toBe(true);
    expect(doc.sessionTransactions(other)).toEqual(theirs.slice(0, 5));
    expect(added.map((batch) => batch.map((transaction) => transaction.index))).toEqual([[0, 1, 2], [3, 4]]);
    expect(doc.known.sessions[other]).toBe(5);
  });

  it("reports a gap and applies nothing from it", () => {
    const doc = newDoc();
    doc.onContent(content({ [other]: { after: 0, transactions: theirs.slice(0, 2) } }));
    expect(doc.onContent(content({ [other]: { after: 4, transactions: theirs.slice(4, 6) } }))).toBe(false);
    expect(doc.sessionTransactions(other)).toEqual(theirs.slice(0, 2));
  });

  it("orders transactions by time, then session, then index", () => {
    vi.useFakeTimers();
    vi.setSystemTime(50);
    const doc = newDoc();
    doc.append("mine");
    doc.onContent(content({ [another]: { after: 0, transactions: [{ at: 100, data: "another-0" }, { at: 200, data: "another-1" }] } }));
    doc.onContent(content({ [other]: { after: 0, transactions: [{ at: 100, data: "other-0" }, { at: 100, data: "other-1" }] } }));
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["mine", "other-0", "other-1", "another-0", "another-1"]);
  });

  it("sorts a new transaction after every one it has seen, even with its own clock behind", () => {
    vi.useFakeTimers();
    vi.setSystemTime(50);
    const doc = newDoc();
    doc.onContent(content({ [other]: { after: 0, transactions: [{ at: 1_000, data: "from a clock ahead" }] } }));
    // At 1,000 it would sort before it whenever this session's id sorts first: a reply ordered before what it answers.
    expect(doc.append("mine").at).toBe(1_001);
    expect(doc.append("mine again").at).toBe(1_001); // one millisecond: the index orders them
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from a clock ahead", "mine", "mine again"]);
  });

  it("after a transaction stamped past what the relay takes (stored before it refused such times), writes at what it takes", () => {
    vi.useFakeTimers();
    vi.setSystemTime(50);
    const doc = newDoc();
    doc.onContent(content({ [other]: { after: 0, transactions: [{ at: Number.MAX_SAFE_INTEGER, data: "from the end of time" }] } }));
    // Not after it, where every write would be refused (bad_time): as far ahead as the relay takes, less a minute.
    expect(doc.append("mine").at).toBe(50 + MAX_CLOCK_AHEAD_MS - 60_000);
  });

  it("and after what its store held of other sessions when it restarted", () => {
    vi.useFakeTimers();
    vi.setSystemTime(50);
    const doc = new CoreDoc(undefined);
    doc.restore({ id, header, sessions: { [session]: [{ at: 10, data: "mine" }], [other]: [{ at: 2_000, data: "theirs" }] } });
    expect(doc.append("after restart").at).toBe(2_001);
  });
});

describe("another session of this agent, held from the shared store (another tab's)", () => {
  const tab = newSession(identity);
  const content = (after: number, transactions: Transaction[]) => ({ type: "content" as const, doc: id, sessions: { [tab]: { after, transactions } } });
  const storedWith = (transactions: Transaction[]): StoredDoc => ({ id, header, sessions: { [tab]: transactions } });
  const kept = { at: 10, data: "kept" };
  const discarded = { at: 11, data: "discarded by its tab" };
  const instead = { at: 12, data: "written instead" };

  it("where the relay holds other writes than those held, the relay's replace them", () => {
    const doc = new CoreDoc(undefined);
    doc.restore(storedWith([kept, discarded]));
    doc.onKnown({ header: true, sessions: { [tab]: 1 } }, "load");
    expect(doc.onContent(content(1, [instead]))).toBe(true);
    expect(doc.sessionTransactions(tab)).toEqual([kept, instead]);
    expect(doc.removed).toEqual([[{ ...discarded, session: tab, index: 1 }]]);
    expect(doc.added).toEqual([[{ ...instead, session: tab, index: 1 }]]);
    expect(doc.onContent(content(0, [kept, instead]))).toBe(true); // the same again changes nothing
    expect(doc.removed).toHaveLength(1);
  });

  it("held writes the shared store no longer has, or has others in place of, are forgotten past what the relay confirmed", () => {
    const doc = new CoreDoc(undefined);
    doc.restore(storedWith([kept, discarded]));
    doc.onKnown({ header: true, sessions: { [tab]: 1 } }, "load");
    doc.adoptTails(storedWith([kept])); // its tab discarded the write
    expect(doc.sessionTransactions(tab)).toEqual([kept]);
    expect(doc.removed).toEqual([[{ ...discarded, session: tab, index: 1 }]]);
    doc.adoptTails(storedWith([kept, instead])); // and wrote again
    expect(doc.sessionTransactions(tab)).toEqual([kept, instead]);
    expect(doc.unsaved()?.appends ?? []).toEqual([]); // read from the store: no write to save back
  });

  it("what it received from the relay and has not saved yet is no contradiction: the store just lacks it so far", () => {
    const doc = new CoreDoc(undefined);
    doc.restore(storedWith([kept]));
    doc.onKnown({ header: true, sessions: { [tab]: 1 } }, "load");
    doc.onContent(content(1, [instead])); // from the relay (a tab of this agent on another device, say)
    doc.adoptTails(storedWith([kept])); // another tab's announcement, read before this client's save landed
    expect(doc.sessionTransactions(tab)).toEqual([kept, instead]);
    expect(doc.removed).toEqual([]);
    expect(doc.loadKnown.sessions[tab]).toBe(2);
    expect(doc.unsaved()?.appends).toEqual([{ session: tab, after: 1, transactions: [instead] }]);
  });

  it("where the relay counted them, the relay's copy settles it: the next load asks for the session from where the store differs", () => {
    const doc = new CoreDoc(undefined);
    doc.restore(storedWith([kept, discarded]));
    doc.onKnown({ header: true, sessions: { [tab]: 2 } }, "load");
    doc.adoptTails(storedWith([kept, instead]));
    doc.adoptTails(storedWith([kept]));
    expect(doc.sessionTransactions(tab)).toEqual([kept, discarded]); // the relay may hold them: kept until it says
    expect(doc.removed).toEqual([]);
    expect(doc.loadKnown.sessions[tab]).toBe(1);
    expect(doc.known.sessions[tab]).toBe(2);
    doc.onContent(content(1, [instead])); // the relay holds what the store has
    doc.onKnown({ header: true, sessions: { [tab]: 2 } }, "load");
    expect(doc.sessionTransactions(tab)).toEqual([kept, instead]);
    expect(doc.loadKnown.sessions[tab]).toBe(2);
  });
});

describe("content of the own session (another tab of this agent sent it)", () => {
  const own = (after: number, transactions: Transaction[]) => ({ type: "content" as const, doc: id, sessions: { [session]: { after, transactions } } });
  const forbidden = new RelayError({ code: "forbidden", message: "a reader may not write" });
  /** A document with `count` own transactions, all pushed, of which the relay acked `acked`. */
  function ackedDoc(count: number, acked: number): CoreDoc {
    const doc = loadedDoc(count, relayHolds(0));
    doc.takePush();
    doc.onKnown(relayHolds(acked), "ack");
    return doc;
  }

  it("counts what matches the own log as stored: nothing is taken in, nothing pushed again, and a refusal of it is over", () => {
    const doc = ackedDoc(3, 1);
    expect(refuseWrites(doc.state, session, forbidden)).toBe(true);
    expect(doc.state.refusal?.from).toBe(1);
    doc.onContent(own(1, doc.sessionTransactions(session).slice(1, 2)));
    expect(doc.state.refusal?.from).toBe(2); // the write after it is still held back
    expect(doc.known.sessions[session]).toBe(3);
    expect(countOf(doc.state.relay, session)).toBe(2);
    doc.onContent(own(2, doc.sessionTransactions(session).slice(2, 3)));
    expect(doc.state.refusal).toBeUndefined();
    expect(doc.hasUnsynced).toBe(false);
    expect(doc.takePush()).toEqual([]);
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "op-1", "op-2"]);
  });

  it("takes in what goes past the own log: the relay holds more of the session than this client", () => {
    const doc = ackedDoc(1, 1);
    const stored = { at: doc.sessionTransactions(session)[0]!.at, data: "stored by another tab" };
    expect(doc.onContent(own(0, [...doc.sessionTransactions(session), stored]))).toBe(true);
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "stored by another tab"]);
    expect(doc.added).toEqual([[{ ...stored, session, index: 1 }]]);
    expect(doc.hasUnsynced).toBe(false);
    expect(doc.takePush()).toEqual([]);
    expect(doc.unsaved()?.appends).toEqual([{ session, after: 1, transactions: [stored] }]); // kept locally too
  });

  it("where the relay's content differs from the own log, takes the relay's and moves the own writes from there after it, to be pushed again", async () => {
    const doc = ackedDoc(3, 1);
    const held = doc.sessionTransactions(session);
    const theirs = [{ at: held[1]!.at, data: "stored first" }, { at: held[1]!.at, data: "stored second" }];
    doc.onContent(own(1, theirs));
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "stored first", "stored second", "op-1", "op-2"]);
    expect(countOf(doc.state.relay, session)).toBe(3);
    expect(doc.unsaved()?.appends).toEqual([{ session, after: 1, transactions: doc.sessionTransactions(session).slice(1) }]);
    saveAll(doc);
    const [frame, ...rest] = doc.takePush();
    expect(rest).toEqual([]);
    expect(chunkOf(frame!)).toMatchObject({ after: 3, transactions: [{ data: "op-1" }, { data: "op-2" }] });
    expect(await verifyCheckpoint(chunkOf(frame!).signature, id, session, 5, chainHash(GENESIS_HASH, doc.sessionTransactions(session)))).toBe(true);
  });

  it("after a discard, a count past the cut is not taken as the own writes stored: a load asks from the cut, and its content is compared before pushing", () => {
    const doc = ackedDoc(2, 1);
    refuseWrites(doc.state, session, forbidden);
    expect(discardRefused(doc.state, session)).toBe(1);
    doc.append("next"); // at index 1, where another tab may have got the discarded write stored
    saveAll(doc);
    expect(chunkOf(doc.takePush()[0]!)).toMatchObject({ after: 1, transactions: [{ data: "next" }] });
    doc.onKnown(relayHolds(2), "correction"); // it did: the relay holds 2
    expect(doc.hasUnsynced).toBe(true);
    expect(doc.takePush()).toEqual([]);
    expect(doc.loadKnown.sessions[session]).toBe(1);
    expect(doc.known.sessions[session]).toBe(2);

    doc.state.reused!.asked = true; // the load is sent (tracking.ts: sendLoad)
    doc.onContent(own(1, [{ at: doc.sessionTransactions(session)[1]!.at - 1, data: "op-1" }]));
    doc.onKnown(relayHolds(2), "load");
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "op-1", "next"]);
    saveAll(doc);
    expect(chunkOf(doc.takePush()[0]!)).toMatchObject({ after: 2, transactions: [{ data: "next" }] });
    expect(doc.state.reused).toBeUndefined(); // compared as far as the discarded writes went
  });

  it("after a discard, an ack of an own push past the cut ends the check: the relay's chain there is this client's", () => {
    const doc = ackedDoc(3, 1);
    refuseWrites(doc.state, session, forbidden);
    discardRefused(doc.state, session);
    doc.append("next");
    saveAll(doc);
    doc.takePush();
    doc.onKnown(relayHolds(2), "ack");
    expect(doc.state.reused).toBeUndefined();
    expect(doc.hasUnsynced).toBe(false);
  });

  it("content past what was acked or compared waits: the relay's copy is asked for from there (a client restarted on its session, say)", () => {
    const doc = loadedDoc(2, relayHolds(1)); // a load's count says nothing of what the relay holds there
    const stored = { at: doc.sessionTransactions(session)[0]!.at, data: "stored by another tab" };
    expect(doc.onContent(own(2, [stored]))).toBe(false);
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "op-1"]);
    expect(doc.takePush()).toEqual([]);
    expect(doc.loadKnown.sessions[session]).toBe(0);
    doc.state.reused!.asked = true; // the load is sent (tracking.ts: sendLoad)
    const discarded = { at: stored.at, data: "discarded by its tab" };
    doc.onContent(own(0, [doc.sessionTransactions(session)[0]!, discarded, stored]));
    doc.onKnown(relayHolds(3), "load");
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "discarded by its tab", "stored by another tab", "op-1"]);
    saveAll(doc);
    expect(chunkOf(doc.takePush()[0]!)).toMatchObject({ after: 3, transactions: [{ data: "op-1" }] });
  });

  it("a load's head that matches the own log at the relay's count vouches for it: content past it is taken in at once", () => {
    const doc = newDoc();
    for (let i = 0; i < 2; i++) doc.append(`op-${i}`);
    saveAll(doc);
    doc.onKnown(relayHolds(2), "load", chainHash(GENESIS_HASH, doc.sessionTransactions(session)));
    expect(doc.state.ownMatched).toBe(2);
    const stored = { at: doc.sessionTransactions(session)[1]!.at, data: "stored by another tab" };
    expect(doc.onContent(own(2, [stored]))).toBe(true);
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "op-1", "stored by another tab"]);
    expect(doc.state.reused).toBeUndefined();
  });

  it("a load's head that differs from the own log at the relay's count: the relay's copy is asked for and compared before anything is pushed, without a write", async () => {
    const doc = newDoc();
    doc.append("written instead");
    saveAll(doc);
    const discarded = { at: doc.sessionTransactions(session)[0]!.at, data: "discarded, stored by another tab" };
    doc.onKnown(relayHolds(1), "load", chainHash(GENESIS_HASH, [discarded]));
    expect(doc.hasUnsynced).toBe(true);
    expect(doc.takePush()).toEqual([]);
    expect(doc.loadKnown.sessions[session]).toBe(0);
    doc.state.reused!.asked = true; // the load is sent (tracking.ts: sendLoad)
    doc.onContent(own(0, [discarded]));
    doc.onKnown(relayHolds(1), "load", chainHash(GENESIS_HASH, [discarded]));
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["discarded, stored by another tab", "written instead"]);
    saveAll(doc);
    const [frame, ...rest] = doc.takePush();
    expect(rest).toEqual([]);
    expect(chunkOf(frame!)).toMatchObject({ after: 1, transactions: [{ data: "written instead" }] });
    expect(await verifyCheckpoint(chunkOf(frame!).signature, id, session, 2, chainHash(GENESIS_HASH, doc.sessionTransactions(session)))).toBe(true);
  });

  it("a load's head at a count past what this client holds vouches for nothing; with no content of it before the answer (a snapshot stood for it), the own writes are compared before they count", () => {
    const doc = loadedDoc(1, relayHolds(0));
    doc.onKnown(relayHolds(3), "load", chainHash(GENESIS_HASH, transactions(3, "elsewhere")));
    expect(doc.state.ownMatched).toBe(0);
    expect(doc.state.reused).toMatchObject({ from: 0, until: 3, checking: true });
    expect(doc.hasUnsynced).toBe(true);
    expect(doc.loadKnown.sessions[session]).toBe(0);
  });

  it("a correction naming more than was pushed from and than was acked is compared before it counts", () => {
    const doc = ackedDoc(2, 1);
    doc.onKnown(relayHolds(3), "correction");
    expect(countOf(doc.state.relay, session)).toBe(1);
    expect(doc.takePush()).toEqual([]);
    expect(doc.loadKnown.sessions[session]).toBe(1);
    doc.state.reused!.asked = true;
    doc.onContent(own(1, [doc.sessionTransactions(session)[1]!, { at: doc.sessionTransactions(session)[1]!.at, data: "another tab's" }]));
    doc.onKnown(relayHolds(3), "load");
    expect(doc.hasUnsynced).toBe(false);
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "op-1", "another tab's"]);
  });

  /** A client restarted on a store holding `stored` of its session, of which the relay had acknowledged `acked`. */
  function restartedOn(stored: Transaction[], acked: number): CoreDoc {
    const doc = new CoreDoc(undefined);
    doc.restore({ id, header, sessions: { [session]: stored }, relayHeld: relayHolds(acked) });
    return doc;
  }

  it("where a store's copy differs from writes the relay acknowledged before a restart, it was damaged: the relay's copy replaces it, and nothing moves or goes up again", () => {
    const written = transactions(3, "written");
    const doc = restartedOn([{ ...written[0]!, data: "damaged" }, written[1]!, written[2]!, { at: written[2]!.at, data: "offline" }], 3);
    doc.onKnown(relayHolds(3), "load", chainHash(GENESIS_HASH, written));
    expect(doc.hasUnsynced).toBe(true); // the relay's copy is asked for
    doc.state.reused!.asked = true; // the load is sent (tracking.ts: sendLoad)
    const taken = takeOwnContent(doc.state, session, { after: 0, transactions: written });
    expect(taken).toMatchObject({ cutFrom: 0, damagedFrom: 0 });
    doc.onKnown(relayHolds(3), "load", chainHash(GENESIS_HASH, written));
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["written-0", "written-1", "written-2", "offline"]);
    saveAll(doc);
    const [frame, ...rest] = doc.takePush();
    expect(rest).toEqual([]);
    expect(chunkOf(frame!)).toMatchObject({ after: 3, transactions: [{ data: "offline" }] }); // only the write the relay never had
  });

  it("writes discarded below what the relay acknowledged before a restart (it had lost them) and written again there are no damage: another tab's copy moves them after it", () => {
    const written = transactions(3, "written");
    const doc = restartedOn(written, 3);
    doc.onKnown(relayHolds(1), "load", chainHash(GENESIS_HASH, written.slice(0, 1))); // a relay restored from an older backup
    doc.takePush();
    refuseWrites(doc.state, session, forbidden);
    expect(discardRefused(doc.state, session)).toBe(1);
    doc.append("next");
    saveAll(doc);
    doc.onContent(own(1, written.slice(1))); // another tab got the discarded writes stored
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["written-0", "written-1", "written-2", "next"]);
  });

  it("a discard of refused writes keeps what the relay holds of the session", () => {
    const doc = ackedDoc(3, 1);
    refuseWrites(doc.state, session, forbidden);
    doc.state.relay.sessions[session] = 2; // learnt without a refusal's update, as a snapshot's covers are
    expect(discardRefused(doc.state, session)).toBe(2);
    expect(doc.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(["op-0", "op-1"]);
  });
});

describe("restore", () => {
  it("continues the hash chain and the clock of a stored session", async () => {
    vi.useFakeTimers();
    const previous = loadedDoc(3);
    const own = [...previous.sessionTransactions(session)];
    const stored = { id, header, sessions: { [session]: own, [other]: transactions(2, "theirs") } };
    vi.setSystemTime(Date.now() - 60_000); // the clock went back since
    const doc = new CoreDoc(undefined);
    doc.restore(stored);
    expect(doc.header).toEqual(header);
    expect(doc.unsaved()).toBeUndefined(); // it came from the store
    const next = doc.append("after restart");
    expect(next.index).toBe(3);
    expect(next.at).toBeGreaterThanOrEqual(own[2]!.at);
    saveAll(doc);
    doc.onKnown(relayHolds(3), "load");
    const [frame, ...rest] = doc.takePush();
    expect(rest).toEqual([]);
    expect(chunkOf(frame!)).toMatchObject({ after: 3, transactions: [{ data: "after restart" }] });
    expect(await verifyCheckpoint(chunkOf(frame!).signature, id, session, 4, chainHash(GENESIS_HASH, doc.sessionTransactions(session)))).toBe(true);
    expect(doc.transactions()).toHaveLength(6);
  });
});
