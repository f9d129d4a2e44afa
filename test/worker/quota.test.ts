// Per-agent quota in a group (issue 10, item 9): one agent cannot fill a group's storage with documents.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_DOCS_PER_AGENT } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { closedGroup, docHeader, nextOf } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, sqlRows, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const greedy = testAgent(31);
const other = testAgent(32);

describe("per-agent quota", () => {
  it(`an agent's document past ${MAX_DOCS_PER_AGENT.toLocaleString("en")} is refused with quota_exceeded; the connection and other agents go on`, async () => {
    const group = uniqueGroup("quota-docs");
    const peer = await connect(group, greedy);
    for (let first = 0; first < MAX_DOCS_PER_AGENT; first += 2_500) {
      const docs = Array.from({ length: Math.min(2_500, MAX_DOCS_PER_AGENT - first) }, (_, i) => docHeader(greedy, group, `q-${first + i}`));
      peer.send({ type: "batch", messages: docs.map(({ id, header }) => ({ type: "content", doc: id, header, sessions: {} })) });
      await peer.next("known", (k) => k.doc === docs.at(-1)!.id, 60_000);
      peer.inbox.length = 0;
    }
    const extra = docHeader(greedy, group, "one-too-many");
    peer.send({ type: "content", doc: extra.id, header: extra.header, sessions: {} });
    expect(await nextOf(peer, (m) => m.type === "error" || (m.type === "known" && m.doc === extra.id))).toMatchObject({
      type: "error",
      code: "quota_exceeded",
      doc: extra.id,
    });
    expect(await sqlRows(group, "SELECT id FROM docs WHERE id = ?", extra.id)).toEqual([]);
    peer.send({ type: "dir", since: 1_000_000_000 });
    expect(await peer.next("dir")).toMatchObject({ docs: [] }); // still connected

    const theirs = await connect(group, other);
    const own = docHeader(other, group, "not-greedy");
    theirs.send({ type: "content", doc: own.id, header: own.header, sessions: {} });
    expect(await theirs.next("known", (k) => k.doc === own.id)).toMatchObject({ reason: "ack" });
    await Promise.all([peer.close(), theirs.close()]);
  }, 120_000);

  it("a deleted document no longer counts against its creator", async () => {
    const { group, adminPeer } = await closedGroup("quota-delete", other);
    const usage = async () => (await sqlRows<{ docs: number; sessions: number }>(group, "SELECT docs, sessions FROM agent_usage WHERE agent = ?", other.agent))[0];
    const doc = docHeader(other, group, "to-delete");
    adminPeer.send(new SessionWriter(other, doc.id).content(transactions(2), doc.header));
    await adminPeer.next("known", (k) => k.doc === doc.id);
    expect(await usage()).toEqual({ docs: 2, sessions: 1 }); // the membership log (no operations yet) and this document
    adminPeer.send({ type: "delete", doc: doc.id });
    await adminPeer.next("deleted");
    expect(await usage()).toEqual({ docs: 1, sessions: 0 });
    await adminPeer.close();
  });
});
