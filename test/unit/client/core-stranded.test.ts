// Writes the local store kept past a hole in their session's log (a save between them damaged on the disk):
// of this agent's sessions only, they join the log once the relay's copy fills the hole, and what the relay
// lacks of them is pushed; past what the relay holds, they are lost, and said so.
import { describe, expect, it } from "vitest";
import { applyKnown, heldCount, newDocState, restoreDoc, type DocState } from "../../../client/core/doc-state.ts";
import { applyContent } from "../../../client/core/received.ts";
import { takeOrphanTails } from "../../../client/core/push.ts";
import { joinStranded, unjoinable } from "../../../client/core/stranded.ts";
import { transactions } from "../../support/identity.ts";
import { header, id, orphan, own, stranger, writer } from "./agent-sessions.ts";

const orphanWrites = transactions(6, "orphan");

/** Restored from a store that lost the orphan session's save of transaction 2: 0-1 held, 3-5 kept aside. */
function restored(): DocState {
  const doc = newDocState(id, header);
  restoreDoc(doc, own, {
    id,
    header,
    sessions: { [orphan]: orphanWrites.slice(0, 2) },
    stranded: { [orphan]: [{ after: 3, transactions: orphanWrites.slice(3) }], [stranger]: [{ after: 4, transactions: transactions(1, "stranger") }] },
  });
  return doc;
}


describe("writes kept aside past a hole", () => {
  it("are held for this agent's sessions only, and join once the relay's copy fills the hole; what the relay lacks of them is pushed", () => {
    const doc = restored();
    expect([...doc.stranded.keys()]).toEqual([orphan]); // a stranger's session comes whole from the relay
    expect(joinStranded(doc, own, orphan).added).toEqual([]); // the hole is still there
    applyContent(doc, own, { type: "content", doc: id, sessions: { [orphan]: { after: 2, transactions: orphanWrites.slice(2, 4) } } });
    const { added, lost } = joinStranded(doc, own, orphan);
    expect(lost).toEqual([]);
    expect(added.map((transaction) => transaction.index)).toEqual([4, 5]);
    expect(heldCount(doc, orphan)).toBe(6);
    expect(doc.stranded.size).toBe(0);
    applyKnown(doc, own, { header: true, sessions: { [orphan]: 4 } }, "load");
    expect(takeOrphanTails(doc, writer).map((frame) => frame.sessions[orphan]?.after)).toEqual([4]);
  });

  it("that contradict the relay's copy where they overlap are lost, the relay's copy kept", () => {
    const doc = restored();
    const other = transactions(4, "another tab");
    applyContent(doc, own, { type: "content", doc: id, sessions: { [orphan]: { after: 2, transactions: other.slice(2, 4) } } });
    expect(joinStranded(doc, own, orphan)).toEqual({ added: [], lost: [{ session: orphan, first: 3, last: 5 }] });
    expect(heldCount(doc, orphan)).toBe(4);
  });

  it("past what the relay holds are lost once it answers a load: the hole held writes it never got", () => {
    const doc = restored();
    expect(unjoinable(doc, { header: true, sessions: { [orphan]: 3 } })).toEqual([]); // its copy fills the hole: they wait for it
    expect(doc.stranded.size).toBe(1);
    expect(unjoinable(doc, { header: true, sessions: { [orphan]: 2 } })).toEqual([{ session: orphan, first: 3, last: 5 }]);
    expect(doc.stranded.size).toBe(0);
  });
});
