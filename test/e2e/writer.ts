// A separate Node process using the real client SDK: opens a document, appends `count` transactions,
// waits until the relay acked them all and until it holds `expectTotal` transactions, then prints
// what it holds as one JSON line. Usage: node writer.ts <url> <group> <docId> <name> <count> <expectTotal>
import { createClient, createIdentity } from "../../client/index.ts";
import type { DocId } from "../../protocol/index.ts";

const [url, group, docId, name, count, expectTotal] = process.argv.slice(2) as [string, string, DocId, string, string, string];
const client = await createClient({ url, identity: createIdentity() });
const doc = await client.group(group).open(docId);

// Append in small bursts so the two writers interleave at the relay instead of one finishing first.
for (let i = 0; i < Number(count); i++) {
  doc.append(JSON.stringify({ writer: name, i }));
  if (i % 25 === 24) await new Promise((resolve) => setImmediate(resolve));
}
await doc.synced();

const total = Number(expectTotal);
if (doc.transactions().length < total) {
  await new Promise<void>((resolve) => {
    const stop = doc.subscribe(() => {
      if (doc.transactions().length >= total) {
        stop();
        resolve();
      }
    });
  });
}

const sessions: Record<string, unknown[]> = {};
for (const session of Object.keys(doc.known.sessions)) {
  sessions[session] = doc.sessionTransactions(session as never).map((transaction) => transaction.data);
}
const order = doc.transactions().map((transaction) => `${transaction.session}/${transaction.index}`);
process.stdout.write(`${JSON.stringify({ name, session: client.session, sessions, order })}\n`);
client.close();
