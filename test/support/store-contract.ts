// One contract, two stores: the cases every GroupStore must pass, run against MemoryStore in plain Node
// (test/unit/store-contract.test.ts) and against SqliteStore on the Durable Object's real SQLite inside
// workerd (test/worker/store-contract.test.ts). The same assertions on both, so the two agree exactly.
import { expect } from "vitest";
import { EMPTY_DIGEST, GENESIS_HASH, STORED_BYTES_PER_TRANSACTION, chainHash, dataBytes, digestOf, digestOfSum, docIdOf, type AgentId, type DocHeader, type DocId, type SessionId, type Transaction } from "../../protocol/index.ts";
import { ALL_DOCS, type GroupStore, type SessionAppend, type StoredTransaction, type Write } from "../../worker/core/store.ts";
import { seededRandom } from "../unit/seeded-random.ts";
import { comparableAll } from "./bytes.ts";
import { testAgent, testHeader } from "./identity.ts";

export type StoreCase = { name: string; run(store: GroupStore): void };

const GROUP = "contract";
const alice = testAgent(71);
const aliceTwo = testAgent(71, "session-two");
const bob = testAgent(72);
const doc1 = testHeader(alice, GROUP, "contract-1");
const doc2 = testHeader(alice, GROUP, "contract-2");
const doc3 = testHeader(bob, GROUP, "contract-3");
const NOW = 1_700_000_000_000;
/** What each transaction counts against its agent's bytes beyond its data. */
const PER_TRANSACTION = STORED_BYTES_PER_TRANSACTION;

/** Appends to a session log, keeping its chain like a writer would (stores trust what they are given). */
class Log {
  count = 0;
  lastHash = GENESIS_HASH;
  readonly session: SessionId;
  constructor(session: SessionId) {
    this.session = session;
  }
  append(transactions: Transaction[]): SessionAppend {
    const after = this.count;
    this.lastHash = chainHash(this.lastHash, transactions);
    this.count += transactions.length;
    const bytes = transactions.reduce((sum, transaction) => sum + dataBytes(transaction.data), 0);
    return { session: this.session, after, transactions, signature: `sig-${this.session.slice(-6)}-${this.count}`, lastHash: this.lastHash, bytes };
  }
}

const txs = (count: number, prefix: string, at = NOW): Transaction[] => Array.from({ length: count }, (_, i) => ({ at: at + i, data: `${prefix}-${i}` }));

function write(doc: { id: DocId; header: DocHeader }, appends: SessionAppend[], options: { header?: boolean; now?: number } = {}): Write {
  return { doc: doc.id, appends, now: options.now ?? NOW, ...(options.header ? { header: doc.header } : {}) };
}

/** Everything a store says about a group, as plain data: two stores that agree produce equal snapshots. */
export function snapshot(store: GroupStore) {
  const docs = [...store.listDocuments(0)].map((entry) => {
    const logs: Record<string, StoredTransaction[]> = {};
    for (const [session, count] of Object.entries(entry.known.sessions) as [SessionId, number][]) {
      logs[session] = [...store.readTransactions(entry.id, session, 0, count)];
    }
    return { ...entry, logs, sessionCount: store.sessionCount(entry.id), deletedFlag: store.deleted(entry.id) };
  });
  return { info: store.info(), members: [...store.members()].sort(), docs, usage: [store.usage(alice.agent), store.usage(bob.agent)] };
}

const sorted = (peers: string[]) => [...peers].sort();

/** Strings a decoder accepts: well-formed UTF-16 of every width, escapes, controls, NUL, and JSON-looking text. */
function wellFormedTexts(seed: number, count: number): string[] {
  const random = seededRandom(seed);
  const alphabet = ["a", " ", "\u0000", "\u0001", "\n", '"', "\\", "/", "é", "€", "\u2028", "\u2029", "\uFFFD", "\uFEFF", "😀", "𝄞", "\uD83D\uDC4D", "null", "123", "{}", "[]", "'", "%", "\u007f"];
  return Array.from({ length: count }, () => Array.from({ length: random.below(12) }, () => alphabet[random.below(alphabet.length)]!).join(""));
}

export const storeContract: StoreCase[] = [
  {
    name: "a new document's header and sessions commit together; known state, heads and counts follow",
    run(store) {
      const a = new Log(alice.session);
      const b = new Log(aliceTwo.session);
      expect(store.header(doc1.id)).toBeUndefined();
      expect(store.knownState(doc1.id)).toEqual({ header: false, sessions: {} });
      store.commit(write(doc1, [a.append(txs(3, "a")), b.append(txs(1, "b"))], { header: true }));
      expect(store.header(doc1.id)).toEqual(doc1.header);
      expect(store.deleted(doc1.id)).toBe(false);
      expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 3, [aliceTwo.session]: 1 } });
      expect(store.sessionHead(doc1.id, alice.session)).toEqual({ count: 3, lastHash: a.lastHash });
      expect(store.sessionHead(doc1.id, bob.session)).toBeUndefined();
      expect(store.sessionCount(doc1.id)).toBe(2);
      store.commit(write(doc1, [a.append(txs(2, "a2")), new Log(bob.session).append(txs(1, "c"))], { now: NOW + 5 }));
      expect(store.sessionHead(doc1.id, alice.session)).toEqual({ count: 5, lastHash: a.lastHash });
      expect(store.sessionCount(doc1.id)).toBe(3);
      expect(store.info().cursor).toBe(2);
      const [entry] = [...store.listDocuments(0)];
      expect(entry).toEqual({ id: doc1.id, header: doc1.header, known: store.knownState(doc1.id), updatedAt: NOW + 5, cursor: 2 });
    },
  },
  {
    name: "a header-only document exists with no sessions",
    run(store) {
      store.commit(write(doc2, [], { header: true }));
      expect(store.knownState(doc2.id)).toEqual({ header: true, sessions: {} });
      expect(store.sessionCount(doc2.id)).toBe(0);
      expect(store.info().digest).not.toBe(EMPTY_DIGEST);
      expect(store.info().digest).toBe(digestOf([[doc2.id, { header: true, sessions: {} }]]));
    },
  },
  {
    name: "transactions read back exactly: every index, time, text and checkpoint signature, in any range",
    run(store) {
      const a = new Log(alice.session);
      const texts = wellFormedTexts(7, 200);
      texts.push("x".repeat(200_000), "é".repeat(50_000), "😀".repeat(30_000));
      const all = texts.map((data, i) => ({ at: i === 0 ? 0 : Number.MAX_SAFE_INTEGER - texts.length + i, data }));
      store.commit(write(doc1, [a.append(all.slice(0, 150))], { header: true }));
      store.commit(write(doc1, [a.append(all.slice(150))]));
      const read = [...store.readTransactions(doc1.id, alice.session, 0, all.length)];
      expect(read).toEqual(all.map((transaction, index) => ({ ...transaction, index, ...(index === 149 ? { signature: "sig-on-one-150" } : index === all.length - 1 ? { signature: `sig-on-one-${all.length}` } : {}) })));
      expect([...store.readTransactions(doc1.id, alice.session, 148, 152)]).toEqual(read.slice(148, 152));
      expect([...store.readTransactions(doc1.id, alice.session, all.length - 1, all.length + 10)]).toEqual(read.slice(-1));
      expect([...store.readTransactions(doc1.id, bob.session, 0, 10)]).toEqual([]);
      expect([...store.readTransactions(doc2.id, alice.session, 0, 10)]).toEqual([]);
    },
  },
  {
    name: "data of bytes reads back as exactly those bytes, and text as text, mixed in one write and across sessions",
    run(store) {
      const a = new Log(alice.session);
      const b = new Log(aliceTwo.session);
      const random = seededRandom(5);
      const large = Uint8Array.from({ length: 100_000 }, () => random.below(256));
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
      const first: Transaction[] = [
        { at: NOW, data: everyByte },
        { at: NOW + 1, data: "AAECAw" }, // text that looks like base64 stays text
        { at: NOW + 2, data: new Uint8Array(0) },
        { at: NOW + 3, data: large },
        { at: NOW + 4, data: "" },
        { at: NOW + 5, data: Uint8Array.of(0) },
      ];
      const second: Transaction[] = [{ at: NOW, data: Uint8Array.of(0xff, 0xfe, 0x00, 0x7b) }, { at: NOW + 1, data: "{}" }];
      store.commit(write(doc1, [a.append(first), b.append(second)], { header: true }));
      const readA = [...store.readTransactions(doc1.id, alice.session, 0, first.length)];
      const readB = [...store.readTransactions(doc1.id, aliceTwo.session, 0, second.length)];
      expect(comparableAll(readA.map((transaction) => transaction.data))).toEqual(comparableAll(first.map((transaction) => transaction.data)));
      expect(comparableAll(readB.map((transaction) => transaction.data))).toEqual(comparableAll(second.map((transaction) => transaction.data)));
      expect(readA.map((transaction) => typeof transaction.data)).toEqual(["object", "string", "object", "object", "string", "object"]);
      for (const transaction of [...readA, ...readB]) if (typeof transaction.data !== "string") expect(transaction.data).toBeInstanceOf(Uint8Array);
      // A later write whose bytes are all empty still stores a row for each.
      store.commit(write(doc1, [a.append([{ at: NOW + 9, data: new Uint8Array(0) }])]));
      expect([...store.readTransactions(doc1.id, alice.session, first.length, first.length + 1)].map((transaction) => transaction.data)).toEqual([new Uint8Array(0)]);
      expect(store.knownState(doc1.id).sessions).toEqual({ [alice.session]: first.length + 1, [aliceTwo.session]: second.length });
    },
  },
  {
    name: "stored bytes stay as committed when the writer's array changes afterwards, and a failed write of bytes leaves nothing",
    run(store) {
      const a = new Log(alice.session);
      const bytes = Uint8Array.of(1, 2, 3);
      store.commit(write(doc1, [a.append([{ at: NOW, data: bytes }])], { header: true }));
      bytes[0] = 9;
      expect([...store.readTransactions(doc1.id, alice.session, 0, 1)][0]!.data).toEqual(Uint8Array.of(1, 2, 3));
      const gap = new Log(bob.session);
      gap.count = 1;
      expect(() => store.commit(write(doc1, [a.append([{ at: NOW + 1, data: Uint8Array.of(4) }]), gap.append([{ at: NOW + 1, data: Uint8Array.of(5) }])]))).toThrow();
      expect(store.knownState(doc1.id).sessions).toEqual({ [alice.session]: 1 });
      expect([...store.readTransactions(doc1.id, alice.session, 0, 5)]).toHaveLength(1);
    },
  },
  {
    name: "headers read back exactly, meta text of every width included",
    run(store) {
      const meta = { title: wellFormedTexts(11, 20).join("|"), nested: { list: ["😀", "\u0000", 1.5, -0, 1e21, null, true] }, "ключ 😀": "value" };
      const header: DocHeader = { ...doc3.header, meta, readers: [alice.agent] };
      const doc = { id: doc3.id, header };
      store.commit(write(doc, [new Log(bob.session).append(txs(1, "b"))], { header: true }));
      // Exactly as JSON carries it (the only change JSON makes is -0 to 0, and a header arrives as JSON).
      const asJson = JSON.parse(JSON.stringify(header)) as DocHeader;
      expect(store.header(doc.id)).toEqual(asJson);
      expect([...store.listDocuments(0)][0]!.header).toEqual(asJson);
      expect(store.hasRestrictedDocs()).toBe(true);
    },
  },
  {
    name: "commitAll stores several writes in order, each from where the one before left its document, as one commit each would",
    run(store) {
      const a = new Log(alice.session);
      const b = new Log(aliceTwo.session);
      const c = new Log(alice.session);
      store.commitAll([
        write(doc1, [a.append(txs(2, "a"))], { header: true }),
        write(doc2, [c.append(txs(1, "c"))], { header: true, now: NOW + 1 }),
        write(doc1, [a.append(txs(3, "a2")), b.append(txs(1, "b"))], { now: NOW + 2 }),
      ]);
      expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 5, [aliceTwo.session]: 1 } });
      expect([...store.readTransactions(doc1.id, alice.session, 0, 5)].map((tx) => tx.data)).toEqual(["a-0", "a-1", "a2-0", "a2-1", "a2-2"]);
      expect(store.sessionHead(doc1.id, alice.session)).toEqual({ count: 5, lastHash: a.lastHash });
      expect(store.sessionCount(doc1.id)).toBe(2);
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 3, bytes: 2 * 3 + 3 + 3 * 4 + 3 + 7 * PER_TRANSACTION });
      // The group moved as far as three commits move it, and its digest is that of what it holds.
      expect(store.info().cursor).toBe(3);
      expect(store.info().digest).toBe(digestOf([[doc1.id, store.knownState(doc1.id)], [doc2.id, store.knownState(doc2.id)]]));
      expect([...store.listDocuments(0)].map((entry) => [entry.id, entry.cursor])).toEqual([[doc2.id, 2], [doc1.id, 3]]);
      // No writes change nothing.
      store.commitAll([]);
      expect(store.info().cursor).toBe(3);
    },
  },
  {
    name: "commitAll creating many documents at once stores each as its own commit would, a long one in chunks, and each goes on from there",
    run(store) {
      const a = new Log(alice.session);
      const b = new Log(aliceTwo.session);
      const c = new Log(bob.session);
      const long = txs(700, "long");
      store.commitAll([
        write(doc1, [a.append(long)], { header: true }),
        write(doc2, [new Log(alice.session).append(txs(1, "two")), b.append(txs(2, "b"))], { header: true, now: NOW + 1 }),
        write(doc3, [c.append(txs(3, "c"))], { header: true, now: NOW + 2 }),
      ]);
      expect([...store.readTransactions(doc1.id, alice.session, 0, 700)].map((tx) => tx.data)).toEqual(long.map((tx) => tx.data));
      expect([...store.readTransactions(doc1.id, alice.session, 299, 302)].map((tx) => tx.index)).toEqual([299, 300, 301]);
      expect(store.knownState(doc2.id)).toEqual({ header: true, sessions: { [alice.session]: 1, [aliceTwo.session]: 2 } });
      expect(store.sessionHead(doc3.id, bob.session)).toEqual({ count: 3, lastHash: c.lastHash });
      expect(store.sessionCount(doc2.id)).toBe(2);
      expect(store.usage(alice.agent)).toMatchObject({ docs: 2, sessions: 3 });
      expect(store.usage(bob.agent)).toMatchObject({ docs: 1, sessions: 1 });
      expect([...store.listDocuments(0)].map((entry) => [entry.id, entry.cursor])).toEqual([[doc1.id, 1], [doc2.id, 2], [doc3.id, 3]]);
      expect(store.info().digest).toBe(digestOf([doc1, doc2, doc3].map((doc) => [doc.id, store.knownState(doc.id)] as const)));
      // Each goes on from where it was created, the long one's open chunk included.
      store.commitAll([write(doc1, [a.append(txs(2, "more"))]), write(doc3, [c.append(txs(1, "c2"))])]);
      expect([...store.readTransactions(doc1.id, alice.session, 698, 702)].map((tx) => tx.data)).toEqual(["long-698", "long-699", "more-0", "more-1"]);
      expect(store.knownState(doc3.id)).toEqual({ header: true, sessions: { [bob.session]: 4 } });
      // And creating one again is refused whole, with the others of its commit.
      const before = snapshot(store);
      const doc4 = testHeader(bob, GROUP, "contract-4");
      expect(() => store.commitAll([write(doc4, [new Log(bob.session).append(txs(1, "four"))], { header: true }), write(doc3, [new Log(bob.session).append(txs(1, "again"))], { header: true })])).toThrow();
      expect(snapshot(store)).toEqual(before);
      expect(store.header(doc4.id)).toBeUndefined();
    },
  },
  {
    name: "commitAll is all or nothing: a write that does not follow the log undoes the writes before it",
    run(store) {
      const a = new Log(alice.session);
      store.commit(write(doc1, [a.append(txs(2, "a"))], { header: true }));
      const before = snapshot(store);
      const gap = new Log(aliceTwo.session);
      gap.count = 3;
      const fork = new Log(alice.session);
      fork.count = a.count;
      fork.lastHash = a.lastHash;
      expect(() =>
        store.commitAll([
          write(doc2, [new Log(alice.session).append(txs(1, "new"))], { header: true }),
          write(doc1, [fork.append(txs(1, "fine"))]),
          write(doc1, [gap.append(txs(1, "gap"))]),
        ]),
      ).toThrow();
      expect(snapshot(store)).toEqual(before);
      expect(store.header(doc2.id)).toBeUndefined();
      expect(store.sessionHead(doc1.id, alice.session)).toEqual({ count: 2, lastHash: a.lastHash });
      // Two writes that each start at the same place: the second does not follow the first.
      const twice = a.append(txs(1, "twice"));
      expect(() => store.commitAll([write(doc1, [twice]), write(doc1, [twice])])).toThrow();
      expect(snapshot(store)).toEqual(before);
      // The store goes on from where it was.
      store.commitAll([write(doc1, [twice])]);
      expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 3 } });
    },
  },
  {
    name: "prefetch changes nothing a reader sees; subscribeAll subscribes a peer to each document, a waiting one included; unsubscribeAll ends only that peer's",
    run(store) {
      store.subscribe("waiting", doc2.id);
      store.commit(write(doc1, [new Log(alice.session).append(txs(1, "a"))], { header: true }));
      const before = snapshot(store);
      store.prefetch?.([doc1.id, doc2.id, doc3.id, doc1.id]);
      expect(snapshot(store)).toEqual(before);
      expect(store.subscribers(doc2.id)).toEqual(["waiting"]);
      expect(store.subscribers(doc3.id)).toEqual([]);
      store.subscribeAll("p1", [doc1.id, doc2.id, doc3.id]);
      store.subscribeAll("p1", [doc1.id]);
      expect(store.subscribers(doc1.id)).toEqual(["p1"]);
      expect(sorted(store.subscribers(doc2.id))).toEqual(["p1", "waiting"]);
      expect(store.subscribers(doc3.id)).toEqual(["p1"]);
      // A document's own subscribers leave out the whole group's.
      store.subscribe("everything", ALL_DOCS);
      expect(sorted(store.docSubscribers(doc2.id))).toEqual(["p1", "waiting"]);
      expect(sorted(store.subscribers(doc2.id))).toEqual(["everything", "p1", "waiting"]);
      store.forgetPeer("everything");
      store.unsubscribeAll("p1", [doc2.id, doc3.id]);
      expect(store.subscribers(doc1.id)).toEqual(["p1"]);
      expect(store.subscribers(doc2.id)).toEqual(["waiting"]);
      expect(store.subscribers(doc3.id)).toEqual([]);
      store.subscribeAll("p1", [doc3.id]);
      store.forgetPeer("p1");
      expect(store.subscribers(doc3.id)).toEqual([]);
      expect(store.subscribers(doc1.id)).toEqual([]);
    },
  },
  {
    name: "readerSum is the digest sum of what a member who is not an admin may read, through writes and deletes",
    run(store) {
      const carol = testAgent(73);
      const limited = { ...doc2.header, nonce: "limited", readers: [bob.agent] };
      const limitedDoc = { id: docIdOf(limited), header: limited };
      const gone = { ...doc2.header, nonce: "limited-gone", readers: [bob.agent] };
      const goneDoc = { id: docIdOf(gone), header: gone };
      /** The digest of these documents as they are stored now. */
      const digestOfDocs = (...ids: DocId[]) => digestOf(ids.map((id) => [id, store.knownState(id)] as const));
      const readers = () => [alice.agent, bob.agent, carol.agent].map((agent) => digestOfSum(store.readerSum(agent)));
      const a = new Log(alice.session);
      store.commit(write(doc1, [new Log(alice.session).append(txs(1, "a"))], { header: true }));
      expect(readers()).toEqual([digestOfDocs(doc1.id), digestOfDocs(doc1.id), digestOfDocs(doc1.id)]);
      store.commit(write(limitedDoc, [a.append(txs(2, "l"))], { header: true }));
      store.commit(write(goneDoc, [], { header: true }));
      // Its creator and its reader see it; another member does not.
      expect(readers()).toEqual([digestOfDocs(doc1.id, limitedDoc.id, goneDoc.id), digestOfDocs(doc1.id, limitedDoc.id, goneDoc.id), digestOfDocs(doc1.id)]);
      store.deleteDoc(goneDoc.id, NOW + 1);
      store.commit(write(limitedDoc, [a.append(txs(3, "m")), new Log(bob.session).append(txs(1, "b"))]));
      expect(readers()).toEqual([digestOfDocs(doc1.id, limitedDoc.id), digestOfDocs(doc1.id, limitedDoc.id), digestOfDocs(doc1.id)]);
      store.deleteDoc(limitedDoc.id, NOW + 2);
      expect(readers()).toEqual([digestOfDocs(doc1.id), digestOfDocs(doc1.id), digestOfDocs(doc1.id)]);
    },
  },
  {
    name: "a commit that does not follow the stored log fails whole: no header, no session, no cursor",
    run(store) {
      const a = new Log(alice.session);
      store.commit(write(doc1, [a.append(txs(2, "a"))], { header: true }));
      const before = snapshot(store);
      const gap = new Log(alice.session);
      gap.count = 5;
      const fine = new Log(aliceTwo.session);
      // A later session beyond what is stored, after a session that would have been fine.
      expect(() => store.commit(write(doc1, [fine.append(txs(1, "fine")), gap.append(txs(1, "gap"))]))).toThrow();
      expect(snapshot(store)).toEqual(before);
      // A replay of what is stored.
      expect(() => store.commit(write(doc1, [new Log(alice.session).append(txs(1, "dup"))]))).toThrow();
      expect(snapshot(store)).toEqual(before);
      // A new document whose second session does not start at 0.
      const late = new Log(bob.session);
      late.count = 1;
      expect(() => store.commit(write(doc2, [new Log(alice.session).append(txs(1, "x")), late.append(txs(1, "y"))], { header: true }))).toThrow();
      expect(snapshot(store)).toEqual(before);
      expect(store.header(doc2.id)).toBeUndefined();
      // The store goes on from where it was.
      store.commit(write(doc1, [a.append(txs(1, "next"))]));
      expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 3 } });
    },
  },
  {
    name: "the digest kept per write equals the digest of what the store lists, deletions included",
    run(store) {
      const logs = [new Log(alice.session), new Log(aliceTwo.session), new Log(bob.session)];
      const random = seededRandom(3);
      for (let i = 0; i < 30; i++) {
        const doc = [doc1, doc2, doc3][random.below(3)]!;
        const appends = logs.filter(() => random.next() < 0.5).map((log) => log);
        const isNew = store.header(doc.id) === undefined && !store.deleted(doc.id);
        if (store.deleted(doc.id)) continue;
        const fresh = appends.map((log) => {
          const head = store.sessionHead(doc.id, log.session);
          const own = new Log(log.session);
          own.count = head?.count ?? 0;
          own.lastHash = head?.lastHash ?? GENESIS_HASH;
          return own.append(txs(1 + random.below(3), `w${i}`));
        });
        if (!isNew && fresh.length === 0) continue;
        store.commit(write(doc, fresh, { header: isNew, now: NOW + i }));
        if (i === 20) store.deleteDoc(doc1.id, NOW + i);
        const live = [...store.listDocuments(0)].filter((entry) => !entry.deleted).map((entry) => [entry.id, entry.known] as const);
        expect(store.info().digest).toBe(digestOf(live));
      }
    },
  },
  {
    name: "an agent's usage counts its live documents, its sessions and their transactions (data's bytes, and STORED_BYTES_PER_TRANSACTION each, empty ones too); a deletion gives them back",
    run(store) {
      expect(store.usage(alice.agent)).toEqual({ docs: 0, sessions: 0, bytes: 0 });
      const a = new Log(alice.session);
      store.commit(write(doc1, [a.append([{ at: NOW, data: "abc" }, { at: NOW, data: "é€😀" }])], { header: true }));
      store.commit(write(doc1, [a.append([{ at: NOW, data: "x".repeat(100) }]), new Log(aliceTwo.session).append([{ at: NOW, data: "yz" }])]));
      store.commit(write(doc1, [a.append([{ at: NOW, data: "" }, { at: NOW, data: new Uint8Array() }])]));
      store.commit(write(doc2, [new Log(alice.session).append([{ at: NOW, data: "on alice's second" }])], { header: true }));
      store.deleteDoc(doc2.id, NOW);
      store.commit(write(doc3, [new Log(bob.session).append([{ at: NOW, data: "b" }])], { header: true }));
      store.commit(write(doc3, [new Log(alice.session).append([{ at: NOW, data: "on bob's document" }])]));
      expect(store.usage(alice.agent)).toEqual({ docs: 1, sessions: 3, bytes: 12 + 100 + 2 + 17 + 7 * PER_TRANSACTION });
      expect(store.usage(bob.agent)).toEqual({ docs: 1, sessions: 1, bytes: 1 + PER_TRANSACTION });
      store.deleteDoc(doc1.id, NOW + 1);
      expect(store.usage(alice.agent)).toEqual({ docs: 0, sessions: 1, bytes: 17 + PER_TRANSACTION });
      expect(store.usage(bob.agent)).toEqual({ docs: 1, sessions: 1, bytes: 1 + PER_TRANSACTION });
      store.deleteDoc(doc3.id, NOW + 2);
      expect([store.usage(alice.agent), store.usage(bob.agent)]).toEqual([{ docs: 0, sessions: 0, bytes: 0 }, { docs: 0, sessions: 0, bytes: 0 }]);
    },
  },
  {
    name: "a stored snapshot's data counts against its author's bytes: replaced by its own, by another's (moved to that author), given back with its document",
    run(store) {
      const a = new Log(alice.session);
      store.commit(write(doc1, [a.append([{ at: NOW, data: "abc" }])], { header: true }));
      store.commit(write(doc1, [new Log(bob.session).append([{ at: NOW, data: "b" }])]));
      store.commit(write(doc2, [new Log(alice.session).append([{ at: NOW, data: "de" }])], { header: true }));
      // Each agent's transactions, one a session, count their data's bytes and PER_TRANSACTION each throughout.
      const [aliceOwn, bobOwn] = [2 * PER_TRANSACTION, PER_TRANSACTION];
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 2, bytes: 5 + aliceOwn });
      expect(store.usage(bob.agent)).toEqual({ docs: 0, sessions: 1, bytes: 1 + bobOwn });
      const snapshotOf = (session: SessionId, data: string | Uint8Array, takenAt: number, doc = doc1) => ({ doc: doc.id, session, covers: { [alice.session]: 1 }, data, signature: "sig", takenAt });
      store.putSnapshot(snapshotOf(alice.session, "état", NOW + 1)); // 5 bytes
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 2, bytes: 5 + aliceOwn + 5 });
      store.putSnapshot(snapshotOf(alice.session, Uint8Array.of(1, 2, 3), NOW + 2));
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 2, bytes: 5 + aliceOwn + 3 });
      store.putSnapshot(snapshotOf(bob.session, "x".repeat(40), NOW + 3));
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 2, bytes: 5 + aliceOwn });
      expect(store.usage(bob.agent)).toEqual({ docs: 0, sessions: 1, bytes: 1 + bobOwn + 40 });
      store.putSnapshot(snapshotOf(aliceTwo.session, "yz", NOW + 4, doc2));
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 2, bytes: 5 + aliceOwn + 2 });
      // Pruning deletes stored transactions, not the snapshot nor what the pruned ones count (their document does not change size for its agents): nothing changes.
      while (store.prune(NOW + 10, 100).next !== undefined);
      expect(store.usage(alice.agent)).toEqual({ docs: 2, sessions: 2, bytes: 5 + aliceOwn + 2 });
      store.deleteDoc(doc1.id, NOW + 5);
      expect(store.usage(alice.agent)).toEqual({ docs: 1, sessions: 1, bytes: 2 + PER_TRANSACTION + 2 });
      expect(store.usage(bob.agent)).toEqual({ docs: 0, sessions: 0, bytes: 0 });
    },
  },
  {
    name: "agentSessionCount counts one agent's sessions of a live document, not another's, not a deleted document's",
    run(store) {
      store.commit(write(doc1, [new Log(alice.session).append(txs(1, "a")), new Log(aliceTwo.session).append(txs(1, "b"))], { header: true }));
      store.commit(write(doc1, [new Log(bob.session).append(txs(1, "c"))]));
      expect([store.agentSessionCount(doc1.id, alice.agent), store.agentSessionCount(doc1.id, bob.agent), store.agentSessionCount(doc2.id, alice.agent)]).toEqual([2, 1, 0]);
      store.deleteDoc(doc1.id, NOW);
      expect(store.agentSessionCount(doc1.id, alice.agent)).toBe(0);
    },
  },
  {
    name: "a deleted document is a tombstone: no header, no sessions, listed once as deleted without its meta, cursor moved",
    run(store) {
      store.commit(write(doc1, [new Log(alice.session).append(txs(2, "a"))], { header: true }));
      store.commit(write(doc2, [new Log(alice.session).append(txs(1, "b"))], { header: true }));
      store.subscribe("p1", doc1.id);
      store.deleteDoc(doc1.id, NOW + 9);
      expect(store.deleted(doc1.id)).toBe(true);
      expect(store.header(doc1.id)).toBeUndefined();
      expect(store.knownState(doc1.id)).toEqual({ header: false, sessions: {} });
      expect(store.sessionHead(doc1.id, alice.session)).toBeUndefined();
      expect(store.sessionCount(doc1.id)).toBe(0);
      expect([...store.readTransactions(doc1.id, alice.session, 0, 2)]).toEqual([]);
      expect(store.subscribers(doc1.id)).toEqual([]);
      expect(store.info().cursor).toBe(3);
      // Its meta (a title, say) went with its content; creator and readers still say who is told of it.
      const bare = { ...doc1.header, meta: {} };
      expect([...store.listDocuments(2)]).toEqual([{ id: doc1.id, header: bare, known: { header: false, sessions: {} }, updatedAt: NOW + 9, deleted: true, cursor: 3 }]);
      expect([...store.listDocumentsById()].find((entry) => entry.id === doc1.id)).toMatchObject({ header: bare, deleted: true });
      expect([store.tombstone(doc1.id), store.tombstone(doc2.id), store.tombstone(doc3.id)]).toEqual([bare, undefined, undefined]);
      expect(store.info().digest).toBe(digestOf([[doc2.id, store.knownState(doc2.id)]]));
      store.deleteDoc(doc1.id, NOW + 10); // twice: nothing more happens
      expect(store.info().cursor).toBe(3);
    },
  },
  {
    name: "listDocuments since a cursor gives the documents changed after it, in the order they changed",
    run(store) {
      const a = new Log(alice.session);
      store.commit(write(doc1, [a.append(txs(1, "a"))], { header: true }));
      store.commit(write(doc2, [], { header: true }));
      store.commit(write(doc1, [a.append(txs(1, "a"))]));
      expect([...store.listDocuments(0)].map((entry) => entry.id)).toEqual([doc2.id, doc1.id]);
      expect([...store.listDocuments(2)].map((entry) => entry.id)).toEqual([doc1.id]);
      expect([...store.listDocuments(3)]).toEqual([]);
    },
  },
  {
    name: "subscriptions: per document and group-wide, forgotten per peer",
    run(store) {
      store.subscribe("p1", doc1.id);
      store.subscribe("p2", doc1.id);
      store.subscribe("p2", doc1.id);
      store.subscribe("p3", ALL_DOCS);
      store.subscribe("p4", doc2.id);
      expect(sorted(store.subscribers(doc1.id))).toEqual(["p1", "p2", "p3"]);
      expect(sorted(store.subscribers(doc2.id))).toEqual(["p3", "p4"]);
      store.unsubscribe("p1", doc1.id);
      expect(sorted(store.subscribers(doc1.id))).toEqual(["p2", "p3"]);
      store.forgetPeer("p3");
      expect(sorted(store.subscribers(doc1.id))).toEqual(["p2"]);
      store.forgetPeer("p2");
      expect(store.subscribers(doc1.id)).toEqual([]);
      expect(store.subscribers(doc2.id)).toEqual(["p4"]);
      // Every peer gone at once (the object started again): no subscription is left, cached or stored.
      store.subscribe("p5", ALL_DOCS);
      store.forgetAllPeers();
      expect([store.subscribers(doc1.id), store.subscribers(doc2.id), store.docSubscribers(doc2.id)]).toEqual([[], [], []]);
      store.subscribe("p6", doc2.id);
      expect(store.subscribers(doc2.id)).toEqual(["p6"]);
    },
  },
  {
    name: "membership changes commit with their write: roles, the log's id and its last position",
    run(store) {
      const membersDoc = testHeader(alice, GROUP, "contract-members");
      const log = new Log(alice.session);
      const changes = [
        { agent: alice.agent, role: "admin" as const },
        { agent: bob.agent, role: "writer" as const },
      ];
      store.commit({ ...write(membersDoc, [log.append(txs(2, "op"))], { header: true }), members: { changes, genesis: true, last: { at: NOW + 1, session: alice.session } } });
      expect(store.info().membersDoc).toBe(membersDoc.id);
      expect(store.info().membersLast).toEqual({ at: NOW + 1, session: alice.session });
      expect(store.role(bob.agent)).toBe("writer");
      expect(store.members()).toEqual(new Map<AgentId, string>([[alice.agent, "admin"], [bob.agent, "writer"]]));
      store.commit({ ...write(membersDoc, [log.append(txs(1, "op2", NOW + 2))]), members: { changes: [{ agent: bob.agent, role: null }], genesis: false, last: { at: NOW + 2, session: alice.session } } });
      expect(store.role(bob.agent)).toBeUndefined();
      expect(store.info().membersLast).toEqual({ at: NOW + 2, session: alice.session });
    },
  },
  {
    name: "a removed agent is remembered as removed (not a member) until a role is set for it again, and a failed write changes neither",
    run(store) {
      const membersDoc = testHeader(alice, GROUP, "contract-members");
      const log = new Log(alice.session);
      const commitMembers = (changes: { agent: AgentId; role: "admin" | "writer" | "reader" | null }[], at: number, header = false) =>
        store.commit({ ...write(membersDoc, [log.append(txs(1, `op${at}`, NOW + at))], { header }), members: { changes, genesis: header, last: { at: NOW + at, session: alice.session } } });
      expect(store.info().removed).toEqual(new Set());
      commitMembers([{ agent: alice.agent, role: "admin" }, { agent: bob.agent, role: "writer" }], 1, true);
      expect(store.info().removed).toEqual(new Set());
      commitMembers([{ agent: bob.agent, role: null }], 2);
      expect(store.info().removed).toEqual(new Set([bob.agent]));
      expect(store.role(bob.agent)).toBeUndefined();
      expect(store.members()).toEqual(new Map<AgentId, string>([[alice.agent, "admin"]]));
      // All or nothing: a write refused with the others of its batch leaves the removal as it was.
      const readmit = { ...write(membersDoc, [log.append(txs(1, "op3", NOW + 3))]), members: { changes: [{ agent: bob.agent, role: "reader" as const }], genesis: false, last: { at: NOW + 3, session: alice.session } } };
      const unknownDoc = write(doc2, [new Log(alice.session).append(txs(1, "no header"))]);
      expect(() => store.commitAll([readmit, unknownDoc])).toThrow();
      expect(store.info().removed).toEqual(new Set([bob.agent]));
      expect(store.role(bob.agent)).toBeUndefined();
      store.commitAll([readmit]);
      expect(store.info().removed).toEqual(new Set());
      expect(store.role(bob.agent)).toBe("reader");
      expect(store.members()).toEqual(new Map<AgentId, string>([[alice.agent, "admin"], [bob.agent, "reader"]]));
    },
  },
  {
    name: "a document keeps one snapshot: read back exactly (text or bytes, with its author's time or without), replaced whole by the next, gone with its document",
    run(store) {
      const a = new Log(alice.session);
      store.commit(write(doc1, [a.append(txs(4, "a"))], { header: true }));
      expect(store.snapshotHead(doc1.id)).toBeUndefined();
      expect(store.readSnapshot(doc1.id)).toBeUndefined();
      const text = { doc: doc1.id, session: alice.session, covers: { [alice.session]: 2 }, data: "état 😀", at: NOW - 5, signature: "sig-snap-1", takenAt: NOW + 1 };
      store.putSnapshot(text);
      expect(store.readSnapshot(doc1.id)).toEqual(text);
      expect(store.snapshotHead(doc1.id)).toEqual({ session: alice.session, covers: { [alice.session]: 2 }, bytes: 10, takenAt: NOW + 1 });
      // One taken under protocol v2 carries no time, and keeps none of the one it replaces.
      const bytes = { doc: doc1.id, session: bob.session, covers: { [alice.session]: 4 }, data: Uint8Array.of(0, 255, 7), signature: "sig-snap-2", takenAt: NOW + 2 };
      store.putSnapshot(bytes);
      expect(store.readSnapshot(doc1.id)).not.toHaveProperty("at");
      bytes.data[0] = 9; // the caller's array changes after the write: the store kept its own copy
      expect(comparableAll([store.readSnapshot(doc1.id)])).toEqual(comparableAll([{ ...bytes, data: Uint8Array.of(0, 255, 7) }]));
      expect(store.snapshotHead(doc1.id)).toEqual({ session: bob.session, covers: { [alice.session]: 4 }, bytes: 3, takenAt: NOW + 2 });
      // A snapshot changes no count, digest or cursor.
      const info = store.info();
      expect(info.cursor).toBe(1);
      expect(store.knownState(doc1.id)).toEqual({ header: true, sessions: { [alice.session]: 4 } });
      store.deleteDoc(doc1.id, NOW + 3);
      expect(store.snapshotHead(doc1.id)).toBeUndefined();
      expect(store.readSnapshot(doc1.id)).toBeUndefined();
      expect(store.prune(NOW + 10, 100)).toEqual({ work: 0, next: undefined });
    },
  },
  {
    name: "pruning waits for the snapshot's time, deletes a covered prefix in bounded slices, and changes no count, head, digest or cursor",
    run(store) {
      const a = new Log(alice.session);
      const b = new Log(bob.session);
      // 4 writes of 250: whatever a store's rows, transactions 0-749 are in rows that end before 750.
      for (let i = 0; i < 4; i++) store.commit(write(doc1, [a.append(txs(250, `a${i}`)), ...(i === 0 ? [b.append(txs(3, "b"))] : [])], { header: i === 0 }));
      store.commit(write(doc2, [new Log(alice.session).append(txs(5, "other"))], { header: true }));
      const before = { info: store.info(), known: store.knownState(doc1.id), head: store.sessionHead(doc1.id, alice.session), listed: [...store.listDocuments(0)] };
      store.putSnapshot({ doc: doc1.id, session: alice.session, covers: { [alice.session]: 600, [bob.session]: 3 }, data: "S", signature: "sig", takenAt: NOW + 50 });
      expect(store.prune(NOW + 49, 100)).toEqual({ work: 0, next: NOW + 50 });
      expect([...store.readTransactions(doc1.id, alice.session, 0, 1000)]).toHaveLength(1000);
      const budget = 20;
      let slices = 0;
      for (let next: number | undefined = NOW + 50; next !== undefined; slices++) {
        if (slices > 1000) throw new Error("pruning never ends");
        const slice = store.prune(NOW + 50, budget);
        expect(slice.work).toBeLessThanOrEqual(budget + 1);
        next = slice.next;
      }
      expect(slices).toBeGreaterThan(0);
      const extent = store.sessionExtents(doc1.id).get(alice.session)!;
      expect(extent.count).toBe(1000);
      expect(extent.firstStored).toBeGreaterThan(0);
      expect(extent.firstStored).toBeLessThanOrEqual(600);
      const left = [...store.readTransactions(doc1.id, alice.session, 0, 1000)];
      expect(left.map((transaction) => transaction.index)).toEqual(Array.from({ length: 1000 - extent.firstStored }, (_, i) => extent.firstStored + i));
      expect(left.at(-1)).toMatchObject({ index: 999, data: "a3-249", signature: "sig-on-one-1000" });
      expect([...store.readTransactions(doc2.id, alice.session, 0, 5)]).toHaveLength(5);
      expect({ info: store.info(), known: store.knownState(doc1.id), head: store.sessionHead(doc1.id, alice.session), listed: [...store.listDocuments(0)] }).toEqual(before);
      // The log goes on where it ended; pruning has nothing more to do until a newer snapshot.
      store.commit(write(doc1, [a.append(txs(1, "next"))], { now: NOW + 60 }));
      expect([...store.readTransactions(doc1.id, alice.session, 1000, 1001)]).toEqual([{ at: NOW, data: "next-0", index: 1000, signature: "sig-on-one-1001" }]);
      expect(store.prune(NOW + 100, budget)).toEqual({ work: 0, next: undefined });
      store.putSnapshot({ doc: doc1.id, session: alice.session, covers: { [alice.session]: 1001, [bob.session]: 3 }, data: "S2", signature: "sig", takenAt: NOW + 70 });
      while (store.prune(NOW + 70, budget).next !== undefined);
      const after = store.sessionExtents(doc1.id).get(alice.session)!.firstStored;
      expect(after).toBeGreaterThanOrEqual(extent.firstStored);
      expect([...store.readTransactions(doc1.id, alice.session, 0, 1001)].map((transaction) => transaction.index)).toEqual(Array.from({ length: 1001 - after }, (_, i) => after + i));
    },
  },
];
