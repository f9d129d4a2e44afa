// Just enough of a WebSocket server (RFC 6455) in node:http for relays that misbehave on purpose: the
// upgrade, and unmasked server frames of any length. The repository has no WebSocket server package of its own.
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";

/** Answers a WebSocket upgrade request on its socket. */
export function acceptUpgrade(request: IncomingMessage, socket: Socket): void {
  const accept = createHash("sha1").update(`${request.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
}

/** One unmasked server frame (RFC 6455 5.2): text (opcode 1) or close (8), of any length. */
export function serverFrame(opcode: number, payload: Buffer): Buffer {
  let head: Buffer;
  if (payload.length < 126) head = Buffer.from([0x80 | opcode, payload.length]);
  else if (payload.length < 65_536) head = Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([head, payload]);
}

/** A text frame: a message as JSON, or text as it is. */
export const textFrame = (message: object | string): Buffer => serverFrame(1, Buffer.from(typeof message === "string" ? message : JSON.stringify(message)));

export function closeFrame(code: number, reason: string): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return serverFrame(8, payload);
}
