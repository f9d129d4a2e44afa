// Flow control of what the relay sends each peer. workerd has no WebSocket.bufferedAmount
// (cloudflare/workerd#988), so the relay cannot see a peer that does not read, and what it sends such a peer
// piles up in the object's memory. So the peer says what it has read: the relay counts every frame it sends
// the peer, puts a `mark` with a random id behind one every ANSWER_MARK_BYTES, and the peer echoes it
// (`marked`) as it reads it. Long answers wait while ANSWER_WINDOW_BYTES are unconfirmed; live frames cannot
// wait, so past MAX_UNREAD_BYTES the relay cuts the peer off. Ids are random so that only a peer that read a
// mark can echo it. What it holds is in memory only (no storage write per frame, so the object can still
// hibernate): a relay evicted from memory forgets its answers with it, and starts each peer at zero. Only
// the mark where a peer's answers last paused outlives it, kept beside the peer's record (the Durable
// Object: in the socket attachment), so the instance woken next can tell that peer its answers are gone.
import { ANSWER_MARK_BYTES, ANSWER_WINDOW_BYTES, LAGGING_UNREAD_BYTES, MAX_UNREAD_BYTES, randomBase64Url } from "../../protocol/index.ts";
import type { PeerId } from "./store.ts";

/** Bytes of frames to one peer, counted from its first: sent, confirmed (by an echo), and up to its last mark. */
type Flow = { sent: number; confirmed: number; marked: number; marks: { id: string; upTo: number }[] };

/** Random bytes of a mark's id: 16, as many as no peer guesses. */
const MARK_ID_BYTES = 16;

export class AnswerWindow {
  readonly #flows = new Map<PeerId, Flow>();
  /**
   * For each peer whose answers waited for an echo when an instance before this one was evicted from
   * memory: the mark they paused at. Those answers went with that instance, so its echo must not go unheard.
   */
  readonly #lostPauses: Map<PeerId, string>;

  /** `lostPauses`: the marks where peers' answers last paused, as an instance evicted before this one kept them. */
  constructor(lostPauses: ReadonlyMap<PeerId, string> = new Map()) {
    this.#lostPauses = new Map(lostPauses);
  }

  /**
   * Counts `bytes` of a frame just sent to `peer` (an answer or a live frame); returns the id of a mark to
   * send behind them when half a window went out since the last mark.
   */
  sent(peer: PeerId, bytes: number): string | undefined {
    let flow = this.#flows.get(peer);
    if (!flow) this.#flows.set(peer, (flow = { sent: 0, confirmed: 0, marked: 0, marks: [] }));
    flow.sent += bytes;
    return flow.sent - flow.marked >= ANSWER_MARK_BYTES ? this.#mark(flow) : undefined;
  }

  /** Whether the peer's answers must wait for an echo: a window of them is unconfirmed. */
  full(peer: PeerId): boolean {
    const flow = this.#flows.get(peer);
    return flow !== undefined && flow.sent - flow.confirmed >= ANSWER_WINDOW_BYTES;
  }

  /** Whether the peer left LAGGING_UNREAD_BYTES or more unconfirmed: live content for it waits in storage. */
  lagging(peer: PeerId): boolean {
    const flow = this.#flows.get(peer);
    return flow !== undefined && flow.sent - flow.confirmed >= LAGGING_UNREAD_BYTES;
  }

  /** Whether the peer left more than MAX_UNREAD_BYTES unconfirmed: it does not read, and must be cut off. */
  overrun(peer: PeerId): boolean {
    const flow = this.#flows.get(peer);
    return flow !== undefined && flow.sent - flow.confirmed > MAX_UNREAD_BYTES;
  }

  /**
   * The id of a mark to send behind the last bytes sent, where the peer's answers pause: it must have
   * something to echo when it has read everything. The caller keeps it beside the peer's record (lostPauses).
   */
  markPause(peer: PeerId): string | undefined {
    const flow = this.#flows.get(peer);
    return flow && this.#mark(flow);
  }

  /**
   * The peer echoed mark `id`: what went before it is read (and any earlier marks' share with it). An id
   * not waiting for its echo confirms nothing: returns false.
   */
  confirm(peer: PeerId, id: string): boolean {
    const flow = this.#flows.get(peer);
    const index = flow?.marks.findIndex((mark) => mark.id === id) ?? -1;
    if (!flow || index < 0) return false;
    flow.confirmed = flow.marks[index]!.upTo;
    flow.marks.splice(0, index + 1);
    return true;
  }

  /**
   * Whether `id` is the mark where the peer's answers paused in an instance evicted from memory since: its
   * echo says the peer read up to where answers this instance never had were waiting.
   */
  lostAt(peer: PeerId, id: string): boolean {
    return this.#lostPauses.get(peer) === id;
  }

  forget(peer: PeerId): void {
    this.#flows.delete(peer);
    this.#lostPauses.delete(peer);
  }

  #mark(flow: Flow): string {
    const id = randomBase64Url(MARK_ID_BYTES);
    flow.marked = flow.sent;
    flow.marks.push({ id, upTo: flow.sent });
    return id;
  }
}
