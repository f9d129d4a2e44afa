// A session changes hands: its holder dies with frames in flight, and the next leaseholder (another tab or
// process on the same store) pushes the session's stored, unacknowledged tail again. Both push identical
// bytes (the same transactions, the same deterministic Ed25519 signature), so whichever arrives second is
// answered with a correction and nothing is stored twice. This is what lets leases hand sessions over.
import { describe, expect, it } from "vitest";
import { transactions } from "../../support/identity.ts";
import { alice, doc1, scenario, writer } from "../relay-transcript.ts";

const tail = transactions(3, "tail");
/** The session's frames as any holder signs them: the tail (with the header), then one more transaction. */
function frames() {
  const push = writer(alice, doc1);
  return { tail: push(tail, { header: true }), next: push(transactions(1, "next")) };
}

describe("a session's unacknowledged tail pushed by two holders in turn", () => {
  it("is stored once when the old holder's frame arrived first", async () => {
    const { connect, send, close, store, transcript } = scenario();
    await connect("old", alice);
    await send("old", frames().tail);
    await close("old"); // it died before it heard the ack
    await connect("new", alice);
    transcript();
    const { tail: same, next } = frames(); // the new holder signs the same stored bytes
    await send("new", same);
    await send("new", next);
    const lines = transcript().split("\n");
    expect(lines[0]).toBe("new -> relay | content doc1 +header alice after=0 n=3");
    expect(lines[1]).toMatch(/^relay -> new \| known doc1 .*correction$/);
    expect(lines[2]).toBe("new -> relay | content doc1 alice after=3 n=1");
    expect(lines[3]).toMatch(/^relay -> new \| known doc1 .*ack$/);
    expect(store.knownState(doc1.id).sessions).toEqual({ [alice.session]: 4 });
  });

  it("is stored once when the old holder's frame arrives after the new holder's", async () => {
    const { connect, send, store, transcript } = scenario();
    await connect("old", alice);
    await connect("new", alice);
    transcript();
    await send("new", frames().tail);
    await send("old", frames().tail); // was still on its way when the old holder's process died
    const lines = transcript().split("\n");
    expect(lines[1]).toMatch(/^relay -> new \| known doc1 .*ack$/);
    expect(lines[2]).toBe("old -> relay | content doc1 +header alice after=0 n=3");
    expect(lines[3]).toMatch(/^relay -> old \| known doc1 .*correction$/);
    expect(store.knownState(doc1.id).sessions).toEqual({ [alice.session]: 3 });
  });
});
