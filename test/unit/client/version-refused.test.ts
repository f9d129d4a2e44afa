// A relay redeployed at another protocol version (ahead of the app's bundle) refuses the SDK's hello with
// `unsupported_version`. The group does not close: it stays usable as offline, saving writes to the local
// store, tells the app once, and pushes everything, once each, when a relay of its version serves the URL
// again (the real relay, weft/dev's startRelay, on the refusing relay's port).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { until } from "../../support/wait.ts";
import { startVersionRefusingRelay, type VersionRefusingRelay } from "../../support/version-refusing-relay.ts";

describe("a relay of another protocol version", () => {
  const folder = mkdtempSync(join(tmpdir(), "weft-version-refused-"));
  const clients: Client[] = [];
  let refusing: VersionRefusingRelay | undefined;
  let relay: LocalRelay | undefined;
  afterAll(async () => {
    for (const client of clients) await client.close();
    await refusing?.stop();
    await relay?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it("leaves the group writing to the local store, tells the app once, and pushes every write once a relay of this version answers", { timeout: 90_000 }, async () => {
    refusing = await startVersionRefusingRelay();
    const identity = createIdentity();
    const client = await createClient({ url: refusing.url, identity, store: new FileLocalStore(folder, { fsync: false }) });
    clients.push(client);
    const group = client.group("notes");
    const errors: Error[] = [];
    group.onError((error) => errors.push(error));
    const first = group.create({ kind: "text" });
    first.append("before the refusal");
    await until(() => group.connection.versionRefusal !== undefined, 10_000);
    expect(group.status).toBe("offline");
    // Asked again (a retry button calls reconnectNow): refused again, in the same run.
    group.reconnectNow();
    await until(() => refusing!.refusals === 2 && group.status === "offline", 10_000);

    first.append("after the refusal");
    const second = group.create({ kind: "text" });
    second.append("created after the refusal");
    await until(() => group.allSaved(), 10_000);
    expect(errors.map(String)).toEqual([`RelayError: unsupported_version: ${refusing.message}`]);
    expect(group.connection.versionRefusal).toBe(`unsupported_version: ${refusing.message}`);
    expect(group.connection.closeReason).toBeUndefined();

    // Saved: another client on the same folder, refused as well, opens both offline.
    const again = await createClient({ url: refusing.url, identity, store: new FileLocalStore(folder, { fsync: false }) });
    const savedFirst = await again.group("notes").open(first.id, { signal: AbortSignal.timeout(10_000) });
    const savedSecond = await again.group("notes").open(second.id, { signal: AbortSignal.timeout(10_000) });
    expect(savedFirst.transactions().map((transaction) => transaction.data)).toEqual(["before the refusal", "after the refusal"]);
    expect(savedSecond.transactions().map((transaction) => transaction.data)).toEqual(["created after the refusal"]);
    await again.close();

    // A relay of this version serves the URL again.
    await refusing.stop();
    relay = await startRelay({ port: refusing.port });
    refusing = undefined;
    group.reconnectNow();
    await group.synced({ signal: AbortSignal.timeout(30_000) });
    expect(group.connection.versionRefusal).toBeUndefined();
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    clients.push(reader);
    const read = async (id: typeof first.id) => (await reader.group("notes").open(id)).transactions().map((transaction) => transaction.data);
    expect(await read(first.id)).toEqual(["before the refusal", "after the refusal"]);
    expect(await read(second.id)).toEqual(["created after the refusal"]);
    expect(errors).toHaveLength(1);
  });
});
