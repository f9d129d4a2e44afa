// A seeded, bounded fuzz run of the relay (its core and driver) over any GroupStore: a hostile peer
// throws random and mutated frames, text and binary (data of bytes: binary-frame.ts), while an honest
// writer writes text and bytes and an honest reader follows live.
// The same seed gives the same frames, so MemoryStore and SqliteStore runs can be compared exactly.
import {
  CHUNK_TARGET_BYTES,
  GENESIS_HASH,
  chainHash,
  decodeClientFrame,
  decodeServerFrame,
  encodeForBatch,
  encodeMessage,
  packBatches,
  signCheckpoint,
  signSnapshot,
  utf8,
  type ClientMessage,
  type ServerMessage,
  type SessionId,
  type Transaction,
  type WireFrame,
} from "../../protocol/index.ts";
import { initialState } from "../../worker/core/relay-core.ts";
import { Relay, type Transport } from "../../worker/core/relay.ts";
import type { GroupStore, PeerId } from "../../worker/core/store.ts";
import { seededRandom, type Random } from "../unit/seeded-random.ts";
import { helloFrame, signedChunk, testAgent, testHeader } from "./identity.ts";

export const FUZZ_GROUP = "fuzz";
const NOW = 1_700_000_000_000;
const alice = testAgent(81);
const bob = testAgent(82);
const mallory = testAgent(83);
const malloryTwo = testAgent(83, "session-two");
const aliceDoc = testHeader(alice, FUZZ_GROUP, "fuzz-alice");
const malloryDoc = testHeader(mallory, FUZZ_GROUP, "fuzz-mallory");
const carol = testAgent(84);

class Recorder implements Transport {
  readonly received = new Map<PeerId, ServerMessage[]>();
  readonly closed = new Map<PeerId, number>();
  /** Frames the SDK could not decode: the relay must never send one. */
  readonly undecodable: string[] = [];
  send(peer: PeerId, frame: WireFrame): void {
    const decoded = decodeServerFrame(frame);
    if (!decoded.ok) this.undecodable.push(`${decoded.code}: ${decoded.reason}`);
    else this.received.set(peer, [...(this.received.get(peer) ?? []), ...decoded.message]);
  }
  close(peer: PeerId, code: number): void {
    this.closed.set(peer, code);
  }
  savePeer(): void {}

  /** The fuzz group is small: every answer fits its first slice, so no continuation is ever due. */
  wakeAt(): void {}
  /** As the Durable Object's, a wait before an event's first write once it has sent frames: here, a microtask. */
  async flushOutput(): Promise<void> {}
  take(peer: PeerId): ServerMessage[] {
    const messages = this.received.get(peer) ?? [];
    this.received.delete(peer);
    return messages;
  }
}

/** A value of a random JSON type, small and sometimes hostile. */
function randomValue(random: Random, depth = 0): unknown {
  const strings = ["", "x\ud800y", "\udc00", "😀", "doc_", "ag_", "known", "content", "batch", "__proto__", "constructor", "a".repeat(200), "\u0000"];
  switch (random.below(depth > 2 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return random.next() < 0.5;
    case 2:
      return [0, -1, 0.5, 1e21, -0, 2 ** 53, Number.MAX_SAFE_INTEGER, 3][random.below(8)];
    case 3:
    case 4:
      return strings[random.below(strings.length)];
    case 5:
      return Array.from({ length: random.below(4) }, () => randomValue(random, depth + 1));
    default: {
      const record: Record<string, unknown> = {};
      for (let i = random.below(4); i > 0; i--) record[String(randomValue(random, 3))] = randomValue(random, depth + 1);
      return record;
    }
  }
}

/** Replaces, deletes or adds one field somewhere in a JSON value. */
function mutate(random: Random, value: unknown): unknown {
  if (typeof value !== "object" || value === null) return randomValue(random);
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const key = keys.length > 0 && random.next() < 0.85 ? keys[random.below(keys.length)]! : "extra";
  const roll = random.next();
  const target = copy as Record<string, unknown>;
  if (roll < 0.4 && key in target) target[key] = mutate(random, target[key]);
  else if (roll < 0.55) delete target[key];
  else if (roll < 0.7) target[key] = Array.isArray(target[key]) ? {} : [];
  else target[key] = randomValue(random);
  return copy;
}

/** Changes, drops or inserts one character of an encoded frame. */
function mutateText(random: Random, frame: string): string {
  const at = random.below(frame.length + 1);
  const chars = ['"', "{", "}", "[", "]", ",", ":", "\\", "0", "-", "x", "\\ud800"];
  const char = chars[random.below(chars.length)]!;
  switch (random.below(3)) {
    case 0:
      return frame.slice(0, at) + frame.slice(at + 1);
    case 1:
      return frame.slice(0, at) + char + frame.slice(at);
    default:
      return frame.slice(0, at) + char + frame.slice(at + 1);
  }
}

/** Bytes of a random length (0 to 39) and content. */
const randomBytes = (random: Random): Uint8Array => Uint8Array.from({ length: random.below(40) }, () => random.below(256));

/** A binary frame made by hand, as a hostile sender may: its JSON text, a zero byte, then `sections`. */
function rawBinary(json: string, sections: Uint8Array): Uint8Array {
  const head = utf8(json);
  const frame = new Uint8Array(head.length + 1 + sections.length);
  frame.set(head);
  frame.set(sections, head.length + 1);
  return frame;
}

/**
 * Breaks a well-formed binary frame: a byte changed, dropped or added anywhere, the frame cut short or
 * lengthened, its zero separator lost, its JSON not UTF-8, its JSON mutated as the text frames are (the
 * sections kept), or its JSON sent alone as a text frame (numbers where a text frame's data must be strings).
 */
function mutateBinary(random: Random, frame: Uint8Array): WireFrame {
  const at = random.below(frame.length);
  const zero = frame.indexOf(0);
  switch (random.below(8)) {
    case 0: {
      const copy = frame.slice();
      copy[at] = random.below(256);
      return copy;
    }
    case 1:
      return new Uint8Array([...frame.subarray(0, at), ...frame.subarray(at + 1)]);
    case 2:
      return new Uint8Array([...frame.subarray(0, at), random.below(256), ...frame.subarray(at)]);
    case 3:
      return frame.slice(0, at);
    case 4:
      return new Uint8Array([...frame, ...randomBytes(random), 7]);
    case 5: {
      const copy = frame.slice();
      copy[zero] = 0x20;
      return copy;
    }
    case 6:
      return new Uint8Array([...frame.subarray(0, random.below(zero + 1)), 0xc3, 0x28, ...frame.subarray(random.below(zero + 1))]);
    default: {
      const json = new TextDecoder().decode(frame.subarray(0, zero));
      const mutated = JSON.stringify(mutate(random, JSON.parse(json)));
      return random.next() < 0.8 ? rawBinary(mutated, frame.subarray(zero + 1)) : mutated;
    }
  }
}

export type FuzzOutcome = {
  /** What the hostile peer was told for each frame: the error codes (or "ok") and whether it was closed. */
  answers: string[];
  /** The same, for the frames it sent as binary frames. */
  binaryAnswers: string[];
  /** Alice's log as the store holds it. */
  stored: Transaction[];
  /** Alice's transactions as Bob received them live, in order. */
  live: Transaction[];
  /** Alice's acks, as the counts they acknowledged. */
  acks: number[];
  undecodable: string[];
  /** The group's directory digest at the end (SqliteStore folds it lazily, MemoryStore at every write). */
  digest: string;
  /** What a new reader is sent afterwards, by a relay over a store with nothing cached (readBack). */
  reads: ReadBack;
};

/**
 * What a reader is sent for a frame of loads, then an open, then a directory, each as sorted lines: every
 * transaction (document, session, index, data), every `known`, snapshot, error, directory entry and
 * `opened`, and how many transactions came in all. The order of frames and of sessions within them is the
 * store's business; what is sent is not.
 */
export type ReadBack = { loads: string[]; open: string[]; dir: string[] };

const dataText = (data: Transaction["data"]): string => (typeof data === "string" ? JSON.stringify(data) : `bytes ${Buffer.from(data).toString("hex")}`);
const sortedSessions = (sessions: Record<string, number | undefined>): string => JSON.stringify(Object.entries(sessions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function readLines(messages: readonly ServerMessage[]): string[] {
  const lines: string[] = [];
  let sent = 0;
  for (const message of messages) {
    if (message.type === "content") {
      if (message.header) lines.push(`header ${message.doc}`);
      for (const [session, chunk] of Object.entries(message.sessions)) {
        chunk!.transactions.forEach((transaction, i) => lines.push(`tx ${message.doc} ${session} ${chunk!.after + i} ${transaction.at} ${dataText(transaction.data)}`));
        sent += chunk!.transactions.length;
      }
    } else if (message.type === "known") lines.push(`known ${message.doc} ${message.reason} ${message.header} ${sortedSessions(message.sessions)}`);
    else if (message.type === "snapshot") lines.push(`snapshot ${message.doc} ${message.session} ${sortedSessions(message.covers)} ${dataText(message.data)}`);
    else if (message.type === "error") lines.push(`error ${message.code} ${message.doc ?? ""}`);
    else if (message.type === "dir") for (const entry of message.docs) lines.push(`entry ${entry.id} ${entry.deleted ?? false} ${sortedSessions(entry.known.sessions)}`);
    else if (message.type === "opened") lines.push(`opened ${message.docs}`);
    else if (message.type === "deleted") lines.push(`deleted ${message.doc}`);
  }
  return [...lines.sort(), `${sent} transactions sent`];
}

/**
 * A new reader, on a new relay over `store`: a frame of three loads (two documents from nothing, one from
 * half of Alice's log), then an open of the whole group, then a directory. What it is sent, as lines.
 */
async function readBack(store: GroupStore, aliceCount: number): Promise<ReadBack> {
  const transport = new Recorder();
  const relay = new Relay(initialState(FUZZ_GROUP), store, transport);
  let now = NOW + 1_000_000;
  const frame = (sent: WireFrame) => relay.dispatch({ type: "frame", peer: "carol", frame: sent, now: ++now });
  await relay.dispatch({ type: "opened", peer: "carol", nonce: "nonce-carol", now: ++now });
  await frame(JSON.stringify(helloFrame(carol, FUZZ_GROUP, "nonce-carol")));
  transport.take("carol");
  const empty = { header: false, sessions: {} };
  const loads: ClientMessage[] = [
    { type: "load", doc: aliceDoc.id, known: empty },
    { type: "load", doc: malloryDoc.id, known: empty },
    { type: "load", doc: aliceDoc.id, known: { header: true, sessions: { [alice.session]: Math.floor(aliceCount / 2) } } },
  ];
  const [batch] = packBatches(loads.map((message) => encodeForBatch(message)), CHUNK_TARGET_BYTES);
  await frame(batch!);
  const read = { loads: readLines(transport.take("carol")), open: [] as string[], dir: [] as string[] };
  await frame(encodeMessage({ type: "open", known: {} }));
  read.open = readLines(transport.take("carol"));
  await frame(encodeMessage({ type: "dir" }));
  read.dir = readLines(transport.take("carol"));
  return read;
}

/**
 * Runs `rounds` hostile frames with honest writes in between. Every promise the relay returns is awaited,
 * so a throw out of `step` (or the driver) fails the run.
 */
/**
 * `reopen`, if given, makes a new store over the same storage (nothing cached, as after an eviction) for
 * the final read-back; else the store itself is read.
 */
export async function runFuzz(store: GroupStore, seed: number, rounds: number, reopen?: () => GroupStore): Promise<FuzzOutcome> {
  const random = seededRandom(seed);
  const transport = new Recorder();
  const relay = new Relay(initialState(FUZZ_GROUP), store, transport);
  let now = NOW;
  const frame = (peer: PeerId, sent: WireFrame) => relay.dispatch({ type: "frame", peer, frame: sent, now: ++now });
  const connect = async (peer: PeerId, who: typeof alice) => {
    await relay.dispatch({ type: "opened", peer, nonce: `nonce-${peer}`, now: ++now });
    await frame(peer, JSON.stringify(helloFrame(who, FUZZ_GROUP, `nonce-${peer}`)));
    transport.take(peer);
  };

  // Alice creates her document; Bob loads it and follows it live.
  await connect("alice", alice);
  await connect("bob", bob);
  let aliceCount = 0;
  let aliceHash = GENESIS_HASH;
  const written: Transaction[] = [];
  const acks: number[] = [];
  const aliceWrites = async (header: boolean) => {
    // Text and bytes, as an app (a Yjs document, say) writes them.
    const txs: Transaction[] = Array.from({ length: 1 + random.below(3) }, (_, i) => ({
      at: now + i,
      data: random.next() < 0.5 ? `alice-${written.length + i} ${"😀".repeat(i)}` : Uint8Array.of(written.length + i, 0, 0xff, ...randomBytes(random)),
    }));
    const { chunk, lastHash } = signedChunk(alice, aliceDoc.id, aliceCount, txs, aliceHash);
    await frame("alice", encodeMessage({ type: "content", doc: aliceDoc.id, ...(header ? { header: aliceDoc.header } : {}), sessions: { [alice.session]: chunk } } as ClientMessage));
    aliceCount += txs.length;
    aliceHash = lastHash;
    written.push(...txs);
    for (const message of transport.take("alice")) if (message.type === "known" && message.reason === "ack") acks.push(message.sessions[alice.session] ?? -1);
  };
  await aliceWrites(true);
  await frame("bob", JSON.stringify({ type: "load", doc: aliceDoc.id, known: { header: false, sessions: {} } }));

  // Messages Mallory may send that are well-formed; the fuzzer starts from these and breaks them.
  let malloryCount = 0;
  let malloryHash = GENESIS_HASH;
  const valid = (): unknown => {
    const txs = [{ at: now, data: `m-${random.below(1000)}` }];
    const own = signedChunk(mallory, aliceDoc.id, malloryCount, txs, malloryHash);
    const covers = { [alice.session]: random.below(aliceCount + 2) };
    const snapshotData = `state-${random.below(1000)}`;
    const forged = { after: aliceCount, transactions: txs, signature: signCheckpoint(mallory.secretKey, aliceDoc.id, alice.session, aliceCount + 1, chainHash(aliceHash, txs)) };
    const options: unknown[] = [
      { type: "content", doc: aliceDoc.id, sessions: { [mallory.session]: own.chunk } },
      { type: "content", doc: aliceDoc.id, sessions: { [alice.session]: forged } },
      { type: "content", doc: aliceDoc.id, sessions: { [mallory.session]: own.chunk, [malloryTwo.session]: { ...own.chunk, after: 3 } } },
      { type: "content", doc: malloryDoc.id, header: malloryDoc.header, sessions: { [mallory.session]: signedChunk(mallory, malloryDoc.id, 0, txs).chunk } },
      { type: "content", doc: aliceDoc.id, header: { ...aliceDoc.header, nonce: "other" }, sessions: {} },
      { type: "load", doc: aliceDoc.id, known: { header: true, sessions: { [alice.session]: random.below(aliceCount + 3) } } },
      { type: "open", known: {} },
      { type: "dir", since: random.below(5) },
      { type: "unsub", doc: aliceDoc.id },
      { type: "delete", doc: aliceDoc.id },
      { type: "ping" },
      helloFrame(mallory, FUZZ_GROUP, "replayed"),
      // Snapshots: Mallory's of Alice's document (refused: only its creator or an admin may), one in Alice's name, one of its own document.
      { type: "snapshot", doc: aliceDoc.id, session: mallory.session, covers, data: snapshotData, signature: signSnapshot(mallory.secretKey, aliceDoc.id, mallory.session, covers, snapshotData) },
      { type: "snapshot", doc: aliceDoc.id, session: alice.session, covers, data: snapshotData, signature: signSnapshot(mallory.secretKey, aliceDoc.id, alice.session, covers, snapshotData) },
      { type: "snapshot", doc: malloryDoc.id, session: mallory.session, covers: { [mallory.session]: 1 }, data: snapshotData, signature: signSnapshot(mallory.secretKey, malloryDoc.id, mallory.session, { [mallory.session]: 1 }, snapshotData) },
    ];
    const message = options[random.below(options.length)];
    const encoded = JSON.parse(encodeMessage(message as ClientMessage) as string) as unknown;
    return random.next() < 0.15 ? { type: "batch", messages: [encoded, JSON.parse(encodeMessage({ type: "ping" }))] } : encoded;
  };

  // Well-formed binary frames Mallory may send (content carrying bytes); the fuzzer also breaks these.
  const validBinary = (): Uint8Array => {
    const txs: Transaction[] = [{ at: now, data: randomBytes(random) }, ...(random.next() < 0.5 ? [{ at: now, data: `m-${random.below(1000)}` }] : [])];
    const own = signedChunk(mallory, aliceDoc.id, malloryCount, txs, malloryHash).chunk;
    const options: ClientMessage[] = [
      { type: "content", doc: aliceDoc.id, sessions: { [mallory.session]: own } },
      { type: "content", doc: aliceDoc.id, sessions: { [mallory.session]: { ...own, signature: own.signature.replace(/^./, (c) => (c === "A" ? "B" : "A")) } } },
      { type: "content", doc: malloryDoc.id, header: malloryDoc.header, sessions: { [mallory.session]: signedChunk(mallory, malloryDoc.id, 0, txs).chunk } },
    ];
    const message = options[random.below(options.length)]!;
    const [built] = packBatches(random.next() < 0.2 ? [encodeForBatch(message), encodeForBatch({ type: "ping" })] : [encodeForBatch(message)], CHUNK_TARGET_BYTES);
    if (!(built instanceof Uint8Array)) throw new Error("a message carrying bytes must encode as a binary frame");
    return built;
  };

  const answers: string[] = [];
  const binaryAnswers: string[] = [];
  let malloryPeer = 0;
  let peer = "mallory-0";
  await connect(peer, mallory);
  for (let round = 0; round < rounds; round++) {
    const roll = random.next();
    let text: WireFrame;
    if (roll < 0.1) text = JSON.stringify(randomValue(random));
    else if (roll < 0.35) text = JSON.stringify(mutate(random, valid()));
    else if (roll < 0.5) text = mutateText(random, JSON.stringify(valid()));
    else if (roll < 0.6) text = JSON.stringify(valid());
    else if (roll < 0.65) text = random.next() < 0.5 ? randomBytes(random) : rawBinary(JSON.stringify(randomValue(random)), randomBytes(random));
    else if (roll < 0.85) text = mutateBinary(random, validBinary());
    else text = validBinary();
    const decoded = decodeClientFrame(text);
    await frame(peer, text);
    const told = transport.take(peer);
    const errors = told.filter((message) => message.type === "error").map((message) => (message.type === "error" ? message.code : ""));
    const closed = transport.closed.get(peer);
    if (!decoded.ok && (errors[0] !== decoded.code || closed === undefined)) {
      const shown = typeof text === "string" ? text.slice(0, 300) : `binary ${Buffer.from(text.subarray(0, 300)).toString("hex")}`;
      throw new Error(`round ${round}: a frame the decoder refuses with ${decoded.code} got ${JSON.stringify(told)} (closed ${closed}): ${shown}`);
    }
    if (decoded.ok) {
      // What Mallory's own accepted writes moved: follow her session so later valid frames chain on.
      for (const message of told) {
        if (message.type === "known" && message.doc === aliceDoc.id && message.sessions[mallory.session] !== undefined && message.reason === "ack") {
          malloryCount = message.sessions[mallory.session]!;
          malloryHash = store.sessionHead(aliceDoc.id, mallory.session)?.lastHash ?? malloryHash;
        }
      }
    }
    const answer = `${errors.join(",") || "ok"}${closed === undefined ? "" : ` closed ${closed}`}`;
    answers.push(answer);
    if (typeof text !== "string") binaryAnswers.push(answer);
    if (closed !== undefined) {
      await relay.dispatch({ type: "closed", peer });
      peer = `mallory-${++malloryPeer}`;
      await connect(peer, mallory);
    }
    if (round % 10 === 0) await aliceWrites(false);
  }
  await aliceWrites(false);

  const live = transport
    .take("bob")
    .flatMap((message) => (message.type === "content" && message.doc === aliceDoc.id ? [message.sessions[alice.session as SessionId]] : []))
    .flatMap((chunk) => chunk?.transactions ?? []);
  const stored = [...store.readTransactions(aliceDoc.id, alice.session, 0, aliceCount)].map(({ at, data }) => ({ at, data }));
  if (stored.length !== written.length) throw new Error(`alice wrote ${written.length}, the store holds ${stored.length}`);
  const digest = store.info().digest;
  const reads = await readBack(reopen?.() ?? store, aliceCount);
  return { answers, binaryAnswers, stored, live, acks, undecodable: transport.undecodable, digest, reads };
}

