// What one FileLocalStore save costs beside many files in its `sessions/` folder (a file per session an
// agent pooled: an app that makes a new identity at each start adds one per run). One store holds a lease,
// then saves 1,000 one-transaction appends to one document without fsync, so the figure is the store's own
// work rather than the disk's.
//   npx node bench/measure/file-save-cost.ts [files=0,100,1000,5000]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLocalStore } from "../../client/node.ts";
import { testAgent, testHeader, transactions } from "../../test/support/identity.ts";

const counts = (process.argv[2] ?? "0,100,1000,5000").split(",").map(Number);
const SAVES = 1_000;
const alice = testAgent(7);
const header = testHeader(alice, "g");
const written = transactions(SAVES);

for (const others of counts) {
  const directory = mkdtempSync(join(tmpdir(), "weft-save-cost-"));
  try {
    const store = new FileLocalStore(directory, { fsync: false });
    const lease = await store.leaseSession(alice.agent, { fresh: () => alice.session });
    mkdirSync(join(directory, "sessions"), { recursive: true });
    for (let i = 0; i < others; i++) writeFileSync(join(directory, "sessions", `ag_other${i}~s${i}.session`), "1");
    await store.save("g", header.id, { header: header.header, appends: [{ session: alice.session, after: 0, transactions: written.slice(0, 1) }] });
    const started = performance.now();
    for (let i = 1; i < SAVES; i++) await store.save("g", header.id, { appends: [{ session: alice.session, after: i, transactions: written.slice(i, i + 1) }] });
    console.log(`${others} other files in sessions/: ${(((performance.now() - started) / (SAVES - 1)) * 1000).toFixed(0)} µs per save`);
    await lease.release();
    await store.close();
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
