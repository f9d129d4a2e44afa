// The handshake over a real socket: challenge, signed hello, welcome, and every way a hello is refused.
import { afterEach, describe, expect, it } from "vitest";
import { PROTOCOL_VERSION, agentIdOf, batchFrame, encodeForBatch, helloMessage, isSessionId, sign, toBase64Url, verify, type ClientMessage } from "../../protocol/index.ts";
import { helloFrame, testAgent, testHeader, transactions } from "../support/identity.ts";
import { AUTO_PING, SessionWriter, closeAll, connect, emptyKnown, openSocket, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(11);
const mallory = testAgent(12);

/** Asserts the relay answered with one error of `code`, then closed the socket with `closeCode`. */
async function expectRefused(peer: Peer, code: string, closeCode: number) {
  expect(await peer.next("error")).toMatchObject({ code });
  expect((await peer.closed).code).toBe(closeCode);
  expect(peer.inbox.filter((m) => m.type === "welcome")).toEqual([]);
}

describe("handshake", () => {
  it("the challenge carries v=1 and a fresh nonce per connection", async () => {
    const group = uniqueGroup("hs-challenge");
    const peers = await Promise.all([openSocket(group), openSocket(group), openSocket(uniqueGroup("hs-other"))]);
    const challenges = await Promise.all(peers.map((peer) => peer.next("challenge")));
    for (const challenge of challenges) {
      expect(challenge.v).toBe(PROTOCOL_VERSION);
      expect(challenge.nonce).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    }
    expect(new Set(challenges.map((c) => c.nonce)).size).toBe(3);
    await Promise.all(peers.map((peer) => peer.close()));
  });

  it("a good hello is welcomed with the agent's role", async () => {
    const group = uniqueGroup("hs-welcome");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    peer.send(helloFrame(alice, group, nonce));
    expect(await peer.next("welcome")).toEqual({ type: "welcome", v: PROTOCOL_VERSION, role: "writer" });
    expect(isSessionId(alice.session)).toBe(true);
    // The connection is usable: a load is answered.
    const { id } = testHeader(alice, group);
    peer.send({ type: "load", doc: id, known: emptyKnown });
    expect(await peer.next("known")).toMatchObject({ doc: id, reason: "load", header: false });
    await peer.close();
  });

  it("frames sent right behind the hello, before its welcome, are handled after it", async () => {
    const group = uniqueGroup("hs-pipelined");
    const writer = await openSocket(group);
    const { nonce: writerNonce } = await writer.next("challenge");
    const { id, header } = testHeader(alice, group);
    const log = new SessionWriter(alice, id);
    // hello, content and load in one burst: the SDK's resume does not wait for the welcome.
    writer.send(helloFrame(alice, group, writerNonce));
    writer.send(log.content(transactions(3), header));
    expect(await writer.next("welcome")).toMatchObject({ role: "writer" });
    expect(await writer.next("known", (m) => m.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 3 } });

    const reader = await openSocket(group);
    const { nonce } = await reader.next("challenge");
    reader.send(helloFrame(mallory, group, nonce));
    reader.send({ type: "load", doc: log.doc, known: emptyKnown });
    expect(await reader.next("welcome")).toMatchObject({ role: "writer" });
    const content = await reader.next("content");
    expect(content.sessions[alice.session]?.transactions).toEqual(transactions(3));
    expect(await reader.next("known")).toMatchObject({ doc: log.doc, reason: "load", sessions: { [alice.session]: 3 } });
    expect(reader.received.map((frame) => frame.type)).toEqual(["challenge", "welcome", "content", "known"]);
  });

  it("a batch of hello, content and load is handled in order, and answered in one frame", async () => {
    const group = uniqueGroup("hs-batch");
    const { id, header } = testHeader(alice, group);
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    const frames = [helloFrame(alice, group, nonce), new SessionWriter(alice, id).content(transactions(2), header), { type: "load", doc: id, known: emptyKnown }];
    const before = peer.received.length;
    const framesBefore = peer.frames;
    peer.sendRaw(batchFrame(frames.map((message) => encodeForBatch(message as ClientMessage))));
    expect(await peer.next("known", (m) => m.reason === "load")).toMatchObject({ doc: id, sessions: { [alice.session]: 2 } });
    const answered = peer.received.slice(before);
    expect(answered.map((frame) => frame.type)).toEqual(["welcome", "known", "content", "known"]);
    // welcome and ack go out when the content is committed, the load's answer before its subscription is.
    expect(peer.frames - framesBefore).toBe(2);
  });

  it("a batch whose hello is refused handles nothing after it", async () => {
    const group = uniqueGroup("hs-batch-refused");
    const { id, header } = testHeader(mallory, group);
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    const badHello = { ...helloFrame(mallory, group, nonce), signature: toBase64Url(sign(helloMessage(group, mallory.session, "another-nonce"), mallory.secretKey)) };
    peer.sendRaw(batchFrame([badHello, new SessionWriter(mallory, id).content(transactions(1), header)].map((message) => encodeForBatch(message as ClientMessage))));
    await expectRefused(peer, "unauthorized", 1008);
    const reader = await connect(group, alice);
    reader.send({ type: "load", doc: id, known: emptyKnown });
    expect(await reader.next("known")).toMatchObject({ doc: id, header: false, sessions: {} });
  });

  it("a frame pipelined behind a refused hello is not handled", async () => {
    const group = uniqueGroup("hs-pipelined-refused");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    const { id, header } = testHeader(mallory, group);
    peer.send({ ...helloFrame(mallory, group, nonce), signature: toBase64Url(sign(helloMessage(group, mallory.session, "another-nonce"), mallory.secretKey)) });
    peer.send(new SessionWriter(mallory, id).content(transactions(1), header));
    await expectRefused(peer, "unauthorized", 1008);
    const reader = await connect(group, alice);
    reader.send({ type: "load", doc: id, known: emptyKnown });
    expect(await reader.next("known")).toMatchObject({ doc: id, header: false, sessions: {} });
  });

  it("a wrong protocol version is unsupported_version and close 1002", async () => {
    const group = uniqueGroup("hs-version");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    peer.send({ ...helloFrame(alice, group, nonce), v: PROTOCOL_VERSION + 1 });
    await expectRefused(peer, "unsupported_version", 1002);
  });

  it("a hello with a bad signature is unauthorized and close 1008", async () => {
    const group = uniqueGroup("hs-badsig");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    // Mallory signs exactly what Alice would sign, with her own key.
    const signature = toBase64Url(sign(helloMessage(group, alice.session, nonce), mallory.secretKey));
    peer.send({ ...helloFrame(alice, group, nonce), signature });
    await expectRefused(peer, "unauthorized", 1008);
  });

  it("a hello as the agent whose key is the identity point, signed without any secret, is unauthorized", async () => {
    const group = uniqueGroup("hs-keyless");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    // R = identity, S = 0 verifies for every message under a key of small order (protocol/public-key.ts).
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    const agent = agentIdOf(identityPoint);
    const signature = new Uint8Array(64);
    signature[0] = 1;
    expect(await verify(signature, helloMessage(group, `${agent}~anyoneanyone`, nonce), identityPoint)).toBe(true); // what the runtime's verify takes
    peer.send({ type: "hello", v: PROTOCOL_VERSION, agent, session: `${agent}~anyoneanyone`, group, signature: toBase64Url(signature) });
    await expectRefused(peer, "unauthorized", 1008);
  });

  it("a hello claiming a session of another agent is unauthorized", async () => {
    const group = uniqueGroup("hs-session");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    peer.send({ ...helloFrame(mallory, group, nonce), session: alice.session });
    await expectRefused(peer, "unauthorized", 1008);
  });

  it("replaying another connection's hello (signed for its nonce) is unauthorized", async () => {
    const group = uniqueGroup("hs-replay");
    const first = await openSocket(group);
    const second = await openSocket(group);
    const firstNonce = (await first.next("challenge")).nonce;
    await second.next("challenge");
    const hello = helloFrame(alice, group, firstNonce);
    second.send(hello);
    await expectRefused(second, "unauthorized", 1008);
    // The original is still good on its own connection: the nonce, not the hello, was wrong.
    first.send(hello);
    expect(await first.next("welcome")).toMatchObject({ role: "writer" });
    await first.close();
  });

  it("a hello naming another group is unauthorized, even when signed for that group", async () => {
    const group = uniqueGroup("hs-group");
    const other = uniqueGroup("hs-group-other");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    peer.send(helloFrame(alice, other, nonce));
    const error = await peer.next("error");
    expect(error.code).toBe("unauthorized");
    expect(error.message).toContain(other);
    expect((await peer.closed).code).toBe(1008);
  });

  it.each([
    ["load", (doc: string) => ({ type: "load", doc, known: emptyKnown })],
    ["dir", () => ({ type: "dir" })],
    ["content", (doc: string) => new SessionWriter(alice, doc as never).content([{ at: 1, data: "x" }])],
  ])("%s before hello is not_ready and close 1008", async (_type, frame) => {
    const group = uniqueGroup("hs-notready");
    const peer = await openSocket(group);
    await peer.next("challenge");
    peer.send(frame(testHeader(alice, group).id));
    await expectRefused(peer, "not_ready", 1008);
  });

  it("a second hello on a welcomed connection is bad_frame and close 1007", async () => {
    const group = uniqueGroup("hs-twice");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    peer.send(helloFrame(alice, group, nonce));
    await peer.next("welcome");
    peer.send(helloFrame(alice, group, nonce));
    await expectRefused(peer, "bad_frame", 1007);
  });

  it('keep-alive: exactly {"type":"ping"} is answered {"type":"pong"}, before and after hello', async () => {
    const group = uniqueGroup("hs-ping");
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    const raw: string[] = [];
    peer.ws.addEventListener("message", (event) => {
      raw.push(event.data as string);
    });
    peer.sendRaw(AUTO_PING);
    await peer.next("pong");
    expect(raw).toEqual(['{"type":"pong"}']);
    // The ping left the handshake untouched.
    peer.send(helloFrame(alice, group, nonce));
    await peer.next("welcome");
    peer.sendRaw(AUTO_PING);
    await peer.next("pong");
    // A ping that is not byte-equal to the auto-response pair is answered by the relay itself.
    await peer.sync();
    expect(raw).toEqual(['{"type":"pong"}', expect.stringContaining("welcome"), '{"type":"pong"}', '{"type":"pong"}']);
    await peer.close();
  });
});
