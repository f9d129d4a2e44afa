// Writes the relay acknowledged in an earlier run of the app are never reported refused: a client restarted
// on its FileLocalStore knows, from the store, what the relay held when it last heard from it, as a client
// that stayed up through a lost connection knows it. Real relay (startRelay), real SDK, runs of a client on
// one store folder; the network is cut by a proxy in front of the relay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient, createIdentity, exportIdentity, type Client, type Doc, type Group, type Identity, type RefusedWrites } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import type { DocId, Role } from "../../../protocol/index.ts";
import { relayBehindProxy } from "../../support/relay-behind-proxy.ts";
import { spawnLineProcess } from "../../support/line-process.ts";
import { until } from "../../support/wait.ts";

const SYNCED_THEN_EXIT = fileURLToPath(new URL("./synced-then-exit.ts", import.meta.url));

const scene = relayBehindProxy("weft-acked-");
let admin: Client;

beforeAll(async () => {
  admin = await createClient({ url: scene.relay.url, identity: createIdentity() });
});

afterAll(async () => {
  await admin?.close();
});

/** What onRefused heard, per refusal. */
const heard = (refusals: RefusedWrites[]) => refusals.map((refused) => ({ code: refused.error.code, data: refused.transactions.map((transaction) => transaction.data), wholeDocument: refused.wholeDocument }));

type Scenario = {
  /** The writer's role in the group at first. */
  role: Role;
  /** Makes the document written, as the writer's first client (or the admin) does. */
  make: (writer: Client, group: string) => Promise<DocId>;
  /** What the writer writes while it is away. */
  offline: string[];
  /** What happens at the relay while it is away. */
  meanwhile: (adminGroup: Group, writer: Identity, doc: DocId) => Promise<void>;
};

/**
 * The writer's first run writes `x0` and waits for synced(); a second run, offline, writes `offline`;
 * then `meanwhile` happens at the relay, and a third run starts online on the same store folder.
 */
async function restartedAfter(group: string, scenario: Scenario): Promise<{ client: Client; group: Group; doc: Doc; refusals: RefusedWrites[] }> {
  const identity = createIdentity();
  const folder = scene.newFolder();
  const adminGroup = admin.group(group);
  await adminGroup.createMembers().synced();
  await adminGroup.setRole(identity.agent, scenario.role);

  const first = await createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder) });
  const id = await scenario.make(first, group);
  const written = await first.group(group).open(id);
  written.append("x0");
  await written.synced();
  await first.close();

  scene.proxy.down();
  try {
    const second = await createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder) });
    const away = await second.group(group).open(id); // from the store, without the network
    for (const data of scenario.offline) away.append(data);
    await second.close(); // once its writes are saved
  } finally {
    scene.proxy.restore();
  }
  await scenario.meanwhile(adminGroup, identity, id);

  const client = await createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder) });
  const restarted = client.group(group);
  const refusals: RefusedWrites[] = [];
  restarted.onRefused((refused) => refusals.push(refused));
  return { client, group: restarted, doc: await restarted.open(id), refusals };
}

/** A document the writer creates. */
const created = async (writer: Client, group: string): Promise<DocId> => writer.group(group).create().id;

const deleted: Scenario["meanwhile"] = (adminGroup, _writer, doc) => adminGroup.delete(doc);

describe("a process that exits as soon as its writes are synced", () => {
  it("restarted after the document was deleted: onRefused names none of them", async () => {
    const children: ChildProcess[] = [];
    const identity = createIdentity();
    const folder = scene.newFolder();
    const adminGroup = admin.group("synced-then-exit");
    await adminGroup.createMembers().synced();
    await adminGroup.setRole(identity.agent, "writer");
    const made = adminGroup.create();
    await made.synced();
    try {
      const writer = spawnLineProcess(SYNCED_THEN_EXIT, [scene.relay.url, "synced-then-exit", made.id, folder, JSON.stringify(exportIdentity(identity)), "5"], children);
      expect(await writer.line(0)).toBe("synced");
      // It exits at once: perhaps already, before its line was read.
      await new Promise((resolve) => (writer.child.exitCode !== null ? resolve(undefined) : writer.child.once("exit", resolve)));
    } finally {
      for (const child of children) child.kill("SIGKILL");
    }
    await adminGroup.delete(made.id);

    const client = await createClient({ url: scene.relay.url, identity, store: new FileLocalStore(folder) });
    try {
      const restarted = client.group("synced-then-exit");
      const refusals: RefusedWrites[] = [];
      restarted.onRefused((refused) => refusals.push(refused));
      const doc = await restarted.open(made.id);
      await until(() => doc.deleted, 10_000);
      await restarted.synced();
      expect(heard(refusals)).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe("a client restarted on its store, after the relay acknowledged its first write", () => {
  it("the document deleted while it was away: onRefused names the writes made offline, not the one acknowledged before", async () => {
    const { client, group, doc, refusals } = await restartedAfter("acked-deleted", { role: "writer", make: created, offline: ["x1", "x2"], meanwhile: deleted });
    try {
      await expect(group.synced()).rejects.toMatchObject({ code: "doc_deleted" });
      expect(doc.deleted).toBe(true);
      expect(heard(refusals)).toEqual([{ code: "doc_deleted", data: ["x1", "x2"], wholeDocument: false }]);
    } finally {
      await client.close();
    }
  });

  it("the document deleted while it was away, with nothing written since: nothing is reported refused", async () => {
    const { client, group, doc, refusals } = await restartedAfter("acked-deleted-only", { role: "writer", make: created, offline: [], meanwhile: deleted });
    try {
      await until(() => doc.deleted, 10_000);
      await group.synced();
      expect(heard(refusals)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it("made a reader while it was away: onRefused names the write made offline, not the one acknowledged before", async () => {
    const { client, group, refusals } = await restartedAfter("acked-reader", {
      role: "writer",
      make: created,
      offline: ["x1"],
      meanwhile: (adminGroup, writer) => adminGroup.setRole(writer.agent, "reader"),
    });
    try {
      await expect(group.synced()).rejects.toMatchObject({ code: "forbidden" });
      expect(heard(refusals)).toEqual([{ code: "forbidden", data: ["x1"], wholeDocument: false }]);
    } finally {
      await client.close();
    }
  });

  it("no longer let read the document while it was away (an admin made a writer, the document kept to its readers): only the write made offline is named", async () => {
    const { client, group, refusals } = await restartedAfter("acked-unreadable", {
      role: "admin",
      // The admin's document, kept to the admin: the writer reads it only while it is an admin itself.
      make: async (_writer, id) => {
        const doc = admin.group(id).create({ readers: [admin.identity.agent] });
        await doc.synced();
        return doc.id;
      },
      offline: ["x1"],
      meanwhile: (adminGroup, writer) => adminGroup.setRole(writer.agent, "writer"),
    });
    try {
      await expect(group.synced()).rejects.toMatchObject({ code: "forbidden" });
      expect(heard(refusals)).toEqual([{ code: "forbidden", data: ["x1"], wholeDocument: false }]);
    } finally {
      await client.close();
    }
  });
});

describe("a client that stayed up while cut off (the same as restarted)", () => {
  it("the document deleted meanwhile: onRefused names the writes made offline, not the one acknowledged before", async () => {
    const identity = createIdentity();
    const adminGroup = admin.group("acked-stayed-up");
    await adminGroup.createMembers().synced();
    await adminGroup.setRole(identity.agent, "writer");
    const client = await createClient({ url: scene.proxy.url, identity });
    try {
      const group = client.group("acked-stayed-up");
      const refusals: RefusedWrites[] = [];
      group.onRefused((refused) => refusals.push(refused));
      const doc = group.create();
      doc.append("x0");
      await doc.synced();
      scene.proxy.down();
      try {
        await until(() => group.status !== "live", 10_000);
        doc.append("x1");
        doc.append("x2");
        await adminGroup.delete(doc.id);
      } finally {
        scene.proxy.restore();
      }
      client.reconnectNow();
      await expect(group.synced()).rejects.toMatchObject({ code: "doc_deleted" });
      expect(heard(refusals)).toEqual([{ code: "doc_deleted", data: ["x1", "x2"], wholeDocument: false }]);
    } finally {
      await client.close();
    }
  });
});
