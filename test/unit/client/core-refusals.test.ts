// Transcript tests of the client core for issue 9's refusals: item 1 (a bad_signature refusal settles instead
// of hanging; a dead session's unsent tail is pushed as stored), item 2 (one refused message is surfaced once
// and never rides along again; what an older SDK stored that the relay would refuse is held back at start),
// item 6 (a refused membership operation is dropped, and later operations go out).
import { describe, expect, it } from "vitest";
import { MEMBERS_KIND, docIdOf, type DocHeader } from "../../../protocol/index.ts";
import { transactions } from "../../support/identity.ts";
import { ack, alice, aliceTwo, coreScenario, doc1, doc2, docCreated, knownLoad } from "./core-transcript.ts";

/** doc1 created, the relay's load answered with nothing, and its header pushed with one write. */
function createdWithOneWrite(data = "one") {
  const core = coreScenario();
  core.start();
  core.connect();
  core.create(doc1);
  core.relay(knownLoad(doc1.id, false));
  core.append(doc1.id, data);
  core.pump();
  return core;
}

describe("item 1: sessions", () => {
  it("a bad_signature refusal rejects synced() and holds the writes back; nothing hangs", () => {
    const core = createdWithOneWrite();
    core.transcript();
    core.relay({ type: "error", code: "bad_signature", message: "the chain does not verify", doc: doc1.id });
    core.append(doc1.id, "two");
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "relay -> c | error bad_signature doc1 "the chain does not verify"",
        "c | synced:doc1 rejects bad_signature",
        "c | refused doc1 n=1 whole bad_signature",
        "c | report bad_signature doc1",
        "app | append doc1 "two"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "store | saved doc1",
        "shell | push doc1",
      ]
    `);
  });

  it("a bad_signature naming the own session asks for the relay's copy of it first, and is refused only if that changes nothing", () => {
    const core = docCreated();
    core.relay(ack(doc1.id, {}));
    core.append(doc1.id, "one");
    core.pump();
    core.transcript();
    const refused = { type: "error", code: "bad_signature", message: "the chain does not verify", doc: doc1.id, session: alice.session } as const;
    core.relay(refused);
    core.pump(); // nothing is pushed while the relay's copy is on its way
    core.relay(knownLoad(doc1.id, true)); // it holds nothing of the session: nothing differs
    core.pump();
    core.relay(refused);
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "relay -> c | error bad_signature doc1 alice "the chain does not verify"",
        "c -> relay | load doc1 {alice:0}",
        "shell | push ",
        "relay -> c | known doc1 {} load",
        "c | flush doc1",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=0 n=1",
        "relay -> c | error bad_signature doc1 alice "the chain does not verify"",
        "c | synced:doc1 rejects bad_signature",
        "c | refused doc1 n=1 bad_signature",
        "c | report bad_signature doc1",
      ]
    `);
  });

  it("a quota_exceeded refusal (the agent's documents, sessions or bytes in the group) holds the writes back too", () => {
    const core = docCreated();
    core.append(doc1.id, "over the quota");
    core.pump();
    core.transcript();
    core.relay({ type: "error", code: "quota_exceeded", message: "an agent may store at most 1073741824 bytes", doc: doc1.id });
    core.feed({ type: "retryRefused", doc: doc1.id }); // once the agent deleted documents, say
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "relay -> c | error quota_exceeded doc1 "an agent may store at most 1073741824 bytes"",
        "c | synced:doc1 rejects quota_exceeded",
        "c | refused doc1 n=1 quota_exceeded",
        "c | report quota_exceeded doc1",
        "app | retryRefused doc1",
        "c | flush doc1",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=0 n=1",
      ]
    `);
  });

  it("a creation refused whole, once the relay holds the header another tab of this agent stored, holds back only the writes", () => {
    for (const heard of ["content", "load"] as const) {
      for (const then of ["retryRefused", "discardRefused"] as const) {
        const core = createdWithOneWrite();
        core.relay({ type: "error", code: "forbidden", message: "a reader may not create documents", doc: doc1.id });
        core.transcript();
        // Fanned out live, or (after a reconnect) in a load's answer.
        if (heard === "content") core.relay({ type: "content", doc: doc1.id, header: doc1.header, sessions: {} });
        else core.relay(knownLoad(doc1.id, true));
        core.pump();
        core.feed({ type: then, doc: doc1.id });
        core.pump();
        const after = then === "retryRefused"
          ? ["c | flush doc1", "shell | push doc1", "c -> relay | content doc1 alice after=0 n=1"] // without the header
          : ["c | changed doc1 +0 -1", "c | cut doc1 locally at alice:0", "shell | push "]; // the document stays
        expect(core.transcript().filter((line) => !line.startsWith("relay -> c"))).toEqual([
          ...(heard === "content" ? ["c | changed doc1 +0"] : []),
          "c | flush doc1",
          "store | saved doc1: relay holds {alice:0}", // the header, for a restart to know
          "shell | push doc1", // nothing: "one" is still held back
          `app | ${then} doc1`,
          ...after,
        ]);
      }
    }
  });

  it("pushes the unsent tail of this agent's dead session as stored, beside its own session", () => {
    const core = coreScenario();
    core.start([{ id: doc1.id, header: doc1.header, sessions: { [aliceTwo.session]: transactions(3, "orphan"), [alice.session]: transactions(1, "own") } }]);
    core.connect();
    core.relay(knownLoad(doc1.id, true, { [aliceTwo.session]: 1 }));
    core.pump();
    core.relay(ack(doc1.id, { [aliceTwo.session]: 3, [alice.session]: 1 }));
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "store | restored doc1 {alice~two:3, alice:1}",
        "socket | hello sent",
        "c -> relay | load doc1 {alice~two:3, alice:1}",
        "relay -> c | welcome v=1 role=writer",
        "c | keep role writer",
        "relay -> c | known doc1 {alice~two:1} load",
        "c | loaded:doc1 resolves",
        "c | status live",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:0}",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=0 n=1",
        "c -> relay | content doc1 alice~two after=1 n=2",
        "relay -> c | known doc1 {alice~two:3, alice:1} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:1}",
        "shell | push doc1",
      ]
    `);
  });
});

describe("item 2: a refused message is surfaced once and never wedges", () => {
  it("frames of one document in flight when the relay refused its writes are each refused: onError hears it once", () => {
    const core = createdWithOneWrite();
    core.relay(ack(doc1.id, { [alice.session]: 1 }));
    core.append(doc1.id, "two");
    core.pump();
    core.append(doc1.id, "three");
    core.pump(); // a second frame, on its way before the first is answered
    core.transcript();
    const demoted = { type: "error", code: "forbidden", message: "a reader may not write", doc: doc1.id } as const;
    core.relay(demoted);
    core.relay(demoted);
    expect(core.transcript().filter((line) => line.startsWith("c | "))).toEqual(["c | synced:doc1 rejects forbidden", "c | refused doc1 n=2 forbidden", "c | report forbidden doc1"]);
  });

  it("a frame refused without a document named: suspects pushed alone, the culprit refused once, the rest goes on", () => {
    const core = coreScenario();
    core.start();
    core.connect();
    core.create(doc1);
    core.create(doc2);
    core.relay(knownLoad(doc1.id, false));
    core.relay(knownLoad(doc2.id, false));
    core.pump();
    core.relay(ack(doc1.id, {}));
    core.relay(ack(doc2.id, {}));
    core.transcript();

    core.append(doc1.id, "fine");
    core.append(doc2.id, "POISON");
    core.pump();
    core.relay({ type: "error", code: "bad_frame", message: "unreadable" });
    core.feed({ type: "down" });
    core.connect();
    core.relay(knownLoad(doc1.id, true));
    core.relay(knownLoad(doc2.id, true));
    core.pump();
    core.relay(ack(doc1.id, { [alice.session]: 1 }));
    core.pump();
    core.relay({ type: "error", code: "bad_frame", message: "unreadable" });
    core.feed({ type: "down" });
    core.connect();
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 1 }));
    core.relay(knownLoad(doc2.id, true));
    core.append(doc1.id, "more");
    core.append(doc2.id, "after the poison");
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | append doc1 "fine"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "app | append doc2 "POISON"",
        "c | changed doc2 +1",
        "c | flush doc2",
        "store | saved doc1",
        "store | saved doc2",
        "shell | push doc1, doc2",
        "c -> relay | content doc1 alice after=0 n=1",
        "c -> relay | content doc2 alice after=0 n=1",
        "relay -> c | error bad_frame "unreadable"",
        "c | drop: the relay refused a frame: bad_frame: unreadable",
        "c | report bad_frame",
        "socket | down",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:1}",
        "c -> relay | load doc2 {alice:1}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 {} load",
        "c | flush doc1",
        "relay -> c | known doc2 {} load",
        "c | status live",
        "c | flush doc2",
        "shell | push doc1, doc2",
        "c -> relay | content doc1 alice after=0 n=1",
        "relay -> c | known doc1 {alice:1} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:1}",
        "shell | push doc1",
        "c -> relay | content doc2 alice after=0 n=1",
        "relay -> c | error bad_frame "unreadable"",
        "c | synced:doc2 rejects bad_frame",
        "c | refused doc2 n=1 bad_frame",
        "c | drop: the relay refused a frame: bad_frame: unreadable",
        "c | report bad_frame",
        "socket | down",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:1}",
        "c -> relay | load doc2 {alice:1}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 {alice:1} load",
        "c | flush doc1",
        "relay -> c | known doc2 {} load",
        "c | status live",
        "c | flush doc2",
        "app | append doc1 "more"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "app | append doc2 "after the poison"",
        "c | changed doc2 +1",
        "c | flush doc2",
        "store | saved doc1",
        "store | saved doc2",
        "shell | push doc1, doc2",
        "c -> relay | content doc1 alice after=1 n=1",
      ]
    `);
    expect(core.state.docs.get(doc2.id)!.refusal?.error.code).toBe("bad_frame");
  });

  it("a refusal naming the document refuses it once; a second refusal of it is not surfaced again", () => {
    const core = createdWithOneWrite("too much");
    core.transcript();
    core.relay({ type: "error", code: "transaction_too_large", message: "too large", doc: doc1.id });
    core.relay({ type: "error", code: "transaction_too_large", message: "too large", doc: doc1.id });
    core.feed({ type: "retryRefused", doc: doc1.id });
    core.pump();
    core.feed({ type: "down" });
    core.connect();
    core.relay(knownLoad(doc1.id, false));
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "relay -> c | error transaction_too_large doc1 "too large"",
        "c | synced:doc1 rejects transaction_too_large",
        "c | refused doc1 n=1 whole transaction_too_large",
        "c | report transaction_too_large doc1",
        "relay -> c | error transaction_too_large doc1 "too large"",
        "app | retryRefused doc1",
        "c | flush doc1",
        "shell | push doc1",
        "c -> relay | content doc1 +header alice after=0 n=1",
        "socket | down",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:1}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 (no header) {} load",
        "c | status live",
        "c | flush doc1",
        "shell | push doc1",
        "c -> relay | content doc1 +header alice after=0 n=1",
      ]
    `);
  });

  it("holds back at start what an older SDK stored that the relay would refuse, and pushes the rest", () => {
    const core = coreScenario();
    const stored = [{ at: 1, data: "good" }, { at: 2, data: 42 as unknown as string }, { at: 3, data: "after it" }];
    core.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: stored } }]);
    core.connect();
    core.relay(knownLoad(doc1.id, false));
    core.pump();
    core.feed({ type: "discardRefused", doc: doc1.id });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "store | restored doc1 {alice:3}",
        "c | refused doc1 n=2 bad_frame",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:3}",
        "relay -> c | welcome v=1 role=writer",
        "c | keep role writer",
        "relay -> c | known doc1 (no header) {} load",
        "c | loaded:doc1 resolves",
        "c | status live",
        "c | flush doc1",
        "shell | push doc1",
        "c -> relay | content doc1 +header alice after=0 n=1",
        "app | discardRefused doc1",
        "c | changed doc1 +0 -2",
        "c | cut doc1 locally at alice:1",
      ]
    `);
  });
});

describe("item 6: membership operations after an offline race", () => {
  const members: DocHeader = { group: "g1", kind: MEMBERS_KIND, creator: alice.agent, createdAt: 1_700_000_000_000, nonce: "nonce-0009", meta: {} };
  const log = { id: docIdOf(members), header: members };

  it("a refused operation is dropped with those queued behind it, and the next one goes out", () => {
    const core = coreScenario();
    core.name(log.id, "members");
    core.start();
    core.connect("admin");
    core.create(log, true);
    core.relay(knownLoad(log.id, false));
    core.pump();
    core.relay(ack(log.id, {}));
    core.append(log.id, JSON.stringify({ op: "set", agent: "a", role: "writer" }));
    core.append(log.id, JSON.stringify({ op: "set", agent: "b", role: "writer" }));
    core.pump();
    core.transcript();
    core.relay({ type: "error", code: "forbidden", message: "an operation sorts before the newest", doc: log.id });
    core.append(log.id, JSON.stringify({ op: "set", agent: "c", role: "writer" }));
    core.pump();
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "relay -> c | error forbidden members "an operation sorts before the newest"",
        "c | synced:members rejects forbidden",
        "c | refused members n=2 forbidden",
        "c | changed members +0 -2",
        "c | cut members locally at alice:0",
        "c | report forbidden members",
        "app | append members "{\\"op\\":\\"set\\",\\"agent\\":\\"c\\",\\"role\\":\\"writer\\"}"",
        "c | changed members +1",
        "c | flush members",
        "store | saved members",
        "shell | push members",
        "c -> relay | content members alice after=0 n=1",
      ]
    `);
    expect(core.state.docs.get(log.id)!.refusal).toBeUndefined();
  });
});
