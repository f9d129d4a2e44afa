// The per-agent bytes quota in the relay core over a MemoryStore: every transaction counts what it takes
// stored, STORED_BYTES_PER_TRANSACTION beyond its data, so transactions of nothing run out too.
import { describe, expect, it } from "vitest";
import { MAX_BYTES_PER_AGENT, MEMBERS_KIND, STORED_BYTES_PER_TRANSACTION, batchFrame, docIdOf, encodeForBatch, type AgentId, type ClientMessage, type Transaction } from "../../protocol/index.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import type { AgentUsage } from "../../worker/core/store.ts";
import { GROUP, NOW, alice, doc1, doc2, scenario, writer } from "./relay-transcript.ts";

/** Room left under the quota: five empty transactions' worth, and 3 bytes, short of a sixth. */
const ROOM = 5 * STORED_BYTES_PER_TRANSACTION + 3;

/**
 * A MemoryStore whose agents hold all but ROOM of their quota before anything is written, as if they had
 * stored a gigabyte (which takes minutes to write): what the store holds counts on top.
 */
class NearlyFullStore extends MemoryStore {
  override usage(agent: AgentId): AgentUsage {
    const usage = super.usage(agent);
    return { ...usage, bytes: usage.bytes + MAX_BYTES_PER_AGENT - ROOM };
  }
}

/** The membership log alice founds, so she (its admin) may delete; with no operations, it counts no bytes. */
const membersHeader = { group: GROUP, kind: MEMBERS_KIND, creator: alice.agent, createdAt: NOW, nonce: "m", meta: {} };
const members = { id: docIdOf(membersHeader), header: membersHeader };

const empties = (count: number): Transaction[] => Array.from({ length: count }, (_, i) => ({ at: NOW + i, data: "" }));

describe("per-agent bytes quota", () => {
  it("empty transactions count against it: with room for five, the sixth is refused, six at once are refused whole, and deleting the document gives back exactly what they took", async () => {
    const store = new NearlyFullStore();
    const { connect, send, transcript } = scenario([], {}, store);
    await connect("alice", alice);
    await send("alice", writer(alice, members)([], { header: true }));
    const byAlice = writer(alice, doc1);
    await send("alice", byAlice([], { header: true }));
    for (let i = 0; i < 5; i++) await send("alice", byAlice(empties(1)));
    transcript();
    await send("alice", byAlice(empties(1)));
    expect(transcript()).toBe(
      [
        "alice -> relay | content doc1 alice after=5 n=1",
        `relay -> alice | error quota_exceeded doc1 "an agent may store at most ${MAX_BYTES_PER_AGENT} bytes in a group (each transaction counts its data and ${STORED_BYTES_PER_TRANSACTION} bytes); it holds ${MAX_BYTES_PER_AGENT - 3}, and this message adds ${STORED_BYTES_PER_TRANSACTION}"`,
      ].join("\n"),
    );
    expect(store.knownState(doc1.id).sessions).toEqual({ [alice.session]: 5 });
    expect(store.usage(alice.agent).bytes).toBe(MAX_BYTES_PER_AGENT - 3);

    await send("alice", { type: "delete", doc: doc1.id });
    expect(store.usage(alice.agent)).toEqual({ docs: 1, sessions: 0, bytes: MAX_BYTES_PER_AGENT - ROOM });

    // The room is whole again: six in one message are refused, nothing of them stored; five are stored.
    await send("alice", writer(alice, doc2)([], { header: true }));
    transcript();
    await send("alice", writer(alice, doc2)(empties(6)));
    expect(store.knownState(doc2.id).sessions).toEqual({});
    await send("alice", writer(alice, doc2)(empties(5)));
    expect(transcript().split("\n").filter((line) => line.startsWith("relay"))).toEqual([
      expect.stringMatching(new RegExp(`^relay -> alice \\| error quota_exceeded doc2 ".*, and this message adds ${6 * STORED_BYTES_PER_TRANSACTION}"$`)),
      "relay -> alice | known doc2 {alice:5} ack",
    ]);
    expect(store.usage(alice.agent).bytes).toBe(MAX_BYTES_PER_AGENT - 3);
  });

  it("a frame of one-transaction messages is judged message by message, each counting those before it: with room for five, the sixth is refused", async () => {
    const store = new NearlyFullStore();
    const { connect, send, relay, transcript } = scenario([], {}, store);
    await connect("alice", alice);
    const byAlice = writer(alice, doc1);
    await send("alice", byAlice([], { header: true }));
    transcript();
    const messages = Array.from({ length: 6 }, (_, i) => encodeForBatch(byAlice([{ at: NOW + i, data: "" }]) as ClientMessage));
    await relay.dispatch({ type: "frame", peer: "alice", frame: batchFrame(messages.map((message) => message as string)), now: NOW });
    expect(transcript().split("\n").filter((line) => line.startsWith("relay"))).toEqual([
      ...[1, 2, 3, 4, 5].map((count) => `relay -> alice | known doc1 {alice:${count}} ack`),
      expect.stringMatching(new RegExp(`^relay -> alice \\| error quota_exceeded doc1 ".*; it holds ${MAX_BYTES_PER_AGENT - 3}, and this message adds ${STORED_BYTES_PER_TRANSACTION}"$`)),
    ]);
    expect(store.knownState(doc1.id).sessions).toEqual({ [alice.session]: 5 });
    expect(store.usage(alice.agent).bytes).toBe(MAX_BYTES_PER_AGENT - 3);
  });

  it("text counts as the relay stores it, its JSON escapes included: a NUL counts six bytes, not one; bytes count as their base64", async () => {
    const store = new MemoryStore();
    const { connect, send } = scenario([], {}, store);
    await connect("alice", alice);
    const byAlice = writer(alice, doc1);
    await send("alice", byAlice([], { header: true }));
    await send("alice", byAlice([{ at: NOW, data: "\u0000".repeat(1000) }]));
    expect(store.usage(alice.agent).bytes).toBe(6 * 1000 + STORED_BYTES_PER_TRANSACTION);
    await send("alice", byAlice([{ at: NOW + 1, data: "é" }]));
    expect(store.usage(alice.agent).bytes).toBe(6 * 1000 + 2 + 2 * STORED_BYTES_PER_TRANSACTION);
    await send("alice", byAlice([{ at: NOW + 2, data: new Uint8Array(300) }]));
    expect(store.usage(alice.agent).bytes).toBe(6 * 1000 + 2 + 402 + 3 * STORED_BYTES_PER_TRANSACTION);
  });
});

