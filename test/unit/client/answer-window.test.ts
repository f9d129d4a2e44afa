// The SDK echoes each mark of the relay's long answers as it reads it (protocol v4), so an answer of several
// windows (ANSWER_WINDOW_BYTES) goes on to its end: a document opened alone, and the whole group opened, from
// the real relay (weft/dev's startRelay).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../../client/index.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { ANSWER_WINDOW_BYTES } from "../../../protocol/index.ts";

/** Transactions of about 1 KB, no two alike (compression does not shrink what the window counts). */
const TRANSACTIONS = 4_000;
const dataOf = (i: number) => `${i}:${"abcdefghijklmnopqrstuvwxyz".repeat(40)}`;

describe("an answer several windows long", () => {
  let relay: LocalRelay;
  beforeAll(async () => {
    relay = await startRelay();
  }, 60_000);
  afterAll(() => relay?.stop());

  it("reaches the SDK whole: open of the document, then openAll of the group", { timeout: 60_000 }, async () => {
    expect(TRANSACTIONS * dataOf(0).length).toBeGreaterThan(3 * ANSWER_WINDOW_BYTES);
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = writer.group("long").create({ kind: "text" });
    for (let i = 0; i < TRANSACTIONS; i++) doc.append(dataOf(i));
    await doc.synced();
    writer.close();

    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const opened = await reader.group("long").open(doc.id);
    expect(opened.transactions().map((tx) => tx.data)).toEqual(Array.from({ length: TRANSACTIONS }, (_, i) => dataOf(i)));
    reader.close();

    const another = await createClient({ url: relay.url, identity: createIdentity() });
    const [all] = await another.group("long").openAll();
    expect(all?.transactions()).toHaveLength(TRANSACTIONS);
    another.close();
  });
});
