// weft/client: the SDK apps import to sync documents through a Weft relay.
export { createClient, Client, type ClientOptions } from "./client.ts";
export { Group, type GroupOptions } from "./group.ts";
export { RelayError, LocalStoreError, LocalRefusalError, ClosedError, ConnectionError, type ConnectionFailure } from "./errors.ts";
export { ArgumentError } from "../protocol/argument-error.ts";
export type { Directory } from "./core/effects.ts";
export { Doc, type DocChange, type DocTransaction, type RefusedWrites, type Snapshotted } from "./doc.ts";
export type { DocPresence, PresenceKey, PresenceListener, PresenceMap, PresencePeerState } from "./presence.ts";
/** What a transaction carries: text, or bytes (a Uint8Array), served back as it was appended. */
export type { TransactionData, Snapshot } from "../protocol/index.ts";
export { createIdentity, importIdentity, exportIdentity, type Identity } from "./identity.ts";
export type { Status } from "./status.ts";
export type { BackoffOptions } from "./backoff.ts";
export type { GetToken, GetTokenOptions } from "./token-source.ts";
export { MemoryLocalStore } from "./storage/memory-store.ts";
export { IndexedDbLocalStore } from "./storage/indexeddb-store.ts";
export type { LocalStore, StoredDoc, StoredSnapshot, DocChanges } from "./storage/local-store.ts";
export { SessionInUseError, type SessionLease, type LeaseRequest } from "./storage/session-pool.ts";
