// A binding's payload bytes as a transaction's data, and back. Written as bytes; text is read as base64,
// the form weft/yjs wrote before transaction data could be bytes, so documents written then still load.
import { MAX_TRANSACTION_BYTES } from "../protocol/limits.ts";

/** Largest payload in one transaction: its data is the payload's bytes. */
export const MAX_PAYLOAD_BYTES = MAX_TRANSACTION_BYTES;

export const payloadToData = (payload: Uint8Array): Uint8Array => payload;

/** The payload a transaction's data carries, or undefined if it is not one (text that is not base64). */
export function dataToPayload(data: string | Uint8Array): Uint8Array | undefined {
  if (typeof data !== "string") return data;
  try {
    const text = atob(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}
