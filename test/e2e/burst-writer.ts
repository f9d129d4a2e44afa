// A separate Node process using the real client SDK: creates `docs` documents in `group`, prints their ids
// as one JSON line, waits for a line on stdin, then appends `count` transactions of `chars` characters
// over them all at once (as an import or a large paste would), waits until the relay acked every one and
// prints "acked". Each is padded with digits, or with `fill` (a character code) if given.
// Usage: node burst-writer.ts <url> <group> <docs> <count> <chars> [fill]
import { createInterface } from "node:readline";
import { createClient, createIdentity } from "../../client/index.ts";

const [url, group, docCount, count, chars, fill] = process.argv.slice(2) as [string, string, string, string, string, string?];
const client = await createClient({ url, identity: createIdentity() });
const opened = client.group(group);
const docs = Array.from({ length: Number(docCount) }, () => opened.create({ kind: "text" }));
for (const doc of docs) doc.append("first");
await opened.synced();
process.stdout.write(`${JSON.stringify(docs.map((doc) => doc.id))}\n`);

const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
const padding = (i: number) => (fill === undefined ? String(i % 10) : String.fromCharCode(Number(fill)));
for (let i = 0; i < Number(count); i++) docs[i % docs.length]!.append(`${i}:`.padEnd(Number(chars), padding(i)));
await opened.synced();
process.stdout.write("acked\n");
lines.close();
client.close();
