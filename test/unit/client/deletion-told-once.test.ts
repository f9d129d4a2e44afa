// A deletion is told once, the way it is told live: an open document's subscribers hear a change with
// `doc.deleted` set, writes it lost go to onRefused, a waiting open() rejects, and the admin's delete()
// resolves. Nothing of it reaches onError, and reconnects and restarts tell nothing again: the SDK asks the
// relay for no document it knows is deleted.
import { describe, expect, it } from "vitest";
import { RelayError, createIdentity, type Client, type Group, type RefusedWrites } from "../../../client/index.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import type { DocId } from "../../../protocol/index.ts";
import { CUT_OFF_URL, GROUP, harnessPerTest, statusOf, settle } from "./group-harness.ts";
import type { InProcessRelay } from "./in-process-relay.ts";

const setup = harnessPerTest();

/** The RelayErrors `group`'s onError hears, as `code doc`. */
function relayErrorsOf(group: Group): string[] {
  const heard: string[] = [];
  group.onError((error) => error instanceof RelayError && heard.push(`${error.code} ${error.doc ?? ""}`));
  return heard;
}

/** Cuts every socket, as a network blip or a relay restart, and waits until each group is live again. */
async function reconnectAll(relay: InProcessRelay, groups: Group[]): Promise<void> {
  relay.dropAll();
  await settle();
  for (const group of groups) await statusOf(group, "live");
  await settle();
}

/** What `clients` sent the relay about `ids` since the transcript was last read. */
const framesAbout = (relay: InProcessRelay, ids: DocId[]): string[] => relay.transcript().filter((line) => !line.startsWith("relay") && ids.some((id) => line.includes(id)));

async function adminWithMembers(client: (options?: { name?: string }) => Promise<Client>) {
  const admin = await client({ name: "admin" });
  const group = admin.group(GROUP);
  await group.createMembers().synced();
  return { admin, group };
}

describe("documents deleted while connected", () => {
  it("the admin who deleted them and a peer that had them open hear nothing through onError, then or at any reconnect", async () => {
    const { relay, client } = setup();
    const { group } = await adminWithMembers(client);
    const peer = await client({ name: "peer" });
    await group.setRole(peer.identity.agent, "writer");
    const peerGroup = peer.group(GROUP);
    const adminErrors = relayErrorsOf(group);
    const peerErrors = relayErrorsOf(peerGroup);
    const ids: DocId[] = [];
    const told: string[] = [];
    for (let i = 0; i < 3; i++) {
      const doc = group.create();
      doc.append(`x${i}`);
      await doc.synced();
      const opened = await peerGroup.open(doc.id);
      opened.subscribe((change) => change.doc.deleted && told.push(change.doc.id));
      ids.push(doc.id);
    }
    for (const id of ids) await group.delete(id);
    await settle();
    // Told once to the peer, as a change of each document it had open.
    expect(told.sort()).toEqual([...ids].sort());
    relay.transcript();

    for (let cut = 0; cut < 3; cut++) await reconnectAll(relay, [group, peerGroup]);
    expect(framesAbout(relay, ids)).toEqual([]);
    expect(adminErrors).toEqual([]);
    expect(peerErrors).toEqual([]);
    expect(told).toHaveLength(3);
  });
});

describe("a document deleted while a client was away", () => {
  it("a peer that had it open, without writes of its own: its subscribers hear it once, onError nothing, the next reconnect nothing more", async () => {
    const { relay, client, cutOff } = setup();
    const { group } = await adminWithMembers(client);
    const doc = group.create();
    doc.append("x");
    await doc.synced();
    const peer = await client({ name: "peer", url: CUT_OFF_URL });
    await group.setRole(peer.identity.agent, "reader");
    const peerGroup = peer.group(GROUP);
    const errors = relayErrorsOf(peerGroup);
    const opened = await peerGroup.open(doc.id);
    const told: boolean[] = [];
    opened.subscribe((change) => told.push(change.doc.deleted));

    const reconnect = cutOff(peer);
    await group.delete(doc.id);
    reconnect();
    await statusOf(peerGroup, "live");
    await settle();
    expect(opened.deleted).toBe(true);
    expect(told).toEqual([true]);

    relay.transcript();
    await reconnectAll(relay, [peerGroup]);
    expect(framesAbout(relay, [doc.id])).toEqual([]);
    expect(told).toEqual([true]);
    expect(errors).toEqual([]);
  });

  it("the admin's own delete(), made cut off, of a document another admin deleted meanwhile: it resolves, and onError hears nothing", async () => {
    const { client, cutOff } = setup();
    const { group } = await adminWithMembers(client);
    const other = await client({ name: "other-admin", url: CUT_OFF_URL });
    await group.setRole(other.identity.agent, "admin");
    const otherGroup = other.group(GROUP);
    const errors = relayErrorsOf(otherGroup);
    const doc = group.create();
    doc.append("x");
    await doc.synced();
    await otherGroup.open(doc.id);

    // As a delete whose answer a relay restart lost: at the reconnect, a load and the delete meet the deletion.
    const reconnect = cutOff(other);
    const deleting = otherGroup.delete(doc.id);
    await group.delete(doc.id);
    reconnect();
    await deleting;
    await statusOf(otherGroup, "live");
    await settle();
    expect(errors).toEqual([]);
  });
});

describe("own writes lost to a deletion", () => {
  it("are told once by onRefused, with the transactions, and held nowhere: not by refused(), not after a reconnect or a restart", async () => {
    const { relay, client, cutOff } = setup();
    const { group } = await adminWithMembers(client);
    const bobIdentity = createIdentity();
    await group.setRole(bobIdentity.agent, "writer");
    const store = new MemoryLocalStore();
    const bob = await client({ name: "bob", identity: bobIdentity, store, url: CUT_OFF_URL });
    const bobGroup = bob.group(GROUP);
    const doc = bobGroup.create();
    doc.append("stored");
    await doc.synced();

    const reconnect = cutOff(bob);
    doc.append("lost 1");
    doc.append("lost 2");
    await bobGroup.ready;
    await group.delete(doc.id);
    const refusals: { code: string; data: unknown[]; deleted: boolean; listed: number; refused: boolean }[] = [];
    bobGroup.onRefused((refused: RefusedWrites) =>
      refusals.push({
        code: refused.error.code,
        data: refused.transactions.map((transaction) => transaction.data),
        deleted: refused.doc.deleted,
        listed: bobGroup.refused().length,
        refused: refused.doc.refused,
      }),
    );
    const errors = relayErrorsOf(bobGroup);
    const synced = doc.synced();
    reconnect();
    await expect(synced).rejects.toMatchObject({ code: "doc_deleted" });
    await statusOf(bobGroup, "live");
    // Nothing is held to retry or discard: the document is gone for good, and the refusal says so.
    expect(refusals).toEqual([{ code: "doc_deleted", data: ["lost 1", "lost 2"], deleted: true, listed: 0, refused: false }]);
    expect(bobGroup.refused()).toEqual([]);
    expect(errors).toEqual([]);
    await bobGroup.synced();

    await reconnectAll(relay, [bobGroup]);
    await bob.close();
    expect((await store.loadGroup(GROUP)).map((stored) => stored.id)).not.toContain(doc.id);
    const restarted = await client({ name: "bob-again", identity: bobIdentity, store });
    const again = restarted.group(GROUP);
    const refusedAgain: RefusedWrites[] = [];
    again.onRefused((refused) => refusedAgain.push(refused));
    const errorsAgain = relayErrorsOf(again);
    await statusOf(again, "live");
    await again.synced();
    expect(refusedAgain).toEqual([]);
    expect(again.refused()).toEqual([]);
    expect(errorsAgain).toEqual([]);
  });
});
