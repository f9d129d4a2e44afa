// End to end with the SDK: a group with a membership log, app-issued tokens that expire, a removed member
// cut off live, and a 1,000-document group opened over one socket.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign } from "hono/jwt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Identity } from "../../client/index.ts";
import type { AgentId, Role } from "../../protocol/index.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";
import { sleep, until } from "../support/wait.ts";

const SECRET = "e2e-token-secret-long-enough-for-hs256";
const FAST_RETRY = { baseMs: 50, capMs: 500, minUptimeMs: 1_000 };

/** What an app's backend does: mint a short-lived token naming the agent, the group and a role. */
const mintToken = (agent: AgentId, group: string, role: Role, lifetimeSeconds: number) =>
  sign({ sub: agent, group, role, exp: Math.floor(Date.now() / 1000) + lifetimeSeconds }, SECRET, "HS256");

describe("groups through wrangler dev", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-groups-"));
  let relay: RelayProcess;
  let proxy: Proxy;
  const clients: Client[] = [];

  const client = async (identity: Identity = createIdentity(), options: { getToken?: (group: string) => Promise<string>; url?: string } = {}) => {
    const created = await createClient({ url: options.url ?? relay.url, identity, backoff: FAST_RETRY, ...options });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    // Members by signature and token holders side by side: open groups and founding by anyone, explicitly.
    relay = await startRelay({ persistTo, vars: { WEFT_TOKEN_SECRET: SECRET, WEFT_OPEN_GROUPS: "true", WEFT_FOUNDERS: "anyone" } });
    proxy = await startProxy({ port: relay.port });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await proxy?.close();
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("members come and go: a removed writer is cut off live and kept out", async () => {
    const admin = await client();
    const bobIdentity = createIdentity();
    const team = admin.group("team");
    await team.createMembers().synced();
    await team.setRole(bobIdentity.agent, "writer");
    expect(await team.members()).toEqual(new Map([[admin.identity.agent, "admin"], [bobIdentity.agent, "writer"]]));

    const bob = await client(bobIdentity);
    const bobs = bob.group("team");
    const doc = bobs.create({ kind: "json" });
    doc.append("bob was here");
    await doc.synced();
    expect(bobs.role).toBe("writer");

    // An admin deletes Bob's document: Bob hears of it live, and his copy stops taking writes.
    const adminsView = await team.open(doc.id);
    await team.delete(doc.id);
    await until(() => doc.deleted);
    expect(adminsView.deleted).toBe(true);
    expect(() => doc.append("too late")).toThrow(/deleted/);
    expect(await team.directory()).toMatchObject({ inSync: true }); // the deletion counts as held

    await team.removeMember(bobIdentity.agent);
    await until(() => bobs.status === "closed");
    expect(bobs.connection.closeReason).toMatch(/^unauthorized/);

    // An outsider with a valid key gets nothing.
    const outsider = await client();
    const outside = outsider.group("team");
    await until(() => outside.status === "closed");
    expect(outside.connection.closeReason).toMatch(/^unauthorized/);
    await expect(outside.directory()).rejects.toThrow(/closed/);
  });

  it("an app token lets a non-member in, and an expired one is refreshed through the app, not looped on", async () => {
    const admin = await client();
    await admin.group("app").createMembers().synced();

    const carol = createIdentity();
    let tokensIssued = 0;
    const app = await client(carol, {
      url: proxy.url,
      getToken: async (group) => {
        tokensIssued++;
        return mintToken(carol.agent, group, "writer", 2);
      },
    });
    const group = app.group("app");
    const doc = group.create();
    doc.append("first");
    await doc.synced();
    expect(group.role).toBe("writer");
    expect(tokensIssued).toBe(1);

    await sleep(2_200); // the token expires while connected
    doc.append("second");
    await doc.synced();
    expect(tokensIssued).toBe(2);
    expect(doc.sessionTransactions(app.session).map((t) => t.data)).toEqual(["first", "second"]);

    // A reader's token: its writes are refused at once, as the relay would, and synced() does not hang.
    const dave = createIdentity();
    const reader = await client(dave, { getToken: async (g) => mintToken(dave.agent, g, "reader", 60) });
    const readonly = await reader.group("app").open(doc.id);
    expect(readonly.transactions().map((t) => t.data)).toEqual(["first", "second"]);
    expect(reader.group("app").role).toBe("reader");
    expect(() => readonly.append("not allowed")).toThrow(expect.objectContaining({ name: "LocalRefusalError", code: "forbidden" }));
    await readonly.synced();
  });

  it("a group of 1,000 documents opens over one socket, and an in-sync client learns it in one round trip", async () => {
    const writer = await client();
    const source = writer.group("big");
    for (let i = 0; i < 1_000; i++) {
      const doc = source.create({ kind: "json", meta: { n: i } });
      for (let t = 0; t < 5; t++) doc.append(`doc-${i}-tx-${t}`);
    }
    await source.synced();

    const connectionsBefore = proxy.connections;
    const reader = await client(createIdentity(), { url: proxy.url });
    const group = reader.group("big");
    const started = performance.now();
    const docs = await group.openAll();
    const openMs = performance.now() - started;
    expect(docs).toHaveLength(1_000);
    expect(docs.every((doc) => doc.transactions().length === 5)).toBe(true);
    expect(proxy.connections - connectionsBefore).toBe(1);
    console.log(`opened 1,000 documents (5,000 transactions) in ${openMs.toFixed(0)} ms, ${group.connection.bytesReceived} bytes`);

    const inSync = await group.directory();
    expect(inSync).toMatchObject({ inSync: true, docs: [] });

    // A client that holds nothing lists everything; after one change, `since` lists just that document.
    const lister = (await client()).group("big");
    const everything = await lister.directory();
    expect(everything).toMatchObject({ inSync: false });
    expect(everything.docs).toHaveLength(1_000);
    const changed = source.docs[0]!;
    changed.append("one more");
    await changed.synced();
    const later = await lister.directory({ since: everything.cursor });
    expect(later.docs.map((entry) => entry.id)).toEqual([changed.id]);
    expect(later.docs[0]!.known.sessions[writer.session]).toBe(6);
    // The opener got the change live, so it is still in sync.
    await until(() => group.docs.find((doc) => doc.id === changed.id)!.transactions().length === 6);
    expect(await group.directory()).toMatchObject({ inSync: true, docs: [] });
  });
});
