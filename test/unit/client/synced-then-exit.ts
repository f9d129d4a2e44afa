// A Node process as a CLI script or a job is written: it opens a document on a FileLocalStore, appends
// `count` writes, waits for synced(), prints "synced" and exits at once, without closing the client.
// Usage: node synced-then-exit.ts <url> <group> <doc> <store folder> <identity JSON> <count>
import { createClient, importIdentity } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import type { DocId } from "../../../protocol/index.ts";

const [url, group, doc, folder, identity, count] = process.argv.slice(2) as [string, string, DocId, string, string, string];
const client = await createClient({ url, identity: importIdentity(JSON.parse(identity)), store: new FileLocalStore(folder) });
const opened = await client.group(group).open(doc);
for (let i = 0; i < Number(count); i++) opened.append(`acked-${i}`);
await opened.synced();
process.stdout.write("synced\n");
process.exit(0);
