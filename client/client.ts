// The entry point apps use: createClient({ url, identity }) and then client.group(id).
import { Group, type GroupOptions } from "./group.ts";
import { newSession, type Identity } from "./identity.ts";
import { checkRelayUrl } from "./local-checks.ts";
import type { SessionId } from "../protocol/index.ts";
import type { LocalStore } from "./storage/local-store.ts";
import { MemoryLocalStore } from "./storage/memory-store.ts";

export type ClientOptions = GroupOptions & {
  identity: Identity;
  /** Where documents are kept on this device: in memory unless given (see FileLocalStore, IndexedDbLocalStore). */
  store?: LocalStore;
  /** This device's session id. By default the one saved in the store, or a new one. */
  session?: SessionId;
};

export class Client {
  readonly identity: Identity;
  readonly session: SessionId;
  readonly store: LocalStore;
  readonly #options: GroupOptions;
  readonly #groups = new Map<string, Group>();

  constructor(identity: Identity, session: SessionId, store: LocalStore, options: GroupOptions) {
    this.identity = identity;
    this.session = session;
    this.store = store;
    this.#options = options;
  }

  /** The group with this id, connected on first use. */
  group(id: string): Group {
    let group = this.#groups.get(id);
    if (!group) {
      group = new Group(id, this.identity, this.session, this.store, this.#options);
      this.#groups.set(id, group);
    }
    return group;
  }

  /** Closes every connection and timer, so a Node process can exit. */
  close(): void {
    for (const group of this.#groups.values()) group.close();
    this.#groups.clear();
  }
}

/**
 * A client for one identity on one device; its session id is kept in the store across restarts. A bad
 * `url` (one without a scheme, say) throws a LocalRefusalError here, synchronously.
 */
export function createClient(options: ClientOptions): Promise<Client> {
  checkRelayUrl(options.url);
  return openClient(options);
}

async function openClient(options: ClientOptions): Promise<Client> {
  const { identity, store = new MemoryLocalStore(), session: given, ...rest } = options;
  let session = given ?? (await store.loadSession(identity.agent));
  if (!session) {
    session = newSession(identity);
    await store.saveSession(identity.agent, session);
  }
  return new Client(identity, session, store, rest);
}
