// A peer's presence, and the mark where its answers last paused, live in its socket's attachment, which
// production caps at 2,048 bytes serialized (V8's structured serialization, the format `serializeAttachment`
// uses; Node's `v8.serialize` is the same).
import { serialize } from "node:v8";
import { describe, expect, it } from "vitest";
import { PRESENCE_MAX_BYTES, PRESENCE_MAX_DOCS_PER_PEER, MAX_WAITING_LOADS_PER_PEER, docIdOf, randomBase64Url, type DocId } from "../../protocol/index.ts";
import { initialState } from "../../worker/core/relay-core.ts";
import type { ReadyPeer, SavedPresence } from "../../worker/core/peer-records.ts";
import { testAgent, testHeader } from "../support/identity.ts";

const ATTACHMENT_LIMIT = 2_048;

describe("presence in a socket attachment", () => {
  it("the largest attachment a peer can have stays under the platform's 2,048 bytes", () => {
    const who = testAgent(7, "s".repeat(32)); // the longest session id
    const record: ReadyPeer = {
      id: crypto.randomUUID(),
      phase: "ready",
      agent: who.agent,
      session: who.session,
      token: { role: "reader", expiresAt: 8_640_000_000_000_000 },
      waitingLoads: MAX_WAITING_LOADS_PER_PEER,
      compression: "deflate-raw",
    };
    // The whole budget, in the documents allowed, in text past Latin-1 (V8 would store such a string at
    // two bytes per character: the states are kept as UTF-8 bytes instead).
    const docs: DocId[] = Array.from({ length: PRESENCE_MAX_DOCS_PER_PEER }, (_, i) => docIdOf(testHeader(who, "g", `nonce-${i}`).header));
    const per = Math.floor(PRESENCE_MAX_BYTES / docs.length);
    const states = Object.fromEntries(docs.map((doc) => [doc, new TextEncoder().encode(JSON.stringify("中".repeat(Math.floor((per - 2) / 3))))]));
    const presence: SavedPresence = { states, tokens: 39.123456789, at: Date.now() };
    // Beside them, the mark where its answers last paused (answer-window.ts): 16 random bytes in base64url.
    const attachment = { ...record, presence, pausedAt: randomBase64Url(16) };
    const size = serialize(attachment).length;
    expect(size).toBeLessThanOrEqual(ATTACHMENT_LIMIT);
    // And the relay rebuilds the same states from it.
    const state = initialState("g", [record], undefined, new Map([[record.id, presence]]));
    expect([...state.presence.shownIn(docs[0]!)].map(([, shown]) => shown.state)).toEqual(["中".repeat(Math.floor((per - 2) / 3))]);
  });
});
