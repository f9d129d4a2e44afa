// Clients of the real SDK (createClient, Group, Doc) against the real relay core in this process
// (in-process-relay.ts): every scenario of the client is a transcript test in plain Node.
import { afterEach, expect } from "vitest";
import { LocalRefusalError, createClient, type Client, type ClientOptions } from "../../../client/index.ts";
import { createIdentity, type Identity } from "../../../client/identity.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import type { DocChanges, SaveResult } from "../../../client/storage/local-store.ts";
import { fromBase64Url, toBase64Url, type DocId, type Role } from "../../../protocol/index.ts";
import type { TokenVerifier } from "../../../worker/core/relay.ts";
import { InProcessRelay } from "./in-process-relay.ts";

export const GROUP = "g1";

/** The code of the LocalRefusalError `call` throws at once; fails the test if it throws anything else or nothing. */
export function refusalCode(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(LocalRefusalError);
    return (error as LocalRefusalError).code;
  }
  throw new Error("the call did not throw");
}

/**
 * A token carrying `text` for a test's TokenVerifier (the in-process relay checks no signature), in a JWT's
 * shape: the SDK refuses any other before sending it.
 */
export const fakeToken = (text: string): string => `fake.${toBase64Url(new TextEncoder().encode(text))}.fake`;
/** The text a fakeToken carries. */
export const fakeTokenText = (token: string): string => new TextDecoder().decode(fromBase64Url(token.split(".")[1] ?? "") ?? new Uint8Array());

export function harness(verifyToken?: TokenVerifier) {
  const relay = new InProcessRelay(GROUP, verifyToken);
  const clients: Client[] = [];
  let named = 0;

  /** A client of `identity` (a new one by default), named cN in the transcript. */
  async function client({ name: given, ...options }: Partial<ClientOptions> & { identity?: Identity; name?: string } = {}): Promise<Client> {
    const identity = options.identity ?? createIdentity();
    const created = await createClient({
      url: "http://relay.test",
      store: new MemoryLocalStore(),
      WebSocket: relay.WebSocket,
      fetch: false,
      // Reconnects at once: the scenarios are about what is sent, not when.
      backoff: { baseMs: 1, capMs: 1, minUptimeMs: 0 },
      random: () => 0,
      ...options,
      identity,
    });
    const name = given ?? `agent${++named}`;
    relay.name(created.session, name);
    relay.name(identity.agent, name);
    clients.push(created);
    return created;
  }

  function closeAll(): void {
    for (const created of clients) created.close();
  }

  /**
   * Cuts a client (one made with `url: CUT_OFF_URL`) off the relay in group g1, as a device that goes offline: until
   * the returned function puts it back, it hears nothing, such as its agent being made a reader, and
   * still writes as the role it last heard, so the relay refuses those writes when it is back.
   */
  function cutOff(cut: Client): () => void {
    relay.unreachable.add(new URL(CUT_OFF_URL).host);
    cut.group(GROUP).connection.drop();
    return () => {
      relay.unreachable.delete(new URL(CUT_OFF_URL).host);
      cut.reconnectNow();
    };
  }

  return { relay, client, cutOff, closeAll };
}

/** The URL of clients that `cutOff()` can cut off while the others stay connected. */
export const CUT_OFF_URL = "http://cut-off.relay.test";

export { statusOf } from "../../support/wait.ts";

/** Lets every queued microtask and zero-delay timer run: the in-process relay answers within a few. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** A store whose saves take a while, as a disk's or IndexedDB's may. */
export class SlowSaves extends MemoryLocalStore {
  override async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
    await new Promise((resolve) => setTimeout(resolve, 30));
    return super.save(group, doc, changes);
  }
}

/**
 * In `made`, alice's group g1 with a membership log (named "members" in the transcript) that gives a new
 * agent, bob, `role`; bob's client is not started.
 */
export async function bobMadeBy(made: ReturnType<typeof harness>, role: Role) {
  const { relay, client } = made;
  const alice = await client({ name: "alice" });
  const aliceGroup = alice.group(GROUP);
  const log = aliceGroup.createMembers();
  relay.name(log.id, "members");
  await log.synced();
  const bobIdentity = createIdentity();
  await aliceGroup.setRole(bobIdentity.agent, role);
  return { relay, client, alice, aliceGroup, log, bobIdentity };
}

/** A fresh harness per test, closed after it: call the returned function at the start of each test. */
export function harnessPerTest(): () => ReturnType<typeof harness> {
  let current: ReturnType<typeof harness> | undefined;
  afterEach(() => current?.closeAll());
  return () => (current = harness());
}
