// A group whose members sit idle with the SDK, showing presence, lets its object hibernate: the runtime
// answers the SDK's pings, the relay keeps no timer, and its alarms (the handshake deadline, silent peers)
// come only when due. Against the real relay in workerd (weft/dev's startRelay), which evicts an object 10 s
// after its last event; the object's instance id (from the relay's SQL meter) tells an eviction. The
// members notice nothing: they stay live, their presence stays shown, and a write after it flows as before.
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Status } from "../../client/index.ts";
import { startRelay } from "../../dev/start-relay.ts";
import { groupSqlStats } from "../support/sql-stats.ts";
import { sleep, until } from "../support/wait.ts";

const GROUP = "idle";

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

describe("members idle with the SDK, showing presence", () => {
  it("let the group's object hibernate, and notice nothing of it", { timeout: 90_000 }, async () => {
    const relay = await startRelay({ vars: { WEFT_SQL_STATS: "true" } });
    cleanups.push(() => relay.stop());
    /** The object's instance id, and the statements it ran: none in one that only this request woke. */
    const meter = () => groupSqlStats(relay.url, GROUP);
    const [aliceId, bobId] = [createIdentity(), createIdentity()];
    const [alice, bob] = [await createClient({ url: relay.url, identity: aliceId }), await createClient({ url: relay.url, identity: bobId })];
    cleanups.push(() => alice.close(), () => bob.close());
    const written = alice.group(GROUP).create({ kind: "json" });
    written.append("before");
    await written.synced();
    const read = await bob.group(GROUP).open(written.id);
    await read.loaded();
    written.presence.set({ cursor: 1 });
    read.presence.set({ cursor: 2 });
    const shown = (presence: typeof read.presence, agent: string) => [...presence.peers.values()].find((peer) => peer.agent === agent)?.state;
    await until(() => shown(read.presence, aliceId.agent) !== undefined && shown(written.presence, bobId.agent) !== undefined);
    const changes: Status[] = [];
    for (const group of [alice.group(GROUP), bob.group(GROUP)]) cleanups.push(group.onStatus((status) => changes.push(status)));

    // Idle: evicted 10 s after the last event, the handshake deadline's alarm (10 s after the last
    // connection) among them. A check is an event too, so the next one comes 15 s later.
    const awake = await meter();
    let now = awake;
    for (let checks = 0; now.instance === awake.instance && checks < 3; checks++) {
      await sleep(checks === 0 ? 22_000 : 15_000);
      now = await meter();
    }
    // Evicted, and nothing woke it again before this check: no frame from the members meanwhile.
    expect(now.instance).not.toBe(awake.instance);
    expect(now.statements).toBe(0);

    expect(changes).toEqual([]);
    expect(alice.group(GROUP).status).toBe("live");
    expect(bob.group(GROUP).status).toBe("live");
    written.append("after");
    await until(() => read.transactions().length === 2);
    expect(read.transactions().map((transaction) => transaction.data)).toEqual(["before", "after"]);
    expect(shown(read.presence, aliceId.agent)).toEqual({ cursor: 1 });
    expect(shown(written.presence, bobId.agent)).toEqual({ cursor: 2 });
  });
});
