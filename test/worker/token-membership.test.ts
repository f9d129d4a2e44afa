// App tokens against the membership log over real sockets and SQLite (the worker project binds the token
// secret): the log may lower or revoke what a token grants, never raise it, and the relay remembers a
// removal across restarts, also in storage written before it remembered removals.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { testAgent, transactions } from "../support/identity.ts";
import { SqliteStore } from "../../worker/sqlite-store.ts";
import { admit, changeMembers, closedGroup, docHeader, expectCutOff, expectHelloRefused, mintToken, remove, setRole } from "./groups-helpers.ts";
import { SessionWriter, allRows, closeAll, emptyKnown, groupStub, sqlRows, storedLog } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(91);
const bob = testAgent(92);
const tess = testAgent(93); // never named by the log

describe("tokens under a membership log", () => {
  it("a removed writer with a valid token is cut off at once, stores nothing more, and is refused when it comes back", async () => {
    const { group, adminPeer, log } = await closedGroup("tokmem-remove", alice, [[bob, "writer"]]);
    const doc = docHeader(alice, group, "shared");
    adminPeer.send(new SessionWriter(alice, doc.id).content(transactions(1, "hello"), doc.header));
    await adminPeer.next("known", (k) => k.doc === doc.id);
    const token = await mintToken({ sub: bob.agent, group, role: "writer" });
    const { peer, welcome } = await admit(group, bob, token);
    expect(welcome.role).toBe("writer");
    peer.send({ type: "load", doc: doc.id, known: emptyKnown });
    await peer.next("known", (k) => k.reason === "load");

    expect(await changeMembers(adminPeer, log, [remove(bob)])).toMatchObject({ type: "known", reason: "ack" });
    await expectCutOff(peer, "unauthorized");
    // A write sent after the removal reaches no storage (the socket is closed; were it not, it would be refused).
    const rows = await allRows(group);
    try {
      peer.send(new SessionWriter(bob, doc.id).content(transactions(1, "after removal")));
    } catch {
      // the socket is already closed on this side
    }
    expect(await storedLog(group, doc.id, bob.session)).toEqual([]);
    expect(await allRows(group)).toEqual(rows);

    // The same token, still valid: refused like any non-member, also by a fresh instance from storage.
    await expectHelloRefused(group, bob, "unauthorized", token);
    await evictDurableObject(groupStub(group), { webSockets: "close" });
    await expectHelloRefused(group, bob, "unauthorized", token);

    // Until an admin sets a role again: then the lower of the token's and the log's.
    const again = await admit(group, alice);
    expect(await changeMembers(again.peer, log, [setRole(bob, "reader")])).toMatchObject({ type: "known", reason: "ack" });
    expect((await admit(group, bob, token)).welcome.role).toBe("reader");
  });

  it("a writer token holder demoted to reader has its next write refused; nothing of it is stored", async () => {
    const { group, adminPeer, log } = await closedGroup("tokmem-demote", alice, [[bob, "writer"]]);
    const { peer } = await admit(group, bob, await mintToken({ sub: bob.agent, group, role: "writer" }));
    const doc = docHeader(bob, group, "bobs");
    const bobLog = new SessionWriter(bob, doc.id);
    peer.send(bobLog.content(transactions(1, "as writer"), doc.header));
    expect(await peer.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack" });

    expect(await changeMembers(adminPeer, log, [setRole(bob, "reader")])).toMatchObject({ type: "known", reason: "ack" });
    expect(await peer.next("welcome")).toMatchObject({ role: "reader" });
    // Made an admin in the log: no more than the token's writer. Then a writer in the log: no change, no welcome.
    expect(await changeMembers(adminPeer, log, [setRole(bob, "admin")])).toMatchObject({ type: "known", reason: "ack" });
    expect(await peer.next("welcome")).toMatchObject({ role: "writer" });
    expect(await changeMembers(adminPeer, log, [setRole(bob, "writer")])).toMatchObject({ type: "known", reason: "ack" });
    await peer.sync();
    expect(peer.drain("welcome")).toEqual([]);
    expect(await changeMembers(adminPeer, log, [setRole(bob, "reader")])).toMatchObject({ type: "known", reason: "ack" });
    expect(await peer.next("welcome")).toMatchObject({ role: "reader" });
    const rows = await allRows(group);
    peer.send(bobLog.content(transactions(1, "as reader")));
    expect(await peer.next("error")).toMatchObject({ code: "forbidden", doc: doc.id });
    expect(await allRows(group)).toEqual(rows);
  });

  it("an agent the log never named gets its token's role; one it removed before it was a member does not", async () => {
    const { group, adminPeer, log } = await closedGroup("tokmem-never", alice);
    expect((await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "writer" }))).welcome.role).toBe("writer");
    expect(await changeMembers(adminPeer, log, [remove(bob)])).toMatchObject({ type: "known", reason: "ack" });
    await expectHelloRefused(group, bob, "unauthorized", await mintToken({ sub: bob.agent, group, role: "admin" }));
  });

  it("storage from before removals were remembered learns them from its membership log at the next start", async () => {
    const { group, adminPeer, log } = await closedGroup("tokmem-migrate", alice, [[bob, "writer"], [tess, "reader"]]);
    expect(await changeMembers(adminPeer, log, [remove(bob), remove(tess), setRole(tess, "writer")])).toMatchObject({ type: "known", reason: "ack" });
    expect(await sqlRows(group, "SELECT agent FROM removed_members")).toEqual([{ agent: bob.agent }]);
    // The table as an earlier version left storage: absent, and no schema mark (that version wrote none).
    await runInDurableObject(groupStub(group), (_instance, state) => {
      state.storage.sql.exec("DROP TABLE removed_members");
      state.storage.sql.exec("DELETE FROM meta WHERE key = 'schema_mark'");
    });
    await evictDurableObject(groupStub(group), { webSockets: "close" });

    const token = await mintToken({ sub: bob.agent, group, role: "writer" });
    await expectHelloRefused(group, bob, "unauthorized", token);
    expect(await sqlRows(group, "SELECT agent FROM removed_members")).toEqual([{ agent: bob.agent }]);
    expect((await admit(group, tess, await mintToken({ sub: tess.agent, group, role: "admin" }))).welcome.role).toBe("writer");
    // The store's members are still only the current ones.
    await runInDurableObject(groupStub(group), (_instance, state) => {
      const store = new SqliteStore(state.storage.sql, (fn) => state.storage.transactionSync(fn));
      expect([...store.members().keys()].sort()).toEqual([alice.agent, tess.agent].sort());
    });
  });
});
