// The membership log over real sockets and SQLite: genesis closes a group, only admins change it, it keeps
// an admin, its operations never go back in time, and what the relay enforces is what clients replay.
import { afterEach, describe, expect, it } from "vitest";
import { agentOfSession, parseMemberOp, replayMembers, type MemberOp, type SessionId } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { MEMBERS_EPOCH, MemberLog, admit, changeMembers, closedGroup, docHeader, expectHelloRefused, membersHeader, remove, setRole } from "./groups-helpers.ts";
import { SessionWriter, allRows, closeAll, connect, sqlRows, storedLog, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(61);
const bob = testAgent(62);
const carol = testAgent(63);
const outsider = testAgent(64);

describe("membership log", () => {
  it("genesis makes its creator admin; members are welcomed with their role, an outsider gets nothing", async () => {
    const group = uniqueGroup("mem-genesis");
    const { peer: before, welcome: openWelcome } = await admit(group, carol);
    expect(openWelcome).toMatchObject({ role: "writer" });
    expect(openWelcome.members).toBeUndefined();
    const { id, header } = membersHeader(alice, group);
    const log = new MemberLog(alice, id, header);
    const a = await connect(group, alice);
    a.send(log.ops([setRole(bob, "writer"), setRole(carol, "reader")], { withHeader: true }));
    expect(await a.next("known")).toMatchObject({ doc: id, reason: "ack", sessions: { [alice.session]: 2 } });

    const welcomes = [];
    for (const who of [alice, bob, carol]) {
      const { peer, welcome } = await admit(group, who);
      welcomes.push({ role: welcome.role, members: welcome.members });
      await peer.close();
    }
    expect(welcomes).toEqual([
      { role: "admin", members: id },
      { role: "writer", members: id },
      { role: "reader", members: id },
    ]);
    await expectHelloRefused(group, outsider, "unauthorized");

    // Carol was admitted while the group was open; her next frame is judged by the log (reader: read only).
    const doc = docHeader(carol, group, "after-genesis");
    before.send(new SessionWriter(carol, doc.id).content(transactions(1), doc.header));
    expect(await before.next("error")).toMatchObject({ code: "forbidden", doc: doc.id });
    expect(await sqlRows(group, "SELECT id FROM docs WHERE id = ?", doc.id)).toEqual([]);
    await Promise.all([a.close(), before.close()]);
  });

  it("a second membership log is bad_header, whoever sends it; nothing is stored", async () => {
    const { group, adminPeer, membersDoc } = await closedGroup("mem-second", alice, [[bob, "writer"]]);
    const rows = await allRows(group);
    const b = await connect(group, bob);
    for (const [peer, who] of [[adminPeer, alice], [b, bob]] as const) {
      const second = membersHeader(who, group, `second-${who === alice ? "a" : "b"}`);
      peer.send(new MemberLog(who, second.id, second.header).ops([setRole(outsider, "admin")], { withHeader: true }));
      expect(await peer.next("error")).toMatchObject({ code: "bad_header", doc: second.id });
    }
    expect(await sqlRows(group, "SELECT id FROM docs")).toEqual([{ id: membersDoc }]);
    expect(await allRows(group)).toEqual(rows);
    await expectHelloRefused(group, outsider, "unauthorized");
    await Promise.all([adminPeer.close(), b.close()]);
  });

  it("a writer writing the membership log is forbidden, and its role does not change", async () => {
    const { group, adminPeer, membersDoc, log } = await closedGroup("mem-nonadmin", alice, [[bob, "writer"]]);
    const b = await connect(group, bob);
    const bobLog = new MemberLog(bob, membersDoc, log.header);
    expect(await changeMembers(b, bobLog, [setRole(bob, "admin")])).toMatchObject({ code: "forbidden", doc: membersDoc });
    expect(await changeMembers(b, bobLog, [setRole(outsider, "writer")])).toMatchObject({ code: "forbidden" });
    expect(await storedLog(group, membersDoc, bob.session)).toEqual([]);
    await b.close();
    const { peer: again, welcome } = await admit(group, bob);
    expect(welcome.role).toBe("writer");
    await expectHelloRefused(group, outsider, "unauthorized");
    // Bob is still a writer, not an admin: deleting is refused.
    again.send({ type: "delete", doc: docHeader(bob, group, "nothing").id });
    expect(await again.next("error")).toMatchObject({ code: "forbidden" });
    await Promise.all([adminPeer.close(), again.close()]);
  });

  it("the last admin can be neither removed nor demoted; with a second admin, it can", async () => {
    const { group, adminPeer, log, membersDoc } = await closedGroup("mem-lastadmin", alice, [[bob, "writer"]]);
    expect(await changeMembers(adminPeer, log, [remove(alice)])).toMatchObject({ code: "forbidden", message: expect.stringContaining("admin") });
    expect(await changeMembers(adminPeer, log, [setRole(alice, "writer")])).toMatchObject({ code: "forbidden" });
    expect(await storedLog(group, membersDoc, alice.session)).toHaveLength(1);
    const b = await connect(group, bob);
    expect(await changeMembers(adminPeer, log, [setRole(bob, "admin")])).toMatchObject({ type: "known", reason: "ack" });
    expect(await changeMembers(adminPeer, log, [remove(alice)])).toMatchObject({ type: "known", reason: "ack" });
    // Alice removed herself: her socket is cut off, and Bob, now the only admin, cannot leave either.
    expect(await adminPeer.next("error")).toMatchObject({ code: "unauthorized" });
    expect((await adminPeer.closed).code).toBe(1008);
    expect(await changeMembers(b, new MemberLog(bob, membersDoc, log.header), [remove(bob)])).toMatchObject({ code: "forbidden" });
    await expectHelloRefused(group, alice, "unauthorized");
    await b.close();
  });

  it("operations going back in time are refused whole; the same instant or later is accepted", async () => {
    const { group, adminPeer, log, membersDoc } = await closedGroup("mem-time", alice);
    const t = MEMBERS_EPOCH + 1_000;
    expect(await changeMembers(adminPeer, log, [setRole(bob, "writer")], t)).toMatchObject({ type: "known", reason: "ack" });
    const refused = await changeMembers(adminPeer, log, [setRole(carol, "writer")], t - 1);
    expect(refused).toMatchObject({ code: "forbidden", message: expect.stringContaining("back in time") });
    // One frame whose operations go backwards between them is refused whole, even the first one.
    adminPeer.send(log.writer.content([{ at: t + 5, data: JSON.stringify(setRole(carol, "writer")) }, { at: t + 4, data: JSON.stringify(remove(bob)) }]));
    expect(await adminPeer.next("error")).toMatchObject({ code: "forbidden" });
    log.rollback();
    expect((await storedLog(group, membersDoc, alice.session)).map((row) => row.at)).toEqual([t]);
    await expectHelloRefused(group, carol, "unauthorized");
    expect(await changeMembers(adminPeer, log, [setRole(carol, "reader")], t)).toMatchObject({ type: "known", reason: "ack" });
    const c = await connect(group, carol);
    await Promise.all([adminPeer.close(), c.close()]);
  });

  it("refuses an operation that would sort before the newest one, so relay and replay agree (equal `at`)", async () => {
    const { group, adminPeer, log, membersDoc } = await closedGroup("mem-replay", alice);
    const t = MEMBERS_EPOCH + 50;
    const laterSession = new MemberLog(testAgent(61, "session-bb"), membersDoc, log.header);
    const earlierSession = new MemberLog(testAgent(61, "session-aa"), membersDoc, log.header);
    expect(await changeMembers(adminPeer, laterSession, [setRole(bob, "writer")], t)).toMatchObject({ reason: "ack" });
    expect(await changeMembers(adminPeer, earlierSession, [setRole(bob, "reader")], t)).toMatchObject({ type: "error", code: "forbidden" });

    // The membership log as stored, in replay order: by time, then session, then index.
    const rows = (await allRows(group))
      .filter((row) => row.doc === membersDoc)
      .sort((a, b) => a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.idx - b.idx));
    const ops = rows.map((row) => ({ author: agentOfSession(row.session as SessionId), op: parseMemberOp(row.data) as MemberOp }));
    const replayed = replayMembers(alice.agent, ops);
    expect(replayed.get(bob.agent)).toBe("writer"); // every client computes this
    const { peer: b, welcome } = await admit(group, bob);
    expect(welcome.role).toBe(replayed.get(bob.agent)); // and the relay enforces the same
    await Promise.all([adminPeer.close(), b.close()]);
  });

  it("a member of another group gets nothing here", async () => {
    const home = await closedGroup("mem-home", alice, [[bob, "admin"]]);
    const away = await closedGroup("mem-away", carol);
    await expectHelloRefused(away.group, bob, "unauthorized");
    await expectHelloRefused(away.group, alice, "unauthorized");
    await Promise.all([home.adminPeer.close(), away.adminPeer.close()]);
  });
});
