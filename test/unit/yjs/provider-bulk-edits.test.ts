// A program editing a bound Y.Doc in bulk (an import: one insert per paragraph, thousands in one tick, no
// ydoc.transact around them): the edits arrive whole at another editor, deletions among them too, and what
// the client sends holds only its own edits even when the relay's content is applied in the middle of the
// bulk. Against the real relay (weft/dev's startRelay). Before, such a tick blocked for minutes: Yjs
// encoding an update per insert for the provider's listener, then Y.mergeUpdates of all of them, both
// quadratic; these tests do not time it (see yjs/local-updates.ts for the numbers).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createClient, createIdentity, type Client } from "../../../client/index.ts";
import type { Group } from "../../../client/group.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { WeftProvider, dataToPayload, decodeUpdatePayload } from "../../../yjs/index.ts";
import { BULK_UPDATES } from "../../../yjs/local-updates.ts";
import { until } from "../../support/wait.ts";

const GROUP = "imports";

describe("a bound Y.Doc edited in bulk", () => {
  let relay: LocalRelay;
  const clients: Client[] = [];
  const providers: WeftProvider[] = [];
  beforeAll(async () => {
    relay = await startRelay();
  }, 60_000);
  afterAll(async () => {
    for (const provider of providers) provider.destroy();
    for (const client of clients) await client.close();
    await relay?.stop();
  });

  async function groupOfNewClient(): Promise<Group> {
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    clients.push(client);
    return client.group(GROUP);
  }

  function bind(group: Group, docId: WeftProvider["docId"]): { ydoc: Y.Doc; text: Y.Text; provider: WeftProvider } {
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(group, docId, ydoc, { snapshots: false });
    providers.push(provider);
    return { ydoc, text: ydoc.getText("body"), provider };
  }

  it("sends 20,000 inserts and deletions made in one tick whole", { timeout: 120_000 }, async () => {
    const [groupA, groupB] = [await groupOfNewClient(), await groupOfNewClient()];
    const created = groupA.create({ kind: "yjs" });
    await created.synced();
    const [a, b] = [bind(groupA, created.id), bind(groupB, created.id)];
    await Promise.all([a.provider.loaded, b.provider.loaded]);

    for (let paragraph = 0; paragraph < 20_000; paragraph++) a.text.insert(a.text.length, `paragraph ${paragraph}\n`);
    // Deletions in the same tick, long after the provider stopped hearing each update.
    a.text.delete(0, "paragraph 0\n".length);
    a.text.delete(a.text.length - "paragraph 19999\n".length, "paragraph 19999\n".length);
    const imported = a.text.toString();
    expect(imported.startsWith("paragraph 1\n")).toBe(true);
    expect(imported.endsWith("paragraph 19998\n")).toBe(true);

    await a.provider.doc!.synced();
    await until(() => b.text.toString() === imported, 60_000);
  });

  it("sends none of the relay's content applied in the middle of a bulk of local edits", { timeout: 60_000 }, async () => {
    const [groupA, groupB] = [await groupOfNewClient(), await groupOfNewClient()];
    const created = groupB.create({ kind: "yjs" });
    const b = bind(groupB, created.id);
    await b.provider.loaded;
    b.text.insert(0, "written before; ");
    await b.provider.doc!.synced();

    // Bound and edited in bulk before the document opened: opening applies b's edits amid a's bulk.
    const a = bind(groupA, created.id);
    for (let paragraph = 0; paragraph < 2 * BULK_UPDATES; paragraph++) a.text.insert(a.text.length, `line ${paragraph}\n`);
    await a.provider.loaded;
    await a.provider.doc!.synced();
    await until(() => b.text.toString() === a.text.toString(), 30_000);
    expect(a.text.toString()).toContain("written before; ");

    const sent = a.provider.doc!.transactions().filter((transaction) => transaction.session === groupA.session);
    const writers = new Set<number>();
    for (const transaction of sent) {
      const decoded = decodeUpdatePayload(dataToPayload(transaction.data)!);
      if (decoded.kind !== "whole") throw new Error(`expected whole updates, got ${decoded.kind}`);
      for (const struct of Y.decodeUpdate(decoded.update).structs) writers.add(struct.id.client);
    }
    expect([...writers]).toEqual([a.ydoc.clientID]);
  });
});
