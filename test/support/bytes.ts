// Transaction data as comparable text: deep equality over a large Uint8Array walks it element by element
// and takes seconds, so tests compare bytes as base64url (prefixed, so bytes never equal text).
import { toBase64Url } from "../../protocol/index.ts";

export const comparable = (data: unknown): unknown => (data instanceof Uint8Array ? `bytes ${data.constructor.name} ${toBase64Url(data)}` : data);

/** Each datum of a list as comparable text. */
export const comparableAll = (data: readonly unknown[]): unknown[] => data.map(comparable);
