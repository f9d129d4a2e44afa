// A FileLocalStore file changed on the disk after it was saved (a flipped bit, a stray null, an edited
// header) that still parses: what the damaged line held is left out and told once through onError, and
// nothing of it reaches the relay, throws out of open() or append(), or keeps the group's other documents
// from syncing; a write made into such a document afterwards is not lost. Own writes the relay would refuse
// (an older SDK's) are held back, and the document is still written. Real relay (startRelay), real SDK;
// the network is cut by a proxy in front of the relay.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Group, type Identity, type RefusedWrites } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import type { DocId } from "../../../protocol/index.ts";
import { relayBehindProxy } from "../../support/relay-behind-proxy.ts";


const scene = relayBehindProxy("weft-damaged-");
const newFolder = () => scene.newFolder();

/** A client of `identity` on the store in `folder`, through the proxy. */
const clientOn = (folder: string, identity: Identity): Promise<Client> =>
  createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder, { fsync: false }), backoff: { baseMs: 20, capMs: 100 } });

/** A run of `identity`'s client on `folder` with the network down: what `write` writes is saved, not sent. */
async function offline(folder: string, identity: Identity, write: (client: Client) => Promise<void> | void): Promise<void> {
  scene.proxy.down();
  try {
    const client = await clientOn(folder, identity);
    await write(client);
    await client.close(); // once its writes are saved
  } finally {
    scene.proxy.restore();
  }
}

/** Changes a document's file as `damage` says, which must change it. */
function damageFile(folder: string, group: string, doc: DocId, damage: (text: string) => string): void {
  const path = join(folder, group, `${doc}.jsonl`);
  const text = readFileSync(path, "utf8");
  const damaged = damage(text);
  expect(damaged).not.toBe(text);
  writeFileSync(path, damaged);
}

/** A restarted client's group, and what its onError and onRefused heard. */
async function restarted(folder: string, identity: Identity, group: string): Promise<{ client: Client; group: Group; errors: string[]; refusals: RefusedWrites[] }> {
  const client = await clientOn(folder, identity);
  const restartedGroup = client.group(group);
  const errors: string[] = [];
  const refusals: RefusedWrites[] = [];
  restartedGroup.onError((error) => error.name !== "ConnectionError" && errors.push(error.message));
  restartedGroup.onRefused((refused) => refusals.push(refused));
  return { client, group: restartedGroup, errors, refusals };
}

/**
 * A document `identity` writes on `folder`: `acked` online, a save and an acknowledgement each, then `unsent`
 * with the network down, `perSave` writes to a save. Returns its id.
 */
async function ackedThenUnsent(folder: string, identity: Identity, group: string, acked: string[], unsent: string[], perSave = 1): Promise<DocId> {
  const first = await clientOn(folder, identity);
  const created = first.group(group).create();
  for (const data of acked) {
    created.append(data);
    await created.synced();
  }
  await first.close();
  await offline(folder, identity, async (client) => {
    const doc = await client.group(group).open(created.id);
    for (const [index, data] of unsent.entries()) {
      doc.append(data);
      if ((index + 1) % perSave === 0) await doc.synced({ signal: AbortSignal.timeout(50) }).catch(() => {}); // saved meanwhile
    }
  });
  return created.id;
}

/** What the relay holds of a document, as a fresh reader gets it. */
async function relayCopy(group: string, id: DocId): Promise<unknown[]> {
  const reader = await createClient({ url: scene.relay.url, identity: createIdentity() });
  try {
    const doc = await reader.group(group).open(id);
    await reader.group(group).synced();
    return doc.transactions().map((transaction) => transaction.data);
  } finally {
    await reader.close();
  }
}

/** A bounded wait: the test fails instead of hanging. */
const soon = () => ({ signal: AbortSignal.timeout(15_000) });

describe("a FileLocalStore file damaged on the disk that still parses", () => {
  it("a session id with a flipped bit costs only what was stored under it: the group resumes and syncs, onError hears it once", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const first = await clientOn(folder, identity);
    const a = first.group("garbled-session").create();
    a.append("a1");
    const b = first.group("garbled-session").create();
    b.append("b1");
    await first.group("garbled-session").synced();
    await first.close();
    // The high bit of one byte of the session id: the line still parses, the byte reads back as U+FFFD.
    const path = join(folder, "garbled-session", `${a.id}.jsonl`);
    const bytes = readFileSync(path);
    bytes[bytes.indexOf(Buffer.from(first.session)) + 10]! ^= 0x80;
    writeFileSync(path, bytes);

    const { client, group, errors } = await restarted(folder, identity, "garbled-session");
    try {
      const again = await group.open(b.id);
      again.append("b2");
      await again.synced(soon());
      await group.synced(soon());
      expect(errors).toEqual([expect.stringMatching(new RegExp(`^internal: the local store could not read all of group garbled-session: ${a.id}: session ".*\uFFFD.*": its transactions from 0 on are damaged, and left out$`))]);
      expect(await relayCopy("garbled-session", b.id)).toEqual(["b1", "b2"]);
    } finally {
      await client.close();
    }
  });

  it("a session id with a flipped bit in a snapshot's line leaves that document out, told once; the group resumes and syncs", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const first = await clientOn(folder, identity);
    const a = first.group("garbled-snapshot").create();
    a.append("a1");
    await a.synced();
    await a.snapshot("a at 1");
    const b = first.group("garbled-snapshot").create();
    b.append("b1");
    await first.group("garbled-snapshot").synced();
    await first.close();
    const path = join(folder, "garbled-snapshot", `${a.id}.jsonl`);
    const bytes = readFileSync(path);
    const line = bytes.indexOf(Buffer.from('{"snapshot":'));
    expect(line).toBeGreaterThan(0);
    bytes[bytes.indexOf(Buffer.from(first.session), line) + 10]! ^= 0x80;
    writeFileSync(path, bytes);

    const { client, group, errors } = await restarted(folder, identity, "garbled-snapshot");
    try {
      const again = await group.open(b.id);
      again.append("b2");
      await group.synced(soon());
      expect(errors).toEqual([expect.stringMatching(new RegExp(`^internal: the local store could not read all of group garbled-snapshot: ${a.id}: its snapshot is damaged, so the document is left out$`))]);
      expect(await relayCopy("garbled-snapshot", b.id)).toEqual(["b1", "b2"]);
    } finally {
      await client.close();
    }
  });

  describe.each([
    ["another session's transaction is null", "peer", (text: string) => text.replace(/\{"at":\d+,"data":"peer-1"\}/, "null"), /: its transactions from 0 on are damaged, and left out$/],
    ["an own unsent transaction is null", "own", (text: string) => text.replace(/\{"at":\d+,"data":"mine-unsent"\}/, "null"), /: its transactions from 1 on are damaged, and left out$/],
    ["another session's transaction has a time that is text", "peer", (text: string) => text.replace(/"at":\d+,"data":"peer-1"/, '"at":"x","data":"peer-1"'), /: its transactions from 0 on are damaged, and left out$/],
    ["another session's transaction has data of a number", "peer", (text: string) => text.replace('"data":"peer-1"', '"data":7'), /: its transactions from 0 on are damaged, and left out$/],
  ] as const)("where %s", (_name, whose, damage, told) => {
    it("every document of the group opens, is written and syncs; the damaged transaction and its session's later ones are left out, told once", async () => {
      const group = `shapes-${Math.random().toString(36).slice(2)}`;
      const peer = await createClient({ url: scene.relay.url, identity: createIdentity() });
      const damagedDoc = peer.group(group).create();
      damagedDoc.append("peer-1");
      const other = peer.group(group).create();
      other.append("peer-b");
      await peer.group(group).synced();
      await peer.close();

      const folder = newFolder();
      const identity = createIdentity();
      const first = await clientOn(folder, identity);
      const written = await first.group(group).open(damagedDoc.id);
      await first.group(group).open(other.id);
      written.append("mine-1");
      await written.synced();
      await first.close();
      await offline(folder, identity, async (client) => {
        (await client.group(group).open(damagedDoc.id)).append("mine-unsent");
      });
      damageFile(folder, group, damagedDoc.id, damage);

      const { client, group: restartedGroup, errors } = await restarted(folder, identity, group);
      try {
        for (const id of [damagedDoc.id, other.id]) {
          const doc = await restartedGroup.open(id, soon());
          doc.append(`new in ${id}`);
          await doc.synced(soon());
        }
        expect(errors).toEqual([expect.stringMatching(told)]);
        expect(errors[0]).toContain(`${damagedDoc.id}: session "${whose === "own" ? client.session : peer.session}": `);
        // What the relay held is its own again: the peer's write comes back from it.
        expect(await relayCopy(group, damagedDoc.id)).toContain("peer-1");
        expect(await relayCopy(group, other.id)).toEqual(["peer-b", `new in ${other.id}`]);
      } finally {
        await client.close();
      }
    });
  });

  it("a damaged line of acknowledged writes costs none of the writes saved after it: they wait for the relay's copy of that line, then go up, each once", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const group = `acked-hole-${Math.random().toString(36).slice(2)}`;
    const unsent = Array.from({ length: 30 }, (_, i) => `offline-${i + 1}`);
    const id = await ackedThenUnsent(folder, identity, group, ["acked-1", "acked-2", "acked-3"], unsent, 10);
    damageFile(folder, group, id, (text) => text.replace(/"data":"acked-2"/, '"data":"acked\u0000'));

    const restart = await restarted(folder, identity, group);
    try {
      const doc = await restart.group.open(id);
      await restart.group.synced(soon());
      const expected = ["acked-1", "acked-2", "acked-3", ...Array.from({ length: 30 }, (_, i) => `offline-${i + 1}`)];
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(expected);
      expect(await relayCopy(group, id)).toEqual(expected);
      expect(restart.errors).toEqual([expect.stringContaining("could not be read (damaged on the disk)")]);
      expect(restart.refusals).toEqual([]);
    } finally {
      await restart.client.close();
    }
    // Started again, the store holds the session whole: nothing more is told, nothing goes up twice.
    const again = await restarted(folder, identity, group);
    try {
      const doc = await again.group.open(id);
      await again.group.synced(soon());
      expect(doc.transactions()).toHaveLength(33);
      expect(await relayCopy(group, id)).toHaveLength(33);
      expect(again.errors).toEqual([expect.stringContaining("could not be read (damaged on the disk)")]);
    } finally {
      await again.client.close();
    }
  });

  it("a damaged first line, the header's, costs neither the document nor the offline writes saved after it", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const group = `header-hole-${Math.random().toString(36).slice(2)}`;
    const id = await ackedThenUnsent(folder, identity, group, ["acked-1"], ["offline-1", "offline-2"], 2);
    damageFile(folder, group, id, (text) => text.replace(/^\n\{[^\n]*/, "\n{\"header\u0000garbled"));

    const restart = await restarted(folder, identity, group);
    try {
      const doc = await restart.group.open(id);
      await restart.group.synced(soon());
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["acked-1", "offline-1", "offline-2"]);
      expect(await relayCopy(group, id)).toEqual(["acked-1", "offline-1", "offline-2"]);
      expect(restart.errors).toEqual([expect.stringContaining("a save could not be read (damaged on the disk)")]);
    } finally {
      await restart.client.close();
    }
  });

  it("a line that still parses but names what it held by another key (a flipped bit: \"appendr\") is told, not taken as a save of nothing", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const group = `flipped-key-${Math.random().toString(36).slice(2)}`;
    const id = await ackedThenUnsent(folder, identity, group, ["acked"], ["unsent-1", "unsent-2"]);
    damageFile(folder, group, id, (text) => {
      const at = text.lastIndexOf('"appends"');
      return `${text.slice(0, at)}"appendr"${text.slice(at + '"appends"'.length)}`;
    });

    const restart = await restarted(folder, identity, group);
    try {
      const doc = await restart.group.open(id);
      await restart.group.synced(soon());
      expect(await relayCopy(group, id)).toEqual(["acked", "unsent-1"]);
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["acked", "unsent-1"]);
      expect(restart.errors).toEqual([expect.stringMatching(/: a save could not be read \(damaged on the disk\), and is left out$/)]);
    } finally {
      await restart.client.close();
    }
  });

  it("a damaged line of writes the relay never got loses the writes saved after it, told once; synced() settles, and the document is written on", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const group = `unsent-hole-${Math.random().toString(36).slice(2)}`;
    const id = await ackedThenUnsent(folder, identity, group, ["acked"], ["offline-1", "offline-2", "offline-3"]);
    damageFile(folder, group, id, (text) => text.replace(/"data":"offline-2"/, '"data":"offline\u0000'));

    const restart = await restarted(folder, identity, group);
    try {
      const doc = await restart.group.open(id);
      await restart.group.synced(soon());
      doc.append("after the restart");
      await doc.synced(soon());
      expect(await relayCopy(group, id)).toEqual(["acked", "offline-1", "after the restart"]);
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["acked", "offline-1", "after the restart"]);
      expect(restart.errors).toEqual([
        expect.stringContaining("are kept aside until the relay's copy of those fills the gap"),
        `internal: the local store kept writes 3-3 of session ${restart.client.session} of ${id} past a save damaged on the disk, and the relay's copy of the session does not lead up to them: they are lost`,
      ]);
    } finally {
      await restart.client.close();
    }

    // Told lost, they are gone from the store too: the next start neither joins them behind the write that
    // took their place (the relay would then hold offline-3 after it) nor tells them lost again.
    const again = await restarted(folder, identity, group);
    try {
      const doc = await again.group.open(id);
      await again.group.synced(soon());
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["acked", "offline-1", "after the restart"]);
      expect(await relayCopy(group, id)).toEqual(["acked", "offline-1", "after the restart"]);
      expect(again.errors.filter((error) => error.includes("they are lost"))).toEqual([]);
    } finally {
      await again.client.close();
    }
  });

  it.each([
    ["a lone surrogate", '"older-sdk-write\\ud800"', "older-sdk-write\ud800"],
    ["data that is not text or bytes", '{"op":"add"}', { op: "add" }],
  ])("an own write the relay would refuse (an older SDK's, %s) is held back, and the document is still written: append holds the new write back behind it until discardRefused", async (_name, stored, data) => {
    const folder = newFolder();
    const identity = createIdentity();
    const group = `held-back-${Math.random().toString(36).slice(2)}`;
    let id: DocId | undefined;
    await offline(folder, identity, (client) => {
      const doc = client.group(group).create();
      doc.append("fine");
      doc.append("older-sdk-write");
      id = doc.id;
    });
    damageFile(folder, group, id!, (text) => text.replace('"older-sdk-write"', stored));

    const restart = await restarted(folder, identity, group);
    try {
      const doc = await restart.group.open(id!);
      await expect(doc.synced(soon())).rejects.toMatchObject({ code: "bad_frame" });
      expect(restart.refusals.map((refused) => [refused.error.code, refused.transactions.map((transaction) => transaction.data)])).toEqual([["bad_frame", [data]]]);
      doc.append("behind it");
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["fine", data, "behind it"]);
      await restart.group.discardRefused(doc);
      doc.append("after the discard");
      await doc.synced(soon());
      expect(await relayCopy(group, id!)).toEqual(["fine", "after the discard"]);
      expect(restart.errors).toEqual([]);
    } finally {
      await restart.client.close();
    }
  });

  it("a header changed on the disk leaves the document out, told; a write made into it once it came from the relay again is kept and pushed at the next start", async () => {
    const folder = newFolder();
    const identity = createIdentity();
    const first = await clientOn(folder, identity);
    const created = first.group("header").create({ meta: { title: "list" } });
    created.append("one");
    await created.synced();
    await first.close();
    damageFile(folder, "header", created.id, (text) => text.replaceAll('"list"', '"lisT"')); // the header and its copy

    // Online at first: the document comes from the relay; then the network goes, and a write is made.
    const second = await restarted(folder, identity, "header");
    try {
      const doc = await second.group.open(created.id);
      expect(second.errors).toEqual([`bad_header: the local store holds ${created.id} with a header that is not its own: skipped`]);
      scene.proxy.down();
      doc.append("two (offline)");
      await second.client.close(); // once the write is saved
    } finally {
      scene.proxy.restore();
    }

    const third = await restarted(folder, identity, "header");
    try {
      const doc = await third.group.open(created.id);
      await third.group.synced(soon());
      expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["one", "two (offline)"]);
      expect(third.errors).toEqual([]);
      expect(await relayCopy("header", created.id)).toEqual(["one", "two (offline)"]);
    } finally {
      await third.client.close();
    }
    expect(readdirSync(join(folder, "header")).filter((name) => name.endsWith(".jsonl"))).toEqual([`${created.id}.jsonl`]);
  });
});
