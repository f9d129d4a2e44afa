// Transcript tests of the client core for issue 9, item 3: every promise settles. open() of a document the
// relay does not have, deleted or may not be read rejects with the reason; closing settles every waiter,
// and calls after the close settle at once.
import { describe, expect, it } from "vitest";
import { transactions } from "../../support/identity.ts";
import { ack, alice, bob, contentFrom, coreScenario, doc1, doc2, docCreated, knownLoad } from "./core-transcript.ts";

describe("item 3: every promise settles", () => {
  it("open() of an unknown, a deleted and a forbidden document rejects with why, and the group goes live", () => {
    const core = coreScenario(bob);
    core.start();
    core.connect();
    core.feed({ type: "open", doc: doc1.id });
    core.relay(knownLoad(doc1.id, false));
    core.feed({ type: "open", doc: doc2.id });
    core.relay({ type: "error", code: "doc_deleted", message: "deleted", doc: doc2.id });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "store | restored ",
        "socket | hello sent",
        "relay -> c | welcome v=1 role=writer",
        "c | keep role writer",
        "c | status live",
        "app | open doc1",
        "c | status syncing",
        "c -> relay | load doc1 (no header) {}",
        "relay -> c | known doc1 (no header) {} load",
        "c | loaded:doc1 resolves",
        "c | forget doc1",
        "c -> relay | unsub doc1",
        "c | open:doc1 rejects unknown_doc",
        "c | status live",
        "app | open doc2",
        "c | status syncing",
        "c -> relay | load doc2 (no header) {}",
        "relay -> c | error doc_deleted doc2 "deleted"",
        "c | synced:doc2 resolves",
        "c | loaded:doc2 resolves",
        "c | open:doc2 rejects doc_deleted",
        "c | changed doc2 +0",
        "c | status live",
        "c | remove doc2 locally",
      ]
    `);
    core.feed({ type: "open", doc: doc1.id });
    core.relay({ type: "error", code: "forbidden", message: "not a reader", doc: doc1.id });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | open doc1",
        "c | status syncing",
        "c -> relay | load doc1 (no header) {}",
        "relay -> c | error forbidden doc1 "not a reader"",
        "c | loaded:doc1 rejects forbidden",
        "c | open:doc1 rejects forbidden",
        "c | forget doc1",
        "c | status live",
        "c | report forbidden doc1",
      ]
    `);
    expect([...core.state.docs.keys()]).toEqual([doc2.id]); // the deleted one stays known as deleted
  });

  it("closing settles every waiter: opens, openAll, deletes, directory requests and unsynced writes", () => {
    const core = docCreated();
    core.append(doc1.id, "unacked");
    core.feed({ type: "open", doc: doc2.id });
    core.feed({ type: "openAll" });
    core.feed({ type: "delete", doc: doc2.id });
    core.feed({ type: "directory", request: { type: "dir", since: 3 } });
    core.transcript();
    core.close("not a member");
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | closed: not a member",
        "c | dir:0 rejects ClosedError",
        "c | openAll rejects ClosedError",
        "c | delete:doc2 rejects ClosedError",
        "c | open:doc2 rejects ClosedError",
        "c | synced:doc1 rejects ClosedError",
        "c | loaded:doc2 rejects ClosedError",
      ]
    `);
    // Later calls settle at once.
    core.feed({ type: "open", doc: doc2.id });
    core.feed({ type: "openAll" });
    core.feed({ type: "delete", doc: doc1.id });
    core.feed({ type: "directory", request: { type: "dir" } });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | open doc2",
        "c | open:doc2 rejects ClosedError",
        "app | openAll",
        "c | openAll rejects ClosedError",
        "app | delete doc1",
        "c | delete:doc1 rejects ClosedError",
        "app | directory",
        "c | dir:1 rejects ClosedError",
      ]
    `);
  });

  it("synced settles only once the relay acked every write, and delete once the relay deleted", () => {
    const core = coreScenario();
    core.start();
    core.connect("admin");
    core.create(doc1);
    core.relay(knownLoad(doc1.id, false));
    core.append(doc1.id, "a");
    core.append(doc1.id, "b");
    core.pump();
    core.transcript();
    core.relay(ack(doc1.id, { [core.state.writer.session]: 1 }));
    expect(core.transcript().filter((line) => line.includes("synced"))).toEqual([]);
    core.relay(ack(doc1.id, { [core.state.writer.session]: 2 }));
    core.feed({ type: "delete", doc: doc1.id });
    core.relay({ type: "deleted", doc: doc1.id });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "relay -> c | known doc1 {alice:2} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "app | delete doc1",
        "c -> relay | delete doc1",
        "relay -> c | deleted doc1",
        "c | synced:doc1 resolves",
        "c | loaded:doc1 resolves",
        "c | changed doc1 +0",
        "c | status live",
        "c | remove doc1 locally",
        "c | delete:doc1 resolves",
      ]
    `);
  });

  it("synced settles when another tab of the agent got the writes stored first (their content, not an ack, says so)", () => {
    const core = docCreated(alice);
    core.append(doc1.id, "a");
    core.pump(); // in flight
    const [written] = core.state.docs.get(doc1.id)!.sessions.get(alice.session)!;
    core.transcript();
    core.relay(contentFrom(alice, doc1, 0, [written!]));
    expect(core.transcript().filter((line) => line.includes("synced"))).toEqual(["c | synced:doc1 resolves"]);
    expect(core.state.docs.get(doc1.id)!.sessions.get(alice.session)).toEqual([written]); // nothing taken in twice
  });

  it("a load answered while own writes are in flight never leaves the next write waiting", () => {
    const core = docCreated(alice, 10); // partial frames paced 10 ms apart, as the SDK does
    // Content of bob's that does not follow what is held: the document is loaded again, on this socket.
    core.relay(contentFrom(bob, doc1, 2, transactions(1, "bob")));
    core.append(doc1.id, "one");
    core.pump(); // pushed behind the load
    core.relay(knownLoad(doc1.id, true, { [bob.session]: 3 })); // answered before the push
    core.relay(ack(doc1.id, { [alice.session]: 1 }));
    core.transcript();
    core.append(doc1.id, "two"); // within the pace of the first frame: it waits for it
    const effects = core.pump();
    expect(core.transcript()).toContain("c | push doc1 again at 10");
    expect(effects.filter((effect) => effect.type === "send")).toEqual([]);
  });

  it("a delete waits for its own answer: a presence refusal of the document meanwhile is only reported", () => {
    const core = coreScenario();
    core.start();
    core.connect("admin");
    core.create(doc1);
    core.relay(knownLoad(doc1.id, false));
    core.feed({ type: "delete", doc: doc1.id });
    core.relay({ type: "error", code: "rate_limited", message: "cursor moved too fast", doc: doc1.id, retryAfter: 1 });
    core.relay({ type: "deleted", doc: doc1.id });
    expect(core.transcript().filter((line) => line.startsWith("c | delete:") || line.startsWith("c | report"))).toEqual(["c | report rate_limited doc1", "c | delete:doc1 resolves"]);
  });
});
