// doc.presence over the real relay core in this process: what other peers see, when, and what the SDK refuses.
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { PRESENCE_MAX_BYTES, PRESENCE_MAX_DOCS_PER_PEER, type Json } from "../../../protocol/index.ts";
import { LocalRefusalError } from "../../../client/errors.ts";
import { PresenceChannel, type PresenceMap } from "../../../client/presence.ts";
import type { Presence, SessionId } from "../../../protocol/index.ts";
import { testAgent, testHeader } from "../../support/identity.ts";
import { until } from "../../support/wait.ts";
import { CUT_OFF_URL, bobMadeBy, harnessPerTest, refusalCode, settle, statusOf } from "./group-harness.ts";

const setup = harnessPerTest();

/** The states a map holds, by session name. */
const states = (peers: PresenceMap): Record<string, Json> => Object.fromEntries([...peers.values()].map((peer) => [peer.session, peer.state]));

/** Alice creates a document and Bob opens it; both live. */
async function twoPeers() {
  const { relay, client } = setup();
  const alice = await client({ name: "alice" });
  const bob = await client({ name: "bob" });
  const aliceGroup = alice.group("g1");
  const bobGroup = bob.group("g1");
  const aliceDoc = aliceGroup.create();
  relay.name(aliceDoc.id, "doc");
  await aliceDoc.synced();
  const bobDoc = await bobGroup.open(aliceDoc.id);
  await statusOf(bobGroup, "live");
  return { relay, client, alice, bob, aliceGroup, bobGroup, aliceDoc, bobDoc };
}

describe("doc.presence", () => {
  it("a clear as a role change that leaves reading is heard reaches the others: the relay kept the state", async () => {
    const made = setup();
    const { client, aliceGroup, bobIdentity } = await bobMadeBy(made, "writer");
    const aliceDoc = aliceGroup.create();
    await aliceDoc.synced();
    const bob = await client({ name: "bob", identity: bobIdentity });
    const bobDoc = await bob.group("g1").open(aliceDoc.id);
    bobDoc.presence.set({ cursor: 1 });
    await until(() => aliceDoc.presence.peers.size === 1);
    // Cleared as the role changes (weft/yjs withdraws its offer to take snapshots then).
    bob.group("g1").onRole(() => bobDoc.presence.clear());
    await aliceGroup.setRole(bobIdentity.agent, "reader");
    await until(() => bob.group("g1").role === "reader");
    await until(() => aliceDoc.presence.peers.size === 0, 2_000);
  });

  it("a state set by one peer reaches the other, keyed by agent/session, and a clear removes it", async () => {
    const { alice, bob, aliceDoc, bobDoc, relay } = await twoPeers();
    const seen: PresenceMap[] = [];
    bobDoc.presence.subscribe((peers) => seen.push(peers));
    expect(seen).toEqual([new Map()]); // called at once with the current map

    aliceDoc.presence.set({ cursor: 1 });
    aliceDoc.presence.set({ cursor: 2 }); // the same tick: only the latest goes out
    await settle();
    expect(relay.transcript().filter((line) => line.includes("presence"))).toEqual([
      "c1 -> relay | presence doc {\"cursor\":2}",
      `relay -> c2 | presence doc [alice={"cursor":2}]`,
    ]);
    const key = `${alice.identity.agent}/${alice.session}`;
    expect(bobDoc.presence.peers.get(key as never)).toEqual({ agent: alice.identity.agent, session: alice.session, state: { cursor: 2 } });
    expect(aliceDoc.presence.peers.size).toBe(0); // own state is not among the others
    expect(aliceDoc.presence.state).toEqual({ cursor: 2 });

    aliceDoc.presence.clear();
    await settle();
    expect(bobDoc.presence.peers.size).toBe(0);
    expect(seen.map((peers) => peers.size)).toEqual([0, 1, 0]);
    expect(bob.session).not.toBe(alice.session);
  });

  it("a newcomer gets the current states when it opens the document", async () => {
    const { client, aliceDoc, bobDoc, alice, bob } = await twoPeers();
    aliceDoc.presence.set({ name: "alice" });
    bobDoc.presence.set({ name: "bob" });
    await settle();
    const carol = await client({ name: "carol" });
    const carolDoc = await carol.group("g1").open(aliceDoc.id);
    await settle();
    expect(states(carolDoc.presence.peers)).toEqual({ [alice.session]: { name: "alice" }, [bob.session]: { name: "bob" } });
    // And one that opens the whole group.
    const dave = await client({ name: "dave" });
    await dave.group("g1").openAll();
    await settle();
    const daveDoc = dave.group("g1").docs.find((doc) => doc.id === aliceDoc.id)!;
    expect(states(daveDoc.presence.peers)).toEqual({ [alice.session]: { name: "alice" }, [bob.session]: { name: "bob" } });
  });

  it("others' states are cleared when the socket goes down, and the own state is sent again on reconnect", async () => {
    const { aliceGroup, aliceDoc, bobDoc, bobGroup, alice, bob, relay } = await twoPeers();
    aliceDoc.presence.set({ here: true });
    bobDoc.presence.set({ here: "bob" });
    await settle();
    expect(states(bobDoc.presence.peers)).toEqual({ [alice.session]: { here: true } });

    relay.down = true;
    aliceGroup.connection.drop();
    await settle();
    // Alice no longer hears anyone; Bob hears that Alice left.
    expect(aliceDoc.presence.peers.size).toBe(0);
    expect(bobDoc.presence.peers.size).toBe(0);

    relay.down = false;
    aliceGroup.reconnectNow();
    await statusOf(aliceGroup, "live");
    await settle();
    expect(states(bobDoc.presence.peers)).toEqual({ [alice.session]: { here: true } });
    expect(states(aliceDoc.presence.peers)).toEqual({ [bob.session]: { here: "bob" } });

    bobGroup.close();
    await settle();
    expect(aliceDoc.presence.peers.size).toBe(0);
  });

  it("a deleted document's presence is gone for everyone, and its budget is free again", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const bob = await client({ name: "bob" });
    const aliceGroup = alice.group("g1");
    await aliceGroup.createMembers().synced();
    await aliceGroup.setRole(bob.identity.agent, "writer");
    const doc = aliceGroup.create();
    relay.name(doc.id, "doc");
    await doc.synced();
    const bobDoc = await bob.group("g1").open(doc.id);
    doc.presence.set("x".repeat(PRESENCE_MAX_BYTES - 2));
    bobDoc.presence.set("bob");
    await settle();
    expect(states(bobDoc.presence.peers)).toEqual({ [alice.session]: "x".repeat(PRESENCE_MAX_BYTES - 2) });
    await aliceGroup.delete(doc.id);
    await settle();
    expect(bobDoc.presence.peers.size).toBe(0);
    expect(doc.presence.peers.size).toBe(0);
    expect(bobDoc.presence.state).toBeUndefined();
    // The whole budget is Alice's to use in another document, here and at the relay.
    const errors: string[] = [];
    aliceGroup.onError((error) => errors.push(error.message));
    const other = aliceGroup.create();
    await other.synced();
    relay.transcript();
    other.presence.set("y".repeat(PRESENCE_MAX_BYTES - 2));
    await settle();
    expect(relay.transcript().filter((line) => line.includes("presence"))).toEqual([`c1 -> relay | presence ${other.id} "${"y".repeat(PRESENCE_MAX_BYTES - 2)}"`]);
    expect(errors).toEqual([]);
  });

  /** Alice's group, bob an admin in it, and a document only alice is among the readers of, open on both sides. */
  async function bobAdminInAlicesSecret() {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const bob = await client({ name: "bob" });
    const aliceGroup = alice.group("g1");
    await aliceGroup.createMembers().synced();
    await aliceGroup.setRole(bob.identity.agent, "admin");
    const secret = aliceGroup.create({ readers: [alice.identity.agent] });
    relay.name(secret.id, "secret");
    await secret.synced();
    const bobGroup = bob.group("g1");
    const bobSecret = await bobGroup.open(secret.id);
    return { alice, bob, aliceGroup, secret, bobGroup, bobSecret };
  }

  it("shown where a role change took away reading, it is shown again once reading comes back, never refused meanwhile", async () => {
    const { bob, aliceGroup, secret, bobGroup, bobSecret } = await bobAdminInAlicesSecret();
    const errors: string[] = [];
    bobGroup.onError((error) => errors.push(error.message));
    bobSecret.presence.set("bob here");
    await settle();
    expect(states(secret.presence.peers)).toEqual({ [bob.session]: "bob here" });

    await aliceGroup.setRole(bob.identity.agent, "writer");
    await settle();
    expect(bobGroup.role).toBe("writer");
    expect(secret.presence.peers.size).toBe(0); // the relay hides it from the readers it has left
    expect(bobSecret.presence.state).toBe("bob here"); // still what bob wants to show

    // Cut off and back meanwhile: the state waits rather than being sent to be refused.
    bobGroup.connection.drop();
    await statusOf(bobGroup, "live");
    await settle();
    expect(secret.presence.peers.size).toBe(0);

    await aliceGroup.setRole(bob.identity.agent, "admin");
    await settle();
    expect(states(secret.presence.peers)).toEqual({ [bob.session]: "bob here" });
    expect(errors.filter((message) => message.startsWith("presence"))).toEqual([]);
  });

  it("what others show where a role change took away reading is forgotten: a clear made meanwhile never reaches this client", async () => {
    const { alice, bob, aliceGroup, secret, bobSecret } = await bobAdminInAlicesSecret();
    secret.presence.set("alice here");
    await settle();
    expect(states(bobSecret.presence.peers)).toEqual({ [alice.session]: "alice here" });

    await aliceGroup.setRole(bob.identity.agent, "writer");
    await settle();
    expect(bobSecret.presence.peers.size).toBe(0); // the relay no longer tells bob who is there
    secret.presence.clear();
    await aliceGroup.setRole(bob.identity.agent, "admin");
    await settle();
    expect(bobSecret.presence.peers.size).toBe(0); // alice's clear never came: nothing stale is shown
  });

  it("refuses, synchronously, what the relay would refuse", async () => {
    const { aliceGroup, aliceDoc } = await twoPeers();
    const refusal = (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        return error instanceof LocalRefusalError ? error.code : `not a LocalRefusalError: ${String(error)}`;
      }
      return "accepted";
    };
    expect(refusal(() => aliceDoc.presence.set("x".repeat(PRESENCE_MAX_BYTES)))).toBe("presence_too_large");
    expect(refusal(() => aliceDoc.presence.set(undefined as never))).toBe("bad_frame");
    expect(refusal(() => aliceDoc.presence.set({ broken: "\ud800" }))).toBe("bad_frame");
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refusal(() => aliceDoc.presence.set(cyclic as never))).toBe("bad_frame");
    expect(() => aliceDoc.presence.subscribe("not a function" as never)).toThrow(/presence.subscribe: the listener must be a function/);
    // What JSON would change in silence (a Map sent as {}, bytes as an object of indexes) names where and what.
    expect(refusal(() => aliceDoc.presence.set({ cursors: new Map([[1, 2]]) } as never))).toBe("bad_frame");
    expect(() => aliceDoc.presence.set({ cursors: new Map() } as never)).toThrow("presence.set: the state must be plain JSON (found Map at cursors)");
    expect(() => aliceDoc.presence.set([new Uint8Array(1)] as never)).toThrow("presence.set: the state must be plain JSON (found Uint8Array at [0])");
    expect(aliceDoc.presence.state).toBeUndefined();
    // Plain objects of another realm, or without a prototype, are JSON.
    aliceDoc.presence.set(runInNewContext("({ cursor: { at: 3 } })") as Json);
    aliceDoc.presence.set(Object.assign(Object.create(null) as Record<string, Json>, { cursor: 4 }));
    expect(aliceDoc.presence.state).toEqual({ cursor: 4 });
    aliceDoc.presence.clear();
    // The budget covers this client's documents in the group together.
    aliceDoc.presence.set("a".repeat(PRESENCE_MAX_BYTES - 2 - 100));
    const others = Array.from({ length: PRESENCE_MAX_DOCS_PER_PEER }, () => aliceGroup.create());
    expect(refusal(() => others[0]!.presence.set("b".repeat(200)))).toBe("presence_too_large");
    expect(refusal(() => others[0]!.presence.set("b"))).toBe("accepted");
    for (const doc of others.slice(1, -1)) doc.presence.set(1);
    expect(refusal(() => others.at(-1)!.presence.set(1))).toBe("presence_too_large");
    // A refused call changed nothing.
    expect(others.at(-1)!.presence.state).toBeUndefined();
  });

  it("a document deleted, or dropped by its group, refuses presence at once: nothing is sent or kept (none of the budget)", async () => {
    const { relay, client, cutOff } = setup();
    const alice = await client({ name: "alice" });
    const aliceGroup = alice.group("g1");
    await aliceGroup.createMembers().synced();
    const bob = await client({ name: "bob", url: CUT_OFF_URL });
    await aliceGroup.setRole(bob.identity.agent, "writer");
    const bobGroup = bob.group("g1");
    await bobGroup.openAll();
    // Deleted by an admin while bob has it open.
    const deleted = aliceGroup.create();
    await deleted.synced();
    const bobDeleted = await bobGroup.open(deleted.id);
    await aliceGroup.delete(deleted.id);
    await until(() => bobDeleted.deleted, 2_000);
    // Created cut off, after bob was made a reader: refused whole, and dropped when bob discards it.
    const back = cutOff(bob);
    await aliceGroup.setRole(bob.identity.agent, "reader");
    const dropped = bobGroup.create();
    back();
    await until(() => bobGroup.refused().length === 1, 2_000);
    await bobGroup.discardRefused(dropped);
    expect(bobGroup.docs.map((doc) => doc.id)).not.toContain(dropped.id);

    relay.transcript();
    expect(refusalCode(() => bobDeleted.append("late"))).toBe("doc_deleted"); // as a write there is
    for (const gone of [bobDeleted, dropped]) {
      expect(refusalCode(() => gone.presence.set("here"))).toBe("presence_refused");
      expect(gone.presence.state).toBeUndefined();
    }
    await settle();
    expect(relay.transcript().filter((line) => line.includes("presence"))).toEqual([]);
  });

  it("rapid updates are paced under the relay's rate and the latest state always arrives", async () => {
    const { aliceDoc, bobDoc, alice, aliceGroup } = await twoPeers();
    const errors: string[] = [];
    aliceGroup.onError((error) => errors.push(error.message));
    for (let i = 0; i < 200; i++) {
      aliceDoc.presence.set({ i });
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await expect.poll(() => states(bobDoc.presence.peers)[alice.session], { timeout: 5_000 }).toEqual({ i: 199 });
    expect(errors).toEqual([]); // never over the relay's limit
  });
});

describe("a document this client stops holding", () => {
  /** A channel whose every document the relay holds, recording what it sends. */
  function channel() {
    const sent: Presence[] = [];
    const presence = new PresenceChannel({ session: "s" as SessionId, send: (message) => (sent.push(message), true), mayShowIn: () => true });
    return { presence, sent };
  }

  it("dropped here while the relay still holds it: the state the relay holds of ours there is cleared", async () => {
    const { presence, sent } = channel();
    const [shown, neverSent] = [testHeader(testAgent(1), "g1", "a").id, testHeader(testAgent(1), "g1", "b").id];
    presence.forDoc(shown).set("here");
    await settle();
    expect(sent).toEqual([{ type: "presence", doc: shown, state: "here" }]);
    presence.forgetDoc(shown, true);
    presence.forgetDoc(neverSent, true);
    expect(sent.slice(1)).toEqual([{ type: "presence", doc: shown }]);
    expect(presence.own(shown)).toBeUndefined();
    presence.resume(); // a new socket: nothing of it is sent again
    expect(sent).toHaveLength(2);
  });

  it("deleted: the relay cleared it itself, and nothing is sent", async () => {
    const { presence, sent } = channel();
    const doc = testHeader(testAgent(1), "g1", "a").id;
    presence.forDoc(doc).set("here");
    await settle();
    presence.forgetDoc(doc);
    expect(sent).toHaveLength(1);
  });
});
