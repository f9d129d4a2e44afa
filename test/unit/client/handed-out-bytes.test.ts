// Bytes the SDK hands an app (a Uint8Array cannot be frozen) are a copy: changing them in place, as an app
// decoding in place would, changes nothing the SDK holds, saves or sends, nor what others read; nor do
// changes to what else it hands out (a session's log, a header). Text transactions, which can be frozen, are.
import { describe, expect, it } from "vitest";
import type { DocTransaction } from "../../../client/core/doc-state.ts";
import type { Transaction } from "../../../protocol/index.ts";
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

    const reader = await client();
    const read = await reader.group(GROUP).open(doc.id);
    await read.synced();
    expect(bytesOf(read.transactions())).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    // What was saved is what was written: a client started again on the store reads it back.
    await writer.close();
    const again = await client({ store, identity: writer.identity });
    expect(bytesOf((await again.group(GROUP).open(doc.id)).transactions())).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it("text transactions are frozen where the app gets them: assigning to one throws, and the write stays as written", async () => {
    const { client } = setup();
    const doc = (await client()).group(GROUP).create({ kind: "json" });
    const heard: DocTransaction[] = [];
    doc.subscribe((change) => heard.push(...change.added));
    const appended = doc.append("as written");
    await settle();
    for (const handed of [appended, doc.transactions()[0]!, heard[0]!]) {
      expect(Object.isFrozen(handed)).toBe(true);
      expect(() => Object.assign(handed, { data: "changed" })).toThrow(TypeError);
    }
    await doc.synced();
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["as written"]);
  });

  it("are one copy while the app keeps it: transactions() hands out the same array each time until the document changes", async () => {
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
    const fresh = await client();
    const again = await fresh.group(GROUP).open(doc.id);
    await again.synced();
    expect([...(again.heldSnapshot!.data as Uint8Array)]).toEqual([1, 1]);
  });
});

describe("what else a document hands the app", () => {
  it("a session's log is frozen, its bytes a copy: changing them leaves the write as written", async () => {
    const { client } = setup();
    const writer = await client();
    const doc = writer.group(GROUP).create({ kind: "bin" });
    doc.append(new Uint8Array([1, 2, 3]));
    const log = doc.sessionTransactions(writer.session);
    (log[0]!.data as Uint8Array)[0] = 99;
    expect(() => (log as Transaction[]).push({ at: 1, data: "x" })).toThrow(TypeError);
    expect(() => Object.assign(log[0]!, { at: 0 })).toThrow(TypeError);
    await doc.synced(); // not bad_signature
    const read = await (await client()).group(GROUP).open(doc.id);
    await read.synced();
    expect(bytesOf(read.transactions())).toEqual([[1, 2, 3]]);
  });

  it("a header is deep-frozen: renaming a document through it throws, and the document is not lost", async () => {
    const { client } = setup();
    const writer = await client();
    const doc = writer.group(GROUP).create({ meta: { title: "t" }, readers: [] });
    expect(() => Object.assign(doc.header!.meta, { title: "CHANGED" })).toThrow(TypeError);
    expect(() => (doc.header!.readers as string[]).push("ag_x")).toThrow(TypeError);
    await doc.synced(); // not bad_header
    expect(doc.header!.meta).toEqual({ title: "t" });
    expect(doc.header).toBe(doc.header);
  });

  it("relayKnown and lastSnapshotted are frozen copies, the same object until they change; sessionTransactions() the same array until the log does", async () => {
    const { client } = setup();
    const writer = await client();
    const doc = writer.group(GROUP).create();
    doc.append("one");
    await doc.synced();
    await doc.snapshot("state");
    expect(() => (doc.relayKnown.sessions[writer.session] = 0)).toThrow(TypeError);
    expect(() => (doc.lastSnapshotted!.covers[writer.session] = 0)).toThrow(TypeError);
    // Stable while nothing changes, as a React useSyncExternalStore snapshot must be.
    const [known, snapshotted, log] = [doc.relayKnown, doc.lastSnapshotted, doc.sessionTransactions(writer.session)];
    expect([doc.relayKnown, doc.lastSnapshotted, doc.sessionTransactions(writer.session)]).toEqual([known, snapshotted, log]);
    expect(doc.relayKnown).toBe(known);
    expect(doc.sessionTransactions(writer.session)).toBe(log);
    doc.append("two");
    await doc.synced();
    expect(doc.relayKnown).not.toBe(known);
    expect(doc.relayKnown.sessions[writer.session]).toBe(2);
    expect(doc.sessionTransactions(writer.session)).not.toBe(log);
    const read = await (await client()).group(GROUP).open(doc.id);
    await read.synced();
    expect(read.known.sessions[writer.session]).toBe(2);
  });
});
