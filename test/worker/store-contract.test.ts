// The store contract (test/support/store-contract.ts) against SqliteStore on a fresh Durable Object's real
// SQLite: the same cases as MemoryStore's in test/unit, so the two stores agree exactly.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CHUNK_ROW_CHARS, STORED_BYTES_PER_TRANSACTION, digestOf, digestOfSum, digestSumOf, type SessionId } from "../../protocol/index.ts";
import { SqlMeter } from "../../worker/sql-meter.ts";
import { SqliteStore } from "../../worker/sqlite-store.ts";
import { storeContract } from "../support/store-contract.ts";
import { groupStub, uniqueGroup } from "./socket.ts";

/** A fresh group object's SQLite, and a SqliteStore opened on it as the object opens one at its start. */
/** Runs `run` on a new object's storage, its tables as this version makes them (a test may turn them into an earlier version's). */
function onFreshStorage(name: string, run: (sql: SqlStorage, openStore: () => SqliteStore) => void): Promise<void> {
  return runInDurableObject(groupStub(uniqueGroup(name)), (_instance, state) => {
    const openStore = () => new SqliteStore(state.storage.sql, (fn) => state.storage.transactionSync(fn));
    // The object opens its store at its first event, not before: opened here, as the first would.
    openStore();
    // Storage an earlier version wrote holds no schema mark, and a test may turn this into such storage.
    state.storage.sql.exec("DELETE FROM meta WHERE key = 'schema_mark'");
    run(state.storage.sql, openStore);
  });
}

describe("store contract: SqliteStore", () => {
  for (const { name, run } of storeContract) {
    it(name, () =>
      onFreshStorage("store-contract", (_sql, openStore) => {
        run(openStore());
      }),
    );
  }
});

describe("SqliteStore's schema mark", () => {
  /** Opens a store on `sql` counting what opening it ran and read. */
  const metered = (sql: SqlStorage, transactionSync: <T>(fn: () => T) => T) => {
    const meter = new SqlMeter(sql);
    const store = new SqliteStore(meter.sql, transactionSync);
    return { store, cost: meter.settle() };
  };

  it("a wake on storage this code brought up to date reads its mark, not the schema, and finds what was stored", () =>
    onFreshStorage("schema-mark", (sql, openStore) => {
      sql.exec("INSERT INTO docs (num, id, header, updated_at, sessions) VALUES (1, 'doc_a', '{}', 1, 0)");
      const { transactionSync } = openStore();
      openStore().commit({ doc: "doc_a", appends: [{ session: "ag_a~s1", after: 0, transactions: [{ at: 1, data: "one" }], signature: "sig", lastHash: "h", bytes: 3 }], now: 2 });
      // Those opens marked the storage: without the mark (as storage of an earlier version), a wake checks it in full.
      sql.exec("DELETE FROM meta WHERE key = 'schema_mark'");
      const unmarked = metered(sql, transactionSync);
      const marked = metered(sql, transactionSync);
      // The checks read sqlite_master (a row per table, index and trigger, each time) and four tables' columns.
      expect(unmarked.cost.rowsRead).toBeGreaterThan(100);
      expect(marked.cost.rowsRead).toBeLessThan(10);
      expect(marked.cost.statements).toBeLessThan(unmarked.cost.statements / 2);
      expect([...marked.store.readTransactions("doc_a", "ag_a~s1", 0, 1)]).toEqual([{ index: 0, at: 1, data: "one", signature: "sig" }]);
    }));

  it("storage whose mark another version wrote is checked in full, brought up to date and marked again", () =>
    onFreshStorage("schema-mark-other", (sql, openStore) => {
      const mark = () => sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_mark'").toArray()[0]?.value;
      openStore();
      const ours = mark();
      expect(ours).toBeTruthy();
      // Another version's mark on its layout (no `digested` column, no table of removals).
      sql.exec("UPDATE meta SET value = 'another version' WHERE key = 'schema_mark'");
      sql.exec("ALTER TABLE docs DROP COLUMN digested");
      sql.exec("DROP TABLE removed_members");
      openStore();
      expect(sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('docs')").toArray().map((row) => row.name)).toContain("digested");
      expect(sql.exec("SELECT name FROM sqlite_master WHERE name = 'removed_members'").toArray()).toHaveLength(1);
      expect(mark()).toBe(ours);
    }));
});

describe("SqliteStore on storage written by an earlier version", () => {
  it("counts each document's sessions once when the column is new, so the session limit still holds", () =>
    onFreshStorage("store-upgrade", (sql, openStore) => {
      // The tables as the version before the session count kept them (docs without `sessions`).
      sql.exec("DROP TABLE IF EXISTS docs");
      sql.exec("DROP TABLE IF EXISTS sessions");
      sql.exec("CREATE TABLE docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, header TEXT NOT NULL, updated_at INTEGER NOT NULL, cursor INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, restricted INTEGER NOT NULL DEFAULT 0)");
      sql.exec("CREATE TABLE sessions (num INTEGER PRIMARY KEY, doc_num INTEGER NOT NULL, id TEXT NOT NULL, count INTEGER NOT NULL, last_hash TEXT NOT NULL, signature TEXT NOT NULL, UNIQUE (doc_num, id))");
      sql.exec("INSERT INTO docs (num, id, header, updated_at) VALUES (1, 'doc_a', '{}', 1), (2, 'doc_b', '{}', 1)");
      sql.exec("INSERT INTO sessions (doc_num, id, count, last_hash, signature) VALUES (1, 's1', 1, 'h', 'x'), (1, 's2', 3, 'h', 'x'), (2, 's3', 1, 'h', 'x')");
      const store = openStore();
      expect(store.sessionCount("doc_a")).toBe(2);
      expect(store.sessionCount("doc_b")).toBe(1);
      expect(store.sessionCount("doc_c")).toBe(0);
    }),
  );

  it("packs one row per transaction into chunks once: every transaction reads back as it was, and appends continue after it", () =>
    onFreshStorage("store-chunks-upgrade", (sql, openStore) => {
      // The tables as the version before chunks kept them: one row per transaction, no open chunk.
      for (const table of ["docs", "sessions", "chunks", "transactions"]) sql.exec(`DROP TABLE IF EXISTS ${table}`);
      sql.exec("CREATE TABLE docs (num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, header TEXT NOT NULL, updated_at INTEGER NOT NULL, cursor INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, restricted INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0)");
      sql.exec("CREATE TABLE sessions (num INTEGER PRIMARY KEY, doc_num INTEGER NOT NULL, id TEXT NOT NULL, count INTEGER NOT NULL, last_hash TEXT NOT NULL, signature TEXT NOT NULL, UNIQUE (doc_num, id))");
      sql.exec("CREATE TABLE transactions (session_num INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, signature TEXT, PRIMARY KEY (session_num, idx)) WITHOUT ROWID");
      sql.exec("INSERT INTO docs (num, id, header, updated_at, sessions) VALUES (1, 'doc_a', '{}', 1, 3)");
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature) VALUES (1, 1, 'ag_a~s1', 1000, 'h', 'sig-1000'), (2, 1, 'ag_a~s2', 2, 'h', 'sig-2'), (3, 1, 'ag_a~s3', 2, 'h', 'sig-b')");
      // 1,000 small transactions signed every 100, and two large ones (a chunk closes past its size).
      sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
         INSERT INTO transactions SELECT 1, i, 1000 + i, 'tx "' || i || '"', CASE WHEN i % 100 = 99 THEN 'sig-' || (i + 1) END FROM n`,
      );
      sql.exec("INSERT INTO transactions VALUES (2, 0, 5, ?, NULL), (2, 1, 6, ?, 'sig-2')", "x".repeat(40_000), "y".repeat(40_000));
      // Data of bytes, stored as BLOBs by the version that kept one row per transaction.
      sql.exec("INSERT INTO transactions VALUES (3, 0, 7, x'00ff10', NULL), (3, 1, 8, x'', 'sig-b')");
      const store = openStore();
      const s1 = [...store.readTransactions("doc_a", "ag_a~s1", 0, 1000)];
      expect(s1).toHaveLength(1000);
      expect(s1[0]).toEqual({ index: 0, at: 1000, data: 'tx "0"' });
      expect(s1[99]).toEqual({ index: 99, at: 1099, data: 'tx "99"', signature: "sig-100" });
      expect(s1.every((tx, i) => tx.index === i && tx.data === `tx "${i}"`)).toBe(true);
      expect([...store.readTransactions("doc_a", "ag_a~s1", 550, 553)].map((tx) => tx.index)).toEqual([550, 551, 552]);
      expect([...store.readTransactions("doc_a", "ag_a~s2", 0, 2)].map((tx) => tx.data.length)).toEqual([40_000, 40_000]);
      expect([...store.readTransactions("doc_a", "ag_a~s3", 0, 2)]).toEqual([
        { index: 0, at: 7, data: new Uint8Array([0, 255, 16]) },
        { index: 1, at: 8, data: new Uint8Array(), signature: "sig-b" },
      ]);
      expect(sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'transactions'").toArray()).toEqual([]);
      const chunks = sql.exec<{ n: number; longest: number }>("SELECT count(*) AS n, max(length(body)) AS longest FROM chunks").one();
      expect(chunks.n).toBeLessThan(10);
      expect(chunks.longest).toBeLessThan(CHUNK_ROW_CHARS + 41_000);
      store.commit({ doc: "doc_a", appends: [{ session: "ag_a~s1", after: 1000, transactions: [{ at: 9, data: "next" }], signature: "sig-1001", lastHash: "h2", bytes: 4 }], now: 2 });
      expect([...store.readTransactions("doc_a", "ag_a~s1", 999, 1001)]).toEqual([
        { index: 999, at: 1999, data: 'tx "999"', signature: "sig-1000" },
        { index: 1000, at: 9, data: "next", signature: "sig-1001" },
      ]);
    }),
  );

  it("keeps every session's open chunk through a relay rolled back to before chunks and forward again, and takes in the rows it wrote", () =>
    onFreshStorage("store-chunks-rollback", (sql, openStore) => {
      sql.exec("INSERT INTO docs (num, id, header, updated_at, sessions) VALUES (1, 'doc_a', '{}', 1, 0)");
      const appendTo = (session: SessionId, after: number, data: string[]) =>
        openStore().commit({ doc: "doc_a", appends: [{ session, after, transactions: data.map((text, i) => ({ at: after + i, data: text })), signature: `sig-${after + data.length}`, lastHash: "h", bytes: 0 }], now: 2 });
      appendTo("ag_a~s1", 0, ["one", "two"]);
      appendTo("ag_a~s2", 0, ["three"]);
      // The relay before chunks, woken on this storage, creates its table of one row per transaction.
      const rowTable = "CREATE TABLE IF NOT EXISTS transactions (session_num INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, signature TEXT, PRIMARY KEY (session_num, idx)) WITHOUT ROWID";
      sql.exec(rowTable);
      const read = (session: SessionId) => [...openStore().readTransactions("doc_a", session, 0, 10)].map((tx) => tx.data);
      expect(read("ag_a~s1")).toEqual(["one", "two"]);
      expect(read("ag_a~s2")).toEqual(["three"]);
      // And again, writing after what this version stored: those rows follow the open chunk.
      sql.exec(rowTable);
      const s1 = sql.exec<{ num: number }>("SELECT num FROM sessions WHERE id = 'ag_a~s1'").one().num;
      sql.exec("INSERT INTO transactions VALUES (?, 2, 5, 'four', 'sig-3')", s1);
      sql.exec("UPDATE sessions SET count = 3 WHERE num = ?", s1);
      expect(read("ag_a~s1")).toEqual(["one", "two", "four"]);
      expect(read("ag_a~s2")).toEqual(["three"]);
      appendTo("ag_a~s1", 3, ["five"]);
      expect(read("ag_a~s1")).toEqual(["one", "two", "four", "five"]);
    }),
  );

  it("keeps the digest of a group stored before the digest was folded lazily, and folds the writes after it", () =>
    onFreshStorage("store-upgrade-digest", (sql, openStore) => {
      // The tables as the version that updated the sum at every write kept them (no `digested`).
      sql.exec("ALTER TABLE docs DROP COLUMN digested");
      sql.exec("ALTER TABLE sessions DROP COLUMN digested");
      sql.exec("INSERT INTO docs (num, id, header, updated_at, cursor, sessions) VALUES (1, 'doc_a', '{}', 1, 1, 2), (2, 'doc_b', '{}', 1, 2, 1)");
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature) VALUES (1, 1, 'ag_a~s1', 3, 'h', 'x'), (2, 1, 'ag_b~s1', 1, 'h', 'x'), (3, 2, 'ag_a~s1', 2, 'h', 'x')");
      const stored = { doc_a: { header: true, sessions: { "ag_a~s1": 3, "ag_b~s1": 1 } }, doc_b: { header: true, sessions: { "ag_a~s1": 2 } } };
      sql.exec("INSERT INTO meta (key, value) VALUES ('digest_sum', ?)", digestSumOf(Object.entries(stored) as never));
      const store = openStore();
      expect(store.info().digest).toBe(digestOf(Object.entries(stored) as never));
      store.commit({ doc: "doc_b", appends: [{ session: "ag_a~s1", after: 2, transactions: [{ at: 9, data: "next" }], signature: "sig", lastHash: "h2", bytes: 4 }], now: 2 });
      store.commit({ doc: "doc_a", appends: [{ session: "ag_c~s1", after: 0, transactions: [{ at: 9, data: "new" }], signature: "sig", lastHash: "h2", bytes: 3 }], now: 3 });
      const now = { doc_a: { header: true, sessions: { ...stored.doc_a.sessions, "ag_c~s1": 1 } }, doc_b: { header: true, sessions: { "ag_a~s1": 3 } } };
      expect(store.info().digest).toBe(digestOf(Object.entries(now) as never));
      // A fresh instance on the same storage (a restart) agrees.
      expect(openStore().info().digest).toBe(digestOf(Object.entries(now) as never));
    }),
  );

  it("builds the readers' sums of a group stored before they were kept, once, from its private documents, and keeps them after", () =>
    onFreshStorage("store-upgrade-reader-sums", (sql, openStore) => {
      // A private document of ag_a's that ag_b may read, and a public one; no readers' sums stored.
      sql.exec("DELETE FROM meta WHERE key = 'reader_sums'");
      sql.exec(
        "INSERT INTO docs (num, id, header, updated_at, cursor, sessions, restricted) VALUES (1, 'doc_a', ?, 1, 1, 1, 1), (2, 'doc_b', '{}', 1, 2, 1, 0)",
        JSON.stringify({ creator: "ag_a", readers: ["ag_b"] }),
      );
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature) VALUES (1, 1, 'ag_a~s1', 3, 'h', 'x'), (2, 2, 'ag_a~s1', 2, 'h', 'x')");
      const stored = { doc_a: { header: true, sessions: { "ag_a~s1": 3 } }, doc_b: { header: true, sessions: { "ag_a~s1": 2 } } };
      sql.exec("INSERT INTO meta (key, value) VALUES ('digest_sum', ?), ('digest_cursor', '2')", digestSumOf(Object.entries(stored) as never));
      const readers = (store: SqliteStore) => ["ag_a", "ag_b", "ag_c"].map((agent) => digestOfSum(store.readerSum(agent as never)));
      const store = openStore();
      const both = (docs: typeof stored) => digestOf(Object.entries(docs) as never);
      const publicOnly = (docs: typeof stored) => digestOf([["doc_b", docs.doc_b]] as never);
      expect(readers(store)).toEqual([both(stored), both(stored), publicOnly(stored)]);
      store.commit({ doc: "doc_a", appends: [{ session: "ag_a~s1", after: 3, transactions: [{ at: 9, data: "next" }], signature: "sig", lastHash: "h2", bytes: 4 }], now: 2 });
      const now = { ...stored, doc_a: { header: true, sessions: { "ag_a~s1": 4 } } };
      expect(readers(store)).toEqual([both(now), both(now), publicOnly(now)]);
      // A fresh instance on the same storage (a restart) agrees, without building them again.
      expect(readers(openStore())).toEqual([both(now), both(now), publicOnly(now)]);
    }),
  );

  it("empties the meta of tombstones stored with their whole header, once, and leaves the live documents' alone", () =>
    onFreshStorage("store-upgrade-bare-tombstones", (sql, openStore) => {
      sql.exec("DELETE FROM meta WHERE key = 'tombstones_bare'");
      const header = (title: string) => JSON.stringify({ group: "g", kind: "json", creator: "ag_a", createdAt: 1, nonce: "n", meta: { title }, readers: ["ag_b"] });
      sql.exec("INSERT INTO docs (num, id, header, updated_at, cursor, deleted) VALUES (1, 'doc_a', ?, 1, 1, 1), (2, 'doc_b', ?, 1, 2, 0)", header("old plans"), header("kept"));
      const listed = (store: SqliteStore) => Object.fromEntries([...store.listDocuments()].map((entry) => [entry.id, entry.header]));
      const bare = { group: "g", kind: "json", creator: "ag_a", createdAt: 1, nonce: "n", meta: {}, readers: ["ag_b"] };
      expect(listed(openStore())).toEqual({ doc_a: bare, doc_b: { ...bare, meta: { title: "kept" } } });
      // Once: a tombstone written as it was before (no store deletes that way now) is left as it is.
      sql.exec("UPDATE docs SET header = ? WHERE num = 1", header("again"));
      expect(listed(openStore()).doc_a).toEqual({ ...bare, meta: { title: "again" } });
    }),
  );

  it("counts each agent's stored bytes once when the columns are new, so the bytes quota holds for data stored before", () =>
    onFreshStorage("store-upgrade-bytes", (sql, openStore) => {
      // The tables as the version before bytes were counted (sessions and agent_usage without `bytes`).
      for (const trigger of ["agent_bytes_on_insert", "agent_bytes_on_update", "agent_bytes_on_delete"]) sql.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
      sql.exec("DELETE FROM meta WHERE key = 'transaction_bytes_counted'");
      for (const table of ["sessions", "agent_usage", "transactions"]) sql.exec(`DROP TABLE IF EXISTS ${table}`);
      sql.exec("CREATE TABLE sessions (num INTEGER PRIMARY KEY, doc_num INTEGER NOT NULL, id TEXT NOT NULL, count INTEGER NOT NULL, last_hash TEXT NOT NULL, signature TEXT NOT NULL, UNIQUE (doc_num, id))");
      sql.exec("CREATE TABLE agent_usage (agent TEXT PRIMARY KEY, docs INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0)");
      sql.exec("CREATE TABLE transactions (session_num INTEGER NOT NULL, idx INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, signature TEXT, PRIMARY KEY (session_num, idx)) WITHOUT ROWID");
      sql.exec("INSERT INTO agent_usage (agent, docs, sessions) VALUES ('ag_a', 1, 2)");
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature) VALUES (1, 1, 'ag_a~s1', 2, 'h', 'x'), (2, 1, 'ag_a~s2', 1, 'h', 'x')");
      sql.exec("INSERT INTO transactions (session_num, idx, at, data) VALUES (1, 0, 1, 'abc'), (1, 1, 1, 'é€'), (2, 0, 1, '😀')");
      const store = openStore();
      expect(store.usage("ag_a")).toEqual({ docs: 1, sessions: 2, bytes: 3 + 5 + 4 + 3 * STORED_BYTES_PER_TRANSACTION });
    }),
  );
  it("counts the snapshots stored before their bytes were counted once against their authors, then moves them as they are replaced", () =>
    onFreshStorage("store-upgrade-snapshot-bytes", (sql, openStore) => {
      // The storage as the version before snapshots were counted kept it: no triggers on snapshots. (Its
      // sessions' rows count as this version's triggers count them: their data's 37 bytes and 6 transactions.)
      for (const trigger of ["insert", "update", "move", "delete"]) sql.exec(`DROP TRIGGER IF EXISTS agent_snapshot_bytes_on_${trigger}`);
      sql.exec("INSERT INTO docs (num, id, header, updated_at, cursor, sessions) VALUES (1, 'doc_a', '{}', 1, 1, 1), (2, 'doc_b', '{}', 1, 2, 1)");
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature, bytes) VALUES (1, 1, 'ag_a~s1', 3, 'h', 'x', 30), (2, 2, 'ag_a~s1', 3, 'h', 'x', 7)");
      sql.exec("INSERT INTO snapshots (doc_num, session, covers, bytes, signature, taken_at, data) VALUES (1, 'ag_a~s1', '{\"ag_a~s1\":3}', 5, 's', 7, 'state'), (2, 'ag_b~s1', '{\"ag_a~s1\":3}', 3, 's', 7, 'abc')");
      const sessions = 37 + 6 * STORED_BYTES_PER_TRANSACTION;
      expect(sql.exec("SELECT agent, bytes FROM agent_usage ORDER BY agent").toArray()).toEqual([{ agent: "ag_a", bytes: sessions }]);
      const store = openStore();
      expect(store.usage("ag_a" as never).bytes).toBe(sessions + 5);
      expect(store.usage("ag_b" as never).bytes).toBe(3);
      // A restart on the same storage counts them no more.
      expect(openStore().usage("ag_a" as never).bytes).toBe(sessions + 5);
      store.putSnapshot({ doc: "doc_a", session: "ag_b~s1", covers: { "ag_a~s1": 3 }, data: "newer", signature: "s", takenAt: 8 } as never);
      expect(store.usage("ag_a" as never).bytes).toBe(sessions);
      expect(store.usage("ag_b" as never).bytes).toBe(3 + 5);
      expect(openStore().usage("ag_b" as never).bytes).toBe(3 + 5);
    }),
  );
  it("counts the transactions an earlier relay counted by their data alone once, STORED_BYTES_PER_TRANSACTION each: deleting their documents gives back exactly what is counted, down to zero", () =>
    onFreshStorage("store-upgrade-transaction-bytes", (sql, openStore) => {
      // The storage as the version that counted data alone kept it: its triggers, and no record of what a transaction counts.
      for (const trigger of ["agent_bytes_on_insert", "agent_bytes_on_update", "agent_bytes_on_delete"]) sql.exec(`DROP TRIGGER IF EXISTS ${trigger}`);
      sql.exec("DELETE FROM meta WHERE key = 'transaction_bytes_counted'");
      sql.exec(`
        CREATE TRIGGER agent_bytes_on_insert AFTER INSERT ON sessions WHEN new.bytes <> 0 BEGIN
          INSERT INTO agent_usage (agent, bytes) VALUES (substr(new.id, 1, instr(new.id, '~') - 1), new.bytes)
          ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes;
        END;
        CREATE TRIGGER agent_bytes_on_update AFTER UPDATE OF bytes ON sessions WHEN new.bytes <> old.bytes BEGIN
          INSERT INTO agent_usage (agent, bytes) VALUES (substr(new.id, 1, instr(new.id, '~') - 1), new.bytes - old.bytes)
          ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes;
        END;
        CREATE TRIGGER agent_bytes_on_delete AFTER DELETE ON sessions WHEN old.bytes <> 0 BEGIN
          UPDATE agent_usage SET bytes = bytes - old.bytes WHERE agent = substr(old.id, 1, instr(old.id, '~') - 1);
        END;`);
      const header = JSON.stringify({ creator: "ag_a" });
      sql.exec("INSERT INTO docs (num, id, header, updated_at, cursor, sessions) VALUES (1, 'doc_a', ?1, 1, 1, 2), (2, 'doc_b', ?1, 1, 2, 1)", header);
      sql.exec("INSERT INTO agent_usage (agent, docs, sessions) VALUES ('ag_a', 2, 2), ('ag_b', 0, 1)");
      // ag_b's session holds two empty transactions: the earlier relay counted them as nothing.
      sql.exec(
        "INSERT INTO sessions (num, doc_num, id, count, last_hash, signature, bytes) VALUES (1, 1, 'ag_a~s1', 3, 'h', 'x', 30), (2, 1, 'ag_b~s1', 2, 'h', 'x', 0), (3, 2, 'ag_a~s1', 1, 'h', 'x', 7)",
      );
      expect(sql.exec("SELECT agent, bytes FROM agent_usage ORDER BY agent").toArray()).toEqual([{ agent: "ag_a", bytes: 37 }, { agent: "ag_b", bytes: 0 }]);
      const perTransaction = STORED_BYTES_PER_TRANSACTION;
      const store = openStore();
      expect([store.usage("ag_a" as never), store.usage("ag_b" as never)]).toEqual([
        { docs: 2, sessions: 2, bytes: 37 + 4 * perTransaction },
        { docs: 0, sessions: 1, bytes: 2 * perTransaction },
      ]);
      // Once: a restart on the same storage counts them no more; a write after counts as any.
      expect(openStore().usage("ag_a" as never).bytes).toBe(37 + 4 * perTransaction);
      store.commit({ doc: "doc_a", appends: [{ session: "ag_a~s1", after: 3, transactions: [{ at: 9, data: "next" }], signature: "sig", lastHash: "h2", bytes: 4 }], now: 2 });
      expect(openStore().usage("ag_a" as never).bytes).toBe(41 + 5 * perTransaction);
      store.deleteDoc("doc_a" as never, 3);
      expect([store.usage("ag_a" as never), store.usage("ag_b" as never)]).toEqual([
        { docs: 1, sessions: 1, bytes: 7 + perTransaction },
        { docs: 0, sessions: 0, bytes: 0 },
      ]);
      store.deleteDoc("doc_b" as never, 4);
      expect(sql.exec("SELECT agent, docs, sessions, bytes FROM agent_usage ORDER BY agent").toArray()).toEqual([
        { agent: "ag_a", docs: 0, sessions: 0, bytes: 0 },
        { agent: "ag_b", docs: 0, sessions: 0, bytes: 0 },
      ]);
    }),
  );

  it("keeps the snapshots stored before they carried their author's time, and stores the time of the next", () =>
    onFreshStorage("store-upgrade-snapshot-time", (sql, openStore) => {
      // The table as protocol v2's relay kept it: no `at`.
      sql.exec("DROP TABLE IF EXISTS snapshots");
      sql.exec("CREATE TABLE snapshots (doc_num INTEGER PRIMARY KEY, session TEXT NOT NULL, covers TEXT NOT NULL, bytes INTEGER NOT NULL, signature TEXT NOT NULL, taken_at INTEGER NOT NULL, prune_after TEXT, data BLOB NOT NULL)");
      sql.exec("INSERT INTO docs (num, id, header, updated_at, cursor, sessions) VALUES (1, 'doc_a', '{}', 1, 1, 1), (2, 'doc_b', '{}', 1, 2, 1)");
      sql.exec("INSERT INTO sessions (num, doc_num, id, count, last_hash, signature) VALUES (1, 1, 'ag_a~s1', 3, 'h', 'x'), (2, 2, 'ag_a~s1', 3, 'h', 'x')");
      sql.exec("INSERT INTO snapshots (doc_num, session, covers, bytes, signature, taken_at, prune_after, data) VALUES (1, 'ag_a~s1', '{\"ag_a~s1\":3}', 5, 'sig-old', 7, NULL, 'state')");
      const store = openStore();
      const old = { doc: "doc_a", session: "ag_a~s1", covers: { "ag_a~s1": 3 }, data: "state", signature: "sig-old", takenAt: 7 };
      expect(store.readSnapshot("doc_a" as never)).toEqual(old);
      expect(store.readSnapshot("doc_a" as never)).not.toHaveProperty("at");
      const timed = { doc: "doc_b", session: "ag_a~s1", covers: { "ag_a~s1": 3 }, data: "later", at: 1_780_000_000_000, signature: "sig-new", takenAt: 8 };
      store.putSnapshot(timed as never);
      // A restart on the same storage reads both back.
      const again = openStore();
      expect(again.readSnapshot("doc_a" as never)).toEqual(old);
      expect(again.readSnapshot("doc_b" as never)).toEqual(timed);
    }),
  );
});
