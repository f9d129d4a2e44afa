import { describe, expect, it } from "vitest";
import { connect } from "./socket.ts";
import { signedChunk, testAgent, testHeader, transactions } from "../support/identity.ts";

describe("smoke", () => {
  it("handshakes, creates, appends, fans out", async () => {
    const alice = testAgent(1);
    const bob = testAgent(2);
    const a = await connect("g1", alice);
    const b = await connect("g1", bob);
    const { id, header } = testHeader(alice, "g1");
    b.send({ type: "load", doc: id, known: { header: false, sessions: {} } });
    expect(await b.next("known")).toMatchObject({ header: false, reason: "load" });
    const { chunk } = signedChunk(alice, id, 0, transactions(3));
    a.send({ type: "content", doc: id, header, sessions: { [alice.session]: chunk } });
    expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: 3 } });
    const content = await b.next("content");
    expect(content.sessions[alice.session]?.transactions).toHaveLength(3);
    await a.close();
    await b.close();
  });
});
