// End to end (issue 9, item 1): two processes of one app, one identity and one FileLocalStore directory,
// write into one document at the same time through the real relay (`wrangler dev`). Each leases its own
// session, so the relay keeps both; nothing is lost, nothing doubled: not when they close with writes
// unsent, nor when they are killed mid-stream.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { countOf, type DocId, type SessionId } from "../../protocol/index.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";
import { spawnLineProcess } from "../support/line-process.ts";
import { until } from "../support/wait.ts";

const SHARER = fileURLToPath(new URL("./store-sharer.ts", import.meta.url));
const OFFLINE_WRITER = fileURLToPath(new URL("./offline-writer.ts", import.meta.url));
const ENDLESS_WRITER = fileURLToPath(new URL("./endless-writer.ts", import.meta.url));
const PER_PROCESS = 500;
const GROUP = "e2e-shared-store";

type SharerResult = { session: SessionId; atRelayWhenSynced: string[] };

const expected = (name: string) => Array.from({ length: PER_PROCESS }, (_, i) => `${name}-${i}`);

describe("two Node processes on one FileLocalStore directory, through wrangler dev", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-e2e-shared-"));
  const storeDir = mkdtempSync(join(tmpdir(), "weft-e2e-shared-store-"));
  let relay: RelayProcess;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
  });

  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
  });

  it(`each append ${PER_PROCESS} to one document at once; the relay and a fresh client hold all ${2 * PER_PROCESS}, each once`, async () => {
    const identity = createIdentity();
    const secret = exportIdentity(identity);
    // The app created the document earlier, in this same store.
    const creator = await createClient({ url: relay.url, identity, store: new FileLocalStore(storeDir) });
    const created = creator.group(GROUP).create({ meta: { title: "shared store" } });
    await created.synced();
    await creator.close();

    // Both processes start their clients; once both run, both are told to write.
    const sharers = ["a", "b"].map((name) => spawnLineProcess(SHARER, [relay.url, storeDir, secret, GROUP, created.id, name, String(PER_PROCESS)], children));
    for (const sharer of sharers) expect(await sharer.line(0)).toBe("ready");
    for (const sharer of sharers) sharer.child.stdin!.end("go\n");
    const [a, b] = (await Promise.all(sharers.map((sharer) => sharer.line(1)))).map((line) => JSON.parse(line) as SharerResult) as [SharerResult, SharerResult];

    // Two sessions, one per live process; and when each synced() resolved, the relay held all of its writes.
    expect(a.session).not.toBe(b.session);
    expect(a.atRelayWhenSynced).toEqual(expected("a"));
    expect(b.atRelayWhenSynced).toEqual(expected("b"));

    // A fresh client with an empty store gets all 1,000 from the relay, each exactly once.
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const read = await reader.group(GROUP).open(created.id as DocId);
    const all = read.transactions().map((transaction) => transaction.data);
    expect(all).toHaveLength(2 * PER_PROCESS);
    expect([...all].sort()).toEqual([...expected("a"), ...expected("b")].sort());
    expect(read.sessionTransactions(a.session).map((transaction) => transaction.data)).toEqual(expected("a"));
    expect(read.sessionTransactions(b.session).map((transaction) => transaction.data)).toEqual(expected("b"));
    await reader.close();

    // The shared store itself holds the same 1,000, each once, for the app's next start.
    const restarted = await createClient({ url: relay.url, identity, store: new FileLocalStore(storeDir) });
    expect([a.session, b.session]).toContain(restarted.session); // a free session of the pool, not a new one
    const local = await restarted.group(GROUP).open(created.id as DocId);
    expect([...local.transactions().map((transaction) => transaction.data)].sort()).toEqual([...all].sort());
    await restarted.close();
  });

  it("two processes killed (SIGKILL) while writing: the next process on the store sends all they saved, each once, in order", async () => {
    const identity = createIdentity();
    const dir = mkdtempSync(join(tmpdir(), "weft-e2e-killed-"));
    try {
      const creator = await createClient({ url: relay.url, identity, store: new FileLocalStore(dir) });
      const created = creator.group(GROUP).create({ meta: { title: "written until killed" } });
      await created.synced();
      await creator.close();

      const writers = ["a", "b"].map((name) => spawnLineProcess(ENDLESS_WRITER, [relay.url, dir, exportIdentity(identity), GROUP, created.id, name], children));
      const sessions = await Promise.all(writers.map(async (writer) => (JSON.parse(await writer.line(0)) as { session: SessionId }).session));
      const ackedBy = (index: number) => Math.max(0, ...writers[index]!.lines().map((line) => (JSON.parse(line) as { acked?: number }).acked ?? 0));
      // Killed mid-stream, one after the other, each with writes saved and not yet acknowledged.
      await until(() => ackedBy(0) > 100 && ackedBy(1) > 100, 30_000);
      for (const writer of writers) {
        writer.child.kill("SIGKILL");
        await until(() => writer.child.exitCode !== null || writer.child.signalCode !== null, 10_000);
      }
      const acked = [ackedBy(0), ackedBy(1)];

      // What the store kept of each session, read as the next start reads it.
      const stored = (await new FileLocalStore(dir).loadGroup(GROUP)).find((doc) => doc.id === created.id)!;
      const savedBy = sessions.map((session) => (stored.sessions[session] ?? []).map((transaction) => transaction.data));

      const next = await createClient({ url: relay.url, identity, store: new FileLocalStore(dir) });
      const reopened = await next.group(GROUP).open(created.id);
      await until(() => sessions.every((session, index) => countOf(reopened.relayKnown, session) === savedBy[index]!.length), 30_000);
      await next.close();

      const reader = await createClient({ url: relay.url, identity: createIdentity() });
      const read = await reader.group(GROUP).open(created.id);
      sessions.forEach((session, index) => {
        const atRelay = read.sessionTransactions(session).map((transaction) => transaction.data);
        // Every write the relay acknowledged is there, and every one the store saved, in the order written.
        expect(atRelay.length).toBeGreaterThanOrEqual(acked[index]!);
        expect(atRelay).toEqual(savedBy[index]);
        expect(atRelay).toEqual(Array.from({ length: atRelay.length }, (_, i) => `${["a", "b"][index]}-${i}`));
      });
      await reader.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a process that closes with writes unsent hands them to a live process on the store, which pushes them at once", async () => {
    const identity = createIdentity();
    const dir = mkdtempSync(join(tmpdir(), "weft-e2e-handoff-"));
    try {
      const live = await createClient({ url: relay.url, identity, store: new FileLocalStore(dir) });
      const group = live.group(GROUP);
      await group.openAll();
      // Another process of the app, cut off from the relay, creates a document, writes, and quits.
      const writer = spawnLineProcess(OFFLINE_WRITER, ["http://127.0.0.1:9", dir, exportIdentity(identity), GROUP, "create", "5"], children);
      const { doc, session } = JSON.parse(await writer.line(0)) as { doc: DocId; session: SessionId };
      expect(session).not.toBe(live.session);
      await until(() => writer.child.exitCode !== null, 20_000);

      await until(() => group.docs.some((held) => held.id === doc && countOf(held.relayKnown, session) === 5), 20_000);
      await live.close();
      const reader = await createClient({ url: relay.url, identity: createIdentity() });
      const read = await reader.group(GROUP).open(doc);
      expect(read.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(Array.from({ length: 5 }, (_, i) => `offline-${i}`));
      await reader.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("pushes the unsent writes of a session nobody holds any more, though the next client leases another", async () => {
    const identity = createIdentity();
    const dir = mkdtempSync(join(tmpdir(), "weft-e2e-orphans-"));
    try {
      // Two clients of the app write offline into one document, then go away before anything was sent.
      const offline = { url: "http://127.0.0.1:9", identity, store: new FileLocalStore(dir) };
      const first = await createClient(offline);
      const doc = first.group(GROUP).create({ meta: { title: "written offline" } });
      for (let i = 0; i < 10; i++) doc.append(`first-${i}`);
      const second = await createClient(offline);
      const same = await second.group(GROUP).open(doc.id);
      for (let i = 0; i < 10; i++) same.append(`second-${i}`);
      await Promise.all([first.close(), second.close()]);

      // One client starts: it holds one of the two sessions, and pushes the other's writes too.
      const next = await createClient({ url: relay.url, identity, store: new FileLocalStore(dir) });
      expect([first.session, second.session]).toContain(next.session);
      const other = next.session === first.session ? second.session : first.session;
      const reopened = await next.group(GROUP).open(doc.id);
      await reopened.synced();
      await until(() => countOf(reopened.relayKnown, other) === 10);
      await next.close();

      const reader = await createClient({ url: relay.url, identity: createIdentity() });
      const read = await reader.group(GROUP).open(doc.id);
      expect(read.sessionTransactions(first.session).map((transaction) => transaction.data)).toEqual(Array.from({ length: 10 }, (_, i) => `first-${i}`));
      expect(read.sessionTransactions(second.session).map((transaction) => transaction.data)).toEqual(Array.from({ length: 10 }, (_, i) => `second-${i}`));
      await reader.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
