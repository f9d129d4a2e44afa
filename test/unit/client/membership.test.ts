// Issue 9, item 6: an admin's membership operation that loses an offline race is refused by the relay
// (it sorts before the newest), surfaced once through its promise, and dropped: the next one goes through.
import { ArgumentError } from "../../../protocol/argument-error.ts";
import { describe, expect, it } from "vitest";
import { LocalRefusalError, RelayError, createIdentity, type RefusedWrites } from "../../../client/index.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { MAX_TRANSACTION_BYTES, type Role } from "../../../protocol/index.ts";
import { CUT_OFF_URL, bobMadeBy as madeBy, fakeToken, fakeTokenText, harness, statusOf, harnessPerTest, refusalCode } from "./group-harness.ts";
import { until } from "../../support/wait.ts";

/** `promise`, or a failure after `ms` (what the test is about is a hang). */
const within = <T>(ms: number, promise: Promise<T>) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);

const setup = harnessPerTest();

/** Alice's group g1, with a membership log that gives bob `role` (group-harness.ts); bob's client is not started. */
const bobMadeBy = (role: Role) => madeBy(setup(), role);

/** Bob, a reader, holds alice's document "doc" on a memory store, live. */
async function readerHoldingDoc() {
  const made = await bobMadeBy("reader");
  const doc = made.aliceGroup.create();
  made.relay.name(doc.id, "doc");
  await doc.synced();
  const store = new MemoryLocalStore();
  const bob = await made.client({ identity: made.bobIdentity, name: "bob", store });
  const group = bob.group("g1");
  const held = await group.open(doc.id);
  await statusOf(group, "live");
  return { ...made, doc, store, bob, group, held };
}

describe("membership operations after an offline race", () => {
  // Not held: the log arrives after the reconnect holding alice's newer change, and bob's is refused before it
  // is sent (stamped then, it sorted after hers and overwrote it).
  it.each([["held", true], ["not held on the device", false]])("a refused operation rejects its promise and never blocks the ones after it (the log %s)", async (_, held) => {
    const { relay, client, alice, aliceGroup, log, bobIdentity } = await bobMadeBy("admin");

    const bob = await client({ identity: bobIdentity, name: "bob" });
    const bobGroup = bob.group("g1");
    if (held) await bobGroup.open(log.id);
    await statusOf(bobGroup, "live");
    const refusals: RefusedWrites[] = [];
    bobGroup.onRefused((refused) => refusals.push(refused));

    // Bob changes membership offline; alice, online, changes it after him.
    relay.down = true;
    bobGroup.connection.drop();
    const carol = createIdentity().agent;
    const dave = createIdentity().agent;
    const erin = createIdentity().agent;
    const lost = bobGroup.setRole(carol, "writer");
    // Alice's change comes after Bob's by the relay's clock as each of them has it, not only by the
    // wall clock: each heard it at its own challenge, and a challenge read late (a loaded machine) sets
    // that client's idea behind the other's by as much.
    const bobStampedBy = bobGroup.connection.relayNow();
    await until(() => aliceGroup.connection.relayNow() > bobStampedBy, 5_000);
    await aliceGroup.setRole(dave, "reader");
    relay.transcript();

    relay.down = false;
    bobGroup.reconnectNow();
    await expect(lost).rejects.toBeInstanceOf(held ? RelayError : LocalRefusalError);
    await expect(lost).rejects.toMatchObject({ code: "forbidden" });
    expect(refusals).toHaveLength(held ? 1 : 0); // not held: never written, so nothing to refuse
    expect(bobGroup.refused()).toEqual([]); // dropped at once: nothing is held back

    // The next operation of bob's session goes through; both admins replay the same members.
    await bobGroup.setRole(erin, "writer");
    await aliceGroup.synced();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const expected = new Map([[alice.identity.agent, "admin"], [bobIdentity.agent, "admin"], [dave, "reader"], [erin, "writer"]]);
    expect(await bobGroup.members()).toEqual(expected);
    expect(await aliceGroup.members()).toEqual(expected);
    expect(relay.transcript().filter((line) => line.includes("error")).map((line) => line.replace(/c\d+/, "bob"))).toEqual(held ? ["relay -> bob | error forbidden members"] : []);
  });
});

describe("the last admin", () => {
  it("may neither demote nor remove itself: refused here, as the relay would, with nothing sent; with a second admin it may", async () => {
    const { relay, alice, aliceGroup, bobIdentity } = await bobMadeBy("writer");
    relay.transcript();
    for (const leaving of [() => aliceGroup.setRole(alice.identity.agent, "writer"), () => aliceGroup.removeMember(alice.identity.agent)]) {
      await expect(leaving()).rejects.toMatchObject({ name: "LocalRefusalError", code: "forbidden", message: expect.stringMatching(/a group keeps at least one admin$/) });
    }
    expect(relay.transcript().filter((line) => line.includes("-> relay | content"))).toEqual([]);
    expect(aliceGroup.refused()).toEqual([]);
    await aliceGroup.setRole(bobIdentity.agent, "admin");
    await aliceGroup.setRole(alice.identity.agent, "writer");
    expect((await aliceGroup.members()).get(alice.identity.agent)).toBe("writer");
  });
});

describe("membership calls on a client that does not hold the log yet", () => {
  it("members() and setRole() right after client.group() wait for the relay's welcome instead of saying there is no log", async () => {
    const { client } = setup();
    const identity = createIdentity();
    const first = await client({ name: "admin", identity });
    const group = first.group("g1");
    await group.createMembers().synced();
    const bob = createIdentity().agent;
    first.close();

    // The same admin on a new device (an empty store): nothing of the group is held yet.
    const again = await client({ name: "admin-again", identity });
    const fresh = again.group("g1");
    expect(fresh.membersDoc).toBeUndefined();
    const [members] = await Promise.all([fresh.members({ signal: AbortSignal.timeout(5_000) }), fresh.setRole(bob, "writer")]);
    expect(members.get(identity.agent)).toBe("admin");
    expect((await fresh.members()).get(bob)).toBe("writer");
  });

  it("members() in a group without a log, after the welcome: refused with unknown_doc, saying why; while offline it waits, bounded by its signal", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await expect(group.members()).rejects.toThrow(/has no membership log: call createMembers\(\) first/);
    await expect(group.members()).rejects.toMatchObject({ name: "LocalRefusalError", code: "unknown_doc" });
    // In a group without a log every member is a writer, which may not manage members.
    await expect(group.setRole(createIdentity().agent, "writer")).rejects.toMatchObject({ name: "LocalRefusalError", code: "forbidden" });
    await expect(group.removeMember(createIdentity().agent)).rejects.toThrow(/has no membership log, so every member is a writer, .*call createMembers\(\) first/);
    relay.down = true;
    const offline = await client({ name: "offline" });
    await expect(offline.group("g1").members({ signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: "TimeoutError" });
  });
});

describe("a document held from an earlier role, after openAll()", () => {
  /** Alice's group, where bob is an admin, and a document only alice may read (bob reads it as an admin). */
  async function secretOfAlice(client: ReturnType<typeof setup>["client"]) {
    const alice = await client({ name: "alice" });
    const aliceGroup = alice.group("g1");
    await aliceGroup.createMembers().synced();
    const bobIdentity = createIdentity();
    await aliceGroup.setRole(bobIdentity.agent, "admin");
    const secret = aliceGroup.create({ readers: [alice.identity.agent] });
    secret.append("for alice");
    await secret.synced();
    return { aliceGroup, bobIdentity, secret };
  }

  /** Bob, an admin, reads alice's document into his store; he is made a writer, who may not read it; he opens the group again. */
  async function heldFromBefore(client: ReturnType<typeof setup>["client"]) {
    const { aliceGroup, bobIdentity, secret } = await secretOfAlice(client);
    const store = new MemoryLocalStore();
    const bob = await client({ identity: bobIdentity, name: "bob", store });
    await bob.group("g1").open(secret.id);
    await bob.close();
    await aliceGroup.setRole(bobIdentity.agent, "writer");
    const group = (await client({ identity: bobIdentity, name: "bob-again", store })).group("g1");
    await group.openAll();
    return { group, secret };
  }

  it("one the agent may no longer read does not keep the group from going live", async () => {
    const { client } = setup();
    const { group, secret } = await heldFromBefore(client);
    await within(2_000, statusOf(group, "live"));
    // What it held stays on the device; the relay sent nothing more of it.
    expect((await group.open(secret.id)).transactions().map((transaction) => transaction.data)).toEqual(["for alice"]);
  });

  it("writes made while cut off into one it may no longer read are refused and surfaced, not left unsent", async () => {
    const { relay, client } = setup();
    const { aliceGroup, bobIdentity, secret } = await secretOfAlice(client);

    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    await group.openAll();
    const held = await group.open(secret.id);
    const refused: unknown[] = [];
    group.onRefused((writes) => refused.push(...writes.transactions.map((transaction) => transaction.data)));
    // Cut off, bob writes; meanwhile he is made a writer, who may not read it.
    relay.down = true;
    group.connection.drop();
    held.append("written as an admin, cut off");
    const synced = held.synced();
    await aliceGroup.setRole(bobIdentity.agent, "writer");
    relay.down = false;
    group.reconnectNow();
    await expect(within(2_000, synced)).rejects.toMatchObject({ code: "forbidden" });
    expect(refused).toEqual(["written as an admin, cut off"]);
    await within(2_000, statusOf(group, "live"));
  });

  it("a write into it after its load was refused is refused at once, nothing is held back, and loaded() does not hang", async () => {
    const { client } = setup();
    const { group, secret } = await heldFromBefore(client);
    await within(2_000, statusOf(group, "live")); // its load was refused, with nothing of bob's to refuse
    const held = await group.open(secret.id);
    expect(group.role).toBe("writer");
    expect(refusalCode(() => held.append("written as a writer"))).toBe("forbidden");
    expect(held.transactions().map((transaction) => transaction.data)).toEqual(["for alice"]);
    // Listed as refused (its load was), with no write of this client's held back.
    expect(group.refused().flatMap((writes) => writes.transactions)).toEqual([]);
    await within(2_000, held.loaded());
  });
});

describe("a role changed while the client is connected", () => {
  it("counts at once: group.role and onRole follow it, a reader made a writer may write, made an admin may snapshot, an admin's open group gets what it now may read", async () => {
    const { client, alice, aliceGroup, bobIdentity } = await bobMadeBy("reader");
    const shared = aliceGroup.create();
    shared.append("for everyone");
    const secret = aliceGroup.create({ readers: [alice.identity.agent] });
    secret.append("for alice and the admins");
    await aliceGroup.synced();

    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    const roles: string[] = [];
    group.onRole((role) => roles.push(role));
    await group.openAll();
    expect(group.role).toBe("reader");
    expect(group.docs.map((doc) => doc.id)).toEqual([shared.id]);
    const held = group.docs[0]!;
    expect(() => held.snapshot("state")).toThrow(expect.objectContaining({ code: "forbidden" }));

    await aliceGroup.setRole(bobIdentity.agent, "writer");
    await until(() => group.role === "writer", 2_000);
    held.append("by bob");
    await within(2_000, held.synced());
    // A writer snapshots only the documents it created: this one is alice's.
    expect(() => held.snapshot("state")).toThrow(expect.objectContaining({ code: "forbidden" }));

    await aliceGroup.setRole(bobIdentity.agent, "admin");
    await until(() => group.role === "admin", 2_000);
    await within(2_000, held.snapshot("state"));
    await until(() => group.docs.some((doc) => doc.id === secret.id), 2_000);
    expect(group.docs.find((doc) => doc.id === secret.id)!.transactions().map((transaction) => transaction.data)).toEqual(["for alice and the admins"]);
    expect(roles).toEqual(["writer", "admin"]);
    expect(group.status).toBe("live");
  });
});

describe("an admin made a writer while its snapshot is on its way", () => {
  it("the relay refuses the snapshot with forbidden as it arrives: its promise rejects, and the writes and load that went with it are not taken for refused", async () => {
    const { relay, client, aliceGroup, bobIdentity } = await bobMadeBy("admin");
    const shared = aliceGroup.create();
    shared.append("by alice");
    await aliceGroup.synced();
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    const held = await group.open(shared.id);
    await statusOf(group, "live");

    // Offline, bob (still an admin as far as his client knows) snapshots alice's document and writes to it.
    relay.down = true;
    group.connection.drop();
    const snapshot = held.snapshot("bob's state");
    snapshot.catch(() => {});
    held.append("by bob, offline");
    await aliceGroup.setRole(bobIdentity.agent, "writer");

    relay.down = false;
    group.reconnectNow();
    await expect(within(2_000, snapshot)).rejects.toMatchObject({ code: "forbidden" });
    expect(group.role).toBe("writer");
    await within(2_000, held.synced());
    expect(group.refused()).toEqual([]);
    expect(held.refused).toBe(false);
    await until(() => shared.transactions().length === 2, 2_000);
    expect(shared.lastSnapshotted).toBeUndefined();
    expect(group.status).toBe("live");
  });
});

describe("a document opened on its own, that a role change took away and gave back", () => {
  it("gets what was written meanwhile at once, with no new write and no reconnect", async () => {
    const { client, alice, aliceGroup, bobIdentity } = await bobMadeBy("admin");
    const secret = aliceGroup.create({ readers: [alice.identity.agent] });
    secret.append("before");
    await secret.synced();
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    const held = await group.open(secret.id);
    await until(() => held.transactions().length === 1, 2_000);

    await aliceGroup.setRole(bobIdentity.agent, "writer");
    await until(() => group.role === "writer", 2_000);
    secret.append("while bob could not read it");
    await secret.synced();
    await aliceGroup.setRole(bobIdentity.agent, "admin");
    await until(() => group.role === "admin", 2_000);
    await until(() => held.transactions().length === 2, 2_000);
    expect(held.transactions().map((transaction) => transaction.data)).toEqual(["before", "while bob could not read it"]);
  });
});

describe("what only admins may do", () => {
  it("is refused at once, with nothing sent, for an agent the relay says is not one; and allowed once it is", async () => {
    const { relay, client, alice, aliceGroup, bobIdentity } = await bobMadeBy("writer");
    const doc = aliceGroup.create();
    relay.name(doc.id, "doc");
    await doc.synced();

    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    await group.openAll();
    expect(group.role).toBe("writer");
    relay.transcript();
    await expect(group.delete(doc.id)).rejects.toMatchObject({ name: "LocalRefusalError", code: "forbidden" });
    await expect(group.setRole(createIdentity().agent, "reader")).rejects.toMatchObject({ name: "LocalRefusalError", code: "forbidden" });
    await expect(group.removeMember(alice.identity.agent)).rejects.toMatchObject({ name: "LocalRefusalError", code: "forbidden" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(relay.transcript().filter((line) => / -> relay \| (delete|content members)/.test(line))).toEqual([]);
    expect(group.refused()).toEqual([]);
    await group.synced();

    await aliceGroup.setRole(bobIdentity.agent, "admin");
    await until(() => group.role === "admin", 2_000);
    await within(2_000, group.delete(doc.id));
  });

  it("deleting the membership log is refused at once for an admin, with nothing sent, as the relay would; the log and the admin's next write are untouched", async () => {
    const { relay, aliceGroup, log } = await bobMadeBy("writer");
    relay.transcript();
    const refusal = await aliceGroup.delete(log.id).then(() => undefined, (error: unknown) => error);
    expect(refusal).toBeInstanceOf(LocalRefusalError);
    expect(refusal).toMatchObject({ code: "forbidden", message: "forbidden: delete: the membership log cannot be deleted (removeMember() takes an agent out)" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(relay.transcript().filter((line) => / -> relay \| delete/.test(line))).toEqual([]);
    expect(aliceGroup.membersDoc).toBe(log.id);
    await within(2_000, aliceGroup.setRole(createIdentity().agent, "reader"));
    expect(aliceGroup.refused()).toEqual([]);
  });
});

describe("what a reader may not do", () => {
  it("append and create are refused at once, with nothing stored or sent, while the relay says it is one; allowed once it may write", async () => {
    const { relay, aliceGroup, bobIdentity, doc, store, bob, group, held } = await readerHoldingDoc();
    expect(group.role).toBe("reader");
    relay.transcript();
    expect(refusalCode(() => held.append("a reader writing"))).toBe("forbidden");
    // The relay decodes a frame before it checks the role: what it would say first is said here first.
    expect(refusalCode(() => held.append("x".repeat(MAX_TRANSACTION_BYTES + 1)))).toBe("transaction_too_large");
    expect(refusalCode(() => group.create())).toBe("forbidden");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(relay.transcript().filter((line) => line.includes("-> relay | content"))).toEqual([]);
    expect(held.transactions()).toEqual([]);
    expect(group.docs.map((each) => each.id)).toEqual([doc.id]);
    expect(group.refused()).toEqual([]);
    await group.synced();
    const [stored] = await store.loadGroup("g1");
    expect(stored?.sessions[bob.session] ?? []).toEqual([]);

    await aliceGroup.setRole(bobIdentity.agent, "writer");
    await until(() => group.role === "writer", 2_000);
    held.append("a writer now");
    group.create().append("and a document of its own");
    await within(2_000, group.synced());
  });

  it("nor may a writer write or snapshot a document whose readers leave it out, held from when it was an admin", async () => {
    const { relay, client, aliceGroup, bobIdentity } = await bobMadeBy("admin");
    const secret = aliceGroup.create({ readers: [] });
    secret.append("for admins");
    await secret.synced();
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    const held = await group.open(secret.id);
    await aliceGroup.setRole(bobIdentity.agent, "writer");
    await until(() => group.role === "writer", 2_000);
    relay.transcript();
    expect(refusalCode(() => held.append("written as a writer"))).toBe("forbidden");
    expect(refusalCode(() => held.snapshot("its state"))).toBe("forbidden");
    group.create().append("its own document is fine");
    await within(2_000, group.synced());
    expect(relay.transcript().filter((line) => line.includes("-> relay | content") && line.includes(secret.id))).toEqual([]);
  });
});

describe("a client started again while the relay is out of reach", () => {
  it("refuses at once what the role the store kept does not allow, and follows the relay's word once it hears it", async () => {
    const { relay, client, aliceGroup, bobIdentity, doc, store, bob: first } = await readerHoldingDoc();
    await first.close();

    relay.unreachable.add(new URL(CUT_OFF_URL).host);
    const bob = await client({ identity: bobIdentity, name: "bob-again", store, url: CUT_OFF_URL });
    const group = bob.group("g1");
    const roles: Role[] = [];
    group.onRole((role) => roles.push(role));
    const held = await group.open(doc.id);
    expect(group.status).not.toBe("live");
    expect(group.role).toBe("reader");
    expect(refusalCode(() => held.append("a reader writing offline"))).toBe("forbidden");
    expect(refusalCode(() => group.create())).toBe("forbidden");
    expect(held.transactions()).toEqual([]);

    await aliceGroup.setRole(bobIdentity.agent, "writer");
    relay.unreachable.delete(new URL(CUT_OFF_URL).host);
    bob.reconnectNow();
    await until(() => group.role === "writer", 2_000);
    expect(roles).toEqual(["writer"]);
    held.append("a writer now");
    await within(2_000, held.synced());
    // And the next start, offline again, begins from the role heard last.
    await bob.close();
    relay.unreachable.add(new URL(CUT_OFF_URL).host);
    const again = await client({ identity: bobIdentity, name: "bob-third", store, url: CUT_OFF_URL });
    const reopened = await again.group("g1").open(doc.id);
    expect(again.group("g1").role).toBe("writer");
    reopened.append("written offline");
    expect(reopened.transactions().map((transaction) => transaction.data)).toEqual(["a writer now", "written offline"]);
  });
});

describe("a store of the app's own whose kept role is not one", () => {
  for (const [what, loadRole] of [
    ["a string that names no role", async () => "superuser"],
    ["a failure", async () => Promise.reject(new Error("the store is broken"))],
  ] as const) {
    it(`gives ${what}: the client starts as with none kept, and takes the relay's role`, async () => {
      const { relay, client, aliceGroup, bobIdentity } = await bobMadeBy("writer");
      class OddStore extends MemoryLocalStore {
        override loadRole = loadRole as unknown as MemoryLocalStore["loadRole"];
      }
      relay.unreachable.add(new URL(CUT_OFF_URL).host);
      const bob = await client({ identity: bobIdentity, name: "bob", store: new OddStore(), url: CUT_OFF_URL });
      const group = bob.group("g1");
      await group.ready;
      expect(group.role).toBeUndefined();
      const doc = group.create(); // nothing refused for a role not known
      relay.unreachable.delete(new URL(CUT_OFF_URL).host);
      bob.reconnectNow();
      await until(() => group.role === "writer", 2_000);
      doc.append("stored");
      await within(2_000, doc.synced());
      expect((await aliceGroup.open(doc.id)).transactions().map((transaction) => transaction.data)).toEqual(["stored"]);
    });
  }
});

describe("a store of the app's own that fails to keep the role", () => {
  it("reports it once through onError, and the client goes on with the relay's role", async () => {
    const { client, aliceGroup, bobIdentity } = await bobMadeBy("writer");
    class FailingStore extends MemoryLocalStore {
      override saveRole = async () => Promise.reject(new Error("the disk is full"));
    }
    const bob = await client({ identity: bobIdentity, name: "bob", store: new FailingStore() });
    const group = bob.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "live");
    await until(() => errors.length > 0, 2_000);
    expect(errors).toEqual(["internal: keeping this agent's role in the local store failed: the disk is full"]); // the code, then why
    expect(group.role).toBe("writer");
    const doc = group.create();
    doc.append("stored");
    await within(2_000, doc.synced());
    expect((await aliceGroup.open(doc.id)).transactions().map((transaction) => transaction.data)).toEqual(["stored"]);
    expect(errors).toHaveLength(1);
  });
});

describe("a founder", () => {
  it("is an admin from createMembers() on, though the relay first welcomes it as a writer of the open group: never a writer meanwhile, and what it does at once is not refused", async () => {
    const { client } = setup();
    const carol = await client({ name: "carol" });
    const group = carol.group("g1");
    const seen: string[] = [];
    group.onRole((role) => seen.push(`heard ${role}`));
    const dave = createIdentity().agent;
    let granted: Promise<void> | undefined;
    // The moment the relay's first welcome arrives, before the log is stored.
    group.onStatus((status) => {
      if (status !== "syncing" && status !== "live") return;
      seen.push(String(group.role));
      granted ??= group.setRole(dave, "reader");
    });
    group.createMembers();
    await until(() => granted !== undefined, 2_000);
    await within(2_000, granted!);
    expect((await group.members()).get(dave)).toBe("reader");
    expect(new Set(seen)).toEqual(new Set(["admin"]));
    expect(group.role).toBe("admin");
  });
});

describe("a role changed while the client is cut off", () => {
  it("is heard at the reconnect: group.role and onRole follow it", async () => {
    const { relay, client, aliceGroup, bobIdentity } = await bobMadeBy("writer");
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    await statusOf(group, "live");
    const roles: string[] = [];
    group.onRole((role) => roles.push(role));

    relay.down = true;
    group.connection.drop();
    await aliceGroup.setRole(bobIdentity.agent, "reader");
    expect(group.role).toBe("writer");
    relay.down = false;
    group.reconnectNow();
    await within(2_000, statusOf(group, "live"));
    expect(group.role).toBe("reader");
    expect(roles).toEqual(["reader"]);
  });
});

describe("membership calls given what is not an agent or a role", () => {
  it("reject with a TypeError naming the argument, not a forbidden the relay never said, and change nothing", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    group.createMembers();
    await group.synced();
    const bob = createIdentity().agent;
    await expect(group.setRole("nope" as never, "writer")).rejects.toThrow(new ArgumentError('setRole: the agent must be an agent id (an identity\'s agent), not "nope"'));
    await expect(group.setRole(bob, "owner" as never)).rejects.toThrow(new ArgumentError('setRole: the role must be one of "admin", "writer", "reader", not "owner"'));
    await expect(group.removeMember(42 as never)).rejects.toThrow(TypeError);
    expect([...(await group.members()).keys()]).toEqual([alice.identity.agent]);
    await group.setRole(bob, "writer"); // nothing held back
    expect((await group.members()).get(bob)).toBe("writer");
  });
});

describe("two admins founding the group at once", () => {
  it("the one whose log is refused learns the group's log and its role under it, and its membership calls work", async () => {
    // Both are token admins, as with WEFT_FOUNDERS=token-admins.
    const { client, closeAll } = harness(async (token) => ({ ok: true, agent: fakeTokenText(token) as never, group: "g1", role: "admin", expiresAt: Date.now() + 60_000 }));
    try {
      const first = await client({ name: "first", getToken: () => fakeToken(first.identity.agent) });
      const late = await client({ name: "late", getToken: () => fakeToken(late.identity.agent) });
      const [firstGroup, lateGroup] = [first.group("g1"), late.group("g1")];
      await Promise.all([statusOf(firstGroup, "live"), statusOf(lateGroup, "live")]); // welcomed before any log
      const won = firstGroup.createMembers();
      const lost = lateGroup.createMembers();
      await won.synced();
      await expect(lost.synced()).rejects.toMatchObject({ code: "bad_header" });
      await until(() => lateGroup.membersDoc === won.id && lateGroup.status === "live", 5_000);
      expect(lateGroup.role).toBe("admin"); // its token's: the log never named it
      expect([...(await lateGroup.members()).entries()]).toEqual([[first.identity.agent, "admin"]]);
    } finally {
      await closeAll();
    }
  });
});

describe("a deleted document", () => {
  it("keeps only its id and header on every client that held it: its transactions and snapshot go, as from the relay and the store", async () => {
    const { client } = setup();
    const store = new MemoryLocalStore();
    const alice = await client({ name: "alice", store });
    const group = alice.group("g1");
    group.createMembers();
    const doc = group.create({ meta: { title: "old notes" } });
    for (let i = 0; i < 5; i++) doc.append(`line ${i}`);
    await doc.synced();
    await doc.snapshot("state");
    const bobIdentity = createIdentity();
    await group.setRole(bobIdentity.agent, "reader");
    const bob = await client({ name: "bob", identity: bobIdentity });
    const held = await bob.group("g1").open(doc.id);
    await held.synced();
    expect(held.transactions().length + (held.heldSnapshot ? 1 : 0)).toBeGreaterThan(0);

    await group.delete(doc.id);
    await until(() => held.transactions().length === 0 && held.heldSnapshot === undefined, 2_000);
    expect([doc.transactions(), doc.heldSnapshot]).toEqual([[], undefined]);
    expect(doc.header?.meta).toEqual({ title: "old notes" });
    expect(group.docs).toEqual([]);
    expect(() => doc.append("after")).toThrow(expect.objectContaining({ code: "doc_deleted" }));
    // Nothing of it is saved again after its file went.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await store.loadGroup("g1")).map((stored) => stored.id)).not.toContain(doc.id);
  });
});

describe("an agent connected to the open group when an admin creates its membership log", () => {
  it("is told once and its group closes where the log does not name it; given a role, the app asks for the group anew and gets in", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const bob = await client({ name: "bob" });
    const [aliceGroup, early] = [alice.group("g1"), bob.group("g1")];
    await Promise.all([statusOf(aliceGroup, "live"), statusOf(early, "live")]);
    const errors: string[] = [];
    early.onError((error) => errors.push(error.message));
    const written = early.create();
    written.append("while the group was open");
    await written.synced();

    await aliceGroup.createMembers().synced();
    // Not left live with the open group's role, hearing nothing more of the group until it writes.
    await within(5_000, statusOf(early, "closed"));
    expect(early.connection.closeReason).toMatch(/^unauthorized: this agent is not a member of the group: its membership log was just created/);
    expect(errors.filter((message) => message.startsWith("unauthorized"))).toHaveLength(1);

    await aliceGroup.setRole(bob.identity.agent, "writer");
    early.close();
    const again = bob.group("g1");
    await statusOf(again, "live");
    const doc = await again.open(written.id);
    doc.append("once a member");
    await doc.synced();
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["while the group was open", "once a member"]);
  });
});

describe("a member removed while connected", () => {
  it("is told once and its group closes, without connecting again to hear it a second time", async () => {
    const { relay, aliceGroup, bobIdentity, client } = await bobMadeBy("writer");
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    await statusOf(group, "live");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    relay.transcript();
    await aliceGroup.removeMember(bobIdentity.agent);
    await statusOf(group, "closed");
    await new Promise((resolve) => setTimeout(resolve, 50)); // a reconnect would have started by now
    expect(group.connection.closeReason).toMatch(/^unauthorized: this agent was removed from the group/);
    expect(relay.transcript().filter((line) => line.startsWith("bob -> relay | hello"))).toEqual([]);
    expect(errors.filter((message) => message.startsWith("unauthorized"))).toHaveLength(1);
  });

  it("given a role again, gets back in through the same client: the app closes the refused group and asks for it anew", async () => {
    const { aliceGroup, bobIdentity, client } = await bobMadeBy("writer");
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const refused = bob.group("g1");
    const written = refused.create();
    written.append("before the removal");
    await written.synced();
    await aliceGroup.removeMember(bobIdentity.agent);
    await statusOf(refused, "closed");
    // Asked again while the app has not closed it: the same closed group, not a new connection per render.
    expect(bob.group("g1")).toBe(refused);

    await aliceGroup.setRole(bobIdentity.agent, "writer");
    refused.close();
    const again = bob.group("g1");
    expect(again).not.toBe(refused);
    await statusOf(again, "live");
    const doc = await again.open(written.id);
    doc.append("after coming back");
    await doc.synced();
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["before the removal", "after coming back"]);
  });
});
