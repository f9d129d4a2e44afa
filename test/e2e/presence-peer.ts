// A separate Node process using the real client SDK: opens a document, shows `{ name }` as its presence,
// prints one JSON line each time the others it sees change, and stays until it is killed.
// Usage: node presence-peer.ts <url> <group> <docId> <name>
import { createClient, createIdentity } from "../../client/index.ts";
import type { DocId } from "../../protocol/index.ts";

const [url, group, docId, name] = process.argv.slice(2) as [string, string, DocId, string];
const client = await createClient({ url, identity: createIdentity() });
const doc = await client.group(group).open(docId);
doc.presence.set({ name });
doc.presence.subscribe((peers) => {
  const names = [...peers.values()].map((peer) => (peer.state as { name?: string }).name).sort();
  process.stdout.write(`${JSON.stringify({ session: client.session, names })}\n`);
});
