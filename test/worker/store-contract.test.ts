// The store contract (test/support/store-contract.ts) against SqliteStore on a fresh Durable Object's real
// SQLite: the same cases as MemoryStore's in test/unit, so the two stores agree exactly.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
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

describe("SqliteStore on storage written by an earlier version", () => {
  it("counts each document's sessions once when the column is new, so the session limit still holds", () =>
    runInDurableObject(groupStub(uniqueGroup("store-upgrade")), (_instance, state) => {
      const sql = state.storage.sql;
      // The tables as the version before the session count kept them (docs without `sessions`).
      sql.exec("DROP TABLE IF EXISTS docs");
      sql.exec("DROP TABLE IF EXISTS sessions");
      sql.exec("CREATE TABLE docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, header TEXT NOT NULL, updated_at INTEGER NOT NULL, cursor INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, restricted INTEGER NOT NULL DEFAULT 0)");
      sql.exec("CREATE TABLE sessions (num INTEGER PRIMARY KEY, doc_num INTEGER NOT NULL, id TEXT NOT NULL, count INTEGER NOT NULL, last_hash TEXT NOT NULL, signature TEXT NOT NULL, UNIQUE (doc_num, id))");
      sql.exec("INSERT INTO docs (num, id, header, updated_at) VALUES (1, 'doc_a', '{}', 1), (2, 'doc_b', '{}', 1)");
      sql.exec("INSERT INTO sessions (doc_num, id, count, last_hash, signature) VALUES (1, 's1', 1, 'h', 'x'), (1, 's2', 3, 'h', 'x'), (2, 's3', 1, 'h', 'x')");
      const store = new SqliteStore(sql, (fn) => state.storage.transactionSync(fn));
      expect(store.sessionCount("doc_a")).toBe(2);
      expect(store.sessionCount("doc_b")).toBe(1);
      expect(store.sessionCount("doc_c")).toBe(0);
    }),
  );

  it("counts each agent's stored bytes once when the columns are new, so the bytes quota holds for data stored before", () =>
    runInDurableObject(groupStub(uniqueGroup("store-upgrade-bytes")), (_instance, state) => {
      const sql = state.storage.sql;
      // The tables as the version before bytes were counted (sessions and agent_usage without `bytes`).
      for (const trigger of ["agent_bytes_on_insert", "agent_bytes_on_update", "agent_bytes_on_delete"]) sql.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
      for (const table of ["sessions", "agent_usage", "transactions"]) sql.exec(`DROP TABLE IF EXISTS ${table}`);
      sql.exec("CREATE TABLE sessions (num INTEGER PRIMARY KEY, doc_num INTEGER NOT NULL, id TEXT NOT NULL, count INTEGER NOT NULL, last_hash TEXT NOT NULL, signature TEXT NOT NULL, UNIQUE (doc_num, id))");
      sql.exec("CREATE TABLE agent_usage (agent TEXT PRIMARY KEY, docs INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0)");
      sql.exec("CREATE TABLE transactions (session_num INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, signature TEXT, PRIMARY KEY (session_num, idx)) WITHOUT ROWID");
      sql.exec("INSERT INTO agent_usage (agent, docs, sessions) VALUES ('ag_a', 1, 2)");
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature) VALUES (1, 1, 'ag_a~s1', 2, 'h', 'x'), (2, 1, 'ag_a~s2', 1, 'h', 'x')");
      sql.exec("INSERT INTO transactions (session_num, idx, at, data) VALUES (1, 0, 1, 'abc'), (1, 1, 1, 'é€'), (2, 0, 1, '😀')");
      const store = new SqliteStore(sql, (fn) => state.storage.transactionSync(fn));
      expect(store.usage("ag_a")).toEqual({ docs: 1, sessions: 2, bytes: 3 + 5 + 4 });
    }),
  );
});
