// End to end, issue 9 item 2: against the real relay (`wrangler dev`), each bad call throws locally and
// nothing reaches the relay; writes an older SDK left in a persistent store are refused (by the SDK at
// start when it can tell, else by the relay), surfaced once, and the other documents keep syncing.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArgumentError, LocalRefusalError, createClient, createIdentity, type Client, type RefusedWrites } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { MAX_TRANSACTION_BYTES, type DocId } from "../../protocol/index.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";

describe("refusals against the real relay", () => {
  const scratch = mkdtempSync(join(tmpdir(), "weft-refusals-"));
  let relay: RelayProcess | undefined;
  const clients: Client[] = [];

  afterAll(async () => {
    for (const client of clients) client.close();
    await relay?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("bad calls throw locally; stored writes the relay refuses surface once; the rest syncs", async () => {
    relay = await startRelay({ persistTo: join(scratch, "relay") });
    const admin = await createClient({ url: relay.url, identity: createIdentity() });
    clients.push(admin);
    const adminGroup = admin.group("refusals");
    await adminGroup.createMembers().synced();
    const writerIdentity = createIdentity();
    await adminGroup.setRole(writerIdentity.agent, "writer");

    // The writer's first run: three documents, synced, in a file store.
    const storeDir = join(scratch, "writer");
    const firstRun = await createClient({ url: relay.url, identity: writerIdentity, store: new FileLocalStore(storeDir) });
    const group = firstRun.group("refusals");
    const doomed = group.create();
    const kept = group.create();
    const damaged = group.create();
    for (const doc of [doomed, kept, damaged]) doc.append("first");
    await group.synced();

    // Each bad call throws where it is made; none of them reaches the relay.
    const append = kept.append.bind(kept) as (data: unknown) => void;
    for (const bad of [{ op: "add" }, undefined, "x".repeat(MAX_TRANSACTION_BYTES + 1)]) expect(() => append(bad)).toThrow(LocalRefusalError);
    expect(() => group.create({ kind: "k".repeat(65) })).toThrow(LocalRefusalError);
    expect(() => group.create({ readers: Array.from({ length: 65 }, () => createIdentity().agent) })).toThrow(LocalRefusalError);
    expect(() => group.open("todo-1" as DocId)).toThrow(LocalRefusalError);
    expect(() => createClient({ url: "127.0.0.1:8787", identity: writerIdentity })).toThrow(ArgumentError);
    await group.synced();
    const session = firstRun.session;
    await firstRun.close();

    // What an older SDK could have left behind: an unsent write to a document the admin then deleted,
    // and a non-string value it let through.
    const store = new FileLocalStore(storeDir);
    await store.save("refusals", doomed.id, { appends: [{ session, after: 1, transactions: [{ at: Date.now(), data: "written before the delete" }] }] });
    await store.save("refusals", damaged.id, { appends: [{ session, after: 1, transactions: [{ at: Date.now(), data: { op: "add" } as unknown as string }] }] });
    await store.close();
    await adminGroup.delete(doomed.id);

    const secondRun = await createClient({ url: relay.url, identity: writerIdentity, store: new FileLocalStore(storeDir) });
    clients.push(secondRun);
    const again = secondRun.group("refusals");
    const refusals: RefusedWrites[] = [];
    again.onRefused((refused) => refusals.push(refused));
    const reopened = await again.open(kept.id);
    reopened.append("second");
    await reopened.synced();
    await expect(again.synced()).rejects.toMatchObject({ code: "bad_frame" });

    // Each refusal surfaced once, with what was refused; the relay holds nothing of either.
    const byDoc = new Map(refusals.map((refused) => [refused.doc.id, refused]));
    expect(refusals).toHaveLength(2);
    expect(byDoc.get(doomed.id)?.error).toMatchObject({ code: "doc_deleted" });
    // After a restart the SDK knows from the store what the relay had acknowledged of a document deleted
    // since: the refusal lists only the write it never stored.
    expect(byDoc.get(doomed.id)?.transactions.map((transaction) => transaction.data)).toEqual(["written before the delete"]);
    expect(byDoc.get(damaged.id)?.error).toMatchObject({ code: "bad_frame" });
    await again.discardRefused(byDoc.get(damaged.id)!.doc);
    await again.synced();

    // A fresh reader sees the kept document's new write, and the damaged one without the bad value.
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    clients.push(reader);
    await adminGroup.setRole(reader.identity.agent, "reader");
    const readerGroup = reader.group("refusals");
    expect((await readerGroup.open(kept.id)).transactions().map((transaction) => transaction.data)).toEqual(["first", "second"]);
    expect((await readerGroup.open(damaged.id)).transactions().map((transaction) => transaction.data)).toEqual(["first"]);
    await expect(readerGroup.open(doomed.id)).rejects.toMatchObject({ code: "doc_deleted" });
  });
});
