// durability: a writer streams transactions; the moment the relay has acknowledged a threshold (chosen at
// random each run), the relay is killed with SIGKILL and restarted on the same storage. The writer closes
// its client as soon as the connection drops, so it cannot resend anything; a fresh client then reads what
// the relay kept. Lost = acknowledged transactions that are not there, in order.
import { createIdentity, exportIdentity } from "../../client/index.ts";
import type { Bench } from "../bench.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import type { SqlCost } from "../bench.ts";
import { wallClock } from "../workload.ts";
import type { DocId, SessionId } from "../../protocol/index.ts";

const BYTES = 100;
const GROUP = "bench-durability";

type Dropped = { acked: number; appended: number; droppedAt: number };
type Checked = { ms: number; count: number; inOrder: number };
type Reopened = { ms: number; count: number; acked: number };

export const durability: Scenario = {
  name: "durability",
  budgetMs: 120_000,
  async run(bench: Bench) {
    const runs: { threshold: number; acked: number; appended: number; stored: number; inOrder: number; lost: number; killDelayMs: number; relayStartMs: number; recoverMs: number; writerReopenMs: number }[] = [];
    const sql: SqlCost[] = [];
    const since = wallClock();
    for (let run = 0; bench.moreRuns(run, since); run++) {
      const writer = bench.spawn("writer");
      const reader = bench.spawn("reader");
      try {
        const secret = exportIdentity(createIdentity());
        const storeDir = bench.tempDir("weft-bench-writer-");
        const { session } = await writer.call<{ session: SessionId }>("connect", { url: bench.url, group: GROUP, secret, storeDir });
        const { doc } = await writer.call<{ doc: DocId }>("create");
        const threshold = 1_000 + Math.floor(Math.random() * 2_000);
        const acked = writer.next<{ acked: number; at: number }>("acked", 30_000);
        const streamed = writer.call<Dropped>("stream", { threshold, bytes: BYTES }, 60_000);
        const signal = await acked;
        const killAt = wallClock();
        await bench.stopRelay("kill");
        const killedAt = wallClock();
        const dropped = await streamed;
        const relayStartMs = (await bench.startRelay()).ms;
        const checked = await reader.call<Checked>("checkSession", { url: bench.url, group: GROUP, doc, session }, 30_000);
        const recoverMs = wallClock() - killedAt;
        // The object started with the relay: its counts since are the fresh read (and its own start).
        sql.push(await bench.sqlSinceStart(GROUP));
        const reopened = await writer.call<Reopened>("reopen", { url: bench.url, group: GROUP, doc, secret, storeDir }, 30_000);
        if (reopened.acked !== reopened.count) throw new Error(`after reopening, the writer has ${reopened.acked} of ${reopened.count} acknowledged`);
        runs.push({
          threshold,
          acked: dropped.acked,
          appended: dropped.appended,
          stored: checked.count,
          inOrder: checked.inOrder,
          lost: Math.max(0, dropped.acked - checked.inOrder),
          killDelayMs: killAt - signal.at,
          relayStartMs,
          recoverMs,
          writerReopenMs: reopened.ms,
        });
      } finally {
        await bench.stopWorkers([writer, reader]);
        if (!(await bench.relayHealthy())) await bench.startRelay();
      }
    }
    return {
      figures: [
        figure("lost", "acked transactions lost after SIGKILL", "tx", runs.map((r) => r.lost), { target: { op: "<=", value: 0 }, summary: "worst" }),
        figure("acked", "acked before the kill", "tx", runs.map((r) => r.acked)),
        figure("recover_ms", "kill to a fresh open with all acked tx", "ms", runs.map((r) => r.recoverMs)),
        figure("relay_start_ms", "of which wrangler dev restart", "ms", runs.map((r) => r.relayStartMs)),
        figure("writer_reopen_ms", "writer reopens: live, all its tx acked", "ms", runs.map((r) => r.writerReopenMs)),
        ...sqlFigures("check", "restart and fresh read of the log", sql),
      ],
      details: { runs },
    };
  },
};
