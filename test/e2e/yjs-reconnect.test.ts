// A Yjs editor that comes back after being away, against the real relay in workerd (weft/dev's startRelay):
// its provider says synced again only once what the others wrote meanwhile is in its Y.Doc, so an app that
// acts at `sync` (fills an empty document with a template, enables editing) acts on the relay's content.
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createClient, createIdentity, type Group } from "../../client/index.ts";
import { startRelay } from "../../dev/start-relay.ts";
import type { DocId } from "../../protocol/index.ts";
import { WeftProvider } from "../../yjs/index.ts";
import { untilEvent } from "../support/wait.ts";

const GROUP = "notes";
const DOCS = 5;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function member(url: string): Promise<Group> {
  const client = await createClient({ url, identity: createIdentity() });
  cleanups.push(() => client.close());
  return client.group(GROUP);
}

function provider(group: Group, id: DocId): WeftProvider {
  const made = new WeftProvider(group, id, new Y.Doc());
  cleanups.push(() => made.destroy());
  return made;
}

describe("a Yjs provider back from being away", () => {
  it("says synced again only once every document's edits made meanwhile are in its Y.Doc", { timeout: 60_000 }, async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    const [alice, bob] = [await member(relay.url), await member(relay.url)];
    const ids: DocId[] = [];
    for (let i = 0; i < DOCS; i++) {
      const created = bob.create({ kind: "yjs" });
      await created.synced();
      ids.push(created.id);
    }
    const alices = ids.map((id) => provider(alice, id));
    const bobs = ids.map((id) => provider(bob, id));
    await Promise.all([...alices, ...bobs].map((made) => untilEvent(made, "sync", () => made.synced)));

    alice.disconnect();
    await untilEvent(alices[0]!, "sync", () => !alices[0]!.synced);
    for (const [i, made] of bobs.entries()) made.ydoc.getText("body").insert(0, `written while alice was away ${i}`);
    await Promise.all(bobs.map((made) => made.doc!.synced()));

    // What each of alice's Y.Docs holds at the first `sync` it says after she is back.
    const atSync = alices.map((made) => new Promise<string>((resolve) => made.on("sync", (synced) => synced && resolve(made.ydoc.getText("body").toString()))));
    alice.connect();
    expect(await Promise.all(atSync)).toEqual(ids.map((_, i) => `written while alice was away ${i}`));
  });
});
