// A relay restarted under a client with many groups: once one group is welcomed again, its siblings stop
// waiting out their own backoff and connect at once. Each backing off alone, 300 groups made 800 attempts
// in the first second and the last came back 30 s after the relay did.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Group, type Status } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { until } from "../support/wait.ts";

describe("a relay restart under a client of many groups", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-siblings-"));
  let relay: LocalRelay | undefined;
  let client: Client | undefined;
  afterAll(async () => {
    await client?.close();
    await relay?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("brings every sibling back as soon as one group is welcomed, none left waiting on its backoff", async () => {
    relay = await startRelay({ persistTo });
    const port = Number(new URL(relay.url).port);
    // A backoff so long that a group left to it alone would not be back within the test's waits.
    client = await createClient({ url: relay.url, identity: createIdentity(), backoff: { baseMs: 60_000, capMs: 60_000 }, random: () => 0.99 });
    const groups: Group[] = Array.from({ length: 6 }, (_, index) => client!.group(`sibling-${index}`));
    for (const group of groups) group.create().append(group.id);
    await Promise.all(groups.map((group) => group.synced()));
    await until(() => groups.every((group) => group.status === "live"), 10_000);

    await relay.stop();
    await until(() => groups.every((group) => group.status === "offline"), 10_000);
    relay = await startRelay({ persistTo, port });

    // The app brings one group back (the one on screen, say); what the others are doing at the moment
    // the relay welcomes it is what counts.
    const [first, ...siblings] = groups as [Group, ...Group[]];
    let siblingsAtWelcome: Status[] | undefined;
    first.onStatus((status) => {
      if (status === "syncing" && !siblingsAtWelcome) siblingsAtWelcome = siblings.map((sibling) => sibling.status);
    });
    first.reconnectNow();
    await until(() => siblingsAtWelcome !== undefined, 10_000);
    expect(siblingsAtWelcome!.filter((status) => status === "offline")).toEqual([]);
    await until(() => groups.every((group) => group.status === "live"), 10_000);
  });
});
