// One app process of two that share a FileLocalStore directory and an identity (two instances of one app on
// one machine). It appends `count` transactions to a document, waits for doc.synced(), and at that moment
// asks the relay, through a second client with an empty store, how much of its session it holds.
// Usage: node store-sharer.ts <url> <storeDir> <identitySecret> <group> <docId> <name> <count>
// Prints `ready` once its client runs, waits for a line on stdin (so both processes hold their clients at
// once), then prints one JSON line: { session, atRelayWhenSynced } (the relay's copy of its session, as data).
import { createClient, createIdentity, importIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import type { DocId } from "../../protocol/index.ts";

const [url, storeDir, secret, group, docId, name, count] = process.argv.slice(2) as [string, string, string, string, DocId, string, string];
const client = await createClient({ url, identity: importIdentity(secret), store: new FileLocalStore(storeDir) });
const doc = await client.group(group).open(docId);
process.stdout.write("ready\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.pause();

// Small bursts, so the two processes' writes interleave in the store and at the relay.
for (let i = 0; i < Number(count); i++) {
  doc.append(`${name}-${i}`);
  if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
}
await doc.synced();

const checker = await createClient({ url, identity: createIdentity() });
const view = await checker.group(group).open(docId);
const atRelayWhenSynced = view.sessionTransactions(client.session).map((transaction) => transaction.data);
process.stdout.write(`${JSON.stringify({ session: client.session, atRelayWhenSynced })}\n`);
await Promise.all([checker.close(), client.close()]);
