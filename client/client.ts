// The entry point apps use: createClient({ url, identity }) and then client.group(id).
import { Group, type GroupOptions } from "./group.ts";
import { newSession, type Identity } from "./identity.ts";
import type { SessionId } from "../protocol/index.ts";

export type ClientOptions = GroupOptions & {
  identity: Identity;
  /** This device's session id; a new one per client if omitted. Reuse it only on the same device. */
  session?: SessionId;
};

export class Client {
  readonly identity: Identity;
  readonly session: SessionId;
  readonly #options: GroupOptions;
  readonly #groups = new Map<string, Group>();

  constructor(options: ClientOptions) {
    const { identity, session, ...rest } = options;
    this.identity = identity;
    this.session = session ?? newSession(identity);
    this.#options = rest;
  }

  /** The group with this id, connected on first use. */
  group(id: string): Group {
    let group = this.#groups.get(id);
    if (!group) {
      group = new Group(id, this.identity, this.session, this.#options);
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

export const createClient = (options: ClientOptions): Client => new Client(options);
