// Bytes the SDK hands an app (a Uint8Array cannot be frozen) are the app's own copy: changing them in place,
// as an app decoding in place would, changes nothing the SDK holds, saves or sends, nor what others read.
import { describe, expect, it } from "vitest";
import type { DocTransaction } from "../../../client/core/doc-state.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { GROUP, harnessPerTest, settle } from "./group-harness.ts";

const setup = harnessPerTest();
const bytesOf = (transactions: readonly DocTransaction[]) => transactions.map((transaction) => [...(transaction.data as Uint8Array)]);

describe("bytes handed to the app", () => {
  it("changed in transactions(), in append()'s result and in a change's added: the writes go out as written, and read back so", async () => {
    const { client } = setup();
    const store = new MemoryLocalStore();
    const writer = await client({ store });
    const doc = writer.group(GROUP).create({ kind: "bin" });
    const heard: DocTransaction[] = [];
    doc.subscribe((change) => heard.push(...change.added));
    const first = doc.append(new Uint8Array([1, 2, 3]));
    (first.data as Uint8Array)[0] = 0;
    doc.append(new Uint8Array([4, 5, 6]));
    (doc.transactions().at(-1)!.data as Uint8Array)[0] = 0;
    await settle();
    for (const transaction of heard) (transaction.data as Uint8Array).fill(9);
    doc.append(new Uint8Array([7]));
    await doc.synced(); // no bad_signature: the relay got what was signed

    // The app's copies, as the app left them: one per transaction, shared by every list that hands it out.
    expect(bytesOf(doc.transactions())).toEqual([[9, 9, 9], [9, 9, 9], [7]]);
    const reader = await client();
    const read = await reader.group(GROUP).open(doc.id);
    await read.synced();
    expect(bytesOf(read.transactions())).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    // What was saved is what was written: a client started again on the store reads it back.
    await writer.close();
    const again = await client({ store, identity: writer.identity });
    expect(bytesOf((await again.group(GROUP).open(doc.id)).transactions())).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it("are one copy per transaction: transactions() hands out the same array each time until the document changes", async () => {
    const { client } = setup();
    const doc = (await client()).group(GROUP).create({ kind: "bin" });
    doc.append(new Uint8Array([1]));
    expect(doc.transactions()[0]!.data).toBe(doc.transactions()[0]!.data);
    expect(Object.isFrozen(doc.transactions()[0])).toBe(true);
  });

  it("a held snapshot is frozen, its covers too, and its bytes are the app's copy", async () => {
    const { client } = setup();
    const writer = await client();
    const doc = writer.group(GROUP).create({ kind: "bin" });
    doc.append(new Uint8Array([1]));
    await doc.synced();
    await doc.snapshot(new Uint8Array([1, 1]));
    const reader = await client();
    const read = await reader.group(GROUP).open(doc.id);
    await read.synced();
    const held = read.heldSnapshot!;
    expect(held).toBe(read.heldSnapshot);
    expect(Object.isFrozen(held) && Object.isFrozen(held.covers)).toBe(true);
    (held.data as Uint8Array).fill(0);
    expect([...(reader.group(GROUP).docs[0]!.heldSnapshot!.data as Uint8Array)]).toEqual([0, 0]); // the app's copy, changed by the app
    const fresh = await client();
    const again = await fresh.group(GROUP).open(doc.id);
    await again.synced();
    expect([...(again.heldSnapshot!.data as Uint8Array)]).toEqual([1, 1]);
  });
});
