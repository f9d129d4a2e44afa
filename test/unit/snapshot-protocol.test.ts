// Snapshots on the wire: a signature that vouches for exactly one document, author, covered state, time and data;
// data of bytes carried in binary frames and of text as text, both decoded back exactly; oversize data
// refused with its own code.
import { describe, expect, it } from "vitest";
import {
  MAX_SNAPSHOT_BYTES,
  decodeClientFrame,
  decodeClientMessage,
  decodeServerFrame,
  encodeMessage,
  signSnapshot,
  verifySnapshot,
  type Snapshot,
  type SnapshotMessage,
} from "../../protocol/index.ts";
import { testAgent, testHeader } from "../support/identity.ts";

const alice = testAgent(1);
const bob = testAgent(2);
const { id: doc } = testHeader(alice, "g1");
const { id: otherDoc } = testHeader(alice, "g1", "nonce-0001");

const AT = 1_780_000_000_000;

function snapshot(data: SnapshotMessage["data"], covers: Snapshot["covers"] = { [alice.session]: 3, [bob.session]: 1 }, at: number | null = AT): SnapshotMessage {
  if (at === null) return { type: "snapshot", doc, session: alice.session, covers, data, signature: signSnapshot(alice.secretKey, doc, alice.session, covers, data) };
  return { type: "snapshot", doc, session: alice.session, covers, data, at, signature: signSnapshot(alice.secretKey, doc, alice.session, covers, data, at) };
}

describe("snapshot signatures", () => {
  it("verify for the author's exact document, covered state and data", async () => {
    expect(await verifySnapshot(snapshot("state"))).toBe(true);
    expect(await verifySnapshot(snapshot(Uint8Array.of(1, 2, 3)))).toBe(true);
  });

  it("fail when anything they vouch for is changed", async () => {
    const signed = snapshot("state");
    expect(await verifySnapshot({ ...signed, data: "stale" })).toBe(false);
    expect(await verifySnapshot({ ...signed, doc: otherDoc })).toBe(false);
    expect(await verifySnapshot({ ...signed, covers: { ...signed.covers, [alice.session]: 4 } })).toBe(false);
    expect(await verifySnapshot({ ...signed, covers: { [alice.session]: 3 } })).toBe(false);
    // The newest time its author had seen: a relay cannot move it, or drop it.
    expect(await verifySnapshot({ ...signed, at: AT + 1 })).toBe(false);
    const { at: _at, ...withoutTime } = signed;
    expect(await verifySnapshot(withoutTime)).toBe(false);
    // Claimed by another agent: bob's key did not sign it.
    expect(await verifySnapshot({ ...signed, session: bob.session })).toBe(false);
    expect(await verifySnapshot({ ...signed, signature: "A".repeat(86) })).toBe(false);
  });

  it("of a snapshot stored under protocol v2, which signed no time, still verify, and a time added to one does not", async () => {
    const untimed = snapshot("state", undefined, null);
    expect(untimed.at).toBeUndefined();
    expect(await verifySnapshot(untimed)).toBe(true);
    expect(await verifySnapshot({ ...untimed, at: AT })).toBe(false);
  });

  it("tell text from bytes of the same content", async () => {
    const text = snapshot("abc");
    expect(await verifySnapshot({ ...text, data: new TextEncoder().encode("abc") })).toBe(false);
  });

  it("do not depend on the order of the covered sessions", async () => {
    const signed = snapshot("state", { [bob.session]: 1, [alice.session]: 3 });
    expect(await verifySnapshot({ ...signed, covers: { [alice.session]: 3, [bob.session]: 1 } })).toBe(true);
  });
});

describe("snapshot frames", () => {
  it("carry bytes in a binary frame and decode them exactly, both ways", () => {
    const bytes = Uint8Array.from({ length: 5_000 }, (_, i) => (i * 31) & 0xff);
    const frame = encodeMessage(snapshot(bytes));
    expect(frame).toBeInstanceOf(Uint8Array);
    for (const decoded of [decodeClientFrame(frame), decodeServerFrame(frame)]) {
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) return;
      const [message] = decoded.message;
      expect(message).toMatchObject({ type: "snapshot", doc, session: alice.session, at: AT });
      expect((message as SnapshotMessage).data).toEqual(bytes);
    }
  });

  it("keep text as text", () => {
    const frame = encodeMessage(snapshot("ünïcode ✓"));
    expect(typeof frame).toBe("string");
    const decoded = decodeClientFrame(frame);
    expect(decoded.ok && (decoded.message[0] as SnapshotMessage).data).toBe("ünïcode ✓");
    expect(decoded.ok && (decoded.message[0] as SnapshotMessage).at).toBe(AT);
  });

  it("refuse a time that is not a whole number of milliseconds from 0 to Number.MAX_SAFE_INTEGER", () => {
    for (const at of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2, "1780000000000", null]) {
      expect(decodeClientFrame(JSON.stringify({ ...snapshot("x"), at }))).toMatchObject({ ok: false, code: "bad_frame" });
    }
    expect(decodeClientFrame(JSON.stringify({ ...snapshot("x"), at: Number.MAX_SAFE_INTEGER })).ok).toBe(true);
  });

  it("refuse data over MAX_SNAPSHOT_BYTES with snapshot_too_large", () => {
    const decoded = decodeClientMessage(encodeMessage(snapshot(new Uint8Array(MAX_SNAPSHOT_BYTES + 1))));
    expect(decoded).toMatchObject({ ok: false, code: "snapshot_too_large" });
  });

  it("refuse a byte count that does not match the frame, and a count in a text frame", () => {
    const frame = encodeMessage(snapshot(Uint8Array.of(1, 2, 3))) as Uint8Array;
    expect(decodeClientFrame(frame.subarray(0, frame.length - 1))).toMatchObject({ ok: false, code: "bad_frame" });
    const asText = JSON.stringify({ ...snapshot("x"), data: 3 });
    expect(decodeClientFrame(asText)).toMatchObject({ ok: false, code: "bad_frame" });
  });

  it("refuse a lone surrogate in text data", () => {
    expect(decodeClientFrame(JSON.stringify(snapshot("x\ud800y")))).toMatchObject({ ok: false, code: "bad_frame" });
  });
});
