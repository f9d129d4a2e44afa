// Issue 9, item 2: nothing the relay would refuse leaves the device, and a refusal from the relay is
// surfaced once, taken out of the push path, and never stops the rest of the group.
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { GENESIS_HASH, MAX_JSON_DEPTH, MAX_SESSIONS_PER_AGENT_PER_DOCUMENT, MAX_TRANSACTION_BYTES, MEMBERS_KIND, chainHash, signCheckpoint, type DocId, type SessionId } from "../../../protocol/index.ts";
import { testAgent } from "../../support/identity.ts";
import { ArgumentError, ClosedError, LocalRefusalError, RelayError, createClient, createIdentity, exportIdentity, importIdentity, type Client, type DocChange, type RefusedWrites } from "../../../client/index.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { FileLocalStore } from "../../../client/node.ts";
import { CUT_OFF_URL, statusOf, harnessPerTest, refusalCode } from "./group-harness.ts";
import { until } from "../../support/wait.ts";

const setup = harnessPerTest();

describe("refused locally, synchronously, with the relay's code", () => {
  it("refuses bad appends, headers, ids and urls before anything is sent", async () => {
    const { relay, client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    await group.synced();
    relay.transcript();

    const append = doc.append.bind(doc) as (data: unknown) => void;
    expect(refusalCode(() => append({ op: "add" }))).toBe("bad_frame");
    expect(refusalCode(() => append(undefined))).toBe("bad_frame");
    expect(refusalCode(() => append(42))).toBe("bad_frame");
    expect(refusalCode(() => doc.append("x\ud800y"))).toBe("bad_frame"); // a lone surrogate: not well-formed UTF-16
    expect(refusalCode(() => doc.append("x".repeat(MAX_TRANSACTION_BYTES + 1)))).toBe("transaction_too_large");
    // Bytes that cannot be read: refused naming the call and its data, not with V8's own error from inside the SDK.
    const snapshot = doc.snapshot.bind(doc) as (data: unknown) => unknown;
    const transferred = new Uint8Array(2);
    structuredClone(transferred.buffer, { transfer: [transferred.buffer] });
    const resizable = new (ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(length: number): void })(8, { maxByteLength: 8 });
    const shrunk = new Uint8Array(resizable, 4, 4);
    resizable.resize(2);
    for (const data of [new Proxy(new Uint8Array(2), {}), Object.create(Uint8Array.prototype) as unknown, transferred, shrunk]) {
      expect(refusalCode(() => append(data))).toBe("bad_frame");
      expect(() => append(data)).toThrow(/^bad_frame: append: data /);
      expect(refusalCode(() => snapshot(data))).toBe("bad_frame");
      expect(() => snapshot(data)).toThrow(/^bad_frame: snapshot: data /);
    }
    expect(refusalCode(() => group.create({ kind: "k".repeat(65) }))).toBe("bad_frame");
    const readers = Array.from({ length: 65 }, () => createIdentity().agent);
    expect(refusalCode(() => group.create({ readers }))).toBe("bad_frame");
    expect(refusalCode(() => group.create({ readers: ["ag_not-an-agent" as never] }))).toBe("bad_frame");
    expect(refusalCode(() => group.open("todo-1" as DocId))).toBe("bad_frame");
    expect(refusalCode(() => group.delete("todo-1" as DocId))).toBe("bad_frame");
    expect(refusalCode(() => group.directory({ since: -1 }))).toBe("bad_frame");
    // Arguments the relay never sees: the code says so.
    expect(thrownBy(() => alice.group("not a group id"))).toMatchObject({ code: "bad_argument" });
    expect(thrownBy(() => createClient({ url: "127.0.0.1:8787", identity: createIdentity() }))).toMatchObject({ code: "bad_argument" });
    expect(thrownBy(() => createClient({ url: "ftp://relay.test", identity: createIdentity() }))).toMatchObject({ code: "bad_argument" });
    expect(thrownBy(() => createClient({ identity: createIdentity() } as never))).toMatchObject({ code: "bad_argument" });

    // Nothing reached the relay, nothing entered the document, and the group is still live and syncing.
    doc.append("fine");
    await group.synced();
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["fine"]);
    expect(relay.transcript().filter((line) => line.includes("error"))).toEqual([]);
    expect(group.status).toBe("live");
  });
});

describe("open() of a document that was deleted", () => {
  it("rejects with doc_deleted, said once: onError is not told it again", async () => {
    const { client } = setup();
    const identity = createIdentity();
    const alice = await client({ identity });
    const group = alice.group("g1");
    group.createMembers();
    const doc = group.create();
    doc.append("soon gone");
    await group.synced();
    await group.delete(doc.id);
    const other = await client({ identity });
    const errors: string[] = [];
    other.group("g1").onError((error) => errors.push(error.message));
    await expect(other.group("g1").open(doc.id)).rejects.toMatchObject({ code: "doc_deleted" });
    await other.group("g1").synced();
    expect(errors).toEqual([]);
  });
});

describe("a new session where the relay would take no more of the agent's", () => {
  it("is refused at its first append with too_many_sessions, while the agent's existing sessions and other agents write on", async () => {
    const { relay, client } = setup();
    const identity = testAgent(77);
    const first = await client({ identity });
    const group = first.group("g1");
    const doc = group.create();
    doc.append("first");
    await group.synced();
    // The agent's other devices wrote the rest of what one agent may (stored as the relay stores them).
    for (let i = 1; i < MAX_SESSIONS_PER_AGENT_PER_DOCUMENT; i++) {
      const session = testAgent(77, `device-${String(i).padStart(4, "0")}`).session;
      const transactions = [{ at: 1, data: "x" }];
      const lastHash = chainHash(GENESIS_HASH, transactions);
      relay.store.commit({ doc: doc.id, appends: [{ session, after: 0, transactions, signature: signCheckpoint(identity.secretKey, doc.id, session, 1, lastHash), lastHash, bytes: 1 }], now: 1 });
    }
    const another = await client({ identity });
    const held = await another.group("g1").open(doc.id);
    expect(refusalCode(() => held.append("one too many"))).toBe("too_many_sessions");
    expect(held.transactions().map((transaction) => transaction.data)).not.toContain("one too many");
    doc.append("still writing");
    const bob = await client();
    const bobs = await bob.group("g1").open(doc.id);
    bobs.append("bob too");
    await Promise.all([doc.synced(), bobs.synced()]);
    expect(another.group("g1").status).toBe("live");
  });
});

describe("text is held to MAX_TRANSACTION_BYTES by its UTF-8 length, as the relay counts it", () => {
  it("sends text the relay takes though JSON escapes make it larger, each frame within the limit, and refuses only what no frame could carry", async () => {
    const { relay, client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    // 60,000 NULs are 60,000 bytes (360,000 as JSON); text of half newlines 180,000 (270,000 as JSON).
    // The 200,000 a's and the 150,000 NULs (900,000 bytes as JSON) would overfill a frame together.
    const texts = ["\0".repeat(60_000), "a".repeat(200_000), "\0".repeat(150_000), "line\n".repeat(36_000), '"'.repeat(MAX_TRANSACTION_BYTES)];
    for (const text of texts) doc.append(text);
    await group.synced();
    const reader = await client();
    const read = await reader.group("g1").open(doc.id);
    await until(() => read.transactions().length === texts.length);
    expect(read.transactions().map((transaction) => transaction.data)).toEqual(texts);
    // No frame was too large: the relay refused nothing on the way.
    expect(relay.transcript().filter((line) => line.includes("error"))).toEqual([]);

    // 200,000 NULs are within MAX_TRANSACTION_BYTES, but 1.2 MB as JSON: more than a frame carries.
    expect(refusalCode(() => doc.append("\0".repeat(200_000)))).toBe("transaction_too_large");
    expect(() => doc.append("\0".repeat(200_000))).toThrow(/as JSON \(escapes included\) 1200002/);
    expect(refusalCode(() => doc.append("é".repeat(MAX_TRANSACTION_BYTES / 2 + 1)))).toBe("transaction_too_large");
  });
});

describe("plain JavaScript passing the wrong thing: an error at once that names the call, and nothing breaks", () => {
  it("createClient refuses options and identities that are not what createIdentity() or importIdentity() give", () => {
    const create = createClient as (options?: unknown) => Promise<unknown>;
    const url = "http://relay.test";
    expect(() => create()).toThrow("createClient: options must be an object ({ url, identity, ... }), not undefined");
    expect(() => create(null)).toThrow(TypeError);
    expect(() => create({ url })).toThrow(/identity must be what createIdentity\(\)/);
    expect(() => create({ url, identity: exportIdentity(createIdentity()) })).toThrow(/a string \(pass it to importIdentity first\)/);
    // Read back from a file written with echo: the newline is named, not taken for bad base64url.
    expect(() => importIdentity(`${exportIdentity(createIdentity())}\n`)).toThrow(new ArgumentError("importIdentity: the string has whitespace at its start or end (a trailing newline, from a file written with echo?); trim it"));
    expect(importIdentity(exportIdentity(createIdentity())).agent).toMatch(/^ag_/);
    expect(() => create({ url, identity: {} })).toThrow(TypeError);
    expect(() => create({ url, identity: { ...createIdentity(), secretKey: new Uint8Array(31) } })).toThrow(TypeError);
    expect(() => createClient({ url: "http://relay.test/#section", identity: createIdentity() })).toThrow(/has a #fragment/);
    const other = createIdentity();
    expect(() => create({ url, identity: { agent: other.agent, secretKey: createIdentity().secretKey } })).toThrow(/not the agent of its secret key/);
  });

  it("createClient refuses, at the call, options a reconnect would trip over later: a wrong type, NaN, a misspelt name", () => {
    const create = createClient as (options?: unknown) => Promise<unknown>;
    const base = { url: "http://relay.test", identity: createIdentity() };
    for (const [options, message] of [
      [{ random: "x" }, /random must be a function, not string/],
      [{ backoff: { baseMs: Number.NaN } }, /backoff.baseMs must be a whole number of milliseconds from 1 to 2147483647, not NaN/],
      [{ backoff: { baseMs: 0 } }, /backoff.baseMs must be/],
      [{ backoff: "fast" }, /backoff: options must be an object, not string/],
      [{ backoff: [] }, /backoff: options must be an object, not Array/],
      [{ backoff: new Date(0) }, /backoff: options must be an object, not Date/],
      [{ backoff: { base: 10 } }, /backoff: there is no option "base"; the options are baseMs, capMs, minUptimeMs/],
      [{ pingIntervalMs: Number.NaN }, /pingIntervalMs must be a whole number/],
      [{ pingTimeoutMs: 0 }, /pingTimeoutMs must be a whole number/],
      [{ getToken: "eyJ.token" }, /getToken must be a function, not string/],
      [{ WebSocket: 42 }, /WebSocket must be a function, not number/],
      [{ connectTimeoutMs: Number.NaN }, /connectTimeoutMs must be a whole number/],
      // Functions whose sockets would have nothing to listen on, send or close with: every attempt would fail.
      [{ WebSocket: Object }, /WebSocket must be a WebSocket class \(the runtime's, or ws's\): the sockets of this one would have no addEventListener/],
      [{ WebSocket: class {} }, /the sockets of this one would have no addEventListener/],
      [{ WebSocket: class Server extends EventTarget {} }, /the sockets of this one would have no send/],
      [{ fetch: "x" }, /fetch must be a function, or false for none/],
      [{ compression: "no" }, /compression must be true or false/],
      [{ store: {} }, /store must be a LocalStore/],
      [{ store: null }, /store must be a LocalStore/],
      [{ session: "not-a-session" }, /session must be a session id of the identity's agent/],
      [{ session: `${createIdentity().agent}~AAAAAAAA` }, /session must be a session id of the identity's agent/],
      [{ token: "eyJ.token" }, /there is no option "token"; the options are url, identity, store, session, backoff/],
      [{ pushIntervalMs: Number.NaN }, /pushIntervalMs must be a number of milliseconds from 0 to 60000, not NaN/],
    ] as const) {
      expect(() => create({ ...base, ...options }), JSON.stringify(options)).toThrow(message);
    }
  });

  it("names the argument or option and what it got (undefined for an identity, a bigint, a symbol, a function), with the code bad_argument", async () => {
    const loose = createClient as (options?: unknown) => Promise<Client>;
    const base = { url: "http://relay.test", identity: createIdentity() };
    const importLoose = importIdentity as (secret?: unknown) => unknown;
    const exportLoose = exportIdentity as (identity?: unknown) => unknown;
    for (const [call, error, message] of [
      [() => importLoose(undefined), ArgumentError, "importIdentity: expected the string exportIdentity gave, not undefined"],
      [() => importLoose(new Uint8Array(32)), ArgumentError, "importIdentity: expected the string exportIdentity gave, not Uint8Array"],
      [() => exportLoose(undefined), ArgumentError, "exportIdentity: identity must be what createIdentity() or importIdentity(saved) returns, not undefined"],
      [() => exportLoose("abc"), ArgumentError, "exportIdentity: identity must be what createIdentity() or importIdentity(saved) returns, not a string"],
      [() => loose({ ...base, url: 10n }), ArgumentError, "url: 10n is not a URL"],
      [() => loose({ ...base, session: 10n }), ArgumentError, "createClient: session must be a session id of the identity's agent"],
      [() => loose({ ...base, session: Symbol("s") }), ArgumentError, "not Symbol(s)"],
      [() => loose({ ...base, pushIntervalMs: -1 }), ArgumentError, "createClient: pushIntervalMs must be a number of milliseconds from 0 to 60000, not -1"],
      [() => loose({ ...base, pushIntervalMs: 10n }), ArgumentError, "createClient: pushIntervalMs must be a number of milliseconds from 0 to 60000, not 10n"],
      [() => loose({ ...base, pingIntervalMs: 10n }), ArgumentError, "createClient: pingIntervalMs must be a whole number of milliseconds from 1 to 2147483647, not 10n"],
    ] as const) {
      expect(call, message).toThrow(error);
      expect(call, message).toThrow(message);
      if (error === ArgumentError) expect(thrownBy(call), message).toMatchObject({ name: "TypeError", code: "bad_argument" });
    }
    expect(exportIdentity(importIdentity(exportIdentity(base.identity)))).toBe(exportIdentity(base.identity));

    const { client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    const groupLoose = alice.group.bind(alice) as (id: unknown) => unknown;
    const open = group.open.bind(group) as (id: unknown) => unknown;
    const remove = group.delete.bind(group) as (id: unknown) => unknown;
    const create = group.create.bind(group) as (options?: unknown) => unknown;
    for (const [call, error, message] of [
      [() => groupLoose(10n), ArgumentError, "group: 10n is not a group id"],
      [() => open(10n), LocalRefusalError, "open: 10n is not a document id"],
      [() => remove(Symbol("d")), LocalRefusalError, "delete: Symbol(d) is not a document id"],
      [() => create({ kind: 10n }), ArgumentError, "create: kind must be a string, not 10n"],
      [() => create({ kind: Symbol("k") }), ArgumentError, "create: kind must be a string, not Symbol(k)"],
      [() => create({ kind: () => "json" }), ArgumentError, "create: kind must be a string, not function"],
      [() => create({ readers: [alice.identity.agent, 10n] }), ArgumentError, "create: readers[1] must be an agent id (a string), not 10n"],
      [() => create({ readers: [{}] }), ArgumentError, "create: readers[0] must be an agent id (a string), not"],
    ] as const) {
      expect(call, message).toThrow(error);
      expect(call, message).toThrow(message);
      if (error === ArgumentError) expect(thrownBy(call), message).toMatchObject({ name: "TypeError", code: "bad_argument" });
    }
    expect(group.docs).toEqual([]);
  });

  it("says what is wrong in the terms of the call: a lone surrogate in append's data, a group id of dots, an empty store folder", async () => {
    const { client } = setup();
    const alice = await client();
    const doc = alice.group("g1").create();
    expect(() => doc.append("a\uD800b")).toThrow(new LocalRefusalError("bad_frame", "append: data must be well-formed UTF-16 text (no lone surrogates)"));
    expect(() => alice.group("...")).toThrow('group: "..." is not a group id (1 to 128 of A-Z a-z 0-9 . _ ~ -, not dots alone)');
    expect(() => new FileLocalStore("")).toThrow("FileLocalStore: the directory must be a path, not an empty string");
    expect(thrownBy(() => new FileLocalStore(""))).toMatchObject({ code: "bad_argument" });
    doc.append("after the refusals");
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["after the refusals"]);
  });

  it("createClient takes the runtime's WebSocket class, and a class of the app's built on it", async () => {
    const base = { url: "http://relay.test", identity: createIdentity() };
    class Counting extends WebSocket {}
    for (const WebSocketClass of [WebSocket, Counting]) await (await createClient({ ...base, WebSocket: WebSocketClass })).close();
  });

  it("createClient takes an identity whose key is a byte array of another realm (an iframe's, a vm context's)", async () => {
    const { relay, client } = setup();
    const identity = createIdentity();
    const foreign = runInNewContext("new Uint8Array(32)") as Uint8Array;
    foreign.set(identity.secretKey);
    expect(foreign).not.toBeInstanceOf(Uint8Array);
    const alice = await client({ identity: { agent: identity.agent, secretKey: foreign } });
    await statusOf(alice.group("g1"), "live");
    expect(relay.transcript().join("\n")).not.toMatch(/error/);
  });

  it("refuses listeners that are not functions, options that are not objects, signals that are not AbortSignals, and docs that are not Docs", async () => {
    const { client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    const loose = group as unknown as Record<string, (...args: unknown[]) => unknown>;
    const looseDoc = doc as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const [what, call] of [
      ["onStatus", () => loose.onStatus!(undefined)],
      ["onError", () => loose.onError!(null)],
      ["onRefused", () => loose.onRefused!("listener")],
      ["onRole", () => loose.onRole!({})],
      ["subscribe", () => looseDoc.subscribe!(undefined)],
      ["create", () => loose.create!(null)],
      ["directory", () => loose.directory!(null)],
      ["open", () => loose.open!(doc.id, { signal: "soon" })],
      ["openAll", () => loose.openAll!({ signal: {} })],
      ["synced", () => looseDoc.synced!(42)],
      ["synced", () => looseDoc.synced!([])],
      // Objects that are no options: a Date, a Map, a promise where the options go.
      ["synced", () => looseDoc.synced!(new Date())],
      ["open", () => loose.open!(doc.id, new Map([["signal", AbortSignal.timeout(1)]]))],
      ["openAll", () => loose.openAll!(Promise.resolve())],
      ["retryRefused", () => loose.retryRefused!(undefined)],
      ["discardRefused", () => loose.discardRefused!(doc.id)],
      // A misspelt option: the wait it was to bound would be unbounded.
      ["open", () => loose.open!(doc.id, { singal: AbortSignal.timeout(1) })],
      ["synced", () => looseDoc.synced!({ singal: AbortSignal.timeout(1) })],
      // The signal itself where its options go: the wait would be unbounded, as with none.
      ["synced", () => looseDoc.synced!(AbortSignal.timeout(1))],
      ["loaded", () => looseDoc.loaded!(AbortSignal.timeout(1))],
      ["openAll", () => loose.openAll!(new AbortController().signal)],
      ["loaded", () => looseDoc.loaded!({ signal: "soon" })],
      ["directory", () => loose.directory!({ sinse: 3 })],
    ] as const) {
      expect(call, what).toThrow(TypeError);
      expect(call, what).toThrow(new RegExp(`^${what}: `));
    }
    // None of them was kept: the group and the document go on as before.
    doc.append("still fine");
    await group.synced();
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["still fine"]);
    alice.close();
    expect(() => alice.group("g1")).toThrow(ClosedError);
  });

  it("create() refuses an option it does not know, readers that are not an array and a meta that is not an object: none makes a document", async () => {
    const { client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    const create = group.create.bind(group) as (options?: unknown) => unknown;
    // Each would have made a document the whole group may read.
    expect(() => create({ reader: [alice.identity.agent] })).toThrow(/create: there is no option "reader"; the options are kind, meta, readers/);
    expect(() => create({ readers: null })).toThrow(/create: readers must be an array of agent ids, not null/);
    expect(() => create({ readers: alice.identity.agent })).toThrow(/create: readers must be an array/);
    expect(() => create({ meta: null })).toThrow(/create: meta must be an object, not null/);
    expect(() => create({ meta: [] })).toThrow(/create: meta must be an object/);
    expect(group.docs).toEqual([]);
  });

  it("setRole() and removeMember() reject a bad agent or role at once, offline too, and send nothing", async () => {
    const { relay, client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    await group.createMembers().synced();
    relay.down = true;
    group.connection.drop();
    relay.transcript();
    const loose = group as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const call of [() => loose.setRole!("bogus", "writer"), () => loose.setRole!(createIdentity().agent, "owner"), () => loose.removeMember!(undefined)]) {
      await expect(Promise.race([call(), new Promise((resolve) => setTimeout(() => resolve("still waiting"), 500))])).rejects.toBeInstanceOf(TypeError);
    }
    await expect(loose.setRole!("bogus", "writer")).rejects.toThrow(/^setRole: the agent must be an agent id/);
    relay.down = false;
    group.reconnectNow();
    await group.synced();
    expect(relay.transcript().filter((line) => line.includes("-> relay | content"))).toEqual([]);
  });

  it("discardRefused() and retryRefused() refuse a Doc of another group or another client", async () => {
    const { client } = setup();
    const alice = await client();
    const bob = await client();
    const mine = alice.group("g1");
    const elsewhere = [alice.group("g2").create(), bob.group("g1").create()];
    for (const doc of elsewhere) {
      expect(() => mine.discardRefused(doc)).toThrow(/discardRefused: doc_\S+ is a Doc of another group or client, not of group g1 of this client/);
      expect(() => mine.retryRefused(doc)).toThrow(/retryRefused: doc_\S+ is a Doc of another group or client/);
    }
  });

  it("refuses a meta that is not plain JSON, or nests too deep, with bad_header; and the membership log's kind through create()", async () => {
    const { client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    const cyclic: Record<string, unknown> = { title: "loop" };
    cyclic.self = cyclic;
    let deep: unknown = "bottom";
    for (let level = 0; level < MAX_JSON_DEPTH; level++) deep = [deep];
    for (const meta of [{ n: Number.NaN }, { n: 10n }, cyclic, { deep }]) {
      expect(refusalCode(() => group.create({ meta: meta as never }))).toBe("bad_header");
    }
    expect(() => group.create({ meta: cyclic as never })).toThrow(`meta must nest at most ${MAX_JSON_DEPTH} arrays and objects deep`);
    expect(refusalCode(() => group.create({ kind: MEMBERS_KIND }))).toBe("bad_header");
    expect(group.membersDoc).toBeUndefined();
    expect(group.docs).toEqual([]);
    // One level less deep is fine.
    expect(group.create({ meta: { deep: (deep as unknown[])[0] } as never }).header?.meta).toEqual({ deep: (deep as unknown[])[0] });
  });

  it("refuses a meta holding what JSON would change in silence (a Map, bytes, a class instance), naming where and what; plain objects of any realm pass", async () => {
    const { client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    class Point {
      x = 1;
    }
    for (const [meta, message] of [
      [{ m: new Map([[1, 2]]) }, "create: meta must be plain JSON (found Map at m)"],
      [{ tags: new Set(["a"]) }, "create: meta must be plain JSON (found Set at tags)"],
      [{ bytes: new Uint8Array([1]) }, "create: meta must be plain JSON (found Uint8Array at bytes)"],
      [{ list: [1, { buffer: new ArrayBuffer(1) }] }, "create: meta must be plain JSON (found ArrayBuffer at list[1].buffer)"],
      [{ "a key": new Point() }, 'create: meta must be plain JSON (found Point at ["a key"])'],
      [{ count: new Number(1) }, "create: meta must be plain JSON (found Number at count)"],
      [{ at: new Date(0) }, "create: meta must be plain JSON (found Date at at)"],
      [{ n: 10n }, "create: meta must be plain JSON (found bigint at n)"],
      [{ f: () => 1 }, "create: meta must be plain JSON (found function at f)"],
      // An empty slot: JSON would make it null.
      [{ list: [1, , 3] }, "create: meta must be plain JSON (found an empty array slot at list[1])"],
      [{ list: Object.assign([1, 2], { note: "kept?" }) }, 'create: meta must be plain JSON (found an array with a property "note" at list)'],
    ] as const) {
      expect(refusalCode(() => group.create({ meta: meta as never })), message).toBe("bad_header");
      expect(() => group.create({ meta: meta as never })).toThrow(message);
    }
    expect(group.docs).toEqual([]);
    // What is plain JSON passes, whatever its realm or prototype-less.
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { title: "bare" });
    const foreign = runInNewContext("({ title: 'foreign', nested: { list: [1, { deep: true }] } })") as Record<string, unknown>;
    expect(group.create({ meta: { bare } as never }).header?.meta).toEqual({ bare: { title: "bare" } });
    expect(group.create({ meta: foreign as never }).header?.meta).toEqual({ title: "foreign", nested: { list: [1, { deep: true }] } });
  });

  it("refuses a sparse array of millions of slots in meta or a presence state at once, without walking each slot", async () => {
    const { client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    const sparse: number[] = [];
    sparse[20_000_000] = 1;
    expect(() => group.create({ meta: { sparse } as never })).toThrow("create: meta is too large: an array of 20000001 items");
    const doc = group.create({});
    expect(() => doc.presence.set({ sparse } as never)).toThrow("an array of 20000001 items");
    const holes: number[] = [];
    holes[5] = 1;
    expect(() => doc.presence.set({ holes } as never)).toThrow("found an empty array slot at holes[0]");
    expect(group.docs.map((d) => d.id)).toEqual([doc.id]);
  });
});

describe("refused by the relay", () => {
  it("surfaces a refusal once, holds the refused writes back, and the rest of the group keeps syncing", async () => {
    const { relay, client, cutOff } = setup();
    const admin = await client({ name: "admin" });
    const adminGroup = admin.group("g1");
    await statusOf(adminGroup, "live");
    const shared = adminGroup.create();
    relay.name(shared.id, "shared");
    await adminGroup.createMembers().synced();
    const readerIdentity = createIdentity();
    await adminGroup.setRole(readerIdentity.agent, "writer");

    const reader = await client({ identity: readerIdentity, name: "reader", url: CUT_OFF_URL });
    const group = reader.group("g1");
    const refusals: RefusedWrites[] = [];
    group.onRefused((refused) => refusals.push(refused));
    const held = await group.open(shared.id);
    // Made a reader while cut off: it writes as the writer it last heard it was.
    const reconnect = cutOff(reader);
    await adminGroup.setRole(readerIdentity.agent, "reader");
    relay.transcript();
    held.append("a reader writing");
    held.append("and again");
    reconnect();
    await expect(group.synced()).rejects.toMatchObject({ name: "RelayError", code: "forbidden" });
    expect(group.role).toBe("reader");
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.transactions.map((transaction) => transaction.data)).toEqual(["a reader writing", "and again"]);

    relay.transcript();
    // Reconnecting does not send it again: it is out of the push path.
    reader.group("g1").connection.drop();
    await statusOf(group, "live");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(relay.transcript().filter((line) => line.startsWith("c") && line.includes("content"))).toEqual([]);
    expect(refusals).toHaveLength(1);
    // Known to be a reader now, it is refused at once.
    expect(refusalCode(() => held.append("a third"))).toBe("forbidden");

    // Other documents of the group keep syncing: the admin's writes reach the reader.
    shared.append("from the admin");
    await shared.synced();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(held.transactions().map((transaction) => transaction.data)).toContain("from the admin");

    // The app lists what is held back, and discards it: the session goes on, synced() resolves.
    expect(group.refused().map((refused) => refused.transactions.length)).toEqual([2]);
    const changes: DocChange[] = [];
    held.subscribe((change) => changes.push(change));
    await group.discardRefused(held);
    expect(group.refused()).toEqual([]);
    expect(held.transactions().map((transaction) => transaction.data)).toEqual(["from the admin"]);
    // An app that applies changes one by one hears what to take out again.
    expect(changes.map((change) => [change.added.length, change.removed?.map((transaction) => transaction.data)])).toEqual([[0, ["a reader writing", "and again"]]]);
    await group.synced();
  });

  it("writes refused as a reader's go, with what was written after them, once the agent may write again: no retryRefused needed; a refused membership operation does not go later", async () => {
    const { relay, client, cutOff } = setup();
    const admin = await client({ name: "admin" });
    const adminGroup = admin.group("g1");
    await statusOf(adminGroup, "live");
    const shared = adminGroup.create();
    relay.name(shared.id, "shared");
    await adminGroup.createMembers().synced();
    const writerIdentity = createIdentity();
    await adminGroup.setRole(writerIdentity.agent, "admin");

    const writer = await client({ identity: writerIdentity, name: "writer", url: CUT_OFF_URL });
    const group = writer.group("g1");
    const refusals: RefusedWrites[] = [];
    group.onRefused((refused) => refusals.push(refused));
    const held = await group.open(shared.id);
    await group.open(adminGroup.membersDoc!);
    // Made a reader while cut off: it writes, and changes membership, as the admin it last heard it was.
    const reconnect = cutOff(writer);
    await adminGroup.setRole(writerIdentity.agent, "reader");
    held.append("typed while a reader");
    const outsider = createIdentity().agent;
    const opRefused = group.setRole(outsider, "reader").then(() => undefined, (error: unknown) => error);
    reconnect();
    await expect(held.synced()).rejects.toMatchObject({ name: "RelayError", code: "forbidden" });
    expect(await opRefused).toMatchObject({ code: "forbidden" });
    expect(group.role).toBe("reader");
    expect(refusals.map((refused) => refused.doc.id).sort()).toEqual([adminGroup.membersDoc, shared.id].sort());

    // Made a writer again: what was held back goes, and what is written next behind it.
    await adminGroup.setRole(writerIdentity.agent, "writer");
    await until(() => group.role === "writer", 2_000);
    held.append("typed once a writer again");
    await held.synced();
    await shared.synced();
    await until(() => shared.transactions().length === 2, 2_000);
    expect(shared.transactions().map((transaction) => transaction.data)).toEqual(["typed while a reader", "typed once a writer again"]);
    expect(group.refused()).toEqual([]);
    expect(refusals).toHaveLength(2);
    // The operation refused went no later: its promise had told the app.
    await group.synced();
    expect((await adminGroup.members()).has(outsider)).toBe(false);
  });

  it("writes into a document another agent created offline, which the relay never got, are refused (unknown_doc), told once: synced() settles, nothing hangs", async () => {
    const { client, cutOff } = setup();
    const store = new MemoryLocalStore();
    // Created offline by an identity the app has since lost: the store holds it, the relay does not.
    const before = await client({ name: "before", store, url: CUT_OFF_URL });
    cutOff(before);
    const created = before.group("g1").create();
    created.append("written before the identity changed");
    await new Promise((resolve) => setTimeout(resolve, 20)); // saved locally
    await before.close();

    const after = await client({ name: "after", store });
    const group = after.group("g1");
    const refusals: RefusedWrites[] = [];
    group.onRefused((refused) => refusals.push(refused));
    const [doc] = await group.openAll();
    expect(doc?.id).toBe(created.id);
    doc!.append("written after");
    await expect(doc!.synced()).rejects.toMatchObject({ name: "RelayError", code: "unknown_doc" });
    await expect(group.synced()).rejects.toMatchObject({ code: "unknown_doc" });
    expect(refusals.map((refused) => [refused.error.code, refused.transactions.map((transaction) => transaction.data), refused.wholeDocument])).toEqual([["unknown_doc", ["written after"], false]]);
    // Discarding them leaves the document the other agent made in the store, its writes for it to push.
    await group.discardRefused(doc!);
    const [kept] = await store.loadGroup("g1");
    expect(Object.values(kept?.sessions ?? {}).flat().map((transaction) => transaction.data)).toEqual(["written before the identity changed"]);
  });

  it("finds a frame a stricter relay refuses by quarantine, refuses only it, and the rest goes through", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const good = group.create();
    const poisoned = group.create();
    relay.name(good.id, "good");
    relay.name(poisoned.id, "poisoned");
    await group.synced();
    const errors: RelayError[] = [];
    group.onError((error) => error instanceof RelayError && errors.push(error));
    relay.refuseFrame = (frame) => typeof frame === "string" && frame.includes("POISON");
    relay.transcript();

    good.append("fine");
    poisoned.append("POISON");
    await expect(poisoned.synced()).rejects.toMatchObject({ code: "bad_frame" });
    await good.synced();
    expect(group.refused().map((refused) => refused.doc)).toEqual([poisoned]);
    // Then the group goes on: later writes of the good document go through without any more refusals.
    good.append("more");
    await good.synced();
    // Both were in flight in one refused frame: both are suspects, pushed alone in turn; the one in flight
    // at the second refusal is the culprit.
    expect(relay.transcript()).toEqual([
      "c1 -> relay | content good alice after=0 n=1",
      "c1 -> relay | content poisoned alice after=0 n=1",
      "relay -> c1 | error bad_frame",
      "relay -x c1 | close 1007 bad_frame",
      "relay -> c2 | challenge",
      "c2 -> relay | hello",
      "c2 -> relay | load good {alice:1}",
      "c2 -> relay | load poisoned {alice:1}",
      "relay -> c2 | welcome role=writer",
      "relay -> c2 | known good {} load",
      "relay -> c2 | known poisoned {} load",
      "c2 -> relay | content good alice after=0 n=1",
      "relay -> c2 | known good {alice:1} ack",
      "c2 -> relay | content poisoned alice after=0 n=1",
      "relay -> c2 | error bad_frame",
      "relay -x c2 | close 1007 bad_frame",
      "relay -> c3 | challenge",
      "c3 -> relay | hello",
      "c3 -> relay | load good {alice:2}",
      "c3 -> relay | load poisoned {alice:1}",
      "relay -> c3 | welcome role=writer",
      "relay -> c3 | known good {alice:1} load",
      "relay -> c3 | known poisoned {} load",
      "c3 -> relay | content good alice after=1 n=1",
      "relay -> c3 | known good {alice:2} ack",
    ]);
    expect(errors.filter((error) => error.code === "bad_frame")).toHaveLength(2);
  });

  it("holds back at start what an older SDK left in the store that the relay would refuse", async () => {
    const { relay, client } = setup();
    const identity = createIdentity();
    const store = new MemoryLocalStore();
    const first = await client({ identity, store, name: "alice" });
    const group = first.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    const other = group.create();
    doc.append("ok");
    await group.synced();
    await first.close();
    // What `append({ op: "add" })` left in the store before the SDK refused it.
    await store.save("g1", doc.id, { appends: [{ session: first.session, after: 1, transactions: [{ at: Date.now(), data: { op: "add" } as unknown as string }] }] });

    const second = await client({ identity, store, name: "alice" });
    const again = second.group("g1");
    const refusals: RefusedWrites[] = [];
    again.onRefused((refused) => refusals.push(refused));
    await again.ready;
    await statusOf(again, "live");
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.error).toMatchObject({ code: "bad_frame" });
    const reopened = await again.open(other.id);
    reopened.append("other documents keep syncing");
    await reopened.synced();
    expect(relay.transcript().some((line) => line.includes("UNDECODABLE") || line.includes("error"))).toBe(false);
    expect(relay.store.knownState(doc.id).sessions[second.session as SessionId]).toBe(1);
  });
});

describe("a new document's header", () => {
  it("is held as every other replica gets it: -0 in meta is 0, and the app's meta object changed afterwards changes nothing", async () => {
    const { client } = setup();
    const writer = await client();
    const meta = { n: -0, title: "plan" };
    const doc = writer.group("g1").create({ meta });
    meta.title = "changed by the app";
    expect(Object.is(doc.header!.meta.n, 0)).toBe(true);
    expect(doc.header!.meta.title).toBe("plan");
    await doc.synced();
    const read = await (await client()).group("g1").open(doc.id);
    expect(read.header).toEqual(doc.header);
    expect(Object.is(read.header!.meta.n, 0)).toBe(true);
  });
});

/** What `call` throws. */
function thrownBy(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error("nothing thrown");
}
