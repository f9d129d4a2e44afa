// Bytes between two clients through the real relay (workerd via weft/dev's startRelay): appended as a
// Uint8Array, stored as a BLOB, served back live and on load as exactly those bytes; kept exactly in a
// FileLocalStore across a restart of the writer, offline.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay } from "../../dev/start-relay.ts";
import { comparableAll } from "../support/bytes.ts";
import { until } from "../support/wait.ts";

describe("bytes through the relay", () => {
  const folder = mkdtempSync(join(tmpdir(), "weft-binary-e2e-"));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it("round-trip exactly between two clients, live and on load, and survive the writer's restart from its file store", { timeout: 60_000 }, async () => {
    const relay = await startRelay();
    try {
      const identity = createIdentity();
      const alice = await createClient({ url: relay.url, identity, store: new FileLocalStore(join(folder, "alice")) });
      const bob = await createClient({ url: relay.url, identity: createIdentity() });
      const update = Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff);
      const large = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31 + 1) & 0xff);
      const doc = alice.group("team").create({ kind: "yjs" });
      doc.append(update);
      doc.append("text stays text");
      await doc.synced();

      const bobs = await bob.group("team").open(doc.id);
      expect(comparableAll(bobs.transactions().map((tx) => tx.data))).toEqual(comparableAll([update, "text stays text"]));
      doc.append(large); // live, while Bob is subscribed
      doc.append(new Uint8Array(0));
      await doc.synced();
      await until(() => bobs.transactions().length === 4, 15_000);
      const received = bobs.transactions().map((tx) => tx.data);
      expect(comparableAll(received)).toEqual(comparableAll([update, "text stays text", large, new Uint8Array(0)]));
      expect(received.map((data) => (typeof data === "string" ? "string" : data.constructor.name))).toEqual(["Uint8Array", "string", "Uint8Array", "Uint8Array"]);

      // Bob writes bytes back; Alice hears them.
      const reply = bobs.append(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
      await bobs.synced();
      await until(() => doc.transactions().length === 5, 15_000);
      expect(doc.transactions().find((tx) => tx.session === reply.session)?.data).toEqual(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
      await alice.close();
      bob.close();

      // Alice again, offline: her file store holds every transaction, bytes as bytes.
      const again = await createClient({ url: "http://127.0.0.1:9", identity, store: new FileLocalStore(join(folder, "alice")), fetch: false });
      const reopened = await again.group("team").open(doc.id);
      expect(comparableAll(reopened.transactions().map((tx) => tx.data))).toEqual(comparableAll([update, "text stays text", large, new Uint8Array(0), Uint8Array.of(0xde, 0xad, 0xbe, 0xef)]));
      again.close();
    } finally {
      await relay.stop();
    }
  });
});
