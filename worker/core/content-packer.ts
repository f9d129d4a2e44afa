// Packs transactions into `content` frames that stay under the frame limit, so a document of any size
// travels as a stream of bounded frames. Pure: rows in, messages out. Transactions read from storage come
// with their data already in wire form (a JSON literal for text: transaction-columns.ts's WireData) and go
// into the frame as they are; the codec writes the columns without parsing or re-escaping them.
import { CHUNK_TARGET_BYTES, MAX_TRANSACTIONS_PER_FRAME, WIRE_BYTES_PER_TRANSACTION, encodedChunk, toWireData, utf8Length, wireDataBytes } from "../../protocol/index.ts";
import type { DocHeader, DocId, EncodedColumns, ServerContent, SessionChunk, SessionId, Transaction, WireData } from "../../protocol/index.ts";
import type { StoredTransaction } from "./store.ts";

// A chunk's envelope: session id, after, column names, and a signature's worst case.
const SESSION_OVERHEAD = 200;

/** Frames whose JSON is all ASCII, known while packing: their UTF-8 bytes are their length, with no scan. */
const asciiFrames = new WeakSet<ServerContent>();

/**
 * Whether a frame this packer made is ASCII through and through (ids, numbers and signatures always are; its
 * header and text data were): its UTF-8 size is its JSON's length, so the relay need not scan it to count it.
 */
export const isAsciiContent = (message: object): boolean => asciiFrames.has(message as ServerContent);

/**
 * One session's part of the frame being packed: the transactions given as such (a live write's), or
 * columns of wire data (read from storage). A session given both ways is turned into columns.
 */
type Pending = { after: number; transactions: Transaction[]; columns: EncodedColumns | undefined; signature: string | undefined };

export class ContentPacker {
  readonly #frames: ServerContent[] = [];
  #sessions: Record<SessionId, Pending> = {};
  #header: DocHeader | undefined;
  #bytes = 0;
  #count = 0;
  /** Whether the header and every text datum of the frame being packed are ASCII. */
  #ascii = true;

  readonly doc: DocId;
  readonly targetBytes: number;

  constructor(doc: DocId, header?: DocHeader, targetBytes = CHUNK_TARGET_BYTES) {
    this.doc = doc;
    this.targetBytes = targetBytes;
    this.#header = header;
    if (header) {
      const json = JSON.stringify(header);
      const bytes = utf8Length(json);
      this.#bytes += bytes;
      this.#ascii = bytes === json.length;
    }
  }

  /** Adds the next transaction of a session; transactions of one session must come in index order. */
  add(session: SessionId, transaction: StoredTransaction): void {
    const pending = this.#next(session, transaction.index, wireDataBytes(transaction.data), transaction.signature);
    if (typeof transaction.data === "string") this.#ascii = false; // not known without encoding it
    if (pending.columns) {
      pending.columns.at.push(transaction.at);
      pending.columns.data.push(toWireData(transaction.data));
    } else pending.transactions.push({ at: transaction.at, data: transaction.data });
  }

  /**
   * Adds the next transaction of a session given in wire form (as the store reads it), `bytes` being
   * encodedDataBytes(data): nothing about it is parsed or copied.
   */
  addEncoded(session: SessionId, index: number, at: number, data: WireData, bytes: number, signature: string | undefined): void {
    const pending = this.#next(session, index, bytes, signature);
    // A literal's UTF-8 bytes equal its length only if it is ASCII: any other character takes two bytes or more per unit.
    if (typeof data === "string" && bytes !== data.length) this.#ascii = false;
    pending.columns ??= {
      at: pending.transactions.map((transaction) => transaction.at),
      data: pending.transactions.map(({ data }) => toWireData(data)),
    };
    pending.columns.at.push(at);
    pending.columns.data.push(data);
  }

  /** The session's pending part that takes the next transaction, after ending the frame if it would not fit. */
  #next(session: SessionId, index: number, dataBytes: number, signature: string | undefined): Pending {
    const size = dataBytes + WIRE_BYTES_PER_TRANSACTION;
    let pending: Pending | undefined = this.#sessions[session];
    const extra = size + (pending ? 0 : SESSION_OVERHEAD + session.length);
    // A header still unsent is what the frame holds as much as a transaction is: it goes alone rather than
    // with a transaction that takes the frame past the target. Together, a header of 4 KiB and a
    // transaction of 996,000 bytes as JSON (stored by a relay that did not refuse it) made a frame over
    // MAX_FRAME_BYTES, which every reader refused.
    const holds = this.#count > 0 || this.#header !== undefined;
    if (holds && (this.#bytes + extra > this.targetBytes || this.#count >= MAX_TRANSACTIONS_PER_FRAME)) {
      this.flush();
      pending = undefined;
    }
    if (!pending) {
      pending = { after: index, transactions: [], columns: undefined, signature: undefined };
      this.#sessions[session] = pending;
      this.#bytes += SESSION_OVERHEAD + session.length;
    }
    // A chunk carries the signature only when it ends where the writer signed.
    pending.signature = signature;
    this.#bytes += size;
    this.#count++;
    return pending;
  }

  /** Ends the current frame, if it holds anything (or a header still unsent). */
  flush(): void {
    if (this.#count === 0 && !this.#header) return;
    const sessions: Record<SessionId, SessionChunk> = {};
    for (const [session, { after, transactions, columns, signature }] of Object.entries(this.#sessions) as [SessionId, Pending][]) {
      if (columns) sessions[session] = encodedChunk(after, columns, signature || undefined);
      else sessions[session] = signature ? { after, transactions, signature } : { after, transactions };
    }
    const frame: ServerContent = {
      type: "content",
      doc: this.doc,
      ...(this.#header ? { header: this.#header } : {}),
      sessions,
    };
    if (this.#ascii) asciiFrames.add(frame);
    this.#frames.push(frame);
    this.#header = undefined;
    this.#sessions = {};
    this.#bytes = 0;
    this.#count = 0;
    this.#ascii = true;
  }

  /** Whether finished frames are waiting to be taken. */
  get hasFrames(): boolean {
    return this.#frames.length > 0;
  }

  /** Takes the finished frames, leaving the packer empty but able to continue. */
  take(): ServerContent[] {
    return this.#frames.splice(0);
  }
}
