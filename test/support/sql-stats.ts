// One group's SQL meter on a relay run with WEFT_SQL_STATS "true" (worker/sql-meter.ts): the statements run
// and the rows read and written since the group's object last started, and that start's instance id, a new
// one once the object was evicted and woke.

export type GroupSqlStats = { instance: string; statements: number; rowsRead: number; rowsWritten: number };

export async function groupSqlStats(url: string, group: string): Promise<GroupSqlStats> {
  const res = await fetch(`${url}/v1/groups/${encodeURIComponent(group)}/sql-stats`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`sql-stats answered ${res.status}`);
  return (await res.json()) as GroupSqlStats;
}
