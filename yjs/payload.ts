// A binding's payload bytes as a transaction's data, and back. Written as base64 text, which every relay
// version carries; received as text (base64) or bytes, so documents written either way load.
import { MAX_TRANSACTION_BYTES } from "../protocol/limits.ts";

/** Largest payload in bytes whose encoding fits one transaction (base64: 4 characters per 3 bytes). */
export const MAX_PAYLOAD_BYTES = Math.floor(MAX_TRANSACTION_BYTES / 4) * 3;

export function payloadToData(payload: Uint8Array): string {
  let text = "";
  // String.fromCharCode over slices: spreading a whole large array would overflow the call stack.
  for (let offset = 0; offset < payload.length; offset += 0x8000) text += String.fromCharCode(...payload.subarray(offset, offset + 0x8000));
  return btoa(text);
}

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
