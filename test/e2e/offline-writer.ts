// An app process with a file-backed local store. Usage:
//   node offline-writer.ts <url> <storeDir> <identitySecret> <group> create <count>   -> prints {doc, session}
//   node offline-writer.ts <url> <storeDir> <identitySecret> <group> sync <docId>     -> prints {doc, count}
// `create` appends while the relay is unreachable and exits without waiting; `sync` restarts the app on
// the same store, opens the document from disk, and waits until the relay acknowledged everything.
import { createClient, importIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import type { DocId } from "../../protocol/index.ts";

const [url, storeDir, secret, group, mode, arg] = process.argv.slice(2) as [string, string, string, string, "create" | "sync", string];
const client = await createClient({ url, identity: importIdentity(secret), store: new FileLocalStore(storeDir), backoff: { baseMs: 50, capMs: 500 } });

if (mode === "create") {
  const doc = client.group(group).create({ kind: "json", meta: { offline: true } });
  for (let i = 0; i < Number(arg); i++) doc.append(`offline-${i}`);
  // Appends are saved by the next flush; give it one turn of the event loop, then quit like an app would.
  await new Promise((resolve) => setTimeout(resolve, 50));
  process.stdout.write(`${JSON.stringify({ doc: doc.id, session: client.session, unsynced: doc.hasUnsynced })}\n`);
} else {
  const doc = await client.group(group).open(arg as DocId);
  const count = doc.sessionTransactions(client.session).length;
  await doc.synced();
  process.stdout.write(`${JSON.stringify({ doc: doc.id, session: client.session, count })}\n`);
}
client.close();
