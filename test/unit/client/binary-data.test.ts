// Data of bytes in the SDK: doc.append(Uint8Array) reaches another client as a Uint8Array of exactly those
// bytes (text stays text), travels in binary frames, and what the relay would refuse is refused at once.
import { describe, expect, it } from "vitest";
import { MAX_TRANSACTION_BYTES } from "../../../protocol/index.ts";
import { LocalRefusalError } from "../../../client/index.ts";
import { comparableAll } from "../../support/bytes.ts";
import { harnessPerTest, settle } from "./group-harness.ts";

const setup = harnessPerTest();

describe("appending bytes", () => {
  it("bytes appended by one client arrive at another as exactly those bytes, text as text, in order", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const bob = await client({ name: "bob" });
    const doc = alice.group("g1").create();
    const large = Uint8Array.from({ length: 150_000 }, (_, i) => (i * 17) & 0xff);
    const appended = [Uint8Array.of(0, 1, 2, 0xff), "text", new Uint8Array(0), large];
    for (const data of appended) doc.append(data);
    await doc.synced();

    const seen = await bob.group("g1").open(doc.id);
    const data = seen.transactions().map((transaction) => transaction.data);
    expect(comparableAll(data)).toEqual(comparableAll(appended));
    expect(data.map((value) => (typeof value === "string" ? "string" : value.constructor.name))).toEqual(["Uint8Array", "string", "Uint8Array", "Uint8Array"]);

    // Live, after the load: a subscriber hears bytes as bytes.
    const heard: unknown[] = [];
    seen.subscribe(({ added }) => heard.push(...added.map((transaction) => transaction.data)));
    doc.append(Uint8Array.of(42));
    await doc.synced();
    await settle();
    expect(heard).toContainEqual(Uint8Array.of(42));
  });

  it("the bytes travel raw in binary frames, not as base64 text", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const doc = alice.group("g1").create();
    await doc.synced();
    doc.append(new Uint8Array(60_000).fill(0x41));
    await doc.synced();
    // As base64 in a text frame the same bytes would take 80,000 characters.
    const sizes = relay.lines.flatMap((line) => /-> relay \| binary frame of (\d+) bytes/.exec(line)?.[1] ?? []).map(Number);
    expect(sizes).toHaveLength(1);
    expect(sizes[0]).toBeGreaterThan(60_000);
    expect(sizes[0]).toBeLessThan(61_000);
  });

  it("stores a copy: changing the array after append changes nothing that was appended", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const doc = alice.group("g1").create();
    const bytes = Uint8Array.of(1, 2, 3);
    const added = doc.append(bytes);
    bytes[0] = 9;
    expect(added.data).toEqual(Uint8Array.of(1, 2, 3));
    await doc.synced(); // the relay acked the chain over the bytes as appended
    expect(doc.transactions()[0]!.data).toEqual(Uint8Array.of(1, 2, 3));
  });

  it("refuses oversize bytes and data that is neither text nor a Uint8Array synchronously, and the document goes on", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const doc = alice.group("g1").create();
    let refusal: unknown;
    try {
      doc.append(new Uint8Array(MAX_TRANSACTION_BYTES + 1));
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(LocalRefusalError);
    expect(refusal).toMatchObject({ code: "transaction_too_large" });
    expect(() => doc.append(new ArrayBuffer(4) as never)).toThrow(/string or a Uint8Array, not ArrayBuffer/);
    expect(() => doc.append([1, 2] as never)).toThrow(/string or a Uint8Array, not Array/);
    expect(doc.transactions()).toEqual([]);
    doc.append(new Uint8Array(MAX_TRANSACTION_BYTES)); // exactly at the limit
    await doc.synced();
    expect(doc.transactions().map((transaction) => (transaction.data as Uint8Array).byteLength)).toEqual([MAX_TRANSACTION_BYTES]);
  });
});
