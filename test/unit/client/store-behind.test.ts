// A local store that lost its last saves while the relay kept them (`fsync: false` and a power cut, or a
// folder restored from an older backup): the client takes the relay's copy of its session in, and a write
// made after the restart counts as synced only once the relay holds it. Real relay (startRelay) and
// FileLocalStore; the store's lines are cut by hand as the lost saves would leave them.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, importIdentity, type Doc } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { until } from "../../support/wait.ts";

let relay: LocalRelay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(() => relay?.stop());

/** A line of the store that holds writes (the others tell only what the relay holds, an ack heard, or copy the header). */
const holdsWrites = (line: string): boolean => ((JSON.parse(line) as { appends?: unknown[] }).appends?.length ?? 0) > 0;

/**
 * Writes 10 transactions one save each, then cuts the store's copy of the document to its first 7: the
 * lines from the eighth write's on are lost, or (`lostWrites`) only the lines of writes are, as when lines
 * are damaged on the disk: the later lines telling what the relay holds (all 10) then still load.
 */
async function storeBehindRelay(folder: string, secret: string, group: string, lostWrites = false): Promise<void> {
  const writer = await createClient({ url: relay.url, identity: importIdentity(secret), store: new FileLocalStore(folder) });
  const doc = writer.group(group).create();
  const file = () => {
    const name = existsSync(join(folder, group)) ? readdirSync(join(folder, group)).find((entry) => entry.endsWith(".jsonl")) : undefined;
    return name === undefined ? undefined : join(folder, group, name);
  };
  const savedLines = () => {
    const path = file();
    return path === undefined ? [] : readFileSync(path, "utf8").split("\n").filter(Boolean);
  };
  for (let i = 0; i < 10; i++) {
    doc.append(`first-${i}`);
    // Each its own save (writes of one tick, or made while a save is under way, are saved together).
    await until(() => savedLines().filter(holdsWrites).length === i + 1, 10_000);
  }
  await doc.synced();
  await writer.close();
  const lines = savedLines();
  const writes = lines.filter(holdsWrites);
  expect(writes).toHaveLength(10); // the header's line with the first write, then one line per save
  const kept = lostWrites ? lines.filter((line) => !writes.slice(7).includes(line)) : lines.slice(0, lines.indexOf(writes[7]!));
  writeFileSync(file()!, kept.map((line) => `\n${line}\n`).join(""));
}

describe("a store that lost saves the relay kept", () => {
  // The relay's answers arrive in orders that vary with timing; each round is a fresh document.
  // Writes lost while the store still tells the relay held them all (damaged lines): written before the relay
  // answers, a write at an index the relay holds another write at is not taken for that one.
  it.each([
    [1, false],
    [2, false],
    [3, false],
    [4, false],
    [5, false],
    [6, true],
    [7, true],
    [8, true],
  ])("round %i (lines of writes lost alone, written before the relay answers: %s): a write after the restart is synced only once the relay holds it, after its copy", async (round, lostWrites) => {
    const folder = mkdtempSync(join(tmpdir(), "weft-behind-"));
    const secret = exportIdentity(createIdentity());
    const group = `behind-${round}`;
    try {
      await storeBehindRelay(folder, secret, group, lostWrites);
      const restarted = await createClient({ url: relay.url, identity: importIdentity(secret), store: new FileLocalStore(folder) });
      const opened = restarted.group(group);
      let doc: Doc | undefined;
      if (lostWrites) {
        await opened.ready; // the store is read: the loads go out now, and their answers come after this
        [doc] = opened.docs;
      } else [doc] = await opened.openAll();
      doc!.append("after-restart");
      await doc!.synced();
      await restarted.close();
      const reader = await createClient({ url: relay.url, identity: createIdentity() });
      try {
        const held = await reader.group(group).open(doc!.id);
        const expected = [...Array.from({ length: 10 }, (_, i) => `first-${i}`), "after-restart"];
        expect(held.sessionTransactions(restarted.session).map((transaction) => transaction.data)).toEqual(expected);
      } finally {
        await reader.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
