// What a client pushes of sessions it does not hold: only its own agent's, only what the relay lacks, signed
// exactly as the session's holder would sign it, one frame in flight per session.
import { describe, expect, it } from "vitest";
import { GENESIS_HASH, chainHash, docIdOf, newHeader, verifyCheckpoint, type SessionId } from "../../../protocol/index.ts";
import { applyKnown, newDocState, resetInFlight, restoreDoc, type DocState } from "../../../client/core/doc-state.ts";
import { takeOrphanTails } from "../../../client/core/push.ts";
import { transactions } from "../../support/identity.ts";
import { header, id, orphan, own, stranger, writer } from "./agent-sessions.ts";
import { GROUP, coreScenario, knownLoad } from "./core-transcript.ts";

const stored = transactions(5, "orphan");

/** A document restored from a store holding 5 transactions of the orphan session, 2 of a stranger's and 1 own. */
function restored(relayHolds: Record<SessionId, number>): DocState {
  const doc = newDocState(id, header);
  restoreDoc(doc, own, { id, header, sessions: { [orphan]: stored, [stranger]: transactions(2, "stranger"), [own]: transactions(1, "own") } });
  applyKnown(doc, own, { header: true, sessions: relayHolds }, "load");
  return doc;
}

const take = (doc: DocState) => takeOrphanTails(doc, writer);

describe("takeOrphanTails", () => {
  it("pushes what the relay lacks of the agent's other sessions, signed as their holder would", async () => {
    const doc = restored({ [orphan]: 2 });
    const [frame, ...more] = take(doc);
    expect(more).toEqual([]);
    const chunk = frame!.sessions[orphan]!;
    expect(Object.keys(frame!.sessions)).toEqual([orphan]); // never its own (the document pushes that), never a stranger's
    expect(chunk.after).toBe(2);
    expect(chunk.transactions).toEqual(stored.slice(2));
    expect(await verifyCheckpoint(chunk.signature!, id, orphan, 5, chainHash(GENESIS_HASH, stored))).toBe(true);
  });

  it("sends nothing more for a session until the relay answers, and again after a reconnect", () => {
    const doc = restored({});
    expect(take(doc)).toHaveLength(1);
    expect(take(doc)).toEqual([]);
    resetInFlight(doc, own); // a reconnect
    expect(take(doc)).toHaveLength(1);
    applyKnown(doc, own, { header: true, sessions: { [orphan]: 5 } }, "ack");
    expect(take(doc)).toEqual([]);
  });

  it("waits until the relay has the document", () => {
    const doc = newDocState(id, header);
    restoreDoc(doc, own, { id, header, sessions: { [orphan]: stored } });
    expect(take(doc)).toEqual([]); // not loaded yet
    applyKnown(doc, own, { header: false, sessions: {} }, "load");
    expect(take(doc)).toEqual([]); // the relay lacks the header: the document's own push sends it first
  });
});

/** The writer's core, with a document of its own in the group (named "doc" in the transcript). */
function writerScenario() {
  const core = coreScenario(writer);
  const inGroup = newHeader({ group: GROUP, kind: "json", creator: writer.agent, createdAt: 1_700_000_000_000 });
  const doc = docIdOf(inGroup);
  core.name(doc, "doc");
  core.name(orphan, "orphan");
  return { core, inGroup, doc };
}

describe("tails its role may not write", () => {
  it("a reader holding its agent's unsent tails refuses them here, once, sends none, and sends them once it may write", () => {
    const { core, inGroup, doc } = writerScenario();
    core.start([{ id: doc, header: inGroup, sessions: { [orphan]: stored } }]);
    core.connect("reader");
    core.relay(knownLoad(doc, true, { [orphan]: 2 }));
    core.pump();
    core.pump();
    const asReader = core.transcript();
    expect(asReader.filter((line) => line.includes("content"))).toEqual([]);
    expect(asReader.filter((line) => line.includes("refused") || line.includes("report"))).toEqual(["c | refused doc n=3 forbidden", "c | report forbidden doc"]);
    core.feed({ type: "welcome", welcome: { type: "welcome", v: 1, role: "writer" } });
    core.pump();
    expect(core.transcript().filter((line) => line.includes("content"))).toEqual(["c -> relay | content doc orphan after=2 n=3"]);
  });

  it("tails of a document this agent may no longer read are pushed once its load is refused, and refused and surfaced by the relay's answer", () => {
    const { core, inGroup, doc } = writerScenario();
    // Written by the agent's previous client, which closed before the relay answered them: the store also
    // kept what the relay was last heard to hold.
    core.start([{ id: doc, header: inGroup, sessions: { [orphan]: stored }, relayHeld: { header: true, sessions: { [orphan]: 2 } } }]);
    core.connect("writer");
    core.relay({ type: "error", code: "forbidden", message: "forbidden: this agent may not read doc", doc });
    core.pump();
    expect(core.transcript().filter((line) => line.includes("content"))).toEqual(["c -> relay | content doc orphan after=2 n=3"]);
    core.relay({ type: "error", code: "forbidden", message: "forbidden: this agent may not write doc", doc });
    expect(core.transcript().filter((line) => line.includes("refused"))).toEqual(["c | refused doc n=3 forbidden"]);
  });
});

