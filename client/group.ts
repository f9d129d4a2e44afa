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
  #pushScheduled = false;

  constructor(id: string, identity: Identity, session: SessionId, options: GroupOptions) {
    this.id = id;
    this.identity = identity;
    this.session = session;
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
    return doc;
  }

  /** Opens a document by id and resolves once the relay has sent what it holds of it. */
  async open(id: DocId): Promise<Doc> {
    const doc = this.#docs.get(id) ?? this.#track(id, undefined);
    this.#load(doc);
    await doc.loaded();
    return doc;
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
    const doc = new Doc(id, header, this.identity, this.session, () => this.#schedulePush());
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
        if (doc && !doc.onContent(message)) this.connection.send({ type: "load", doc: doc.id, known: doc.known });
        return;
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

  #schedulePush(): void {
    if (this.#pushScheduled) return;
    this.#pushScheduled = true;
    // Appends made in the same tick travel together: one signature and one frame per batch.
    queueMicrotask(() => {
      this.#pushScheduled = false;
      for (const doc of this.#docs.values()) this.#push(doc);
    });
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
