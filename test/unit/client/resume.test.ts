// Issue 9, items 4 and 10: what a group sends when it comes back, and what it hands the app.
import { describe, expect, it } from "vitest";
import { MAX_LISTINGS_PER_FRAME, docIdOf } from "../../../protocol/index.ts";
import { until } from "../../support/wait.ts";
import { statusOf, harnessPerTest } from "./group-harness.ts";

const setup = harnessPerTest();

describe("a document created offline after openAll()", () => {
  it("reaches the relay on reconnect, and the group goes live", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const first = group.create();
    relay.name(first.id, "first");
    await group.synced();
    await group.openAll();
    relay.down = true;
    group.connection.drop();
    const offline = group.create();
    relay.name(offline.id, "offline");
    offline.append("written offline");
    relay.transcript();
    relay.down = false;
    group.reconnectNow();
    await offline.synced();
    await statusOf(group, "live");
    expect(relay.store.knownState(offline.id)).toEqual({ header: true, sessions: { [alice.session]: 1 } });
    // The open answers both, in id order: the one the relay lacks as holding nothing, and it goes up.
    const tail = relay.transcript().slice(-7);
    expect([...tail.slice(0, 2), ...tail.slice(2, 4).sort(), ...tail.slice(4)]).toEqual([
      "c2 -> relay | open 2 docs",
      "relay -> c2 | welcome role=writer",
      "relay -> c2 | known first {} load",
      "relay -> c2 | known offline (no header) {} load",
      "relay -> c2 | opened docs=1",
      "c2 -> relay | content offline +header alice after=0 n=1",
      "relay -> c2 | known offline {alice:1} ack",
    ]);
  });
});

describe("a document created by another agent after openAll()", () => {
  it("arrives live, and a later load still lets the group go live again", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await group.openAll();
    await statusOf(group, "live");
    const bob = await client({ name: "bob" });
    const made = bob.group("g1").create();
    made.append("made by bob");
    await made.synced();
    await until(() => group.docs.some((doc) => doc.id === made.id));
    expect(group.docs.find((doc) => doc.id === made.id)!.transactions().map((transaction) => transaction.data)).toEqual(["made by bob"]);

    // A load after it (here of a document nobody created): once answered, the group is live again.
    const nowhere = docIdOf({ group: "g1", kind: "json", creator: bob.identity.agent, createdAt: 1, nonce: "never-made", meta: {} });
    await expect(group.open(nowhere)).rejects.toMatchObject({ code: "unknown_doc" });
    await until(() => group.status === "live", 2_000);
  });
});

describe("what the group hands the app", () => {
  it("openAll() leaves the membership log out, and role says admin after createMembers()", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    expect(group.role).toBe("writer");
    const doc = group.create();
    await group.createMembers().synced();
    expect(group.role).toBe("admin");

    const again = await client({ identity: alice.identity, name: "alice" });
    const opened = await again.group("g1").openAll();
    expect(opened.map((held) => held.id)).toEqual([doc.id]);
    expect(again.group("g1").membersDoc).toBeDefined();
  });

  it("overlapping directory() calls with different `since` each get their own answer", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    group.create();
    await group.synced();
    const bob = (await client({ name: "bob" })).group("g1"); // holds nothing: never in sync
    const { cursor } = await bob.directory();
    const later = group.create();
    await group.synced();
    const [all, since] = await Promise.all([bob.directory({ since: 0 }), bob.directory({ since: cursor })]);
    expect(all.docs).toHaveLength(2);
    expect(since.docs.map((entry) => entry.id)).toEqual([later.id]);
    // Two calls asking the same share one request.
    const [one, two] = await Promise.all([bob.directory({ since: cursor }), bob.directory({ since: cursor })]);
    expect(one).toBe(two);
  });

  it(`more directory() calls in one tick than the relay takes in a frame (${MAX_LISTINGS_PER_FRAME}) go in several frames: each is answered, and what follows them is stored`, async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const doc = group.create();
    await group.synced();
    const count = 3 * MAX_LISTINGS_PER_FRAME + 1;
    const answers = Array.from({ length: count }, (_, since) => group.directory({ since }));
    doc.append("after the listings");
    const settled = await Promise.race([Promise.all(answers), new Promise<"pending">((resolve) => setTimeout(() => resolve("pending"), 3_000))]);
    expect(settled).toHaveLength(count);
    await doc.synced();
    expect(relay.store.knownState(doc.id).sessions[alice.session]).toBe(1);
    expect(relay.transcript().join("\n")).not.toMatch(/error bad_frame/);
  });

  it("reconnectNow() skips the backoff", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice", backoff: { baseMs: 60_000, capMs: 60_000, minUptimeMs: 0 }, random: () => 1 });
    const group = alice.group("g1");
    await statusOf(group, "live");
    relay.dropAll();
    await statusOf(group, "offline");
    group.reconnectNow();
    await statusOf(group, "live");
    relay.dropAll();
    await statusOf(group, "offline");
    alice.reconnectNow();
    await statusOf(group, "live");
  });
});
