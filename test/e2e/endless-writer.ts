// One app process of several that share a FileLocalStore directory and an identity, writing until it is
// killed: it opens a document, prints its session as a JSON line, then appends `<name>-<i>` three at a time
// every 2 ms, and every 20 ms prints how many of its session's writes the relay has acknowledged.
// Usage: node endless-writer.ts <url> <storeDir> <identitySecret> <group> <docId> <name>
import { createClient, importIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { countOf, type DocId } from "../../protocol/index.ts";

const [url, storeDir, secret, group, docId, name] = process.argv.slice(2) as [string, string, string, string, DocId, string];
const client = await createClient({ url, identity: importIdentity(secret), store: new FileLocalStore(storeDir) });
const doc = await client.group(group).open(docId);
process.stdout.write(`${JSON.stringify({ session: client.session })}\n`);
let next = 0;
setInterval(() => {
  for (let i = 0; i < 3; i++) doc.append(`${name}-${next++}`);
}, 2);
setInterval(() => process.stdout.write(`${JSON.stringify({ acked: countOf(doc.relayKnown, client.session) })}\n`), 20);
