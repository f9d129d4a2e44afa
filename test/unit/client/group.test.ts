// The SDK's Group against the real relay core: create, open, sync, reconnect, as transcripts.
import { describe, expect, it } from "vitest";
import { ClosedError } from "../../../client/errors.ts";
import { SlowSaves, statusOf, harnessPerTest } from "./group-harness.ts";

const setup = harnessPerTest();

describe("a group against the relay core", () => {
  it("creates a document, pushes it after the load, and is live once acked", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    relay.name(doc.id, "doc1");
    doc.append("one");
    await group.synced();
    expect(relay.transcript()).toEqual([
      "relay -> c1 | challenge",
      "c1 -> relay | hello",
      "relay -> c1 | welcome role=writer",
      "c1 -> relay | load doc1 {}",
      "relay -> c1 | known doc1 (no header) {} load",
      "c1 -> relay | content doc1 +header alice after=0 n=1",
      "relay -> c1 | known doc1 {alice:1} ack",
    ]);
  });

  it("closed with group.close(): the calls that write throw its ClosedError, and client.group() gives a new group that sends what it saved, once saved", async () => {
    const { relay, client } = setup();
    relay.down = true; // what the closed group wrote never reached the relay
    const alice = await client({ name: "alice", store: new SlowSaves() });
    const closed = alice.group("g1");
    const doc = closed.create();
    relay.name(doc.id, "doc1");
    doc.append("before the close");
    closed.close();
    expect(() => doc.append("after the close")).toThrow(ClosedError);
    expect(() => closed.create()).toThrow(ClosedError);
    expect(() => doc.presence.set("here")).toThrow(ClosedError);
    await expect(closed.open(doc.id)).rejects.toBeInstanceOf(ClosedError);

    relay.down = false;
    const again = alice.group("g1");
    expect(again).not.toBe(closed);
    const reopened = await again.open(doc.id);
    reopened.append("in the new group");
    await again.synced();
    expect(relay.store.knownState(doc.id)).toEqual({ header: true, sessions: { [alice.session]: 2 } });
    expect(reopened.transactions().map((transaction) => transaction.data)).toEqual(["before the close", "in the new group"]);
  });

  it("closed: each call that meets it throws a ClosedError of its own, whose stack names that call rather than the close", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const doc = group.create();
    group.close();
    function appendAfterTheClose() {
      doc.append("late");
    }
    function createAfterTheClose() {
      group.create();
    }
    function setPresenceAfterTheClose() {
      doc.presence.set("here");
    }
    for (const call of [appendAfterTheClose, createAfterTheClose, setPresenceAfterTheClose]) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ClosedError);
      expect(thrown).toMatchObject({ group: "g1", reason: "closed by the app", message: "group g1 is closed: closed by the app" });
      expect((thrown as Error).stack).toContain(call.name);
    }
  });

  it("after client.close(), client.group() throws a ClosedError that names what it was given", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    alice.group("g1");
    await alice.close();
    expect(() => alice.group("g1")).toThrow(new ClosedError("g1", 'client.group("g1"): the client is closed'));
    // Plain JavaScript passing the wrong thing: described, not "[object Object]" nor "undefined".
    expect(() => alice.group({} as never)).toThrow(new ClosedError("Object", "client.group(Object): the client is closed"));
    expect(() => alice.group(Symbol("g") as never)).toThrow("group symbol is closed: client.group(symbol): the client is closed");
  });

  it("closed in the task of a first write into another agent's document: the new group client.group() gives holds the write and sends it", async () => {
    const { relay, client } = setup();
    const bob = await client({ name: "bob" });
    const theirs = bob.group("g1").create();
    relay.name(theirs.id, "doc1");
    theirs.append("bob's");
    await theirs.synced();
    const alice = await client({ name: "alice" }); // the default store, in memory: the write's only copy
    const closed = alice.group("g1");
    const doc = await closed.open(theirs.id);
    // Its save waits for the check of bob's signatures, which is asynchronous: it starts after the close.
    doc.append("alice's first");
    closed.close();
    const again = alice.group("g1");
    const reopened = await again.open(theirs.id);
    expect(reopened.transactions().map((transaction) => transaction.data)).toEqual(["bob's", "alice's first"]);
    await again.synced();
    expect(relay.store.knownState(theirs.id).sessions[alice.session]).toBe(1);
  });

  it("docs is the same array until a document comes or goes, so it can be a useSyncExternalStore snapshot", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const first = group.create();
    const held = group.docs;
    first.append("a write changes no document's place");
    expect(group.docs).toBe(held);
    const second = group.create();
    const more = group.docs;
    expect(more).not.toBe(held);
    expect(more).toEqual([first, second]);
    expect(held).toEqual([first]);
    await group.createMembers().synced(); // the membership log is not among them
    expect(group.docs).toBe(more);
    await group.delete(first.id);
    expect(group.docs).toEqual([second]);
  });

  it("synced({ signal }) over many documents adds one listener to the app's signal, not one per document, and rejects with its reason", async () => {
    const { relay, client } = setup();
    relay.down = true; // nothing is acked: every document waits
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    for (let i = 0; i < 20; i++) group.create().append(`${i}`);
    const controller = new AbortController();
    let listeners = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((type: string, ...rest: [EventListenerOrEventListenerObject, (boolean | AddEventListenerOptions)?]) => {
      if (type === "abort") listeners++;
      add(type, ...rest);
    }) as typeof controller.signal.addEventListener;
    const synced = group.synced({ signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(listeners).toBeLessThanOrEqual(2); // the start-up read, then the documents
    controller.abort(new Error("gave up"));
    await expect(synced).rejects.toThrow("gave up");
  });
});
