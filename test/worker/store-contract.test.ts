// The store contract (test/support/store-contract.ts) against SqliteStore on a fresh Durable Object's real
// SQLite: the same cases as MemoryStore's in test/unit, so the two stores agree exactly.
import { runInDurableObject } from "cloudflare:test";
import { describe, it } from "vitest";
import { SqliteStore } from "../../worker/sqlite-store.ts";
import { storeContract } from "../support/store-contract.ts";
import { groupStub, uniqueGroup } from "./socket.ts";

describe("store contract: SqliteStore", () => {
  for (const { name, run } of storeContract) {
    it(name, () =>
      runInDurableObject(groupStub(uniqueGroup("store-contract")), (_instance, state) => {
        run(new SqliteStore(state.storage.sql, (fn) => state.storage.transactionSync(fn)));
      }),
    );
  }
});
