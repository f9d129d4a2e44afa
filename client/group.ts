// A group as one client sees it: one connection, the documents opened in it, and the traffic between.
import {
  docIdOf,
  newHeader,
  type DirEntry,
  type DocId,
  type DocMeta,
  type ErrorMessage,
  type ServerMessage,
  type SessionId,
} from "../protocol/index.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { Doc } from "./doc.ts";
import type { Identity } from "./identity.ts";
import type { Status } from "./status.ts";
import type { LocalStore } from "./storage/local-store.ts";

export type GroupOptions = Omit<ConnectionOptions, "group" | "identity" | "session">;

/** An error the relay reported about one document or the connection. */
export class RelayError extends Error {
  override readonly name = "RelayError";
  readonly code: ErrorMessage["code"];
  readonly doc: DocId | undefined;

  constructor(error: ErrorMessage) {
    super(`${error.code}: ${error.message}`);
    this.code = error.code;
    this.doc = error.doc;
  }
}

export class Group {
  readonly id: string;
  readonly identity: Identity;
  readonly session: SessionId;
  readonly connection: Connection;
  readonly #docs = new Map<DocId, Doc>();
  readonly #statusListeners = new Set<(status: Status, reason?: string) => void>();
  readonly #errorListeners = new Set<(error: RelayError) => void>();
  #directory: { entries: DirEntry[]; waiters: { resolve: (entries: DirEntry[]) => void }[] } = { entries: [], waiters: [] };
  readonly #store: LocalStore;
  /** Resolves once the documents saved on this device are loaded; the connection opens after it. */
  readonly ready: Promise<void>;
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;

  constructor(id: string, identity: Identity, session: SessionId, store: LocalStore, options: GroupOptions) {
    this.id = id;
    this.identity = identity;
    this.session = session;
    this.#store = store;
    this.connection = new Connection(
      { ...options, group: id, identity, session },
      {
        onReady: () => this.#onReady(),
        onMessage: (message) => this.#onMessage(message),
        onDown: () => this.#onDown(),
        onStatus: (status, reason) => {
          for (const listener of this.#statusListeners) listener(status, reason);
          if (status === "closed") this.#failDirectory();
        },
      },
    );
    this.ready = this.#restore();
  }

  async #restore(): Promise<void> {
    for (const stored of await this.#store.loadGroup(this.id)) {
      const doc = this.#docs.get(stored.id) ?? this.#track(stored.id, stored.header);
      doc.restore(stored);
    }
    this.connection.start();
  }

  get status(): Status {
    return this.connection.status;
  }

  /** Creates a document in this group. It exists locally at once and reaches the relay when connected. */
  create(options: { kind?: string; meta?: DocMeta } = {}): Doc {
    const header = newHeader({ group: this.id, kind: options.kind ?? "json", creator: this.identity.agent, createdAt: Date.now(), meta: options.meta ?? {} });
    const doc = this.#track(docIdOf(header), header);
    this.#load(doc);
    this.#scheduleFlush();
    return doc;
  }

  /**
   * Opens a document by id. One saved on this device resolves at once, without the network, and
   * catches up in the background; otherwise this waits until the relay has sent what it holds.
   */
  async open(id: DocId): Promise<Doc> {
    await this.ready;
    const doc = this.#docs.get(id) ?? this.#track(id, undefined);
    this.#load(doc);
    if (!doc.header) await doc.loaded();
    return doc;
  }

  /** Resolves when every change so far is saved locally and acknowledged by the relay. */
  async synced(): Promise<void> {
    await this.ready;
    await Promise.all([...this.#docs.values()].map((doc) => doc.synced()));
  }

  /** The documents of this group, as the relay lists them. */
  directory(): Promise<DirEntry[]> {
    return new Promise((resolve, reject) => {
      if (this.status === "closed") return reject(new Error(`group ${this.id} is closed: ${this.connection.closeReason}`));
      const first = this.#directory.waiters.length === 0;
      this.#directory.waiters.push({ resolve });
      if (first) this.connection.send({ type: "dir" });
    });
  }

  onStatus(listener: (status: Status, reason?: string) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  onError(listener: (error: RelayError) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  close(): void {
    this.connection.close();
  }

  #track(id: DocId, header: Doc["header"]): Doc {
    const doc = new Doc(id, header, this.identity, this.session, () => this.#scheduleFlush());
    this.#docs.set(id, doc);
    return doc;
  }

  #load(doc: Doc): void {
    if (doc.isLoaded) return;
    this.connection.markSyncing();
    this.connection.send({ type: "load", doc: doc.id, known: doc.known });
  }

  #onReady(): void {
    // Resume: every document says what it holds; the relay answers with exactly what it lacks.
    for (const doc of this.#docs.values()) this.connection.send({ type: "load", doc: doc.id, known: doc.known });
    if (this.#directory.waiters.length > 0) {
      this.#directory.entries = [];
      this.connection.send({ type: "dir" });
    }
    this.#checkLive();
  }

  #onDown(): void {
    for (const doc of this.#docs.values()) doc.resetInFlight();
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "known": {
        const doc = this.#docs.get(message.doc);
        if (!doc) return;
        const wasLoaded = doc.isLoaded;
        doc.onKnown({ header: message.header, sessions: message.sessions }, message.reason);
        if (!wasLoaded) this.#checkLive();
        return this.#push(doc);
      }
      case "content": {
        const doc = this.#docs.get(message.doc);
        if (!doc) return;
        if (!doc.onContent(message)) this.connection.send({ type: "load", doc: doc.id, known: doc.known });
        return this.#scheduleFlush();
      }
      case "dir": {
        this.#directory.entries.push(...message.docs);
        if (message.more) return;
        const { entries, waiters } = this.#directory;
        this.#directory = { entries: [], waiters: [] };
        for (const waiter of waiters) waiter.resolve(entries);
        return;
      }
      case "error": {
        const error = new RelayError(message);
        for (const listener of this.#errorListeners) listener(error);
        return;
      }
      case "challenge":
      case "welcome":
      case "pong":
        return; // handled by the connection
    }
  }

  #checkLive(): void {
    for (const doc of this.#docs.values()) if (!doc.isLoaded) return;
    this.connection.markLive();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Appends made in the same tick travel together: one save, one signature and one frame per batch.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  /** Saves what the local store lacks, then pushes what the relay lacks; one flush at a time. */
  async #flush(): Promise<void> {
    if (this.#flushing) {
      await this.#flushing;
      return this.#scheduleFlush();
    }
    this.#flushing = (async () => {
      for (const doc of this.#docs.values()) {
        const changes = doc.unsaved();
        if (!changes) continue;
        try {
          await this.#store.save(this.id, doc.id, changes);
          doc.markSaved(changes);
        } catch (error) {
          const message = `saving ${doc.id} locally failed: ${(error as Error).message}`;
          for (const listener of this.#errorListeners) listener(new RelayError({ type: "error", code: "internal", message, doc: doc.id }));
        }
      }
      for (const doc of this.#docs.values()) this.#push(doc);
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  #push(doc: Doc): void {
    if (this.status !== "syncing" && this.status !== "live") return;
    for (const frame of doc.takePush()) this.connection.send(frame);
  }

  #failDirectory(): void {
    // Waiters of a closed group would wait forever; answer them with what is known (nothing).
    const { waiters } = this.#directory;
    this.#directory = { entries: [], waiters: [] };
    for (const waiter of waiters) waiter.resolve([]);
  }
}
