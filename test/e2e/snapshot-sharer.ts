// One app process of two that share a FileLocalStore directory and an identity, adding items to one
// document of the list app (list-items.ts). With `snapshot`, the process snapshots the list halfway, once it
// holds some of the other process's items, and goes on adding while the snapshot is on its way.
// Usage: node snapshot-sharer.ts <url> <storeDir> <identitySecret> <group> <docId> <name> <count> <snapshot|write>
// Prints `ready` once its client runs, waits for a line on stdin (so both processes hold their clients at
// once), then prints one JSON line: { session, snapshotCovers? } once every write is synced.
import { createClient, importIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import type { DocId } from "../../protocol/index.ts";
import { addItem, itemsOf } from "./list-items.ts";

const [url, storeDir, secret, group, docId, name, count, mode] = process.argv.slice(2) as [string, string, string, string, DocId, string, string, string];
const client = await createClient({ url, identity: importIdentity(secret), store: new FileLocalStore(storeDir) });
const doc = await client.group(group).open(docId);
process.stdout.write("ready\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.pause();

async function write(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    doc.append(addItem(`${name}-${i}`));
    if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
  }
}

const total = Number(count);
let snapshotCovers: Record<string, number> | undefined;
if (mode === "snapshot") {
  await write(0, total / 2);
  await doc.synced();
  // Bounded by the test's own timeout: the other process is writing meanwhile.
  while (!doc.transactions().some((transaction) => transaction.session !== client.session)) await new Promise((resolve) => setTimeout(resolve, 20));
  const state = JSON.stringify(itemsOf(doc).sort());
  const taking = doc.snapshot(state);
  // Writes go on while the snapshot is on its way.
  await write(total / 2, total);
  await taking;
  snapshotCovers = doc.lastSnapshotted?.covers;
} else {
  await write(0, total);
}
await doc.synced();
process.stdout.write(`${JSON.stringify({ session: client.session, snapshotCovers })}\n`);
await client.close();
