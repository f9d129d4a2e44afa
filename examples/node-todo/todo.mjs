// A shared todo list in Node: two devices edit one list through a Weft relay and end up with the same list.
// Run: node todo.mjs (starts a local relay with weft/dev), or WEFT_URL=http://127.0.0.1:8787 node todo.mjs.
// Node 22 has a WebSocket of its own; on Node 20 install the ws package too (npm install ws): it is passed in.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createIdentity } from "weft/client";
import { FileLocalStore } from "weft/client/node";
import { startRelay } from "weft/dev";

// Node 20 has no global WebSocket: createClient takes the ws package's.
const WebSocket =
  globalThis.WebSocket ??
  (await import("ws").catch(() => {
    throw new Error(`Node ${process.versions.node} has no WebSocket: npm install ws (or run on Node 22)`);
  })).WebSocket;

const relay = process.env.WEFT_URL ? { url: process.env.WEFT_URL, stop: async () => {} } : await startRelay();

// The list is a log of operations; every device replays it in the same order, so all agree.
const itemsOf = (doc) => {
  const items = [];
  for (const { data } of doc.transactions()) {
    const op = JSON.parse(data);
    if (op.add) items.push(op.add);
    if (op.done) items.splice(items.indexOf(op.done), 1);
  }
  return items;
};

// Resolves once `check()` holds for `doc`, now or after a change it hears.
const until = (doc, check) =>
  new Promise((resolve) => {
    if (check()) return resolve();
    const stop = doc.subscribe(() => check() && (stop(), resolve()));
  });

// The laptop keeps its copy on disk, so the list opens offline next time.
const laptopFolder = mkdtempSync(join(tmpdir(), "todo-"));
const laptop = await createClient({ url: relay.url, identity: createIdentity(), store: new FileLocalStore(laptopFolder), WebSocket });
const list = laptop.group("home").create({ kind: "json", meta: { title: "Groceries" } });
list.append(JSON.stringify({ add: "milk" }));
list.append(JSON.stringify({ add: "eggs" }));
await list.synced();

// The phone opens the same list by id and hears the laptop's changes live.
const phone = await createClient({ url: relay.url, identity: createIdentity(), WebSocket });
const onPhone = await phone.group("home").open(list.id);
onPhone.append(JSON.stringify({ done: "milk" }));
list.append(JSON.stringify({ add: "bread" }));
await Promise.all([onPhone.synced(), list.synced()]);
// Both edited at once; each hears the other's change and replays the same log.
await until(list, () => itemsOf(list).length === 2);
await until(onPhone, () => itemsOf(onPhone).length === 2);

console.log(`laptop: ${itemsOf(list).join(", ")}`);
console.log(`phone:  ${itemsOf(onPhone).join(", ")}`);
await laptop.close();
phone.close();
await relay.stop();
rmSync(laptopFolder, { recursive: true, force: true }); // a demo: the laptop's copy goes with it
