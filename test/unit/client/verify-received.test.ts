// Issue 9, item 11: a client checks cheaply what it receives. A header must hash to the id it came with;
// a membership operation counts in members() only once a checkpoint signature covering it verifies.
import { describe, expect, it } from "vitest";
import { docIdOf, newHeader, signCheckpoint, chainHash, GENESIS_HASH, type SessionId } from "../../../protocol/index.ts";
import { RelayError, createIdentity } from "../../../client/index.ts";
import { newSession } from "../../../client/identity.ts";
import { settle, statusOf, harnessPerTest } from "./group-harness.ts";

const setup = harnessPerTest();

describe("what arrives is checked", () => {
  it("drops a header that does not hash to its document id", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await group.openAll();
    const errors: RelayError[] = [];
    group.onError((error) => error instanceof RelayError && errors.push(error));
    const real = newHeader({ group: "g1", kind: "json", creator: createIdentity().agent, createdAt: 1 });
    const forged = { ...real, meta: { title: "not what was signed" } };
    relay.inject(relay.peers[0]!, { type: "content", doc: docIdOf(real), header: forged, sessions: {} });
    await settle();
    expect(group.docs).toEqual([]);
    expect(errors.map((error) => error.code)).toEqual(["bad_header"]);
  });

  it("counts membership operations only under a checkpoint that verifies", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const adminGroup = alice.group("g1");
    const log = adminGroup.createMembers();
    await log.synced();
    const bob = createIdentity();
    await adminGroup.setRole(bob.agent, "writer");

    const carol = await client({ identity: bob, name: "bob" });
    const group = carol.group("g1");
    await statusOf(group, "live");
    expect(await group.members()).toEqual(new Map([[alice.identity.agent, "admin"], [bob.agent, "writer"]]));

    // A relay that lies: an operation in the admin's name (a session of alice's agent), granting a forger
    // admin, signed with another key. Replayed unchecked it would count: its author is an admin.
    const forger = createIdentity();
    const forgerSession: SessionId = newSession(alice.identity);
    const op = { at: Date.now() + 1_000, data: JSON.stringify({ op: "set", agent: forger.agent, role: "admin" }) };
    const signature = signCheckpoint(createIdentity().secretKey, log.id, forgerSession, 1, chainHash(GENESIS_HASH, [op]));
    const errors: RelayError[] = [];
    group.onError((error) => error instanceof RelayError && errors.push(error));
    relay.inject(relay.peers[relay.peers.length - 1]!, { type: "content", doc: log.id, sessions: { [forgerSession]: { after: 0, transactions: [op], signature } } });
    await settle();
    const members = await group.members();
    expect(members.has(forger.agent)).toBe(false);
    expect(members.get(bob.agent)).toBe("writer");
    expect(errors.some((error) => error.code === "bad_signature" && error.session === forgerSession)).toBe(true);
  });
});
