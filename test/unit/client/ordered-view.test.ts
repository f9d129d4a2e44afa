// The ordered view a Doc's transactions() returns (client/core/ordered-view.ts): built from the
// previous version's view by merging in only what was added, it must always equal sorting everything held,
// whatever happened in between: own writes, other sessions' transactions older than what is held, snapshots
// cutting logs, refused writes discarded and written again. The arrays and transactions it hands out are
// shared from one version to the next, so an app changing them gets an error rather than changing them
// for every later call.
import { describe, expect, it } from "vitest";
import { docIdOf, newHeader, type SessionId } from "../../../protocol/index.ts";
import {
  appendOwn,
  applySnapshot,
  baseOf,
  heldCount,
  newDocState,
  type DocState,
} from "../../../client/core/doc-state.ts";
import { applyContent } from "../../../client/core/received.ts";
import { discardRefused, refuseWrites } from "../../../client/core/held-back.ts";
import { orderedView, type OrderedView } from "../../../client/core/ordered-view.ts";
import { createIdentity, newSession } from "../../../client/identity.ts";
import { RelayError } from "../../../client/errors.ts";
import { testAgent } from "../../support/identity.ts";
import { seededRandom as random } from "../../support/random.ts";

const identity = createIdentity();
const own = newSession(identity);
const header = newHeader({ group: "team", kind: "json", creator: identity.agent, createdAt: 1_700_000_000_000 });
const id = docIdOf(header);
const bob = testAgent(3, "aaaa-device");
const carol = testAgent(4, "bbbb-device");
const T0 = 1_700_000_000_000;

/** Everything held, sorted from scratch: what the view must equal. */
function sortedFromScratch(doc: DocState): [number, SessionId, number, unknown][] {
  const all: [number, SessionId, number, unknown][] = [];
  for (const [session, log] of doc.sessions) log.forEach((transaction, i) => all.push([transaction.at, session, baseOf(doc, session) + i, transaction.data]));
  return all.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[2] - b[2]));
}

const tuples = (view: OrderedView) => view.transactions.map((t) => [t.at, t.session, t.index, t.data]);


/** One random change to the document, of the kinds a client sees. */
function change(doc: DocState, next: () => number, step: number): string {
  const roll = next();
  if (roll < 0.3) {
    for (let i = 0, n = 1 + Math.floor(next() * 3); i < n; i++) appendOwn(doc, own, `own-${step}-${i}`, T0 + Math.floor(next() * 1_000));
    return "append";
  }
  if (roll < 0.75) {
    // Another session's transactions, at times that may be before everything held.
    const who = next() < 0.5 ? bob : carol;
    const count = 1 + Math.floor(next() * 4);
    const at = T0 + Math.floor(next() * 1_000);
    const transactions = Array.from({ length: count }, (_, i) => ({ at: at + i * Math.floor(next() * 3), data: `${who === bob ? "bob" : "carol"}-${step}-${i}` }));
    applyContent(doc, own, { type: "content", doc: id, sessions: { [who.session]: { after: heldCount(doc, who.session), transactions } } });
    return "receive";
  }
  if (roll < 0.85) {
    // A snapshot covering part of what is held of each session.
    const covers: Record<SessionId, number> = {};
    for (const session of doc.sessions.keys()) covers[session] = baseOf(doc, session) + Math.floor(next() * (heldCount(doc, session) - baseOf(doc, session) + 1));
    applySnapshot(doc, { agent: identity.agent, session: own }, { doc: id, session: bob.session, covers, data: `snapshot-${step}`, signature: "" });
    return "snapshot";
  }
  // Own writes refused and discarded (the log is cut in place), then written again.
  if (refuseWrites(doc, own, new RelayError({ code: "forbidden", message: "no" }))) discardRefused(doc, own);
  appendOwn(doc, own, `again-${step}`, T0 + Math.floor(next() * 1_000));
  return "discard";
}

describe("the ordered view", () => {
  it("equals sorting everything held after every change, in 200 random histories", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const doc = newDocState(id, header);
      let view = orderedView(doc);
      const kept: { view: OrderedView; was: unknown[] }[] = [];
      for (let step = 0; step < 40; step++) {
        const what = change(doc, next, step);
        view = orderedView(doc, view);
        expect(tuples(view), `seed ${seed}, step ${step} (${what})`).toEqual(sortedFromScratch(doc));
        if (next() < 0.2) kept.push({ view, was: tuples(view) });
      }
      // Views handed out earlier still say what they said.
      for (const { view: earlier, was } of kept) expect(tuples(earlier)).toEqual(was);
    }
  });

  it("makes only what was added: the transactions already held are the same objects in the next view", () => {
    const doc = newDocState(id, header);
    for (let i = 0; i < 5; i++) appendOwn(doc, own, `own-${i}`, T0 + i);
    const first = orderedView(doc);
    applyContent(doc, own, { type: "content", doc: id, sessions: { [bob.session]: { after: 0, transactions: [{ at: T0 + 2, data: "bob-0" }] } } });
    const second = orderedView(doc, first);
    expect(tuples(second)).toEqual(sortedFromScratch(doc));
    expect(second.transactions.map((t) => t.data)).toContain("bob-0");
    for (const transaction of first.transactions) expect(second.transactions).toContain(transaction);
    expect(orderedView(doc, second)).toBe(second); // nothing changed: the same view
  });

  it("refuses an app reversing the array it got, or assigning to a transaction in it, and stays as it was", () => {
    const doc = newDocState(id, header);
    for (let i = 0; i < 3; i++) appendOwn(doc, own, `own-${i}`, T0 + i);
    const first = orderedView(doc);
    expect(() => (first.transactions as unknown[]).reverse()).toThrow(TypeError);
    expect(() => {
      (first.transactions[0] as { data: unknown }).data = "changed";
    }).toThrow(TypeError);
    appendOwn(doc, own, "own-3", T0 + 3);
    const second = orderedView(doc, first);
    expect(second.transactions.map((t) => t.data)).toEqual(["own-0", "own-1", "own-2", "own-3"]);
  });
});
