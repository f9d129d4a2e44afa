// A long answer (an open, a directory listing, a load) streams over several events; what the peer may read
// is judged by its role at each slice, so a role change stored meanwhile applies to what is left of it.
import { describe, expect, it } from "vitest";
import { LOAD_FIRST_EVENT_ROWS, MAX_TRANSACTIONS_PER_FRAME, MEMBERS_KIND, OPEN_SLICE_DOCS, OPEN_SLICE_ROWS, docIdOf, type DocHeader, type DocId } from "../../protocol/index.ts";
import { transactions } from "../support/identity.ts";
import { GROUP, NOW, alice, bob, carol, scenario, writer } from "./relay-transcript.ts";

const header = (nonce: string, readers?: string[]): { id: DocId; header: DocHeader } => {
  const made = { group: GROUP, kind: "json", creator: alice.agent, createdAt: NOW, nonce, meta: {}, ...(readers ? { readers } : {}) } as DocHeader;
  return { id: docIdOf(made), header: made };
};

/** Alice founds the group's membership log and makes bob an admin; `setRole` stores another change. */
async function closedGroup() {
  const setting = scenario();
  await setting.connect("alice", alice);
  const log = (() => {
    const made = { group: GROUP, kind: MEMBERS_KIND, creator: alice.agent, createdAt: NOW, nonce: "members", meta: {} } as DocHeader;
    return { id: docIdOf(made), header: made };
  })();
  const ops = writer(alice, log);
  let at = NOW;
  const setRole = (agent: string, role: string) => setting.send("alice", ops([{ at: ++at, data: JSON.stringify({ op: "set", agent, role }) }], { header: at === NOW + 1 }));
  await setRole(bob.agent, "admin");
  await setting.connect("bob", bob);
  return { ...setting, setRole };
}

describe("a role lowered while an answer streams", () => {
  it("an admin demoted to writer while its open streams is sent no more documents restricted to others", async () => {
    const { send, setRole, transport, fireDueAlarms } = await closedGroup();
    // More public documents than one slice holds, and documents only carol (and admins) may read, in id order among them.
    const docs = [
      ...Array.from({ length: OPEN_SLICE_DOCS * 2 }, (_, i) => header(`public-${i}`)),
      ...Array.from({ length: 30 }, (_, i) => header(`carol-only-${i}`, [carol.agent])),
    ];
    for (const doc of docs) await send("alice", writer(alice, doc)(transactions(1), { header: true }));
    const restricted = new Set(docs.filter((doc) => doc.header.readers).map((doc) => doc.id));
    transport.lines.length = 0;

    await send("bob", { type: "open", known: {} }); // its first slice goes now, the rest at alarms
    const sentBefore = transport.lines.filter((line) => line.startsWith("relay -> bob") && line.includes("content"));
    const restrictedBefore = [...restricted].filter((id) => sentBefore.some((line) => line.includes(id.slice(0, 12))));
    expect(restrictedBefore.length).toBeLessThan(restricted.size); // some are still to come
    await setRole(bob.agent, "writer");
    transport.lines.length = 0;
    await fireDueAlarms();

    const after = transport.lines.filter((line) => line.startsWith("relay -> bob"));
    const restrictedAfter = [...restricted].filter((id) => after.some((line) => line.includes("content") && line.includes(id.slice(0, 12))));
    expect(restrictedAfter).toEqual([]);
    const opened = after.find((line) => line.includes("opened"));
    expect(opened).toContain(`opened docs=${docs.length - restricted.size + restrictedBefore.length + 1}`);
  });

  it("an admin demoted while its open is in the middle of a long document restricted to others is sent no more of it", async () => {
    const { send, setRole, transport, fireDueAlarms } = await closedGroup();
    const secret = header("carol-only-long", [carol.agent]);
    const write = writer(alice, secret);
    const total = OPEN_SLICE_ROWS * 3;
    for (let sent = 0; sent < total; sent += MAX_TRANSACTIONS_PER_FRAME) await send("alice", write(transactions(Math.min(MAX_TRANSACTIONS_PER_FRAME, total - sent), `t${sent}`), { header: sent === 0 }));
    transport.lines.length = 0;
    const received = () =>
      transport.lines.filter((line) => line.startsWith("relay -> bob") && line.includes("content") && line.includes(secret.id.slice(0, 12))).reduce((sum, line) => sum + Number(/ n=(\d+)/.exec(line)?.[1] ?? 0), 0);

    await send("bob", { type: "open", known: {} }); // its first slice goes now, the rest at alarms
    const before = received();
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(total);
    await setRole(bob.agent, "writer");
    await fireDueAlarms();
    expect(received()).toBe(before);
  });

  it("an admin demoted while a long load of a document restricted to others streams gets forbidden, and no more of it", async () => {
    const { send, setRole, transport, fireDueAlarms } = await closedGroup();
    const secret = header("carol-only", [carol.agent]);
    const write = writer(alice, secret);
    const total = LOAD_FIRST_EVENT_ROWS + 2_000;
    for (let sent = 0; sent < total; sent += MAX_TRANSACTIONS_PER_FRAME) await send("alice", write(transactions(MAX_TRANSACTIONS_PER_FRAME, `t${sent}`), { header: sent === 0 }));
    transport.lines.length = 0;

    await send("bob", { type: "load", doc: secret.id, known: { header: false, sessions: {} } });
    const received = () => transport.lines.filter((line) => line.startsWith("relay -> bob") && line.includes("content")).reduce((sum, line) => sum + Number(/ n=(\d+)/.exec(line)?.[1] ?? 0), 0);
    const firstEvent = received();
    expect(firstEvent).toBeGreaterThan(0);
    expect(firstEvent).toBeLessThan(total);
    await setRole(bob.agent, "writer");
    await fireDueAlarms();
    expect(received()).toBe(firstEvent);
    expect(transport.lines.filter((line) => line.startsWith("relay -> bob") && line.includes("error"))).toEqual([expect.stringContaining("forbidden")]);
  });

  it("a peer that is no longer a member when its long load goes on (the log was founded meanwhile) is refused and closed, not left waiting", async () => {
    const { connect, send, transport, fireDueAlarms } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const doc = header("public");
    const write = writer(alice, doc);
    const total = LOAD_FIRST_EVENT_ROWS + 2_000;
    for (let sent = 0; sent < total; sent += MAX_TRANSACTIONS_PER_FRAME) await send("alice", write(transactions(MAX_TRANSACTIONS_PER_FRAME, `t${sent}`), { header: sent === 0 }));
    await send("bob", { type: "load", doc: doc.id, known: { header: false, sessions: {} } });
    // Alice founds the membership log: from now on only members get in, and bob is not one. He is cut off
    // then, and the rest of his load is not sent.
    const log = { group: GROUP, kind: MEMBERS_KIND, creator: alice.agent, createdAt: NOW, nonce: "members", meta: {} } as DocHeader;
    transport.lines.length = 0;
    await send("alice", writer(alice, { id: docIdOf(log), header: log })([{ at: NOW + 1, data: JSON.stringify({ op: "set", agent: carol.agent, role: "writer" }) }], { header: true }));
    await fireDueAlarms();
    const toBob = transport.lines.filter((line) => line.includes("bob"));
    expect(toBob.filter((line) => line.includes("content"))).toEqual([]);
    expect(toBob).toEqual([expect.stringContaining("error unauthorized"), expect.stringMatching(/relay -x bob \| close 1008/)]);
  });
});
