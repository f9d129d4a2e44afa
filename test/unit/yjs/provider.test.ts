// weft/yjs over the real SDK and the relay core in this process: Y.Docs that edit one document converge,
// large updates sync whole, offline edits go up on reconnect, and destroy() lets go of everything.
import { createRequire } from "node:module";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import * as Y from "yjs";
import { Awareness } from "y-protocols/awareness";
import type { Doc } from "../../../client/doc.ts";
import type { Group } from "../../../client/group.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { MAX_TRANSACTION_BYTES } from "../../../protocol/limits.ts";
import type { DocId } from "../../../protocol/ids.ts";
import { docIdOf, newHeader } from "../../../protocol/index.ts";
import { listenerErrors } from "../../../client/listeners.ts";
import { MissingUpdatesError, UndecodableUpdateError, WeftProvider } from "../../../yjs/index.ts";
import { missingUpdates } from "../../../yjs/received-updates.ts";
import { payloadToData } from "../../../yjs/payload.ts";
import { encodeUpdatePayloads } from "../../../yjs/update-frames.ts";
import { sleep, until, untilEvent } from "../../support/wait.ts";
import { CUT_OFF_URL, GROUP, harnessPerTest, settle, statusOf } from "../client/group-harness.ts";
import { createIdentity } from "../../../client/identity.ts";

const setup = harnessPerTest();

/** A store whose reads take longer than the relay's welcome, as a large file's or IndexedDB's may. */
class SlowLoads extends MemoryLocalStore {
  override async loadGroup(group: string) {
    await sleep(50);
    return super.loadGroup(group);
  }
}

/** Two clients of the relay, the first having created a document of kind "yjs" that the relay holds. */
async function twoEditors() {
  const h = setup();
  const [alice, bob] = [await h.client({ name: "alice" }), await h.client({ name: "bob" })];
  const [groupA, groupB] = [alice.group(GROUP), bob.group(GROUP)];
  const created = groupA.create({ kind: "yjs" });
  await created.synced();
  const editor = (group: Group) => {
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(group, created.id, ydoc);
    return { ydoc, text: ydoc.getText("body"), provider };
  };
  return { ...h, alice, bob, groupA, groupB, docId: created.id, a: editor(groupA), b: editor(groupB) };
}

/** Resolves once the Weft document holds `count` transactions of other sessions than `session`. */
function untilReceived(doc: Doc, session: string, count: number): Promise<void> {
  const received = () => doc.transactions().filter((transaction) => transaction.session !== session).length >= count;
  if (received()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = doc.subscribe(() => {
      if (!received()) return;
      off();
      resolve();
    });
  });
}

/** Random letters: Yjs cannot shrink them, so the update is as large as the text. */
const randomText = (length: number) => Array.from({ length }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");

describe("two editors of one Y.Doc", () => {
  it("converge after concurrent edits, each applied once on the other side", async () => {
    const { a, b } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    let remoteUpdatesAtB = 0;
    b.ydoc.on("update", (_update: Uint8Array, origin: unknown) => void (origin === b.provider && remoteUpdatesAtB++));
    a.text.insert(0, "hello");
    b.text.insert(0, "world");
    a.text.insert(5, "!");
    await untilEvent(a.ydoc, "update", () => a.text.length === 11);
    await untilEvent(b.ydoc, "update", () => b.text.length === 11);
    expect(a.text.toString()).toBe(b.text.toString());
    expect(a.text.toString()).toContain("hello!");
    expect(a.text.toString()).toContain("world");
    // alice's two edits in one tick became one transaction, applied at bob's once.
    expect(remoteUpdatesAtB).toBe(1);
    expect(a.provider.synced && b.provider.synced).toBe(true);
  });

  it("syncs an update larger than the transaction limit, split across transactions and applied whole", async () => {
    const { a, b } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    const pasted = randomText(4 * MAX_TRANSACTION_BYTES);
    const updatesAtB: number[] = [];
    b.ydoc.on("update", (update: Uint8Array, origin: unknown) => void (origin === b.provider && updatesAtB.push(update.length)));
    a.text.insert(0, pasted);
    await a.provider.doc!.synced();
    expect(a.provider.doc!.transactions().length).toBeGreaterThan(4);
    // Until the parts arrive: 20 settle rounds are too few on a busy machine (each part is verified).
    await until(() => b.text.length === pasted.length, 20_000);
    expect(b.text.toString()).toBe(pasted);
    expect(updatesAtB).toHaveLength(1);
  });

  it("never applies part of a split update: parts without their last change nothing, the writer's next update still applies", async () => {
    const { a, b } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    // What a writer that crashed after saving some parts leaves in its session.
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, randomText(2 * MAX_TRANSACTION_BYTES));
    const parts = encodeUpdatePayloads(Y.encodeStateAsUpdate(scratch), 100_000);
    for (const part of parts.slice(0, -1)) a.provider.doc!.append(payloadToData(part));
    await untilReceived(b.provider.doc!, b.provider.group.session, parts.length - 1);
    expect(b.text.length).toBe(0);
    a.text.insert(0, "after");
    await untilEvent(b.ydoc, "update", () => b.text.length > 0);
    expect(b.text.toString()).toBe("after");
  });
});

describe("offline and restart", () => {
  it("keeps edits made offline in the local store and sends them on reconnect", async () => {
    const { relay, a, b, groupA } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    relay.down = true;
    groupA.connection.drop();
    await statusOf(groupA, "offline");
    expect(a.provider.status).toBe("disconnected");
    expect(a.provider.synced).toBe(false);
    a.text.insert(0, "written offline");
    b.text.insert(0, "online ");
    await settle();
    expect(a.provider.doc!.hasUnsynced).toBe(true);
    relay.down = false;
    groupA.reconnectNow();
    await statusOf(groupA, "live");
    await untilEvent(a.ydoc, "update", () => a.text.toString().includes("online"));
    await untilEvent(b.ydoc, "update", () => b.text.toString().includes("written offline"));
    expect(a.text.toString()).toBe(b.text.toString());
    expect(a.provider.status).toBe("connected");
  });

  it("restores a reloaded Y.Doc from the local store without the network", async () => {
    const h = setup();
    const store = new MemoryLocalStore();
    const alice = await h.client({ name: "alice", store });
    const group = alice.group(GROUP);
    const docId = group.create({ kind: "yjs" }).id;
    const first = new WeftProvider(group, docId, new Y.Doc());
    await first.loaded;
    first.ydoc.getText("body").insert(0, "kept on this device");
    await settle();
    first.destroy();
    alice.close();
    h.relay.down = true;
    const again = await h.client({ name: "alice", identity: alice.identity, store });
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(again.group(GROUP), docId as DocId, ydoc);
    await provider.loaded;
    expect(ydoc.getText("body").toString()).toBe("kept on this device");
    expect(provider.status).not.toBe("connected");
  });

  it("says synced after a restart whose store reads slower than the relay answers only once the edits made meanwhile are in the Y.Doc", async () => {
    const h = setup();
    const store = new SlowLoads();
    const [alice, bob] = [await h.client({ name: "alice" }), await h.client({ name: "bob", store })];
    const docId = alice.group(GROUP).create({ kind: "yjs" }).id;
    const writer = new WeftProvider(alice.group(GROUP), docId, new Y.Doc());
    writer.ydoc.getText("body").insert(0, "template");
    await (await writer.loaded).synced();
    const before = new WeftProvider(bob.group(GROUP), docId, new Y.Doc());
    await untilEvent(before, "sync", () => before.ydoc.getText("body").toString() === "template");
    before.destroy();
    await bob.close();
    writer.ydoc.getText("body").insert(8, ", filled in");
    await writer.doc!.synced();

    const again = await h.client({ name: "bob", identity: bob.identity, store });
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(again.group(GROUP), docId, ydoc);
    const textWhenSynced = await new Promise<string>((resolve) => provider.on("sync", (synced) => synced && resolve(ydoc.getText("body").toString())));
    // An app that fills an empty document with a template at sync would otherwise write it twice.
    expect(textWhenSynced).toBe("template, filled in");
  });

  it("says synced again after a reconnect only once what was written meanwhile is in the Y.Doc", async () => {
    const h = setup();
    const [alice, bob] = [await h.client({ name: "alice", url: CUT_OFF_URL }), await h.client({ name: "bob" })];
    const created = bob.group(GROUP).create({ kind: "yjs" });
    await created.synced();
    const docId = created.id;
    const [a, b] = [new WeftProvider(alice.group(GROUP), docId, new Y.Doc()), new WeftProvider(bob.group(GROUP), docId, new Y.Doc())];
    await untilEvent(a, "sync", () => a.synced);
    const reconnect = h.cutOff(alice);
    await statusOf(alice.group(GROUP), "offline");
    b.ydoc.getText("body").insert(0, "written while alice was away");
    await b.doc!.synced();
    const textWhenSynced = new Promise<string>((resolve) => a.on("sync", (synced) => synced && resolve(a.ydoc.getText("body").toString())));
    reconnect();
    expect(await textWhenSynced).toBe("written while alice was away");
  });
});

describe("an edit made just before the app closes or waits for synced()", () => {
  it("with the default in-memory store, an edit in the same tick as destroy() and client.close() reaches the relay before the close resolves", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice", store: undefined });
    const created = alice.group(GROUP).create({ kind: "yjs" });
    await created.synced();
    const provider = new WeftProvider(alice.group(GROUP), created.id, new Y.Doc());
    await provider.loaded;
    provider.ydoc.getText("body").insert(0, "typed before close");
    provider.destroy();
    await alice.close();
    const reader = await h.client({ name: "reader" });
    const fresh = new Y.Doc();
    await new WeftProvider(reader.group(GROUP), created.id, fresh).loaded;
    expect(fresh.getText("body").toString()).toBe("typed before close");
  });

  it("with the default in-memory store, a client.close() while offline resolves at once and tells onError of the writes it loses", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice", store: undefined, url: CUT_OFF_URL });
    const group = alice.group(GROUP);
    const created = group.create({ kind: "yjs" });
    await created.synced();
    const errors: Error[] = [];
    group.onError((error) => errors.push(error));
    h.cutOff(alice);
    await statusOf(group, "offline");
    created.append("written offline");
    await alice.close();
    expect(errors.map((error) => [error.name, (error as { doc?: string }).doc])).toEqual([["LocalStoreError", created.id]]);
    expect(errors[0]!.message).toMatch(/had not reached the relay, and are lost with the in-memory store; pass a FileLocalStore/);
  });

  it("an edit in the same tick as client.close() or group.close() is saved, and reaches the relay with the next client", async () => {
    for (const close of ["client", "group"] as const) {
      const h = setup();
      const store = new MemoryLocalStore();
      const alice = await h.client({ name: "alice", store });
      const group = alice.group(GROUP);
      const created = group.create({ kind: "yjs" });
      await created.synced();
      const provider = new WeftProvider(group, created.id, new Y.Doc());
      await provider.loaded;
      const errors: Error[] = [];
      provider.on("error", (error) => errors.push(error));
      provider.ydoc.getText("body").insert(0, "typed before close");
      if (close === "client") await alice.close();
      else group.close();
      expect(errors, close).toEqual([]);
      const again = await h.client({ name: "alice again", identity: alice.identity, store });
      const ydoc = new Y.Doc();
      const reloaded = new WeftProvider(again.group(GROUP), created.id, ydoc);
      await reloaded.loaded;
      expect(ydoc.getText("body").toString(), close).toBe("typed before close");
      await again.group(GROUP).synced();
      const reader = await h.client({ name: "reader" });
      const fresh = new Y.Doc();
      await new WeftProvider(reader.group(GROUP), created.id, fresh).loaded;
      expect(fresh.getText("body").toString(), close).toBe("typed before close");
    }
  });

  it("an edit typed before a document held on the device opened, then a close in the same tick: saved, and sent by the next client", async () => {
    for (const close of ["client", "destroy, then client", "group, asked for again at once"] as const) {
      const h = setup();
      const store = new MemoryLocalStore();
      const first = await h.client({ name: "first", store });
      const created = first.group(GROUP).create({ kind: "yjs" });
      await created.synced();
      await first.close();
      // A remount: a new client on the store binds, types at once, and goes before the store was read.
      const alice = await h.client({ name: "alice", identity: first.identity, store });
      const group = alice.group(GROUP);
      const provider = new WeftProvider(group, created.id, new Y.Doc());
      const loaded = provider.loaded.then(() => "opened", (error: Error) => error.message);
      provider.ydoc.getText("body").insert(0, "typed before it opened");
      let again = alice;
      if (close === "client") await alice.close();
      if (close === "destroy, then client") {
        provider.destroy();
        await alice.close();
      }
      if (close === "group, asked for again at once") {
        provider.destroy();
        group.close();
        const ydoc = new Y.Doc();
        const remounted = new WeftProvider(alice.group(GROUP), created.id, ydoc);
        await remounted.loaded;
        expect(ydoc.getText("body").toString(), close).toBe("typed before it opened");
        remounted.destroy();
      } else {
        again = await h.client({ name: "alice again", identity: alice.identity, store });
        const ydoc = new Y.Doc();
        const reloaded = new WeftProvider(again.group(GROUP), created.id, ydoc);
        await reloaded.loaded;
        expect(ydoc.getText("body").toString(), close).toBe("typed before it opened");
        reloaded.destroy();
      }
      expect(await loaded, close).toMatch(close === "client" ? /opened/ : /destroyed before document .* opened/);
      await again.group(GROUP).synced();
      const reader = await h.client({ name: "reader" });
      const fresh = new Y.Doc();
      await new WeftProvider(reader.group(GROUP), created.id, fresh).loaded;
      await until(() => fresh.getText("body").toString() === "typed before it opened", 5_000);
    }
  });

  it("doc.synced() and group.synced() called in the tick of an edit wait for that edit", async () => {
    const { a, alice, relay, docId } = await twoEditors();
    await a.provider.loaded;
    const stored = () => relay.store.knownState(docId).sessions[alice.session] ?? 0;
    a.text.insert(0, "first");
    await a.provider.doc!.synced();
    expect(stored()).toBe(1);
    a.text.insert(5, " second");
    await a.provider.group.synced();
    expect(stored()).toBe(2);
  });
});

describe("destroy()", () => {
  it("lets go of the Y.Doc, the document, the group and the awareness it made; what was pending is appended first", async () => {
    const { a, b } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    const observers = (ydoc: Y.Doc) => (ydoc as unknown as { _observers: Map<string, Set<unknown>> })._observers.get("update")?.size ?? 0;
    const statuses: string[] = [];
    a.provider.on("status", ({ status }) => statuses.push(status));
    let destroyedAwareness = false;
    a.provider.awareness.on("destroy", () => (destroyedAwareness = true));
    a.text.insert(0, "last words");
    expect([a.provider.status, a.provider.synced]).toEqual(["connected", true]);
    a.provider.destroy(); // in the same tick: the edit is still pending
    expect([a.provider.status, a.provider.synced]).toEqual(["disconnected", false]);
    expect(observers(a.ydoc)).toBe(0);
    expect(destroyedAwareness).toBe(true);
    await untilEvent(b.ydoc, "update", () => b.text.length > 0);
    expect(b.text.toString()).toBe("last words");
    a.text.insert(0, "not sent ");
    b.text.insert(0, "not applied ");
    await untilReceived(a.provider.doc!, a.provider.group.session, 1); // bob's edit reached alice's document...
    await settle();
    expect(b.text.toString()).toBe("not applied last words");
    expect(a.text.toString()).toBe("not sent last words"); // ...and not her Y.Doc
    a.provider.group.connection.drop(); // nor does the group's status reach it
    await settle();
    expect(statuses).toEqual([]);
  });

  it("leaves an awareness the app passed in to the app", async () => {
    const { groupA, docId, a } = await twoEditors();
    a.provider.destroy(); // one provider per document in a client
    const ydoc = new Y.Doc();
    const awareness = new Awareness(ydoc);
    const provider = new WeftProvider(groupA, docId, ydoc, { awareness });
    await provider.loaded;
    provider.destroy();
    awareness.setLocalStateField("user", { name: "still here" });
    expect(awareness.getLocalState()).toEqual({ user: { name: "still here" } });
    awareness.destroy();
  });
});

describe("provider after provider on one long-lived Y.Doc", () => {
  it("a rebinding sends nothing when nothing changed, only what changed when something did; a Y.Doc never bound sends all it holds", async () => {
    const { alice, docId, a, b } = await twoEditors();
    let groupA = alice.group(GROUP);
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    a.text.insert(0, randomText(20_000));
    await until(() => b.text.length === 20_000);
    const ownTransactions = () => b.provider.doc!.transactions().filter((transaction) => transaction.session === alice.session);
    await settle();
    expect(ownTransactions()).toHaveLength(1);
    let provider = a.provider;
    /** A new provider on the same Y.Doc through `groupA`, once the last one is destroyed (and `before` done). */
    const rebind = async (before = () => {}) => {
      provider.destroy();
      before();
      provider = new WeftProvider(groupA, docId, a.ydoc);
      await provider.loaded;
      await provider.doc!.synced();
    };
    for (let rebinding = 0; rebinding < 5; rebinding++) await rebind();
    await settle();
    expect(ownTransactions()).toHaveLength(1);
    // Through the same group closed and opened again (a new Group object of the same client), as an app
    // that closes the groups it no longer shows: nothing again.
    await rebind(() => {
      groupA.close();
      const reopened = alice.group(GROUP);
      expect(reopened).not.toBe(groupA);
      groupA = reopened;
    });
    await settle();
    expect(ownTransactions()).toHaveLength(1);

    // Edited while unbound: the next binding sends that edit (and the delete set), not the 20 KB again.
    provider.destroy();
    a.text.delete(0, 10);
    a.text.insert(0, "edited while unbound ");
    provider = new WeftProvider(groupA, docId, a.ydoc);
    await provider.loaded;
    await until(() => b.text.toString() === a.text.toString());
    const sent = ownTransactions().slice(1);
    expect(sent).toHaveLength(1);
    expect((sent[0]!.data as Uint8Array).byteLength).toBeLessThan(200);

    // Bound afresh (another Y.Doc holding the same content, as an app's own persistence gives it): all of it goes.
    provider.destroy();
    const restored = new Y.Doc();
    Y.applyUpdate(restored, Y.encodeStateAsUpdate(a.ydoc));
    const fresh = new WeftProvider(groupA, docId, restored);
    await fresh.loaded;
    await fresh.doc!.synced();
    await until(() => ownTransactions().length === 3);
    expect((ownTransactions()[2]!.data as Uint8Array).byteLength).toBeGreaterThan(20_000);
    fresh.destroy();
  });
});

describe("before the document opened", () => {
  /** alice holds a document; bob, who has never loaded it, gets a provider on it. */
  async function bobNotYetOpen() {
    const h = setup();
    const [alice, bob] = [await h.client({ name: "alice" }), await h.client({ name: "bob" })];
    const groupA = alice.group(GROUP);
    const created = groupA.create({ kind: "yjs" });
    await created.synced();
    const ydoc = new Y.Doc();
    return { ...h, alice, bob, groupA, groupB: bob.group(GROUP), docId: created.id, ydoc, text: ydoc.getText("body") };
  }

  it("appends the edits made before destroy() once the document opens, and loaded says the provider was destroyed", async () => {
    const { groupA, groupB, docId, ydoc, text } = await bobNotYetOpen();
    const provider = new WeftProvider(groupB, docId, ydoc);
    text.insert(0, "typed before it opened");
    provider.destroy();
    await expect(provider.loaded).rejects.toThrow(/destroyed before document .* opened/);
    // What bob typed is in his session of the document, and reaches alice.
    const alice = new WeftProvider(groupA, docId, new Y.Doc());
    await alice.loaded;
    await untilEvent(alice.ydoc, "update", () => alice.ydoc.getText("body").length > 0);
    expect(alice.ydoc.getText("body").toString()).toBe("typed before it opened");
    alice.destroy();
  });

  it("loaded rejects at once when the provider is destroyed while the relay is unreachable", async () => {
    const { relay, groupB, docId, ydoc } = await bobNotYetOpen();
    relay.down = true;
    groupB.connection.drop();
    await statusOf(groupB, "offline");
    const provider = new WeftProvider(groupB, docId, ydoc);
    provider.destroy();
    await expect(provider.loaded).rejects.toThrow(/destroyed before document .* opened/);
  });

  it("loaded rejects with the ClosedError when the group closes before the document opened", async () => {
    const { relay, bob, groupB, docId, ydoc } = await bobNotYetOpen();
    relay.down = true;
    groupB.connection.drop();
    await statusOf(groupB, "offline");
    const provider = new WeftProvider(groupB, docId, ydoc);
    const errors: Error[] = [];
    provider.on("error", (error) => errors.push(error));
    bob.close();
    await expect(provider.loaded).rejects.toMatchObject({ name: "ClosedError" });
    expect(errors).toHaveLength(1);
    provider.destroy();
  });

  it("on a group already closed, the constructor throws its ClosedError, every time", async () => {
    const { groupB, docId } = await bobNotYetOpen();
    groupB.close();
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(() => new WeftProvider(groupB, docId, new Y.Doc())).toThrow(expect.objectContaining({ name: "ClosedError" }));
    }
  });

  it("loaded rejects with the relay's refusal when the document may not be read", async () => {
    const h = setup();
    const [alice, bob] = [await h.client({ name: "alice" }), await h.client({ name: "bob" })];
    const secret = alice.group(GROUP).create({ kind: "yjs", readers: [alice.identity.agent] });
    await secret.synced();
    const provider = new WeftProvider(bob.group(GROUP), secret.id, new Y.Doc());
    await expect(provider.loaded).rejects.toMatchObject({ code: "forbidden" });
    provider.destroy();
  });
});

describe("one provider per document in a client", () => {
  it("refuses a second live provider of the same document in the same group, and takes one once the first is destroyed", async () => {
    const { groupA, docId, a, b } = await twoEditors();
    await a.provider.loaded;
    expect(() => new WeftProvider(groupA, docId, new Y.Doc())).toThrow(TypeError);
    expect(() => new WeftProvider(groupA, docId, new Y.Doc())).toThrow(/already has a provider of/);
    // The refused one changed nothing: the first still syncs with bob.
    a.text.insert(0, "still synced");
    await until(() => b.text.toString() === "still synced");

    a.provider.destroy();
    // A constructor that throws (a bad option) holds no place either.
    expect(() => new WeftProvider(groupA, docId, new Y.Doc(), { snapshots: { factor: 0, minLogBytes: 0 } })).toThrow();
    const ydoc = new Y.Doc();
    const again = new WeftProvider(groupA, docId, ydoc);
    await again.loaded;
    expect(ydoc.getText("body").toString()).toBe("still synced");
    again.destroy();
  });

  it("refuses a Y.Doc that stands for another document, bound or not: neither document takes the other's content", async () => {
    const { alice, groupA, docId, a, b } = await twoEditors();
    await a.provider.loaded;
    a.text.insert(0, "first document");
    const second = groupA.create({ kind: "yjs" });
    await second.synced();
    expect(() => new WeftProvider(groupA, second.id, a.ydoc)).toThrow(TypeError);
    expect(() => new WeftProvider(groupA, second.id, a.ydoc)).toThrow(/already stands for/);
    // Nor once its provider is gone (an editor switching notes on one Y.Doc), nor the same id in another group.
    a.provider.destroy();
    expect(() => new WeftProvider(groupA, second.id, a.ydoc)).toThrow(/already stands for/);
    expect(() => new WeftProvider(alice.group("another-group"), docId, a.ydoc)).toThrow(/already stands for/);
    await groupA.synced();
    expect(second.transactions()).toEqual([]);
    // The refused bindings held no place: the second document takes a Y.Doc of its own, and the first its own again.
    const fresh = new WeftProvider(groupA, second.id, new Y.Doc());
    const back = new WeftProvider(groupA, docId, a.ydoc);
    await Promise.all([fresh.loaded, back.loaded]);
    expect(fresh.ydoc.getText("body").toString()).toBe("");
    a.text.insert(a.text.length, ", edited again");
    await until(() => b.text.toString() === "first document, edited again");
    fresh.destroy();
    back.destroy();
  });
});

describe("plain JavaScript passing the wrong thing", () => {
  it("the constructor throws a TypeError naming what is wrong, and a refused one holds no place", async () => {
    const { groupA, docId, a } = await twoEditors();
    a.provider.destroy();
    const made = (...args: unknown[]) => () => new (WeftProvider as unknown as new (...values: unknown[]) => WeftProvider)(...args);
    const doc = await groupA.open(docId);
    const destroyed = new Y.Doc();
    destroyed.destroy();
    const ydoc = new Y.Doc();
    for (const [call, message] of [
      [made(undefined, docId, ydoc), /the first argument must be a group \(client.group\(id\)\), not undefined/],
      [made(groupA, doc, ydoc), /pass doc.id, not the Doc/],
      [made(groupA, "doc-1", ydoc), /WeftProvider: "doc-1" is not a document id/],
      [made(groupA, docId), /the third argument must be a Y.Doc, not undefined/],
      [made(groupA, docId, destroyed), /the Y.Doc was destroyed/],
      // What a CommonJS app's require("yjs") gives: another copy of yjs, whose Y.Doc would show no edit of others.
      [made(groupA, docId, new (createRequire(import.meta.url)("yjs") as typeof Y).Doc()), /comes from another copy of yjs than weft\/yjs uses/],
      [made(groupA, docId, ydoc, null), /options must be an object, not null/],
      [made(groupA, docId, ydoc, []), /options must be an object, not Array/],
      [made(groupA, docId, ydoc, { snapshot: false }), /there is no option "snapshot"; the options are awareness, snapshots/],
      [made(groupA, docId, ydoc, { snapshots: { factr: 1, minLogBytes: 0 } }), /WeftProvider: snapshots: there is no option "factr"; the options are factor, minLogBytes/],
      [made(groupA, docId, ydoc, { snapshots: { minlogbytes: 0 } }), /there is no option "minlogbytes"/],
      [made(groupA, docId, ydoc, { snapshots: [] }), /snapshots must be false or \{ factor, minLogBytes \}, not Array/],
      [made(groupA, docId, ydoc, { awareness: {} }), /awareness must be a y-protocols Awareness, not Object/],
      [made(groupA, docId, ydoc, { awareness: new Awareness(new Y.Doc()) }), /awareness belongs to another Y.Doc/],
    ] as const) {
      expect(call).toThrow(TypeError);
      expect(call).toThrow(message);
    }
    const provider = new WeftProvider(groupA, docId, ydoc);
    // Options are checked before the document's place is: the slip is named, not the live provider.
    expect(made(groupA, docId, new Y.Doc(), { snapshots: { factr: 1 } })).toThrow(/there is no option "factr"/);
    await provider.loaded;
    provider.destroy();
  });

  it("on() throws a TypeError for an event it never emits or a listener that is not a function", async () => {
    const { a } = await twoEditors();
    await a.provider.loaded;
    expect(() => a.provider.on("connection-close" as "error", () => {})).toThrow(/no event "connection-close"; the events are status, sync, synced, error/);
    expect(() => a.provider.on("error", "log it" as never)).toThrow(TypeError);
    expect(() => a.provider.on("error", "log it" as never)).toThrow(/must be a function, not/);
    expect(() => a.provider.once("connection-close" as "error", () => {})).toThrow(/no event "connection-close"/);
    expect(() => a.provider.once("error", "log it" as never)).toThrow(/once\("error"\): the listener must be a function, not/);
  });
});

describe("events as y-websocket apps listen to them", () => {
  it("a provider bound to a group already live tells the listeners added right after it \"connected\", once, then sync", async () => {
    const { groupA, docId, a } = await twoEditors();
    await statusOf(groupA, "live");
    a.provider.destroy();
    const heard: string[] = [];
    const provider = new WeftProvider(groupA, docId, new Y.Doc());
    provider.on("status", ({ status }) => heard.push(status));
    provider.on("sync", (synced) => heard.push(`sync ${synced}`));
    await provider.loaded;
    await settle();
    expect(heard).toEqual(["connected", "sync true"]);
  });

  it("once() hears the next event only, and off() of what it was given is not needed", async () => {
    const { a, groupA } = await twoEditors();
    await a.provider.loaded;
    const heard: string[] = [];
    a.provider.once("status", ({ status }) => heard.push(status));
    groupA.disconnect();
    groupA.connect();
    await statusOf(groupA, "live");
    expect(heard).toEqual(["disconnected"]);
  });
});

describe("when the group closes for good", () => {
  it("a provider the app did not destroy lets go of what it owns: its awareness (and its timer) is destroyed", async () => {
    const { alice, a } = await twoEditors();
    await a.provider.loaded;
    let destroyed = false;
    a.provider.awareness.on("destroy", () => (destroyed = true));
    const statuses: string[] = [];
    a.provider.on("status", ({ status }) => statuses.push(status));
    await alice.close();
    expect(destroyed).toBe(true);
    expect(statuses).toEqual(["disconnected"]);
    expect(a.provider.status).toBe("disconnected");
  });
});

describe("after the group closed for good", () => {
  it("an edit made in the still-bound Y.Doc is said once (ClosedError), not dropped unsaid, and the status event says the group closed", async () => {
    const { alice, a } = await twoEditors();
    await a.provider.loaded;
    const heard: string[] = [];
    a.provider.on("error", (error) => heard.push(`${error.name}: ${error.message}`));
    a.provider.on("status", ({ status, relay }) => heard.push(`${status} (${relay})`));
    await alice.close();
    a.text.insert(0, "typed after close");
    a.text.insert(0, "and more");
    await settle();
    expect(heard).toEqual(["disconnected (closed)", "ClosedError: group g1 is closed: closed by the app"]);
    expect(a.provider.group.status).toBe("closed");
  });

  it("destroy() lets go of the Y.Doc for good, though the group closed first and nothing was typed since", async () => {
    const { alice, a } = await twoEditors();
    await a.provider.loaded;
    await alice.close();
    a.provider.destroy();
    expect((a.ydoc as unknown as { _observers: Map<string, Set<unknown>> })._observers.get("update")?.size ?? 0).toBe(0);
  });
});

describe("a document that cannot be opened", () => {
  it("rejects loaded, stops the provider and gives its place up: another may be bound to the id", async () => {
    const { groupA, alice } = await twoEditors();
    // An id shared before its document reached the relay.
    const header = newHeader({ group: GROUP, kind: "yjs", creator: alice.identity.agent, createdAt: 1 });
    const early = new WeftProvider(groupA, docIdOf(header), new Y.Doc());
    await expect(early.loaded).rejects.toMatchObject({ code: "unknown_doc" });
    expect(early.status).toBe("disconnected");
    const again = new WeftProvider(groupA, docIdOf(header), new Y.Doc()); // no "already has a provider"
    await expect(again.loaded).rejects.toMatchObject({ code: "unknown_doc" });
  });
});

describe("a document deleted under its editors", () => {
  it("is said once to each, the deleter's and one that typed cut off meanwhile: both stop, disconnected and out of sync, and nothing typed after says more", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    const groupA = alice.group(GROUP);
    await groupA.createMembers().synced();
    const bobIdentity = createIdentity();
    await groupA.setRole(bobIdentity.agent, "writer");
    const docId = groupA.create({ kind: "yjs" }).id;
    await groupA.synced();
    const bob = await h.client({ name: "bob", identity: bobIdentity, url: CUT_OFF_URL });
    const a = new WeftProvider(groupA, docId, new Y.Doc());
    const b = new WeftProvider(bob.group(GROUP), docId, new Y.Doc());
    await Promise.all([a.loaded, b.loaded]);
    await statusOf(bob.group(GROUP), "live");
    const heard = { a: [] as string[], b: [] as string[] };
    for (const [name, provider] of [["a", a], ["b", b]] as const) {
      provider.on("error", (error) => heard[name].push(`${error.name} ${(error as { code?: string }).code}`));
      provider.on("status", ({ status }) => heard[name].push(status));
      provider.on("sync", (synced) => heard[name].push(`sync ${synced}`));
    }
    const reconnect = h.cutOff(bob);
    b.ydoc.getText("body").insert(0, "typed cut off");
    await settle();
    await groupA.delete(docId);
    reconnect();
    await until(() => b.doc!.deleted, 2_000);
    for (const provider of [a, b]) {
      for (const key of "typed after") {
        provider.ydoc.getText("body").insert(0, key);
        provider.awareness.setLocalStateField("cursor", provider.ydoc.getText("body").length);
        await settle(2);
      }
    }
    await settle();
    expect(heard.a).toEqual(["RelayError doc_deleted", "disconnected", "sync false"]);
    expect(heard.b.filter((line) => line.includes("Error"))).toEqual(["RelayError doc_deleted"]);
    // Never in sync after the reconnect: the deletion answered its load.
    expect(heard.b.slice(-3)).toEqual(["connected", "RelayError doc_deleted", "disconnected"]);
    expect(heard.b).not.toContain("sync true");
    for (const provider of [a, b]) {
      expect([provider.status, provider.synced, provider.doc!.deleted]).toEqual(["disconnected", false, true]);
    }
  });
});

describe("a payload Yjs cannot apply", () => {
  /** Errors the SDK would throw uncaught (a listener that threw), collected instead. */
  const uncaught: unknown[] = [];
  const report = listenerErrors.report;
  beforeEach(() => {
    uncaught.length = 0;
    listenerErrors.report = (error) => void uncaught.push(error);
  });
  afterEach(() => void (listenerErrors.report = report));

  /** A valid update of a scratch Y.Doc that inserts `text` into "body". */
  const updateOf = (text: string) => {
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, text);
    return Y.encodeStateAsUpdate(scratch);
  };
  const whole = (update: Uint8Array) => Uint8Array.from([...encodeUpdatePayloads(update, MAX_TRANSACTION_BYTES)[0]!]);

  /**
   * Alice's live editor of a new Yjs document, with the errors it hears; Mallory's raw Doc of it, to write
   * what no binding would; and Carol, to load it fresh.
   */
  async function liveEditorAndRawWriter() {
    const h = setup();
    const [alice, mallory, carol] = [await h.client({ name: "alice" }), await h.client({ name: "mallory" }), await h.client({ name: "carol" })];
    const created = alice.group(GROUP).create({ kind: "yjs" });
    await created.synced();
    const live = new WeftProvider(alice.group(GROUP), created.id, new Y.Doc());
    await live.loaded;
    const errors: Error[] = [];
    live.on("error", (error) => errors.push(error));
    const raw = await mallory.group(GROUP).open(created.id);
    return { mallory, carol, created, live, errors, raw };
  }

  it("is skipped and reported once by a live editor and by a new one, and the updates around it apply", async () => {
    const { mallory, carol, created, live, errors, raw } = await liveEditorAndRawWriter();
    const good = whole(updateOf("after the bad one"));
    // A truncated update, then a valid one in the same tick: one change at alice's.
    raw.append(good.subarray(0, good.length - 3));
    raw.append(good);
    await raw.synced();
    await until(() => live.ydoc.getText("body").length > 0);
    expect(live.ydoc.getText("body").toString()).toBe("after the bad one");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(UndecodableUpdateError);
    expect(errors[0]).toMatchObject({ doc: created.id, session: mallory.session, index: 0 });
    expect(errors[0]!.message).toMatch(/transaction 0 of session .* is not a Yjs update this binding can apply/);

    // A new editor loads the document past it, says so once, and syncs on.
    const fresh = new WeftProvider(carol.group(GROUP), created.id, new Y.Doc(), { snapshots: false });
    const freshErrors: Error[] = [];
    fresh.on("error", (error) => freshErrors.push(error));
    await fresh.loaded;
    expect(fresh.ydoc.getText("body").toString()).toBe("after the bad one");
    expect(freshErrors).toMatchObject([{ name: "UndecodableUpdateError", session: mallory.session, index: 0 }]);
    live.ydoc.getText("body").insert(0, "still syncing: ");
    await until(() => fresh.ydoc.getText("body").toString() === "still syncing: after the bad one");
    expect(errors).toHaveLength(1);
    expect(uncaught).toEqual([]);
  });

  it("parts that can never complete are reported once per update, by a live editor and by a new one, and the updates after them apply", async () => {
    const { mallory, carol, created, live, errors, raw } = await liveEditorAndRawWriter();
    const parts = encodeUpdatePayloads(updateOf(randomText(3_000)), 1_000);
    expect(parts).toHaveLength(4);
    // Parts 2 to 4 of an update without its first (a snapshot covering part of an update would leave
    // these), then an update whose writer went on after 2 of its 4 parts, then a whole one.
    for (const part of parts.slice(1)) raw.append(payloadToData(part));
    for (const part of parts.slice(0, 2)) raw.append(payloadToData(part));
    raw.append(whole(updateOf("after")));
    await raw.synced();
    await until(() => live.ydoc.getText("body").length > 0);
    expect(live.ydoc.getText("body").toString()).toBe("after");
    const expected = [
      { name: "UndecodableUpdateError", session: mallory.session, index: 0, message: expect.stringMatching(/part 2 of 4 of an update whose first part this replica never received/) },
      { name: "UndecodableUpdateError", session: mallory.session, index: 3, message: expect.stringMatching(/only 2 of its 4 parts came before its writer's next change/) },
    ];
    expect(errors).toMatchObject(expected);

    const fresh = new WeftProvider(carol.group(GROUP), created.id, new Y.Doc(), { snapshots: false });
    const freshErrors: Error[] = [];
    fresh.on("error", (error) => freshErrors.push(error));
    await fresh.loaded;
    expect(fresh.ydoc.getText("body").toString()).toBe("after");
    expect(freshErrors).toMatchObject(expected);
    expect(uncaught).toEqual([]);
  });

  it("a payload of no kind this binding writes is reported too, and skipped", async () => {
    const { a, b, bob } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    const errors: Error[] = [];
    a.provider.on("error", (error) => errors.push(error));
    b.provider.doc!.append(Uint8Array.of(7, 1, 2, 3));
    b.text.insert(0, "fine");
    await until(() => a.text.toString() === "fine");
    expect(errors).toMatchObject([{ name: "UndecodableUpdateError", session: bob.session, index: 0 }]);
    expect(errors[0]!.message).toMatch(/unknown payload kind 7/);
  });

  it("a V2-encoded update (which Yjs reads as nothing, without a word) is reported and skipped, and a deletion is not taken for one", async () => {
    const { a, b, bob } = await twoEditors();
    await Promise.all([a.provider.loaded, b.provider.loaded]);
    const errors: Error[] = [];
    a.provider.on("error", (error) => errors.push(error));
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, "sent as V2");
    b.provider.doc!.append(whole(Y.encodeStateAsUpdateV2(scratch)));
    b.text.insert(0, "fine, and then some");
    await until(() => a.text.toString() === "fine, and then some");
    b.text.delete(4, 15); // an update of deletions only: it starts with 0 too
    await until(() => a.text.toString() === "fine");
    expect(errors).toMatchObject([{ name: "UndecodableUpdateError", session: bob.session, index: 0 }]);
    expect(errors[0]!.message).toMatch(/a V2 update/);
  });

  it("an update that builds on content never sent is reported once the editor has waited for it in sync with the relay", async () => {
    const h = setup();
    const waited = missingUpdates.reportAfterMs;
    missingUpdates.reportAfterMs = 50;
    onTestFinished(() => void (missingUpdates.reportAfterMs = waited));
    const [alice, mallory, carol] = [await h.client({ name: "alice" }), await h.client({ name: "mallory" }), await h.client({ name: "carol" })];
    const created = alice.group(GROUP).create({ kind: "yjs" });
    await created.synced();
    // Honest writers whose updates build on each other, loaded by a new editor in whatever order they come.
    const a = new WeftProvider(alice.group(GROUP), created.id, new Y.Doc());
    await a.loaded;
    for (const word of ["one ", "two ", "three "]) {
      a.ydoc.getText("body").insert(a.ydoc.getText("body").length, word);
      await settle(2);
    }
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, "base never sent ");
    const base = Y.encodeStateVector(scratch);
    scratch.getText("body").insert(0, "built on it ");
    const raw = await mallory.group(GROUP).open(created.id);
    raw.append(whole(Y.encodeStateAsUpdate(scratch, base)));
    await raw.synced();
    await a.doc!.synced();

    const fresh = new WeftProvider(carol.group(GROUP), created.id, new Y.Doc(), { snapshots: false });
    const errors: Error[] = [];
    fresh.on("error", (error) => errors.push(error));
    await fresh.loaded;
    expect(fresh.ydoc.getText("body").toString()).toBe("one two three ");
    await until(() => errors.length > 0, 5_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(MissingUpdatesError);
    expect([...(errors[0] as MissingUpdatesError).missing.keys()]).toEqual([scratch.clientID]);
    // More edits while it still waits: not reported again.
    a.ydoc.getText("body").insert(0, "more ");
    await until(() => fresh.ydoc.getText("body").toString().startsWith("more "));
    await sleep(4 * missingUpdates.reportAfterMs);
    expect(errors).toHaveLength(1);
    expect(uncaught).toEqual([]);
  });

  it("a snapshot Yjs misreads (encoded with encodeStateAsUpdateV2) is reported by the editor that loads it", async () => {
    const h = setup();
    const [alice, carol] = [await h.client({ name: "alice" }), await h.client({ name: "carol" })];
    const created = alice.group(GROUP).create({ kind: "yjs" });
    await created.synced();
    const writer = new WeftProvider(alice.group(GROUP), created.id, new Y.Doc(), { snapshots: false });
    await writer.loaded;
    writer.ydoc.getText("body").insert(0, "in the log");
    await writer.doc!.synced();
    await writer.doc!.snapshot(Y.encodeStateAsUpdateV2(writer.ydoc));

    const fresh = new WeftProvider(carol.group(GROUP), created.id, new Y.Doc(), { snapshots: false });
    const errors: Error[] = [];
    fresh.on("error", (error) => errors.push(error));
    await fresh.loaded;
    await until(() => fresh.synced);
    expect(errors).toMatchObject([{ name: "UndecodableUpdateError", session: alice.session, index: undefined }]);
    expect(errors[0]!.message).toMatch(/the snapshot published by session .* a V2 update/);
    expect(uncaught).toEqual([]);
  });
});
