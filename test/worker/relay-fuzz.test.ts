// The seeded fuzz run of test/support/relay-fuzz.ts on SqliteStore over a fresh Durable Object's real
// SQLite, compared with the same run on MemoryStore: every answer to every hostile frame, the honest
// writer's stored log and the honest reader's live updates must be the same on both, and so must what a
// new reader is sent afterwards for a frame of loads, an open and a directory.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { SqliteStore } from "../../worker/sqlite-store.ts";
import { runFuzz } from "../support/relay-fuzz.ts";
import { groupStub, uniqueGroup } from "./socket.ts";

describe("relay fuzz on SQLite", () => {
  it.each([1, 2])("seed %i: SQLite and memory answer every hostile frame alike, and the honest peers are untouched", { timeout: 30_000 }, async (seed) => {
    // The read-back at the end goes through a second SqliteStore over the same storage: nothing cached, so
    // its loads, open and directory read everything (and read it ahead) from SQLite.
    const sqlite = await runInDurableObject(groupStub(uniqueGroup("fuzz")), (_instance, state) => {
      const store = () => new SqliteStore(state.storage.sql, (fn) => state.storage.transactionSync(fn));
      return runFuzz(store(), seed, 300, store);
    });
    const memory = await runFuzz(new MemoryStore(), seed, 300);
    expect(sqlite.undecodable).toEqual([]);
    expect(sqlite.live).toEqual(sqlite.stored);
    expect(sqlite.acks.at(-1)).toBe(sqlite.stored.length);
    expect(sqlite).toEqual(memory);
  });
});
