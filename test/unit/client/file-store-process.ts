// Another process on the same FileLocalStore directory, for the store tests. Usage:
//   node file-store-process.ts save <dir> <group> <docId> <session> <count>  -> saves <count> one-transaction records, printing
//                                                                             how many have resolved after each, then "saved"
//   node file-store-process.ts hold <dir> <agent>                           -> leases a session, prints it, then waits to be killed
//   node file-store-process.ts exit <dir> <agent>                           -> leases a session, prints it, exits without releasing it
//   node file-store-process.ts compact <dir> <group> <docId>                -> writes the document's file whole, again and again, until killed
import { join } from "node:path";
import { compactFile } from "../../../client/storage/file-compaction.ts";
import { FileLocalStore } from "../../../client/storage/file-store.ts";
import { newSessionId, type AgentId, type DocId, type SessionId } from "../../../protocol/index.ts";

const [mode, directory, ...args] = process.argv.slice(2) as [string, string, ...string[]];
const store = new FileLocalStore(directory);
if (mode === "save") {
  const [group, doc, session, count] = args as [string, DocId, SessionId, string];
  for (let i = 0; i < Number(count); i++) {
    await store.save(group, doc, { appends: [{ session, after: i, transactions: [{ at: 1_700_000_000_000 + i, data: `${session}-${i}` }] }] });
    process.stdout.write(`${i + 1}\n`);
  }
  process.stdout.write("saved\n");
} else if (mode === "compact") {
  const [group, doc] = args as [string, DocId];
  process.stdout.write("compacting\n");
  for (;;) await compactFile(join(directory, encodeURIComponent(group), `${doc}.jsonl`), doc, true);
} else {
  const agent = args[0] as AgentId;
  const lease = await store.leaseSession(agent, { fresh: () => newSessionId(agent) });
  process.stdout.write(`${lease.session}\n`);
  if (mode === "exit") process.exit(0);
  setInterval(() => {}, 1_000); // held until this process is killed
}
