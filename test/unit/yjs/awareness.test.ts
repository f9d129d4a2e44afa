// y-protocols awareness over doc.presence, through the relay core in this process: cursor plugins read
// `awareness.getStates()` and listen to its events, so those are what these tests look at.
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { Awareness } from "y-protocols/awareness";
import type { Group } from "../../../client/group.ts";
import { WeftProvider } from "../../../yjs/index.ts";
import { PRESENCE_MAX_DOCS_PER_PEER } from "../../../protocol/limits.ts";
import { untilEvent } from "../../support/wait.ts";
import { GROUP, harnessPerTest, settle, statusOf } from "../client/group-harness.ts";

const setup = harnessPerTest();

async function twoEditors() {
  const h = setup();
  const [alice, bob] = [await h.client({ name: "alice" }), await h.client({ name: "bob" })];
  const [groupA, groupB] = [alice.group(GROUP), bob.group(GROUP)];
  const created = groupA.create({ kind: "yjs" });
  await created.synced();
  const editor = (group: Group, name: string) => {
    const ydoc = new Y.Doc();
    const awareness = new Awareness(ydoc);
    awareness.setLocalStateField("user", { name });
    const provider = new WeftProvider(group, created.id, ydoc, { awareness });
    return { ydoc, awareness, provider };
  };
  const [a, b] = [editor(groupA, "alice"), editor(groupB, "bob")];
  await Promise.all([a.provider.loaded, b.provider.loaded]);
  return { ...h, groupA, groupB, a, b };
}

const names = (awareness: Awareness) => [...awareness.getStates().values()].map((state) => (state.user as { name: string } | undefined)?.name).sort();

describe("awareness over presence", () => {
  it("sends a keystroke and the cursor it moved in one frame, and each reader gets them in one frame", async () => {
    const { relay, a, b } = await twoEditors();
    await untilEvent(b.awareness, "change", () => names(b.awareness).includes("alice"));
    await untilEvent(a.awareness, "change", () => names(a.awareness).includes("bob"));
    await settle();
    relay.frames.length = 0;
    // What an editor does at each keystroke: the text changes, then the cursor moves past it.
    a.ydoc.getText("body").insert(0, "x");
    a.awareness.setLocalStateField("cursor", { anchor: 1, head: 1 });
    await untilEvent(b.ydoc, "update", () => b.ydoc.getText("body").toString() === "x");
    await untilEvent(b.awareness, "change", () => b.awareness.getStates().get(a.ydoc.clientID)?.cursor !== undefined);
    const sent = relay.frames.filter((frame) => frame.to === "relay" && frame.types.some((type) => type === "content" || type === "presence"));
    expect(sent.map((frame) => frame.types)).toEqual([["content", "presence"]]);
    const received = relay.frames.filter((frame) => frame.from === "relay" && frame.to !== sent[0]!.from && frame.types.includes("content"));
    expect(received.map((frame) => frame.types)).toEqual([["content", "presence"]]);
  });

  it("keeps an editor's state its own: another member naming its client id takes nothing over, and leaving removes nothing of it", async () => {
    const { client, a, b } = await twoEditors();
    await untilEvent(b.awareness, "change", () => names(b.awareness).includes("alice"));
    const mallory = (await client({ name: "mallory" })).group(GROUP);
    const doc = await mallory.open(b.provider.docId);
    doc.presence.set({ awareness: { client: a.ydoc.clientID, clock: 2 ** 32 - 1, state: { user: { name: "mallory as alice" } } } });
    await settle(5);
    expect(b.awareness.getStates().get(a.ydoc.clientID)).toEqual({ user: { name: "alice" } });
    a.awareness.setLocalStateField("cursor", { anchor: 1, head: 1 });
    await untilEvent(b.awareness, "change", () => b.awareness.getStates().get(a.ydoc.clientID)?.cursor !== undefined);
    await mallory.close();
    await settle(5);
    expect(b.awareness.getStates().get(a.ydoc.clientID)).toEqual({ user: { name: "alice" }, cursor: { anchor: 1, head: 1 } });
  });

  it("an awareness nothing was put in shows no more than the provider's offer to take snapshots, where there is room: an app binds a provider to each of more documents than presence allows without an error, and one that sets a state shows it", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    const group = alice.group(GROUP);
    const docs = Array.from({ length: PRESENCE_MAX_DOCS_PER_PEER + 2 }, () => group.create({ kind: "yjs" }));
    await group.synced();
    const errors: Error[] = [];
    const providers = docs.map((doc) => new WeftProvider(group, doc.id, new Y.Doc()));
    for (const provider of providers) provider.on("error", (error) => errors.push(error));
    await Promise.all(providers.map((provider) => provider.loaded));
    await settle();
    expect(errors).toEqual([]);
    const shown = docs.map((doc) => doc.presence.state as { awareness?: { state: unknown }; snapshots?: boolean } | undefined);
    expect(shown.filter((state) => state !== undefined)).toHaveLength(PRESENCE_MAX_DOCS_PER_PEER);
    for (const state of shown) if (state) expect([state.snapshots, state.awareness?.state]).toEqual([true, {}]);
    const quiet = shown.findIndex((state) => state === undefined);
    for (const [i, provider] of providers.entries()) if (i !== quiet && shown[i]) provider.destroy();
    providers[quiet]!.awareness.setLocalStateField("user", { name: "alice" });
    expect(docs[quiet]!.presence.state).toMatchObject({ awareness: { state: { user: { name: "alice" } } } });
    expect(errors).toEqual([]);
  });

  it("shows each editor's awareness state to the other, and follows changes to it", async () => {
    const { a, b } = await twoEditors();
    await untilEvent(b.awareness, "change", () => names(b.awareness).includes("alice"));
    await untilEvent(a.awareness, "change", () => names(a.awareness).includes("bob"));
    expect(b.awareness.getStates().get(a.ydoc.clientID)).toEqual({ user: { name: "alice" } });
    a.awareness.setLocalStateField("cursor", { anchor: 3, head: 5 });
    await untilEvent(b.awareness, "change", () => b.awareness.getStates().get(a.ydoc.clientID)?.cursor !== undefined);
    expect(b.awareness.getStates().get(a.ydoc.clientID)).toEqual({ user: { name: "alice" }, cursor: { anchor: 3, head: 5 } });
  });

  it("carries a cursor as y-codemirror.next sets it, Y.RelativePosition instances, as JSON: the other editor reads it back", async () => {
    const { a, b } = await twoEditors();
    const errors: Error[] = [];
    a.provider.on("error", (error: Error) => errors.push(error));
    a.ydoc.getText("body").insert(0, "hello");
    const at = (index: number) => Y.createRelativePositionFromTypeIndex(a.ydoc.getText("body"), index);
    a.awareness.setLocalStateField("cursor", { anchor: at(1), head: at(3) });
    expect(errors).toEqual([]); // a refusal is told at once
    await untilEvent(b.awareness, "change", () => b.awareness.getStates().get(a.ydoc.clientID)?.cursor !== undefined);
    const cursor = b.awareness.getStates().get(a.ydoc.clientID)!.cursor as { anchor: unknown; head: unknown };
    await untilEvent(b.ydoc, "update", () => b.ydoc.getText("body").toString() === "hello");
    const index = (json: unknown) => Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), b.ydoc)?.index;
    expect([index(cursor.anchor), index(cursor.head)]).toEqual([1, 3]);
  });

  it("removes an editor's state from the others when it destroys its provider, or its connection drops", async () => {
    const { a, b, groupB } = await twoEditors();
    await untilEvent(a.awareness, "change", () => names(a.awareness).includes("bob"));
    let removed: number[] = [];
    a.awareness.on("change", ({ removed: gone }: { removed: number[] }) => (removed = [...removed, ...gone]));
    b.provider.destroy();
    await untilEvent(a.awareness, "change", () => !names(a.awareness).includes("bob"));
    expect(removed).toEqual([b.ydoc.clientID]);

    // A new provider for bob, then its socket drops: the relay clears its presence.
    const again = new WeftProvider(groupB, b.provider.docId, b.ydoc, { awareness: b.awareness });
    await again.loaded;
    await untilEvent(a.awareness, "change", () => names(a.awareness).includes("bob"));
    groupB.connection.drop();
    await untilEvent(a.awareness, "change", () => !names(a.awareness).includes("bob"));
    // ...and shows it again once bob is back, at the same clock as before.
    await statusOf(groupB, "live");
    await untilEvent(a.awareness, "change", () => names(a.awareness).includes("bob"));
  });

  it("reports a local state too large for presence as an error instead of throwing into the app, and stops showing the old one", async () => {
    const { a, b } = await twoEditors();
    await untilEvent(b.awareness, "change", () => names(b.awareness).includes("alice"));
    const errors: Error[] = [];
    a.provider.on("error", (error) => errors.push(error));
    a.awareness.setLocalStateField("notes", "x".repeat(100_000));
    expect(errors.map((error) => error.name)).toEqual(["LocalRefusalError"]);
    await untilEvent(b.awareness, "change", () => !names(b.awareness).includes("alice"));
    // Every cursor move while it is too large is refused the same way: reported once, not at every move.
    a.awareness.setLocalStateField("cursor", 1);
    a.awareness.setLocalStateField("cursor", 2);
    expect(errors).toHaveLength(1);
    // Small again, it is shown; a refusal after that is reported again.
    a.awareness.setLocalStateField("notes", "short");
    await untilEvent(b.awareness, "change", () => names(b.awareness).includes("alice"));
    a.awareness.setLocalStateField("notes", "x".repeat(100_000));
    expect(errors.map((error) => (error as { code?: string }).code)).toEqual(["presence_too_large", "presence_too_large"]);
  });

  it("in a document deleted under the editor, the deletion is reported once, and a cursor move says nothing more and sends nothing", async () => {
    const { a, groupA, relay } = await twoEditors();
    const errors: Error[] = [];
    a.provider.on("error", (error) => errors.push(error));
    await groupA.createMembers().synced();
    await groupA.delete(a.provider.docId);
    await settle();
    relay.transcript();
    a.awareness.setLocalStateField("cursor", 1);
    a.awareness.setLocalStateField("cursor", 2);
    await settle();
    expect(errors.map((error) => (error as { code?: string }).code)).toEqual(["doc_deleted"]);
    expect(relay.transcript().filter((line) => line.includes("presence"))).toEqual([]);
  });
});
