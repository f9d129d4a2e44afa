// A relay redeployed at another protocol version (ahead of the app's bundle) refuses the SDK's hello with
// `unsupported_version`. The group does not close: it stays usable as offline, saving writes to the local
// store, tells the app once, and pushes everything, once each, when a relay of its version serves the URL
// again (the real relay, weft/dev's startRelay, on the refusing relay's port).
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../../client/index.ts";
import { PROTOCOL_VERSION } from "../../../protocol/index.ts";
import { until } from "../../support/wait.ts";
import { startVersionRefusingRelay, versionRefusalScene } from "../../support/version-refusing-relay.ts";

describe("a relay of another protocol version", () => {
  const scene = versionRefusalScene("weft-version-refused-");
  afterAll(() => scene.cleanup());

  it("leaves the group writing to the local store, tells the app once, and pushes every write once a relay of this version answers", { timeout: 90_000 }, async () => {
    const refusing = await scene.refuse();
    const identity = createIdentity();
    const client = await scene.client(identity);
    const group = client.group("notes");
    const errors: Error[] = [];
    group.onError((error) => errors.push(error));
    const first = group.create({ kind: "text" });
    first.append("before the refusal");
    await until(() => group.connection.versionRefusal !== undefined, 10_000);
    expect(group.status).toBe("offline");
    // Asked again (a retry button calls reconnectNow): refused again, in the same run.
    group.reconnectNow();
    await until(() => refusing.refusals === 2 && group.status === "offline", 10_000);

    first.append("after the refusal");
    const second = group.create({ kind: "text" });
    second.append("created after the refusal");
    await until(() => group.allSaved(), 10_000);
    expect(errors.map(String)).toEqual([`RelayError: unsupported_version: ${refusing.message}`]);
    expect(group.connection.versionRefusal).toBe(`unsupported_version: ${refusing.message}`);
    expect(group.connection.closeReason).toBeUndefined();

    // Saved: another client on the same folder, refused as well, opens both offline.
    const again = await scene.client(identity);
    const savedFirst = await again.group("notes").open(first.id, { signal: AbortSignal.timeout(10_000) });
    const savedSecond = await again.group("notes").open(second.id, { signal: AbortSignal.timeout(10_000) });
    expect(savedFirst.transactions().map((transaction) => transaction.data)).toEqual(["before the refusal", "after the refusal"]);
    expect(savedSecond.transactions().map((transaction) => transaction.data)).toEqual(["created after the refusal"]);
    await again.close();

    // A relay of this version serves the URL again.
    await scene.comeBack();
    group.reconnectNow();
    await group.synced({ signal: AbortSignal.timeout(30_000) });
    expect(group.connection.versionRefusal).toBeUndefined();
    const reader = await scene.reader();
    const read = async (id: typeof first.id) => (await reader.group("notes").open(id)).transactions().map((transaction) => transaction.data);
    expect(await read(first.id)).toEqual(["before the refusal", "after the refusal"]);
    expect(await read(second.id)).toEqual(["created after the refusal"]);
    expect(errors).toHaveLength(1);
  });
});

describe("a relay of an older protocol version (a rollback)", () => {
  it("is met as one that refuses this SDK's version, from its challenge: nothing is sent that it cannot read, and the app is told once", { timeout: 30_000 }, async () => {
    const old = await startVersionRefusingRelay(PROTOCOL_VERSION - 1);
    const client = await createClient({ url: old.url, identity: createIdentity() });
    try {
      const group = client.group("notes");
      const errors: Error[] = [];
      group.onError((error) => errors.push(error));
      group.create({ kind: "text" }).append("kept");
      await until(() => group.connection.versionRefusal !== undefined, 10_000);
      expect(group.connection.versionRefusal).toBe(`unsupported_version: this relay speaks protocol v${PROTOCOL_VERSION - 1}, not v${PROTOCOL_VERSION}`);
      group.reconnectNow();
      await until(() => old.challenges === 2 && group.status === "offline", 10_000);
      expect(old.refusals).toBe(0);
      expect(errors.map(String)).toEqual([`RelayError: ${group.connection.versionRefusal}`]);
    } finally {
      await client.close();
      await old.stop();
    }
  });
});
