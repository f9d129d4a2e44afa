// Transcript tests of the client core for issue 9's resume items: item 4 (a document created offline after
// openAll() is loaded after `opened`, so it reaches the relay and the group goes live), item 5 (a resume of
// many documents goes in bounded `open` parts), item 8 (nothing leaves before the local store saved it),
// item 10 (role after createMembers; overlapping directory() calls each get their own answer).
import { describe, expect, it } from "vitest";
import { MAX_DOCS_PER_OPEN, MAX_FRAME_BYTES, decodeClientMessage, encodeMessage, frameBytes, type DocHeader, docIdOf } from "../../../protocol/index.ts";
import { transactions } from "../../support/identity.ts";
import { alice, coreScenario, doc1, doc2, knownLoad } from "./core-transcript.ts";

const DIGEST = "A".repeat(43);

describe("item 4: offline-created documents after openAll()", () => {
  it("a document the relay lacks is answered in the open as holding nothing, pushed, and the group goes live", () => {
    const core = coreScenario();
    core.start([{ id: doc1.id, header: doc1.header, sessions: {} }]);
    core.connect();
    core.feed({ type: "openAll" });
    core.relay(knownLoad(doc1.id, true));
    core.relay({ type: "opened", docs: 1, cursor: 1 });
    core.feed({ type: "down" });
    core.create(doc2); // offline, after openAll()
    core.transcript();
    core.connect();
    core.relay(knownLoad(doc1.id, true));
    core.relay(knownLoad(doc2.id, false));
    core.relay({ type: "opened", docs: 1, cursor: 1 });
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | hello sent",
        "c -> relay | open 2 docs",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 {} load",
        "c | flush doc1",
        "relay -> c | known doc2 (no header) {} load",
        "c | loaded:doc2 resolves",
        "c | status live",
        "c | flush doc2",
        "relay -> c | opened docs=1 cursor=1",
        "c | flush doc2",
        "c | openAll resolves",
        "store | saved doc1: relay holds {alice:0}",
        "store | saved doc2",
        "shell | push doc1, doc2",
        "c -> relay | content doc2 +header ",
      ]
    `);
  });

  it("a created document whose first push the socket lost, already loaded, goes up again after the open's answer", () => {
    const core = coreScenario();
    core.start([]);
    core.connect();
    core.feed({ type: "openAll" });
    core.relay({ type: "opened", docs: 0, cursor: 0 });
    core.create(doc2);
    core.relay(knownLoad(doc2.id, false));
    core.pump(); // the header goes out, and the socket drops before the relay stores it
    core.feed({ type: "down" });
    core.transcript();
    core.connect();
    core.relay(knownLoad(doc2.id, false));
    core.relay({ type: "opened", docs: 0, cursor: 0 });
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | hello sent",
        "c -> relay | open 1 docs",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc2 (no header) {} load",
        "c | status live",
        "c | flush doc2",
        "relay -> c | opened docs=0 cursor=0",
        "c | flush doc2",
        "c | openAll resolves",
        "shell | push doc2",
        "c -> relay | content doc2 +header ",
      ]
    `);
  });
});

describe("item 5: resume of many documents in bounded frames", () => {
  // 7,000 documents: one `open` listing them all overflowed a frame from about 6,800 on.
  it("the whole-group open of 7,000 documents goes in parts that each fit a frame", { timeout: 30_000 }, () => {
    const core = coreScenario();
    const stored = Array.from({ length: 7_000 }, (_, i) => {
      const header: DocHeader = { group: "g1", kind: "json", creator: alice.agent, createdAt: 1_700_000_000_000, nonce: `nonce-${i}`, meta: {} };
      return { id: docIdOf(header), header, sessions: { [alice.session]: transactions(1) } };
    });
    core.start(stored);
    core.feed({ type: "openAll" });
    const effects = core.feed({ type: "helloSent" });
    const opens = effects.flatMap((effect) => (effect.type === "send" && effect.message.type === "open" ? [effect.message] : []));
    expect(opens.length).toBeGreaterThan(1);
    expect(opens.reduce((sum, open) => sum + Object.keys(open.known).length, 0)).toBe(7_000);
    for (const open of opens) {
      expect(Object.keys(open.known).length).toBeLessThanOrEqual(MAX_DOCS_PER_OPEN);
      expect(frameBytes(encodeMessage(open))).toBeLessThanOrEqual(MAX_FRAME_BYTES);
      expect(decodeClientMessage(encodeMessage(open)).ok).toBe(true);
    }
  });
});

describe("item 8: saved before sent", () => {
  it("a write is pushed only after the local store saved it", () => {
    const core = coreScenario();
    core.start();
    core.connect();
    core.create(doc1);
    core.relay(knownLoad(doc1.id, false));
    core.append(doc1.id, "a");
    core.feed({ type: "push", docs: [doc1.id], now: 0 }); // the save has not answered yet
    core.pump();
    expect(core.transcript().slice(-7)).toMatchInlineSnapshot(`
      [
        "app | append doc1 "a"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "shell | push doc1",
        "store | saved doc1",
        "shell | push doc1",
        "c -> relay | content doc1 +header alice after=0 n=1",
      ]
    `);
  });
});

describe("item 10: smaller things", () => {
  it("createMembers() makes this agent admin at once", () => {
    const core = coreScenario();
    core.start();
    core.connect("writer");
    const header: DocHeader = { group: "g1", kind: "weft/members", creator: alice.agent, createdAt: 1_700_000_000_000, nonce: "nonce-0009", meta: {} };
    core.create({ id: docIdOf(header), header }, true);
    expect(core.state.role).toBe("admin");
    expect(core.state.membersDoc).toBe(docIdOf(header));
  });

  it("overlapping directory() calls with different `since` each get their own answer, in order", () => {
    const core = coreScenario();
    core.start();
    core.connect();
    core.feed({ type: "directory", request: { type: "dir", since: 0 } });
    core.feed({ type: "directory", request: { type: "dir", since: 0 } });
    core.feed({ type: "directory", request: { type: "dir", since: 7 } });
    const entry = { id: doc1.id, header: doc1.header, known: { header: true, sessions: {} }, updatedAt: 3 };
    core.relay({ type: "dir", docs: [entry], more: true, cursor: 3, digest: DIGEST, inSync: false });
    core.relay({ type: "dir", docs: [{ ...entry, id: doc2.id, header: doc2.header }], more: false, cursor: 9, digest: DIGEST, inSync: false });
    core.relay({ type: "dir", docs: [], more: false, cursor: 9, digest: DIGEST, inSync: false });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "store | restored ",
        "socket | hello sent",
        "relay -> c | welcome v=1 role=writer",
        "c | keep role writer",
        "c | status live",
        "app | directory since=0",
        "c -> relay | dir since=0",
        "app | directory since=0",
        "app | directory since=7",
        "c -> relay | dir since=7",
        "relay -> c | dir [doc1 {}] more=true cursor=3",
        "relay -> c | dir [doc2 {}] more=false cursor=9",
        "c | dir:0 resolves 2 docs cursor=9",
        "relay -> c | dir [] more=false cursor=9",
        "c | dir:1 resolves 0 docs cursor=9",
      ]
    `);
  });
});

describe("live means every load of this socket is answered", () => {
  it("a store read that ends after the welcome takes the group back to syncing until the relay answers what it held", () => {
    const core = coreScenario();
    core.connect();
    core.start([{ id: doc1.id, header: doc1.header, sessions: {} }]);
    core.relay(knownLoad(doc1.id, true));
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | hello sent",
        "relay -> c | welcome v=1 role=writer",
        "c | keep role writer",
        "c | status live",
        "store | restored doc1 {}",
        "c | status syncing",
        "c -> relay | load doc1 {}",
        "relay -> c | known doc1 {} load",
        "c | synced:doc1 resolves",
        "c | loaded:doc1 resolves",
        "c | status live",
        "c | flush doc1",
      ]
    `);
  });

  it("a reconnect is live only once each document's load on the new socket is answered", () => {
    const core = coreScenario();
    core.start([{ id: doc1.id, header: doc1.header, sessions: {} }, { id: doc2.id, header: doc2.header, sessions: {} }]);
    core.connect();
    core.relay(knownLoad(doc1.id, true));
    core.relay(knownLoad(doc2.id, true));
    core.feed({ type: "down" });
    core.transcript();
    core.connect();
    core.relay(knownLoad(doc1.id, true));
    core.relay(knownLoad(doc2.id, true));
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | hello sent",
        "c -> relay | load doc1 {}",
        "c -> relay | load doc2 {}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 {} load",
        "c | flush doc1",
        "relay -> c | known doc2 {} load",
        "c | status live",
        "c | flush doc2",
      ]
    `);
  });
});
