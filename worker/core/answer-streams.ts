// The relay's long answers (a load, a directory listing, an open part), streamed in slices of bounded work:
// the first slice runs in the event that asked, the rest in alarm events, peers taking turns, so no answer
// holds up the frames of other peers. Each peer's answers are queued in order, their size in memory bounded
// (a peer over it is refused `busy`), and judged by the peer's role at each slice, not when it asked.
// A peer's answers go at most a window ahead of what it has read (answer-window.ts, which counts every frame
// the peer is sent, live ones too): past it they pause, the other peers' go on, and they resume when the
// peer echoes a mark.
import {
  CHUNK_TARGET_BYTES,
  DIR_SLICE_DOCS,
  LOAD_FIRST_EVENT_ROWS,
  LOAD_SLICE_ROWS,
  MAX_DOCS_PER_DIR_FRAME,
  MAX_QUEUED_STREAM_ENTRIES_PER_PEER,
  OPEN_SLICE_DOCS,
  OPEN_SLICE_ROWS,
  RETRY_AFTER_BUSY_SECONDS,
  STREAM_WORK_PER_EVENT,
  mayRead,
  type DirEntry,
  type DocId,
  type ErrorMessage,
  type KnownState,
  type ServerMessage,
  type SessionId,
} from "../../protocol/index.ts";
import { deletionRefusal } from "./access.ts";
import type { AnswerWindow } from "./answer-window.ts";
import { sendMissing } from "./delta-stream.ts";
import type { Effect, Reader } from "./effects.ts";
import { LoadCache } from "./load-cache.ts";
import type { GroupStore, PeerId } from "./store.ts";

/** What the streams need of the relay that runs them. */
export type StreamHost = {
  readonly store: GroupStore;
  /** Puts a message in the peer's outbox, counted against its window (marks follow by themselves). */
  post(peer: PeerId, message: ServerMessage): void;
  /** Whether the peer is still connected and authenticated, and its socket has not failed. */
  isLive(peer: PeerId): boolean;
  /** Who the peer reads as now (its role as of this moment), or undefined if it is no longer a reader here. */
  readerNow(peer: PeerId): Reader | undefined;
  /** The session the peer writes as (its hello's), once it is ready. */
  sessionOf(peer: PeerId): SessionId | undefined;
  /** Tells the peer why, closes its socket and forgets it, its streams included. */
  cutOff(peer: PeerId, error: ErrorMessage): void;
  /** Makes sure an alarm event comes at or before `at`. */
  wakeAt(at: number): void;
  /**
   * Keeps `mark`, where the peer's answers just paused, beyond this instance (the Durable Object: in the
   * socket attachment), so the instance woken after an eviction knows its echo (AnswerWindow's lostPauses).
   */
  keepPause(peer: PeerId, mark: string): void;
};

type SendGroup = Extract<Effect, { type: "sendGroup" }>;
/**
 * An open part being streamed: `after` moves past each document begun; `current` is a document begun
 * but not all sent yet (what the peer holds of it so far); `unlisted`, the documents the peer named in
 * `known` that the listing has not reached yet, the next one last (set at the first slice).
 */
type OpenPart = SendGroup & { kind: "open"; current?: { doc: DocId; have: KnownState }; unlisted?: DocId[] };
/** A directory listing being streamed: `since` moves past each document listed. */
type DirListing = { kind: "dir"; peer: PeerId; since: number; reader: Reader; readerDigest?: string };
/**
 * A load being streamed: `have` is what the peer holds so far, advanced as transactions are sent. A
 * `catchUp` stands in for live content the peer was too far behind to be sent (catchUp below): it ends
 * without a `known`, as live content does, and quietly once the peer may no longer read the document or
 * no longer subscribes to it.
 */
type LoadStream = { kind: "load"; peer: PeerId; doc: DocId; have: KnownState; catchUp?: true };
/** An answer in a peer's queue; `weight` is what it holds in memory (weightOf), set when it is queued. */
export type Streamed = (OpenPart | DirListing | LoadStream) & { weight?: number };
/** What one slice of an answer did: whether the answer is complete, and the rows and documents it read. */
type Slice = { done: boolean; work: number };

export class AnswerStreams {
  readonly #host: StreamHost;
  /**
   * Each peer's long answers (loads, open parts, directory listings) still being streamed, the current one
   * first, for the peers whose turn comes: in the order they take turns.
   */
  readonly #queues = new Map<PeerId, Streamed[]>();
  /** The queues of the peers whose window is full: they take no turns until the peer echoes a mark. */
  readonly #paused = new Map<PeerId, Streamed[]>();
  /** The window of each peer, shared with the relay that counts every frame sent into it. */
  readonly #window: AnswerWindow;
  /** Documents an open has sent a peer so far, over all its parts, for `opened`. */
  readonly #openedCount = new Map<PeerId, number>();
  /** Entries of known state each peer's queued answers hold (weightOf), against MAX_QUEUED_STREAM_ENTRIES_PER_PEER. */
  readonly #queuedWeight = new Map<PeerId, number>();
  /** What fresh clients were sent, to send the next ones again (load-cache.ts). */
  readonly #kept = new LoadCache();

  constructor(host: StreamHost, window: AnswerWindow) {
    this.#host = host;
    this.#window = window;
  }

  /**
   * Queues a long answer (a load, a directory listing, an open part) for a peer. Its first slice runs now
   * (a load's first slices, up to LOAD_FIRST_EVENT_ROWS: a document that fits is sent whole without
   * waiting tens of ms for an alarm), within the peer's window; if more remains, the rest runs in alarm
   * events, so other peers' frames are handled in between; a peer's answers run one after another.
   * A peer whose queue would outgrow MAX_QUEUED_STREAM_ENTRIES_PER_PEER is refused with `busy` and
   * disconnected, which frees it all.
   */
  add(answer: Streamed, now: number): void {
    const peer = answer.peer;
    const queue = this.#queues.get(peer) ?? this.#paused.get(peer);
    answer.weight = weightOf(answer);
    const weight = (this.#queuedWeight.get(peer) ?? 0) + answer.weight;
    // The answer started first is always taken (one message is bounded by its frame): only waiting ones count.
    if (queue && weight > MAX_QUEUED_STREAM_ENTRIES_PER_PEER) return this.#refuseBusy(peer);
    this.#queuedWeight.set(peer, weight);
    if (queue) return void queue.push(answer);
    this.#queues.set(peer, [answer]);
    const budget = answer.kind === "load" ? LOAD_FIRST_EVENT_ROWS : 1;
    for (let spent = 0; spent < budget && this.#queues.get(peer)?.[0] === answer && !this.#window.full(peer); ) spent += Math.max(1, this.#slice(peer));
    this.#pauseIfFull(peer);
    if (this.#queues.size > 0) this.#host.wakeAt(now);
  }

  /**
   * The peer echoed mark `id` (ignored unless its answers wait for it: a made-up id, or a mark along answers
   * of an instance evicted since, confirms nothing): if that frees its window, its answers take a slice at
   * once, as a new answer's first does, and the rest their turns. An echo of the mark where its answers
   * paused in an instance evicted from memory since (the peer read so slowly that the object went idle):
   * those answers are gone, whatever the peer asked since, so it is told to connect again, and asks again.
   */
  confirm(peer: PeerId, id: string, now: number): void {
    if (this.#window.lostAt(peer, id)) {
      return this.#host.cutOff(peer, { type: "error", code: "internal", message: "the relay restarted while its answers waited for this connection to read them, so it is closed; the client asks again on a new connection" });
    }
    if (!this.#window.confirm(peer, id) || this.#window.full(peer)) return;
    const queue = this.#paused.get(peer);
    if (!queue) return;
    this.#paused.delete(peer);
    this.#queues.set(peer, queue);
    this.#slice(peer);
    this.#pauseIfFull(peer);
    if (this.#queues.size > 0) this.#host.wakeAt(now);
  }

  /** A peer whose window is full stops taking turns, and is sent a mark behind what it has, to echo once it has read it all. */
  #pauseIfFull(peer: PeerId): void {
    const queue = this.#queues.get(peer);
    if (!queue || !this.#window.full(peer)) return;
    this.#queues.delete(peer);
    this.#paused.set(peer, queue);
    const tail = this.#window.markPause(peer);
    if (!tail) return;
    this.#host.keepPause(peer, tail);
    this.#host.post(peer, { type: "mark", id: tail });
  }

  /** Sends a message of a long answer (the host counts it against the peer's window); returns whether the window has room left. */
  #emit(peer: PeerId, message: ServerMessage): boolean {
    this.#host.post(peer, message);
    return !this.#window.full(peer);
  }

  #refuseBusy(peer: PeerId): void {
    this.#host.cutOff(peer, {
      type: "error",
      code: "busy",
      message: `this connection has more long answers queued than the relay holds for one peer (${MAX_QUEUED_STREAM_ENTRIES_PER_PEER} entries of known state); retry later`,
      retryAfter: RETRY_AFTER_BUSY_SECONDS,
    });
  }

  /**
   * The alarm went off: slices of queued answers, a peer at a time in turn, until about STREAM_WORK_PER_EVENT
   * rows and documents are out; then, if any remain, the object asks to be woken again at once. Peers whose
   * window is full wait out of turn: with only those left, the object goes idle.
   */
  continue(now: number): void {
    let spent = 0;
    while (spent < STREAM_WORK_PER_EVENT) {
      const peer = this.#queues.keys().next().value;
      if (peer === undefined) break;
      spent += Math.max(1, this.#slice(peer));
      // Its turn is over: the peer goes to the back of the line, or out of it while its window is full.
      this.#pauseIfFull(peer);
      const queue = this.#queues.get(peer);
      this.#queues.delete(peer);
      if (queue) this.#queues.set(peer, queue);
    }
    if (this.#queues.size > 0) this.#host.wakeAt(now);
  }

  /** One slice of a peer's current answer; the rows and documents it read. */
  #slice(peer: PeerId): number {
    const queue = this.#queues.get(peer);
    const answer = queue?.[0];
    if (!queue || !answer) return 0;
    if (!this.#host.isLive(peer)) {
      this.forget(peer);
      return 0;
    }
    // Judged by the peer's role now, not when it asked: a role change stored meanwhile applies to what is left.
    const reader = this.#host.readerNow(peer);
    if (!reader) {
      // No longer a member (a membership log founded or changed since it asked): refused as its next message would be.
      this.#host.cutOff(peer, { type: "error", code: "unauthorized", message: "this agent is not a member of the group" });
      return 1;
    }
    if (answer.kind === "load" && answer.catchUp && !this.#stillFollows(peer, reader, answer.doc)) return this.#sliceDone(peer, queue, answer, { done: true, work: 1 });
    if (answer.kind === "load" && !this.#mayStillRead(reader, answer.doc)) {
      this.#emit(peer, { type: "error", code: "forbidden", message: "this agent may no longer read this document", doc: answer.doc });
      return this.#sliceDone(peer, queue, answer, { done: true, work: 1 });
    }
    if (answer.kind !== "load") answer.reader = reader;
    const slice = answer.kind === "open" ? this.#openSlice(peer, answer) : answer.kind === "dir" ? this.#directorySlice(peer, answer) : this.#loadSlice(peer, answer);
    return this.#sliceDone(peer, queue, answer, slice);
  }

  /** Takes a finished answer off the peer's queue; the rows and documents the slice read. */
  #sliceDone(peer: PeerId, queue: Streamed[], answer: Streamed, slice: Slice): number {
    if (slice.done) {
      queue.shift();
      this.#queuedWeight.set(peer, (this.#queuedWeight.get(peer) ?? 0) - (answer.weight ?? 0));
    }
    if (queue.length === 0) {
      // The peer's count of opened documents stays: its next open part may come in a later frame.
      this.#queues.delete(peer);
      this.#queuedWeight.delete(peer);
    }
    return slice.work;
  }

  /** Whether live content of `doc` would still reach the peer: it subscribes to it, may read it, and it is not deleted. */
  #stillFollows(peer: PeerId, reader: Reader, doc: DocId): boolean {
    const header = this.#host.store.header(doc);
    return header !== undefined && mayRead(reader.role, reader.agent, header) && this.#host.store.subscribers(doc).includes(peer);
  }

  #mayStillRead(reader: Reader, doc: DocId): boolean {
    const header = this.#host.store.header(doc);
    return !header || mayRead(reader.role, reader.agent, header);
  }

  /** The document was deleted: what was kept of its answers goes. */
  forgetDoc(doc: DocId): void {
    this.#kept.forget(doc);
  }

  /** The peer is gone: its answers, and its window with them. */
  forget(peer: PeerId): void {
    this.#queues.delete(peer);
    this.#paused.delete(peer);
    this.#window.forget(peer);
    this.#queuedWeight.delete(peer);
    this.#openedCount.delete(peer);
  }

  /** One slice of a directory listing (DIR_SLICE_DOCS documents, or fewer once the peer's window is full). */
  #directorySlice(peer: PeerId, listing: DirListing): Slice {
    let docs: DirEntry[] = [];
    let bytes = 0;
    let listed = 0;
    let room = true;
    // The slice takes at most DIR_SLICE_DOCS, and reads one more to tell that more remain.
    for (const { cursor, ...entry } of this.#host.store.listDocuments(listing.since, DIR_SLICE_DOCS + 1)) {
      if (listed >= DIR_SLICE_DOCS || !room) {
        this.#sendDirectoryFrame(peer, docs, true, listing.readerDigest);
        return { done: false, work: listed };
      }
      listed++;
      listing.since = cursor;
      if (!mayRead(listing.reader.role, listing.reader.agent, entry.header)) continue;
      const size = JSON.stringify(entry).length;
      if (docs.length >= MAX_DOCS_PER_DIR_FRAME || (docs.length > 0 && bytes + size > CHUNK_TARGET_BYTES)) {
        room = this.#sendDirectoryFrame(peer, docs, true, listing.readerDigest);
        docs = [];
        bytes = 0;
      }
      docs.push(entry);
      bytes += size;
    }
    this.#sendDirectoryFrame(peer, docs, false, listing.readerDigest);
    return { done: true, work: listed };
  }

  /** Returns whether the peer's window has room left. */
  #sendDirectoryFrame(peer: PeerId, docs: DirEntry[], more: boolean, readerDigest?: string): boolean {
    const { cursor, digest } = this.#host.store.info();
    return this.#emit(peer, { type: "dir", docs, more, cursor, digest: readerDigest ?? digest, inSync: false });
  }

  /**
   * Sends the next part of what a peer lacks of one document (sendMissing, at most `budget` transactions,
   * and no more once the peer's window is full), and once it has everything, the relay's `known` (or
   * `deleted`, if the document went meanwhile).
   */
  #documentSlice(peer: PeerId, doc: DocId, have: KnownState, budget: number, relayKnown?: KnownState, catchUp?: true): { done: boolean; rows: number } {
    const step = sendMissing(this.#host.store, doc, have, budget, (message) => this.#emit(peer, message), relayKnown, this.#kept);
    if (!step.complete) return { done: false, rows: step.rows };
    // Live content ends with nothing more, and a deletion is told to subscribers as it happens.
    if (catchUp) return { done: true, rows: step.rows };
    if (!step.complete.header && this.#host.store.deleted(doc)) this.#emit(peer, { type: "deleted", doc });
    else this.#emit(peer, { type: "known", doc, ...step.complete, ...this.#ownHead(peer, doc, step.complete), reason: "load" });
    return { done: true, rows: step.rows };
  }

  /** The chain hash at the relay's count of the peer's own session, where it holds some (`head` of a load's answer). */
  #ownHead(peer: PeerId, doc: DocId, known: KnownState): { head?: string } {
    const session = this.#host.sessionOf(peer);
    const count = session === undefined ? 0 : (known.sessions[session] ?? 0);
    if (count === 0) return {};
    const head = this.#host.store.sessionHead(doc, session!);
    return head?.count === count ? { head: head.lastHash } : {};
  }

  /** One slice of a load (LOAD_SLICE_ROWS transactions). */
  #loadSlice(peer: PeerId, load: LoadStream): Slice {
    const { done, rows } = this.#documentSlice(peer, load.doc, load.have, LOAD_SLICE_ROWS, undefined, load.catchUp);
    return { done, work: rows };
  }

  /**
   * One slice of an open part (OPEN_SLICE_DOCS documents or OPEN_SLICE_ROWS transactions, or less once the
   * peer's window is full): the documents
   * the peer may read, in id order, each streamed like a load (a long one over several slices), then
   * `known`; after the last part, `opened`.
   */
  #openSlice(peer: PeerId, part: OpenPart): Slice {
    let docs = 0;
    let rows = 0;
    // A document begun under a role that no longer reads it is not gone on with.
    if (part.current && !this.#mayStillRead(part.reader, part.current.doc)) delete part.current;
    if (part.current) {
      const current = this.#documentSlice(peer, part.current.doc, part.current.have, OPEN_SLICE_ROWS);
      rows += current.rows;
      if (!current.done) return { done: false, work: rows };
      delete part.current;
    }
    // The listing passes live documents only, so tombstones (kept for good) cost an open no slices; the
    // ones the peer holds are told as the listing passes their place (#answerUnlisted).
    part.unlisted ??= unlistedOf(part);
    // The slice takes at most OPEN_SLICE_DOCS, and reads one more to tell that more remain.
    for (const entry of this.#host.store.listDocumentsById(part.after, part.through, OPEN_SLICE_DOCS + 1, true)) {
      if (docs >= OPEN_SLICE_DOCS || rows >= OPEN_SLICE_ROWS || this.#window.full(peer)) return { done: false, work: docs + rows };
      // The documents it names before this one, within what is left of the slice; the next slice lists this one again.
      const before = this.#answerUnlisted(peer, part.unlisted, entry.id, OPEN_SLICE_DOCS - docs);
      docs += before.answered;
      if (!before.done) return { done: false, work: docs + rows };
      part.after = entry.id;
      docs += 1;
      const held = part.known[entry.id];
      if (!mayRead(part.reader.role, part.reader.agent, entry.header)) continue;
      this.#openedCount.set(peer, (this.#openedCount.get(peer) ?? 0) + 1);
      const have: KnownState = { header: held?.header ?? false, sessions: { ...held?.sessions } };
      const document = this.#documentSlice(peer, entry.id, have, OPEN_SLICE_ROWS - rows, entry.known);
      rows += document.rows;
      if (!document.done) {
        part.current = { doc: entry.id, have };
        return { done: false, work: docs + rows };
      }
    }
    const rest = this.#answerUnlisted(peer, part.unlisted, undefined, Math.max(OPEN_SLICE_DOCS - docs, 1));
    docs += rest.answered;
    if (!rest.done) return { done: false, work: docs + rows };
    if (part.through === undefined) {
      this.#emit(peer, { type: "opened", docs: this.#openedCount.get(peer) ?? 0, cursor: this.#host.store.info().cursor });
      this.#openedCount.delete(peer);
    }
    return { done: true, work: docs + rows };
  }

  /**
   * The documents the peer named that the listing passed without finding (those before `reached`, or all
   * left when it is undefined): deleted ones are told so; the others this relay lacks, and each is answered
   * as a load of it would be, with nothing held, so the peer gives back what it has (a document created
   * offline whose first push was cut off, a group restored from an older backup). At most `budget` of them;
   * `done` once none is left before `reached`.
   */
  #answerUnlisted(peer: PeerId, unlisted: DocId[], reached: DocId | undefined, budget: number): { answered: number; done: boolean } {
    let answered = 0;
    const reader = this.#host.readerNow(peer);
    while (unlisted.length > 0 && (reached === undefined || unlisted.at(-1)! <= reached)) {
      if (unlisted.at(-1) === reached) {
        unlisted.pop();
        break;
      }
      if (answered >= budget) return { answered, done: false };
      const doc = unlisted.pop()!;
      // Deleted while the open streamed (the listing passes live documents only): said so, not "none here",
      // to a peer that may read it; to another, nothing, as for a live document it may not read.
      const gone = reader && deletionRefusal(reader.role, reader.agent, doc, this.#host.store);
      if (gone?.code === "doc_deleted") this.#emit(peer, { type: "deleted", doc });
      else if (!gone) this.#emit(peer, { type: "known", doc, header: false, sessions: {}, reason: "load" });
      answered++;
    }
    return { answered, done: true };
  }

  /**
   * Live content the peer is too far behind to be sent now (its window is past LAGGING_UNREAD_BYTES): it is
   * dropped, and a load of the document from where the content starts is queued in its place (behind the
   * peer's other answers, within its window like them), so the peer is caught up from storage once it reads,
   * with this content and whatever follows it, instead of the object holding it all in memory or cutting the
   * peer off. Later live content of the document is covered by it (coversLater). What the peer holds of the
   * sessions the content does not carry is what the store holds: every earlier write of them was sent to it
   * live or is covered by an answer still streaming, and one frame's writes are all of one session.
   */
  catchUp(peer: PeerId, content: Extract<ServerMessage, { type: "content" }>, now: number): void {
    const { sessions } = this.#host.store.knownState(content.doc);
    const have: KnownState = { header: content.header === undefined, sessions: { ...sessions } };
    for (const [session, chunk] of Object.entries(content.sessions) as [SessionId, { after: number }][]) have.sessions[session] = chunk.after;
    this.add({ kind: "load", peer, doc: content.doc, have, catchUp: true }, now);
  }

  /**
   * Whether live content for `doc` would reach `peer` ahead of an answer still streaming it: the answer
   * will send the document as it then is, so the live frame is dropped rather than arriving before its past.
   */
  coversLater(peer: PeerId, doc: DocId): boolean {
    const queue = this.#queues.get(peer) ?? this.#paused.get(peer);
    if (!queue) return false;
    return queue.some((answer) =>
      answer.kind === "open"
        ? answer.current?.doc === doc || ((answer.after === undefined || doc > answer.after) && (answer.through === undefined || doc <= answer.through))
        : answer.kind === "load" && answer.doc === doc,
    );
  }
}

/** The documents an open part names in `known` within its id range, in the reverse of the store's order (the next one last). */
function unlistedOf(part: OpenPart): DocId[] {
  const inRange = (doc: DocId) => (part.after === undefined || doc > part.after) && (part.through === undefined || doc <= part.through);
  return (Object.keys(part.known) as DocId[]).filter(inRange).sort().reverse();
}

/** What a queued answer holds in memory, in entries of known state: one, plus one per document and session count. */
function weightOf(answer: Streamed): number {
  if (answer.kind === "dir") return 1;
  if (answer.kind === "load") return 1 + Object.keys(answer.have.sessions).length;
  let weight = 1;
  for (const known of Object.values(answer.known)) weight += 1 + Object.keys(known.sessions).length;
  return weight;
}
