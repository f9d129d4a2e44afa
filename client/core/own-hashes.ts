// The chain hash after each own transaction a document holds, kept as bytes in one buffer. A document
// restored from the local store hashes every own transaction again (a copy changed on the disk is then
// caught against the relay's), and a string per hash cost a browser more than a third of that work
// (base64url in plain JavaScript), and held about twice the memory.
import { toBase64Url } from "../../protocol/index.ts";

const HASH_BYTES = 32;

export class OwnHashes {
  #bytes = new Uint8Array(HASH_BYTES * 16);
  #length = 0;

  /** How many hashes are held. */
  get length(): number {
    return this.#length;
  }

  /** Adds the hash after the next own transaction. */
  push(hash: Uint8Array): void {
    const end = (this.#length + 1) * HASH_BYTES;
    if (end > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.#bytes.length * 2));
      grown.set(this.#bytes.subarray(0, this.#length * HASH_BYTES));
      this.#bytes = grown;
    }
    this.#bytes.set(hash, this.#length * HASH_BYTES);
    this.#length++;
  }

  /**
   * The hash at `index` as bytes: a view into the buffer, to be read at once (the next change may reuse it).
   * One not held throws, as an array's missing entry did when the chain went on from it: a chain must never
   * go on from bytes left in the buffer.
   */
  bytesAt(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.#length) throw new RangeError(`OwnHashes: no hash at ${index} of ${this.#length}`);
    return this.#bytes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES);
  }

  /** The hash at `index` in base64url, as the protocol writes hashes. */
  at(index: number): string {
    return toBase64Url(this.bytesAt(index));
  }

  /** Keeps the first `length` hashes (all of them, when there are fewer). */
  truncate(length: number): void {
    this.#length = Math.max(0, Math.min(this.#length, length));
  }

  /** Drops every hash and lets go of the buffer that held them (a document deleted keeps none). */
  clear(): void {
    this.#bytes = new Uint8Array(HASH_BYTES * 16);
    this.#length = 0;
  }

  /** Drops the first `count` hashes: the log they follow now starts `count` transactions later. */
  dropFirst(count: number): void {
    const dropped = Math.max(0, Math.min(this.#length, count));
    this.#bytes.copyWithin(0, dropped * HASH_BYTES, this.#length * HASH_BYTES);
    this.#length -= dropped;
  }
}
