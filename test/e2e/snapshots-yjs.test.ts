// Snapshots end to end with weft/yjs against the real relay in workerd (weft/dev's startRelay): two editors
// type, the document's creator snapshots by itself mid-session, and a third client loads the snapshot and the
// little after it and converges; a client that was offline while the relay pruned what a snapshot covers
// comes back, gets the snapshot and the rest, and converges with its own offline edits going up.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createClient, createIdentity, type DocChange, type Snapshotted } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { transactionCount, type DocId } from "../../protocol/index.ts";
import { WeftProvider } from "../../yjs/index.ts";
import { untilEvent } from "../support/wait.ts";

const GROUP = "notes";
/** Small thresholds, so a test types hundreds of keystrokes, not thousands. */
const SNAPSHOTS = { factor: 2, minLogBytes: 4_000 };

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function relayWith(vars: Record<string, string> = {}): Promise<LocalRelay> {
  const relay = await startRelay({ vars });
  cleanups.push(() => relay.stop());
  return relay;
}

async function editor(url: string, docId: DocId | undefined, options: { store?: FileLocalStore; identity?: ReturnType<typeof createIdentity> } = {}) {
  const client = await createClient({ url, identity: options.identity ?? createIdentity(), ...(options.store ? { store: options.store } : {}) });
  cleanups.push(() => client.close());
  const group = client.group(GROUP);
  const id = docId ?? group.create({ kind: "yjs" }).id;
  const ydoc = new Y.Doc();
  const provider = new WeftProvider(group, id, ydoc, { snapshots: SNAPSHOTS });
  cleanups.push(() => provider.destroy());
  await provider.loaded;
  if (!docId) await provider.doc!.synced(); // the relay holds it before anyone else opens it
  return { client, group, id, ydoc, text: ydoc.getText("body"), provider };
}

/** Types `count` keystrokes, each in its own tick, so each is its own transaction (as a person types). */
async function type(text: Y.Text, count: number, letter: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    text.insert(text.length, letter);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves once the document heard that the relay stored a snapshot (one that passes `check`, if given). */
function untilSnapshotted(client: { provider: WeftProvider }, check: (heard: Snapshotted) => boolean = () => true): Promise<Snapshotted> {
  const doc = client.provider.doc!;
  return new Promise((resolve) => {
    const off = doc.subscribe((change: DocChange) => {
      if (!change.snapshotted || !check(change.snapshotted)) return;
      off();
      resolve(change.snapshotted);
    });
  });
}

/** Resolves once two Y.Docs hold the same text, checked at each update of either. */
function untilConverged(one: Y.Doc, other: Y.Doc): Promise<void> {
  const same = () => one.getText("body").toString() === other.getText("body").toString();
  return Promise.race([untilEvent(one, "update", same), untilEvent(other, "update", same)]);
}

/** Resolves once `viewer` sees the presence of `count` other peers (the leader's offer to take snapshots, say). */
function untilPresent(viewer: { provider: WeftProvider }, count: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const off = viewer.provider.doc!.presence.subscribe((peers) => {
      if (peers.size < count) return;
      queueMicrotask(() => off());
      resolve();
    });
  });
}

describe("snapshots with weft/yjs", () => {
  it("two editors type, the creator snapshots mid-session, a third client loads the snapshot and little else and converges", { timeout: 60_000 }, async () => {
    const relay = await relayWith();
    const alice = await editor(relay.url, undefined);
    const bob = await editor(relay.url, alice.id);
    // Bob shows nothing (no cursor, and no offer: the document is alice's); he sees alice's offer to lead.
    await untilPresent(bob, 1);
    // Only the document's creator (or an admin) may snapshot it: bob's provider does not offer, alice's leads.
    const leader = alice;
    const heardByBob: Snapshotted[] = [];
    bob.provider.doc!.subscribe((change) => change.snapshotted && heardByBob.push(change.snapshotted));

    const stored = untilSnapshotted(alice);
    await Promise.all([type(alice.text, 300, "a"), type(bob.text, 300, "b")]);
    const first = await stored;
    expect(first.session).toBe(leader.client.session);
    // The session goes on after it.
    await Promise.all([type(alice.text, 20, "c"), type(bob.text, 20, "d")]);
    await Promise.all([alice.provider.doc!.synced(), bob.provider.doc!.synced()]);
    await untilConverged(alice.ydoc, bob.ydoc);
    // One editor at a time: every snapshot stored was the leader's.
    expect(heardByBob.length).toBeGreaterThan(0);
    expect(new Set(heardByBob.map((heard) => heard.session))).toEqual(new Set([leader.client.session]));

    const logHeld = transactionCount(bob.provider.doc!.known);
    expect(logHeld).toBeGreaterThan(600);
    const carol = await editor(relay.url, alice.id);
    await untilConverged(carol.ydoc, alice.ydoc);
    expect(carol.text.length).toBe(640);
    const carolDoc = carol.provider.doc!;
    expect(carolDoc.heldSnapshot).toBeDefined();
    expect(carolDoc.heldSnapshot!.session).toBe(leader.client.session);
    // It received the snapshot and exactly what follows it: far fewer transactions than the log holds
    // (the provider snapshots again whenever the log since the last one outgrows the state twice over).
    const covered = Object.values(carolDoc.heldSnapshot!.covers).reduce((sum, count) => sum + count, 0);
    expect(carolDoc.transactions().length).toBe(logHeld - covered);
    expect(carolDoc.transactions().length).toBeLessThan(logHeld / 2);
    expect(transactionCount(carolDoc.known)).toBe(logHeld);
  });

  it("a client offline while a snapshot was taken and what it covers pruned comes back, gets the snapshot and the rest, and converges", { timeout: 60_000 }, async () => {
    const relay = await relayWith({ WEFT_SNAPSHOT_RETENTION_SECONDS: "0" });
    const storeDir = mkdtempSync(join(tmpdir(), "weft-snapshot-offline-"));
    cleanups.push(() => rmSync(storeDir, { recursive: true, force: true }));
    const alice = await editor(relay.url, undefined);
    await type(alice.text, 20, "a");
    await alice.provider.doc!.synced();
    const daveIdentity = createIdentity();
    const dave = await editor(relay.url, alice.id, { store: new FileLocalStore(storeDir), identity: daveIdentity });
    await untilConverged(dave.ydoc, alice.ydoc);
    await type(dave.text, 5, "d");
    await dave.provider.doc!.synced();
    await untilConverged(dave.ydoc, alice.ydoc);
    const daveHeld = transactionCount(dave.provider.doc!.known);
    const daveHeldOfAlice = dave.provider.doc!.known.sessions[alice.client.session]!;
    dave.provider.destroy();
    dave.client.close();

    // While dave is away, alice types on; her provider snapshots (it leads: nobody else is here).
    const beyondDave = untilSnapshotted(alice, (heard) => heard.covers[alice.client.session]! > daveHeldOfAlice);
    await type(alice.text, 400, "b");
    await beyondDave;
    await type(alice.text, 10, "c");
    await alice.provider.doc!.synced();

    // Dave comes back from his store: behind the snapshot, he gets it and what follows, and converges.
    const back = await editor(relay.url, alice.id, { store: new FileLocalStore(storeDir), identity: daveIdentity });
    expect(transactionCount(back.provider.doc!.known)).toBeGreaterThanOrEqual(daveHeld);
    await untilConverged(back.ydoc, alice.ydoc);
    const backDoc = back.provider.doc!;
    expect(backDoc.heldSnapshot).toBeDefined();
    expect(transactionCount(backDoc.known)).toBe(transactionCount(alice.provider.doc!.known));
    expect(back.text.toString()).toBe(alice.text.toString());
    // His next keystroke goes on from the snapshot and reaches alice.
    await type(back.text, 1, "e");
    await untilConverged(back.ydoc, alice.ydoc);
    expect(alice.text.toString().endsWith("e")).toBe(true);
  });

  it("an editor on a FileLocalStore keeps a file that grows with the text, not with every keystroke, and a restart reads the text back", { timeout: 90_000 }, async () => {
    const relay = await relayWith();
    const storeDir = mkdtempSync(join(tmpdir(), "weft-typing-store-"));
    cleanups.push(() => rmSync(storeDir, { recursive: true, force: true }));
    const identity = createIdentity();
    const alice = await editor(relay.url, undefined, { store: new FileLocalStore(storeDir), identity });
    // As a person types: each keystroke reaches the relay, and is acknowledged, before the next.
    for (let i = 0; i < 1_000; i++) {
      alice.text.insert(alice.text.length, "a");
      await alice.provider.doc!.synced();
    }
    const typed = alice.text.toString();
    alice.provider.destroy();
    await alice.client.close();
    // Each keystroke appends its write and the relay's ack of it, about 300 bytes between them: 300 KB
    // were the file never written whole.
    const file = join(storeDir, GROUP, `${alice.id}.jsonl`);
    expect(statSync(file).size).toBeLessThan(140 * 1024);

    // Read from the disk alone: the relay is gone.
    await relay.stop();
    const again = await editor(relay.url, alice.id, { store: new FileLocalStore(storeDir), identity });
    expect(again.text.toString()).toBe(typed);
  });
});
