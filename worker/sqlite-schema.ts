// The group object's SQLite tables, and what storage written by an earlier version of the relay needs before
// a store opens on it: the newer columns added, the counts it did not keep counted once, and transactions it
// stored one per row packed into chunks. Runs at every object start; when nothing is old it reads a few
// pragmas and runs the idempotent CREATE statements; on storage this code already brought up to date, it
// reads the schema mark instead (2 statements, 3 rows).
import { CHUNK_ROW_CHARS, CHUNK_ROW_TRANSACTIONS, STORED_BYTES_PER_TRANSACTION, sha256, toBase64Url, utf8 } from "../protocol/index.ts";
import { READER_SUMS_KEPT } from "./reader-sums.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS docs (
  num INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  header TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  cursor INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  restricted INTEGER NOT NULL DEFAULT 0,
  sessions INTEGER NOT NULL DEFAULT 0,
  digested INTEGER
);
CREATE INDEX IF NOT EXISTS docs_by_cursor ON docs (cursor);
-- Whether any live document has readers of its own (every non-admin's dir asks): one index probe, not a scan.
CREATE INDEX IF NOT EXISTS docs_restricted ON docs (num) WHERE restricted = 1 AND deleted = 0;
CREATE TABLE IF NOT EXISTS sessions (
  num INTEGER PRIMARY KEY,
  doc_num INTEGER NOT NULL REFERENCES docs (num),
  id TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  tail_first INTEGER NOT NULL DEFAULT 0,
  tail TEXT NOT NULL DEFAULT '',
  bytes INTEGER NOT NULL DEFAULT 0,
  digested INTEGER,
  UNIQUE (doc_num, id)
);
CREATE TABLE IF NOT EXISTS chunks (
  session_num INTEGER NOT NULL,
  first INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (session_num, first)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  doc TEXT NOT NULL,
  peer TEXT NOT NULL,
  PRIMARY KEY (doc, peer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subscriptions_by_peer ON subscriptions (peer);
CREATE TABLE IF NOT EXISTS snapshots (
  doc_num INTEGER PRIMARY KEY,
  session TEXT NOT NULL,
  covers TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  signature TEXT NOT NULL,
  taken_at INTEGER NOT NULL,
  prune_after TEXT,
  -- The newest time its author had seen (signed); NULL for one taken under protocol v2.
  at INTEGER,
  -- Last: reading the columns before it does not walk its overflow pages (up to MAX_SNAPSHOT_BYTES).
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_to_prune ON snapshots (taken_at) WHERE prune_after IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (agent TEXT PRIMARY KEY, role TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agent_usage (agent TEXT PRIMARY KEY, docs INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0);
-- Per agent, the digest sum of the documents that limit their readers and list it (or that it created):
-- kept with the group's sum as it is folded (reader-sums.ts), so a reader's own digest reads no documents.
CREATE TABLE IF NOT EXISTS reader_sums (agent TEXT PRIMARY KEY, sum TEXT NOT NULL) WITHOUT ROWID;
`;

/**
 * Agents the membership log removed and has not set a role for since (a token no longer lets them in).
 * Created apart from SCHEMA: a group stored before removals were remembered gets the table in the same
 * transaction that fills it from its log (SqliteStore's #rememberPastRemovals).
 */
export const REMOVED_SCHEMA = "CREATE TABLE IF NOT EXISTS removed_members (agent TEXT PRIMARY KEY) WITHOUT ROWID";

/**
 * An agent's stored bytes follow its sessions' rows by triggers: a session's data \`bytes\` and
 * STORED_BYTES_PER_TRANSACTION for each of its \`count\` transactions (core/store.ts's quotaBytes). A
 * commit's session upsert (or a deletion) moves the agent's total in the same statement, so a write runs no
 * statement more for it and nothing ever sums a log. The agent is the part of the session id before its '~'.
 */
const BYTES_TRIGGERS = `
CREATE TRIGGER IF NOT EXISTS agent_bytes_on_insert AFTER INSERT ON sessions WHEN new.bytes <> 0 OR new.count <> 0 BEGIN
  INSERT INTO agent_usage (agent, bytes) VALUES (substr(new.id, 1, instr(new.id, '~') - 1), new.bytes + ${STORED_BYTES_PER_TRANSACTION} * new.count)
  ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS agent_bytes_on_update AFTER UPDATE OF bytes, count ON sessions WHEN new.bytes <> old.bytes OR new.count <> old.count BEGIN
  INSERT INTO agent_usage (agent, bytes)
  VALUES (substr(new.id, 1, instr(new.id, '~') - 1), new.bytes - old.bytes + ${STORED_BYTES_PER_TRANSACTION} * (new.count - old.count))
  ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS agent_bytes_on_delete AFTER DELETE ON sessions WHEN old.bytes <> 0 OR old.count <> 0 BEGIN
  UPDATE agent_usage SET bytes = bytes - (old.bytes + ${STORED_BYTES_PER_TRANSACTION} * old.count) WHERE agent = substr(old.id, 1, instr(old.id, '~') - 1);
END;
`;
const BYTES_TRIGGER_NAMES = ["agent_bytes_on_insert", "agent_bytes_on_update", "agent_bytes_on_delete"];
/**
 * The STORED_BYTES_PER_TRANSACTION the bytes triggers count, once they count one: storage whose agents'
 * bytes were counted without it (or with another) has the difference counted when its triggers are replaced.
 */
const TRANSACTION_BYTES_COUNTED = "transaction_bytes_counted";

/**
 * A stored snapshot's data counts against its author's bytes the same way, by triggers on its row: stored,
 * it adds its bytes to its author's total; replaced (one row per document), it moves them to the new one's
 * author; deleted with its document, it gives them back. Its author is its session's agent.
 */
const SNAPSHOT_BYTES_TRIGGERS = `
CREATE TRIGGER IF NOT EXISTS agent_snapshot_bytes_on_insert AFTER INSERT ON snapshots WHEN new.bytes <> 0 BEGIN
  INSERT INTO agent_usage (agent, bytes) VALUES (substr(new.session, 1, instr(new.session, '~') - 1), new.bytes)
  ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS agent_snapshot_bytes_on_update AFTER UPDATE OF session, bytes ON snapshots
WHEN substr(new.session, 1, instr(new.session, '~') - 1) = substr(old.session, 1, instr(old.session, '~') - 1) AND new.bytes <> old.bytes BEGIN
  UPDATE agent_usage SET bytes = bytes + new.bytes - old.bytes WHERE agent = substr(new.session, 1, instr(new.session, '~') - 1);
END;
CREATE TRIGGER IF NOT EXISTS agent_snapshot_bytes_on_move AFTER UPDATE OF session, bytes ON snapshots
WHEN substr(new.session, 1, instr(new.session, '~') - 1) <> substr(old.session, 1, instr(old.session, '~') - 1) BEGIN
  UPDATE agent_usage SET bytes = bytes - old.bytes WHERE agent = substr(old.session, 1, instr(old.session, '~') - 1);
  INSERT INTO agent_usage (agent, bytes) VALUES (substr(new.session, 1, instr(new.session, '~') - 1), new.bytes)
  ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS agent_snapshot_bytes_on_delete AFTER DELETE ON snapshots WHEN old.bytes <> 0 BEGIN
  UPDATE agent_usage SET bytes = bytes - old.bytes WHERE agent = substr(old.session, 1, instr(old.session, '~') - 1);
END;
`;

/**
 * A tombstone's header, as SQL of the live one: the same header with an empty `meta`. What the app wrote
 * there goes with the document's content; its creator and readers still say who may hear of the deletion.
 */
export const BARE_TOMBSTONE_HEADER = "json_set(header, '$.meta', json('{}'))";
/** Set once the tombstones stored before they were bare (BARE_TOMBSTONE_HEADER) were made so. */
const TOMBSTONES_BARE = "tombstones_bare";

/** The meta key of which code last brought the tables up to date (schemaMark). */
export const SCHEMA_MARK = "schema_mark";

/** Meta keys a new store writes as it opens: they say how the group is stored, nothing of the group. */
const OPENING_META_KEYS = [READER_SUMS_KEPT, TOMBSTONES_BARE, TRANSACTION_BYTES_COUNTED, SCHEMA_MARK];

/**
 * Whether the storage holds anything of a group: a row in any of its tables (those of later versions too,
 * read from sqlite_master, so a table added one day is kept by default), save `subscriptions` (the peers',
 * who go with them) and the meta keys opening it writes and `visitKeys` (what a visit writes before any
 * peer says who it is). Reads sqlite_master and a row of each table at most.
 */
export function storesGroupData(sql: SqlStorage, visitKeys: readonly string[]): boolean {
  // Most groups that hold anything hold documents: found with one row read, before the tables are listed.
  if (sql.exec("SELECT 1 FROM docs LIMIT 1").toArray().length > 0) return true;
  // The platform's own tables (_cf_*) cannot be read, and SQLite's (sqlite_*) hold nothing of the group.
  const tables = sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '!_cf!_%' ESCAPE '!' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")
    .toArray();
  const bare = [...OPENING_META_KEYS, ...visitKeys];
  for (const { name } of tables) {
    if (name === "subscriptions") continue;
    const row =
      name === "meta"
        ? sql.exec(`SELECT 1 FROM meta WHERE key NOT IN (${bare.map(() => "?").join(", ")}) LIMIT 1`, ...bare)
        : sql.exec(`SELECT 1 FROM "${name.replaceAll('"', '""')}" LIMIT 1`);
    if (row.toArray().length > 0) return true;
  }
  return false;
}

/** What is left for the store to do with reads of its own, on storage an earlier version wrote. */
export type PendingUpgrades = {
  /** The storage holds this code's schema mark: nothing was checked, and nothing is left to do. */
  marked: boolean;
  /** Rows stored before the digest was folded lazily are all in its sum: folding starts at the group's cursor. */
  foldFromCursor: boolean;
  /** No `removed_members` yet: the store creates it (REMOVED_SCHEMA) and fills it from the membership log. */
  rememberRemovals: boolean;
};

/**
 * Creates the tables, or brings an earlier version's up to date. Storage that holds this code's schema mark
 * (the store writes it once it has done what was left) skips the checks: 2 statements and 3 rows read at
 * a wake instead of about 12 statements and 140 rows (every check reads sqlite_master or a table's columns).
 */
export function openSchema(sql: SqlStorage, transactionSync: <T>(fn: () => T) => T): PendingUpgrades {
  if (markedByThisCode(sql)) return { marked: true, foldFromCursor: false, rememberRemovals: false };
  const columnsOf = (table: string) => sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`).toArray().map((row) => row.name);
  const exists = (table: string) => sql.exec("SELECT 1 FROM sqlite_master WHERE name = ?", table).toArray().length > 0;
  // Objects created by an earlier version get the newer columns first.
  const docColumns = columnsOf("docs");
  const rowPerTransaction = exists("transactions");
  const countsUsage = exists("agent_usage");
  const remembersRemovals = exists("removed_members");
  // Snapshots stored before their bytes were counted (their table without its triggers).
  const countsSnapshotBytes = exists("agent_snapshot_bytes_on_insert");
  // Objects stored before bytes were counted get the columns first (the triggers below need them).
  const sessionColumns = columnsOf("sessions");
  const countsBytes = sessionColumns.length === 0 || sessionColumns.includes("bytes");
  if (!countsBytes) sql.exec("ALTER TABLE sessions ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0");
  // And sessions stored before chunks get their open chunk's columns.
  if (sessionColumns.length > 0 && !sessionColumns.includes("tail")) {
    sql.exec("ALTER TABLE sessions ADD COLUMN tail_first INTEGER NOT NULL DEFAULT 0");
    sql.exec("ALTER TABLE sessions ADD COLUMN tail TEXT NOT NULL DEFAULT ''");
  }
  if (countsUsage && !columnsOf("agent_usage").includes("bytes")) sql.exec("ALTER TABLE agent_usage ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0");
  // Rows stored before the digest was folded lazily are all in the sum (NULL says so).
  const foldsLazily = (docColumns.length === 0 || docColumns.includes("digested")) && (sessionColumns.length === 0 || sessionColumns.includes("digested"));
  if (docColumns.length > 0 && !docColumns.includes("digested")) sql.exec("ALTER TABLE docs ADD COLUMN digested INTEGER");
  if (sessionColumns.length > 0 && !sessionColumns.includes("digested")) sql.exec("ALTER TABLE sessions ADD COLUMN digested INTEGER");
  if (docColumns.length > 0) {
    for (const column of ["cursor", "deleted", "restricted", "sessions"]) {
      if (!docColumns.includes(column)) sql.exec(`ALTER TABLE docs ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
    }
    if (!docColumns.includes("sessions")) sql.exec("UPDATE docs SET sessions = (SELECT count(*) FROM sessions WHERE doc_num = docs.num)");
  }
  // Snapshots stored before they carried their author's newest time (the column goes after their data there).
  const snapshotColumns = columnsOf("snapshots");
  if (snapshotColumns.length > 0 && !snapshotColumns.includes("at")) sql.exec("ALTER TABLE snapshots ADD COLUMN at INTEGER");
  sql.exec(SCHEMA);
  // A new group keeps its readers' sums from its first write; one stored before builds them at its next fold.
  if (docColumns.length === 0) {
    sql.exec(
      `INSERT INTO meta (key, value) VALUES ('${READER_SUMS_KEPT}', '1'), ('${TOMBSTONES_BARE}', '1'), ('${TRANSACTION_BYTES_COUNTED}', ?) ON CONFLICT (key) DO NOTHING`,
      String(STORED_BYTES_PER_TRANSACTION),
    );
  }
  // Tombstones stored with their whole header: their meta goes, once.
  else if (sql.exec("SELECT 1 FROM meta WHERE key = ?", TOMBSTONES_BARE).toArray().length === 0) {
    transactionSync(() => {
      sql.exec(`UPDATE docs SET header = ${BARE_TOMBSTONE_HEADER} WHERE deleted = 1`);
      sql.exec(`INSERT INTO meta (key, value) VALUES ('${TOMBSTONES_BARE}', '1')`);
    });
  }
  // Groups stored before agents' usage was counted: count it once.
  if (!countsUsage && docColumns.length > 0) {
    sql.exec(`INSERT INTO agent_usage (agent, docs) SELECT header ->> '$.creator', count(*) FROM docs WHERE deleted = 0 GROUP BY 1`);
    sql.exec(
      `INSERT INTO agent_usage (agent, sessions) SELECT substr(id, 1, instr(id, '~') - 1), count(*) FROM sessions WHERE true GROUP BY 1
       ON CONFLICT (agent) DO UPDATE SET sessions = excluded.sessions`,
    );
  }
  countTransactionBytes(sql, transactionSync);
  // Groups stored before bytes were counted: count each session's once (the triggers add them up per agent).
  if (!countsBytes && rowPerTransaction) sql.exec("UPDATE sessions SET bytes = (SELECT coalesce(sum(length(CAST(data AS BLOB))), 0) FROM transactions WHERE session_num = sessions.num)");
  // Then transactions stored one per row are packed into chunks (bytes counted first, from those rows).
  if (rowPerTransaction) transactionSync(() => chunkTransactionRows(sql));
  // Snapshots stored before their bytes were counted: counted once, as the triggers start counting.
  if (!countsSnapshotBytes) {
    transactionSync(() => {
      sql.exec(
        `INSERT INTO agent_usage (agent, bytes) SELECT substr(session, 1, instr(session, '~') - 1), sum(bytes) FROM snapshots WHERE true GROUP BY 1
         ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes`,
      );
      sql.exec(SNAPSHOT_BYTES_TRIGGERS);
    });
  }
  return { marked: false, foldFromCursor: !foldsLazily, rememberRemovals: !remembersRemovals };
}

/** schemaMark's hash, worked out at its first call. */
let thisCodesMark: string | undefined;

/**
 * A hash of everything openSchema runs and creates: the statements, the functions that run them, the
 * constants they read. Any change to them gives another mark, so the first wake of a new version checks
 * the storage in full once, and so does a version rolled back to (its mark is not the one stored).
 */
export function schemaMark(): string {
  if (thisCodesMark !== undefined) return thisCodesMark;
  const parts = [SCHEMA, BYTES_TRIGGERS, BYTES_TRIGGER_NAMES, SNAPSHOT_BYTES_TRIGGERS, REMOVED_SCHEMA, BARE_TOMBSTONE_HEADER, TOMBSTONES_BARE, TRANSACTION_BYTES_COUNTED, READER_SUMS_KEPT];
  const numbers = [STORED_BYTES_PER_TRANSACTION, CHUNK_ROW_CHARS, CHUNK_ROW_TRANSACTIONS];
  const code = [openSchema, countTransactionBytes, chunkTransactionRows, markedByThisCode];
  return (thisCodesMark = toBase64Url(sha256(utf8([...parts, ...numbers, ...code].map(String).join("\n")))));
}

/**
 * Whether this code's mark is stored, and no table of one row per transaction: a relay rolled back to before
 * chunks makes that table again and writes its rows there, which the checks then pack into chunks.
 */
function markedByThisCode(sql: SqlStorage): boolean {
  // A table that is not there has no columns: neither count fails on new storage.
  const tables = sql.exec<{ meta: number; rows: number }>("SELECT (SELECT count(*) FROM pragma_table_info('meta')) AS meta, (SELECT count(*) FROM pragma_table_info('transactions')) AS rows").one();
  if (tables.meta === 0 || tables.rows > 0) return false;
  return sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", SCHEMA_MARK).toArray()[0]?.value === schemaMark();
}

/**
 * Creates the bytes triggers, counting STORED_BYTES_PER_TRANSACTION per transaction. On storage whose
 * triggers counted another (an earlier relay's: none, data bytes alone), the triggers are replaced and each
 * agent's bytes get the difference for every transaction its sessions hold, in one transaction. So the
 * transactions an earlier relay stored count as the ones stored after, and deleting a document gives back
 * exactly what its sessions count: an agent's bytes never go below what it still holds, nor below zero. An
 * agent that is past MAX_BYTES_PER_AGENT once its stored transactions are counted is refused further writes
 * until an admin deletes documents of its, as one that reached it writing would be (in a group without a
 * membership log no one may delete). A relay rolled back to before this keeps these triggers (it creates its
 * own only if missing), so its storage goes on counting the overhead.
 */
function countTransactionBytes(sql: SqlStorage, transactionSync: <T>(fn: () => T) => T): void {
  const counted = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", TRANSACTION_BYTES_COUNTED).toArray()[0];
  const perTransaction = counted ? Number.parseInt(counted.value, 10) || 0 : 0;
  if (perTransaction === STORED_BYTES_PER_TRANSACTION) {
    sql.exec(BYTES_TRIGGERS);
    return;
  }
  transactionSync(() => {
    for (const name of BYTES_TRIGGER_NAMES) sql.exec(`DROP TRIGGER IF EXISTS ${name}`);
    // The difference is written into the statement: a bound number would be a REAL, and the total must stay an integer.
    sql.exec(
      `INSERT INTO agent_usage (agent, bytes) SELECT substr(id, 1, instr(id, '~') - 1), ${STORED_BYTES_PER_TRANSACTION - perTransaction} * sum(count) FROM sessions WHERE true GROUP BY 1
       ON CONFLICT (agent) DO UPDATE SET bytes = bytes + excluded.bytes`,
    );
    sql.exec(BYTES_TRIGGERS);
    sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", TRANSACTION_BYTES_COUNTED, String(STORED_BYTES_PER_TRANSACTION));
  });
}

/**
 * Storage from before chunks kept one row per transaction: packs them into chunks once, inside SQLite
 * (nothing is loaded into memory). A chunk ends where the session's text passes a multiple of
 * CHUNK_ROW_CHARS or its index one of CHUNK_ROW_TRANSACTIONS, so it holds at most about CHUNK_ROW_CHARS
 * characters and one transaction more. Bytes (BLOBs) become `{"hex": …}` (SQLite has hex(), not base64).
 * (The limits are integers written into the statement: a bound number would be a REAL, and the
 * divisions must be integer divisions.)
 */
function chunkTransactionRows(sql: SqlStorage): void {
  // A relay rolled back to before chunks creates the table again, empty, each time an object wakes, and
  // writes its rows after what this version stored: only the sessions it wrote to are touched, each open
  // chunk sealed before the rows that follow it.
  const rowSessions = "SELECT DISTINCT session_num FROM transactions";
  sql.exec(`INSERT INTO chunks (session_num, first, body) SELECT num, tail_first, tail FROM sessions WHERE tail <> '' AND num IN (${rowSessions})`);
  sql.exec(
    `INSERT INTO chunks (session_num, first, body)
     SELECT session_num, min(idx), group_concat(item, ',' ORDER BY idx) FROM (
       SELECT session_num, idx, item,
         max(idx / ${CHUNK_ROW_TRANSACTIONS}, (sum(length(item) + 1) OVER (PARTITION BY session_num ORDER BY idx) - length(item) - 1) / ${CHUNK_ROW_CHARS}) AS chunk
       FROM (
         SELECT session_num, idx,
           CASE
             WHEN typeof(data) = 'blob' AND signature IS NULL THEN json_array(at, json_object('hex', hex(data)))
             WHEN typeof(data) = 'blob' THEN json_array(at, json_object('hex', hex(data)), signature)
             WHEN signature IS NULL THEN json_array(at, data)
             ELSE json_array(at, data, signature)
           END AS item
         FROM transactions
       )
     ) GROUP BY session_num, chunk`,
  );
  sql.exec(`UPDATE sessions SET tail_first = count, tail = '' WHERE num IN (${rowSessions})`);
  sql.exec("DROP TABLE transactions");
}
