// End to end: the relay is killed with SIGKILL while a client is streaming writes. Every transaction the
// relay acknowledged before it died must be there after it restarts on the same storage, in order.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { countOf } from "../../protocol/index.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";

describe("relay killed mid-stream", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-crash-"));
  let relay: RelayProcess | undefined;

  afterAll(async () => {
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("loses no acknowledged transaction", async () => {
    relay = await startRelay({ persistTo });
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = writer.group("crash").create({ kind: "json" });
    await doc.loaded();

    // Keep appending; kill the relay the moment it has acknowledged at least 2,000.
    let acked = 0;
    let appended = 0;
    const killed = new Promise<void>((resolve) => {
      const pump = () => {
        acked = countOf(doc.relayKnown, writer.session);
        if (acked >= 2_000) return resolve();
        for (let i = 0; i < 200; i++) doc.append(`tx-${appended++}`);
        setTimeout(pump, 1);
      };
      pump();
    });
    await killed;
    const port = relay.port;
    await relay.kill();
    writer.close();

    relay = await startRelay({ persistTo, port });
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const reloaded = await reader.group("crash").open(doc.id);
    const stored = reloaded.sessionTransactions(writer.session).map((t) => t.data);
    expect(stored.length).toBeGreaterThanOrEqual(acked);
    expect(stored).toEqual(Array.from({ length: stored.length }, (_, i) => `tx-${i}`));
    reader.close();
  });
});
