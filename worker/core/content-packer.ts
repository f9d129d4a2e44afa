// Packs transactions into `content` frames that stay under the frame limit, so a document of any size
// travels as a stream of bounded frames. Pure: rows in, messages out.
import { CHUNK_TARGET_BYTES, MAX_TRANSACTIONS_PER_FRAME, WIRE_BYTES_PER_TRANSACTION, utf8Length, wireDataBytes } from "../../protocol/index.ts";
import type { DocHeader, DocId, ServerContent, SessionChunk, SessionId } from "../../protocol/index.ts";
import type { StoredTransaction } from "./store.ts";

// A chunk's envelope: session id, after, column names, and a signature's worst case.
const SESSION_OVERHEAD = 200;

export class ContentPacker {
  readonly #frames: ServerContent[] = [];
  #sessions: Record<SessionId, SessionChunk> = {};
  /** The signature each chunk of the current frame ends on, if it ends where the writer signed. */
  #signatures = new Map<SessionId, string | undefined>();
  #header: DocHeader | undefined;
  #bytes = 0;
  #count = 0;

  readonly doc: DocId;
  readonly targetBytes: number;

  constructor(doc: DocId, header?: DocHeader, targetBytes = CHUNK_TARGET_BYTES) {
    this.doc = doc;
    this.targetBytes = targetBytes;
    this.#header = header;
    if (header) this.#bytes += utf8Length(JSON.stringify(header));
  }

  /** Adds the next transaction of a session; transactions of one session must come in index order. */
  add(session: SessionId, transaction: StoredTransaction): void {
    const size = wireDataBytes(transaction.data) + WIRE_BYTES_PER_TRANSACTION;
    let chunk: SessionChunk | undefined = this.#sessions[session];
    const extra = size + (chunk ? 0 : SESSION_OVERHEAD + session.length);
    if (this.#count > 0 && (this.#bytes + extra > this.targetBytes || this.#count >= MAX_TRANSACTIONS_PER_FRAME)) {
      this.flush();
      chunk = undefined;
    }
    if (!chunk) {
      chunk = { after: transaction.index, transactions: [] };
      this.#sessions[session] = chunk;
      this.#bytes += SESSION_OVERHEAD + session.length;
    }
    chunk.transactions.push({ at: transaction.at, data: transaction.data });
    // A chunk carries the signature only when it ends where the writer signed (set once, at flush).
    this.#signatures.set(session, transaction.signature);
    this.#bytes += size;
    this.#count++;
  }

  /** Ends the current frame, if it holds anything (or a header still unsent). */
  flush(): void {
    if (this.#count === 0 && !this.#header) return;
    for (const [session, signature] of this.#signatures) if (signature) this.#sessions[session]!.signature = signature;
    this.#signatures.clear();
    this.#frames.push({
      type: "content",
      doc: this.doc,
      ...(this.#header ? { header: this.#header } : {}),
      sessions: this.#sessions,
    });
    this.#header = undefined;
    this.#sessions = {};
    this.#bytes = 0;
    this.#count = 0;
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
