// Transcript tests of the client core for issue 9, item 11: what arrives is checked. A header that does not
// hash to its document id is dropped and reported, and nothing of it is adopted; received checkpoints that
// do not verify are reported and do not count.
import { describe, expect, it } from "vitest";
import { transactions } from "../../support/identity.ts";
import { bob, coreScenario, contentFrom, doc1, doc2, knownLoad } from "./core-transcript.ts";

describe("item 11: checks of what arrives", () => {
  it("a header that does not hash to its document id is dropped and reported", () => {
    const core = coreScenario();
    core.start();
    core.connect();
    core.transcript();
    core.feed({ type: "open", doc: doc1.id });
    core.relay({ ...contentFrom(bob, doc1, 0, transactions(1)), header: doc2.header });
    core.relay(knownLoad(doc1.id, false));
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | open doc1",
        "c | status syncing",
        "c -> relay | load doc1 (no header) {}",
        "relay -> c | content doc1 +header bob after=0 n=1",
        "c | report bad_header doc1",
        "relay -> c | known doc1 (no header) {} load",
        "c | loaded:doc1 resolves",
        "c | forget doc1",
        "c -> relay | unsub doc1",
        "c | open:doc1 rejects unknown_doc",
        "c | status live",
      ]
    `);
    expect(core.state.docs.has(doc1.id)).toBe(false);
  });

  it("checkpoints that do not verify are reported, and the document is saved again without them", () => {
    const core = coreScenario();
    core.start();
    core.connect();
    core.feed({ type: "open", doc: doc1.id });
    core.relay(contentFrom(bob, doc1, 0, transactions(2), true));
    core.relay(knownLoad(doc1.id, true, { [bob.session]: 2 }));
    core.transcript();
    core.feed({ type: "unverified", doc: doc1.id, sessions: [bob.session] });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "shell | unverified doc1 bob",
        "c | report bad_signature doc1",
        "c | flush doc1",
      ]
    `);
  });
});
