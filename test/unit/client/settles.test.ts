// Issue 9, item 3: every public async method settles, with a result, a RelayError or a ClosedError, in
// each failure case: closed for good (not a member, a bad token), after client.close(), and open() of a
// deleted, private or non-existent document.
import { describe, expect, it, onTestFinished } from "vitest";
import { MAX_TOKEN_CHARS, docIdOf, newHeader, type DocId } from "../../../protocol/index.ts";
import { ClosedError, RelayError, createIdentity, type Group } from "../../../client/index.ts";
import { GROUP, SlowSaves, bobMadeBy, harness, harnessPerTest, refusalCode, statusOf } from "./group-harness.ts";

const setup = harnessPerTest();

const PENDING = Symbol("pending");

/** What a promise settled with; PENDING if it had not within a bound far above what the in-process relay needs. */
async function outcome(promise: Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise((resolve) => (timer = setTimeout(() => resolve(PENDING), 2_000)));
  try {
    return await Promise.race([promise.then((value) => ({ resolved: value }), (error: unknown) => error), bound]);
  } finally {
    clearTimeout(timer);
  }
}

const someDocId = (): DocId => docIdOf(newHeader({ group: "g1", kind: "json", creator: createIdentity().agent, createdAt: 1 }));

/** What `call` settles with; a call that writes (create, append) throws a ClosedError at once on a closed group. */
const settledOf = (call: () => Promise<unknown>): Promise<unknown> => Promise.resolve().then(call);

/** Every public async method of a group (and of a document in it), started now. */
function everyCall(group: Group, agent = createIdentity().agent): Record<string, () => Promise<unknown>> {
  return {
    open: () => group.open(someDocId()),
    openAll: () => group.openAll(),
    synced: () => {
      group.create().append("unsent");
      return group.synced();
    },
    docSynced: () => {
      const doc = group.create();
      doc.append("unsent");
      return doc.synced();
    },
    directory: () => group.directory(),
    delete: () => group.delete(someDocId()),
    setRole: () => group.setRole(agent, "writer"),
    removeMember: () => group.removeMember(agent),
    members: () => group.members(),
    ready: () => group.ready,
  };
}

describe("closed for good", () => {
  it("not a member: every call settles, network calls with a ClosedError", async () => {
    const { client } = setup();
    const admin = await client({ name: "admin" });
    await admin.group("g1").createMembers().synced();
    const stranger = await client({ name: "stranger" });
    const group = stranger.group("g1");
    const errors: unknown[] = [];
    group.onError((error) => errors.push(error));
    await statusOf(group, "closed");
    expect(group.connection.closeReason).toMatch(/unauthorized/);
    // Told through onError too, not only through the status.
    expect(errors).toEqual([expect.objectContaining({ name: "RelayError", code: "unauthorized" })]);
    // Asked again (a render at a time, say), the same closed group: no new connection each time.
    expect(stranger.group("g1")).toBe(group);
    for (const [name, call] of Object.entries(everyCall(group))) {
      const result = await outcome(settledOf(call));
      expect(result, name).not.toBe(PENDING);
      if (name !== "ready") expect(result, name).toBeInstanceOf(ClosedError);
    }
  });

  it("a bad token: every call settles", async () => {
    const { client } = setup();
    const holder = await client({ name: "holder", getToken: () => "not.a.token" }); // a JWT's shape: the relay refuses it
    const group = holder.group("g1");
    await statusOf(group, "closed");
    for (const [name, call] of Object.entries(everyCall(group))) {
      const result = await outcome(settledOf(call));
      expect(result, name).not.toBe(PENDING);
      if (name !== "ready") expect(result, name).toBeInstanceOf(ClosedError);
    }
  });

  it("after client.close(), calls pending at the time and calls made later settle with a ClosedError", async () => {
    const { relay, client } = setup();
    relay.down = true; // nothing will ever be answered: only close() can settle these
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await group.ready;
    group.createMembers();
    const pending = Object.entries(everyCall(group)).map(([name, call]) => [name, call()] as const);
    alice.close();
    for (const [name, promise] of pending) {
      const result = await outcome(promise);
      expect(result, name).not.toBe(PENDING);
      if (name !== "ready") expect(result, name).toBeInstanceOf(ClosedError);
    }
    for (const [name, call] of Object.entries(everyCall(group))) {
      const result = await outcome(settledOf(call));
      expect(result, name).not.toBe(PENDING);
      if (name !== "ready") expect(result, name).toBeInstanceOf(ClosedError);
    }
    // Discarding needs the store this client gave up: the ClosedError says so, not the store's wrapper.
    await expect(group.discardRefused(group.docs[0]!)).rejects.toBeInstanceOf(ClosedError);
  });
});

describe("synced() of a group closed for good answers whether everything written reached the relay", () => {
  it("resolves when it all was acknowledged before the close, and rejects with the ClosedError while a write is unsent", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const acknowledged = alice.group("g1");
    const doc = acknowledged.create();
    doc.append("acknowledged");
    await acknowledged.synced();
    acknowledged.close();
    expect(await outcome(acknowledged.synced())).toEqual({ resolved: undefined });
    expect(await outcome(doc.synced())).toEqual({ resolved: undefined });

    relay.down = true;
    const unsent = alice.group("g2");
    const other = unsent.create();
    other.append("never sent");
    unsent.close();
    expect(await outcome(unsent.synced())).toBeInstanceOf(ClosedError);
    expect(await outcome(other.synced())).toBeInstanceOf(ClosedError);
  });
});

describe("a document deleted under a write", () => {
  it("a write not yet pushed when the deletion arrives live is refused with doc_deleted: synced() rejects, it never resolves as if stored", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice", store: new SlowSaves() });
    const group = alice.group("g1");
    await group.createMembers().synced();
    const bob = await client({ name: "bob" });
    await group.setRole(bob.identity.agent, "admin");
    const doc = group.create();
    await doc.synced();
    const bobGroup = bob.group("g1");
    await bobGroup.open(doc.id);
    const refused: string[][] = [];
    group.onRefused((writes) => refused.push(writes.transactions.map((transaction) => String(transaction.data))));
    doc.append("never stored"); // its save takes a while: the deletion arrives first
    const synced = doc.synced();
    const groupSynced = group.synced();
    await bobGroup.delete(doc.id);
    await expect(synced).rejects.toMatchObject({ name: "RelayError", code: "doc_deleted" });
    await expect(groupSynced).rejects.toMatchObject({ code: "doc_deleted" });
    // Surfaced once, as a refusal of the write; a deleted document then holds nothing to retry or discard.
    expect(refused).toEqual([["never stored"]]);
    expect(group.refused()).toEqual([]);
    // The Doc stays the group's, a tombstone: writes are refused with doc_deleted, and nothing waits.
    expect(refusalCode(() => doc.append("after"))).toBe("doc_deleted");
    expect(refusalCode(() => doc.snapshot("state"))).toBe("doc_deleted");
    await group.discardRefused(doc);
    expect(await outcome(doc.synced())).toEqual({ resolved: undefined });
    expect(await outcome(doc.loaded())).toEqual({ resolved: undefined });
  });
});

describe("every public method once the group is closed for good", () => {
  /**
   * What reads what this device holds, or adds and removes listeners (an unmount's clean-up runs after a
   * close): these go on working. Every other method of these classes asks for something to happen, and a
   * closed group throws (the calls that write) or rejects with its ClosedError.
   */
  const READS: Record<string, string[]> = {
    Group: ["digest", "refused", "onRefused", "onRole", "onFlush", "onStatus", "onError", "reconnectNow", "disconnect", "connect", "close", "unsentDocs", "allSaved", "readUnsentAgain", "saveBeforeLeaving", "sendBeforeClosing"],
    Doc: ["limitSnapshots", "transactions", "sessionTransactions", "subscribe", "loaded", "refusedOf", "refusedWrites", "verifyReceived", "verifiedTransactions", "emitChange"],
    DocPresence: ["clear", "subscribe", "apply", "forgetOthers"],
    Client: ["reconnectNow", "disconnect", "connect", "close"],
  };

  it.each(["client.close()", "group.close()"])("after %s, each call that asks for something throws or rejects with the ClosedError, not with a refusal for a role, a missing membership log or writes refused before", async (how) => {
    const { client, alice, aliceGroup, bobIdentity } = await bobMadeBy(setup(), "reader");
    const written = aliceGroup.create();
    await written.synced();
    const bob = await client({ name: "bob", identity: bobIdentity });
    const group = bob.group(GROUP);
    const doc = group.create(); // before the first welcome: not yet known to be a reader
    doc.append("refused");
    await expect(doc.synced()).rejects.toMatchObject({ name: "RelayError", code: "forbidden" });
    // And, on a relay of its own, a group without a membership log, where every agent is a writer.
    const other = harness();
    onTestFinished(() => other.closeAll());
    const carol = await other.client({ name: "carol" });
    const plain = carol.group(GROUP);
    await statusOf(plain, "live");
    if (how === "client.close()") await Promise.all([bob.close(), carol.close()]);
    else (group.close(), plain.close());
    await statusOf(group, "closed");

    const agent = alice.identity.agent;
    const calls: Record<string, () => unknown> = {
      create: () => group.create(),
      createMembers: () => group.createMembers(),
      open: () => group.open(written.id),
      openAll: () => group.openAll(),
      delete: () => group.delete(written.id), // a reader's, which the relay would refuse: closed says more
      synced: () => group.synced(),
      directory: () => group.directory(),
      discardRefused: () => group.discardRefused(doc),
      setRole: () => group.setRole(agent, "writer"),
      removeMember: () => group.removeMember(agent),
      members: () => group.members(),
      "plain.delete": () => plain.delete(written.id), // a writer's, which the relay would refuse
      "plain.members": () => plain.members(), // there is no log to read them from
      "doc.append": () => doc.append("after"),
      "doc.snapshot": () => doc.snapshot("state"), // a reader's, which the relay would refuse
      "doc.synced": () => doc.synced(), // refused writes: the refusal is not what stands in their way now
      "presence.set": () => doc.presence.set({ here: true }),
      retryRefused: () => group.retryRefused(doc), // would take the refusal away, and nothing would send the writes
    };
    if (how === "client.close()") calls["client.group"] = () => bob.group(GROUP);
    // What each threw or settled with, by name: every one the ClosedError.
    const heard: Record<string, string> = {};
    for (const [name, call] of Object.entries(calls)) {
      let result: unknown;
      try {
        result = await outcome(Promise.resolve(call()));
      } catch (error) {
        result = error;
      }
      heard[name] = result instanceof ClosedError ? "ClosedError" : result instanceof Error ? `${result.name} ${result.message}` : String(result);
    }
    expect(heard).toEqual(Object.fromEntries(Object.keys(calls).map((name) => [name, "ClosedError"])));
    if (how === "group.close()") expect(bob.group(GROUP)).not.toBe(group); // a new group, which starts from what this one saved

    // Every method is one of the two kinds: a new one must be placed in READS, or answer with the ClosedError.
    const called = new Set(Object.keys(calls).map((name) => name.replace(/^plain\./, "").replace(/^doc\./, "Doc.").replace(/^presence\./, "DocPresence.").replace(/^client\./, "Client.").replace(/^(\w+)$/, "Group.$1")));
    const objects = { Group: group, Doc: doc, DocPresence: doc.presence, ...(how === "client.close()" ? { Client: bob } : {}) };
    for (const [kind, object] of Object.entries(objects)) {
      const prototype = Object.getPrototypeOf(object) as object;
      const methods = Object.getOwnPropertyNames(prototype).filter((name) => name !== "constructor" && typeof Object.getOwnPropertyDescriptor(prototype, name)?.value === "function");
      for (const method of methods) expect(READS[kind]!.includes(method) || called.has(`${kind}.${method}`), `${kind}.${method}`).toBe(true);
    }
  });
});

describe("a Doc whose document its group no longer holds", () => {
  it("created by a reader before the first welcome, refused whole and discarded: each call settles at once with unknown_doc, and with the ClosedError once closed", async () => {
    const { client, bobIdentity } = await bobMadeBy(setup(), "reader");
    const bob = await client({ name: "bob", identity: bobIdentity });
    const group = bob.group(GROUP);
    const doc = group.create(); // before the first welcome: not yet known to be a reader
    doc.append("refused");
    await expect(doc.synced()).rejects.toMatchObject({ name: "RelayError", code: "forbidden" });
    await group.discardRefused(doc);
    expect(group.refused()).toEqual([]);

    const gone = { name: "LocalRefusalError", code: "unknown_doc", message: expect.stringContaining(`document ${doc.id} is no longer held by its group`) };
    expect(await outcome(doc.synced())).toMatchObject(gone);
    expect(await outcome(doc.loaded())).not.toBe(PENDING);
    expect(refusalCode(() => doc.append("again"))).toBe("unknown_doc");
    expect(refusalCode(() => doc.snapshot("state"))).toBe("unknown_doc");
    expect(refusalCode(() => doc.presence.set({ here: true }))).toBe("presence_refused");
    expect(await outcome(group.synced())).toEqual({ resolved: undefined });

    await bob.close();
    expect(await outcome(doc.synced())).toBeInstanceOf(ClosedError);
    expect(() => doc.append("after close")).toThrow(ClosedError);
  });
});

describe("open() says why there is nothing to open", () => {
  it("rejects with unknown_doc, doc_deleted or forbidden, and the group stays live", async () => {
    const { client } = setup();
    const admin = await client({ name: "admin" });
    const adminGroup = admin.group("g1");
    const deleted = adminGroup.create();
    const secret = adminGroup.create({ readers: [admin.identity.agent] });
    await adminGroup.createMembers().synced();
    await adminGroup.synced();
    await adminGroup.delete(deleted.id);
    const writerIdentity = createIdentity();
    await adminGroup.setRole(writerIdentity.agent, "writer");

    const writer = await client({ identity: writerIdentity, name: "writer" });
    const group = writer.group("g1");
    await expect(group.open(someDocId())).rejects.toMatchObject({ name: "RelayError", code: "unknown_doc" });
    await expect(group.open(deleted.id)).rejects.toMatchObject({ name: "RelayError", code: "doc_deleted" });
    await expect(group.open(secret.id)).rejects.toMatchObject({ name: "RelayError", code: "forbidden" });
    await expect(group.open(deleted.id)).rejects.toBeInstanceOf(RelayError);
    await statusOf(group, "live");
    expect(group.docs).toEqual([]);

    // Every other async method settles too, about each of these documents.
    for (const id of [someDocId(), deleted.id, secret.id]) {
      await expect(group.delete(id)).rejects.toMatchObject({ code: "forbidden" }); // a writer may not delete: refused at once
      expect(await outcome(group.synced())).toEqual({ resolved: undefined });
      expect(await outcome(group.directory())).not.toBe(PENDING);
      expect(await outcome(group.openAll())).not.toBe(PENDING);
      expect(await outcome(group.members())).not.toBe(PENDING);
    }
  });

  it("gives up when the signal aborts, while the relay cannot be reached", async () => {
    const { relay, client } = setup();
    relay.down = true;
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const controller = new AbortController();
    const opening = group.open(someDocId(), { signal: controller.signal });
    const doc = group.create();
    doc.append("unsent");
    const syncing = group.synced({ signal: controller.signal });
    const listing = group.directory({ signal: controller.signal });
    controller.abort(new Error("the user gave up"));
    await expect(opening).rejects.toThrow("the user gave up");
    await expect(syncing).rejects.toThrow("the user gave up");
    await expect(listing).rejects.toThrow("the user gave up");
  });
});

describe("a signal bounds setRole(), removeMember() and snapshot() while the relay is out of reach", () => {
  it("aborted while the operation waits for the relay: it rejects with the reason, and the operation is stored once the relay is back", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await group.createMembers().synced();
    const doc = group.create();
    doc.append("one");
    await doc.synced();
    const bob = createIdentity().agent;
    relay.down = true;
    group.connection.drop();
    await statusOf(group, "offline");
    const controller = new AbortController();
    const calls = [group.setRole(bob, "writer", { signal: controller.signal }), doc.snapshot("state after one", { signal: controller.signal })];
    await new Promise((resolve) => setTimeout(resolve, 20)); // the operation is appended by now
    controller.abort(new Error("the user gave up"));
    for (const call of calls) await expect(call).rejects.toThrow("the user gave up");
    relay.down = false;
    group.reconnectNow();
    await group.synced();
    expect((await group.members()).get(bob)).toBe("writer");
    await expect.poll(() => doc.lastSnapshotted?.covers).toEqual({ [alice.session]: 1 });
  });

  it("aborted before the welcome told whether the group has a membership log: nothing is changed", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    await alice.group("g1").createMembers().synced();
    relay.down = true;
    const again = await client({ identity: alice.identity, name: "alice-again" });
    const group = again.group("g1");
    const bob = createIdentity().agent;
    const removing = group.removeMember(bob, { signal: AbortSignal.timeout(50) });
    await expect(removing).rejects.toMatchObject({ name: "TimeoutError" });
    relay.down = false;
    group.reconnectNow();
    await group.synced();
    expect((await group.members()).has(bob)).toBe(false);
    expect(relay.transcript().join("\n")).not.toMatch(/remove/);
  });

  it("an aborted signal rejects doc.synced() even when nothing is pending, as open() does", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const doc = alice.group("g1").create();
    await doc.synced();
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    await expect(doc.synced({ signal: controller.signal })).rejects.toThrow("gone");
    expect(() => doc.snapshot("x", { singal: controller.signal } as never)).toThrow(/singal/);
  });
});

describe("a getToken that gives something the relay would refuse", () => {
  const tokens: [string, unknown][] = [
    ["an object", { token: "t" }],
    ["a number", 42],
    ["a string over MAX_TOKEN_CHARS", "t".repeat(MAX_TOKEN_CHARS + 1)],
  ];
  it.each(tokens)("%s: the group closes once, saying why, and every call settles", async (_, token) => {
    const { relay, client } = setup();
    const holder = await client({ name: "holder", getToken: (() => token) as () => string });
    const group = holder.group("g1");
    const heard: unknown[] = [];
    group.onError((error) => heard.push(error));
    await statusOf(group, "closed");
    expect(group.connection.closeReason).toMatch(/^getToken: the token (must be a string|has \d+ characters)/);
    // onError hears it once, as it hears a relay's close for good.
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ name: "ConnectionError", failure: { kind: "token" }, message: expect.stringMatching(/^getToken failed: the token/) });
    // Nothing reached the relay past the socket: no hello it would answer with bad_frame, no reconnecting.
    expect(relay.transcript().join("\n")).not.toMatch(/hello|bad_frame/);
    for (const [name, call] of Object.entries(everyCall(group))) {
      const result = await outcome(settledOf(call));
      expect(result, name).not.toBe(PENDING);
      if (name !== "ready") expect(result, name).toBeInstanceOf(ClosedError);
    }
  });

  // What an app hands on from its backend by mistake: each would be refused as not a JWT.
  const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ18xIn0.c2lnbmF0dXJl";
  const slips: [string, string, string][] = [
    ["a trailing newline", `${token}\n`, "it has whitespace at its start or end (a trailing newline?); trim it"],
    ['a "Bearer " prefix', `Bearer ${token}`, 'it starts with "Bearer "; give the token alone, without the Authorization scheme'],
    ["a JSON-quoted token", JSON.stringify(token), "it is in quotes, the JSON text of a string; give the string itself (JSON.parse it)"],
    ["a JSON body", JSON.stringify({ token }), "it is JSON text; give the token it holds, not the whole body"],
  ];
  it.each(slips)("%s: refused before it is sent, saying what is wrong, as a token of the wrong type is", async (_, given, slip) => {
    const { relay, client } = setup();
    let calls = 0;
    const holder = await client({ name: "holder", getToken: () => (calls++, given) });
    const group = holder.group("g1");
    const heard: unknown[] = [];
    group.onError((error) => heard.push(error));
    await statusOf(group, "closed");
    const detail = `the token is not a JWT (three base64url parts separated by dots): ${slip}`;
    expect(group.connection.closeReason).toBe(`getToken: ${detail}`);
    expect(heard).toEqual([expect.objectContaining({ name: "ConnectionError", failure: { kind: "token", detail }, message: `getToken failed: ${detail}` })]);
    expect(relay.transcript().join("\n")).not.toMatch(/hello/);
    expect(calls).toBe(1);
    expect(() => group.create().append("after")).toThrow(ClosedError);
  });

  it("a getToken that throws (its backend out of reach for a moment): onError hears why, quoting it, and the next attempt asks again", async () => {
    const { relay, client } = setup();
    let calls = 0;
    const holder = await client({
      name: "holder",
      getToken: () => {
        if (++calls === 1) throw "no session cookie"; // eslint-disable-line no-throw-literal
        return undefined; // this relay takes no tokens: none is fine
      },
    });
    const group = holder.group("g1");
    const errors: unknown[] = [];
    group.onError((error) => errors.push(error));
    const doc = group.create();
    doc.append("written while the token failed");
    await doc.synced({ signal: AbortSignal.timeout(5_000) });
    expect(calls).toBe(2);
    expect(errors).toEqual([expect.objectContaining({ name: "ConnectionError", message: "getToken failed: no session cookie", failure: { kind: "token", detail: "no session cookie" } })]);
    expect(relay.store.knownState(doc.id).sessions[holder.session]).toBe(1);
  });
});
