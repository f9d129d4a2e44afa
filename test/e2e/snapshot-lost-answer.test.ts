// A snapshot whose answer is lost (issue 13): the relay stores it, the connection drops before its author
// hears so, and meanwhile a newer snapshot from another device of its agent replaces it (only a document's
// creator or an admin may snapshot it). On reconnect the author sends it
// again; the relay answers with the newer one, and the author's `doc.snapshot()` resolves: a snapshot
// covering at least as much is stored. Real relay (weft/dev's startRelay), real SDK, a TCP proxy between
// the author and the relay that holds the relay's answers and then cuts the connection.
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Doc } from "../../client/index.ts";
import { startRelay } from "../../dev/start-relay.ts";
import { countOf } from "../../protocol/index.ts";
import { startProxy } from "../support/proxy.ts";
import { until } from "../support/wait.ts";

const FAST_RETRY = { baseMs: 50, capMs: 500, minUptimeMs: 1_000 };

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** Resolves once `doc` heard that the relay stored a snapshot by `session`. */
const untilSnapshottedBy = (doc: Doc, session: string) => until(() => doc.lastSnapshotted?.session === session, 20_000);

describe("a snapshot whose answer was lost", () => {
  it("resolves after a reconnect, though another device's newer snapshot replaced it meanwhile; nothing is reported as refused", { timeout: 60_000 }, async () => {
    const relay = await startRelay();
    cleanups.push(() => relay.stop());
    const proxy = await startProxy({ port: Number(new URL(relay.url).port) });
    cleanups.push(() => proxy.close());
    const identity = createIdentity();
    const alice = await createClient({ url: proxy.url, identity, backoff: FAST_RETRY });
    // Alice's other device: another session of the document's creator, which may snapshot it too.
    const bob = await createClient({ url: relay.url, identity });
    cleanups.push(() => alice.close(), () => bob.close());
    const errors: string[] = [];
    // The cut itself is reported (a ConnectionError); a refusal from the relay would be a RelayError.
    alice.group("team").onError((error) => error.name === "RelayError" && errors.push(error.message));

    const doc = alice.group("team").create({});
    for (const data of ["a0", "a1", "a2"]) doc.append(data);
    await doc.synced();
    const bobs = await bob.group("team").open(doc.id);
    bobs.append("b0");
    await bobs.synced();
    await until(() => countOf(doc.relayKnown, bob.session) === 1);

    // Alice's snapshot reaches the relay, which stores it (bob hears so); its answer to her is held.
    proxy.holdReplies();
    const taking = doc.snapshot("a0 a1 a2 b0");
    let outcome = "pending";
    taking.then(() => (outcome = "resolved"), (error: Error) => (outcome = `rejected: ${error.message}`));
    await untilSnapshottedBy(bobs, alice.session);
    // The other device goes on and snapshots more; the relay replaces the first snapshot with its own.
    bobs.append("b1");
    await bobs.synced();
    await bobs.snapshot("a0 a1 a2 b0 b1");
    expect(outcome).toBe("pending");

    // Alice's connection drops with the answer: her client reconnects, sends the snapshot again and is answered with bob's.
    proxy.cut();
    proxy.restore();
    await taking;
    expect(outcome).toBe("resolved");
    expect(doc.lastSnapshotted).toEqual({ session: bob.session, covers: { [alice.session]: 3, [bob.session]: 2 } });
    expect(errors).toEqual([]);
    // The document goes on: alice's next write reaches bob.
    doc.append("a3");
    await doc.synced();
    await until(() => bobs.transactions().some((transaction) => transaction.data === "a3"));
  });
});
