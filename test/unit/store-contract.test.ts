// The store contract (test/support/store-contract.ts) against the in-memory store the relay core's Node tests use.
import { describe, it } from "vitest";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { storeContract } from "../support/store-contract.ts";

describe("store contract: MemoryStore", () => {
  for (const { name, run } of storeContract) it(name, () => run(new MemoryStore()));
});
