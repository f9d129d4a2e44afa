// An app that opens a group per note and closes it when the note leaves the screen: the groups it closed
// must not stay in the client until client.close() (each held about 16 KiB: 2,000 of them, 33 MiB).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryLocalStore, createClient, createIdentity, type Client, type Group } from "../../client/index.ts";
import type { DocId } from "../../protocol/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { sleep } from "../support/wait.ts";

// The garbage collector on demand, without starting the test process with --expose-gc.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** How many of `refs` still point at a live object, after collecting garbage until none is left or 5 s passed. */
async function stillHeld(refs: WeakRef<object>[]): Promise<number> {
  const held = () => refs.filter((ref) => ref.deref() !== undefined).length;
  // A closed socket lets go of its listeners once its closing handshake is over: a few turns later.
  for (let round = 0; round < 100 && held() > 0; round++) {
    await sleep(50);
    collectGarbage();
  }
  return held();
}

/**
 * Opens a group, writes a note into it, and closes it once the relay has the note. In a function of its
 * own: a suspended async function may keep the last value of a loop's variable in its frame.
 */
async function writeAndClose(client: Client, id: string): Promise<{ group: WeakRef<Group>; doc: DocId }> {
  const group = client.group(id);
  const doc = group.create();
  doc.append(`${id} written`);
  await doc.synced();
  group.close();
  return { group: new WeakRef(group), doc: doc.id };
}

describe("groups the app closed", () => {
  let relay: LocalRelay;
  let client: Client;

  beforeAll(async () => {
    relay = await startRelay();
    client = await createClient({ url: relay.url, identity: createIdentity() });
  });

  afterAll(async () => {
    await client?.close();
    await relay?.stop();
  });

  it("are let go of by the client, and group(id) then gives a fresh group that reads what the closed one saved", async () => {
    const closed: WeakRef<Group>[] = [];
    const docIds: DocId[] = [];
    for (let note = 0; note < 30; note++) {
      const { group, doc } = await writeAndClose(client, `note-${note}`);
      closed.push(group);
      docIds.push(doc);
    }
    const kept = client.group("note-kept");
    await kept.ready;
    const keptRef = new WeakRef(kept);

    expect(await stillHeld(closed)).toBe(0);
    // The check can see a group held: the open one is.
    expect(keptRef.deref()).toBeDefined();

    const again = client.group("note-3");
    expect(client.group("note-3")).toBe(again);
    expect((await again.open(docIds[3]!)).transactions().map((transaction) => transaction.data)).toEqual(["note-3 written"]);
  });

  it("still have the writes they left unsent told to the clients sharing the store when the client closes", async () => {
    const store = new MemoryLocalStore();
    const told: string[] = [];
    const stopHearing = store.onUnsent((group, docs) => told.push(`${group}: ${docs.join(", ")}`));
    // No relay answers at this port: what is appended stays unsent.
    const offline = await createClient({ url: "http://127.0.0.1:9", identity: createIdentity(), store, fetch: false });
    const group = offline.group("note-offline");
    const doc = group.create();
    doc.append("written offline");
    group.close();
    await offline.close();
    stopHearing();
    expect(told).toEqual([`note-offline: ${doc.id}`]);
  });
});
